//! Typing in the desk's search field with 100,000 cardholders in the store (issue 8: no frame
//! over 16 ms caused by a query). Prints numbers; asserts nothing about time.
//!
//!     cargo bench --bench desk_typing
//!
//! A real SQLite store file gets 100,000 people with Polish names (many sharing a prefix:
//! Kowal-ski/-ska/-czyk/-ewski, Nowak/Nowakowski, Żółkiewski/Żółkowska...), album numbers and
//! PESELs. An operator made through the store API signs in, then several hundred keystrokes
//! (names with and without Polish letters, two-word queries, album numbers, typos corrected
//! with Backspace, fields cleared) go into the search field. Each keystroke is measured in
//! three parts:
//!
//! (a) UI thread, the keystroke's frame: the key press and release go through the text
//!     field of the real widget tree, its `on_input` message through `App::update`, then
//!     `App::view`, layout, and a frame drawn and rasterized with tiny-skia.
//! (b) The query: the Task `update` returned (the desk's `search` through `Db::run` on
//!     tokio's blocking pool), from the start of the task until its result message is out.
//!     This is the FTS query plus the hand-over to and from the blocking thread.
//! (c) UI thread, the results' frame: the result message through `App::update`, then view,
//!     layout, draw and rasterize with the result list shown.
//!
//! The script is typed three times, into a fresh window each time (the same store):
//!
//! 1. iced_test's Simulator, as the UI tests drive the app: a Simulator is built on
//!    `App::view` for every frame and `Simulator::snapshot` draws it. What it cannot do like
//!    the real window, and how that skews (a) and (c) upwards:
//!    - it makes a new tiny-skia renderer per Simulator, so every frame starts with an empty
//!      glyph cache (the renderer's creation is timed; its cost alone is printed);
//!    - it keeps no widget state (focus) between builds, so before each keystroke the field
//!      is focused with a simulated click on a rebuild of the UI on screen; that click and
//!      that rebuild are not timed (in the real window that UI already exists);
//!    - `snapshot` draws at scale factor 2 (2360×1520 pixels for the 1180×760 window).
//!    - `snapshot` also allocates a new pixel buffer per frame and copies it out as RGBA.
//! 2. The same frames the way iced's runtime (iced_winit) makes them: one renderer, the
//!    widget tree (`UserInterface` cache, which keeps the field focused) and the window's
//!    pixel buffer kept between frames; events into the UI on screen, then `update`, a
//!    rebuild (view + layout), a redraw event, `draw`, and the tiny-skia rasterization the
//!    compositor's `present` does, at scale factor 1 (the stations' `ui.scale`). This is
//!    iced's loop re-done with its public parts, not iced_winit itself.
//! 3. As 2 at scale factor 2, for a HiDPI screen.
//!
//! Not measured in any pass: handing the pixels to the screen (X11/Wayland; there is no
//! window). Every pass rasterizes the whole window each frame, where the compositor redraws
//! only the regions that changed, so rendering is over-counted. Keystrokes are sent one after
//! another, each after the previous query's results are drawn; typing faster than the
//! queries return is not covered. Timings include whatever else the machine runs (its load
//! average is printed).

use std::path::Path;
use std::time::{Duration, Instant};

use cardstation::config::{Language, Profile};
use cardstation::crypto::pesel;
use cardstation::store::{ImportedPerson, OperatorRole, PersonFields, Store};
use cardstation::ui::{App, Message, desk, theme};
use iced_test::core::keyboard::{Key, key::Named};
use iced_test::core::renderer::{self, Headless};
use iced_test::core::theme::Base;
use iced_test::core::widget::operation::focusable;
use iced_test::core::{Event, Rectangle, Settings, Size, SmolStr, clipboard, mouse, window};
use iced_test::renderer::graphics::Viewport;
use iced_test::runtime::user_interface::{self, UserInterface};
use iced_test::simulator::{self, Simulator};
use time::Date;
#[path = "../tests/ui_harness/mod.rs"]
mod ui_harness;

use ui_harness::{run, send, sign_in};

const PEOPLE: usize = 100_000;
/// The window's size in `ui::run`.
const WINDOW: Size = Size::new(1180.0, 760.0);
const FRAME_BUDGET: Duration = Duration::from_millis(16);
const OPERATOR: (&str, &str) = ("bench", "4711");

