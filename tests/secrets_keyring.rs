//! Secrets from the kernel keyring, through the binary: `secret set` (value on stdin), a
//! command that needs the secret finding it with the variable unset, `secret status`,
//! `secret delete`, and the value never reaching stdout, stderr or the log file, even with
//! `RUST_LOG=trace`. Child processes share the test's keyrings (the user's persistent
//! keyring); every run uses its own variable names, so parallel runs do not collide.
//!
//! Without a usable kernel keyring the tests fail under `CI=true` and say why elsewhere.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use cardstation::card::els::CardKey;
use cardstation::config::Profile;
use cardstation::error::Problem;
use cardstation::station::desk::DeskSetup;
use cardstation_refserver::{
    ReferenceServer, ServerFaults, USOS_CONSUMER_KEY, USOS_CONSUMER_SECRET,
};

const ANNA_CHIP: &str = "04A1B2C3D4E5F6";
const CARD_KEY: &str = "00112233445566778899AABBCCDDEEFF";

/// A variable name no other test or run uses.
fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("CS_KEYRING_TEST_{tag}_{}_{nanos}", std::process::id())
}

/// A test's world: a log directory and data directory of its own, every run with
/// `RUST_LOG=trace`, and the keyring entries it made deleted when it ends.
struct World {
    dir: tempfile::TempDir,
    vars: Vec<String>,
    outputs: Vec<String>,
}

