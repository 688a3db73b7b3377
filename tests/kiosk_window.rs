//! The kiosk's real window: the `cardstation` binary in the kiosk role under Xvfb (no window
//! manager, as a bare kiosk session has none), driven with xdotool. It covers the screen,
//! survives a close request, and ends with `ADMIN_EXIT_STATUS` only by the administrator's
//! exit; a lost display ends it with another status, which the kiosk's unit restarts.
//!
//! The close request is the one a window manager sends on Alt+F4: a `WM_PROTOCOLS` client
//! message carrying `WM_DELETE_WINDOW`, sent by a few lines of python3-xlib (`xdotool
//! windowclose` destroys the window instead, and `xdotool key alt+F4` does nothing without a
//! window manager). A desk window given the same message closes, so the message is real.
//!
//! Needs Xvfb, xdotool, xwininfo and xprop (x11-utils), and /usr/bin/python3 with
//! python3-xlib (scripts/setup.sh); under CI=true a missing one fails the tests, elsewhere
//! they skip with a message.

#![cfg(feature = "gui")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cardstation::ui::kiosk::ADMIN_EXIT_STATUS;

const SCREEN: (u32, u32) = (1280, 800);
const ADMIN: &str = "kasia";
const ADMIN_PIN: &str = "482913";
/// The Python that python3-xlib installs into (a PATH `python3` may be another one).
const PYTHON: &str = "/usr/bin/python3";

/// What a window manager does on Alt+F4, if the window takes part in WM_DELETE_WINDOW.
const SEND_WM_DELETE_WINDOW: &str = r#"
import sys
from Xlib import X, display, protocol
d = display.Display()
window = d.create_resource_object("window", int(sys.argv[1]))
delete = d.intern_atom("WM_DELETE_WINDOW")
if delete not in (window.get_wm_protocols() or []):
    sys.exit("the window does not list WM_DELETE_WINDOW in WM_PROTOCOLS")
message = protocol.event.ClientMessage(
    window=window,
    client_type=d.intern_atom("WM_PROTOCOLS"),
    data=(32, [delete, X.CurrentTime, 0, 0, 0]),
)
window.send_event(message, event_mask=X.NoEventMask)
d.sync()
"#;

/// The colour (rrggbb) of the screen's pixel at (10, 10).
const CORNER_COLOUR: &str = r#"
from Xlib import X, display
image = display.Display().screen().root.get_image(10, 10, 1, 1, X.ZPixmap, 0xFFFFFFFF)
blue, green, red = image.data[0], image.data[1], image.data[2]
print(f"{red:02x}{green:02x}{blue:02x}")
"#;
/// The kiosk's idle background and the exit prompt's.
const IDLE_BLUE: &str = "214578";
const PROMPT_WHITE: &str = "ffffff";
const WAIT: Duration = Duration::from_secs(10);

