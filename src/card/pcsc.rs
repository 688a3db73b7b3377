//! PC/SC access: the only module that names the `pcsc` crate. Connections, transactions with
//! reset recovery, reader listing, waiting for a card, and the hot-plug watcher thread.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcsc::{
    Card, Context, Disposition, PNP_NOTIFICATION, Protocols, ReaderState, Scope, ShareMode, State,
};
use serde::Serialize;

use super::transport::{ReaderEvent, Transport, TransportError};

/// How long one blocking wait lasts before the watcher checks whether it should stop. Short
/// enough that stopping feels instant, long enough to cost nothing while idle.
const WATCH_SLICE: Duration = Duration::from_millis(500);
const SERVICE_RETRY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReaderStatus {
    pub name: String,
    pub card_present: bool,
    /// The ATR in upper-case hex when a card is present.
    pub atr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Exclusive,
}

fn establish() -> Result<Context, TransportError> {
    Context::establish(Scope::User).map_err(|err| map_error(err, ""))
}

fn reader_names(ctx: &Context) -> Result<Vec<CString>, TransportError> {
    match ctx.list_readers_owned() {
        Ok(names) => Ok(names),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(err) => Err(map_error(err, "")),
    }
}

/// Every reader pcscd knows, with its card's ATR.
pub fn list_readers() -> Result<Vec<ReaderStatus>, TransportError> {
    let ctx = establish()?;
    let mut states: Vec<ReaderState> = reader_names(&ctx)?
        .into_iter()
        .map(|name| ReaderState::new(name, State::UNAWARE))
        .collect();
    if states.is_empty() {
        return Ok(Vec::new());
    }
    ctx.get_status_change(Duration::ZERO, &mut states)
        .map_err(|err| map_error(err, ""))?;
    Ok(states.iter().map(reader_status).collect())
}

fn reader_status(state: &ReaderState) -> ReaderStatus {
    let card_present = has_card(state.event_state());
    ReaderStatus {
        name: state.name().to_string_lossy().into_owned(),
        card_present,
        atr: card_present.then(|| hex::encode_upper(state.atr())),
    }
}

/// A card that is present and answered the reset (a mute card cannot be talked to).
fn has_card(state: State) -> bool {
    state.contains(State::PRESENT) && !state.contains(State::MUTE)
}

/// The reader to use: the first whose name contains `filter` (case-insensitive), or without a
/// filter the first reader holding a card, or else the first reader.
pub fn choose_reader(filter: Option<&str>) -> Result<ReaderStatus, TransportError> {
    let readers = list_readers()?;
    pick_reader(&readers, filter).cloned()
}

fn pick_reader<'a>(
    readers: &'a [ReaderStatus],
    filter: Option<&str>,
) -> Result<&'a ReaderStatus, TransportError> {
    if readers.is_empty() {
        return Err(TransportError::NoReaders);
    }
    match filter {
        // A reader's full name wins; otherwise a part of the name matches, and where it
        // matches several (a dual-interface reader's contact and contactless slots), the
        // one holding a card.
        Some(filter) => {
            let wanted = filter.trim().to_lowercase();
            let matching = || {
                readers
                    .iter()
                    .filter(|r| r.name.to_lowercase().contains(&wanted))
            };
            readers
                .iter()
                .find(|r| r.name.to_lowercase() == wanted)
                .or_else(|| matching().find(|r| r.card_present))
                .or_else(|| matching().next())
                .ok_or_else(|| TransportError::NoSuchReader(filter.to_owned()))
        }
        None => Ok(readers
            .iter()
            .find(|r| r.card_present)
            .unwrap_or(&readers[0])),
    }
}

