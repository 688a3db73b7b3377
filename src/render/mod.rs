//! What the print station prints: barcodes (`barcode`) and card faces built from layout
//! templates (`layout`), rendered to PNG at the printers' 300 dpi and to PDF at card size.

pub mod barcode;
pub mod card;
pub mod cups;
pub mod face;
pub mod layout;
pub mod photo;
pub mod portrait;

/// Card printers (Evolis, Zebra, Fargo) print at 300 dpi; every raster we make uses it.
pub const DPI: f64 = 300.0;

/// Millimetres to printer dots at [`DPI`].
pub fn mm_to_px(mm: f64) -> f64 {
    mm / 25.4 * DPI
}

/// Printer dots at [`DPI`] to millimetres.
pub fn px_to_mm(px: f64) -> f64 {
    px * 25.4 / DPI
}

/// Encodes 8-bit pixels as PNG tagged with 300 dpi, so other tools print them at true size.
fn encode_png(
    width: u32,
    height: u32,
    color: png::ColorType,
    pixels: &[u8],
) -> Result<Vec<u8>, png::EncodingError> {
    let dots_per_metre = (DPI / 0.0254).round() as u32;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_pixel_dims(Some(png::PixelDimensions {
        xppu: dots_per_metre,
        yppu: dots_per_metre,
        unit: png::Unit::Meter,
    }));
    let mut writer = encoder.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()?;
    Ok(out)
}
