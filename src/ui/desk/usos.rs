//! The desk's USOS side, with a `[usos]` profile: what USOS has on the open holder (their
//! cards, whether each may be written, their phones), the "card ready" notice, prolonging a
//! card USOS knows from USOS's structure (`station::usos::prolong`, as `usos prolong`), and
//! telling USOS again of a prolongation written but not reported. USOS being slow or down
//! never holds up the rest of the desk.

use iced::widget::{button, column, container, row, text};
use iced::{Alignment, Element, Length, Task};
use time::OffsetDateTime;
use x509_cert::Certificate;

use super::{Desk, Message, Panel};
use crate::config::{CardReady, Language, Profile};
use crate::crypto::diversify::KeyAlgorithm;
use crate::error::Failure;
use crate::remote::retry::RetryPolicy;
use crate::remote::usos::{UsosCard, UsosClient};
use crate::station::auth::{Action, Session};
use crate::station::desk;
use crate::station::issue::chip_serial;
use crate::station::usos::{self as usos_flow, CardInUsos, HolderInUsos, UsosDesk, UsosIssueError};
use crate::store::{Store, UsosProlongation};
use crate::ui::i18n::{Text, t};
use crate::ui::{Db, blocking, theme};

/// The desk's USOS side, present when the profile has `[usos]`.
pub struct UsosSide {
    /// None while the client is being made (secrets may come from the keyring).
    client: Option<Result<UsosClient, Failure>>,
    /// Type of the write keys USOS hands out (`[usos] card_key_type`).
    pub(super) key_algorithm: KeyAlgorithm,
    card_ready: CardReady,
    /// What USOS says about the open holder.
    pub holder: UsosHolder,
    /// The last "card ready" notice for the open holder.
    pub notice: Option<NoticeState>,
    /// The number of the latest lookup: only its answer is shown (a slow earlier one, for
    /// this holder or another, must not replace it).
    lookup: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UsosHolder {
    Idle,
    Loading,
    Loaded(HolderInUsos),
    Failed(Failure),
}

#[derive(Debug, Clone, PartialEq)]
pub enum NoticeState {
    Sending,
    /// Sent to this USOS user.
    Sent(String),
    Failed(Failure),
}

impl UsosSide {
    /// The client, once made.
    pub(super) fn client(&self) -> Option<&UsosClient> {
        self.client.as_ref()?.as_ref().ok()
    }

    /// The open holder's USOS card that USOS lets be written, once the client is ready.
    pub(super) fn writable_card(&self) -> Option<&UsosCard> {
        self.client()?;
        let UsosHolder::Loaded(holder) = &self.holder else {
            return None;
        };
        holder
            .cards
            .iter()
            .find(|found| found.can_be_written == Some(true))
            .map(|found| &found.card)
    }

    /// Whether USOS has the card with contact chip `chip` among the open holder's.
    pub(super) fn knows_chip(&self, chip: &str) -> bool {
        let UsosHolder::Loaded(holder) = &self.holder else {
            return false;
        };
        holder.cards.iter().any(|found| {
            found
                .card
                .contact_chip_uid
                .as_deref()
                .is_some_and(|uid| uid.eq_ignore_ascii_case(chip))
        })
    }
}

/// The certificates a card written from USOS's data must verify against: the store's
/// trusted issuers, which must hold USOS's signer.
pub(super) fn usos_trusted(store: &Store) -> Result<Vec<Certificate>, Failure> {
    let trusted = usos_flow::trusted_issuers(store)?;
    if trusted.is_empty() {
        return Err(Failure::new(
            "no trusted issuer: a card written from USOS's data could not be verified",
            "trust USOS's signer certificate (cardstation trust add CERT.pem), then try again",
        )
        .with_polish(
            "Brak zaufanego wystawcy: karty zapisanej z danych USOS nie dałoby się zweryfikować.",
            "Dodaj certyfikat podpisu USOS do zaufanych (cardstation trust add CERT.pem) i spróbuj ponownie.",
        ));
    }
    Ok(trusted)
}

/// The desk waits for USOS briefly: an unreachable server is reported, not waited out.
fn desk_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        request_timeout: std::time::Duration::from_secs(10),
        ..RetryPolicy::default()
    }
}

