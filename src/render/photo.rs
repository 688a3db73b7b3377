//! A holder photo (a file or the store's bytes) as a small picture for the window (the desk's
//! panel, the kiosk's verdict): decoded with the same PNG/JPEG reader the card faces use, cropped to fill the size asked
//! for (as the card's photo frame does) and returned as straight RGBA pixels.

use std::path::Path;

use base64::Engine;
use resvg::{tiny_skia, usvg};

use super::layout::Picture;

/// Larger photo files are refused rather than decoded on a station's small CPU.
pub const MAX_PHOTO_BYTES: u64 = 16 * 1024 * 1024;

/// RGBA pixels, row by row, `width` × `height`, alpha not premultiplied (and always opaque).
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Thumbnail({}×{})", self.width, self.height)
    }
}

/// The photo at `path` cropped to fill `width` × `height` (centred), on white.
pub fn thumbnail(path: &Path, width: u32, height: u32) -> Result<Thumbnail, String> {
    let size = std::fs::metadata(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?
        .len();
    if size > MAX_PHOTO_BYTES {
        return Err(format!(
            "{} is {size} bytes; photos over {MAX_PHOTO_BYTES} bytes are not shown",
            path.display()
        ));
    }
    let picture = Picture::read(path)?;
    thumbnail_of(&picture, width, height).map_err(|err| format!("{}: {err}", path.display()))
}

/// A stored photo's bytes (JPEG or PNG) as [`thumbnail`] makes a file's.
pub fn thumbnail_from_bytes(image: Vec<u8>, width: u32, height: u32) -> Result<Thumbnail, String> {
    let picture = Picture::from_bytes(image).ok_or("the stored photo is neither PNG nor JPEG")?;
    thumbnail_of(&picture, width, height).map_err(|err| format!("the stored photo: {err}"))
}

fn thumbnail_of(picture: &Picture, width: u32, height: u32) -> Result<Thumbnail, String> {
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
         <rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\
         <image id=\"photo\" width=\"{width}\" height=\"{height}\" preserveAspectRatio=\"xMidYMid slice\" \
         xlink:href=\"data:{};base64,{}\"/></svg>",
        picture.mime,
        base64::engine::general_purpose::STANDARD.encode(&picture.bytes)
    );
    let tree =
        usvg::Tree::from_str(&svg, &usvg::Options::default()).map_err(|err| err.to_string())?;
    if tree.node_by_id("photo").is_none() {
        return Err("it could not be decoded (damaged PNG/JPEG?)".to_owned());
    }
    let mut pixmap = tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| format!("no picture of {width}×{height} can be made"))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    // Drawn over an opaque white square: premultiplied and straight alpha are the same.
    Ok(Thumbnail {
        width,
        height,
        rgba: pixmap.take(),
    })
}