/// What the search field holds after each burst of typing; the keystrokes between two
/// entries are Backspaces down to their common prefix, then the new characters.
const SCRIPT: &[&str] = &[
    "kowal",
    "kowalsk",
    "kowalska a",
    "kowalska",
    "",
    "zółk",
    "zółkiewska",
    "zółkiewska m",
    "",
    "nowak a",
    "nowak",
    "nowakowski j",
    "",
    "2041",
    "204153",
    "",
    "wiśn",
    "wisniewska",
    "wisniewska k",
    "",
    "kowla",
    "kowalczyk",
    "kowalczyk pi",
    "",
    "dąbr",
    "dabrowski ł",
    "dabrowski lukasz",
    "",
    "zaj",
    "zając",
    "zajac zofia",
    "",
    "2999",
    "299987",
    "",
    "lew",
    "lewandowska",
    "lewandowska ag",
    "",
    "mazur",
    "mazurek",
    "mazurkiewicz",
    "",
    "stęp",
    "stepien",
    "stępień józef",
    "",
    "król",
    "krol",
    "krolikowska",
    "",
    "a",
    "an",
    "ann",
    "anna k",
    "anna kow",
    "",
    "grzeg",
    "grzegorz w",
    "grzegorz wójcik",
    "",
    "2500",
    "250010",
    "",
    "szczep",
    "szczepańska",
    "szczepanski",
    "",
];

const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Andrzej",
    "Agnieszka",
    "Adam",
    "Maria",
    "Marek",
    "Małgorzata",
    "Michał",
    "Katarzyna",
    "Krzysztof",
    "Barbara",
    "Bartłomiej",
    "Ewa",
    "Łucja",
    "Łukasz",
    "Zofia",
    "Zbigniew",
    "Żaneta",
    "Jan",
    "Józef",
    "Joanna",
    "Piotr",
    "Paweł",
    "Tomasz",
    "Grzegorz",
    "Jakub",
    "Mateusz",
    "Stanisław",
    "Zdzisław",
    "Dorota",
];

const LAST_NAMES: &[&str] = &[
    "Nowak",
    "Nowakowski",
    "Nowakowska",
    "Nowicki",
    "Nowicka",
    "Kowalski",
    "Kowalska",
    "Kowalczyk",
    "Kowalewski",
    "Kowalewska",
    "Kowal",
    "Wiśniewski",
    "Wiśniewska",
    "Wójcik",
    "Wójtowicz",
    "Żółkiewski",
    "Żółkiewska",
    "Żółkowska",
    "Żółtowski",
    "Zieliński",
    "Zielińska",
    "Dąbrowski",
    "Dąbrowska",
    "Dąbek",
    "Zając",
    "Zając-Nowak",
    "Zajączkowski",
    "Lewandowski",
    "Lewandowska",
    "Lewicki",
    "Mazur",
    "Mazurek",
    "Mazurkiewicz",
    "Stępień",
    "Stępniak",
    "Król",
    "Królikowska",
    "Krawczyk",
    "Kamiński",
    "Kamińska",
    "Szczepański",
    "Szczepańska",
    "Szczepaniak",
    "Woźniak",
    "Kozłowski",
    "Jankowski",
    "Grabowski",
    "Pawłowski",
    "Michalski",
    "Jabłoński",
    "Wróbel",
    "Wróblewski",
    "Olszewski",
    "Malinowski",
    "Adamczyk",
    "Górski",
    "Pietrzak",
    "Sikora",
    "Walczak",
    "Łódzki",
];

/// One keystroke: a character typed, or Backspace.
#[derive(Clone, Copy)]
enum Stroke {
    Type(char),
    Backspace,
}

/// The timings of one keystroke.
struct Keystroke {
    /// (a), and its parts.
    key_frame: Frame,
    /// (b)
    query: Duration,
    /// (c)
    result_frame: Frame,
    /// People listed in the result frame.
    listed: usize,
}

#[derive(Default, Clone, Copy)]
struct Frame {
    /// Key events through the widget tree (only in (a)).
    events: Duration,
    update: Duration,
    /// `App::view` and the widget tree's build and layout.
    view_layout: Duration,
    /// Draw and rasterize the whole window.
    draw: Duration,
    total: Duration,
}

