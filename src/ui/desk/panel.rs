//! The desk's right side: the open holder with their photo and cards, and what the operator
//! may do with a card there (block, unblock, prolong). Opening someone is a numbered
//! request, so that quick clicks never show an earlier person's answer.

use std::path::PathBuf;

use iced::widget::{Column, button, column, container, image, row, scrollable, space, text};
use iced::{Alignment, Element, Length, Task};
use time::Date;

use super::{Desk, Issuance, Message};
use crate::config::{Language, Profile};
use crate::error::Failure;
use crate::station::auth::Action;
use crate::store::{
    Card, Cardholder, CardholderStatus, Person, ProlongationState, UsosProlongation,
};
use crate::ui::i18n::{Text, card_status_name, t};
use crate::ui::photo::{self, Photo};
use crate::ui::{Db, blocking, theme};

/// The selected person with their cardholder record and cards.
#[derive(Debug, Clone)]
pub struct Panel {
    pub person: Person,
    pub cardholder: Option<Cardholder>,
    pub cards: Vec<Card>,
    /// Prolongations of these cards written on the chip that USOS has not been told of.
    pub not_told: Vec<UsosProlongation>,
    /// The hologram sticker the desk last put on each card (card id, number).
    pub stickers: Vec<(i64, i64)>,
}

/// Size of the holder photo on the panel (a 4:5 portrait).
const PHOTO_SIZE: (u32, u32) = (96, 120);

/// Finds the profile's photo folder once, for every holder opened after.
pub(super) fn photo_folder(profile: &Profile) -> Task<Message> {
    let profile = profile.clone();
    let find = blocking("photo", move || {
        Ok(photo::folder_of(&profile, &crate::config::data_dir()))
    });
    // A thread that stopped means no photos, as a profile without a folder does.
    Task::perform(find, |folder| {
        Message::PhotoFolder(folder.unwrap_or_default())
    })
}

impl Desk {
    pub(super) fn open(&mut self, person_id: i64) -> Task<Message> {
        self.issuance = Issuance::Idle;
        self.duplicate = None;
        self.notice = None;
        self.form = None;
        self.block = None;
        self.prolong = None;
        self.photo_edit = None;
        if let Some(i) = self.hits.iter().position(|p| p.id == person_id) {
            self.highlighted = Some(i);
        }
        self.wanted = Some(person_id);
        self.reopen()
    }

    pub(super) fn opened(
        &mut self,
        opening: u64,
        result: Result<Box<Panel>, Failure>,
    ) -> Task<Message> {
        // The answer to an earlier request (see reopen) is dropped.
        if opening != self.opening {
            return Task::none();
        }
        let panel = match result {
            Ok(panel) => panel,
            Err(err) => {
                self.problem = Some(err);
                return Task::none();
            }
        };
        let same_person = self
            .panel
            .as_ref()
            .is_some_and(|open| open.person.id == panel.person.id);
        self.panel = Some(*panel);
        self.problem = None;
        let photo = if same_person && !matches!(self.photo, Photo::None) {
            Task::none()
        } else {
            self.load_photo()
        };
        if !same_person && let Some(usos) = &mut self.usos {
            usos.notice = None;
        }
        // Again after a reopen too: a card just issued is now one USOS can find.
        Task::batch([photo, self.load_usos()])
    }

    /// (Re)loads the person last asked for, as a new request: an answer to any earlier one,
    /// still on its way, is dropped when it comes.
    pub(super) fn reopen(&mut self) -> Task<Message> {
        let Some(person_id) = self.wanted else {
            return Task::none();
        };
        self.opening += 1;
        let opening = self.opening;
        Task::perform(load_panel(self.db.clone(), person_id), move |result| {
            Message::Opened { opening, result }
        })
    }

    pub(super) fn open_person(&self) -> Option<i64> {
        self.panel.as_ref().map(|panel| panel.person.id)
    }