/// The USOS side of a `[usos]` profile, and the task that makes its client.
pub(super) fn start(profile: &Profile) -> (Option<UsosSide>, Task<Message>) {
    match &profile.usos {
        None => (None, Task::none()),
        Some(settings) => {
            let profile = profile.clone();
            let client = Task::perform(
                blocking("USOS set-up", move || {
                    usos_flow::client_from_profile(&profile, desk_retry()).map_err(Failure::from)
                }),
                Message::UsosClient,
            );
            let side = UsosSide {
                client: None,
                key_algorithm: settings.card_key_type,
                card_ready: settings.card_ready.clone(),
                holder: UsosHolder::Idle,
                notice: None,
                lookup: 0,
            };
            (Some(side), client)
        }
    }
}

impl Desk {
    pub(super) fn usos_client_made(
        &mut self,
        client: Result<UsosClient, Failure>,
    ) -> Task<Message> {
        if let Some(usos) = &mut self.usos {
            usos.client = Some(client);
            return self.load_usos();
        }
        Task::none()
    }

    pub(super) fn usos_loaded(&mut self, lookup: u64, result: Result<HolderInUsos, Failure>) {
        if let Some(usos) = self.usos.as_mut().filter(|usos| usos.lookup == lookup) {
            usos.holder = match result {
                Ok(holder) => UsosHolder::Loaded(holder),
                Err(failure) => UsosHolder::Failed(failure),
            };
        }
    }

    pub(super) fn card_ready_sent(&mut self, person_id: i64, result: Result<String, Failure>) {
        let current = self.open_person() == Some(person_id);
        if let (Some(usos), true) = (&mut self.usos, current) {
            usos.notice = Some(match result {
                Ok(user) => NoticeState::Sent(user),
                Err(failure) => NoticeState::Failed(failure),
            });
        }
    }

    /// Asks USOS about the open holder's cards and phones, when the client is ready.
    pub(super) fn load_usos(&mut self) -> Task<Message> {
        let Some(panel) = &self.panel else {
            return Task::none();
        };
        let Some(usos) = &mut self.usos else {
            return Task::none();
        };
        let client = match &usos.client {
            None => return Task::none(),
            Some(Err(err)) => {
                usos.holder = UsosHolder::Failed(err.clone());
                return Task::none();
            }
            Some(Ok(client)) => client.clone(),
        };
        usos.holder = UsosHolder::Loading;
        usos.lookup += 1;
        let lookup = usos.lookup;
        let cards = panel.cards.clone();
        Task::perform(
            async move {
                usos_flow::holder_in_usos(&client, &cards)
                    .await
                    .map_err(Failure::from)
            },
            move |result| Message::UsosLoaded { lookup, result },
        )
    }

    /// The contact chip of card `card_id` of the open holder when USOS knows it and the
    /// client is ready: that card is prolonged from USOS's structure, not the desk's signer.
    pub(super) fn usos_chip_of(&self, card_id: i64) -> Option<String> {
        let chip = self
            .panel
            .as_ref()?
            .cards
            .iter()
            .find(|card| card.id == card_id)?
            .fields
            .contact_uid
            .clone()?;
        let usos = self.usos.as_ref().filter(|usos| usos.knows_chip(&chip))?;
        usos.client()?;
        Some(chip)
    }

    /// The expiry USOS has for `chip` (`cards/card`), as USOS writes it; the structure it
    /// signs for the write carries the same.
    pub(super) fn usos_expiry_of(&self, chip: &str) -> Option<String> {
        let UsosHolder::Loaded(holder) = &self.usos.as_ref()?.holder else {
            return None;
        };
        holder
            .cards
            .iter()
            .find(|found| {
                found
                    .card
                    .contact_chip_uid
                    .as_deref()
                    .is_some_and(|uid| uid.eq_ignore_ascii_case(chip))
            })?
            .card
            .expiration_date
            .clone()
    }

    /// Prolongs card `card_id` from USOS's structure when USOS knows it (as `usos prolong`
    /// does: write, verify, then `mark_student_card_prolonged`), with no sticker; `None`
    /// leaves it to the desk's own signer. The chip on the reader must be that card's.
    pub(super) fn prolong_from_usos(&mut self, card_id: i64) -> Option<Task<Message>> {
        let prolongation = self.usos_prolongation(card_id, None)?;
        self.notice = None;
        Some(Task::perform(
            async move {
                let done = prolongation.await?;
                Ok((Text::Prolonged, done.map_err(Failure::from)?))
            },
            Message::Changed,
        ))
    }

