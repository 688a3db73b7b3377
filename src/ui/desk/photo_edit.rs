//! "Set photo from file" on the open holder's panel: the operator types the file's path
//! (no file dialog: the desk has no dependency that draws one), the file is checked,
//! cropped to the card's photo frame and re-encoded off the UI thread
//! ([`crate::render::portrait::prepare_file`]), its preview is shown, and Save stores it
//! with its audit and outbox rows. README "Photos" gives the limits.

use std::path::PathBuf;
use std::sync::Arc;

use iced::widget::{button, column, container, image, row, text, text_input};
use iced::{Alignment, Element, Task};

use super::{Desk, Event, Message};
use crate::config::Language;
use crate::error::Failure;
use crate::render::photo::thumbnail_from_bytes;
use crate::render::portrait::{self, Portrait};
use crate::ui::i18n::{Text, t};
use crate::ui::photo::{self, Photo};
use crate::ui::{blocking, theme};

/// Height of the crop preview on screen; its width follows the frame's shape.
const PREVIEW_HEIGHT: u32 = 224;

/// A photo being chosen for the open person.
#[derive(Debug, Clone)]
pub struct PhotoEdit {
    pub person_id: i64,
    pub path: String,
    pub step: PhotoStep,
}

#[derive(Debug, Clone)]
pub enum PhotoStep {
    Choosing,
    Loading,
    /// Cropped and encoded, waiting for Save or Cancel.
    Preview {
        portrait: Arc<Portrait>,
        preview: Photo,
    },
    Saving {
        portrait: Arc<Portrait>,
        preview: Photo,
    },
    Failed(Failure),
}

/// The photo cropped and encoded, with its preview.
pub type Prepared = Result<(Arc<Portrait>, Photo), Failure>;

/// The card's photo frame, found once for the desk (it reads the profile's layout).
pub(super) fn find_frame(profile: &crate::config::Profile) -> Task<Message> {
    let layout = profile
        .printer
        .as_ref()
        .map(|printer| printer.layout.clone());
    let find = blocking("photo", move || {
        Ok(crate::station::photo::card_frame(layout.as_deref()))
    });
    Task::perform(find, |frame| {
        Message::PhotoFrame(frame.unwrap_or(portrait::PhotoFrame::STUDENT_CARD))
    })
}

impl Desk {
    pub(super) fn start_photo(&mut self) -> Task<Message> {
        if let Some(person_id) = self.open_person().filter(|_| self.may_edit_people()) {
            self.notice = None;
            self.photo_edit = Some(PhotoEdit {
                person_id,
                path: String::new(),
                step: PhotoStep::Choosing,
            });
        }
        Task::none()
    }

    pub(super) fn photo_path_changed(&mut self, path: String) {
        if let Some(edit) = &mut self.photo_edit
            && !matches!(edit.step, PhotoStep::Loading | PhotoStep::Saving { .. })
        {
            edit.path = path;
            edit.step = PhotoStep::Choosing;
        }
    }

    /// Reads, checks and crops the file named, on a blocking thread.
    pub(super) fn load_photo_file(&mut self) -> Task<Message> {
        let Some(edit) = &mut self.photo_edit else {
            return Task::none();
        };
        let path = PathBuf::from(edit.path.trim());
        if path.as_os_str().is_empty() || matches!(edit.step, PhotoStep::Loading) {
            return Task::none();
        }
        edit.step = PhotoStep::Loading;
        let person_id = edit.person_id;
        let frame = self.photo_frame;
        let prepare = blocking("photo", move || {
            let portrait = portrait::prepare_file(&path, frame).map_err(Failure::from)?;
            let width = (f64::from(PREVIEW_HEIGHT) * f64::from(portrait.width)
                / f64::from(portrait.height))
            .round() as u32;
            // Drawn at twice its size on screen, as the panel's photo is.
            let preview =
                thumbnail_from_bytes(portrait.jpeg.clone(), width * 2, PREVIEW_HEIGHT * 2)
                    .map(photo::shown)
                    .map_err(|err| Failure::new(err, "try another photo"))?;
            Ok((Arc::new(portrait), preview))
        });
        Task::perform(prepare, move |result| Message::PhotoPrepared {
            person_id,
            result,
        })
    }

    pub(super) fn photo_prepared(&mut self, person_id: i64, result: Prepared) {
        let Some(edit) = self
            .photo_edit
            .as_mut()
            .filter(|edit| edit.person_id == person_id && matches!(edit.step, PhotoStep::Loading))
        else {
            return;
        };
        edit.step = match result {
            Ok((portrait, preview)) => PhotoStep::Preview { portrait, preview },
            Err(err) => PhotoStep::Failed(err),
        };
    }