    /// Prolongs this card of the register, which must be the one on the reader: from USOS's
    /// data when USOS knows the chip, else through the step that asks for the new expiry
    /// (and the hologram sticker). USOS's prolongation asks for the sticker too, unless one
    /// is written already and only USOS is left to tell (its sticker was taken then).
    pub(super) fn prolong(&mut self, card_id: i64, expires: Option<Date>) -> Task<Message> {
        if let Some(chip) = self.usos_chip_of(card_id) {
            let only_usos_left = self
                .panel
                .as_ref()
                .is_some_and(|panel| panel.not_told.iter().any(|pending| pending.chip == chip));
            if self.holograms.prolong && !only_usos_left {
                self.block = None;
                // USOS asked again: the expiry shown is the one it holds now.
                let step = self.ask_prolong(card_id, expires, true);
                return Task::batch([step, self.load_usos()]);
            }
        }
        if let Some(from_usos) = self.prolong_from_usos(card_id) {
            return from_usos;
        }
        if !matches!(self.setup, Some(Ok(_))) {
            return Task::none();
        }
        self.block = None;
        self.ask_prolong(card_id, expires, false)
    }

    /// A block, unblock or prolong came back: its outcome goes on the panel, which is read
    /// again to show the card as it now is.
    pub(super) fn changed(&mut self, result: Result<(Text, String), Failure>) -> Task<Message> {
        self.notice = Some(result);
        self.reopen()
    }

    pub(super) fn photo_folder_found(&mut self, folder: Option<PathBuf>) -> Task<Message> {
        self.photos = Some(folder);
        if self.panel.is_some() {
            return self.load_photo();
        }
        Task::none()
    }

    pub(super) fn photo_loaded(&mut self, person_id: i64, photo: Photo) {
        if self.open_person() == Some(person_id) {
            self.photo = photo;
        }
    }

    /// Looks for the open holder's photo (the stored one, else the folder's) once the folder
    /// is known.
    pub(super) fn load_photo(&mut self) -> Task<Message> {
        let (Some(panel), Some(folder)) = (&self.panel, &self.photos) else {
            self.photo = Photo::None;
            return Task::none();
        };
        let folder = folder.clone();
        self.photo = Photo::Loading;
        let person_id = panel.person.id;
        let person = panel.person.clone();
        let db = self.db.clone();
        let (width, height) = PHOTO_SIZE;
        Task::perform(
            photo::load(
                move || {
                    let store = db.lock().ok()?;
                    crate::station::photo::of_person(&store, folder.as_deref(), &person)
                },
                width,
                height,
            ),
            move |photo| Message::PhotoLoaded { person_id, photo },
        )
    }

