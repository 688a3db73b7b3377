//! Holder photos the store keeps (README "Photos"): the checks every stored photo passes,
//! from the desk or from the server, and the desk's "set photo from file", which crops a
//! JPEG or PNG to the card's photo frame and re-encodes it as JPEG.
//!
//! Limits: a file the desk reads is at most [`MAX_FILE_BYTES`]; a stored photo (what the
//! server sends and what the desk saves) at most [`MAX_STORED_BYTES`] decoded; no photo may
//! declare more than [`MAX_SIDE`] pixels a side or [`MAX_PIXELS`] in all, checked from its
//! header before anything is decoded, and decoding is bounded by [`MAX_DECODE_BYTES`].

use std::io::Cursor;

use base64::Engine;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::layout::{Element, Layout};

/// Largest file the desk reads: a phone's JPEG or a scanner's PNG fits.
pub const MAX_FILE_BYTES: u64 = super::photo::MAX_PHOTO_BYTES;
/// Largest stored photo, decoded. The desk's 520 × 662 JPEGs are far smaller; 1 MiB leaves
/// room for the server's photos from other systems while a page of 100 persons stays under the client's
/// 64 MiB answer limit in any realistic mix, and base64 of it fits the reference server's
/// 2 MB request limit.
pub const MAX_STORED_BYTES: usize = 1 << 20;
pub const MAX_SIDE: u32 = 10_000;
/// 40 megapixels: the largest camera photos.
pub const MAX_PIXELS: u64 = 40_000_000;
/// What decoding one photo may allocate (a 40 MP RGBA image is 160 MB).
pub const MAX_DECODE_BYTES: u64 = 256 << 20;
/// The resolution a printed card photo needs: the card printers' 300 dpi.
pub const MIN_DPI: f64 = super::DPI;
/// Saved photos are scaled down to twice the printers' resolution: sharp on a card and on a
/// HiDPI screen.
pub const SAVED_DPI: f64 = 2.0 * super::DPI;
const JPEG_QUALITY: u8 = 90;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    #[error("cannot read {path}: {cause}")]
    Unreadable { path: String, cause: String },
    #[error("the photo is {bytes} bytes; at most {max} are accepted")]
    TooManyBytes { bytes: u64, max: u64 },
    #[error("the photo is not a JPEG or PNG image")]
    NotJpegOrPng,
    #[error(
        "the photo declares {width}×{height} pixels, more than {MAX_SIDE} a side or {MAX_PIXELS} in all"
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("the photo is damaged (truncated or not a valid JPEG/PNG): {0}")]
    Damaged(String),
    #[error(
        "the photo is {width}×{height} pixels; the card's photo frame needs at least {min_width}×{min_height} (300 dpi) after cropping"
    )]
    TooSmall {
        width: u32,
        height: u32,
        min_width: u32,
        min_height: u32,
    },
    #[error("the photo is not base64")]
    NotBase64,
}

impl crate::error::Problem for PhotoError {
    fn next_step(&self) -> &'static str {
        match self {
            PhotoError::Unreadable { .. } => "check the path and that the file may be read",
            PhotoError::TooManyBytes { .. } | PhotoError::TooManyPixels { .. } => {
                "scale the photo down (for example to 1000×1300 pixels) and try again"
            }
            PhotoError::NotJpegOrPng => "save the photo as JPEG or PNG and try again",
            PhotoError::Damaged(_) => {
                "open the photo in an image viewer; save it again or take another"
            }
            PhotoError::TooSmall { .. } => {
                "use a larger photo (a scan or the original from the camera)"
            }
            PhotoError::NotBase64 => "correct the person's photo on the server",
        }
    }
}

/// A card's photo frame, in millimetres: the shape photos are cropped to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhotoFrame {
    pub width_mm: f64,
    pub height_mm: f64,
}

impl PhotoFrame {
    /// The photo frame of the student card (profiles/layouts/els-student.toml): the desk's
    /// shape when its profile names no layout.
    pub const STUDENT_CARD: PhotoFrame = PhotoFrame {
        width_mm: 22.0,
        height_mm: 28.0,
    };

    /// The first photo frame of the layout's front, else of its back.
    pub fn of_layout(layout: &Layout) -> Option<PhotoFrame> {
        [&layout.front, &layout.back]
            .into_iter()
            .flat_map(|side| &side.elements)
            .find_map(|element| match element {
                Element::Photo { frame } => Some(PhotoFrame {
                    width_mm: frame.width,
                    height_mm: frame.height,
                }),
                _ => None,
            })
    }

