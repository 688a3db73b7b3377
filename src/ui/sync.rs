//! The window's background replication. A worker thread with its own store connection (WAL
//! lets it write beside the window's) and its own runtime pushes the outbox as soon as the
//! window reports a local change, runs the revocation fast path (the outbox pushed, the
//! refusal statuses polled: `sync::background::fast_round`) every `[sync]
//! revocation_every_seconds`, a full sync (push, then pull everything) every `[sync]
//! pull_every_seconds` and when "Sync now" is pressed, pulls the `[trust] crl_sources` when
//! due, and reports each round to the status
//! bar. It is `cardstation sync --watch`'s schedule (`sync::background::run`) with the
//! window's two commands added. The thread is started by an iced Subscription and stops when
//! it is dropped; no SQLite or network work runs on the UI thread.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use iced::Subscription;
use iced::futures::SinkExt;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::{Profile, Secret};
use crate::error::Failure;
use crate::remote::cardexchange::{ApiKey, Client};
use crate::store::{Store, SyncSummary};
use crate::sync::background::{Schedule, fast_round};
use crate::sync::revocation::RevocationPoller;
use crate::sync::{self, Cancel, ProgressEvent, SyncOptions};

/// A failed full sync is tried again after this at most, not a whole pull interval later.
const RETRY_FULL_SYNC: Duration = Duration::from_secs(60);
/// Progress goes to the window at most this often: a pull of 100k people has thousands of
/// pages, and each report redraws the window.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What a round does.
/// Ordered by what a round does: a full sync does what a poll does, which does a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Round {
    /// The outbox alone, after a local change.
    Push,
    /// The outbox (when it holds anything), then the cards in a refusal status: every few
    /// seconds, without showing on the bar.
    Poll,
    /// Push, then pull every resource.
    Full,
}

/// What the window asks of the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Push,
    SyncNow,
}

/// The window's end of the worker's command channel.
#[derive(Clone)]
pub struct Handle(async_channel::Sender<Command>);

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sync::Handle")
    }
}

/// What the worker tells the window.
#[derive(Debug, Clone)]
pub enum Report {
    /// The worker runs and takes commands through this handle.
    Ready(Handle),
    Started(Round),
    Progress(ProgressEvent),
    Finished {
        round: Round,
        /// The failure, if the round failed; what was done before it is kept.
        failed: Option<Failure>,
        /// The store's sync state after the round (read by the worker).
        summary: Option<SyncSummary>,
        /// When the next round runs by itself.
        next_try: OffsetDateTime,
    },
    /// The worker cannot run at all (no API key, the store cannot be opened).
    Stopped(Failure),
}

#[derive(Debug, Clone)]
pub enum Message {
    Worker(Report),
    SyncNow,
}

/// A sync in progress, as the status bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    pub round: Round,
    pub progress: Option<ProgressEvent>,
}

/// The window's view of the worker.
#[derive(Debug, Default)]
pub struct Background {
    handle: Option<Handle>,
    pub running: Option<Running>,
    /// The last round's failure (cleared by a round that succeeds) and when it is tried again.
    pub failed: Option<(Failure, OffsetDateTime)>,
    /// Why the worker does not run.
    pub stopped: Option<Failure>,
}

impl Background {
    /// Follows the worker; gives the store's sync state when a round has read it.
    pub fn update(&mut self, message: Message) -> Option<SyncSummary> {
        match message {
            Message::SyncNow => self.command(Command::SyncNow),
            Message::Worker(Report::Ready(handle)) => {
                self.handle = Some(handle);
                self.stopped = None;
            }
            Message::Worker(Report::Started(round)) => {
                self.running = Some(Running {
                    round,
                    progress: None,
                });
            }
            Message::Worker(Report::Progress(event)) => {
                if let Some(running) = &mut self.running {
                    running.progress = Some(event);
                }
            }
            Message::Worker(Report::Finished {
                round,
                failed,
                summary,
                next_try,
            }) => {
                if round != Round::Poll {
                    self.running = None;
                }
                self.failed = failed.map(|failure| (failure, next_try));
                return summary;
            }
            Message::Worker(Report::Stopped(failure)) => {
                self.handle = None;
                self.running = None;
                self.stopped = Some(failure);
            }
        }
        None
    }

