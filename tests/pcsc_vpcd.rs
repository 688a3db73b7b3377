//! The card layer through the real PC/SC stack: pcscd + vsmartcard-vpcd + our simulated card.

mod common;

use std::process::{Command as Process, Stdio};
use std::time::Duration;

use cardstation::card::apdu::{Command, StatusWord, exchange};
use cardstation::card::pcsc::{self, PcscTransport, ReaderWatcher, Sharing};
use cardstation::card::{ReaderEvent, Transport, TransportError, read_uid};
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, vpcd};
use common::{UID, connect, reader, wait_until};

const READER_0: u16 = 35963;
const READER_1: u16 = 35964;
const WAIT: Duration = Duration::from_secs(10);

fn insert(port: u16, state: ElsCardState, faults: Faults) -> vpcd::InsertedCard {
    vpcd::insert(sim::shared(ElsCard::new(state)), port, faults, WAIT)
        .expect("vpcd accepts the card")
}

#[test]
fn readers_and_uid_through_pcscd() {
    let reader = reader(READER_0);
    let _card = insert(reader.port, ElsCardState::blank(&UID), Faults::default());
    let mut transport = connect(&reader.name);
    assert_eq!(read_uid(&mut transport).unwrap(), UID);
    assert_eq!(
        transport.atr(),
        ElsCardState::blank(&UID).atr.as_slice(),
        "pcscd reports our ATR"
    );
    let listed = pcsc::list_readers().unwrap();
    let ours = listed.iter().find(|r| r.name == reader.name).unwrap();
    assert!(ours.card_present);
    assert_eq!(
        ours.atr.as_deref(),
        Some(hex::encode_upper(ElsCardState::blank(&UID).atr).as_str())
    );
}

