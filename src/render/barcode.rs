//! Barcodes: data checked per symbology (the message names the character, its position or the
//! allowed length), module patterns from `barcoders` (linear codes) and `qrcode` (QR), drawn
//! with quiet zones to PNG with whole-pixel modules (every bar the same width on a 300 dpi
//! printer) or to SVG.

use std::fmt;
use std::str::FromStr;

use barcoders::sym::{codabar::Codabar, code39::Code39, code128::Code128, ean13::EAN13, tf::TF};
use qrcode::{EcLevel, QrCode};
use serde::Deserialize;

use super::{encode_png, mm_to_px, px_to_mm};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Symbology {
    Code128,
    Code39,
    Ean13,
    Itf,
    Codabar,
    Qr,
}

impl Symbology {
    pub const ALL: [Symbology; 6] = [
        Symbology::Code128,
        Symbology::Code39,
        Symbology::Ean13,
        Symbology::Itf,
        Symbology::Codabar,
        Symbology::Qr,
    ];

    /// The spelling used on the command line and in layouts.
    pub fn key(self) -> &'static str {
        match self {
            Symbology::Code128 => "code128",
            Symbology::Code39 => "code39",
            Symbology::Ean13 => "ean13",
            Symbology::Itf => "itf",
            Symbology::Codabar => "codabar",
            Symbology::Qr => "qr",
        }
    }

    /// Light modules required around the symbol: left, right, top/bottom. The left EAN-13
    /// margin is wider because the first digit is printed there on retail labels.
    fn quiet_zone(self) -> QuietZone {
        match self {
            Symbology::Ean13 => QuietZone::linear(11, 7),
            Symbology::Qr => QuietZone {
                left: 4,
                right: 4,
                top: 4,
            },
            _ => QuietZone::linear(10, 10),
        }
    }
}

impl fmt::Display for Symbology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Symbology::Code128 => "Code 128",
            Symbology::Code39 => "Code 39",
            Symbology::Ean13 => "EAN-13",
            Symbology::Itf => "ITF",
            Symbology::Codabar => "Codabar",
            Symbology::Qr => "QR",
        })
    }
}

impl FromStr for Symbology {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Symbology::ALL
            .into_iter()
            .find(|symbology| symbology.key() == text)
            .ok_or_else(|| {
                let keys: Vec<_> = Symbology::ALL.iter().map(|s| s.key()).collect();
                format!("unknown symbology {text:?}; use one of {}", keys.join(", "))
            })
    }
}

#[derive(Clone, Copy, Debug)]
struct QuietZone {
    left: usize,
    right: usize,
    /// Above and below; zero for linear codes, whose bars are as tall as asked.
    top: usize,
}