    /// Whether a worker takes commands.
    pub fn is_ready(&self) -> bool {
        self.handle.is_some()
    }

    /// Asks for the outbox to be pushed now (a local change was made).
    pub fn push(&self) {
        self.command(Command::Push);
    }

    fn command(&self, command: Command) {
        if let Some(Handle(commands)) = &self.handle {
            // Unbounded: never waits; a worker that has ended drops the command.
            let _ = commands.try_send(command);
        }
    }
}

/// The worker's subscription, for a profile with a `[server]` and `[sync] in_window` on.
pub fn subscription(profile: &Profile, database: &Path) -> Option<Subscription<Report>> {
    (profile.server.is_some() && profile.sync.in_window).then(|| {
        Subscription::run_with(
            Worker {
                profile: Arc::new(profile.clone()),
                database: database.to_owned(),
            },
            Worker::reports,
        )
    })
}

/// What a worker is started from; two equal ones are one worker (iced keeps a subscription
/// running while its hash stays the same).
#[derive(Clone)]
pub struct Worker {
    pub profile: Arc<Profile>,
    pub database: PathBuf,
}

impl Hash for Worker {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.database.hash(state);
        if let Some(server) = &self.profile.server {
            server.url.hash(state);
            server.api_key_env.hash(state);
        }
    }
}

/// Stops the worker thread when the stream that started it is dropped.
struct StopOnDrop {
    commands: async_channel::Sender<Command>,
    cancel: Cancel,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.commands.close();
    }
}

impl Worker {
    /// Starts the worker thread; its reports as a stream, the first one `Ready`.
    pub fn reports(&self) -> impl iced::futures::Stream<Item = Report> + use<> {
        let worker = self.clone();
        iced::stream::channel(64, async move |mut output| {
            let (commands, received) = async_channel::unbounded();
            let (report_sender, report_receiver) = async_channel::unbounded();
            let cancel = Cancel::default();
            let _stop = StopOnDrop {
                commands: commands.clone(),
                cancel: cancel.clone(),
            };
            if output
                .send(Report::Ready(Handle(commands.clone())))
                .await
                .is_err()
            {
                return;
            }
            let thread = std::thread::Builder::new()
                .name("sync".into())
                .spawn(move || worker.serve(&received, &report_sender, &cancel));
            if let Err(err) = thread {
                let _ = output
                    .send(Report::Stopped(
                        Failure::new(
                            format!("cannot start the sync thread: {err}"),
                            "restart the station",
                        )
                        .with_polish(
                            "Nie można uruchomić wątku synchronizacji.",
                            "Uruchom stanowisko ponownie.",
                        ),
                    ))
                    .await;
                return;
            }
            while let Ok(report) = report_receiver.recv().await {
                if output.send(report).await.is_err() {
                    return;
                }
            }
            // The thread ended without saying why (it panicked).
            let _ = output.send(Report::Stopped(super::stopped("sync"))).await;
        })
    }