#[test]
fn cli_sim_then_uid_prints_the_uid() {
    let reader = reader(READER_0);
    let bin = env!("CARGO_BIN_EXE_cardstation");
    let mut sim = Process::new(env!("CARGO_BIN_EXE_cardstation-sim"))
        .args([
            "--card",
            "els",
            "--uid",
            "04A1B2C3D4E5F6",
            "--reader-port",
            &reader.port.to_string(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let uid = Process::new(bin)
        .args(["uid", "--wait", "10", "--reader", &reader.name])
        .output()
        .unwrap();
    let readers = Process::new(bin)
        .args(["readers", "--json"])
        .output()
        .unwrap();
    sim.kill().unwrap();
    sim.wait().unwrap();
    common::assert_success(&uid);
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "04A1B2C3D4E5F6"
    );
    let listed: serde_json::Value = serde_json::from_slice(&readers.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Virtual PCD 00 00"), "{names:?}");
}

#[test]
fn uid_without_a_card_fails_with_cause_and_next_step() {
    let reader = reader(READER_1);
    let out = Process::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(["uid", "--reader", &reader.name, "--wait", "0.3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: timed out waiting for a card"),
        "{stderr}"
    );
    assert!(
        stderr.contains("next step: put a card on the reader"),
        "{stderr}"
    );
    let usage = Process::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(["uid", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn watcher_reports_card_in_and_out() {
    let reader = reader(READER_1);
    let (_watcher, events) = ReaderWatcher::spawn();
    let next = || events.recv_blocking().expect("the watcher keeps running");
    let mut seen = Vec::new();
    while !seen.contains(&ReaderEvent::ReaderAdded {
        reader: reader.name.clone(),
    }) {
        seen.push(next());
    }
    assert_eq!(seen[0], ReaderEvent::ServiceAvailable);
    let card = insert(reader.port, ElsCardState::blank(&UID), Faults::default());
    let atr = ElsCardState::blank(&UID).atr;
    loop {
        match next() {
            ReaderEvent::CardInserted { reader: r, atr: a } if r == reader.name => {
                assert_eq!(a, atr);
                break;
            }
            // Other tests of this file use the other reader at the same time: only this
            // reader's events count.
            other => assert!(
                !matches!(&other, ReaderEvent::CardRemoved { reader: r } if *r == reader.name),
                "unexpected {other:?}"
            ),
        }
    }
    card.remove().unwrap();
    loop {
        if next()
            == (ReaderEvent::CardRemoved {
                reader: reader.name.clone(),
            })
        {
            break;
        }
    }
}

#[test]
fn tear_mid_command_is_the_typed_card_removed_error() {
    let reader = reader(READER_0);
    let card = insert(
        reader.port,
        ElsCardState::blank(&UID),
        Faults {
            tear_after: Some(3),
            ..Faults::default()
        },
    );
    let mut transport = connect(&reader.name);
    for _ in 0..3 {
        read_uid(&mut transport).unwrap();
    }
    assert_eq!(
        read_uid(&mut transport).unwrap_err(),
        TransportError::CardRemoved
    );
    assert_eq!(card.wait().unwrap(), vpcd::Ended::Torn);
    wait_until(WAIT, || !common::card_present(&reader.name));
}

#[test]
fn get_response_and_wrong_le_are_handled_through_pcscd() {
    let reader = reader(READER_1);
    let mut state = ElsCardState::blank(&UID);
    state.ef_els = (0..=255u8).cycle().take(700).collect();
    state.max_response_len = 200;
    state.force_get_response = true;
    let _card = insert(reader.port, state, Faults::default());
    let mut transport = connect(&reader.name);
    let select = exchange(
        &mut transport,
        &Command::new(0, 0xA4, 4, 0x0C).with_data(vec![0xD6, 0x16, 0, 0, 0x30, 1, 1]),
    )
    .unwrap();
    assert_eq!(select.sw, StatusWord::OK);
    let fcp = exchange(
        &mut transport,
        &Command::new(0, 0xA4, 2, 0)
            .with_data(vec![0, 2])
            .with_le(256),
    )
    .unwrap();
    assert_eq!(
        &fcp.data[..4],
        &[0x62, 0x0B, 0x80, 0x02],
        "FCP fetched with GET RESPONSE"
    );
    // Le 256 > 200: the card answers 6CC8, exchange() resends with 200, then 61C8 + GET RESPONSE.
    let read = exchange(&mut transport, &Command::new(0, 0xB0, 0, 0).with_le(256)).unwrap();
    assert_eq!(read.sw, StatusWord::OK);
    assert_eq!(read.data, (0..200u8).collect::<Vec<_>>());
}

#[test]
fn reset_by_another_program_is_reported_then_recovered() {
    let reader = reader(READER_0);
    let _card = insert(reader.port, ElsCardState::blank(&UID), Faults::default());
    let mut ours = connect(&reader.name);
    read_uid(&mut ours).unwrap();
    // Dropping a pcsc connection resets the card: another program did just that.
    drop(PcscTransport::connect(&reader.name, Sharing::Shared).unwrap());
    assert_eq!(read_uid(&mut ours).unwrap_err(), TransportError::CardReset);
    assert_eq!(
        read_uid(&mut ours).unwrap(),
        UID,
        "reconnected after the reset"
    );
}

#[test]
fn transactions_and_exclusive_access() {
    let reader = reader(READER_1);
    let _card = insert(reader.port, ElsCardState::blank(&UID), Faults::default());
    let name = pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    let mut exclusive = PcscTransport::connect(&name, Sharing::Exclusive).unwrap();
    assert_eq!(
        PcscTransport::connect(&name, Sharing::Shared).err(),
        Some(TransportError::Busy(name.clone())),
        "a second program is kept out"
    );
    let uids = exclusive
        .in_transaction(|card| Ok((read_uid(card)?, read_uid(card)?)))
        .unwrap();
    assert_eq!(uids, (UID.to_vec(), UID.to_vec()));
}

#[test]
fn watcher_stops_promptly_when_dropped() {
    let (watcher, events) = ReaderWatcher::spawn();
    assert_eq!(
        events.recv_blocking().unwrap(),
        ReaderEvent::ServiceAvailable
    );
    let started = std::time::Instant::now();
    drop(watcher);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopping took {:?}",
        started.elapsed()
    );
    // Drain what was sent before the stop; then the channel is closed.
    while events.try_recv().is_ok() {}
    assert!(
        events.recv_blocking().is_err(),
        "the thread is gone and closed its channel"
    );
}