impl QuietZone {
    fn linear(left: usize, right: usize) -> Self {
        QuietZone {
            left,
            right,
            top: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BarcodeError {
    #[error("there is no data to encode as {0}")]
    Empty(Symbology),
    #[error("{symbology} cannot encode {character:?} at position {position} (allowed: {allowed})")]
    Character {
        symbology: Symbology,
        character: char,
        /// 1-based, as people count characters.
        position: usize,
        allowed: &'static str,
    },
    #[error("{symbology} takes {allowed}; got {actual}")]
    Length {
        symbology: Symbology,
        actual: usize,
        allowed: &'static str,
    },
    #[error("EAN-13 check digit of {first_twelve} is {expected}, not {given}")]
    CheckDigit {
        first_twelve: String,
        given: char,
        expected: u8,
    },
    #[error("QR data is {0} bytes; a QR code holds at most 2331 bytes at error correction M")]
    QrTooLong(usize),
    #[error("module width must be 1 to {MAX_MODULE_PX} pixels; got {0}")]
    ModuleWidth(u32),
    #[error("bar height must be {MIN_BAR_HEIGHT_MM} to {MAX_BAR_HEIGHT_MM} mm; got {0}")]
    BarHeight(f64),
    #[error("the barcode could not be encoded as PNG: {0}")]
    Png(String),
}

const MAX_MODULE_PX: u32 = 20;
const MIN_BAR_HEIGHT_MM: f64 = 2.0;
const MAX_BAR_HEIGHT_MM: f64 = 100.0;
/// Longer linear codes do not fit a card or a scanner's field of view.
const MAX_LINEAR_CHARACTERS: usize = 80;

/// How big to draw: module width in printer pixels at 300 dpi, and the bar height of linear
/// codes (QR modules are square).
#[derive(Clone, Copy, Debug)]
pub struct BarcodeSize {
    module_px: u32,
    bar_height_mm: f64,
}

impl BarcodeSize {
    pub fn new(module_px: u32, bar_height_mm: f64) -> Result<Self, BarcodeError> {
        if !(1..=MAX_MODULE_PX).contains(&module_px) {
            return Err(BarcodeError::ModuleWidth(module_px));
        }
        if !(MIN_BAR_HEIGHT_MM..=MAX_BAR_HEIGHT_MM).contains(&bar_height_mm) {
            return Err(BarcodeError::BarHeight(bar_height_mm));
        }
        Ok(BarcodeSize {
            module_px,
            bar_height_mm,
        })
    }
}

impl Default for BarcodeSize {
    /// 3 px = 0.254 mm modules, which every card-office scanner reads; 10 mm bars.
    fn default() -> Self {
        BarcodeSize {
            module_px: 3,
            bar_height_mm: 10.0,
        }
    }
}

/// A dark rectangle in module units (x across, y in rows).
#[derive(Clone, Copy, Debug, PartialEq)]
struct ModuleRun {
    x: usize,
    y: usize,
    width: usize,
}

/// An encoded barcode: its dark modules row by row (one row for linear codes).
#[derive(Clone, Debug)]
pub struct Barcode {
    symbology: Symbology,
    text: String,
    columns: usize,
    rows: Vec<Vec<bool>>,
}

impl Barcode {
    pub fn encode(symbology: Symbology, data: &str) -> Result<Self, BarcodeError> {
        if data.is_empty() {
            return Err(BarcodeError::Empty(symbology));
        }
        let length = data.chars().count();
        if symbology != Symbology::Qr && length > MAX_LINEAR_CHARACTERS {
            return Err(BarcodeError::Length {
                symbology,
                actual: length,
                allowed: "at most 80 characters",
            });
        }
        let (text, modules) = match symbology {
            Symbology::Qr => return encode_qr(data),
            Symbology::Code128 => encode_code128(data)?,
            Symbology::Code39 => encode_code39(data)?,
            Symbology::Ean13 => encode_ean13(data)?,
            Symbology::Itf => encode_itf(data)?,
            Symbology::Codabar => encode_codabar(data)?,
        };
        Ok(Barcode {
            symbology,
            text,
            columns: modules.len(),
            rows: vec![modules.into_iter().map(|module| module == 1).collect()],
        })
    }

    pub fn symbology(&self) -> Symbology {
        self.symbology
    }

    /// What a scanner reads back: the data with any computed check digit or the start/stop
    /// characters added.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Width in modules, quiet zones included.
    pub fn width_modules(&self) -> usize {
        let quiet = self.symbology.quiet_zone();
        quiet.left + self.columns + quiet.right
    }

    /// Height in modules (QR) or rows (1 for linear codes), quiet zones included.
    fn height_modules(&self) -> usize {
        self.rows.len() + 2 * self.symbology.quiet_zone().top
    }

    pub fn is_linear(&self) -> bool {
        self.symbology != Symbology::Qr
    }

    /// The dark modules as horizontal runs, offset by the quiet zones.
    fn dark_runs(&self) -> Vec<ModuleRun> {
        let quiet = self.symbology.quiet_zone();
        let mut runs = Vec::new();
        for (row_index, row) in self.rows.iter().enumerate() {
            let mut column = 0;
            while column < row.len() {
                let width = row[column..].iter().take_while(|&&dark| dark).count();
                if width > 0 {
                    runs.push(ModuleRun {
                        x: quiet.left + column,
                        y: quiet.top + row_index,
                        width,
                    });
                    column += width;
                } else {
                    column += 1;
                }
            }
        }
        runs
    }

    /// Height of one row in pixels: the bar height for linear codes, a module for QR.
    fn row_height_px(&self, size: &BarcodeSize) -> u32 {
        if self.is_linear() {
            mm_to_px(size.bar_height_mm).round() as u32
        } else {
            size.module_px
        }
    }

    /// Pixel size of the PNG: modules × module width, quiet zones included.
    pub fn pixel_size(&self, size: &BarcodeSize) -> (u32, u32) {
        let width = self.width_modules() as u32 * size.module_px;
        let height = self.height_modules() as u32 * self.row_height_px(size);
        (width, height)
    }

    /// Black on white, 8-bit grey, tagged 300 dpi.
    pub fn png(&self, size: &BarcodeSize) -> Result<Vec<u8>, BarcodeError> {
        let (width, height) = self.pixel_size(size);
        let row_height = self.row_height_px(size) as usize;
        let module = size.module_px as usize;
        let stride = width as usize;
        let mut pixels = vec![u8::MAX; stride * height as usize];
        for run in self.dark_runs() {
            let columns = run.x * module..(run.x + run.width) * module;
            for y in run.y * row_height..(run.y + 1) * row_height {
                pixels[y * stride + columns.start..y * stride + columns.end].fill(0);
            }
        }
        encode_png(width, height, png::ColorType::Grayscale, &pixels)
            .map_err(|err| BarcodeError::Png(err.to_string()))
    }

    /// A standalone SVG at the same physical size as the PNG.
    pub fn svg(&self, size: &BarcodeSize) -> String {
        let (width_px, height_px) = self.pixel_size(size);
        let width = px_to_mm(f64::from(width_px));
        let height = px_to_mm(f64::from(height_px));
        let module = px_to_mm(f64::from(size.module_px));
        let row_height = px_to_mm(f64::from(self.row_height_px(size)));
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.3}mm\" height=\"{height:.3}mm\" \
             viewBox=\"0 0 {width:.4} {height:.4}\" shape-rendering=\"crispEdges\">\
             <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
             <path fill=\"#000\" d=\"{}\"/></svg>\n",
            self.svg_path_data(0.0, 0.0, module, row_height)
        )
    }

    /// SVG path data of the dark modules (quiet zones included in the offsets), with the
    /// symbol's top-left corner at (`left`, `top`) in user units.
    pub(crate) fn svg_path_data(
        &self,
        left: f64,
        top: f64,
        module_width: f64,
        row_height: f64,
    ) -> String {
        self.dark_runs()
            .into_iter()
            .map(|run| {
                format!(
                    "M{:.4} {:.4}h{:.4}v{:.4}h{:.4}z",
                    left + run.x as f64 * module_width,
                    top + run.y as f64 * row_height,
                    run.width as f64 * module_width,
                    row_height,
                    -(run.width as f64) * module_width,
                )
            })
            .collect()
    }
}

/// Whole pixels per module that fit `width_px` (quiet zones included), for placing a code
/// in a layout frame; `None` when even 1-pixel modules do not fit.
pub(crate) fn module_px_for_width(barcode: &Barcode, width_px: f64) -> Option<u32> {
    let module_px = (width_px / barcode.width_modules() as f64).floor();
    (module_px >= 1.0).then_some(module_px.min(f64::from(MAX_MODULE_PX)) as u32)
}

/// Refuses the first character `allowed` rejects, naming it and its 1-based position.
fn check_characters(
    symbology: Symbology,
    data: &str,
    allowed_description: &'static str,
    allowed: impl Fn(usize, char) -> bool,
) -> Result<(), BarcodeError> {
    match data
        .chars()
        .enumerate()
        .find(|&(index, character)| !allowed(index, character))
    {
        Some((index, character)) => Err(BarcodeError::Character {
            symbology,
            character,
            position: index + 1,
            allowed: allowed_description,
        }),
        None => Ok(()),
    }
}

/// Maps an error of `barcoders` that our own checks should have caught first.
fn library_refused(symbology: Symbology, data: &str) -> BarcodeError {
    BarcodeError::Length {
        symbology,
        actual: data.chars().count(),
        allowed: "data the encoder accepts (it refused this value)",
    }
}

fn encode_code128(data: &str) -> Result<(String, Vec<u8>), BarcodeError> {
    check_characters(
        Symbology::Code128,
        data,
        "printable ASCII: letters without diacritics, digits, space and punctuation",
        |_, character| matches!(character, ' '..='~'),
    )?;
    // barcoders wants the start code set spelled out: C packs digit pairs (shorter bars for
    // card and album numbers), B covers all printable ASCII.
    let all_digit_pairs = data.len() >= 4 && data.len().is_multiple_of(2);
    let start = if all_digit_pairs && data.bytes().all(|byte| byte.is_ascii_digit()) {
        'Ć'
    } else {
        'Ɓ'
    };
    let code = Code128::new(format!("{start}{data}"))
        .map_err(|_| library_refused(Symbology::Code128, data))?;
    Ok((data.to_owned(), code.encode()))
}

fn encode_code39(data: &str) -> Result<(String, Vec<u8>), BarcodeError> {
    check_characters(
        Symbology::Code39,
        data,
        "upper-case A-Z, digits 0-9, space and - . $ / + %",
        |_, character| {
            character.is_ascii_uppercase()
                || character.is_ascii_digit()
                || " -.$/+%".contains(character)
        },
    )?;
    let code = Code39::new(data).map_err(|_| library_refused(Symbology::Code39, data))?;
    Ok((data.to_owned(), code.encode()))
}

fn ean13_check_digit(first_twelve: &[u8]) -> u8 {
    let sum: u32 = first_twelve
        .iter()
        .enumerate()
        .map(|(index, &digit)| u32::from(digit) * if index % 2 == 0 { 1 } else { 3 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn encode_ean13(data: &str) -> Result<(String, Vec<u8>), BarcodeError> {
    check_characters(Symbology::Ean13, data, "digits 0-9", |_, character| {
        character.is_ascii_digit()
    })?;
    if !matches!(data.len(), 12 | 13) {
        return Err(BarcodeError::Length {
            symbology: Symbology::Ean13,
            actual: data.len(),
            allowed: "12 digits (the check digit is added) or 13 (the check digit is checked)",
        });
    }
    let digits: Vec<u8> = data.bytes().map(|byte| byte - b'0').collect();
    let expected = ean13_check_digit(&digits[..12]);
    if let Some(&given) = digits.get(12)
        && given != expected
    {
        return Err(BarcodeError::CheckDigit {
            first_twelve: data[..12].to_owned(),
            given: char::from(b'0' + given),
            expected,
        });
    }
    let code = EAN13::new(data).map_err(|_| library_refused(Symbology::Ean13, data))?;
    Ok((format!("{}{expected}", &data[..12]), code.encode()))
}

fn encode_itf(data: &str) -> Result<(String, Vec<u8>), BarcodeError> {
    check_characters(Symbology::Itf, data, "digits 0-9", |_, character| {
        character.is_ascii_digit()
    })?;
    // ITF encodes digit pairs: barcoders appends a mod-10 check digit to odd-length data.
    let code = TF::interleaved(data).map_err(|_| library_refused(Symbology::Itf, data))?;
    let text = match &code {
        TF::Interleaved(digits) | TF::Standard(digits) => digits
            .iter()
            .map(|&digit| char::from(b'0' + digit))
            .collect(),
    };
    Ok((text, code.encode()))
}

fn encode_codabar(data: &str) -> Result<(String, Vec<u8>), BarcodeError> {
    const ALLOWED: &str = "digits 0-9 and - $ : / . +, with start/stop letters A-D only as both \
                           the first and the last character";
    let is_start_stop = |character: char| matches!(character, 'A'..='D');
    let length = data.chars().count();
    let framed = data.starts_with(is_start_stop) && data.ends_with(is_start_stop) && length >= 2;
    check_characters(Symbology::Codabar, data, ALLOWED, |index, character| {
        let at_end = index == 0 || index + 1 == length;
        character.is_ascii_digit()
            || "-$:/.+".contains(character)
            || (framed && at_end && is_start_stop(character))
    })?;
    // Scanners need start/stop letters; bare data gets the common A…A frame.
    let text = if framed {
        data.to_owned()
    } else {
        format!("A{data}A")
    };
    // barcoders 2 draws B with C's bar pattern and C with B's (zbarimg reads its "A…B" as
    // "A…C"), so the two letters are swapped on the way in to come out right.
    let swapped: String = text
        .chars()
        .map(|character| match character {
            'B' => 'C',
            'C' => 'B',
            other => other,
        })
        .collect();
    let code = Codabar::new(&swapped).map_err(|_| library_refused(Symbology::Codabar, data))?;
    Ok((text, code.encode()))
}

fn encode_qr(data: &str) -> Result<Barcode, BarcodeError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|_| BarcodeError::QrTooLong(data.len()))?;
    let width = code.width();
    let colors = code.to_colors();
    let rows = colors
        .chunks(width)
        .map(|row| {
            row.iter()
                .map(|&color| color == qrcode::Color::Dark)
                .collect()
        })
        .collect();
    Ok(Barcode {
        symbology: Symbology::Qr,
        text: data.to_owned(),
        columns: width,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(barcode: &Barcode) -> String {
        barcode.rows[0]
            .iter()
            .map(|&dark| if dark { '1' } else { '0' })
            .collect()
    }

    #[test]
    fn ean13_of_twelve_digits_gets_its_check_digit() {
        let barcode = Barcode::encode(Symbology::Ean13, "590123412345").unwrap();
        assert_eq!(barcode.text(), "5901234123457");
        let bars = modules(&barcode);
        assert_eq!(bars.len(), 95);
        assert!(bars.starts_with("101") && bars.ends_with("101"));
        assert_eq!(&bars[45..50], "01010", "middle guard");
        // The last digit (7) on the right side is R-code 1000100 before the end guard.
        assert_eq!(&bars[85..92], "1000100");
        assert_eq!(barcode.width_modules(), 11 + 95 + 7);
    }

    #[test]
    fn ean13_with_a_wrong_check_digit_says_which_is_right() {
        let err = Barcode::encode(Symbology::Ean13, "5901234123450").unwrap_err();
        assert_eq!(
            err.to_string(),
            "EAN-13 check digit of 590123412345 is 7, not 0"
        );
        assert!(Barcode::encode(Symbology::Ean13, "5901234123457").is_ok());
    }

    #[test]
    fn ean13_length_and_characters_are_named() {
        let err = Barcode::encode(Symbology::Ean13, "12345").unwrap_err();
        assert!(err.to_string().contains("got 5"), "{err}");
        let err = Barcode::encode(Symbology::Ean13, "59012341234X").unwrap_err();
        assert_eq!(
            err,
            BarcodeError::Character {
                symbology: Symbology::Ean13,
                character: 'X',
                position: 12,
                allowed: "digits 0-9"
            }
        );
    }

    #[test]
    fn code128_digits_use_code_set_c() {
        // Start C (11) + 3 pairs (3 × 11) + check (11) + stop (13) modules.
        let barcode = Barcode::encode(Symbology::Code128, "123456").unwrap();
        assert_eq!(barcode.columns, 11 + 3 * 11 + 11 + 13);
        assert!(modules(&barcode).starts_with("11010011100"), "start C");
        assert!(modules(&barcode).ends_with("1100011101011"), "stop");
        // Letters need code set B: one symbol per character.
        let barcode = Barcode::encode(Symbology::Code128, "AB-12").unwrap();
        assert_eq!(barcode.columns, 11 + 5 * 11 + 11 + 13);
        assert!(modules(&barcode).starts_with("11010010000"), "start B");
    }

    #[test]
    fn code128_refuses_polish_letters_by_position() {
        let err = Barcode::encode(Symbology::Code128, "Łódź").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Code 128 cannot encode 'Ł' at position 1"),
            "{err}"
        );
    }

    #[test]
    fn code39_is_framed_by_stars_and_refuses_lower_case() {
        let barcode = Barcode::encode(Symbology::Code39, "AB1").unwrap();
        // 5 symbols (* A B 1 *) of 12 modules with a gap between them.
        assert_eq!(barcode.columns, 5 * 12 + 4);
        let err = Barcode::encode(Symbology::Code39, "ABc").unwrap_err();
        assert!(err.to_string().contains("'c' at position 3"), "{err}");
    }

    #[test]
    fn itf_adds_a_check_digit_to_odd_lengths() {
        let barcode = Barcode::encode(Symbology::Itf, "1234567").unwrap();
        assert_eq!(barcode.text(), "12345670");
        // Start (4) + 4 pairs of 18 modules (2 wide + 3 narrow bars and spaces) + stop (4).
        assert_eq!(barcode.columns, 4 + 4 * 18 + 4);
        assert_eq!(
            Barcode::encode(Symbology::Itf, "1234").unwrap().text(),
            "1234"
        );
    }

    #[test]
    fn codabar_gets_start_stop_letters_unless_given() {
        assert_eq!(
            Barcode::encode(Symbology::Codabar, "40156").unwrap().text(),
            "A40156A"
        );
        assert_eq!(
            Barcode::encode(Symbology::Codabar, "B40156D")
                .unwrap()
                .text(),
            "B40156D"
        );
        let err = Barcode::encode(Symbology::Codabar, "40A56").unwrap_err();
        assert!(err.to_string().contains("'A' at position 3"), "{err}");
    }

    #[test]
    fn qr_is_square_with_a_four_module_margin() {
        let barcode = Barcode::encode(Symbology::Qr, "https://usos.example.edu/k/123").unwrap();
        assert_eq!(barcode.rows.len(), barcode.columns);
        assert_eq!(barcode.width_modules(), barcode.columns + 8);
        let too_long = "x".repeat(3000);
        assert_eq!(
            Barcode::encode(Symbology::Qr, &too_long).unwrap_err(),
            BarcodeError::QrTooLong(3000)
        );
    }

    #[test]
    fn empty_and_overlong_data_are_refused() {
        for symbology in Symbology::ALL {
            assert_eq!(
                Barcode::encode(symbology, "").unwrap_err(),
                BarcodeError::Empty(symbology)
            );
        }
        let err = Barcode::encode(Symbology::Code128, &"1".repeat(81)).unwrap_err();
        assert!(err.to_string().contains("at most 80"), "{err}");
    }

    fn png_size(png_bytes: &[u8]) -> (u32, u32) {
        let decoder = png::Decoder::new(png_bytes);
        let reader = decoder.read_info().unwrap();
        (reader.info().width, reader.info().height)
    }

    #[test]
    fn png_is_modules_times_module_width_plus_quiet_zones() {
        let barcode = Barcode::encode(Symbology::Ean13, "590123412345").unwrap();
        let size = BarcodeSize::new(3, 10.0).unwrap();
        let png_bytes = barcode.png(&size).unwrap();
        // 10 mm at 300 dpi = 118.1 px.
        assert_eq!(png_size(&png_bytes), ((11 + 95 + 7) * 3, 118));

        let qr = Barcode::encode(Symbology::Qr, "A").unwrap();
        let size = BarcodeSize::new(4, 10.0).unwrap();
        let side = (qr.columns as u32 + 8) * 4;
        assert_eq!(png_size(&qr.png(&size).unwrap()), (side, side));
    }

    #[test]
    fn png_bars_are_whole_pixels_where_the_modules_are() {
        let barcode = Barcode::encode(Symbology::Ean13, "590123412345").unwrap();
        let size = BarcodeSize::new(2, 5.0).unwrap();
        let png_bytes = barcode.png(&size).unwrap();
        let mut reader = png::Decoder::new(png_bytes.as_slice()).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut pixels).unwrap();
        let width = reader.info().width as usize;
        let first_row = &pixels[..width];
        let expected: Vec<u8> = std::iter::repeat_n(false, 11)
            .chain(barcode.rows[0].iter().copied())
            .chain(std::iter::repeat_n(false, 7))
            .flat_map(|dark| [if dark { 0 } else { 255 }; 2])
            .collect();
        assert_eq!(first_row, expected.as_slice());
    }

    #[test]
    fn svg_has_the_physical_size_of_the_png() {
        let barcode = Barcode::encode(Symbology::Code39, "CARD42").unwrap();
        let svg = barcode.svg(&BarcodeSize::default());
        let width_mm = px_to_mm(f64::from(barcode.pixel_size(&BarcodeSize::default()).0));
        assert!(svg.contains(&format!("width=\"{width_mm:.3}mm\"")), "{svg}");
        assert_eq!(svg.matches('z').count(), barcode.dark_runs().len());
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        assert_eq!(
            BarcodeSize::new(0, 10.0).unwrap_err(),
            BarcodeError::ModuleWidth(0)
        );
        assert!(BarcodeSize::new(3, 0.5).is_err());
        assert!(BarcodeSize::new(3, f64::NAN).is_err());
    }

    #[test]
    fn symbology_names_parse_back() {
        for symbology in Symbology::ALL {
            assert_eq!(symbology.key().parse::<Symbology>(), Ok(symbology));
        }
        assert!("upc".parse::<Symbology>().unwrap_err().contains("code128"));
    }
}