    pub(super) fn save_photo(&mut self) -> Task<Message> {
        let Some(edit) = &mut self.photo_edit else {
            return Task::none();
        };
        let PhotoStep::Preview { portrait, preview } = &edit.step else {
            return Task::none();
        };
        let (portrait, preview) = (portrait.clone(), preview.clone());
        edit.step = PhotoStep::Saving {
            portrait: portrait.clone(),
            preview,
        };
        let person_id = edit.person_id;
        let operator = self.session.operator.clone();
        let save = self
            .db
            .run(move |store| store.set_person_photo(person_id, &portrait.jpeg, &operator));
        Task::perform(save, move |result| Message::PhotoSaved {
            person_id,
            result,
        })
    }

    /// The save came back: on success the editor closes and the panel shows the stored
    /// photo, read again from the store.
    pub(super) fn photo_saved(
        &mut self,
        person_id: i64,
        result: Result<(), Failure>,
    ) -> (Task<Message>, Option<Event>) {
        let Some(edit) = self
            .photo_edit
            .as_mut()
            .filter(|edit| edit.person_id == person_id)
        else {
            return (Task::none(), None);
        };
        if let Err(err) = result {
            edit.step = PhotoStep::Failed(err);
            return (Task::none(), None);
        }
        self.photo_edit = None;
        let name = self
            .panel
            .as_ref()
            .filter(|panel| panel.person.id == person_id)
            .map(|panel| {
                format!(
                    "{} {}",
                    panel.person.fields.first_name, panel.person.fields.last_name
                )
            })
            .unwrap_or_default();
        self.notice = Some(Ok((Text::PhotoSaved, name)));
        (self.load_photo(), Some(Event::StoreChanged))
    }

    pub(super) fn photo_edit_view<'a>(
        &'a self,
        edit: &'a PhotoEdit,
        language: Language,
    ) -> Element<'a, Message> {
        let busy = matches!(edit.step, PhotoStep::Loading | PhotoStep::Saving { .. });
        let mut path = text_input(t(language, Text::PhotoPathPlaceholder), &edit.path);
        let mut load = button(text(t(language, Text::LoadPhoto)).size(theme::SMALL_SIZE))
            .style(button::secondary);
        if !busy {
            path = path
                .on_input(Message::PhotoPathChanged)
                .on_submit(Message::LoadPhotoFile);
            load = load.on_press(Message::LoadPhotoFile);
        }
        let (min_width, min_height) = self.photo_frame.min_pixels();
        let mut page = column![
            text(t(language, Text::SetPhoto)).font(theme::BOLD),
            row![path, load].spacing(8).align_y(Alignment::Center),
            text(format!(
                "{} {min_width}×{min_height}",
                t(language, Text::PhotoRules)
            ))
            .size(theme::SMALL_SIZE)
            .color(theme::MUTED),
        ]
        .spacing(8);
        let cancel = button(text(t(language, Text::Cancel)).size(theme::SMALL_SIZE))
            .style(button::secondary)
            .on_press_maybe(
                (!matches!(edit.step, PhotoStep::Saving { .. })).then_some(Message::CancelPhoto),
            );
        page = match &edit.step {
            PhotoStep::Choosing => page.push(cancel),
            PhotoStep::Loading => {
                page.push(text(t(language, Text::LoadingPhoto)).color(theme::MUTED))
            }
            PhotoStep::Failed(err) => page
                .push(text(crate::ui::problem(language, err)).color(theme::PROBLEM))
                .push(cancel),
            PhotoStep::Preview { portrait, preview } | PhotoStep::Saving { portrait, preview } => {
                let saving = matches!(edit.step, PhotoStep::Saving { .. });
                let width = (f64::from(PREVIEW_HEIGHT) * f64::from(portrait.width)
                    / f64::from(portrait.height))
                .round() as f32;
                let picture: Element<'a, Message> = match preview.handle() {
                    Some(handle) => image(handle.clone())
                        .width(width)
                        .height(PREVIEW_HEIGHT as f32)
                        .into(),
                    None => text("").into(),
                };
                let save = if saving {
                    button(text(t(language, Text::Saving)).size(theme::SMALL_SIZE))
                } else {
                    button(text(t(language, Text::SavePhoto)).size(theme::SMALL_SIZE))
                        .on_press(Message::SavePhoto)
                };
                page.push(
                    row![
                        container(picture).style(container::bordered_box).padding(2),
                        column![
                            text(t(language, Text::PhotoPreview)),
                            text(format!(
                                "{}×{} {} · JPEG · {} {}",
                                portrait.width,
                                portrait.height,
                                t(language, Text::Pixels),
                                portrait.jpeg.len().div_ceil(1000),
                                t(language, Text::Kilobytes)
                            ))
                            .size(theme::SMALL_SIZE)
                            .color(theme::MUTED),
                            row![save, cancel].spacing(8),
                        ]
                        .spacing(8),
                    ]
                    .spacing(16),
                )
            }
        };
        container(page)
            .padding(12)
            .style(container::rounded_box)
            .into()
    }
}
