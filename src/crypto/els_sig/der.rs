//! The DER of the `SELSInfo` content: written with exactly the card's tags, read with the
//! leniency the parent module lists.

use der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
use der::{
    AnyRef, Decode, DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Tagged, Writer,
};
use time::Date;

use super::ElsData;

/// The only `wersja` defined so far.
pub(super) const SELS_INFO_VERSION: u8 = 1;

/// `dataWaznosci` is written as `YYYYMMDD215959Z`: 23:59:59 Polish summer
/// time (22:59:59 in winter). Readers that convert to Polish local time then
/// show the expiry date itself, and readers comparing instants keep the card
/// valid for (almost) the whole day. A later time such as 23:59:59Z would be
/// shown as the next day in Poland. [`verify()`](super::verify()) reads only the date part.
const EXPIRY_TIME_OF_DAY_UTC: &str = "215959Z";

#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub(super) struct SelsInfo {
    pub(super) wersja: u8,
    numer_seryjny_ukladu: CardString,
    nazwa_uczelni: CardString,
    nazwisko_studenta: Vec<CardString>,
    imiona_studenta: Vec<CardString>,
    numer_albumu: CardString,
    numer_edycji: CardString,
    pesel: CardString,
    data_waznosci: ExpiryDate,
}

impl SelsInfo {
    pub(super) fn from_els_data(data: &ElsData) -> der::Result<Self> {
        let utf8_list = |names: &[String]| names.iter().map(|n| CardString::utf8(n)).collect();
        Ok(Self {
            wersja: SELS_INFO_VERSION,
            numer_seryjny_ukladu: CardString::printable(&data.chip_serial)?,
            nazwa_uczelni: CardString::utf8(&data.university),
            nazwisko_studenta: utf8_list(&data.surnames),
            imiona_studenta: utf8_list(&data.given_names),
            numer_albumu: CardString::printable(&data.album_number)?,
            numer_edycji: CardString::printable(&data.edition)?,
            pesel: CardString::printable(&data.pesel)?,
            data_waznosci: ExpiryDate(data.expires),
        })
    }

    pub(super) fn into_els_data(self) -> ElsData {
        let texts = |list: Vec<CardString>| list.into_iter().map(|s| s.text).collect();
        ElsData {
            chip_serial: self.numer_seryjny_ukladu.text,
            university: self.nazwa_uczelni.text,
            surnames: texts(self.nazwisko_studenta),
            given_names: texts(self.imiona_studenta),
            album_number: self.numer_albumu.text,
            edition: self.numer_edycji.text,
            pesel: self.pesel.text,
            expires: self.data_waznosci.0,
        }
    }
}

/// A string field that decodes from UTF8String, PrintableString or IA5String
/// and encodes with the tag it was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CardString {
    tag: Tag,
    text: String,
}

impl CardString {
    fn utf8(text: &str) -> Self {
        Self {
            tag: Tag::Utf8String,
            text: text.to_owned(),
        }
    }

    fn printable(text: &str) -> der::Result<Self> {
        PrintableStringRef::new(text)?;
        Ok(Self {
            tag: Tag::PrintableString,
            text: text.to_owned(),
        })
    }
}

impl<'a> Decode<'a> for CardString {
    fn decode<R: Reader<'a>>(reader: &mut R) -> der::Result<Self> {
        let any = AnyRef::decode(reader)?;
        let text = match any.tag() {
            Tag::Utf8String => any.decode_as::<Utf8StringRef<'_>>()?.as_str(),
            Tag::PrintableString => any.decode_as::<PrintableStringRef<'_>>()?.as_str(),
            Tag::Ia5String => any.decode_as::<Ia5StringRef<'_>>()?.as_str(),
            other => return Err(other.unexpected_error(Some(Tag::Utf8String))),
        };
        Ok(Self {
            tag: any.tag(),
            text: text.to_owned(),
        })
    }
}

impl EncodeValue for CardString {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.text.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.text.as_bytes())
    }
}

impl Tagged for CardString {
    fn tag(&self) -> Tag {
        self.tag
    }
}

/// `dataWaznosci`: a GeneralizedTime of which only `YYYYMMDD` is read, so
/// cards with fractional seconds, local times or other times of day decode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExpiryDate(Date);

impl ExpiryDate {
    fn to_generalized_time(&self) -> der::Result<String> {
        let year = self.0.year();
        if !(0..=9999).contains(&year) {
            return Err(der::ErrorKind::DateTime.into());
        }
        Ok(format!(
            "{year:04}{:02}{:02}{EXPIRY_TIME_OF_DAY_UTC}",
            u8::from(self.0.month()),
            self.0.day()
        ))
    }
}

