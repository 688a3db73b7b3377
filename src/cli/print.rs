//! `print` (the production queue, headless, with a progress bar) and `holograms` (the
//! numbered sticker stock).

use std::path::Path;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use cardstation::config::Profile;
use cardstation::render::layout::Layout;
use cardstation::station::print::{
    self, BatchPlan, Control, PrintEvent, PrintStation, ProductionChange,
};
use cardstation::store::{CardType, QueueFilter, Store};

use cardstation::station::auth::Action;

use super::{Failure, operator};

#[derive(Args)]
#[command(group(ArgGroup::new("change").args(["reprint", "cancel", "withdraw"])))]
pub struct PrintArgs {
    /// Run the queue: productions still to be produced, oldest first.
    #[arg(long, required_unless_present = "change", conflicts_with = "change")]
    batch: bool,
    /// Print at most N cards.
    #[arg(long, value_name = "N", requires = "batch")]
    limit: Option<usize>,
    /// Print only these productions (comma-separated ids) of the queue.
    #[arg(long, value_name = "ID,...", value_delimiter = ',', requires = "batch")]
    ids: Option<Vec<i64>>,
    /// Print only cards of this type: student, phd or staff.
    #[arg(long = "type", value_name = "TYPE", requires = "batch")]
    card_type: Option<String>,
    /// Print only productions whose name on card, holder name, album or card number
    /// contains every word of TEXT.
    #[arg(long = "match", value_name = "TEXT", requires = "batch")]
    search: Option<String>,
    /// Put printed card ID back into the queue (its next print counts as one more try).
    #[arg(long, value_name = "ID")]
    reprint: Option<i64>,
    /// Cancel the order ID (not printed yet): it never prints, its card is withdrawn.
    #[arg(long, value_name = "ID")]
    cancel: Option<i64>,
    /// Withdraw printed card ID (taken back): the production and its card are withdrawn.
    #[arg(long, value_name = "ID")]
    withdraw: Option<i64>,
    /// Why the card is reprinted, cancelled or withdrawn (required; kept in the audit log).
    #[arg(long, value_name = "TEXT", requires = "change")]
    reason: Option<String>,
    /// Seconds the printer may take to bring a card into the encoder.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    feed_wait: u64,
}

impl PrintArgs {
    /// The productions `--batch` prints.
    fn plan(&self) -> Result<BatchPlan, Failure> {
        let card_type = self
            .card_type
            .as_deref()
            .map(|name| {
                name.parse::<CardType>().map_err(|err| {
                    Failure::new(
                        format!("--type {name}: {err}"),
                        "pass --type student, --type phd or --type staff",
                    )
                })
            })
            .transpose()?;
        Ok(BatchPlan {
            filter: QueueFilter {
                ids: self.ids.clone(),
                card_type,
                search: self.search.clone().unwrap_or_default(),
            },
            limit: self.limit.unwrap_or(usize::MAX),
        })
    }
}

#[derive(Subcommand)]
pub enum HologramCommand {
    /// Add stickers numbered FIRST to LAST to the stock.
    Add { first: i64, last: i64 },
    /// Free ranges, reserved and used counts.
    Status,
}

pub fn load_layout(path: &Path) -> Result<Layout, Failure> {
    Layout::load(path).map_err(Failure::from)
}

