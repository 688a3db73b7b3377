//! Print submission through CUPS: `lp` sends a card's PDF to the profile's queue with the
//! card as its media, then the job is followed over IPP (`ipptool` Get-Job-Attributes)
//! until CUPS reports it completed, or it was aborted or cancelled, or the time is up (then
//! the job is cancelled, so a late card never comes out of the printer unannounced).

use crate::error::Problem;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A job CUPS finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedJob {
    /// CUPS job id, e.g. `cardstation-pdf-12`.
    pub request: String,
    pub id: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("cannot run `{command}`: {source}")]
    Tool {
        command: &'static str,
        source: std::io::Error,
    },
    #[error("CUPS did not take the job for queue \"{queue}\": {message}")]
    Refused { queue: String, message: String },
    #[error("print job {request} ended {state}{}", reason(.message))]
    Failed {
        request: String,
        state: String,
        message: String,
    },
    #[error(
        "CUPS cannot tell what became of print job {request} ({cause}); whether the card came out is not known{}",
        if *.cancelled { "; the job was withdrawn" } else { "; the job could not be withdrawn and may still print" }
    )]
    Unknown {
        request: String,
        cause: String,
        /// `cancel` took the job back, so it cannot come out later.
        cancelled: bool,
    },
    #[error("print job {request} did not complete within {seconds} s (last state: {state}{}); it was cancelled", reason(.message))]
    Timeout {
        request: String,
        seconds: u64,
        state: String,
        message: String,
    },
}

fn reason(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl Problem for PrintError {
    fn next_step(&self) -> &'static str {
        match self {
            PrintError::Tool { .. } => {
                "install the CUPS client tools: apt-get install cups-client cups-ipp-utils"
            }
            PrintError::Refused { .. } => {
                "check the queue with `lpstat -p`; is cupsd running and printer.queue right?"
            }
            PrintError::Failed { .. } => {
                "check the printer (ribbon, cards, cover) and `lpstat -p`, then print the card again"
            }
            PrintError::Unknown { .. } => {
                "look at the printer's output tray and `lpstat -W completed`, check that cupsd runs, then run the batch again (the production is still queued if no card came out)"
            }
            PrintError::Timeout { .. } => {
                "check the printer and `lpstat -p`; raise printer.job_timeout_seconds for slow printers"
            }
        }
    }
}

/// One CUPS queue.
#[derive(Debug, Clone)]
pub struct CupsPrinter {
    queue: String,
    media: String,
    timeout: Duration,
}

impl CupsPrinter {
    pub fn new(queue: &str, media: &str, timeout: Duration) -> Self {
        Self {
            queue: queue.to_owned(),
            media: media.to_owned(),
            timeout,
        }
    }

    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Prints `pdf` as job `title` and waits until CUPS has completed it.
    pub fn print(&self, title: &str, pdf: &[u8]) -> Result<CompletedJob, PrintError> {
        let (request, id) = self.submit(title, pdf)?;
        self.follow(request, id)
    }

    fn submit(&self, title: &str, pdf: &[u8]) -> Result<(String, u32), PrintError> {
        let tool = |source| PrintError::Tool {
            command: "lp",
            source,
        };
        let mut child = Command::new("lp")
            .args(["-d", &self.queue, "-t", title, "-o"])
            .arg(format!("media={}", self.media))
            .args(["-o", "document-format=application/pdf", "--", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(tool)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(pdf).map_err(tool)?;
        }
        let output = child.wait_with_output().map_err(tool)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        // "request id is QUEUE-12 (1 file(s))"
        let request = stdout
            .split_whitespace()
            .skip_while(|word| *word != "is")
            .nth(1)
            .filter(|_| output.status.success());
        let id = request
            .and_then(|request| request.rsplit('-').next())
            .and_then(|id| id.parse().ok());
        match (request, id) {
            (Some(request), Some(id)) => Ok((request.to_owned(), id)),
            _ => Err(PrintError::Refused {
                queue: self.queue.clone(),
                message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            }),
        }
    }

    fn follow(&self, request: String, id: u32) -> Result<CompletedJob, PrintError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        // Since when CUPS has not answered about the job (None: it answered last time).
        let mut unanswered_since: Option<Instant> = None;
        loop {
            // The job is with CUPS already: a state that cannot be read (cupsd restarting,
            // ipptool missing) says nothing about whether the card came out.
            let state = match job_state(id).unwrap_or_else(|err| Err(err.to_string())) {
                Ok(state) => state,
                Err(cause)
                    if unanswered_since.get_or_insert_with(Instant::now).elapsed()
                        < UNANSWERED_FOR =>
                {
                    tracing::debug!(request, cause, "print job state unknown, asking again");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(250));
                    continue;
                }
                Err(cause) => {
                    // Withdrawn if CUPS still takes orders, so it cannot come out later
                    // beside the card the operator prints again.
                    let cancelled = Command::new("cancel")
                        .arg(&request)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|status| status.success());
                    return Err(PrintError::Unknown {
                        request,
                        cause,
                        cancelled,
                    });
                }
            };
            unanswered_since = None;
            match state.state.as_str() {
                "completed" => return Ok(CompletedJob { request, id }),
                "aborted" | "canceled" => {
                    return Err(PrintError::Failed {
                        request,
                        state: state.state,
                        message: state.message,
                    });
                }
                _ if started.elapsed() >= self.timeout => {
                    let _ = Command::new("cancel").arg(&request).status();
                    return Err(PrintError::Timeout {
                        request,
                        seconds: self.timeout.as_secs(),
                        state: state.state,
                        message: state.message,
                    });
                }
                _ => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
            }
        }
    }
}

/// What CUPS says about a job.
struct JobState {
    /// pending, pending-held, processing, processing-stopped, canceled, aborted, completed
    state: String,
    /// The printer's message while the job ran (why it stopped, usually).
    message: String,
}

/// How long CUPS may fail to say what became of a job (a cupsd restart takes seconds)
/// before its outcome counts as unknown.
const UNANSWERED_FOR: Duration = Duration::from_secs(10);

/// The job's state, or (inner `Err`) why `ipptool` could not tell it.
fn job_state(id: u32) -> Result<Result<JobState, String>, PrintError> {
    let output = Command::new("ipptool")
        .args(["-tv", &format!("ipp://localhost/jobs/{id}")])
        .arg("get-job-attributes.test")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| PrintError::Tool {
            command: "ipptool",
            source,
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !text.contains("job-state (") {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let cause = stderr
            .lines()
            .chain(text.lines())
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("ipptool gave no job-state")
            .to_owned();
        return Ok(Err(cause));
    }
    let attribute = |name: &str| {
        text.lines()
            .filter_map(|line| line.trim().strip_prefix(name))
            .find_map(|rest| rest.split_once(") = ").map(|(_, value)| value.trim()))
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Ok(JobState {
        state: attribute("job-state ("),
        message: attribute("job-printer-state-message ("),
    }))
}