    /// The worker thread: rounds until the window goes.
    fn serve(
        &self,
        commands: &async_channel::Receiver<Command>,
        reports: &async_channel::Sender<Report>,
        cancel: &Cancel,
    ) {
        let started = self.connect().and_then(|(store, client, options)| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| {
                    Failure::new(format!("cannot start the sync: {err}"), "report it")
                        .with_polish("Nie można uruchomić synchronizacji.", "Zgłoś to.")
                })?;
            Ok((store, client, options, runtime))
        });
        let (mut store, client, options, runtime) = match started {
            Ok(started) => started,
            Err(failure) => {
                let _ = reports.send_blocking(Report::Stopped(failure));
                return;
            }
        };
        let schedule = Schedule::for_profile(&self.profile);
        if schedule.revocation_every.is_none() {
            // A lease left by a run with the fast path on would call every verdict stale.
            if let Err(err) = store.clear_revocation_poll() {
                let _ = reports.send_blocking(Report::Stopped(err.into()));
                return;
            }
        }
        let mut poller = RevocationPoller::default();
        let mut next_full = Instant::now();
        let mut next_poll = schedule
            .revocation_every
            .map(|every| Instant::now() + every);
        let mut next_crl = Instant::now();
        loop {
            // Due CRLs are pulled before the round that comes after they fall due; a failed
            // one is logged and changes nothing, as in `sync --watch`.
            if let Some(every) = schedule.crl_every
                && Instant::now() >= next_crl
            {
                runtime.block_on(sync::crl::pull(
                    &mut store,
                    &schedule.crl_sources,
                    &crate::remote::retry::RetryPolicy::default(),
                ));
                next_crl = Instant::now() + every;
            }
            let Some(round) = runtime.block_on(next_round(commands, next_full, next_poll)) else {
                return;
            };
            if round != Round::Poll && reports.send_blocking(Report::Started(round)).is_err() {
                return;
            }
            let last_progress = std::sync::Mutex::new(None::<Instant>);
            let progress = |event: ProgressEvent| {
                let Ok(mut last) = last_progress.lock() else {
                    return;
                };
                if last.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
                    *last = Some(Instant::now());
                    let _ = reports.try_send(Report::Progress(event));
                }
            };
            let began = Instant::now();
            let result = runtime.block_on(async {
                match round {
                    Round::Full => {
                        let synced =
                            sync::sync(&mut store, &client, &options, &progress, cancel).await;
                        // The pull read every card, the refused ones too: as fresh as a poll.
                        if synced.is_ok() && schedule.revocation_every.is_some() {
                            store.record_revocation_poll(schedule.stale_after)?;
                        }
                        synced.map(drop)
                    }
                    Round::Poll => fast_round(
                        &mut store,
                        &client,
                        &options,
                        &schedule,
                        &mut poller,
                        cancel,
                    )
                    .await
                    .map(drop),
                    Round::Push => {
                        sync::push_outbox(&mut store, &client, &options, &progress, cancel)
                            .await
                            .map(drop)
                    }
                }
            });
            if cancel.is_cancelled() {
                return;
            }
            match round {
                Round::Full => {
                    next_full = began
                        + if result.is_ok() {
                            schedule.pull_every
                        } else {
                            schedule.pull_every.min(RETRY_FULL_SYNC)
                        };
                }
                Round::Poll => next_poll = schedule.revocation_every.map(|every| began + every),
                Round::Push => {}
            }
            let failed = result.err().map(|err| {
                tracing::warn!(?round, "background sync failed, trying again later: {err}");
                Failure::from(err)
            });
            let summary = store.sync_summary().ok();
            let next_round_at = next_poll.map_or(next_full, |poll| poll.min(next_full));
            let finished = Report::Finished {
                round,
                failed,
                summary,
                next_try: OffsetDateTime::now_utc()
                    + next_round_at.saturating_duration_since(Instant::now()),
            };
            if reports.send_blocking(finished).is_err() {
                return;
            }
        }
    }

    /// The store connection, the server client and the sync options, or why there are none.
    fn connect(&self) -> Result<(Store, Client, SyncOptions), Failure> {
        let server = self.profile.server.as_ref().ok_or_else(|| {
            Failure::new("the profile has no [server]", "add one to sync").with_polish(
                "Profil nie ma sekcji [server].",
                "Dodaj ją, aby synchronizować.",
            )
        })?;
        let key = Secret::lookup(&server.api_key_env)?;
        let client = Client::new(
            &server.url,
            ApiKey::new(key.expose()),
            crate::remote::retry::RetryPolicy::for_server(server),
        )?;
        let options = SyncOptions {
            cardholder_profile: server.cardholder_profile.clone(),
            ..SyncOptions::default()
        };
        Ok((Store::open(&self.database)?, client, options))
    }
}

/// Waits for a command, the next poll or the next full sync (which wins when both are due);
/// `None` when the window has gone. Commands queued meanwhile are taken together: many
/// changes make one push, and a "Sync now" among them makes it a full sync.
async fn next_round(
    commands: &async_channel::Receiver<Command>,
    next_full: Instant,
    next_poll: Option<Instant>,
) -> Option<Round> {
    let (due, timed) = match next_poll {
        Some(poll) if poll < next_full => (poll, Round::Poll),
        _ => (next_full, Round::Full),
    };
    let mut round = tokio::select! {
        command = commands.recv() => round_for(command.ok()?),
        () = tokio::time::sleep_until(due) => timed,
    };
    while let Ok(command) = commands.try_recv() {
        round = round.max(round_for(command));
    }
    Some(round)
}