/// How the frames are made: the Simulator's way, or the runtime's.
trait Window {
    /// Sends `events` to the UI on screen; its messages, and the time the events took.
    fn key(&mut self, app: &App, events: Vec<Event>) -> (Vec<Message>, Duration);
    /// View, layout, draw and rasterize the app as it is now.
    fn frame(&mut self, app: &App, theme: &iced::Theme, timings: &mut Frame);
}

/// Pass 1: a new Simulator per frame.
struct Simulated;

impl Window for Simulated {
    fn key(&mut self, app: &App, events: Vec<Event>) -> (Vec<Message>, Duration) {
        // Not timed: the UI on screen, rebuilt, with the field focused by a click.
        let mut on_screen = Simulator::with_size(settings(false), WINDOW, app.view());
        on_screen
            .click(iced_test::selector::id(desk::SEARCH_ID))
            .expect("the search field");
        let started = Instant::now();
        let _ = on_screen.simulate(events);
        let messages = on_screen.into_messages().collect();
        (messages, started.elapsed())
    }

    fn frame(&mut self, app: &App, theme: &iced::Theme, timings: &mut Frame) {
        let started = Instant::now();
        let mut ui = Simulator::with_size(settings(false), WINDOW, app.view());
        timings.view_layout = started.elapsed();
        let started = Instant::now();
        drop(ui.snapshot(theme).expect("snapshot"));
        drop(ui);
        timings.draw = started.elapsed();
    }
}

/// Passes 2 and 3: one renderer, one widget tree and one pixel buffer kept between frames,
/// as iced_winit and the tiny-skia compositor do.
struct Kept {
    renderer: iced::Renderer,
    cache: user_interface::Cache,
    scale_factor: f32,
    /// The window's pixels (the compositor's surface buffer) and clip mask.
    pixels: Vec<u8>,
    clip_mask: tiny_skia::Mask,
    focused: bool,
    /// Whether a frame was looked at.
    checked: bool,
}

impl Kept {
    fn new(scale_factor: f32) -> Self {
        let renderer = iced::futures::executor::block_on(<iced::Renderer as Headless>::new(
            theme::REGULAR,
            Settings::default().default_text_size,
            Some("tiny-skia"),
        ))
        .expect("a tiny-skia renderer");
        let physical = Self::physical_size(scale_factor);
        Self {
            renderer,
            cache: user_interface::Cache::default(),
            scale_factor,
            pixels: vec![0; physical.width as usize * physical.height as usize * 4],
            clip_mask: tiny_skia::Mask::new(physical.width, physical.height).expect("a clip mask"),
            focused: false,
            checked: false,
        }
    }

    fn physical_size(scale_factor: f32) -> Size<u32> {
        Size::new(
            (WINDOW.width * scale_factor).round() as u32,
            (WINDOW.height * scale_factor).round() as u32,
        )
    }
}

impl Window for Kept {
    fn key(&mut self, app: &App, events: Vec<Event>) -> (Vec<Message>, Duration) {
        // Not timed: the UI on screen, rebuilt from its cache (the same tree and layout;
        // iced_winit keeps the built UI itself, which borrows the app).
        let mut ui = UserInterface::build(
            app.view(),
            WINDOW,
            std::mem::take(&mut self.cache),
            &mut self.renderer,
        );
        if !self.focused {
            // The desk focuses the field with an operation when it opens.
            ui.operate(
                &self.renderer,
                &mut focusable::focus::<()>(desk::SEARCH_ID.into()),
            );
            self.focused = true;
        }
        let started = Instant::now();
        let mut messages = Vec::new();
        let _ = ui.update(
            &events,
            mouse::Cursor::Unavailable,
            &mut self.renderer,
            &mut clipboard::Null,
            &mut messages,
        );
        self.cache = ui.into_cache();
        (messages, started.elapsed())
    }