impl FixedTag for ExpiryDate {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for ExpiryDate {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let value = reader.read_slice(header.length)?;
        let date_digits = value
            .get(..8)
            .filter(|digits| digits.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| Tag::GeneralizedTime.value_error())?;
        let number = |range: std::ops::Range<usize>| {
            date_digits[range]
                .iter()
                .fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0'))
        };
        let year = i32::try_from(number(0..4)).map_err(|_| Tag::GeneralizedTime.value_error())?;
        let month = u8::try_from(number(4..6)).map_err(|_| Tag::GeneralizedTime.value_error())?;
        let day = u8::try_from(number(6..8)).map_err(|_| Tag::GeneralizedTime.value_error())?;
        time::Month::try_from(month)
            .and_then(|month| Date::from_calendar_date(year, month, day))
            .map(Self)
            .map_err(|_| der::ErrorKind::DateTime.into())
    }
}

impl EncodeValue for ExpiryDate {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.to_generalized_time()?.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.to_generalized_time()?.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use der::{Any, Encode, SliceReader};

    use super::*;
    use crate::crypto::els_sig::test_fixtures::{
        CHIP, find, hand_signed_p256, options, sample_data, sels_der, signed_sample,
    };
    use crate::crypto::els_sig::verify;

    const ELS_OID_BYTES: [u8; 11] = [
        0x06, 0x09, 0x2A, 0x84, 0x68, 0x01, 0x65, 0x04, 0x01, 0x01, 0x01,
    ];

    #[test]
    fn sels_info_uses_the_card_tags() {
        let der = signed_sample();
        assert!(
            find(&der, &ELS_OID_BYTES).is_some(),
            "eContentType bytes missing"
        );

        let content = sels_der(&sample_data());
        assert!(
            find(&der, &content).is_some(),
            "SELSInfo is not attached verbatim"
        );
        let sels = AnyRef::from_der(&content).unwrap();
        assert_eq!(sels.tag(), Tag::Sequence);
        let mut fields = SliceReader::new(sels.value()).unwrap();
        let fields: Vec<AnyRef<'_>> = (0..9)
            .map(|_| AnyRef::decode(&mut fields).unwrap())
            .collect();
        let tags: Vec<u8> = fields.iter().map(|field| u8::from(field.tag())).collect();
        // wersja, numerSeryjnyUkladu, nazwaUczelni, nazwiskoStudenta, imionaStudenta,
        // numerAlbumu, numerEdycji, pesel, dataWaznosci
        assert_eq!(tags, [0x02, 0x13, 0x0C, 0x30, 0x30, 0x13, 0x13, 0x13, 0x18]);
        assert_eq!(fields[0].value(), [1]);
        assert_eq!(fields[1].value(), CHIP.as_bytes());
        assert_eq!(fields[8].value(), b"20270331215959Z");
        for names in &fields[3..5] {
            let mut entries = SliceReader::new(names.value()).unwrap();
            while !entries.is_finished() {
                assert_eq!(AnyRef::decode(&mut entries).unwrap().tag(), Tag::Utf8String);
            }
        }
    }

    #[test]
    fn accepts_any_string_type_and_time_of_day() {
        let data = sample_data();
        let content = SelsInfo {
            wersja: 1,
            numer_seryjny_ukladu: CardString {
                tag: Tag::Ia5String,
                text: data.chip_serial.clone(),
            },
            nazwa_uczelni: CardString::printable("Uniwersytet Warszawski").unwrap(),
            nazwisko_studenta: vec![CardString {
                tag: Tag::Ia5String,
                text: "Kowalska".into(),
            }],
            imiona_studenta: vec![
                CardString::utf8("Anna"),
                CardString::printable("Maria").unwrap(),
            ],
            numer_albumu: CardString::utf8(&data.album_number),
            numer_edycji: CardString {
                tag: Tag::Ia5String,
                text: data.edition.clone(),
            },
            pesel: CardString::utf8(&data.pesel),
            data_waznosci: ExpiryDate(data.expires),
        }
        .to_der()
        .unwrap();
        let der = hand_signed_p256(content).build();
        assert_eq!(verify(&der, &options()).unwrap().data, data);

        // A card writing midnight with fractional seconds still decodes to the date.
        let ours = sels_der(&data);
        let fields = AnyRef::from_der(&ours).unwrap().value();
        let time_field_len = 2 + b"20270331215959Z".len();
        let mut fields = fields[..fields.len() - time_field_len].to_vec();
        let midnight = Any::new(Tag::GeneralizedTime, b"20270331000000.000Z".to_vec()).unwrap();
        fields.extend(midnight.to_der().unwrap());
        let content = Any::new(Tag::Sequence, fields).unwrap().to_der().unwrap();
        let der = hand_signed_p256(content).build();
        assert_eq!(verify(&der, &options()).unwrap().data.expires, data.expires);
    }
}
