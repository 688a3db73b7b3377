//! The window's screens driven headlessly with iced_test (ICED_TEST_BACKEND=tiny-skia).

#![cfg(feature = "gui")]

use cardstation::card::ReaderEvent;
use cardstation::config::{Language, Profile};
use cardstation::ui::{App, Message, Tab, readers};
use iced_test::simulator::Simulator;
mod ui_harness;

use ui_harness::{english_demo, settings};

fn reader_event(app: &mut App, event: ReaderEvent) {
    let _ = app.update(Message::Readers(readers::Message::Reader(event)));
}

#[test]
fn shows_each_reader_with_the_uid_of_its_card() {
    let (mut app, _) = App::boot(english_demo(), Some("/tmp/ui-test.sqlite".into()));
    let _ = app.update(Message::Tab(Tab::Readers));
    reader_event(&mut app, ReaderEvent::ServiceAvailable);
    reader_event(
        &mut app,
        ReaderEvent::ReaderAdded {
            reader: "Virtual PCD 00 00".into(),
        },
    );
    reader_event(
        &mut app,
        ReaderEvent::ReaderAdded {
            reader: "Virtual PCD 00 01".into(),
        },
    );
    reader_event(
        &mut app,
        ReaderEvent::CardInserted {
            reader: "Virtual PCD 00 00".into(),
            atr: vec![0x3B, 0x81],
        },
    );
    {
        let mut ui = Simulator::with_settings(settings(), app.view());
        assert!(
            ui.find("UID: reading…").is_ok(),
            "the UID is being read while the card sits there"
        );
        assert!(ui.find("No card").is_ok(), "the empty reader says so");
    }
    let _ = app.update(Message::Readers(readers::Message::UidRead {
        reader: "Virtual PCD 00 00".into(),
        atr: vec![0x3B, 0x81],
        result: Ok("04A1B2C3D4E5F6".into()),
    }));
    let mut ui = Simulator::with_settings(settings(), app.view());
    assert!(ui.find("UID 04A1B2C3D4E5F6").is_ok());
    assert!(
        ui.find("UID: reading…").is_err(),
        "the placeholder is gone once the UID is known"
    );
    assert!(ui.find("ATR 3B81").is_ok());
    assert!(ui.find("Virtual PCD 00 01").is_ok());
}

#[test]
fn a_card_is_read_for_the_list_only_once_the_readers_tab_is_open() {
    let (mut app, _) = App::boot(english_demo(), Some("/tmp/ui-test.sqlite".into()));
    reader_event(&mut app, ReaderEvent::ServiceAvailable);
    reader_event(
        &mut app,
        ReaderEvent::CardInserted {
            reader: "Virtual PCD 00 00".into(),
            atr: vec![0x3B, 0x81],
        },
    );
    let uid = |app: &App| {
        app.readers.readers["Virtual PCD 00 00"]
            .clone()
            .unwrap()
            .uid
    };
    assert_eq!(
        uid(&app),
        readers::Uid::NotRead,
        "on the work tab the desk has the card to itself"
    );
    let _ = app.update(Message::Tab(Tab::Readers));
    assert_eq!(uid(&app), readers::Uid::Reading);
}

#[test]
fn explains_what_to_install_when_pcscd_is_missing() {
    let (mut app, _) = App::boot(english_demo(), None);
    let _ = app.update(Message::Tab(Tab::Readers));
    reader_event(&mut app, ReaderEvent::ServiceLost);
    let mut ui = Simulator::with_settings(settings(), app.view());
    assert!(
        ui.find("The smart-card service (pcscd) is not running.")
            .is_ok()
    );
    assert!(
        ui.find("Install and start it: apt-get install pcscd vsmartcard-vpcd && pcscd. This window reconnects by itself.")
            .is_ok()
    );
    assert!(
        ui.find(
            "Demo mode: the simulated card is not inserted: run scripts/demo.sh (cardstation-sim puts it in)."
        )
        .is_ok()
    );
}

