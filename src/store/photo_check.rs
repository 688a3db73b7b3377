//! The checks every photo the store keeps passes, whether the desk's or the server's (README
//! "Photos"): JPEG or PNG by signature, a complete JPEG, a readable header within the pixel
//! limits, at most [`MAX_STORED_BYTES`], and the base64 the CardExchange API carries it in.
//! The store owns these so that it refuses a bad photo itself; the desk's cropping, above it,
//! is in `render::portrait`.

use std::io::Cursor;

use base64::Engine;
use image::{ImageFormat, ImageReader};

/// Largest stored photo, decoded. The desk's 520 × 662 JPEGs are far smaller; 1 MiB leaves
/// room for the server's photos from other systems while a page of 100 persons stays under the client's
/// 64 MiB answer limit in any realistic mix, and base64 of it fits the reference server's
/// 2 MB request limit.
pub const MAX_STORED_BYTES: usize = 1 << 20;
pub const MAX_SIDE: u32 = 10_000;
/// 40 megapixels: the largest camera photos.
pub const MAX_PIXELS: u64 = 40_000_000;

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
pub fn declared_size(bytes: &[u8]) -> Result<(ImageFormat, u32, u32), PhotoError> {
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

#[cfg(test)]
pub(crate) mod tests {
    use image::{ImageEncoder, ImageFormat, Rgb, RgbImage};

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
}