/// Blocks until a card is present in a matching reader, and returns that reader's name.
pub fn wait_for_card(filter: Option<&str>, timeout: Duration) -> Result<String, TransportError> {
    let ctx = establish()?;
    let deadline = Instant::now() + timeout;
    loop {
        let names = reader_names(&ctx)?;
        let mut states: Vec<ReaderState> = names
            .into_iter()
            .filter(|name| {
                filter.is_none_or(|f| {
                    name.to_string_lossy()
                        .to_lowercase()
                        .contains(&f.to_lowercase())
                })
            })
            .map(|name| ReaderState::new(name, State::UNAWARE))
            .collect();
        if !states.is_empty() {
            ctx.get_status_change(Duration::ZERO, &mut states)
                .map_err(|err| map_error(err, ""))?;
            if let Some(ready) = states.iter().find(|s| has_card(s.event_state())) {
                return Ok(ready.name().to_string_lossy().into_owned());
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(match (filter, states.is_empty()) {
                (Some(f), true) => TransportError::NoSuchReader(f.to_owned()),
                (None, true) => TransportError::NoReaders,
                _ => TransportError::Timeout,
            });
        }
        // Wait for any change (a card, or a reader arriving) instead of polling.
        states.push(ReaderState::new(PNP_NOTIFICATION(), State::UNAWARE));
        for state in &mut states {
            state.sync_current_state();
        }
        match ctx.get_status_change(left.min(WATCH_SLICE), &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) | Err(pcsc::Error::UnknownReader) => {}
            Err(err) => return Err(map_error(err, "")),
        }
    }
}

/// A connection to the card in one reader.
pub struct PcscTransport {
    // The card handle must not outlive its context; field order drops the card first.
    card: Card,
    _ctx: Context,
    reader: String,
    atr: Vec<u8>,
    share_mode: ShareMode,
}

impl PcscTransport {
    pub fn connect(reader: &str, sharing: Sharing) -> Result<Self, TransportError> {
        let ctx = establish()?;
        let name =
            CString::new(reader).map_err(|_| TransportError::NoSuchReader(reader.to_owned()))?;
        let share_mode = match sharing {
            Sharing::Shared => ShareMode::Shared,
            Sharing::Exclusive => ShareMode::Exclusive,
        };
        let card = ctx
            .connect(&name, share_mode, Protocols::ANY)
            .map_err(|err| map_error(err, reader))?;
        let atr = card
            .status2_owned()
            .map_err(|err| map_error(err, reader))?
            .atr()
            .to_vec();
        Ok(Self {
            card,
            _ctx: ctx,
            reader: reader.to_owned(),
            atr,
            share_mode,
        })
    }

    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// Connects exclusively, so no other program (a reader list reading the UID, a kiosk
    /// watching every reader) can reset the card mid-write; while one briefly holds it,
    /// waits up to `wait` for it to let go.
    pub fn connect_exclusive(reader: &str, wait: Duration) -> Result<Self, TransportError> {
        let deadline = Instant::now() + wait;
        loop {
            match Self::connect(reader, Sharing::Exclusive) {
                Err(TransportError::Busy(_) | TransportError::CardReset)
                    if Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                result => return result,
            }
        }
    }

    /// Runs `work` inside an exclusive PC/SC transaction, so no other program's APDUs are
    /// interleaved with a multi-step write. A card reset by someone else before the transaction
    /// could start is reconnected (the card-backend-pcsc pattern) and the transaction retried.
    pub fn in_transaction<R>(
        &mut self,
        work: impl FnOnce(&mut dyn Transport) -> Result<R, TransportError>,
    ) -> Result<R, TransportError> {
        let reader = self.reader.clone();
        let mut resets = 0;
        let mut tx = loop {
            match self.card.transaction2() {
                Ok(tx) => break tx,
                Err((card, pcsc::Error::ResetCard)) if resets < 3 => {
                    resets += 1;
                    card.reconnect(self.share_mode, Protocols::ANY, Disposition::LeaveCard)
                        .map_err(|err| map_session_error(err, &reader))?;
                }
                Err((_, err)) => return Err(map_session_error(err, &reader)),
            }
        };
        let mut in_tx = TransactionTransport {
            tx: &mut tx,
            atr: &self.atr,
            reader: &reader,
            share_mode: self.share_mode,
        };
        let result = work(&mut in_tx);
        // Ending can fail only when the card is already gone; the work's own error says more.
        let _ = tx.end(Disposition::LeaveCard);
        result
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let result = transmit_on(&self.card, apdu, &self.reader);
        if result == Err(TransportError::CardReset) {
            self.reconnect()?;
        }
        result
    }
    fn atr(&self) -> &[u8] {
        &self.atr
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        self.card
            .reconnect(self.share_mode, Protocols::ANY, Disposition::LeaveCard)
            .map_err(|err| map_session_error(err, &self.reader))
    }
}

