//! `barcode` and `render`: a barcode or one card face from a layout and card data (JSON),
//! written as PNG (300 dpi), SVG (barcodes) or PDF (card faces).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use cardstation::config::Profile;
use cardstation::render::barcode::{Barcode, BarcodeSize, Symbology};
use cardstation::render::card::{CardFormat, CardRenderer};
use cardstation::render::face::CardFace;
use cardstation::render::layout::SideName;
use cardstation::station::print;
use cardstation::store::Store;

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
#[command(group(clap::ArgGroup::new("source").required(true).args(["data", "cardholder", "production"])))]
pub struct RenderArgs {
    /// Card layout (TOML); samples in profiles/layouts/. Default: the profile's [printer] layout.
    #[arg(long, value_name = "FILE.toml")]
    layout: Option<PathBuf>,
    /// Card data (JSON: first_name, last_name, album_number, card_number, expires, photo, ...).
    #[arg(long, value_name = "FACE.json")]
    data: Option<PathBuf>,
    /// A store cardholder, with their latest card.
    #[arg(long, value_name = "ID")]
    cardholder: Option<i64>,
    /// A store production: the card exactly as the print queue prints it.
    #[arg(long, value_name = "ID")]
    production: Option<i64>,
    /// One side; default: front for PNG; for PDF the front and, from the store, the back
    /// (when the layout has one) as page 2.
    #[arg(long, value_enum)]
    side: Option<Side>,
    /// Output file: .png (1012 × 638, 300 dpi) or .pdf (85.60 × 53.98 mm pages).
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

pub fn render(args: &RenderArgs, profile: &Profile, db: &Path) -> Result<(), Failure> {
    let format = match extension(&args.out).as_deref() {
        Some("png") => CardFormat::Png,
        Some("pdf") => CardFormat::Pdf,
        _ => return Err(wrong_extension(&args.out, ".png or .pdf")),
    };
    let printer = profile.printer.as_ref();
    let layout_path = args
        .layout
        .as_deref()
        .or(printer.map(|printer| printer.layout.as_path()))
        .ok_or_else(|| {
            Failure::new(
                "no card layout given",
                "pass --layout FILE.toml, or use a profile with a [printer] layout",
            )
        })?;
    let layout = super::print::load_layout(layout_path)?;
    let (face, from_store) = match (&args.data, args.cardholder, args.production) {
        (Some(data), _, _) => (load_face(data)?, false),
        (None, cardholder, production) => {
            (face_from_store(profile, db, cardholder, production)?, true)
        }
    };
    let sides: Vec<SideName> = match (args.side, format, from_store) {
        (Some(Side::Front), ..) => vec![SideName::Front],
        (Some(Side::Back), ..) => vec![SideName::Back],
        (None, CardFormat::Pdf, true) => print::printed_sides(&layout).to_vec(),
        (None, ..) => vec![SideName::Front],
    };
    let render_failure = Failure::from;
    let renderer = CardRenderer::new().map_err(render_failure)?;
    let bytes = match (format, sides.as_slice()) {
        (CardFormat::Png, [side]) | (CardFormat::Pdf, [side]) => renderer
            .render(&layout, &face, *side, format)
            .map_err(render_failure)?,
        _ => renderer
            .pdf_pages(&layout, &face, &sides)
            .map_err(render_failure)?,
    };
    write_output(&args.out, &bytes)?;
    let names: Vec<String> = sides.iter().map(ToString::to_string).collect();
    println!(
        "{} {} -> {}",
        layout.name,
        names.join("+"),
        args.out.display()
    );
    Ok(())
}

fn load_face(path: &Path) -> Result<CardFace, Failure> {
    CardFace::load(path).map_err(|cause| {
        Failure::new(
            cause,
            "fix the JSON; keys are the CardFace fields (first_name, last_name, album_number, \
             card_number, university, expires as YYYY-MM-DD, photo, extra, ...)",
        )
    })
}

/// The face of a store cardholder (with their latest card) or of a production's card.
fn face_from_store(
    profile: &Profile,
    db: &Path,
    cardholder: Option<i64>,
    production: Option<i64>,
) -> Result<CardFace, Failure> {
    let store = Store::open(db)?;
    let university = profile
        .els
        .as_ref()
        .and_then(|els| els.university.as_deref())
        .unwrap_or_default();
    let photos = cardstation::station::photo::folder(profile, &cardstation::config::data_dir())
        .map_err(|err| {
            Failure::new(
                format!("the demo photos cannot be made: {err}"),
                "check that the data directory is writable",
            )
        })?;
    let not_found = |cause| Failure::new(cause, "check the id with `cardstation status`");
    let (cardholder_id, card) = match (production, cardholder) {
        (Some(id), _) => {
            let production = store.get_production(id)?;
            return print::production_face(&store, &production, university, photos.as_deref())
                .map(|found| found.face)
                .map_err(|err| not_found(err.to_string()));
        }
        (None, Some(id)) => (id, store.cards_of_cardholder(id)?.into_iter().next()),
        (None, None) => {
            return Err(Failure::new(
                "no card data given",
                "pass --data FILE.json, --cardholder ID or --production ID",
            ));
        }
    };
    let (face, _) = print::card_face(
        &store,
        cardholder_id,
        card.as_ref(),
        None,
        university,
        photos.as_deref(),
    )
    .map_err(|err| not_found(err.to_string()))?;
    Ok(face)
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