#[test]
fn the_profiles_language_is_used_and_the_header_switches_it() {
    let mut profile = Profile::demo();
    profile.ui.language = Some(Language::Pl);
    let (mut app, _) = App::boot(profile, None);
    let _ = app.update(Message::Tab(Tab::Readers));
    reader_event(&mut app, ReaderEvent::ServiceAvailable);
    {
        let mut ui = Simulator::with_settings(settings(), app.view());
        assert!(ui.find("Brak czytników. Podłącz czytnik kart.").is_ok());
        assert!(ui.find("Stanowisko wydawania").is_ok());
    }
    let _ = app.update(Message::ToggleLanguage);
    let mut ui = Simulator::with_settings(settings(), app.view());
    assert!(ui.find("Issuance desk").is_ok());
    assert!(
        ui.find("Polski").is_ok(),
        "the switch offers the other language"
    );
}

#[test]
fn the_kiosk_shows_each_verdict_large_in_the_profiles_language() {
    use cardstation::station::validate::{Decision, Evidence, Reason, Verdict};
    use cardstation::ui::kiosk::Phase;
    let mut profile = Profile::demo();
    profile.role = cardstation::config::Role::Kiosk;
    profile.ui.language = Some(Language::Pl);
    let (mut app, _) = App::boot(profile, Some("/tmp/ui-kiosk-test.sqlite".into()));
    let kiosk = app
        .kiosk
        .as_mut()
        .expect("the kiosk role has the kiosk screen");
    kiosk.phase = Phase::Idle;
    {
        let mut ui = Simulator::with_settings(settings(), app.view());
        assert!(ui.find("Przyłóż legitymację do czytnika").is_ok());
        assert!(
            ui.find("Czytniki").is_err(),
            "the kiosk shows no operator screens"
        );
    }
    for (verdict, title, icon, reason, detail, polish) in [
        (
            Verdict::Valid,
            "Legitymacja ważna",
            "✔",
            Reason::Valid,
            Some("Jan Nowak, 654321"),
            "karta ważna: Jan Nowak, 654321; tylko podpis, chip nieuwierzytelniony",
        ),
        (
            Verdict::Expired,
            "Legitymacja nieważna (termin minął)",
            "⚠",
            Reason::Expired,
            Some("2026-03-31"),
            "ważna do 2026-03-31",
        ),
        (
            Verdict::Blocked,
            "Karta zablokowana",
            "⊘",
            Reason::Refused,
            Some("blocked"),
            "rejestr nie dopuszcza karty, status zablokowana",
        ),
        (
            Verdict::Unknown,
            "Karta nieznana",
            "?",
            Reason::NotInRegister,
            None,
            "karty nie ma w rejestrze",
        ),
        (
            Verdict::Forged,
            "Karta podrobiona",
            "✖",
            Reason::CopiedEls,
            None,
            "dane legitymacji są prawdziwe, ale chip nie przeszedł uwierzytelnienia DESFire: kopia",
        ),
    ] {
        app.kiosk.as_mut().unwrap().phase = Phase::Verdict(Decision {
            verdict,
            reason: "the English reason".into(),
            reason_key: reason,
            detail: detail.map(str::to_owned),
            stale: None,
            uid: vec![0x04, 0xA1, 0xB2],
            holder_id: None,
            holder_name: Some("Jan Nowak".into()),
            valid_until: None,
            evidence: Evidence::SignedChip,
            elapsed: std::time::Duration::from_millis(4),
        });
        let mut ui = Simulator::with_settings(settings(), app.view());
        assert!(ui.find(title).is_ok(), "{verdict:?} shows {title}");
        assert!(
            ui.find(icon).is_ok(),
            "{verdict:?} shows the {icon} shape too"
        );
        // The Polish kiosk gives the checks' reason in Polish too.
        assert!(ui.find(polish).is_ok(), "{verdict:?} shows {polish}");
        assert!(ui.find("the English reason").is_err());
    }
}
