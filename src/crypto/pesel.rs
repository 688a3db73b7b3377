//! PESEL (Polish national identification number) validation.
//!
//! Layout: `YYMMDDZZZXQ` — birth date (the century is folded into the month),
//! a serial number, the sex digit and a check digit.

use thiserror::Error;

/// Number of digits in a PESEL.
pub const PESEL_LEN: usize = 11;

/// Weights applied to the first ten digits when computing the check digit.
const CHECK_WEIGHTS: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeselError {
    #[error("PESEL must have {PESEL_LEN} digits, got {0} characters")]
    WrongLength(usize),
    #[error("PESEL must contain only digits 0-9")]
    NotDigits,
    #[error("PESEL month field {0:02} does not encode a month of any century")]
    InvalidMonth(u8),
    #[error("PESEL encodes a birth date that does not exist: {year:04}-{month:02}-{day:02}")]
    InvalidBirthDate { year: i32, month: u8, day: u8 },
    #[error("PESEL check digit is {found}, expected {expected}")]
    BadChecksum { expected: u8, found: u8 },
}

/// Checks length, digits, the encoded birth date and the check digit.
pub fn validate(pesel: &str) -> Result<(), PeselError> {
    let char_count = pesel.chars().count();
    if char_count != PESEL_LEN {
        return Err(PeselError::WrongLength(char_count));
    }
    if !pesel.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PeselError::NotDigits);
    }
    let digits: Vec<u8> = pesel.bytes().map(|b| b - b'0').collect();

    let (year, month) = decode_year_and_month(&digits)?;
    let day = 10 * digits[4] + digits[5];
    if !is_real_date(year, month, day) {
        return Err(PeselError::InvalidBirthDate { year, month, day });
    }

    let expected = check_digit(&digits[..10]);
    let found = digits[10];
    if expected != found {
        return Err(PeselError::BadChecksum { expected, found });
    }
    Ok(())
}

/// The birth date a valid PESEL encodes.
pub fn birth_date(pesel: &str) -> Result<time::Date, PeselError> {
    validate(pesel)?;
    let digits: Vec<u8> = pesel.bytes().map(|b| b - b'0').collect();
    let (year, month) = decode_year_and_month(&digits)?;
    let month = time::Month::try_from(month).map_err(|_| PeselError::InvalidMonth(month))?;
    time::Date::from_calendar_date(year, month, 10 * digits[4] + digits[5]).map_err(|_| {
        PeselError::InvalidBirthDate {
            year,
            month: month as u8,
            day: 10 * digits[4] + digits[5],
        }
    })
}

/// A whole PESEL from its first ten digits (birth date, serial, sex), for made-up people in
/// the demo and in tests. `None` unless given exactly ten digits.
pub fn with_check_digit(first_ten: &str) -> Option<String> {
    if first_ten.len() != 10 || !first_ten.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: Vec<u8> = first_ten.bytes().map(|b| b - b'0').collect();
    Some(format!("{first_ten}{}", check_digit(&digits)))
}

/// `(10 - weighted_sum % 10) % 10` over the first ten digits.
fn check_digit(first_ten: &[u8]) -> u8 {
    let sum: u32 = first_ten
        .iter()
        .zip(CHECK_WEIGHTS)
        .map(|(&digit, weight)| u32::from(digit) * weight)
        .sum();
    // The result is a single digit, so the narrowing cannot lose anything.
    ((10 - sum % 10) % 10) as u8
}

/// The century is encoded by adding 80 (1800s), 0 (1900s), 20 (2000s),
/// 40 (2100s) or 60 (2200s) to the month.
fn decode_year_and_month(digits: &[u8]) -> Result<(i32, u8), PeselError> {
    let year_in_century = i32::from(10 * digits[0] + digits[1]);
    let encoded_month = 10 * digits[2] + digits[3];
    let (century_start, month) = match encoded_month {
        81..=92 => (1800, encoded_month - 80),
        1..=12 => (1900, encoded_month),
        21..=32 => (2000, encoded_month - 20),
        41..=52 => (2100, encoded_month - 40),
        61..=72 => (2200, encoded_month - 60),
        _ => return Err(PeselError::InvalidMonth(encoded_month)),
    };
    Ok((century_start + year_in_century, month))
}