    /// Writes USOS's structure on card `card_id` (the chip on the reader must be that
    /// card's) with `hologram` going on it, records it and tells USOS. The outer failure is
    /// the desk's (no reader, the wrong card, no trusted issuer); the inner one the
    /// prolongation's, which the caller places; done, the chip, its expiry and the sticker.
    pub(super) fn usos_prolongation(
        &self,
        card_id: i64,
        hologram: Option<i64>,
    ) -> Option<impl Future<Output = Result<Result<String, UsosIssueError>, Failure>> + use<>> {
        self.usos_chip_of(card_id)?;
        let usos = self.usos.as_ref()?;
        let (client, key_algorithm) = (usos.client()?.clone(), usos.key_algorithm);
        let (access, db, session) = (self.access.clone(), self.db.clone(), self.session.clone());
        let today = OffsetDateTime::now_utc().date();
        // The card first, then the store: the store is not held while the reader is waited for.
        Some(blocking("card", move || {
            session.require(Action::ProlongCard)?;
            let mut card = access.connect().map_err(Failure::from)?;
            let mut store = db.lock()?;
            desk::check_chosen_card(&store, &mut *card, card_id)?;
            let trusted = usos_trusted(&store)?;
            let usos_desk = UsosDesk {
                client: &client,
                key_algorithm,
                trusted: &trusted,
                operator: &session.operator,
            };
            let prolonged = tokio::runtime::Handle::current().block_on(usos_flow::prolong(
                &usos_desk, &mut *card, &mut store, hologram, today,
            ));
            Ok(prolonged.map(|prolonged| {
                let mut done = format!(
                    "{} → {}",
                    chip_serial(&prolonged.issued.uid),
                    prolonged.issued.verified.data.expires
                );
                if let Some(number) = prolonged.hologram {
                    done.push_str(&format!(" · {number}"));
                }
                done
            }))
        }))
    }

    /// Tells USOS again of the prolongation written on `chip` (no card needed).
    pub(super) fn retry_usos_mark(&mut self, chip: String) -> Task<Message> {
        let Some(client) = self.usos.as_ref().and_then(UsosSide::client).cloned() else {
            return Task::none();
        };
        let (db, session) = (self.db.clone(), self.session.clone());
        self.notice = None;
        let change = blocking("USOS", move || {
            session.require(Action::ProlongCard)?;
            let mut store = db.lock()?;
            let told = tokio::runtime::Handle::current().block_on(usos_flow::tell_usos(
                &client,
                &mut store,
                &chip,
                &session.operator,
            ))?;
            Ok((Text::UsosTold, told.chip))
        });
        Task::perform(change, Message::Changed)
    }