impl World {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            vars: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Runs the binary with `vars` removed from its environment and `stdin` piped in.
    fn run(&mut self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cardstation"));
        command
            .args(args)
            .env("RUST_LOG", "trace")
            .env("CARDSTATION_LOG_DIR", self.dir.path().join("logs"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in &self.vars {
            command.env_remove(var);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        // Only what the binary printed: the arguments may hold a refused value on purpose.
        self.outputs.push(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
        output
    }

    /// `secret set var` with `value` on stdin; the output must say where it went.
    fn set(&mut self, var: &str, value: &str) -> Output {
        if !self.vars.iter().any(|v| v == var) {
            self.vars.push(var.to_owned());
        }
        self.run(&["secret", "set", var], &format!("{value}\n"), &[])
    }

    fn everything_printed_and_logged(&self) -> String {
        let mut all = self.outputs.join("\n");
        if let Ok(entries) = std::fs::read_dir(self.dir.path().join("logs")) {
            for entry in entries.flatten() {
                all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        all
    }

    /// The check is not vacuous: the keyring crate's own debug lines were logged.
    fn assert_tracing_was_on(&self) {
        let all = self.everything_printed_and_logged();
        assert!(
            all.contains("DEBUG"),
            "RUST_LOG=trace logged nothing:\n{all}"
        );
    }

    fn assert_never_shown(&self, values: &[&str]) {
        let all = self.everything_printed_and_logged();
        for value in values {
            assert!(
                !all.contains(value),
                "a secret value was printed or logged:\n{all}"
            );
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for var in self.vars.clone() {
            let _ = self.run(&["secret", "delete", &var], "", &[]);
        }
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Stores a probe secret. `false` (after saying why) when the kernel keyring is not usable
/// here; under CI that is a failure, never a silent skip.
fn keyring_usable(world: &mut World) -> bool {
    let probe = unique("PROBE");
    let output = world.set(&probe, "probe-value");
    if output.status.success() {
        return true;
    }
    let why = format!(
        "the kernel keyring is not usable here, so the keyring tests cannot run: {}",
        stderr(&output)
    );
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{why}");
    }
    eprintln!("skipping: {why}");
    false
}

fn usos_profile(dir: &Path, url: &str, key_var: &str, secret_var: &str) -> String {
    let path = dir.join("desk.toml");
    std::fs::write(
        &path,
        format!(
            "role = \"issuance\"\ndatabase = \"{}\"\n[usos]\nurl = \"{url}\"\n\
             consumer_key_env = \"{key_var}\"\nconsumer_secret_env = \"{secret_var}\"\n",
            dir.join("desk.sqlite").display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn usos_call_signs_with_secrets_from_the_keyring_and_never_shows_them() {
    let mut world = World::new();
    if !keyring_usable(&mut world) {
        return;
    }
    let key_var = unique("USOS_KEY");
    let secret_var = unique("USOS_SECRET");
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let profile = usos_profile(world.dir.path(), &server.url(), &key_var, &secret_var);
    let call = [
        "--profile",
        profile.as_str(),
        "usos",
        "call",
        "services/cards/card",
        &format!("contact_chip_uid={ANNA_CHIP}"),
        "fields=id|type",
        "--json",
    ];

    let before = world.run(&call, "", &[]);
    assert_eq!(before.status.code(), Some(1), "{}", stderr(&before));

    for (var, value) in [
        (&key_var, USOS_CONSUMER_KEY),
        (&secret_var, USOS_CONSUMER_SECRET),
    ] {
        let set = world.set(var, value);
        assert!(set.status.success(), "{}", stderr(&set));
        assert!(stdout(&set).contains("stored in the"), "{}", stdout(&set));
    }
    let status = world.run(&["secret", "status", &secret_var], "", &[]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stdout(&status).contains(&format!("{secret_var}: from the keyring")),
        "{}",
        stdout(&status)
    );

    // The reference server checks the OAuth signature: only the stored secret passes.
    let ok = world.run(&call, "", &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let last: serde_json::Value =
        serde_json::from_str(stdout(&ok).lines().last().unwrap()).unwrap();
    assert_eq!(last, serde_json::json!({"id": "501", "type": "student"}));

    // An exported variable wins over the keyring.
    let env = world.run(
        &["secret", "status", &secret_var],
        "",
        &[(secret_var.as_str(), "from-the-environment")],
    );
    assert!(
        stdout(&env).contains(&format!("{secret_var}: from the environment")),
        "{}",
        stdout(&env)
    );

    let delete = world.run(&["secret", "delete", &secret_var], "", &[]);
    assert!(delete.status.success(), "{}", stderr(&delete));
    assert!(stdout(&delete).contains("deleted from the keyring"));
    let status = world.run(&["secret", "status", &secret_var], "", &[]);
    assert!(
        stdout(&status).contains(&format!("{secret_var}: not set")),
        "{}",
        stdout(&status)
    );

    let after = world.run(&call, "", &[]);
    assert_eq!(after.status.code(), Some(1));
    let message = stderr(&after);
    assert!(
        message.contains(&secret_var)
            && message.contains("neither set in the environment nor stored in the keyring")
            && message.contains("cardstation secret set"),
        "{message}"
    );

    world.assert_tracing_was_on();
    world.assert_never_shown(&[USOS_CONSUMER_KEY, USOS_CONSUMER_SECRET, "probe-value"]);
}

#[test]
fn desk_card_key_comes_from_the_keyring() {
    let mut world = World::new();
    if !keyring_usable(&mut world) {
        return;
    }
    let var = unique("ELS_CARD_KEY");
    let profile = Profile::parse(
        &format!(
            "role = \"issuance\"\ndatabase = \"unused.sqlite\"\n[els]\ncard_key_env = \"{var}\"\n"
        ),
        "test",
    )
    .unwrap();
    let Err(missing) = DeskSetup::card_key_from_profile(&profile) else {
        panic!("a card key without variable or keyring entry");
    };
    assert!(
        missing.to_string().contains("nor stored in the keyring"),
        "{missing}"
    );
    assert!(missing.next_step().contains("cardstation secret set"));

    let set = world.set(&var, CARD_KEY);
    assert!(set.status.success(), "{}", stderr(&set));
    // This process reads what the child stored.
    match DeskSetup::card_key_from_profile(&profile) {
        Ok(CardKey::Master { master, .. }) => {
            assert_eq!(hex::encode_upper(&*master), CARD_KEY)
        }
        Ok(_) => panic!("expected a master key"),
        Err(err) => panic!("{err}"),
    }
    world.assert_tracing_was_on();
    world.assert_never_shown(&[CARD_KEY]);
}

#[test]
fn secret_commands_refuse_values_and_empty_input_without_echoing() {
    let mut world = World::new();
    let pasted = "sk_live_0123456789abcdef";
    let wrong = world.run(&["secret", "set", pasted], "", &[]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("environment variable name"));
    let var = unique("EMPTY");
    let empty = world.set(&var, "");
    assert_eq!(empty.status.code(), Some(1));
    assert!(stderr(&empty).contains("no value"), "{}", stderr(&empty));
    world.assert_never_shown(&[pasted]);
}