    /// The frame's size in pixels at `dpi`, rounded up.
    fn pixels_at(self, dpi: f64) -> (u32, u32) {
        let pixels = |mm: f64| (mm / 25.4 * dpi - 1e-9).ceil().max(1.0) as u32;
        (pixels(self.width_mm), pixels(self.height_mm))
    }

    /// The smallest crop printed at 300 dpi.
    pub fn min_pixels(self) -> (u32, u32) {
        self.pixels_at(MIN_DPI)
    }

    /// The centred crop of a `width` × `height` picture with the frame's shape: its left,
    /// top, width and height.
    pub fn centred_crop(self, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let aspect = self.width_mm / self.height_mm;
        if f64::from(width) > f64::from(height) * aspect {
            let crop = ((f64::from(height) * aspect).round() as u32).clamp(1, width);
            ((width - crop) / 2, 0, crop, height)
        } else {
            let crop = ((f64::from(width) / aspect).round() as u32).clamp(1, height);
            (0, (height - crop) / 2, width, crop)
        }
    }

    /// The size a crop is saved at: scaled down to [`SAVED_DPI`], never up.
    fn saved_size(self, crop_width: u32, crop_height: u32) -> (u32, u32) {
        let (_, max_height) = self.pixels_at(SAVED_DPI);
        if crop_height <= max_height {
            return (crop_width, crop_height);
        }
        let width = (f64::from(max_height) * self.width_mm / self.height_mm).round() as u32;
        (width.max(1), max_height)
    }
}

/// A photo ready for the store: JPEG bytes and their size in pixels.
#[derive(Clone, PartialEq, Eq)]
pub struct Portrait {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for Portrait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Portrait({}×{}, {} bytes)",
            self.width,
            self.height,
            self.jpeg.len()
        )
    }
}

/// JPEG or PNG by its signature, else `None` (GIF, WebP, a text file...).
pub fn format_of(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else {
        None
    }
}

/// Whether a JPEG's image data reaches its end-of-image marker. The decoder fills a cut-off
/// JPEG with grey rather than failing, so a truncated upload is caught here. Segments are
/// walked by their lengths (an EXIF thumbnail's own markers are skipped with its segment);
/// bytes after the end marker (a phone's appended video) are allowed.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut at = 2;
    while at + 1 < bytes.len() {
        if bytes[at] != 0xFF {
            return false;
        }
        let marker = bytes[at + 1];
        match marker {
            0xD9 => return true,
            // Fill bytes and markers without a length.
            0xFF => at += 1,
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let Some(length) = bytes.get(at + 2..at + 4) else {
                    return false;
                };
                at += 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
                if marker == 0xDA {
                    // Entropy-coded data: runs to the next marker that is not a stuffed
                    // 0xFF00 or a restart marker.
                    while at + 1 < bytes.len()
                        && (bytes[at] != 0xFF || matches!(bytes[at + 1], 0x00 | 0xD0..=0xD7))
                    {
                        at += 1;
                    }
                }
            }
        }
    }
    false
}

/// The declared size of a JPEG or PNG, from its header only, checked against the limits.
fn declared_size(bytes: &[u8]) -> Result<(ImageFormat, u32, u32), PhotoError> {
    let format = format_of(bytes).ok_or(PhotoError::NotJpegOrPng)?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(PhotoError::Damaged(
            "the JPEG ends before its image data does".into(),
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Only the header is read here; the size is judged below, by us, to name it.
    reader.no_limits();
    let (width, height) = reader
        .into_dimensions()
        .map_err(|err| PhotoError::Damaged(err.to_string()))?;
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PhotoError::TooManyPixels { width, height });
    }
    Ok((format, width, height))
}

/// Checks a photo before the store keeps it (the desk's, or one from the server): at most
/// [`MAX_STORED_BYTES`], JPEG or PNG, a readable header within the pixel limits. Returns its
/// size in pixels.
pub fn check_stored(bytes: &[u8]) -> Result<(u32, u32), PhotoError> {
    if bytes.len() > MAX_STORED_BYTES {
        return Err(PhotoError::TooManyBytes {
            bytes: bytes.len() as u64,
            max: MAX_STORED_BYTES as u64,
        });
    }
    declared_size(bytes).map(|(_, width, height)| (width, height))
}

/// A server's base64 photo as bytes; one too long to be a stored photo is refused before it
/// is decoded.
pub fn from_base64(text: &str) -> Result<Vec<u8>, PhotoError> {
    // Padding takes up to two bytes off the last group of four characters.
    if text.len() / 4 * 3 > MAX_STORED_BYTES + 2 {
        return Err(PhotoError::TooManyBytes {
            bytes: (text.len() / 4 * 3) as u64,
            max: MAX_STORED_BYTES as u64,
        });
    }
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|_| PhotoError::NotBase64)
}

