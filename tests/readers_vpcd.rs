//! The window's Readers screen reading a contact card through pcscd + vpcd: the reader passes
//! `FF CA` to the card, which refuses it (`6E00`), so the screen shows the chip serial from
//! the card's CPLC, as issuance reads it.

#![cfg(feature = "gui")]

mod common;
mod ui_harness;

use std::time::Duration;

use cardstation::card::ReaderEvent;
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, SimSerial, vpcd};
use cardstation::ui::{App, Message, Tab, readers};
use common::{UID, reader};
use ui_harness::{english_demo, send, shows};

/// What the simulator's CPLC gives for [`UID`] (see tests/contact_vpcd.rs).
const CPLC_SERIAL: &str = "4353454CC3D4E5F604A1";

#[test]
fn the_readers_screen_shows_a_contact_cards_cplc_serial() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reader = reader(35963);
    let card = sim::shared(ElsCard::new(
        ElsCardState::blank(&UID).on_contact_reader(SimSerial::Cplc),
    ));
    let _in_reader = vpcd::insert(
        card,
        reader.port,
        Faults::default(),
        Duration::from_secs(10),
    )
    .unwrap();
    common::connect(&reader.name);
    let atr = hex::decode(cardstation::sim::CONTACT_ATR).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (mut app, _boot) = App::boot(english_demo(), Some(dir.path().join("ui.sqlite")));
    send(&runtime, &mut app, Message::Tab(Tab::Readers));
    for event in [
        ReaderEvent::ServiceAvailable,
        ReaderEvent::ReaderAdded {
            reader: reader.name.clone(),
        },
        ReaderEvent::CardInserted {
            reader: reader.name.clone(),
            atr,
        },
    ] {
        send(
            &runtime,
            &mut app,
            Message::Readers(readers::Message::Reader(event)),
        );
    }
    assert!(
        shows(&app, &format!("UID {CPLC_SERIAL} (CPLC (GET DATA 9F7F))")),
        "the card's own serial, read through pcscd"
    );
    assert!(!shows(&app, "6E00"));
}
