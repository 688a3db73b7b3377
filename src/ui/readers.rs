//! The readers screen: every reader, live from the watcher, with the UID and ATR of the card
//! in it. Reading a UID runs on a blocking thread; the UI only receives the result.
//!
//! A UID is read only while this screen is shown: reading it connects to the card, and the
//! desk (exclusively) and the kiosk connect to the same card the moment it arrives. A card
//! that arrives while another screen is shown is read when this one opens.

use std::collections::BTreeMap;

use iced::widget::{Column, column, container, row, text};
use iced::{Element, Length, Task};

use super::i18n::{Text, t};
use super::theme;
use crate::card::ReaderEvent;
use crate::card::pcsc::{PcscTransport, Sharing};
use crate::config::Language;
use crate::error::Failure;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uid {
    /// Not read: the card arrived while the readers screen was not shown.
    NotRead,
    Reading,
    Read(String),
    Failed(Failure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardView {
    pub atr: Vec<u8>,
    pub uid: Uid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Service {
    #[default]
    Connecting,
    Available,
    Lost,
}

#[derive(Debug, Default)]
pub struct Readers {
    /// Reader name → the card in it.
    pub readers: BTreeMap<String, Option<CardView>>,
    pub service: Service,
}

#[derive(Debug, Clone)]
pub enum Message {
    Reader(ReaderEvent),
    UidRead {
        reader: String,
        atr: Vec<u8>,
        result: Result<String, Failure>,
    },
}

impl Readers {
    /// `shown`: whether the readers screen is on show, so a new card's UID may be read.
    pub fn update(&mut self, message: Message, shown: bool) -> Task<Message> {
        match message {
            Message::Reader(event) => return self.apply(event, shown),
            Message::UidRead {
                reader,
                atr,
                result,
            } => {
                // Ignore answers about a card that has since been swapped.
                if let Some(Some(card)) = self.readers.get_mut(&reader)
                    && card.atr == atr
                {
                    card.uid = match result {
                        Ok(uid) => Uid::Read(uid),
                        Err(err) => Uid::Failed(err),
                    };
                }
            }
        }
        Task::none()
    }

    /// The screen is shown: reads the UID of every card that arrived while it was not.
    pub fn read_unread(&mut self) -> Task<Message> {
        let mut reads = Vec::new();
        for (reader, card) in &mut self.readers {
            if let Some(card) = card
                && card.uid == Uid::NotRead
            {
                card.uid = Uid::Reading;
                reads.push(read_task(reader.clone(), card.atr.clone()));
            }
        }
        if reads.is_empty() {
            return Task::none();
        }
        Task::batch(reads)
    }

    fn apply(&mut self, event: ReaderEvent, shown: bool) -> Task<Message> {
        match event {
            ReaderEvent::ServiceAvailable => self.service = Service::Available,
            ReaderEvent::ServiceLost => {
                self.service = Service::Lost;
                self.readers.clear();
            }
            ReaderEvent::ReaderAdded { reader } => {
                self.readers.entry(reader).or_insert(None);
            }
            ReaderEvent::ReaderRemoved { reader } => {
                self.readers.remove(&reader);
            }
            ReaderEvent::CardRemoved { reader } => {
                if let Some(card) = self.readers.get_mut(&reader) {
                    *card = None;
                }
            }
            ReaderEvent::CardInserted { reader, atr } => {
                let uid = if shown { Uid::Reading } else { Uid::NotRead };
                self.readers.insert(
                    reader.clone(),
                    Some(CardView {
                        atr: atr.clone(),
                        uid,
                    }),
                );
                if shown {
                    return read_task(reader, atr);
                }
            }
        }
        Task::none()
    }

    pub fn view(&self, language: Language) -> Element<'_, Message> {
        let heading = text(t(language, Text::Readers))
            .size(theme::HEADING_SIZE)
            .font(theme::BOLD);
        let body: Element<'_, Message> = match self.service {
            Service::Connecting => text(t(language, Text::ConnectingToTheSmartCard)).into(),
            Service::Lost => column![
                text(t(language, Text::TheSmartCardServicePcscd))
                    .color(theme::PROBLEM)
                    .font(theme::BOLD),
                text(t(language, Text::InstallAndStartItApt)),
            ]
            .spacing(6)
            .into(),
            Service::Available if self.readers.is_empty() => {
                text(t(language, Text::NoReadersConnectACard)).into()
            }
            Service::Available => Column::with_children(
                self.readers
                    .iter()
                    .map(|(name, card)| reader_row(name, card.as_ref(), language)),
            )
            .spacing(10)
            .into(),
        };
        column![heading, body].spacing(12).into()
    }
}

fn reader_row<'a>(
    name: &'a str,
    card: Option<&'a CardView>,
    language: Language,
) -> Element<'a, Message> {
    let details: Element<'a, Message> = match card {
        None => text(t(language, Text::NoCard)).color(theme::MUTED).into(),
        Some(card) => {
            let uid = match &card.uid {
                Uid::NotRead => text(t(language, Text::UIDReadOnTab)).color(theme::MUTED),
                Uid::Reading => text(t(language, Text::UIDReading)),
                Uid::Read(uid) => text(format!("UID {uid}"))
                    .font(theme::BOLD)
                    .size(theme::HEADING_SIZE)
                    .color(theme::OK),
                Uid::Failed(err) => text(format!(
                    "{}: {}",
                    t(language, Text::UIDNotRead),
                    super::problem(language, err)
                ))
                .color(theme::PROBLEM),
            };
            column![
                uid,
                text(format!("ATR {}", hex::encode_upper(&card.atr)))
                    .size(theme::SMALL_SIZE)
                    .color(theme::MUTED)
            ]
            .spacing(4)
            .into()
        }
    };
    container(
        row![
            text(name).font(theme::BOLD).width(Length::FillPortion(2)),
            container(details).width(Length::FillPortion(3))
        ]
        .spacing(16),
    )
    .padding(14)
    .width(Length::Fill)
    .style(container::bordered_box)
    .into()
}