    pub(super) fn panel_view<'a>(
        &'a self,
        panel: &'a Panel,
        language: Language,
    ) -> Element<'a, Message> {
        let person = &panel.person.fields;
        let initials: String = [&person.first_name, &person.last_name]
            .iter()
            .filter_map(|name| name.chars().next())
            .collect();
        let avatar: Element<'a, Message> = match self.photo.handle() {
            Some(handle) => container(
                image(handle.clone())
                    .width(PHOTO_SIZE.0 as f32)
                    .height(PHOTO_SIZE.1 as f32)
                    .border_radius(8),
            )
            .style(container::bordered_box)
            .into(),
            None => container(
                text(initials)
                    .size(34)
                    .font(theme::BOLD)
                    .color(iced::Color::WHITE),
            )
            .center(84)
            .style(|_| container::Style {
                background: Some(theme::ACCENT.into()),
                border: iced::Border::default().rounded(42),
                ..container::Style::default()
            })
            .into(),
        };
        let facts = column![
            text(format!("{} {}", person.first_name, person.last_name))
                .size(theme::HEADING_SIZE)
                .font(theme::BOLD),
            // No-break spaces keep each label with its value if a narrow window wraps the line.
            text(format!(
                "{}\u{a0}{} · PESEL\u{a0}{}",
                t(language, Text::Album),
                person.album_number.as_deref().unwrap_or("–"),
                person.pesel.as_deref().unwrap_or("–"),
            )),
            text(format!("{} {}", t(language, Text::Born), person.birth_date)),
            text(match &panel.cardholder {
                Some(cardholder) => format!(
                    "{} {} · {}",
                    t(language, Text::Cardholder),
                    cardholder.id,
                    cardholder_status_name(cardholder.fields.status, language)
                ),
                None => t(language, Text::NoCardholder).to_owned(),
            })
            .size(theme::SMALL_SIZE)
            .color(theme::MUTED),
        ]
        .spacing(4)
        // The rest of the row, so the edit button beside it keeps its own width.
        .width(Length::Fill);
        let mut cards = Column::new().spacing(6);
        cards = cards.push(text(t(language, Text::Cards)).font(theme::BOLD));
        if panel.cards.is_empty() {
            cards = cards.push(text(t(language, Text::NoCards)).color(theme::MUTED));
        }
        for card in &panel.cards {
            cards = cards.push(self.card_line(card, language));
            let chip = card.fields.contact_uid.as_deref();
            for pending in panel
                .not_told
                .iter()
                .filter(|p| Some(p.chip.as_str()) == chip)
            {
                cards = cards.push(self.not_told_view(pending, language));
            }
            if let Some(ask) = self.block.as_ref().filter(|ask| ask.card_id == card.id) {
                cards = cards.push(self.block_view(ask, language));
            }
            if let Some(ask) = self.prolong.as_ref().filter(|ask| ask.card_id == card.id) {
                cards = cards.push(self.prolong_view(ask, language));
            }
        }
        let mut heading = row![avatar, facts].spacing(16).align_y(Alignment::Center);
        if self.may_edit_people() {
            // Stacked, so the facts beside them keep the width for "album · PESEL" on one line.
            let mut actions = column![].spacing(6).align_x(Alignment::End);
            actions = actions.push(
                button(
                    text(t(language, Text::EditPerson))
                        .size(theme::SMALL_SIZE)
                        .wrapping(text::Wrapping::None),
                )
                .style(button::secondary)
                .on_press(Message::EditPerson),
            );
            actions = actions.push(
                button(
                    text(t(language, Text::SetPhoto))
                        .size(theme::SMALL_SIZE)
                        .wrapping(text::Wrapping::None),
                )
                .style(button::secondary)
                .on_press(Message::SetPhoto),
            );
            heading = heading.push(actions);
        }
        let mut page = column![heading].spacing(18);
        if let Some(edit) = &self.photo_edit {
            page = page.push(self.photo_edit_view(edit, language));
        }
        page = page.push(cards);
        if let Some(usos) = &self.usos {
            page = page.push(self.usos_view(usos, panel, language));
        }
        if let Some(notice) = &self.notice {
            page = page.push(match notice {
                Ok((done, what)) => text(format!("{} {what}", t(language, *done))).color(theme::OK),
                Err(err) => text(crate::ui::problem(language, err)).color(theme::PROBLEM),
            });
        }
        page = page.push(self.issuance_view(panel, language));
        // Embedded: a floating scrollbar would cover the buttons at the panel's right edge.
        scrollable(page.padding(4))
            .spacing(6)
            .height(Length::Fill)
            .into()
    }

    fn card_line<'a>(&self, card: &'a Card, language: Language) -> Element<'a, Message> {
        let fields = &card.fields;
        let blocked = fields.status.refuses_entry();
        let what = column![
            text(
                fields
                    .contact_uid
                    .clone()
                    .or(fields.contactless_uid.clone())
                    .or(fields.card_number.clone())
                    .unwrap_or_else(|| format!("#{}", card.id))
            )
            .font(theme::BOLD),
            row![
                // Green only where a kiosk lets the card in; block and prolong follow `blocked`.
                text(card_status_name(fields.status, language)).color(
                    if fields.status.in_holders_hands() {
                        theme::OK
                    } else {
                        theme::PROBLEM
                    }
                ),
                text(match fields.expires {
                    Some(date) => format!("{} {date}", t(language, Text::ValidUntil)),
                    None => String::new(),
                })
                .color(theme::MUTED),
                text(match self.sticker_on(card.id) {
                    Some(number) => format!("{} {number}", t(language, Text::Sticker)),
                    None => String::new(),
                })
                .color(theme::MUTED),
            ]
            .spacing(10),
        ]
        .spacing(2);
        let mut line = row![what, space::horizontal()]
            .spacing(10)
            .align_y(Alignment::Center);
        let usos_knows = || {
            let chip = fields.contact_uid.as_deref();
            let usos = self.usos.as_ref();
            chip.zip(usos)
                .is_some_and(|(chip, usos)| usos.knows_chip(chip))
        };
        let may_write = matches!(self.setup, Some(Ok(_))) || usos_knows();
        if !blocked && self.session.may(Action::ProlongCard) && may_write {
            line = line.push(
                button(text(t(language, Text::Prolong)).size(theme::SMALL_SIZE))
                    .style(button::secondary)
                    .on_press(Message::Prolong {
                        card_id: card.id,
                        expires: fields.expires,
                    }),
            );
        }
        let action = if blocked {
            Action::UnblockCard
        } else {
            Action::BlockCard
        };
        if self.session.may(action) {
            let label = if blocked {
                t(language, Text::Unblock)
            } else {
                t(language, Text::Block)
            };
            line = line.push(
                button(text(label).size(theme::SMALL_SIZE))
                    .style(if blocked {
                        button::secondary
                    } else {
                        button::danger
                    })
                    .on_press(if blocked {
                        Message::Unblock(card.id)
                    } else {
                        Message::AskBlock(card.id)
                    }),
            );
        }
        container(line)
            .padding([6, 10])
            .style(container::rounded_box)
            .into()
    }
}