    fn frame(&mut self, app: &App, theme: &iced::Theme, timings: &mut Frame) {
        let started = Instant::now();
        let mut ui = UserInterface::build(
            app.view(),
            WINDOW,
            std::mem::take(&mut self.cache),
            &mut self.renderer,
        );
        timings.view_layout = started.elapsed();
        let started = Instant::now();
        let mut messages = Vec::new();
        let _ = ui.update(
            &[Event::Window(
                window::Event::RedrawRequested(Instant::now()),
            )],
            mouse::Cursor::Unavailable,
            &mut self.renderer,
            &mut clipboard::Null,
            &mut messages,
        );
        let base = theme.base();
        ui.draw(
            &mut self.renderer,
            theme,
            &renderer::Style {
                text_color: base.text_color,
            },
            mouse::Cursor::Unavailable,
        );
        self.cache = ui.into_cache();
        // The compositor's present, with the whole window as the damage.
        let physical = Self::physical_size(self.scale_factor);
        let mut pixmap =
            tiny_skia::PixmapMut::from_bytes(&mut self.pixels, physical.width, physical.height)
                .expect("the window's pixels");
        self.renderer.draw(
            &mut pixmap,
            &mut self.clip_mask,
            &Viewport::with_physical_size(physical, self.scale_factor),
            &[Rectangle::with_size(WINDOW)],
            base.background_color,
        );
        timings.draw = started.elapsed();
        assert!(messages.is_empty(), "a redraw sends nothing");
        if !self.checked {
            // Not timed, once: the frame holds more than the background (text, the field).
            let mut colours: Vec<&[u8]> = self.pixels.chunks_exact(4).collect();
            colours.sort_unstable();
            colours.dedup();
            assert!(colours.len() > 50, "a drawn window, not a blank one");
            self.checked = true;
        }
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // SAFETY: set before any other thread starts. The desk's set-up and photo lookup look
    // under the data directory: keep them in ours. The Simulator draws with tiny-skia, as the
    // stations do.
    unsafe {
        std::env::set_var("XDG_DATA_HOME", dir.path());
        std::env::set_var("ICED_TEST_BACKEND", "tiny-skia");
    }
    let database = dir.path().join("desk.sqlite");

    let started = Instant::now();
    fill_store(&database);
    let fill_time = started.elapsed();

    // The fonts go into iced's global font system once, as the window loads them at start.
    drop(Simulator::<'_, Message>::with_size(
        settings(true),
        WINDOW,
        iced::widget::space(),
    ));
    let renderer_alone = renderer_creation();

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let passes = [
        (
            "1. Simulator: new renderer and widget tree per frame, scale factor 2",
            typing(&runtime, &database, &mut Simulated),
        ),
        (
            "2. as iced's runtime: renderer and widget tree kept, scale factor 1",
            typing(&runtime, &database, &mut Kept::new(1.0)),
        ),
        (
            "3. as iced's runtime: renderer and widget tree kept, scale factor 2",
            typing(&runtime, &database, &mut Kept::new(2.0)),
        ),
    ];

    report_machine(fill_time, &passes[0].1);
    for (title, measured) in &passes {
        println!();
        report(title, measured);
    }
    println!();
    println!(
        "pass 1 also counts a new tiny-skia renderer per frame ({:.0} µs median alone, then an empty glyph cache)",
        renderer_alone.as_secs_f64() * 1e6
    );
    println!(
        "every pass rasterizes the whole window per frame (pass 1 also copies it out); none hands it to a screen"
    );
}

/// Signs in at a new window on the store and types [`SCRIPT`], measuring every keystroke.
fn typing(
    runtime: &tokio::runtime::Runtime,
    database: &Path,
    window: &mut dyn Window,
) -> Vec<Keystroke> {
    let mut profile = Profile::parse(
        &format!(
            "role = \"issuance\"\ndatabase = \"{}\"\n",
            database.display()
        ),
        "desk_typing bench",
    )
    .expect("profile");
    profile.ui.language = Some(Language::En);
    let (mut app, _boot) = App::boot(profile, Some(database.to_owned()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.to_owned(), false));
    send(runtime, &mut app, Message::StoreOpened(opened));
    sign_in(runtime, &mut app, OPERATOR.0, OPERATOR.1);
    assert!(app.desk.is_some(), "the bench operator signed in");

    let theme = theme::theme();
    let mut expected = String::new();
    let mut measured = Vec::new();
    for stroke in keystrokes() {
        match stroke {
            Stroke::Type(c) => expected.push(c),
            Stroke::Backspace => {
                expected.pop();
            }
        }
        measured.push(keystroke(runtime, &mut app, &theme, window, stroke));
        let desk = app.desk.as_ref().expect("still at the desk");
        assert_eq!(desk.query, expected, "the field took the keystroke");
        assert!(desk.problem.is_none(), "search failed: {:?}", desk.problem);
    }
    measured
}

