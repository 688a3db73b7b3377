//! The desk window's cold start and idle memory with 100,000 cardholders in the store:
//! starts the release binary under Xvfb (tiny-skia), times until its window is shown
//! (polled with xdotool), then reads its resident memory after 3 s idle. Goals: < 1 s to
//! the window, < 150 MB idle RSS. Needs xvfb and xdotool (`scripts/setup.sh --desktop`).
//!
//!     cargo bench --bench gui_start

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cardstation::store::{ImportedPerson, PersonFields, Store};
use time::Date;

const PEOPLE: usize = 100_000;
const RUNS: usize = 5;
const DISPLAY: &str = ":97";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = dir.path().join("desk.sqlite");
    fill_store(&database);
    let profile = dir.path().join("desk.toml");
    std::fs::write(
        &profile,
        format!(
            "role = \"issuance\"\ndatabase = \"{}\"\n",
            database.display()
        ),
    )
    .expect("profile");
    let _xvfb = Killed(
        Command::new("Xvfb")
            .args([DISPLAY, "-screen", "0", "1280x800x24"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (apt-get install xvfb)"),
    );
    std::thread::sleep(Duration::from_secs(1));

    let mut shown = Vec::new();
    let mut resident = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let app = Killed(
            Command::new(env!("CARGO_BIN_EXE_cardstation"))
                .arg("--profile")
                .arg(&profile)
                .env("DISPLAY", DISPLAY)
                .env("ICED_BACKEND", "tiny-skia")
                .env("CARDSTATION_LOG_DIR", dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cardstation"),
        );
        while !window_shown() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no window in 20 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        shown.push(started.elapsed());
        std::thread::sleep(Duration::from_secs(3));
        resident.push(rss_kib(app.0.id()));
        drop(app);
        std::thread::sleep(Duration::from_millis(300));
    }
    shown.sort_unstable();
    resident.sort_unstable();
    println!(
        "cold start to window shown, {PEOPLE} cardholders, {RUNS} runs: median {:.0} ms, max {:.0} ms (goal < 1000 ms)",
        shown[RUNS / 2].as_secs_f64() * 1e3,
        shown[RUNS - 1].as_secs_f64() * 1e3
    );
    println!(
        "idle RSS after 3 s: median {:.1} MB, max {:.1} MB (goal < 150 MB)",
        resident[RUNS / 2] as f64 / 1024.0,
        resident[RUNS - 1] as f64 / 1024.0
    );
}

fn window_shown() -> bool {
    Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "Cardstation"])
        .env("DISPLAY", DISPLAY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("xdotool (apt-get install xdotool)")
        .success()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn fill_store(path: &std::path::Path) {
    let mut store = Store::open(path).expect("store");
    let birth_date = Date::from_calendar_date(2003, time::Month::May, 4).expect("date");
    let first = [
        "Anna",
        "Jakub",
        "Zofia",
        "Łukasz",
        "Małgorzata",
        "Paweł",
        "Żaneta",
        "Michał",
    ];
    let last = [
        "Kowalski",
        "Nowak",
        "Wiśniewska",
        "Wójcik",
        "Dąbrowski",
        "Zając",
        "Król",
        "Mazur",
    ];
    let rows: Vec<ImportedPerson> = (0..PEOPLE)
        .map(|n| ImportedPerson {
            line: n as u64 + 2,
            person: PersonFields {
                person_number: Some(format!("P-{n:07}")),
                first_name: first[n % first.len()].into(),
                middle_name: None,
                last_name: last[(n / first.len()) % last.len()].into(),
                birth_date,
                phone_number: None,
                mobile_number: None,
                album_number: Some(format!("{:06}", 200_000 + n)),
                pesel: None,
            },
            email: None,
        })
        .collect();
    store
        .import_persons("bench", "bench", &rows)
        .expect("import");
}