    /// A prolongation of this card written on its chip that USOS has not been told of, and
    /// the control that tells it.
    pub(super) fn not_told_view<'a>(
        &self,
        pending: &'a UsosProlongation,
        language: Language,
    ) -> Element<'a, Message> {
        let mut line = format!(
            "{} · {} {}",
            t(language, Text::UsosWrittenNotTold),
            t(language, Text::ValidUntil),
            pending.expires
        );
        if let Some(number) = pending.hologram {
            line.push_str(&format!(" · {} {number}", t(language, Text::Sticker)));
        }
        let mut lines = column![text(line).color(theme::PROBLEM)]
            .spacing(2)
            .width(Length::Fill);
        if let Some(cause) = &pending.last_error {
            lines = lines.push(
                text(cause.clone())
                    .size(theme::SMALL_SIZE)
                    .color(theme::MUTED),
            );
        }
        let mut line = row![lines].spacing(10).align_y(Alignment::Center);
        let client_ready = self.usos.as_ref().and_then(UsosSide::client).is_some();
        if client_ready && self.session.may(Action::ProlongCard) {
            line = line.push(
                button(text(t(language, Text::RetryTellUsos)).size(theme::SMALL_SIZE))
                    .on_press(Message::RetryUsosMark(pending.chip.clone())),
            );
        }
        container(line).padding([4, 10]).into()
    }

    pub(super) fn send_card_ready(&mut self, index: usize) -> Task<Message> {
        let Some(person_id) = self.open_person() else {
            return Task::none();
        };
        let Some(usos) = &mut self.usos else {
            return Task::none();
        };
        let (Some(Ok(client)), UsosHolder::Loaded(holder)) = (&usos.client, &usos.holder) else {
            return Task::none();
        };
        let Some(card) = holder.cards.get(index).map(|found| found.card.clone()) else {
            return Task::none();
        };
        if matches!(usos.notice, Some(NoticeState::Sending)) {
            return Task::none();
        }
        usos.notice = Some(NoticeState::Sending);
        let (client, templates) = (client.clone(), usos.card_ready.clone());
        let (session, db) = (self.session.clone(), self.db.clone());
        Task::perform(
            send_notice(session, db, client, templates, card),
            move |result| Message::CardReadySent { person_id, result },
        )
    }

    pub(super) fn usos_view<'a>(
        &'a self,
        usos: &'a UsosSide,
        panel: &'a Panel,
        language: Language,
    ) -> Element<'a, Message> {
        let mut page = column![text(t(language, Text::Usos)).font(theme::BOLD)].spacing(6);
        let muted = |line: String| text(line).size(theme::SMALL_SIZE).color(theme::MUTED);
        match (&usos.client, &usos.holder) {
            (None, _) => page = page.push(muted(t(language, Text::UsosConnecting).to_owned())),
            (_, UsosHolder::Idle | UsosHolder::Loading) => {
                page = page.push(muted(t(language, Text::UsosLoading).to_owned()));
            }
            (_, UsosHolder::Failed(failure)) => {
                let (cause, next_step) = crate::ui::in_language(failure, language);
                page = page.push(
                    text(format!("{} {cause}", t(language, Text::UsosUnavailable)))
                        .color(theme::PROBLEM),
                );
                if !next_step.is_empty() {
                    page = page.push(text(format!("→ {next_step}")));
                }
            }
            (_, UsosHolder::Loaded(holder)) => {
                if panel
                    .cards
                    .iter()
                    .all(|c| usos_flow::lookup_of(c).is_none())
                {
                    page = page.push(muted(t(language, Text::UsosNoLocalCards).to_owned()));
                } else if holder.cards.is_empty() {
                    page = page.push(muted(t(language, Text::UsosNoneFound).to_owned()));
                }
                let may_notify = self.session.may(Action::NotifyHolder);
                let sending = matches!(usos.notice, Some(NoticeState::Sending));
                for (index, found) in holder.cards.iter().enumerate() {
                    let mut line = row![usos_card_view(found, language)]
                        .spacing(10)
                        .align_y(Alignment::Center);
                    if may_notify {
                        line = line.push(
                            button(text(t(language, Text::SendCardReady)).size(theme::SMALL_SIZE))
                                .style(button::secondary)
                                .on_press_maybe(
                                    (!sending).then_some(Message::SendCardReady(index)),
                                ),
                        );
                    }
                    page = page.push(
                        container(line)
                            .padding([6, 10])
                            .style(container::rounded_box),
                    );
                }
                if !holder.cards.is_empty() && !may_notify {
                    page = page.push(muted(t(language, Text::MayNotNotify).to_owned()));
                }
                if holder.not_in_usos > 0 {
                    page = page.push(muted(format!(
                        "{} {}",
                        t(language, Text::UsosNotKnown),
                        holder.not_in_usos
                    )));
                }
                if !holder.cards.is_empty() {
                    let phones = match &holder.phones {
                        Err(why) => format!(
                            "{} ({})",
                            t(language, Text::UsosPhonesUnavailable),
                            crate::ui::in_language(why, language).0
                        ),
                        Ok(phones) if phones.is_empty() => {
                            t(language, Text::UsosNoPhones).to_owned()
                        }
                        Ok(phones) => phones
                            .iter()
                            .map(|phone| {
                                let comment = match language {
                                    Language::Pl => phone.comment.pl.as_deref(),
                                    Language::En => phone.comment.en.as_deref(),
                                }
                                .or(phone.comment.pl.as_deref())
                                .unwrap_or_default();
                                if comment.is_empty() {
                                    phone.number.clone()
                                } else {
                                    format!("{} ({comment})", phone.number)
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(" · "),
                    };
                    page = page.push(text(format!("{} {phones}", t(language, Text::UsosPhones))));
                }
            }
        }
        match &usos.notice {
            None => {}
            Some(NoticeState::Sending) => {
                page = page.push(muted(t(language, Text::SendingNotice).to_owned()));
            }
            Some(NoticeState::Sent(user)) => {
                page = page.push(
                    text(format!("{} {user}", t(language, Text::NoticeSent))).color(theme::OK),
                );
            }
            Some(NoticeState::Failed(failure)) => {
                let (cause, next_step) = crate::ui::in_language(failure, language);
                page = page.push(
                    text(format!("{} {cause}", t(language, Text::NoticeNotSent)))
                        .color(theme::PROBLEM),
                );
                page = page.push(text(format!("→ {next_step}")));
            }
        }
        page = page.push(muted(t(language, Text::UsosMcardNote).to_owned()));
        container(page)
            .padding(12)
            .width(Length::Fill)
            .style(container::bordered_box)
            .into()
    }
}

/// One USOS card: id, type, validity, barcode, owner and whether USOS lets it be written.
fn usos_card_view<'a>(found: &CardInUsos, language: Language) -> Element<'a, Message> {
    let card = &found.card;
    let dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "–".to_owned());
    let mut first = format!("{} {}", t(language, Text::UsosCard), dash(&card.id));
    if let Some(kind) = &card.card_type {
        first.push_str(&format!(" · {}", usos_card_type(kind, language)));
    }
    if let Some(expires) = &card.expiration_date {
        first.push_str(&format!(" · {} {expires}", t(language, Text::ValidUntil)));
    }
    let mut second = Vec::new();
    if let Some(barcode) = &card.barcode_number {
        second.push(format!("{} {barcode}", t(language, Text::UsosBarcode)));
    }
    if let Some(issued) = &card.date_of_issue {
        second.push(format!("{} {issued}", t(language, Text::UsosIssuedOn)));
    }
    if let Some(user) = &card.user {
        let name = [&user.first_name, &user.last_name]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        second.push(format!(
            "{} {name} (id {})",
            t(language, Text::UsosOwner),
            dash(&user.id)
        ));
    }
    let mut lines = column![
        text(first).font(theme::BOLD),
        text(second.join(" · "))
            .size(theme::SMALL_SIZE)
            .color(theme::MUTED),
    ]
    .spacing(2)
    // Filled last, so the notice button beside it keeps its one line.
    .width(Length::Fill);
    match found.can_be_written {
        Some(true) => {
            lines = lines.push(
                text(t(language, Text::UsosMayBeWritten))
                    .size(theme::SMALL_SIZE)
                    .color(theme::OK),
            );
        }
        Some(false) => {
            let reason = found
                .why_not
                .as_ref()
                .and_then(|why| match language {
                    Language::Pl => why.pl.clone(),
                    Language::En => why.en.clone(),
                })
                .or_else(|| found.why_not.as_ref().map(|why| why.text().to_owned()))
                .filter(|reason| !reason.is_empty());
            let line = match reason {
                Some(reason) => format!("{}: {reason}", t(language, Text::UsosMayNotBeWritten)),
                None => t(language, Text::UsosMayNotBeWritten).to_owned(),
            };
            lines = lines.push(text(line).size(theme::SMALL_SIZE).color(theme::PROBLEM));
        }
        None => {}
    }
    lines.into()
}