/// The simulator's settings: the window's fonts the first time, none after (already loaded).
fn settings(load_fonts: bool) -> Settings {
    if load_fonts {
        ui_harness::settings()
    } else {
        Settings {
            fonts: Vec::new(),
            ..ui_harness::settings()
        }
    }
}

/// The keystrokes that take the field through [`SCRIPT`].
fn keystrokes() -> Vec<Stroke> {
    let mut strokes = Vec::new();
    let mut field = String::new();
    for &next in SCRIPT {
        while !next.starts_with(field.as_str()) {
            field.pop();
            strokes.push(Stroke::Backspace);
        }
        for c in next[field.len()..].chars() {
            strokes.push(Stroke::Type(c));
        }
        field = next.to_owned();
    }
    strokes
}

/// Types one key into the desk's search field and measures (a), (b) and (c).
fn keystroke(
    runtime: &tokio::runtime::Runtime,
    app: &mut App,
    theme: &iced::Theme,
    window: &mut dyn Window,
    stroke: Stroke,
) -> Keystroke {
    let events: Vec<Event> = match stroke {
        Stroke::Type(c) => {
            let text = SmolStr::new(c.to_string());
            simulator::tap_key(Key::Character(text.clone()), Some(text)).collect()
        }
        Stroke::Backspace => simulator::tap_key(Key::Named(Named::Backspace), None).collect(),
    };

    // (a) The keystroke's frame.
    let mut key_frame = Frame::default();
    let (messages, events_took) = window.key(app, events);
    key_frame.events = events_took;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for message in messages {
        assert!(
            matches!(message, Message::Desk(desk::Message::QueryChanged(_))),
            "a keystroke in the field changes the query: {message:?}"
        );
        tasks.push(app.update(message));
    }
    key_frame.update = started.elapsed();
    assert_eq!(tasks.len(), 1, "one query per keystroke");
    window.frame(app, theme, &mut key_frame);
    key_frame.total = key_frame.events + key_frame.update + key_frame.view_layout + key_frame.draw;

    // (b) The query, on tokio's blocking pool.
    let started = Instant::now();
    let mut results = Vec::new();
    for task in tasks {
        results.extend(run(runtime, task));
    }
    let query = started.elapsed();

    // (c) The results' frame.
    let mut result_frame = Frame::default();
    let started = Instant::now();
    let mut more = Vec::new();
    for message in results {
        assert!(
            matches!(message, Message::Desk(desk::Message::Searched { .. })),
            "the query answers with its results: {message:?}"
        );
        more.push(app.update(message));
    }
    result_frame.update = started.elapsed();
    window.frame(app, theme, &mut result_frame);
    result_frame.total = result_frame.update + result_frame.view_layout + result_frame.draw;
    for task in more {
        assert!(run(runtime, task).is_empty(), "results start nothing more");
    }

    Keystroke {
        key_frame,
        query,
        result_frame,
        listed: app.desk.as_ref().map_or(0, |desk| desk.hits.len()),
    }
}

/// What a Simulator costs before any widget: a new tiny-skia renderer and an empty layout.
/// The real window makes its renderer once.
fn renderer_creation() -> Duration {
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let started = Instant::now();
            drop(Simulator::<'_, Message>::with_size(
                settings(false),
                WINDOW,
                iced::widget::space(),
            ));
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

fn report_machine(fill_time: Duration, measured: &[Keystroke]) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|name| name.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let build = if cfg!(debug_assertions) {
        "debug build (numbers not representative)"
    } else {
        "release build (bench profile)"
    };
    println!(
        "machine: {cores} cores available, {cpu}; {build}; load average after the passes {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "store: {PEOPLE} people + cardholders in a SQLite file (filled in {:.1} s); window {}x{}, tiny-skia",
        fill_time.as_secs_f64(),
        WINDOW.width,
        WINDOW.height
    );
    let listed: usize = measured.iter().map(|k| k.listed).sum();
    println!(
        "per pass: {} keystrokes ({} of them Backspace), {:.1} people listed per result frame on average",
        measured.len(),
        count_backspaces(),
        listed as f64 / measured.len() as f64
    );
}