pub fn print(profile: &Profile, db: &Path, args: &PrintArgs) -> Result<(), Failure> {
    super::require(profile, Action::PrintCards)?;
    let mut store = Store::open(db)?;
    let changes = [
        (args.reprint, ProductionChange::Reprint),
        (args.cancel, ProductionChange::Cancel),
        (args.withdraw, ProductionChange::Withdraw),
    ];
    if let Some((id, change)) = changes
        .iter()
        .find_map(|(id, change)| Some((id.as_ref()?, change)))
    {
        let reason = args.reason.as_deref().unwrap_or_default();
        print::change_production(&super::session(profile), &mut store, *change, *id, reason)?;
        println!(
            "{}; the server hears of it at the next sync",
            match change {
                ProductionChange::Reprint => format!(
                    "production {id} is back in the queue; `cardstation print --batch` prints it"
                ),
                ProductionChange::Cancel => {
                    format!("production {id} is cancelled and its card withdrawn; it never prints")
                }
                ProductionChange::Withdraw => format!("production {id} and its card are withdrawn"),
            }
        );
        return Ok(());
    }
    let plan = args.plan()?;
    let station = PrintStation::from_profile(profile)?;
    let printer = &station.printer;
    let session = super::session(profile);
    let setup = station.setup(&session);
    let mut cups = station.cups();
    let wait = Duration::from_secs(args.feed_wait);
    let mut feed = station.feed(&profile.readers, wait);

    let control = Control::default();
    cancel_on_ctrl_c(control.clone());
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} cards ({per_sec}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut events = |event: PrintEvent| match event {
        PrintEvent::Started {
            batch,
            total,
            holograms,
        } => {
            bar.set_length(total as u64);
            let stickers = holograms
                .iter()
                .map(|(first, last)| format!("{first}-{last}"))
                .collect::<Vec<_>>()
                .join(", ");
            bar.println(format!(
                "batch {batch}: {total} card(s) on queue {}{}",
                printer.queue,
                if stickers.is_empty() {
                    String::new()
                } else {
                    format!(", holograms {stickers}")
                }
            ));
        }
        PrintEvent::Card { name, .. } => bar.set_message(name),
        PrintEvent::Printed {
            production,
            chip_serial,
            hologram,
            job,
            ..
        } => {
            bar.inc(1);
            bar.println(format!(
                "production {production}: printed ({job}), chip {chip_serial}{}",
                hologram
                    .map(|n| format!(", hologram {n}"))
                    .unwrap_or_default()
            ));
        }
        PrintEvent::FailedTry {
            production,
            reason,
            retrying,
            ..
        } => bar.println(format!(
            "production {production}: card rejected: {reason}{}",
            if retrying { "; trying a new card" } else { "" }
        )),
        PrintEvent::Skipped {
            production, reason, ..
        } => {
            bar.inc(1);
            bar.println(format!("production {production}: skipped: {reason}"));
        }
        PrintEvent::Paused => bar.set_message("paused"),
        PrintEvent::Resumed => bar.set_message(""),
        PrintEvent::Finished(_) => bar.finish_and_clear(),
    };
    let summary = print::run_batch(
        &mut store,
        &mut *feed,
        &mut cups,
        &setup,
        &plan,
        &control,
        &mut events,
    )
    .map_err(|err| {
        bar.abandon();
        Failure::from(err)
    })?;
    println!(
        "batch {}: {} printed, {} card(s) rejected, {} left in the queue{}{}",
        summary.batch,
        summary.printed,
        summary.failed_tries,
        summary.left.len(),
        if summary.holograms_returned > 0 {
            format!(", {} hologram(s) back in stock", summary.holograms_returned)
        } else {
            String::new()
        },
        if summary.cancelled {
            " (cancelled)"
        } else {
            ""
        }
    );
    if summary.left.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            format!("productions not printed: {:?}", summary.left),
            "see the reasons above; fix the data or the printer and run the batch again",
        ))
    }
}

/// Ctrl-C ends the batch after the card in progress instead of killing it mid-card.
fn cancel_on_ctrl_c(control: Control) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("cancelling after the current card…");
                control.cancel();
            }
        });
    });
}

pub fn holograms(db: &Path, command: &HologramCommand) -> Result<(), Failure> {
    let mut store = Store::open(db)?;
    match command {
        HologramCommand::Add { first, last } => {
            let added = store.add_holograms(*first, *last, &operator())?;
            println!("{added} hologram(s) added: {first}-{last}");
        }
        HologramCommand::Status => {
            let stock = store.hologram_stock()?;
            let free = stock
                .free
                .iter()
                .map(|(first, last)| format!("{first}-{last}"))
                .collect::<Vec<_>>()
                .join(", ");
            println!("free\t{}\t{free}", stock.free_count());
            println!("reserved\t{}", stock.reserved);
            println!("used\t{}", stock.used);
        }
    }
    Ok(())
}