fn is_real_date(year: i32, month: u8, day: u8) -> bool {
    time::Month::try_from(month)
        .and_then(|month| time::Date::from_calendar_date(year, month, day))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_valid_numbers_from_every_century() {
        for pesel in [
            "44051401359", // 1944-05-14
            "02070803628", // 1902-07-08
            "02270803624", // 2002-07-08
            "00832911118", // 1800-03-29
            "24422900001", // 2124-02-29 (leap year)
            "99723100001", // 2299-12-31
        ] {
            assert_eq!(validate(pesel), Ok(()), "{pesel}");
        }
    }

    #[test]
    fn the_birth_date_is_read_with_its_century() {
        use time::macros::date;
        assert_eq!(birth_date("02070803628"), Ok(date!(1902 - 07 - 08)));
        assert_eq!(birth_date("02270803624"), Ok(date!(2002 - 07 - 08)));
        assert_eq!(birth_date("00832911118"), Ok(date!(1800 - 03 - 29)));
        assert!(matches!(
            birth_date("44051401358"),
            Err(PeselError::BadChecksum { .. })
        ));
    }

    #[test]
    fn check_digit_follows_the_weighted_sum_rule() {
        // 4*1 + 4*3 + 0*7 + 5*9 + 1*1 + 4*3 + 0*7 + 1*9 + 3*1 + 5*3 = 101 -> (10 - 1) % 10 = 9
        assert_eq!(check_digit(&[4, 4, 0, 5, 1, 4, 0, 1, 3, 5]), 9);
        // sum 132 -> 8
        assert_eq!(check_digit(&[0, 2, 0, 7, 0, 8, 0, 3, 6, 2]), 8);
        // sum divisible by 10 -> 0, not 10
        assert_eq!(check_digit(&[0; 10]), 0);
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(validate("4405140135"), Err(PeselError::WrongLength(10)));
        assert_eq!(validate("440514013599"), Err(PeselError::WrongLength(12)));
        assert_eq!(validate(""), Err(PeselError::WrongLength(0)));
    }

    #[test]
    fn rejects_non_digits() {
        assert_eq!(validate("4405140135X"), Err(PeselError::NotDigits));
        assert_eq!(validate("44051 01359"), Err(PeselError::NotDigits));
        // Eleven characters but not eleven ASCII digits.
        assert_eq!(validate("4405140135٩"), Err(PeselError::NotDigits));
    }

    #[test]
    fn rejects_bad_checksum() {
        assert_eq!(
            validate("44051401358"),
            Err(PeselError::BadChecksum {
                expected: 9,
                found: 8
            })
        );
    }

    #[test]
    fn rejects_months_outside_every_century() {
        assert_eq!(validate("44131401359"), Err(PeselError::InvalidMonth(13)));
        assert_eq!(validate("44001401359"), Err(PeselError::InvalidMonth(0)));
        assert_eq!(validate("44931401359"), Err(PeselError::InvalidMonth(93)));
    }

    #[test]
    fn rejects_dates_that_do_not_exist() {
        assert_eq!(
            validate("44023001359"),
            Err(PeselError::InvalidBirthDate {
                year: 1944,
                month: 2,
                day: 30
            })
        );
        // 1900 is not a leap year.
        assert_eq!(
            validate("00022900000"),
            Err(PeselError::InvalidBirthDate {
                year: 1900,
                month: 2,
                day: 29
            })
        );
        assert_eq!(
            validate("44050001359"),
            Err(PeselError::InvalidBirthDate {
                year: 1944,
                month: 5,
                day: 0
            })
        );
    }
}
