//! Holder photos the store keeps (README "Photos"): the checks every stored photo passes,
//! from the desk or from the server, and the desk's "set photo from file", which crops a
//! JPEG or PNG to the card's photo frame and re-encodes it as JPEG.
//!
//! Limits: a file the desk reads is at most [`MAX_FILE_BYTES`]; a stored photo (what the
//! server sends and what the desk saves) at most [`MAX_STORED_BYTES`] decoded; no photo may
//! declare more than [`MAX_SIDE`] pixels a side or [`MAX_PIXELS`] in all, checked from its
//! header before anything is decoded, and decoding is bounded by [`MAX_DECODE_BYTES`].

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

use super::layout::{Element, Layout};
use crate::store::photo_check::declared_size;
pub use crate::store::photo_check::{
    MAX_PIXELS, MAX_SIDE, MAX_STORED_BYTES, PhotoError, check_stored, format_of, from_base64,
    to_base64,
};

/// Largest file the desk reads: a phone's JPEG or a scanner's PNG fits.
pub const MAX_FILE_BYTES: u64 = super::photo::MAX_PHOTO_BYTES;
/// What decoding one photo may allocate (a 40 MP RGBA image is 160 MB).
pub const MAX_DECODE_BYTES: u64 = 256 << 20;
/// The resolution a printed card photo needs: the card printers' 300 dpi.
pub const MIN_DPI: f64 = super::DPI;
/// Saved photos are scaled down to twice the printers' resolution: sharp on a card and on a
/// HiDPI screen.
pub const SAVED_DPI: f64 = 2.0 * super::DPI;
const JPEG_QUALITY: u8 = 90;

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
    pub(crate) use crate::store::photo_check::tests::{picture, png_bomb};
    use image::ImageFormat;

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
