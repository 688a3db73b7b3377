//! Logs: `tracing` to stderr (warnings unless `RUST_LOG` says otherwise) and to a daily-rotated
//! file in the user's data directory (info and up, 14 days kept), as text or, with
//! `--log-json`, one JSON object per line. Nothing logged carries key material: keys and
//! secrets have redacting Debug impls and are never passed to a log macro.

use std::path::PathBuf;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// Log files kept before the oldest is deleted.
const KEPT_DAYS: usize = 14;

/// Where log files go: `$CARDSTATION_LOG_DIR`, else `<data dir>/logs`.
pub fn log_dir() -> PathBuf {
    std::env::var_os("CARDSTATION_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::config::data_dir().join("logs"))
}

/// Installs the global subscriber. Keep the returned guard alive until exit: it flushes the
/// file writer. Without a writable log directory the station still runs, logging to stderr.
pub fn init(json: bool) -> Option<WorkerGuard> {
    let stderr_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let file_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = fmt::layer().with_writer(std::io::stderr);
    let stderr = if json {
        stderr.json().boxed()
    } else {
        stderr.boxed()
    };
    let dir = log_dir();
    let appender = std::fs::create_dir_all(&dir).ok().and_then(|()| {
        Builder::new()
            .rotation(Rotation::DAILY)
            .filename_prefix("cardstation")
            .filename_suffix("log")
            .max_log_files(KEPT_DAYS)
            .build(&dir)
            .ok()
    });
    let Some(appender) = appender else {
        tracing_subscriber::registry()
            .with(stderr.with_filter(stderr_filter))
            .init();
        tracing::warn!(dir = %dir.display(), "cannot write log files there; logging to stderr only");
        return None;
    };
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let file = fmt::layer().with_writer(writer).with_ansi(false);
    let file = if json {
        file.json().boxed()
    } else {
        file.boxed()
    };
    tracing_subscriber::registry()
        .with(stderr.with_filter(stderr_filter))
        .with(file.with_filter(file_filter))
        .init();
    Some(guard)
}
