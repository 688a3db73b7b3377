//! The reader watcher survives pcscd being killed and started again. This binary restarts the
//! system's pcscd, so it holds both virtual readers and has this one test only.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use cardstation::card::ReaderEvent;
use cardstation::card::pcsc::ReaderWatcher;
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, vpcd};
use common::{UID, reader};

fn next_matching(
    events: &async_channel::Receiver<ReaderEvent>,
    wanted: &ReaderEvent,
    timeout: Duration,
) -> Vec<ReaderEvent> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "no {wanted:?} within {timeout:?}; saw {seen:?}"
        );
        if let Ok(event) = events.try_recv() {
            let done = &event == wanted;
            seen.push(event);
            if done {
                return seen;
            }
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn pcscd_running() -> bool {
    Command::new("pgrep")
        .args(["-x", "pcscd"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts pcscd again when the test ends, even by a panic between the kill and the restart:
/// every later test needs it.
struct PcscdBack;

impl Drop for PcscdBack {
    fn drop(&mut self) {
        if !pcscd_running() {
            let _ = Command::new("pcscd").status();
        }
    }
}

#[test]
fn watcher_recovers_after_pcscd_restart() {
    let first = reader(35963);
    let _second = reader(35964);
    let card = sim::shared(ElsCard::new(ElsCardState::blank(&UID)));
    let inserted = vpcd::insert(
        card.clone(),
        first.port,
        Faults::default(),
        Duration::from_secs(10),
    )
    .unwrap();
    let (_watcher, events) = ReaderWatcher::spawn();
    let atr = ElsCardState::blank(&UID).atr;
    let inserted_event = ReaderEvent::CardInserted {
        reader: first.name.clone(),
        atr: atr.clone(),
    };
    next_matching(&events, &inserted_event, Duration::from_secs(10));

    let _pcscd_back = PcscdBack;
    let killed = Command::new("pkill")
        .args(["-x", "pcscd"])
        .status()
        .expect("pkill runs");
    assert!(
        killed.success(),
        "pcscd was running and could be stopped (tests run as root)"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while pcscd_running() {
        assert!(Instant::now() < deadline, "pcscd did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lost = next_matching(&events, &ReaderEvent::ServiceLost, Duration::from_secs(10));
    assert!(
        lost.contains(&ReaderEvent::CardRemoved {
            reader: first.name.clone()
        }),
        "{lost:?}"
    );
    assert_eq!(
        inserted.wait().unwrap(),
        vpcd::Ended::ReaderClosed,
        "vpcd went away with pcscd"
    );

    assert!(
        Command::new("pcscd")
            .status()
            .expect("pcscd starts")
            .success()
    );
    next_matching(
        &events,
        &ReaderEvent::ServiceAvailable,
        Duration::from_secs(15),
    );
    next_matching(
        &events,
        &ReaderEvent::ReaderAdded {
            reader: first.name.clone(),
        },
        Duration::from_secs(10),
    );
    // The same card goes back into the new reader and is seen again.
    let _back = vpcd::insert(card, first.port, Faults::default(), Duration::from_secs(10)).unwrap();
    next_matching(&events, &inserted_event, Duration::from_secs(10));
}