/// The transport seen by work running inside a transaction.
struct TransactionTransport<'a, 'tx> {
    tx: &'a mut pcsc::Transaction<'tx>,
    atr: &'a [u8],
    reader: &'a str,
    share_mode: ShareMode,
}

impl Transport for TransactionTransport<'_, '_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let result = transmit_on(self.tx, apdu, self.reader);
        if result == Err(TransportError::CardReset) {
            self.reconnect()?;
        }
        result
    }
    fn atr(&self) -> &[u8] {
        self.atr
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        self.tx
            .reconnect(self.share_mode, Protocols::ANY, Disposition::LeaveCard)
            .map_err(|err| map_session_error(err, self.reader))
    }
}

/// One APDU. A reset by another program comes back as [`TransportError::CardReset`]: the
/// caller reconnects so the next attempt works, but the card lost its selected file and
/// security state, so the sequence must start over.
fn transmit_on(card: &Card, apdu: &[u8], reader: &str) -> Result<Vec<u8>, TransportError> {
    let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let failed = match card.transmit(apdu, &mut buffer) {
        // Every card answer ends in SW1 SW2; fewer bytes mean the card stopped talking.
        Ok(response) if response.len() >= 2 => return Ok(response.to_vec()),
        Ok(_) if card_left(card) => TransportError::CardRemoved,
        Ok(_) => TransportError::Protocol(format!("the card in \"{reader}\" gave no answer")),
        Err(err) => match map_session_error(err, reader) {
            // A torn card often surfaces as a communication error first.
            TransportError::Subsystem(_) | TransportError::Protocol(_) if card_left(card) => {
                TransportError::CardRemoved
            }
            mapped => mapped,
        },
    };
    Err(interrupted(failed, reader, || reader_listed(reader)))
}

/// A card that left may have left with its reader: pcscd reports an unplugged reader's card
/// as removed when its poll notices first, so the reader list decides. `listed` is `None`
/// when pcscd cannot be asked.
fn interrupted(
    failed: TransportError,
    reader: &str,
    listed: impl FnOnce() -> Option<bool>,
) -> TransportError {
    match failed {
        TransportError::CardRemoved if listed() == Some(false) => {
            TransportError::ReaderGone(reader.to_owned())
        }
        other => other,
    }
}

/// Whether pcscd still lists `reader`; `None` when it cannot be asked.
fn reader_listed(reader: &str) -> Option<bool> {
    let ctx = Context::establish(Scope::User).ok()?;
    let names = reader_names(&ctx).ok()?;
    Some(names.iter().any(|name| name.to_string_lossy() == reader))
}

