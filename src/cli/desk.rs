//! The issuance desk on the command line: `desk issue`, the window's issuance without the
//! window (the ELS, then the DESFire application with a `[desfire]` profile, then the record;
//! see `station::desk`).

use std::path::Path;

use clap::{Subcommand, ValueEnum};

use cardstation::config::Profile;
use cardstation::station::auth::Action;
use cardstation::station::desk::{self, DesfireOutcome, DeskSetup, DuplicateReason, IssueRequest};
use cardstation::station::issue::{self, chip_serial};
use cardstation::store::Store;

use super::Failure;
use super::card::connect;
use super::els::{parse_date, today};

#[derive(Subcommand)]
pub enum DeskCommand {
    /// Issue the card on the reader to a cardholder: the ELS on the contact chip and, with a
    /// [desfire] profile, the DESFire application with the card's number from the store;
    /// then record both chips. The contact chip is read on [readers] contact, the
    /// contactless one on [readers] contactless when the profile names it apart.
    Issue {
        /// The cardholder (store id) the card is for.
        #[arg(long, value_name = "ID")]
        cardholder: i64,
        /// Last day the card is valid (YYYY-MM-DD); default: the end of the next semester.
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        /// The holder has a card in use: this one replaces it, and why.
        #[arg(long, value_name = "WHY")]
        duplicate: Option<Duplicate>,
        /// Wait up to SECS seconds for the card instead of failing at once.
        #[arg(long, value_name = "SECS")]
        wait: Option<f64>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Duplicate {
    /// Lost or stolen: the old card is blocked.
    Lost,
    /// Damaged or the data changed: the old card is withdrawn.
    Damaged,
}

pub fn run(command: DeskCommand, profile: &Profile, db: &Path) -> Result<(), Failure> {
    match command {
        DeskCommand::Issue {
            cardholder,
            expires,
            duplicate,
            wait,
        } => issue_card(profile, db, cardholder, expires.as_deref(), duplicate, wait),
    }
}

fn issue_card(
    profile: &Profile,
    db: &Path,
    cardholder_id: i64,
    expires: Option<&str>,
    duplicate: Option<Duplicate>,
    wait: Option<f64>,
) -> Result<(), Failure> {
    super::require(profile, Action::IssueCard)?;
    let today = today();
    let expires = match expires {
        Some(text) => parse_date(text, "--expires")?,
        None => issue::default_expiry(today),
    };
    let setup = DeskSetup::for_desk(profile, &cardstation::config::data_dir())?;
    let mut store = Store::open(db)?;
    let mut card = connect(profile.readers.contact.as_deref(), wait)?;
    let mut contactless = profile
        .readers
        .separate_contactless()
        .map(|reader| connect(Some(reader), wait))
        .transpose()?;
    let request = IssueRequest {
        cardholder_id,
        expires,
        expected_uid: None,
        duplicate: duplicate.map(|why| match why {
            Duplicate::Lost => DuplicateReason::Lost,
            Duplicate::Damaged => DuplicateReason::Damaged,
        }),
    };
    let issued = desk::issue_card(
        &super::session(profile),
        &mut card,
        contactless
            .as_mut()
            .map(|chip| chip as &mut dyn cardstation::card::Transport),
        &mut store,
        &setup,
        &request,
        today,
        &mut |_| {},
    )?;
    println!(
        "issued card {} of cardholder {cardholder_id}: ELS on contact chip {}, expires {}",
        issued.card_id,
        chip_serial(&issued.uid),
        issued.expires
    );
    match issued.desfire {
        DesfireOutcome::NotWritten => {}
        DesfireOutcome::Issued { contactless_uid } => println!(
            "DESFire application issued on contactless chip {}",
            chip_serial(&contactless_uid)
        ),
        DesfireOutcome::NoCardNumber => println!(
            "DESFire application NOT written: the card has no card number yet. {}",
            DesfireOutcome::NO_NUMBER_NEXT_STEP
        ),
    }
    Ok(())
}
