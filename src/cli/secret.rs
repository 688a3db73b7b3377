//! `cardstation secret`: the keyring entries (service `cardstation`, user = the variable's
//! name) that secrets fall back to when their environment variable is unset. Values go in
//! through stdin only, never argv (where `ps` and shell history would show them), and no
//! command ever prints one.

use std::io::IsTerminal;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use cardstation::config::{self, KEYRING_SERVICE, Secret, SecretSource};

use super::Failure;

/// Refuses a name that cannot be an environment variable. The name is not repeated: a
/// value pasted in its place (a hex key, an `sk_live_` token) must not reach the terminal
/// log or the log file.
fn check_name(var: &str) -> Result<(), Failure> {
    if config::is_env_name(var) {
        Ok(())
    } else {
        Err(Failure::new(
            "VAR must be an environment variable name (A-Z, 0-9, _), not a value",
            "give the variable the profile names (e.g. USOS_CONSUMER_SECRET); the value is read \
             from stdin",
        ))
    }
}

pub fn set(var: &str) -> Result<(), Failure> {
    check_name(var)?;
    let value = read_value(var)?;
    if value.is_empty() {
        return Err(Failure::new(
            format!("no value for {var} on stdin"),
            format!("pipe the value in, e.g. `cardstation secret set {var} < file`"),
        ));
    }
    let persistent = Secret::store_in_keyring(var, &value)?;
    tracing::info!(var, persistent, "secret stored in the keyring");
    if persistent {
        println!(
            "{var} stored in the keyring (service {KEYRING_SERVICE}); it is kept across \
             logouts until the persistent keyring expires, but not across a reboot"
        );
    } else {
        println!(
            "{var} stored in the session keyring (service {KEYRING_SERVICE}) only: this \
             kernel has no persistent keyring, so it lasts only as long as this session"
        );
    }
    if Secret::in_environment(var) {
        println!("note: {var} is also set in this environment, which takes precedence");
    }
    Ok(())
}

pub fn delete(var: &str) -> Result<(), Failure> {
    check_name(var)?;
    if Secret::delete_from_keyring(var)? {
        tracing::info!(var, "secret deleted from the keyring");
        println!("{var} deleted from the keyring");
    } else {
        println!("{var} was not in the keyring");
    }
    if Secret::in_environment(var) {
        println!("note: {var} is still set in this environment");
    }
    Ok(())
}

pub fn status(var: &str) -> Result<(), Failure> {
    check_name(var)?;
    match Secret::source(var)? {
        SecretSource::Environment => println!("{var}: from the environment"),
        SecretSource::Keyring => {
            println!("{var}: from the keyring (service {KEYRING_SERVICE})")
        }
        SecretSource::Nowhere => {
            println!("{var}: not set (neither in the environment nor in the keyring)")
        }
    }
    Ok(())
}

fn read_value(var: &str) -> Result<Zeroizing<String>, Failure> {
    read_hidden_line(&format!("value for {var}"), &format!("the value of {var}"))
}

/// The first line of stdin without its line ending. On a terminal `prompt` is shown and the
/// input is not echoed (`stty -echo` for the duration, restored afterwards).
pub(crate) fn read_hidden_line(prompt: &str, what: &str) -> Result<Zeroizing<String>, Failure> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let echo_off = terminal && stty("-echo");
    if terminal {
        eprint!("{prompt} (not shown; end with Enter): ");
    }
    // Room up front: a growing String would leave unzeroized copies behind in freed memory.
    let mut line = Zeroizing::new(String::with_capacity(8192));
    let read = stdin.read_line(&mut line);
    if echo_off {
        stty("echo");
        eprintln!();
    }
    read.map_err(|err| {
        Failure::new(
            format!("cannot read {what} from stdin: {err}"),
            "pipe the value in (one line)",
        )
    })?;
    let len = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(len);
    Ok(line)
}

fn stty(mode: &str) -> bool {
    Command::new("stty")
        .arg(mode)
        .stdin(Stdio::inherit())
        .status()
        .is_ok_and(|status| status.success())
}
