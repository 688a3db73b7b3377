//! `barcode` and `render`: a barcode or one card face from a layout and card data (JSON),
//! written as PNG (300 dpi), SVG (barcodes) or PDF (card faces).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use cardstation::render::barcode::{Barcode, BarcodeSize, Symbology};
use cardstation::render::card::{CardFormat, CardRenderer, RenderError};
use cardstation::render::face::CardFace;
use cardstation::render::layout::{Layout, SideName};

use super::Failure;

#[derive(Args)]
pub struct BarcodeArgs {
    /// code128, code39, ean13 (12 digits: check digit added; 13: checked), itf, codabar or qr.
    #[arg(long)]
    symbology: Symbology,
    /// The value to encode.
    data: String,
    /// Output file: .png (300 dpi) or .svg.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Module (narrowest bar) width in printer pixels at 300 dpi; 3 px = 0.254 mm.
    #[arg(long, value_name = "N", default_value_t = 3)]
    module_px: u32,
    /// Bar height of linear codes in millimetres (QR modules are square).
    #[arg(long, value_name = "H", default_value_t = 10.0)]
    height_mm: f64,
}

#[derive(Args)]
pub struct RenderArgs {
    /// Card layout (TOML); samples in profiles/layouts/.
    #[arg(long, value_name = "FILE.toml")]
    layout: PathBuf,
    /// Card data (JSON: first_name, last_name, album_number, card_number, expires, photo, ...).
    #[arg(long, value_name = "FACE.json")]
    data: PathBuf,
    #[arg(long, value_enum, default_value_t = Side::Front)]
    side: Side,
    /// Output file: .png (1012 × 638, 300 dpi) or .pdf (85.60 × 53.98 mm page).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Side {
    Front,
    Back,
}

pub fn barcode(args: &BarcodeArgs) -> Result<(), Failure> {
    let invalid = |err: cardstation::render::barcode::BarcodeError| {
        Failure::new(
            err.to_string(),
            "change the data or pick another --symbology",
        )
    };
    let size = BarcodeSize::new(args.module_px, args.height_mm)
        .map_err(|err| Failure::new(err.to_string(), "adjust --module-px or --height-mm"))?;
    let code = Barcode::encode(args.symbology, &args.data).map_err(invalid)?;
    let bytes = match extension(&args.out).as_deref() {
        Some("png") => code.png(&size).map_err(invalid)?,
        Some("svg") => code.svg(&size).into_bytes(),
        _ => return Err(wrong_extension(&args.out, ".png or .svg")),
    };
    write_output(&args.out, &bytes)?;
    println!(
        "{} {:?} -> {}",
        code.symbology(),
        code.text(),
        args.out.display()
    );
    Ok(())
}

pub fn render(args: &RenderArgs) -> Result<(), Failure> {
    let format = match extension(&args.out).as_deref() {
        Some("png") => CardFormat::Png,
        Some("pdf") => CardFormat::Pdf,
        _ => return Err(wrong_extension(&args.out, ".png or .pdf")),
    };
    let layout =
        Layout::load(&args.layout).map_err(|err| Failure::new(err.to_string(), err.next_step()))?;
    let face = CardFace::load(&args.data).map_err(|cause| {
        Failure::new(
            cause,
            "fix the JSON; keys are the CardFace fields (first_name, last_name, album_number, \
             card_number, university, expires as YYYY-MM-DD, photo, extra, ...)",
        )
    })?;
    let side = match args.side {
        Side::Front => SideName::Front,
        Side::Back => SideName::Back,
    };
    let render_failure = |err: RenderError| Failure::new(err.to_string(), err.next_step());
    let renderer = CardRenderer::new().map_err(render_failure)?;
    let bytes = renderer
        .render(&layout, &face, side, format)
        .map_err(render_failure)?;
    write_output(&args.out, &bytes)?;
    println!("{} {side} -> {}", layout.name, args.out.display());
    Ok(())
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase)
}

fn wrong_extension(path: &Path, allowed: &str) -> Failure {
    Failure::new(
        format!("cannot tell the output format of {}", path.display()),
        format!("name the --out file with {allowed}"),
    )
}

fn write_output(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|err| {
        Failure::new(
            format!("cannot write {}: {err}", path.display()),
            "check that the folder exists and is writable",
        )
    })
}