impl Desk {
    /// The hologram sticker the desk last put on card `card_id` of the open holder.
    fn sticker_on(&self, card_id: i64) -> Option<i64> {
        let panel = self.panel.as_ref()?;
        let (_, number) = panel.stickers.iter().find(|(card, _)| *card == card_id)?;
        Some(*number)
    }
}

async fn load_panel(db: Db, person_id: i64) -> Result<Box<Panel>, Failure> {
    db.run(move |store| {
        let person = store.get_person(person_id)?;
        let cardholder = store.cardholders_of_person(person_id)?.into_iter().next();
        let cards = match &cardholder {
            Some(cardholder) => store.cards_of_cardholder(cardholder.id)?,
            None => Vec::new(),
        };
        let mut not_told = Vec::new();
        for chip in cards
            .iter()
            .filter_map(|card| card.fields.contact_uid.as_deref())
        {
            // Written and verified only: one still "writing" needs the card to finish.
            if let Some(pending) = store
                .usos_prolongation(chip)?
                .filter(|pending| pending.state == ProlongationState::Written)
            {
                not_told.push(pending);
            }
        }
        let mut stickers = Vec::new();
        for card in &cards {
            if let Some(number) = store.hologram_on_card(card.id)? {
                stickers.push((card.id, number));
            }
        }
        Ok::<_, crate::store::StoreError>(Box::new(Panel {
            person,
            cardholder,
            cards,
            not_told,
            stickers,
        }))
    })
    .await
}

fn cardholder_status_name(status: CardholderStatus, language: Language) -> &'static str {
    let key = match status {
        CardholderStatus::Activated => Text::StatusActive,
        CardholderStatus::Blocked => Text::StatusBlocked,
        CardholderStatus::Expired => Text::StatusExpired,
        CardholderStatus::Blacklisted => Text::StatusBlacklisted,
        CardholderStatus::Linked => Text::StatusLinked,
        CardholderStatus::Unlinked => Text::StatusUnlinked,
    };
    t(language, key)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{desk, messages};
    use super::*;

    fn person(desk: &Desk, query: &str) -> i64 {
        desk.db.lock().unwrap().search_people(query, 1).unwrap()[0].id
    }

    fn opened(message: &Message) -> Option<i64> {
        match message {
            Message::Opened {
                result: Ok(panel), ..
            } => Some(panel.person.id),
            _ => None,
        }
    }

    #[test]
    fn of_two_quick_clicks_the_later_one_stays_open_whatever_order_the_answers_come_in() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (mut desk, _) = desk(dir.path());
        let (first, second) = (person(&desk, "wisniewska"), person(&desk, "kowalska"));
        assert_ne!(first, second);

        // The answers come back the other way round: the first click's arrives last.
        let to_first = messages(&runtime, desk.update(Message::Open(first)));
        let to_second = messages(&runtime, desk.update(Message::Open(second)));
        assert_eq!(to_first.iter().find_map(opened), Some(first));
        for message in to_second.into_iter().chain(to_first.clone()) {
            let _ = desk.update(message);
        }
        assert_eq!(
            desk.open_person(),
            Some(second),
            "the late answer is dropped"
        );

        // In order, the earlier answer is dropped as well and the later one opens.
        let to_first = messages(&runtime, desk.update(Message::Open(first)));
        let to_second = messages(&runtime, desk.update(Message::Open(second)));
        for message in to_first {
            let _ = desk.update(message);
        }
        assert_eq!(
            desk.open_person(),
            Some(second),
            "the first click's answer does not replace what is open"
        );
        for message in to_second {
            let _ = desk.update(message);
        }
        assert_eq!(desk.open_person(), Some(second));

        // A failure for an earlier click is dropped too.
        let _ = desk.update(Message::Open(first));
        let _ = desk.update(Message::Opened {
            opening: desk.opening - 1,
            result: Err(Failure::new("late", "")),
        });
        assert_eq!(desk.problem, None);
    }
}