fn round_for(command: Command) -> Round {
    match command {
        Command::Push => Round::Push,
        Command::SyncNow => Round::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Role, Server, ServerKind};
    use crate::store::Resource;
    use crate::sync::Phase;

    fn with_server(role: Role) -> Profile {
        Profile {
            role,
            server: Some(Server {
                kind: ServerKind::Cardexchange,
                url: "https://cx.example.edu.pl".into(),
                api_key_env: "CX_KEY".into(),
                cardholder_profile: None,
                request_timeout_ms: None,
            }),
            ..Profile::demo()
        }
    }

    #[test]
    fn every_role_with_a_server_syncs_in_its_window_unless_the_profile_turns_it_off() {
        let db = Path::new("station.sqlite");
        assert!(subscription(&Profile::demo(), db).is_none(), "no [server]");
        for role in [Role::Issuance, Role::Print, Role::Kiosk] {
            assert!(subscription(&with_server(role), db).is_some(), "{role}");
        }
        let mut headless = with_server(Role::Print);
        headless.sync.in_window = false;
        assert!(subscription(&headless, db).is_none());
        assert_eq!(
            with_server(Role::Kiosk).sync.pull_every(Role::Kiosk),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn the_bar_follows_a_round_and_keeps_a_failure_until_a_round_succeeds() {
        let mut background = Background::default();
        assert!(!background.is_ready());
        let (commands, received) = async_channel::unbounded();
        background.update(Message::Worker(Report::Ready(Handle(commands))));
        background.push();
        background.update(Message::SyncNow);
        assert_eq!(received.try_recv(), Ok(Command::Push));
        assert_eq!(received.try_recv(), Ok(Command::SyncNow));

        background.update(Message::Worker(Report::Started(Round::Full)));
        let event = ProgressEvent {
            phase: Phase::Pull,
            resource: Resource::Cards,
            done: 100,
            total: 400,
        };
        background.update(Message::Worker(Report::Progress(event)));
        assert_eq!(
            background.running,
            Some(Running {
                round: Round::Full,
                progress: Some(event)
            })
        );
        let next_try = OffsetDateTime::now_utc();
        let failure = Failure::new("the server is down", "try again later");
        let finished = |failed: Option<Failure>| {
            Message::Worker(Report::Finished {
                round: Round::Push,
                failed,
                summary: Some(SyncSummary {
                    last_sync: None,
                    outbox_pending: 1,
                }),
                next_try,
            })
        };
        let summary = background.update(finished(Some(failure.clone())));
        assert_eq!(summary.map(|summary| summary.outbox_pending), Some(1));
        assert_eq!(background.running, None);
        assert_eq!(background.failed, Some((failure, next_try)));
        background.update(finished(None));
        assert_eq!(background.failed, None);

        background.update(Message::Worker(Report::Stopped(Failure::new(
            "CX_KEY is not set",
            "export it",
        ))));
        assert!(!background.is_ready() && background.stopped.is_some());
    }

    #[test]
    fn queued_commands_make_one_round_and_a_sync_now_among_them_makes_it_full() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (commands, received) = async_channel::unbounded();
        let later = Instant::now() + Duration::from_secs(3600);
        for command in [Command::Push, Command::Push] {
            commands.try_send(command).unwrap();
        }
        assert_eq!(
            runtime.block_on(next_round(&received, later, None)),
            Some(Round::Push)
        );
        for command in [Command::Push, Command::SyncNow, Command::Push] {
            commands.try_send(command).unwrap();
        }
        assert_eq!(
            runtime.block_on(next_round(&received, later, None)),
            Some(Round::Full)
        );
        assert!(received.is_empty());
        // The interval's full sync comes by itself; a closed channel (the window went) ends it.
        assert_eq!(
            runtime.block_on(next_round(&received, Instant::now(), None)),
            Some(Round::Full)
        );
        // The poll comes when it is due before the full sync.
        assert_eq!(
            runtime.block_on(next_round(&received, later, Some(Instant::now()))),
            Some(Round::Poll)
        );
        assert_eq!(
            runtime.block_on(next_round(
                &received,
                Instant::now(),
                Some(Instant::now() + Duration::from_secs(5))
            )),
            Some(Round::Full)
        );
        commands.close();
        assert_eq!(runtime.block_on(next_round(&received, later, None)), None);
    }
}
