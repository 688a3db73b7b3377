//! `cardstation barcode` and `cardstation render` run as a station would: files in, files
//! out, exit 1 with a cause and a next step on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cardstation(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(args)
        .output()
        .unwrap()
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

fn png_size(path: &PathBuf) -> (u32, u32) {
    let file = std::fs::File::open(path).unwrap();
    let reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    (reader.info().width, reader.info().height)
}

#[test]
fn barcode_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("ean.png");
    let out = cardstation(&[
        "barcode",
        "--symbology",
        "ean13",
        "590123412345",
        "--out",
        png.to_str().unwrap(),
        "--height-mm",
        "15",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("5901234123457"));
    // (11 + 95 + 7) modules × 3 px; 15 mm at 300 dpi.
    assert_eq!(png_size(&png), (339, 177));

    let svg = dir.path().join("qr.svg");
    let out = cardstation(&[
        "barcode",
        "--symbology",
        "qr",
        "https://karta.example.edu/p/1",
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}

#[test]
fn bad_barcode_data_exits_1_with_cause_and_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = cardstation(&[
        "barcode",
        "--symbology",
        "ean13",
        "5901234123450",
        "--out",
        dir.path().join("x.png").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("check digit of 590123412345 is 7, not 0"),
        "{stderr}"
    );
    assert!(stderr.contains("next step:"), "{stderr}");

    let out = cardstation(&["barcode", "--symbology", "upc", "1", "--out", "x.png"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "unknown symbology is a usage error"
    );
}

/// `cardstation render` of `layout` and `data` to `out`, with any further arguments.
fn render(layout: &str, data: &str, out: &Path, more: &[&str]) -> Output {
    let mut args = vec!["render", "--layout", layout, "--data", data];
    args.extend_from_slice(more);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    cardstation(&args)
}

#[test]
fn render_writes_png_and_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let layout = repo("profiles/layouts/els-student.toml");
    let data = repo("tests/fixtures/render/student.json");
    let png = dir.path().join("front.png");
    let out = render(&layout, &data, &png, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(png_size(&png), (1012, 638));

    let pdf = dir.path().join("back.pdf");
    let out = render(&layout, &data, &pdf, &["--side", "back"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"));
}

#[test]
fn render_explains_bad_layouts_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let out_png = dir.path().join("x.png");
    let layout = dir.path().join("bad.toml");
    std::fs::write(&layout, "name = \"x\"\nfront = {}\nback = {}\nsize = 3\n").unwrap();
    let student = repo("tests/fixtures/render/student.json");
    let out = render(layout.to_str().unwrap(), &student, &out_png, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `size`"), "{stderr}");

    let data = dir.path().join("face.json");
    std::fs::write(&data, r#"{"first_name": "Anna", "photo": "missing.jpg"}"#).unwrap();
    let els_layout = repo("profiles/layouts/els-student.toml");
    let out = render(&els_layout, data.to_str().unwrap(), &out_png, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read") && stderr.contains("missing.jpg"),
        "{stderr}"
    );
}

/// zbarimg (Debian's zbar-tools) on PATH; under CI=true its absence fails the test.
fn zbarimg_available() -> bool {
    let found = Command::new("zbarimg").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "zbarimg is missing; run scripts/setup.sh (apt-get install zbar-tools)"
        );
        eprintln!("skipping: zbarimg is missing; run scripts/setup.sh");
    }
    found
}

#[test]
fn barcodes_decode_back_with_zbarimg() {
    if !zbarimg_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // (symbology, data given, what a scanner reads, zbar's name for it)
    let cases = [
        ("code128", "ELS-2026-004512", "ELS-2026-004512", "CODE-128"),
        ("code39", "LEG412345", "LEG412345", "CODE-39"),
        ("ean13", "590123412345", "5901234123457", "EAN-13"),
        ("ean13", "4006381333931", "4006381333931", "EAN-13"),
        ("itf", "00412345678905", "00412345678905", "I2/5"),
        ("codabar", "A412345B", "A412345B", "Codabar"),
        ("codabar", "C40156D", "C40156D", "Codabar"),
        (
            "qr",
            "https://karta.example.edu/p/Łódź",
            "https://karta.example.edu/p/Łódź",
            "QR-Code",
        ),
    ];
    for (index, (symbology, data, expected, zbar_name)) in cases.iter().enumerate() {
        let png = dir.path().join(format!("{index}-{symbology}.png"));
        let out = cardstation(&[
            "barcode",
            "--symbology",
            symbology,
            data,
            "--out",
            png.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{symbology}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let decoded = Command::new("zbarimg")
            .args(["--quiet", png.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&decoded.stdout);
        assert_eq!(
            text.trim_end(),
            format!("{zbar_name}:{expected}"),
            "{symbology} {data:?}: {}",
            String::from_utf8_lossy(&decoded.stderr)
        );
    }
    for (symbology, bad) in [
        ("ean13", "59012341234"),
        ("itf", "12A4"),
        ("code39", "lower"),
        ("codabar", "A12X45B"),
    ] {
        let out = cardstation(&[
            "barcode",
            "--symbology",
            symbology,
            bad,
            "--out",
            dir.path().join("bad.png").to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{symbology} {bad:?} is refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("next step:"));
    }
}