fn report(title: &str, measured: &[Keystroke]) {
    println!("{title}");
    println!("  per keystroke                                 p50       p99       max  > 16 ms");
    let line = |label: &str, times: Vec<Duration>, frames: bool| {
        let over = times.iter().filter(|t| **t > FRAME_BUDGET).count();
        let (p50, p99, max) = percentiles(times);
        let over = if frames {
            format!("{over:>7}")
        } else {
            String::new()
        };
        println!(
            "  {label:<40} {:>6.2} ms {:>6.2} ms {:>6.2} ms{over}",
            ms(p50),
            ms(p99),
            ms(max)
        );
    };
    let parts = |pick: fn(&Keystroke) -> Frame, part: fn(&Frame) -> Duration| {
        measured.iter().map(|k| part(&pick(k))).collect::<Vec<_>>()
    };
    let key = |k: &Keystroke| k.key_frame;
    let result = |k: &Keystroke| k.result_frame;
    line(
        "(a) UI thread, keystroke frame",
        parts(key, |f| f.total),
        true,
    );
    line(
        "    key events through the widgets",
        parts(key, |f| f.events),
        false,
    );
    line("    App::update", parts(key, |f| f.update), false);
    line("    view + layout", parts(key, |f| f.view_layout), false);
    line("    draw + rasterize", parts(key, |f| f.draw), false);
    line(
        "(b) query task until its result message",
        measured.iter().map(|k| k.query).collect(),
        false,
    );
    line(
        "(c) UI thread, results frame",
        parts(result, |f| f.total),
        true,
    );
    line("    App::update", parts(result, |f| f.update), false);
    line("    view + layout", parts(result, |f| f.view_layout), false);
    line("    draw + rasterize", parts(result, |f| f.draw), false);
    let over: usize = measured
        .iter()
        .map(|k| {
            usize::from(k.key_frame.total > FRAME_BUDGET)
                + usize::from(k.result_frame.total > FRAME_BUDGET)
        })
        .sum();
    println!(
        "  frames over 16 ms: {over} of {} ((a) and (c) together)",
        2 * measured.len()
    );
}

fn count_backspaces() -> usize {
    keystrokes()
        .iter()
        .filter(|s| matches!(s, Stroke::Backspace))
        .count()
}

fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration, Duration) {
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), times[times.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn fill_store(path: &Path) {
    let mut store = Store::open(path).expect("store");
    let first_birthday = Date::from_calendar_date(1998, time::Month::January, 1).expect("date");
    let rows: Vec<ImportedPerson> = (0..PEOPLE)
        .map(|n| {
            let last_name = LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()];
            // A woman's first name with a man's surname and the other way round happens
            // here; it does not matter to the search.
            let first_name = FIRST_NAMES[n % FIRST_NAMES.len()];
            let birth_date = first_birthday + time::Duration::days((n % 2_500) as i64);
            ImportedPerson {
                line: n as u64 + 2,
                person: PersonFields {
                    person_number: Some(format!("P-{n:07}")),
                    first_name: first_name.into(),
                    middle_name: (n % 7 == 0)
                        .then(|| FIRST_NAMES[(n / 7) % FIRST_NAMES.len()].into()),
                    last_name: last_name.into(),
                    birth_date,
                    phone_number: None,
                    mobile_number: None,
                    album_number: Some(format!("{:06}", 200_000 + n)),
                    pesel: Some(pesel_of(birth_date, n)),
                },
                email: None,
            }
        })
        .collect();
    let report = store
        .import_persons("bench", "bench", &rows)
        .expect("import");
    assert_eq!(report.imported, PEOPLE, "every person imported");
    store
        .set_operator(OPERATOR.0, OperatorRole::Operator, OPERATOR.1, "bench")
        .expect("operator");
}

/// A valid PESEL for `birth_date`; `n` makes the serial unique.
fn pesel_of(birth_date: Date, n: usize) -> String {
    let year = birth_date.year();
    let month = u8::from(birth_date.month()) + if year >= 2000 { 20 } else { 0 };
    let first_ten = format!(
        "{:02}{month:02}{:02}{:04}",
        year % 100,
        birth_date.day(),
        n / 2_500
    );
    pesel::with_check_digit(&first_ten).expect("ten digits")
}