/// USOS's card types in the operator's language; others as USOS names them.
fn usos_card_type(kind: &str, language: Language) -> String {
    let key = match kind {
        "student" => Text::CardTypeStudent,
        "phd" => Text::CardTypePhd,
        "staff" => Text::CardTypeStaff,
        "graduate" => Text::CardTypeGraduate,
        "academic_teacher" => Text::CardTypeTeacher,
        other => return other.to_owned(),
    };
    t(language, key).to_owned()
}

/// Sends the "card ready" notice (the workflow checks the operator's role) and records who
/// told whom in the audit log. Returns the USOS user notified.
async fn send_notice(
    session: Session,
    db: Db,
    client: UsosClient,
    templates: CardReady,
    card: UsosCard,
) -> Result<String, Failure> {
    let sent = usos_flow::notify_card_ready(&session, &client, &templates, &card)
        .await
        .map_err(Failure::from)?;
    let user = sent.user_id.clone();
    let subject = format!("usos_user:{user}");
    let details = serde_json::json!({"usos_card": card.id, "event_type": sent.event_type_id});
    let logged = db
        .run(move |store| {
            store.audit_append(&session.operator, "usos.card_ready", &subject, &details)
        })
        .await;
    if let Err(err) = logged {
        tracing::error!(%err, "the card ready notice was sent but could not be logged");
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::super::testing::desk;
    use super::*;

    #[test]
    fn only_the_latest_usos_lookup_is_shown() {
        let dir = tempfile::tempdir().unwrap();
        let (mut desk, _) = desk(dir.path());
        desk.usos = Some(UsosSide {
            client: None,
            key_algorithm: KeyAlgorithm::Aes128,
            card_ready: crate::config::CardReady::default(),
            holder: UsosHolder::Loading,
            notice: None,
            lookup: 2,
        });
        let found = HolderInUsos {
            cards: Vec::new(),
            not_in_usos: 3,
            phones: Ok(Vec::new()),
        };
        let _ = desk.update(Message::UsosLoaded {
            lookup: 1,
            result: Err(Failure::new("an older answer", "")),
        });
        assert_eq!(desk.usos.as_ref().unwrap().holder, UsosHolder::Loading);
        let _ = desk.update(Message::UsosLoaded {
            lookup: 2,
            result: Ok(found.clone()),
        });
        assert_eq!(
            desk.usos.as_ref().unwrap().holder,
            UsosHolder::Loaded(found)
        );
    }
}
