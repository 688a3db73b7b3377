//! Holder photos in the window (the desk's panel, the kiosk's verdict): found with
//! [`crate::station::photo`] (the store's first, then the folder's) and decoded with [`crate::render::photo`] on a blocking thread,
//! then handed to iced as RGBA. A missing or unreadable photo is simply not shown.

use std::path::PathBuf;

use iced::widget::image;

use crate::station::photo::Found;

/// What the screen shows where a photo may go.
#[derive(Debug, Clone, Default)]
pub enum Photo {
    /// Nothing asked yet, or no photo folder.
    #[default]
    None,
    Loading,
    /// Looked for: no photo (or one that could not be read).
    Missing,
    Shown(image::Handle),
}

impl Photo {
    pub fn is_shown(&self) -> bool {
        matches!(self, Photo::Shown(_))
    }

    pub fn handle(&self) -> Option<&image::Handle> {
        match self {
            Photo::Shown(handle) => Some(handle),
            _ => None,
        }
    }
}

/// The profile's photo folder (see [`crate::station::photo::folder`]); a demo folder that
/// cannot be made means no photos, logged. Blocking: run it on a blocking thread.
pub fn folder_of(profile: &crate::config::Profile, data_dir: &std::path::Path) -> Option<PathBuf> {
    crate::station::photo::folder(profile, data_dir)
        .map_err(|err| tracing::warn!(%err, "no holder photos: the demo photos cannot be made"))
        .ok()
        .flatten()
}

/// Finds the photo with `find` and decodes it at twice `width` × `height` (sharp on HiDPI
/// screens and scaled kiosks), off the UI thread.
pub async fn load(
    find: impl FnOnce() -> Option<Found> + Send + 'static,
    width: u32,
    height: u32,
) -> Photo {
    let decoded = super::blocking("photo", move || Ok(decode(find, width, height)));
    // A thread that stopped shows no photo, as an unreadable file does.
    decoded.await.unwrap_or(Photo::Missing)
}

/// Blocking: reads and scales the photo.
fn decode(find: impl FnOnce() -> Option<Found>, width: u32, height: u32) -> Photo {
    let (width, height) = (width * 2, height * 2);
    let thumbnail = match find() {
        None => return Photo::Missing,
        Some(Found::File(path)) => crate::render::photo::thumbnail(&path, width, height),
        Some(Found::Stored(image)) => {
            crate::render::photo::thumbnail_from_bytes(image, width, height)
        }
    };
    match thumbnail {
        Ok(picture) => shown(picture),
        Err(err) => {
            tracing::warn!(%err, "holder photo not shown");
            Photo::Missing
        }
    }
}

/// A decoded picture as the screen shows it.
pub fn shown(picture: crate::render::photo::Thumbnail) -> Photo {
    Photo::Shown(image::Handle::from_rgba(
        picture.width,
        picture.height,
        picture.rgba,
    ))
}