fn read_task(reader: String, atr: Vec<u8>) -> Task<Message> {
    Task::perform(read_uid(reader.clone()), move |result| Message::UidRead {
        reader: reader.clone(),
        atr: atr.clone(),
        result,
    })
}

/// Connects to the reader on a blocking thread and reads the chip serial as issuance does
/// (`FF CA` for a contactless card, the CPLC and the rest first for a contact one), so the
/// UI never waits.
async fn read_uid(reader: String) -> Result<String, Failure> {
    super::blocking("reader", move || {
        let serial = PcscTransport::connect(&reader, Sharing::Shared)
            .and_then(|mut card| crate::card::read_chip_serial(&mut card))?;
        serial
            .shown()
            .ok_or_else(|| Failure::from(crate::card::els::ElsCardError::NoChipSerial))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_reader_events() {
        let mut screen = Readers::default();
        let _ = screen.update(Message::Reader(ReaderEvent::ServiceAvailable), true);
        let _ = screen.update(
            Message::Reader(ReaderEvent::ReaderAdded { reader: "R".into() }),
            true,
        );
        let _ = screen.update(
            Message::Reader(ReaderEvent::CardInserted {
                reader: "R".into(),
                atr: vec![0x3B],
            }),
            true,
        );
        assert_eq!(screen.readers["R"].as_ref().unwrap().uid, Uid::Reading);
        let _ = screen.update(
            Message::UidRead {
                reader: "R".into(),
                atr: vec![0x3B],
                result: Ok("04A1".into()),
            },
            true,
        );
        assert_eq!(
            screen.readers["R"].as_ref().unwrap().uid,
            Uid::Read("04A1".into())
        );
        // A late answer about an earlier card does not overwrite the current one.
        let _ = screen.update(
            Message::Reader(ReaderEvent::CardRemoved { reader: "R".into() }),
            true,
        );
        let _ = screen.update(
            Message::Reader(ReaderEvent::CardInserted {
                reader: "R".into(),
                atr: vec![0x3C],
            }),
            true,
        );
        let _ = screen.update(
            Message::UidRead {
                reader: "R".into(),
                atr: vec![0x3B],
                result: Ok("04A1".into()),
            },
            true,
        );
        assert_eq!(screen.readers["R"].as_ref().unwrap().uid, Uid::Reading);
        let _ = screen.update(Message::Reader(ReaderEvent::ServiceLost), true);
        assert!(screen.readers.is_empty());
        assert_eq!(screen.service, Service::Lost);
    }

    #[test]
    fn a_uid_is_read_only_while_the_screen_is_shown() {
        let mut screen = Readers::default();
        let inserted = |reader: &str| {
            Message::Reader(ReaderEvent::CardInserted {
                reader: reader.into(),
                atr: vec![0x3B],
            })
        };
        // Another screen is shown: the card is listed, nothing connects to it.
        let task = screen.update(inserted("R"), false);
        assert!(
            iced_test::runtime::task::into_stream(task).is_none(),
            "no read started"
        );
        assert_eq!(screen.readers["R"].as_ref().unwrap().uid, Uid::NotRead);
        // The screen opens: the card that waited is read now, once.
        let task = screen.read_unread();
        assert!(iced_test::runtime::task::into_stream(task).is_some());
        assert_eq!(screen.readers["R"].as_ref().unwrap().uid, Uid::Reading);
        assert!(iced_test::runtime::task::into_stream(screen.read_unread()).is_none());
        // While shown, a new card is read as it arrives.
        let task = screen.update(inserted("S"), true);
        assert!(iced_test::runtime::task::into_stream(task).is_some());
        assert_eq!(screen.readers["S"].as_ref().unwrap().uid, Uid::Reading);
    }
}
