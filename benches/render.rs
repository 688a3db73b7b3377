//! Time to draw one card face (ELS sample layout, Polish names, photo, barcode) to a 300 dpi
//! PNG and to a card-size PDF: median of 20 runs after a warm-up. Goal: < 50 ms per side.
//!
//!     CARGO_PROFILE_BENCH_DEBUG_ASSERTIONS=true cargo bench --no-default-features --bench render
//!
//! (Without `gui`, the dev-dependency iced_test refuses release builds unless debug
//! assertions are on; they do not touch the render path.)

use std::path::Path;
use std::time::{Duration, Instant};

use cardstation::render::card::{CardFormat, CardRenderer};
use cardstation::render::face::CardFace;
use cardstation::render::layout::{Layout, SideName};

const RUNS: usize = 20;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(mut render: impl FnMut() -> usize) -> (Duration, usize) {
    let bytes = render();
    let samples = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            render();
            started.elapsed()
        })
        .collect();
    (median(samples), bytes)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layout = Layout::load(&root.join("profiles/layouts/els-student.toml")).unwrap();
    let face = CardFace::load(&root.join("tests/fixtures/render/student.json")).unwrap();
    let renderer = CardRenderer::new().unwrap();
    let (png, png_bytes) = time(|| {
        renderer
            .render(&layout, &face, SideName::Front, CardFormat::Png)
            .unwrap()
            .len()
    });
    let (pdf, pdf_bytes) = time(|| {
        renderer
            .render(&layout, &face, SideName::Front, CardFormat::Pdf)
            .unwrap()
            .len()
    });
    println!("card face to PNG 1012x638: p50 {png:.1?} over {RUNS} runs ({png_bytes} bytes)");
    println!("card face to PDF:          p50 {pdf:.1?} over {RUNS} runs ({pdf_bytes} bytes)");
}
