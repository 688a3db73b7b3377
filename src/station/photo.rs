//! Where a holder's photo is: the one lookup behind the print station's card faces, the
//! desk's cardholder panel and the kiosk's verdict. The photo in the store comes first (set
//! at the desk or pulled from the server, README "Photos"); else a file named
//! `<person number or album number>.jpg|.jpeg|.png` in the profile's photo folder
//! (`photos`, or `[printer] photos`); the demo profile uses the demo's placeholder portraits.

use std::path::{Path, PathBuf};

use crate::config::Profile;
use crate::render::layout::Layout;
use crate::render::portrait::PhotoFrame;
use crate::store::{Person, PersonFields, Store};

/// A holder's photo, from the store or from the folder.
#[derive(Clone, PartialEq, Eq)]
pub enum Found {
    /// JPEG or PNG bytes, as the store keeps them.
    Stored(Vec<u8>),
    File(PathBuf),
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::Stored(image) => write!(f, "Stored({} bytes)", image.len()),
            Found::File(path) => write!(f, "File({})", path.display()),
        }
    }
}

/// The profile's photo folder: `photos`, else `[printer] photos`, else in a demo profile
/// the demo's portraits (made in `data_dir` on first use), else none. Writes files in the
/// demo case: call it off the UI thread.
pub fn folder(profile: &Profile, data_dir: &Path) -> std::io::Result<Option<PathBuf>> {
    let configured = profile
        .photos
        .clone()
        .or_else(|| profile.printer.as_ref().and_then(|p| p.photos.clone()));
    if let Some(photos) = configured {
        return Ok(Some(photos));
    }
    if profile.demo.is_some() {
        return super::demo::ensure_photos(data_dir).map(Some);
    }
    Ok(None)
}

/// The person's photo in `dir`: by person number first, then by album number.
pub fn find(dir: &Path, person: &PersonFields) -> Option<PathBuf> {
    find_stem(dir, person.person_number.as_deref())
        .or_else(|| find_stem(dir, person.album_number.as_deref()))
}

/// The shape photos are cropped to: the photo frame of the card layout (`[printer] layout`),
/// else the student card's. Blocking: reads the layout.
pub fn card_frame(layout: Option<&Path>) -> PhotoFrame {
    let Some(path) = layout else {
        return PhotoFrame::STUDENT_CARD;
    };
    match Layout::load(path) {
        Ok(layout) => PhotoFrame::of_layout(&layout).unwrap_or(PhotoFrame::STUDENT_CARD),
        Err(err) => {
            tracing::warn!(%err, "photos are cropped to the student card's frame");
            PhotoFrame::STUDENT_CARD
        }
    }
}

/// The person's photo: the stored one, else the folder's file (a store error counts as no
/// stored photo, logged: a missing picture never stops a desk or a kiosk).
pub fn of_person(store: &Store, folder: Option<&Path>, person: &Person) -> Option<Found> {
    match store.person_photo(person.id) {
        Ok(Some(image)) => return Some(Found::Stored(image)),
        Ok(None) => {}
        Err(err) => tracing::warn!(%err, "the stored photo cannot be read"),
    }
    find(folder?, &person.fields).map(Found::File)
}

/// The photo of the person a cardholder record belongs to, if any (see [`of_person`]).
pub fn of_cardholder(store: &Store, folder: Option<&Path>, cardholder_id: i64) -> Option<Found> {
    let person_id = store.get_cardholder(cardholder_id).ok()?.fields.person_id?;
    let person = store.get_person(person_id).ok()?;
    of_person(store, folder, &person)
}

fn find_stem(dir: &Path, stem: Option<&str>) -> Option<PathBuf> {
    // A number, not a path: "../x" or "a/b" never leaves the folder.
    let stem = stem
        .filter(|stem| !stem.is_empty() && !stem.contains(['/', '\\']) && !stem.starts_with('.'))?;
    ["jpg", "jpeg", "png"]
        .iter()
        .map(|extension| dir.join(format!("{stem}.{extension}")))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn person(number: Option<&str>, album: Option<&str>) -> PersonFields {
        PersonFields {
            person_number: number.map(str::to_owned),
            first_name: "Anna".into(),
            middle_name: None,
            last_name: "Kowalska".into(),
            birth_date: date!(2004 - 03 - 14),
            phone_number: None,
            mobile_number: None,
            album_number: album.map(str::to_owned),
            pesel: None,
        }
    }

    #[test]
    fn person_number_first_then_album_and_never_outside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("100231.png"), b"png").unwrap();
        std::fs::write(dir.path().join("P-7.jpg"), b"jpeg").unwrap();
        assert_eq!(
            find(dir.path(), &person(Some("P-7"), Some("100231"))),
            Some(dir.path().join("P-7.jpg"))
        );
        assert_eq!(
            find(dir.path(), &person(Some("P-8"), Some("100231"))),
            Some(dir.path().join("100231.png"))
        );
        assert_eq!(find(dir.path(), &person(None, None)), None);
        assert_eq!(find(dir.path(), &person(Some("../100231"), None)), None);
    }

    #[test]
    fn the_stored_photo_comes_before_the_folders() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let id = store
            .create_person(&person(Some("P-7"), Some("100231")))
            .unwrap();
        let holder = store
            .create_cardholder(&crate::store::CardholderFields::active(id))
            .unwrap();
        std::fs::write(dir.path().join("P-7.jpg"), b"jpeg").unwrap();
        let file = Some(Found::File(dir.path().join("P-7.jpg")));
        assert_eq!(of_cardholder(&store, Some(dir.path()), holder), file);
        assert_eq!(of_cardholder(&store, None, holder), None);

        let jpeg = crate::render::portrait::tests::picture(300, 382, image::ImageFormat::Jpeg);
        store.set_person_photo(id, &jpeg, "anna").unwrap();
        let stored = Some(Found::Stored(jpeg));
        assert_eq!(of_cardholder(&store, Some(dir.path()), holder), stored);
        assert_eq!(of_cardholder(&store, None, holder), stored);
    }

    #[test]
    fn the_demo_profile_uses_the_demo_portraits() {
        let dir = tempfile::tempdir().unwrap();
        let folder = folder(&Profile::demo(), dir.path()).unwrap().unwrap();
        assert!(folder.join("100231.png").is_file());
        let mut plain = Profile::demo();
        plain.demo = None;
        plain.printer = None;
        assert_eq!(super::folder(&plain, dir.path()).unwrap(), None);
    }

    #[test]
    fn a_desk_or_kiosk_profile_names_its_photos_at_the_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk.toml");
        std::fs::write(
            &path,
            "role = \"kiosk\"\ndatabase = \"k.sqlite\"\nphotos = \"pictures\"\n",
        )
        .unwrap();
        let kiosk = Profile::load(&path).unwrap();
        assert_eq!(
            folder(&kiosk, dir.path()).unwrap(),
            Some(dir.path().join("pictures"))
        );
        let mut both = Profile::demo();
        both.photos = Some(dir.path().join("top"));
        assert_eq!(
            folder(&both, dir.path()).unwrap(),
            Some(dir.path().join("top"))
        );
    }
}