/// Whether every tool is there; under CI=true a missing one fails the test.
fn tools_ready() -> bool {
    let missing: Vec<&str> = [
        ("Xvfb", Command::new("Xvfb").arg("-help").output().is_ok()),
        (
            "xdotool",
            Command::new("xdotool").arg("version").output().is_ok(),
        ),
        (
            "xwininfo",
            Command::new("xwininfo").arg("-version").output().is_ok(),
        ),
        (
            "python3-xlib",
            Command::new(PYTHON)
                .args(["-c", "import Xlib"])
                .output()
                .is_ok_and(|out| out.status.success()),
        ),
    ]
    .into_iter()
    .filter_map(|(tool, found)| (!found).then_some(tool))
    .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{} missing; run scripts/setup.sh (apt-get install xvfb xdotool x11-utils python3-xlib)",
        missing.join(", ")
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipping: {message}");
    false
}

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().is_ok_and(|status| status.is_none()) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Running {
    fn is_running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// An Xvfb server on a display number it picks itself (`-displayfd`), so tests run side by side.
struct Display {
    server: Running,
    name: String,
}

impl Display {
    fn start() -> Self {
        let (width, height) = SCREEN;
        let mut server = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let mut number = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut number)
            .unwrap();
        let number = number.trim();
        assert!(!number.is_empty(), "Xvfb gave no display number");
        Display {
            server: Running(server),
            name: format!(":{number}"),
        }
    }

    /// An X client's output, failing the test if it fails.
    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .env("DISPLAY", &self.name)
            .output()
            .unwrap_or_else(|err| panic!("{program}: {err}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn xdotool(&self, args: &[&str]) {
        self.run("xdotool", args);
        // Give the window a moment to take each step in (a moved focus, a checked PIN).
        std::thread::sleep(Duration::from_millis(500));
    }

    /// The visible Cardstation window, once it is mapped. `dir` is the station's (see
    /// [`start_station`]): a station that ends first is reported with what it wrote.
    fn window(&self, station: &mut Running, dir: &Path) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = Command::new("xdotool")
                .args(["search", "--onlyvisible", "--name", "^Cardstation"])
                .env("DISPLAY", &self.name)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&found.stdout);
            if let Some(window) = stdout.lines().next() {
                return window.to_owned();
            }
            assert!(
                station.is_running(),
                "the station exited before its window showed: {}",
                stderr_of(dir)
            );
            assert!(
                Instant::now() < deadline,
                "no Cardstation window within 20 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// (x, y, width, height) of a window, as xwininfo reports it.
    fn geometry(&self, window: &str) -> (i64, i64, u32, u32) {
        let info = self.run("xwininfo", &["-id", window]);
        let field = |name: &str| -> i64 {
            info.lines()
                .find_map(|line| line.trim().strip_prefix(name))
                .unwrap_or_else(|| panic!("xwininfo has no {name}: {info}"))
                .trim()
                .parse()
                .unwrap()
        };
        (
            field("Absolute upper-left X:"),
            field("Absolute upper-left Y:"),
            field("Width:") as u32,
            field("Height:") as u32,
        )
    }

    /// Waits until the screen's corner shows `colour`: the screen the test expects is up.
    fn wait_for_colour(&self, colour: &str, what: &str) {
        self.wait_for_corner(what, |seen| seen == colour);
    }

    /// Waits until the screen corner's colour (rrggbb) passes `wanted`; the colour seen.
    fn wait_for_corner(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = self.run(PYTHON, &["-c", CORNER_COLOUR]);
        while !wanted(seen.trim()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            seen = self.run(PYTHON, &["-c", CORNER_COLOUR]);
        }
        assert!(wanted(seen.trim()), "{what}: the corner is {seen}");
        seen.trim().to_owned()
    }

    fn send_close_request(&self, window: &str) {
        let window = window.to_owned();
        self.run(PYTHON, &["-c", SEND_WM_DELETE_WINDOW, &window]);
    }
}

/// A reader name no reader has: other tests' cards in the virtual readers are not the
/// station's business.
const NO_READER: &str = "no reader has this name";

/// A profile in `dir` for `role`, whose store is `dir/station.sqlite`, with no server, that
/// watches only `reader`.
fn profile(dir: &Path, role: &str, reader: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{role}.toml"));
    std::fs::write(
        &path,
        format!(
            "role = \"{role}\"\ndatabase = \"{}\"\n\n[readers]\ncontactless = \"{reader}\"\n\n\
             [ui]\n# A kiosk's large type: the window's size must not follow from it.\nscale = 1.6\nlanguage = \"en\"\n",
            dir.join("station.sqlite").display()
        ),
    )
    .unwrap();
    path
}

/// The station binary in `dir`'s profile on `display`, logging its info lines to stderr.
fn start_station(dir: &Path, role: &str, display: &Display) -> Running {
    start_station_on(dir, role, NO_READER, display)
}

/// [`start_station`], watching `reader`.
fn start_station_on(dir: &Path, role: &str, reader: &str, display: &Display) -> Running {
    let profile = profile(dir, role, reader);
    let child = Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .arg("--profile")
        .arg(&profile)
        .env("DISPLAY", &display.name)
        .env_remove("WAYLAND_DISPLAY")
        .env("ICED_BACKEND", "tiny-skia")
        .env("RUST_LOG", "cardstation=info")
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("CARDSTATION_LOG_DIR", dir.join("logs"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .expect("the cardstation binary starts");
    Running(child)
}

fn stderr_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
}

/// An administrator in the station's store, set up with the CLI as IT staff would.
fn add_admin(dir: &Path) {
    admin_command(dir, &["operator", "set", ADMIN, "--role", "admin"]);
}

/// A `cardstation` command on the station's store, as IT staff run it beside the station;
/// fails the test unless it succeeds.
fn admin_command(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .arg("--db")
        .arg(dir.join("station.sqlite"))
        .args(args)
        .current_dir(dir)
        .env("CARDSTATION_PIN", ADMIN_PIN)
        .env("CARDSTATION_LOG_DIR", dir.join("logs"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether an rrggbb colour is mostly `channel` (0 red, 1 green, 2 blue): the verdict
/// colours without their exact shades.
fn mostly(colour: &str, channel: usize) -> bool {
    let value = |i: usize| u8::from_str_radix(colour.get(2 * i..2 * i + 2).unwrap_or("00"), 16);
    match (value(0), value(1), value(2)) {
        (Ok(r), Ok(g), Ok(b)) => {
            let rgb = [r, g, b];
            (0..3).all(|other| other == channel || rgb[channel] > rgb[other].saturating_add(40))
        }
        _ => false,
    }
}

/// Waits until the kiosk window covers the whole screen (it is sized after it opens).
fn assert_covers_the_screen(display: &Display, window: &str) {
    let (width, height) = SCREEN;
    let wanted = (0, 0, width, height);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut geometry = display.geometry(window);
    while geometry != wanted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        geometry = display.geometry(window);
    }
    assert_eq!(
        geometry, wanted,
        "the kiosk window covers the {width}x{height} screen"
    );
}

#[test]
fn the_kiosk_covers_the_screen_ignores_close_requests_and_ends_only_by_the_admin_exit() {
    if !tools_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_admin(dir.path());
    let display = Display::start();
    let mut kiosk = start_station(dir.path(), "kiosk", &display);
    let window = display.window(&mut kiosk, dir.path());
    assert_covers_the_screen(&display, &window);
    display.wait_for_colour(IDLE_BLUE, "the kiosk's idle screen shows");
    let root = display.run("xwininfo", &["-root"]);
    assert!(
        root.contains(&format!("Width: {}", SCREEN.0))
            && root.contains(&format!("Height: {}", SCREEN.1)),
        "the screen is the size Xvfb was given: {root}"
    );

    // No title bar: the Motif hints a window manager reads say "decorations: none".
    let hints = display.run("xprop", &["-id", &window, "_MOTIF_WM_HINTS"]);
    assert!(
        hints.contains("= 0x2, 0x0,"),
        "the window asks for no decorations: {hints}"
    );

    // Alt+F4 as a window manager carries it out: the kiosk hears it, and stays.
    display.send_close_request(&window);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        kiosk.is_running(),
        "a close request ended the kiosk: {}",
        stderr_of(dir.path())
    );
    assert!(
        stderr_of(dir.path()).contains("a close request (Alt+F4, the window manager) was ignored"),
        "the close request reached the kiosk: {}",
        stderr_of(dir.path())
    );
    assert_eq!(display.geometry(&window), (0, 0, SCREEN.0, SCREEN.1));

    // Escape, the name, Enter, the PIN, Enter: a wrong PIN leaves it running (the PIN field
    // is emptied and keeps the focus); the administrator's PIN ends it, with the status the
    // unit does not restart after.
    display.xdotool(&["key", "Escape"]);
    display.wait_for_colour(PROMPT_WHITE, "Escape opens the exit prompt");
    display.xdotool(&["type", "--delay", "30", ADMIN]);
    display.xdotool(&["key", "Return"]);
    display.xdotool(&["type", "--delay", "30", "000000"]);
    display.xdotool(&["key", "Return"]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(kiosk.is_running(), "a wrong PIN ended the kiosk");
    display.xdotool(&["type", "--delay", "30", ADMIN_PIN]);
    display.xdotool(&["key", "Return"]);
    let status = kiosk
        .wait_for_exit(Duration::from_secs(10))
        .unwrap_or_else(|| {
            panic!(
                "the admin exit did not end the kiosk: {}",
                stderr_of(dir.path())
            )
        });
    assert_eq!(
        status.code(),
        Some(i32::from(ADMIN_EXIT_STATUS)),
        "{}",
        stderr_of(dir.path())
    );
}

#[test]
fn a_desk_window_closes_on_the_same_close_request_with_status_0() {
    if !tools_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let display = Display::start();
    let mut desk = start_station(dir.path(), "issuance", &display);
    let window = display.window(&mut desk, dir.path());
    let (_, _, width, height) = display.geometry(&window);
    assert!(
        (width, height) != SCREEN,
        "the desk keeps a window of its own ({width}x{height})"
    );
    display.send_close_request(&window);
    let status = desk
        .wait_for_exit(Duration::from_secs(10))
        .expect("the desk closes on a close request");
    assert_eq!(status.code(), Some(0), "{}", stderr_of(dir.path()));
}

#[test]
fn a_lost_display_ends_the_kiosk_with_a_status_its_unit_restarts() {
    if !tools_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut display = Display::start();
    let mut kiosk = start_station(dir.path(), "kiosk", &display);
    display.window(&mut kiosk, dir.path());
    display.server.0.kill().unwrap();
    display.server.0.wait().unwrap();
    let status = kiosk
        .wait_for_exit(Duration::from_secs(10))
        .expect("the kiosk ends when its display goes");
    assert!(
        status.code() != Some(i32::from(ADMIN_EXIT_STATUS)) && !status.success(),
        "a lost display ended the kiosk with {status}, which the unit would not restart after"
    );
}

/// The unit, the help text and the binary name the same status.
#[test]
fn the_kiosk_unit_leaves_the_kiosk_stopped_only_after_the_admin_exit() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/cardstation-kiosk.service"),
    )
    .unwrap();
    let lines: Vec<&str> = unit.lines().collect();
    assert!(lines.contains(&"Restart=always"), "{unit}");
    let prevent = format!("RestartPreventExitStatus={ADMIN_EXIT_STATUS}");
    assert!(lines.contains(&prevent.as_str()), "{unit}");
    let help = Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains(&format!(
            "{ADMIN_EXIT_STATUS} the kiosk window was closed by an administrator"
        )),
        "{help}"
    );
}

/// The kiosk window, started once, with a card in a virtual reader: green (valid), then an
/// administrator runs `trust revoke` on the card's signer from another process, and the same
/// window shows the same card red (forged: revoked) at its next tap, with no restart.
#[test]
fn the_kiosk_window_refuses_a_signer_revoked_while_it_runs() {
    use cardstation::sim::{Faults, vpcd};
    if !tools_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::make_signer_files(dir, "/CN=Signer Window/O=Uniwersytet Testowy/C=PL");
    admin_command(dir, &["trust", "add", "cert.pem"]);
    let card = common::card_holding(&common::signed_by_signer_files(dir));
    let reader = common::reader(35963);
    let display = Display::start();
    let mut kiosk = start_station_on(dir, "kiosk", &reader.name, &display);
    display.window(&mut kiosk, dir);
    display.wait_for_colour(IDLE_BLUE, "the kiosk's idle screen shows");
    let tap = |what: &str, channel: usize| {
        let in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
        display.wait_for_corner(what, |colour| mostly(colour, channel));
        let shown_at = Instant::now();
        in_reader.remove().unwrap();
        common::wait_until(WAIT, || !common::card_present(&reader.name));
        display.wait_for_colour(IDLE_BLUE, "the verdict's time is up");
        shown_at
    };

    tap("a card whose signer is trusted is valid (green)", 1);
    admin_command(dir, &["trust", "revoke", "cert.pem"]);
    let revoked_at = Instant::now();
    let refused_at = tap(
        "the same card, its signer revoked meanwhile, is refused (red)",
        0,
    );
    let took = refused_at - revoked_at;
    eprintln!("trust revoke done -> the kiosk window's red verdict: {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(kiosk.is_running(), "the kiosk window was never restarted");
    let log = stderr_of(dir);
    assert!(
        log.contains("the trust list changed in the store: reloaded"),
        "{log}"
    );
}