pub fn to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The desk's photo from a file's bytes: JPEG or PNG, turned upright (EXIF orientation),
/// cropped centred to `frame`'s shape, at least 300 dpi at the frame's size, scaled down to
/// [`SAVED_DPI`] and saved as JPEG.
pub fn prepare(bytes: &[u8], frame: PhotoFrame) -> Result<Portrait, PhotoError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(PhotoError::TooManyBytes {
            bytes: bytes.len() as u64,
            max: MAX_FILE_BYTES,
        });
    }
    let (format, width, height) = declared_size(bytes)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let damaged = |err: image::ImageError| match err {
        image::ImageError::Limits(_) => PhotoError::TooManyPixels { width, height },
        other => PhotoError::Damaged(other.to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(damaged)?;
    let orientation = decoder.orientation().map_err(damaged)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(damaged)?;
    picture.apply_orientation(orientation);
    let (left, top, crop_width, crop_height) =
        frame.centred_crop(picture.width(), picture.height());
    let (min_width, min_height) = frame.min_pixels();
    if crop_width < min_width || crop_height < min_height {
        return Err(PhotoError::TooSmall {
            width: picture.width(),
            height: picture.height(),
            min_width,
            min_height,
        });
    }
    let cropped = picture.crop_imm(left, top, crop_width, crop_height);
    drop(picture);
    let (width, height) = frame.saved_size(crop_width, crop_height);
    let scaled = if (width, height) == (crop_width, crop_height) {
        cropped
    } else {
        cropped.resize_exact(width, height, image::imageops::FilterType::Lanczos3)
    };
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(&scaled.to_rgb8())
        .map_err(|err| PhotoError::Damaged(err.to_string()))?;
    Ok(Portrait {
        jpeg,
        width,
        height,
    })
}

/// [`prepare`] of the file at `path`, read only if it is not larger than [`MAX_FILE_BYTES`].
pub fn prepare_file(path: &std::path::Path, frame: PhotoFrame) -> Result<Portrait, PhotoError> {
    let unreadable = |err: std::io::Error| PhotoError::Unreadable {
        path: path.display().to_string(),
        cause: err.to_string(),
    };
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_FILE_BYTES {
        return Err(PhotoError::TooManyBytes {
            bytes: size,
            max: MAX_FILE_BYTES,
        });
    }
    prepare(&std::fs::read(path).map_err(unreadable)?, frame)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb, RgbImage};

    /// A `width` × `height` JPEG or PNG with a dark centre column (to see the crop centred).
    pub(crate) fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, _| {
            if x.abs_diff(width / 2) < width / 10 {
                Rgb([20, 20, 20])
            } else {
                Rgb([230, 200, 180])
            }
        });
        let mut bytes = Vec::new();
        match format {
            ImageFormat::Png => image::codecs::png::PngEncoder::new(&mut bytes)
                .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
                .unwrap(),
            _ => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
                .encode_image(&image)
                .unwrap(),
        }
        bytes
    }

    fn assert_frame_shape(portrait: &Portrait, frame: PhotoFrame) {
        let wanted = frame.width_mm / frame.height_mm;
        let shape = f64::from(portrait.width) / f64::from(portrait.height);
        assert!(
            (shape - wanted).abs() <= 1.0 / f64::from(portrait.height),
            "{portrait:?} is {shape}, the frame {wanted}"
        );
    }

    #[test]
    fn portrait_and_landscape_photos_are_cropped_to_the_frame_and_scaled_to_600_dpi() {
        let frame = PhotoFrame::STUDENT_CARD;
        for (width, height, format) in [
            (1200, 1600, ImageFormat::Jpeg),
            (2000, 1000, ImageFormat::Png),
            (700, 2400, ImageFormat::Jpeg),
        ] {
            let portrait = prepare(&picture(width, height, format), frame).unwrap();
            assert_eq!(
                (portrait.width, portrait.height),
                (520, 662),
                "{width}×{height}"
            );
            assert_frame_shape(&portrait, frame);
            assert_eq!(format_of(&portrait.jpeg), Some(ImageFormat::Jpeg));
            assert_eq!(check_stored(&portrait.jpeg), Ok((520, 662)));
            // Centred: the dark column is in the middle of the saved photo.
            let saved = image::load_from_memory(&portrait.jpeg).unwrap().to_rgb8();
            let middle = saved.get_pixel(portrait.width / 2, portrait.height / 2);
            assert!(middle[0] < 80, "{width}×{height}: centre is {middle:?}");
        }
        // A crop smaller than 600 dpi is kept as it is, never scaled up.
        let small = prepare(&picture(300, 400, ImageFormat::Png), frame).unwrap();
        assert_eq!((small.width, small.height), (300, 382));
        assert_frame_shape(&small, frame);
        let staff = PhotoFrame {
            width_mm: 24.0,
            height_mm: 31.0,
        };
        assert_frame_shape(
            &prepare(&picture(1000, 1000, ImageFormat::Jpeg), staff).unwrap(),
            staff,
        );
    }

    #[test]
    fn the_student_frame_is_the_student_layouts() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/profiles/layouts/els-student.toml"
        );
        let layout = Layout::load(std::path::Path::new(path)).unwrap();
        assert_eq!(
            PhotoFrame::of_layout(&layout),
            Some(PhotoFrame::STUDENT_CARD)
        );
        assert_eq!(PhotoFrame::STUDENT_CARD.min_pixels(), (260, 331));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let frame = PhotoFrame::STUDENT_CARD;
        // 259 wide: one pixel short of 22 mm at 300 dpi.
        let err = prepare(&picture(259, 400, ImageFormat::Png), frame).unwrap_err();
        assert!(
            matches!(
                err,
                PhotoError::TooSmall {
                    min_width: 260,
                    min_height: 331,
                    ..
                }
            ),
            "{err}"
        );
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
        assert_eq!(prepare(&gif, frame), Err(PhotoError::NotJpegOrPng));
        assert_eq!(check_stored(&gif), Err(PhotoError::NotJpegOrPng));
        let jpeg = picture(800, 1000, ImageFormat::Jpeg);
        let truncated = &jpeg[..jpeg.len() / 2];
        let err = prepare(truncated, frame);
        assert!(matches!(err, Err(PhotoError::Damaged(_))), "{err:?}");
        // Bytes after the end marker (a phone's appended video) are not damage.
        let mut with_trailer = jpeg.clone();
        with_trailer.extend_from_slice(b"\0\0\0\x18ftypmp42 video follows");
        assert!(prepare(&with_trailer, frame).is_ok());
        let too_many = vec![0xFF; MAX_STORED_BYTES + 1];
        assert!(matches!(
            check_stored(&too_many),
            Err(PhotoError::TooManyBytes { .. })
        ));
    }

    /// A PNG header declaring `width` × `height`, with one tiny compressed row: a
    /// "decompression bomb" as an attacker would send it.
    pub(crate) fn png_bomb(width: u32, height: u32) -> Vec<u8> {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut out = (data.len() as u32).to_be_bytes().to_vec();
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            let mut crc = crc32fast::Hasher::new();
            crc.update(kind);
            crc.update(data);
            out.extend_from_slice(&crc.finalize().to_be_bytes());
            out
        };
        let mut header = width.to_be_bytes().to_vec();
        header.extend_from_slice(&height.to_be_bytes());
        header.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &header));
        png.extend(chunk(
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        ));
        png.extend(chunk(b"IEND", &[]));
        png
    }

    #[test]
    fn a_png_declaring_huge_dimensions_is_refused_before_decoding() {
        let frame = PhotoFrame::STUDENT_CARD;
        for (width, height) in [(60_000, 60_000), (9_000, 9_000), (10_001, 300)] {
            let bomb = png_bomb(width, height);
            assert_eq!(
                prepare(&bomb, frame),
                Err(PhotoError::TooManyPixels { width, height })
            );
            assert_eq!(
                check_stored(&bomb),
                Err(PhotoError::TooManyPixels { width, height })
            );
        }
        // Within the limits, the missing rows are a damaged file, decoded within the budget.
        assert!(matches!(
            prepare(&png_bomb(4_000, 5_000), frame),
            Err(PhotoError::Damaged(_))
        ));
    }

    #[test]
    fn base64_is_strict_and_bounded() {
        assert_eq!(from_base64(&to_base64(b"abc")), Ok(b"abc".to_vec()));
        assert_eq!(from_base64("not base64!"), Err(PhotoError::NotBase64));
        let huge = "A".repeat(MAX_STORED_BYTES / 3 * 4 + 8);
        assert!(matches!(
            from_base64(&huge),
            Err(PhotoError::TooManyBytes { .. })
        ));
        let at_limit = to_base64(&vec![0; MAX_STORED_BYTES]);
        assert_eq!(from_base64(&at_limit).unwrap().len(), MAX_STORED_BYTES);
    }
}