/// Whether the card has left the reader. pcscd notices a removal on its next poll of the
/// reader, so a card that just went silent is watched for a moment before being called present.
fn card_left(card: &Card) -> bool {
    const NOTICE: Duration = Duration::from_millis(1500);
    let deadline = Instant::now() + NOTICE;
    loop {
        match card.status2_owned() {
            Ok(status) if status.status().contains(pcsc::Status::PRESENT) => {}
            _ => return true,
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`map_error`] for a card already connected: a reader that is unknown or unavailable now
/// was there when the card was connected, so it went away.
fn map_session_error(err: pcsc::Error, reader: &str) -> TransportError {
    use pcsc::Error as E;
    match err {
        E::UnknownReader | E::ReaderUnavailable | E::NoReadersAvailable => {
            TransportError::ReaderGone(reader.to_owned())
        }
        other => map_error(other, reader),
    }
}

fn map_error(err: pcsc::Error, reader: &str) -> TransportError {
    use pcsc::Error as E;
    match err {
        E::RemovedCard | E::NoSmartcard => TransportError::CardRemoved,
        E::ResetCard => TransportError::CardReset,
        E::NoService | E::ServiceStopped => TransportError::NoService,
        E::NoReadersAvailable => TransportError::NoReaders,
        E::UnknownReader | E::ReaderUnavailable => TransportError::NoSuchReader(reader.to_owned()),
        E::SharingViolation => TransportError::Busy(reader.to_owned()),
        E::Timeout => TransportError::Timeout,
        E::UnresponsiveCard
        | E::UnpoweredCard
        | E::UnsupportedCard
        | E::ProtoMismatch
        | E::InvalidAtr => TransportError::Protocol(format!("{err} (reader \"{reader}\")")),
        other => TransportError::Subsystem(other.to_string()),
    }
}

/// Watches readers and cards on a dedicated thread and sends [`ReaderEvent`]s. It survives a
/// pcscd restart (re-establishes the context and reports the readers again) and stops when
/// dropped or when every receiver is gone.
pub struct ReaderWatcher {
    stop: Arc<AtomicBool>,
    context: Arc<Mutex<Option<Context>>>,
    thread: Option<JoinHandle<()>>,
}

impl ReaderWatcher {
    pub fn spawn() -> (Self, async_channel::Receiver<ReaderEvent>) {
        let (events, receiver) = async_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let context = Arc::new(Mutex::new(None));
        let thread = std::thread::Builder::new()
            .name("reader-watcher".into())
            .spawn({
                let stop = stop.clone();
                let context = context.clone();
                move || watch(&events, &stop, &context)
            })
            .expect("the OS refused to start the reader-watcher thread");
        (
            Self {
                stop,
                context,
                thread: Some(thread),
            },
            receiver,
        )
    }
}

impl Drop for ReaderWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(guard) = self.context.lock()
            && let Some(ctx) = guard.as_ref()
        {
            // Wakes the blocking wait at once; the finite slice is the fallback.
            let _ = ctx.cancel();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Default)]
struct Seen {
    /// Reader name → ATR of the card in it (None when empty).
    readers: HashMap<String, Option<Vec<u8>>>,
    service_up: Option<bool>,
}

impl Seen {
    fn service(&mut self, up: bool, events: &async_channel::Sender<ReaderEvent>) -> bool {
        if self.service_up == Some(up) {
            return true;
        }
        self.service_up = Some(up);
        if !up {
            for (reader, card) in self.readers.drain() {
                if card.is_some()
                    && events
                        .send_blocking(ReaderEvent::CardRemoved {
                            reader: reader.clone(),
                        })
                        .is_err()
                {
                    return false;
                }
                if events
                    .send_blocking(ReaderEvent::ReaderRemoved { reader })
                    .is_err()
                {
                    return false;
                }
            }
        }
        events
            .send_blocking(if up {
                ReaderEvent::ServiceAvailable
            } else {
                ReaderEvent::ServiceLost
            })
            .is_ok()
    }
}

fn watch(
    events: &async_channel::Sender<ReaderEvent>,
    stop: &AtomicBool,
    context: &Mutex<Option<Context>>,
) {
    let mut seen = Seen::default();
    while !stop.load(Ordering::SeqCst) {
        let ctx = match Context::establish(Scope::User) {
            Ok(ctx) => ctx,
            Err(_) => {
                if !seen.service(false, events) {
                    return;
                }
                std::thread::sleep(SERVICE_RETRY);
                continue;
            }
        };
        if let Ok(mut slot) = context.lock() {
            *slot = Some(ctx.clone());
        }
        match watch_context(&ctx, events, stop, &mut seen) {
            Watch::Stopped => return,
            Watch::ServiceLost => {
                if !seen.service(false, events) {
                    return;
                }
                std::thread::sleep(SERVICE_RETRY);
            }
        }
    }
}

enum Watch {
    Stopped,
    ServiceLost,
}

fn is_service_error(err: pcsc::Error) -> bool {
    matches!(
        err,
        pcsc::Error::NoService
            | pcsc::Error::ServiceStopped
            | pcsc::Error::InvalidHandle
            | pcsc::Error::CommError
    )
}

/// The monitor.rs loop of pcsc-rust, reporting differences against what was last sent.
fn watch_context(
    ctx: &Context,
    events: &async_channel::Sender<ReaderEvent>,
    stop: &AtomicBool,
    seen: &mut Seen,
) -> Watch {
    let send = |event| events.send_blocking(event).is_ok();
    // The first list decides whether the service is really there.
    if let Err(err) = ctx.list_readers_owned()
        && err != pcsc::Error::NoReadersAvailable
    {
        return if is_service_error(err) {
            Watch::ServiceLost
        } else {
            Watch::Stopped
        };
    }
    if !seen.service(true, events) {
        return Watch::Stopped;
    }
    let mut states = vec![ReaderState::new(PNP_NOTIFICATION(), State::UNAWARE)];
    loop {
        if stop.load(Ordering::SeqCst) {
            return Watch::Stopped;
        }
        let names: Vec<CString> = match ctx.list_readers_owned() {
            Ok(names) => names,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(err) if is_service_error(err) => return Watch::ServiceLost,
            Err(_) => Vec::new(),
        };
        // Readers that went away.
        let gone: Vec<String> = seen
            .readers
            .keys()
            .filter(|known| !names.iter().any(|n| n.to_string_lossy() == known.as_str()))
            .cloned()
            .collect();
        for reader in gone {
            states.retain(|s| s.name().to_string_lossy() != reader.as_str());
            if let Some(Some(_)) = seen.readers.remove(&reader)
                && !send(ReaderEvent::CardRemoved {
                    reader: reader.clone(),
                })
            {
                return Watch::Stopped;
            }
            if !send(ReaderEvent::ReaderRemoved { reader }) {
                return Watch::Stopped;
            }
        }
        // Readers that arrived.
        for name in names {
            let reader = name.to_string_lossy().into_owned();
            if !seen.readers.contains_key(&reader) {
                seen.readers.insert(reader.clone(), None);
                states.push(ReaderState::new(name, State::UNAWARE));
                if !send(ReaderEvent::ReaderAdded { reader }) {
                    return Watch::Stopped;
                }
            }
        }
        for state in &mut states {
            state.sync_current_state();
        }
        match ctx.get_status_change(WATCH_SLICE, &mut states) {
            Ok(())
            | Err(pcsc::Error::Timeout)
            | Err(pcsc::Error::Cancelled)
            | Err(pcsc::Error::UnknownReader) => {}
            Err(err) if is_service_error(err) => return Watch::ServiceLost,
            Err(_) => std::thread::sleep(WATCH_SLICE),
        }
        for state in states.iter().skip(1) {
            let reader = state.name().to_string_lossy().into_owned();
            let Some(known) = seen.readers.get_mut(&reader) else {
                continue;
            };
            let now = has_card(state.event_state()).then(|| state.atr().to_vec());
            if *known == now {
                continue;
            }
            if known.is_some()
                && !send(ReaderEvent::CardRemoved {
                    reader: reader.clone(),
                })
            {
                return Watch::Stopped;
            }
            if let Some(atr) = &now
                && !send(ReaderEvent::CardInserted {
                    reader: reader.clone(),
                    atr: atr.clone(),
                })
            {
                return Watch::Stopped;
            }
            *known = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(name: &str, card: bool) -> ReaderStatus {
        ReaderStatus {
            name: name.into(),
            card_present: card,
            atr: None,
        }
    }

    #[test]
    fn picks_the_slot_with_the_card_among_a_dual_interface_readers_names() {
        // Names shaped as pcscd shows dual-interface readers: one reader per slot.
        let contact = "HID Global OMNIKEY 5422 Smartcard Reader 00 00";
        let contactless = "HID Global OMNIKEY 5422CL Smartcard Reader 01 00";
        let acr39 = "ACS ACR39U ICC Reader 02 00";
        let readers = [
            reader(contact, false),
            reader(contactless, true),
            reader(acr39, false),
        ];
        let pick = |filter| pick_reader(&readers, Some(filter)).unwrap().name.as_str();
        assert_eq!(pick("omnikey 5422"), contactless, "the slot with the card");
        assert_eq!(pick(" OMNIKEY 5422CL "), contactless);
        assert_eq!(pick("acr39"), acr39);
        assert_eq!(
            pick(contact),
            contact,
            "a full name wins over a card elsewhere"
        );
        let empty = [reader(contact, false), reader(contactless, false)];
        assert_eq!(
            pick_reader(&empty, Some("OMNIKEY")).unwrap().name,
            contact,
            "no card anywhere: the first match"
        );
    }

    #[test]
    fn a_card_gone_with_its_reader_is_told_apart_from_a_card_taken_out() {
        let reader = "HID Global OMNIKEY 3121 00 00";
        let gone = TransportError::ReaderGone(reader.into());
        // What pcscd says about a connected card whose reader was unplugged.
        for err in [
            pcsc::Error::ReaderUnavailable,
            pcsc::Error::UnknownReader,
            pcsc::Error::NoReadersAvailable,
        ] {
            assert_eq!(map_session_error(err, reader), gone, "{err:?}");
        }
        assert_eq!(
            map_session_error(pcsc::Error::RemovedCard, reader),
            TransportError::CardRemoved
        );
        // pcscd's poll may see the card go before the reader: the reader list decides.
        let removed = || TransportError::CardRemoved;
        assert_eq!(interrupted(removed(), reader, || Some(false)), gone);
        assert_eq!(
            interrupted(removed(), reader, || Some(true)),
            TransportError::CardRemoved,
            "the reader is still there (a vpcd card whose connection dropped)"
        );
        assert_eq!(
            interrupted(removed(), reader, || None),
            TransportError::CardRemoved,
            "pcscd cannot be asked: nothing known about the reader"
        );
        let asked = std::cell::Cell::new(false);
        let busy = TransportError::Busy(reader.into());
        assert_eq!(
            interrupted(busy.clone(), reader, || {
                asked.set(true);
                Some(false)
            }),
            busy
        );
        assert!(
            !asked.get(),
            "only a card that left is checked against the list"
        );
    }

    #[test]
    fn picks_readers_by_substring_or_by_card() {
        let readers = [
            reader("Virtual PCD 00 00", false),
            reader("Virtual PCD 00 01", true),
        ];
        assert_eq!(
            pick_reader(&readers, Some("00 00")).unwrap().name,
            "Virtual PCD 00 00"
        );
        assert_eq!(
            pick_reader(&readers, Some("pcd 00 01")).unwrap().name,
            "Virtual PCD 00 01"
        );
        assert_eq!(
            pick_reader(&readers, None).unwrap().name,
            "Virtual PCD 00 01"
        );
        assert_eq!(
            pick_reader(&readers, Some("ACR122")).unwrap_err(),
            TransportError::NoSuchReader("ACR122".into())
        );
        assert_eq!(
            pick_reader(&[], None).unwrap_err(),
            TransportError::NoReaders
        );
    }
}
