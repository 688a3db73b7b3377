//! Card faces: a layout side filled with a `CardFace` becomes an SVG (built here, in
//! millimetres), parsed once by usvg, then rasterised by resvg (PNG, 1012 × 638) or written
//! by svg2pdf (PDF at the exact card size). Only the embedded DejaVu fonts are loaded, so
//! every station prints the same glyphs whatever fonts its system has.

use std::sync::Arc;

use base64::Engine as _;
use resvg::tiny_skia;
use resvg::usvg;

use super::barcode::{self, Barcode};
use super::encode_png;
use super::face::CardFace;
use super::layout::{
    Align, Background, CARD_HEIGHT_MM, CARD_WIDTH_MM, Element, FontWeight, Frame,
    GradientDirection, ImageFit, Layout, Picture, SideName,
};
use crate::error::Problem;

const REGULAR_FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const BOLD_FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");
const FONT_FAMILY: &str = "DejaVu Sans";

/// CR80 at 300 dpi, as card printer drivers take it.
pub const PNG_WIDTH: u32 = 1012;
pub const PNG_HEIGHT: u32 = 638;
/// 300 dpi, stretched by under 0.1 % so the card's edges fall on whole pixels.
const PX_PER_MM_X: f64 = PNG_WIDTH as f64 / CARD_WIDTH_MM;
const PX_PER_MM_Y: f64 = PNG_HEIGHT as f64 / CARD_HEIGHT_MM;
/// usvg's unit: CSS pixels at 96 dpi; svg2pdf needs the same value to size the page.
const USVG_DPI: f32 = 96.0;
/// Fit-to-box stops here: smaller text is unreadable on a printed card.
const MIN_FONT_PT: f64 = 4.0;
const MM_PER_PT: f64 = 25.4 / 72.0;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{side} element {index} ({kind}): {message}")]
    Element {
        side: SideName,
        index: usize,
        kind: &'static str,
        message: String,
    },
    #[error("the card could not be drawn: {0}")]
    Draw(String),
}

impl Problem for RenderError {
    fn next_step(&self) -> &'static str {
        match self {
            RenderError::Element { .. } => {
                "fix the card holder's data, or widen the layout element named"
            }
            RenderError::Draw(_) => "report this with the layout and the data used",
        }
    }
}

/// Draws card faces; holds the fonts, so make one and reuse it.
pub struct CardRenderer {
    options: usvg::Options<'static>,
    regular: ttf_parser::Face<'static>,
    bold: ttf_parser::Face<'static>,
}

impl CardRenderer {
    pub fn new() -> Result<Self, RenderError> {
        let parse = |bytes| {
            ttf_parser::Face::parse(bytes, 0)
                .map_err(|err| RenderError::Draw(format!("embedded font unreadable: {err}")))
        };
        let mut fonts = usvg::fontdb::Database::new();
        fonts.load_font_data(REGULAR_FONT.to_vec());
        fonts.load_font_data(BOLD_FONT.to_vec());
        let options = usvg::Options {
            dpi: USVG_DPI,
            font_family: FONT_FAMILY.into(),
            fontdb: Arc::new(fonts),
            ..usvg::Options::default()
        };
        Ok(CardRenderer {
            options,
            regular: parse(REGULAR_FONT)?,
            bold: parse(BOLD_FONT)?,
        })
    }

    /// The side as an SVG document in millimetres.
    pub fn svg(
        &self,
        layout: &Layout,
        face: &CardFace,
        side: SideName,
    ) -> Result<String, RenderError> {
        let layout_side = layout.side(side);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" \
             width=\"{CARD_WIDTH_MM}mm\" height=\"{CARD_HEIGHT_MM}mm\" \
             viewBox=\"0 0 {CARD_WIDTH_MM} {CARD_HEIGHT_MM}\">\n"
        );
        svg.push_str(&background_svg(&layout_side.background));
        for (index, element) in layout_side.elements.iter().enumerate() {
            let drawn =
                self.element_svg(element, index, face)
                    .map_err(|message| RenderError::Element {
                        side,
                        index: index + 1,
                        kind: element.kind(),
                        message,
                    })?;
            svg.push_str(&drawn);
        }
        svg.push_str("</svg>\n");
        Ok(svg)
    }

    /// The side parsed by usvg, checked that every picture was decoded (usvg leaves
    /// undecodable images out silently).
    pub fn tree(
        &self,
        layout: &Layout,
        face: &CardFace,
        side: SideName,
    ) -> Result<usvg::Tree, RenderError> {
        let svg = self.svg(layout, face, side)?;
        let tree = usvg::Tree::from_str(&svg, &self.options)
            .map_err(|err| RenderError::Draw(err.to_string()))?;
        for (index, element) in layout.side(side).elements.iter().enumerate() {
            let is_picture = matches!(element, Element::Photo { .. } | Element::Image { .. });
            if is_picture && tree.node_by_id(&picture_id(index)).is_none() {
                return Err(RenderError::Element {
                    side,
                    index: index + 1,
                    kind: element.kind(),
                    message: "the picture could not be decoded (damaged PNG/JPEG?)".into(),
                });
            }
        }
        Ok(tree)
    }

    /// The side as a 1012 × 638 RGB PNG tagged 300 dpi, or as a one-page PDF of exactly
    /// 85.60 × 53.98 mm with vector text and the fonts embedded.
    pub fn render(
        &self,
        layout: &Layout,
        face: &CardFace,
        side: SideName,
        format: CardFormat,
    ) -> Result<Vec<u8>, RenderError> {
        let tree = self.tree(layout, face, side)?;
        match format {
            CardFormat::Png => png_of(&tree),
            CardFormat::Pdf => svg2pdf::to_pdf(
                &tree,
                svg2pdf::ConversionOptions::default(),
                svg2pdf::PageOptions { dpi: USVG_DPI },
            )
            .map_err(|err| RenderError::Draw(format!("PDF conversion: {err}"))),
        }
    }

    /// The side as RGBA pixels `width` wide (height in the card's proportions), for an
    /// on-screen preview. The background covers the card, so every pixel is opaque.
    pub fn rgba(
        &self,
        layout: &Layout,
        face: &CardFace,
        side: SideName,
        width: u32,
    ) -> Result<(u32, u32, Vec<u8>), RenderError> {
        let tree = self.tree(layout, face, side)?;
        let height = (f64::from(width) * CARD_HEIGHT_MM / CARD_WIDTH_MM).round() as u32;
        Ok((width, height, pixmap_of(&tree, width, height)?.take()))
    }

    /// The given sides as the pages of one PDF, each exactly 85.60 × 53.98 mm: what a card
    /// printer's driver takes for a double-sided card (page 1 front, page 2 back).
    pub fn pdf_pages(
        &self,
        layout: &Layout,
        face: &CardFace,
        sides: &[SideName],
    ) -> Result<Vec<u8>, RenderError> {
        use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref};

        let points = |mm: f64| (mm / 25.4 * 72.0) as f32;
        let (width, height) = (points(CARD_WIDTH_MM), points(CARD_HEIGHT_MM));
        let mut next = Ref::new(1);
        let catalog = next.bump();
        let page_tree = next.bump();
        let mut pdf = Pdf::new();
        let mut pages = Vec::with_capacity(sides.len());
        for &side in sides {
            let tree = self.tree(layout, face, side)?;
            let (chunk, picture) = svg2pdf::to_chunk(&tree, svg2pdf::ConversionOptions::default())
                .map_err(|err| RenderError::Draw(format!("PDF conversion: {err}")))?;
            let mut renumbered = std::collections::HashMap::new();
            let chunk = chunk.renumber(|old| *renumbered.entry(old).or_insert_with(|| next.bump()));
            let picture = renumbered[&picture];
            let (page, content) = (next.bump(), next.bump());
            let name = Name(b"Card");
            let mut writer = pdf.page(page);
            writer.media_box(Rect::new(0.0, 0.0, width, height));
            writer.parent(page_tree);
            writer.contents(content);
            writer.resources().x_objects().pair(name, picture);
            writer.finish();
            let mut drawing = Content::new();
            drawing
                .transform([width, 0.0, 0.0, height, 0.0, 0.0])
                .x_object(name);
            pdf.stream(content, &drawing.finish());
            pdf.extend(&chunk);
            pages.push(page);
        }
        pdf.catalog(catalog).pages(page_tree);
        pdf.pages(page_tree).count(pages.len() as i32).kids(pages);
        Ok(pdf.finish())
    }

    fn element_svg(
        &self,
        element: &Element,
        index: usize,
        face: &CardFace,
    ) -> Result<String, String> {
        match element {
            Element::Rect {
                frame,
                fill,
                corner_radius_mm,
            } => Ok(format!(
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{corner_radius_mm}\" fill=\"{}\"/>\n",
                frame.x,
                frame.y,
                frame.width,
                frame.height,
                fill.as_svg()
            )),
            Element::Text {
                frame,
                text,
                font,
                size_pt,
                colour,
                align,
            } => {
                let value = text.fill(face);
                if value.is_empty() {
                    return Ok(String::new());
                }
                let fitted = self.fit_text(&value, *font, *size_pt, frame)?;
                let (x, anchor) = match align {
                    Align::Left => (frame.x, "start"),
                    Align::Centre => (frame.x + frame.width / 2.0, "middle"),
                    Align::Right => (frame.x + frame.width, "end"),
                };
                let weight = match font {
                    FontWeight::Regular => "normal",
                    FontWeight::Bold => "bold",
                };
                Ok(format!(
                    "<text x=\"{x:.3}\" y=\"{:.3}\" font-family=\"{FONT_FAMILY}\" font-weight=\"{weight}\" \
                     font-size=\"{:.4}\" fill=\"{}\" text-anchor=\"{anchor}\">{}</text>\n",
                    fitted.baseline_mm,
                    fitted.size_mm,
                    colour.as_svg(),
                    escape_xml(&value)
                ))
            }
            Element::Photo { frame } => {
                let picture = match (&face.stored_photo, &face.photo) {
                    (Some(stored), _) => Picture::from_bytes(stored.0.clone())
                        .ok_or("the stored photo is neither PNG nor JPEG")?,
                    (None, Some(path)) => Picture::read(path)?,
                    (None, None) => {
                        return Err(
                            "the layout has a photo frame but the data has no photo (set \"photo\")"
                                .into(),
                        );
                    }
                };
                Ok(image_svg(index, frame, &picture, ImageFit::Cover))
            }
            Element::Image {
                frame, fit, loaded, ..
            } => {
                let picture = loaded
                    .as_ref()
                    .ok_or("the image was not loaded with the layout (use Layout::load)")?;
                Ok(image_svg(index, frame, picture, *fit))
            }
            Element::Barcode {
                frame,
                symbology,
                data,
            } => {
                let value = data.fill(face);
                let code = Barcode::encode(*symbology, &value).map_err(|err| err.to_string())?;
                barcode_svg(&code, frame)
            }
        }
    }

    /// The largest size up to `size_pt` at which `text` fits the frame's width and its line
    /// (ascender to descender) the frame's height.
    fn fit_text(
        &self,
        text: &str,
        weight: FontWeight,
        size_pt: f64,
        frame: &Frame,
    ) -> Result<FittedText, String> {
        let font = match weight {
            FontWeight::Regular => &self.regular,
            FontWeight::Bold => &self.bold,
        };
        let units_per_em = f64::from(font.units_per_em());
        let mut advance = 0.0;
        for character in text.chars() {
            let glyph = font
                .glyph_index(character)
                .ok_or_else(|| format!("the font has no glyph for {character:?} in {text:?}"))?;
            advance += f64::from(font.glyph_hor_advance(glyph).unwrap_or(0));
        }
        let width_em = advance / units_per_em;
        let ascender_em = f64::from(font.ascender()) / units_per_em;
        let descender_em = f64::from(font.descender()) / units_per_em;
        let line_em = ascender_em - descender_em;
        let size_mm = (size_pt * MM_PER_PT)
            .min(frame.width / width_em.max(f64::EPSILON))
            .min(frame.height / line_em);
        if size_mm < MIN_FONT_PT * MM_PER_PT {
            return Err(format!(
                "{text:?} does not fit {:.1} × {:.1} mm even at {MIN_FONT_PT} pt",
                frame.width, frame.height
            ));
        }
        // Centre the line box (ascender to descender) in the frame.
        let baseline_mm =
            frame.y + frame.height / 2.0 + (ascender_em + descender_em) / 2.0 * size_mm;
        Ok(FittedText {
            size_mm,
            baseline_mm,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardFormat {
    Png,
    Pdf,
}

fn pixmap_of(tree: &usvg::Tree, width: u32, height: u32) -> Result<tiny_skia::Pixmap, RenderError> {
    let mut pixmap = tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| RenderError::Draw("no memory for the card image".into()))?;
    let size = tree.size();
    let scale = tiny_skia::Transform::from_scale(
        width as f32 / size.width(),
        height as f32 / size.height(),
    );
    resvg::render(tree, scale, &mut pixmap.as_mut());
    Ok(pixmap)
}

fn png_of(tree: &usvg::Tree) -> Result<Vec<u8>, RenderError> {
    let pixmap = pixmap_of(tree, PNG_WIDTH, PNG_HEIGHT)?;
    // The background covers the card, so every pixel is opaque and alpha can go.
    let mut rgb = Vec::with_capacity(pixmap.data().len() / 4 * 3);
    for pixel in pixmap.data().chunks_exact(4) {
        rgb.extend_from_slice(&pixel[..3]);
    }
    encode_png(PNG_WIDTH, PNG_HEIGHT, png::ColorType::Rgb, &rgb)
        .map_err(|err| RenderError::Draw(format!("PNG encoding: {err}")))
}

struct FittedText {
    size_mm: f64,
    baseline_mm: f64,
}

fn picture_id(index: usize) -> String {
    format!("picture-{index}")
}

fn background_svg(background: &Background) -> String {
    let full_card =
        format!("x=\"0\" y=\"0\" width=\"{CARD_WIDTH_MM}\" height=\"{CARD_HEIGHT_MM}\"");
    let Some(gradient_to) = &background.gradient_to else {
        return format!(
            "<rect {full_card} fill=\"{}\"/>\n",
            background.colour.as_svg()
        );
    };
    let (x2, y2) = match background.direction {
        GradientDirection::Down => (0, 1),
        GradientDirection::Right => (1, 0),
        GradientDirection::Diagonal => (1, 1),
    };
    format!(
        "<defs><linearGradient id=\"background\" x1=\"0\" y1=\"0\" x2=\"{x2}\" y2=\"{y2}\">\
         <stop offset=\"0\" stop-color=\"{}\"/><stop offset=\"1\" stop-color=\"{}\"/>\
         </linearGradient></defs>\n<rect {full_card} fill=\"url(#background)\"/>\n",
        background.colour.as_svg(),
        gradient_to.as_svg()
    )
}

fn image_svg(index: usize, frame: &Frame, picture: &Picture, fit: ImageFit) -> String {
    let aspect = match fit {
        ImageFit::Contain => "xMidYMid meet",
        ImageFit::Cover => "xMidYMid slice",
        ImageFit::Stretch => "none",
    };
    format!(
        "<image id=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" preserveAspectRatio=\"{aspect}\" \
         xlink:href=\"data:{};base64,{}\"/>\n",
        picture_id(index),
        frame.x,
        frame.y,
        frame.width,
        frame.height,
        picture.mime,
        base64::engine::general_purpose::STANDARD.encode(&picture.bytes)
    )
}

/// The code as large as whole-pixel modules allow, centred in the frame on the pixel grid
/// so every bar prints equally wide; linear codes take the frame's height, QR is square.
/// A white box behind it keeps the quiet zones light on coloured backgrounds.
fn barcode_svg(code: &Barcode, frame: &Frame) -> Result<String, String> {
    let frame_width_px = frame.width * PX_PER_MM_X;
    let frame_height_px = frame.height * PX_PER_MM_Y;
    let available_px = if code.is_linear() {
        frame_width_px
    } else {
        frame_width_px.min(frame_height_px)
    };
    let module_px = barcode::module_px_for_width(code, available_px).ok_or_else(|| {
        format!(
            "{} {:?} needs {:.1} mm of width at one pixel per module; the frame is {:.1} mm",
            code.symbology(),
            code.text(),
            code.width_modules() as f64 / PX_PER_MM_X,
            frame.width
        )
    })?;
    let module_mm = f64::from(module_px) / PX_PER_MM_X;
    let code_width_mm = code.width_modules() as f64 * module_mm;
    let snap_x = |mm: f64| (mm * PX_PER_MM_X).round() / PX_PER_MM_X;
    let snap_y = |mm: f64| (mm * PX_PER_MM_Y).round() / PX_PER_MM_Y;
    let left = snap_x(frame.x + (frame.width - code_width_mm) / 2.0);
    let (top, row_height, code_height_mm) = if code.is_linear() {
        (frame.y, frame.height, frame.height)
    } else {
        let module_height = f64::from(module_px) / PX_PER_MM_Y;
        let side = code.width_modules() as f64 * module_height;
        (
            snap_y(frame.y + (frame.height - side) / 2.0),
            module_height,
            side,
        )
    };
    Ok(format!(
        "<rect x=\"{left:.4}\" y=\"{top:.4}\" width=\"{code_width_mm:.4}\" height=\"{code_height_mm:.4}\" fill=\"#ffffff\"/>\n\
         <path fill=\"#000000\" shape-rendering=\"crispEdges\" d=\"{}\"/>\n",
        code.svg_path_data(left, top, module_mm, row_height)
    ))
}

fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn repo(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    fn layout(name: &str) -> Layout {
        Layout::load(&repo(&format!("profiles/layouts/{name}.toml"))).unwrap()
    }

    fn face(name: &str) -> CardFace {
        CardFace::load(&repo(&format!("tests/fixtures/render/{name}.json"))).unwrap()
    }

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut reader = png::Decoder::new(png_bytes).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut pixels).unwrap();
        (reader.info().width, reader.info().height, pixels)
    }

    /// RGB pixels inside a frame given in millimetres.
    fn pixels_in(pixels: &[u8], frame: &Frame) -> Vec<[u8; 3]> {
        let x0 = (frame.x * PX_PER_MM_X).ceil() as usize;
        let x1 = ((frame.x + frame.width) * PX_PER_MM_X).floor() as usize;
        let y0 = (frame.y * PX_PER_MM_Y).ceil() as usize;
        let y1 = ((frame.y + frame.height) * PX_PER_MM_Y).floor() as usize;
        let mut found = Vec::new();
        for y in y0..y1 {
            for x in x0..x1 {
                let at = (y * PNG_WIDTH as usize + x) * 3;
                found.push([pixels[at], pixels[at + 1], pixels[at + 2]]);
            }
        }
        found
    }

    fn frame_of(layout: &Layout, side: SideName, kind: &str, nth: usize) -> Frame {
        *layout
            .side(side)
            .elements
            .iter()
            .filter(|element| element.kind() == kind)
            .nth(nth)
            .unwrap()
            .frame()
    }

    #[test]
    fn both_layouts_render_both_sides_at_1012_by_638() {
        let renderer = CardRenderer::new().unwrap();
        for (layout_name, face_name) in [("els-student", "student"), ("staff-badge", "staff")] {
            let layout = layout(layout_name);
            let face = face(face_name);
            for side in [SideName::Front, SideName::Back] {
                let png_bytes = renderer
                    .render(&layout, &face, side, CardFormat::Png)
                    .unwrap();
                let (width, height, _) = decode(&png_bytes);
                assert_eq!(
                    (width, height),
                    (PNG_WIDTH, PNG_HEIGHT),
                    "{layout_name} {side}"
                );
            }
        }
    }

    #[test]
    fn photo_is_drawn_and_names_have_ink_in_their_frames() {
        let renderer = CardRenderer::new().unwrap();
        let layout = layout("els-student");
        let (_, _, pixels) = decode(
            &renderer
                .render(&layout, &face("student"), SideName::Front, CardFormat::Png)
                .unwrap(),
        );
        let photo = pixels_in(&pixels, &frame_of(&layout, SideName::Front, "photo", 0));
        // The photo's dark hair and suit, not the pale background gradient.
        let dark = photo
            .iter()
            .filter(|rgb| rgb.iter().all(|&c| c < 120))
            .count();
        assert!(
            dark > photo.len() / 10,
            "photo area: {dark} dark of {}",
            photo.len()
        );
        // Text elements 3 and 5 are {first_name} and {last_name}: bold black ink.
        for nth in [3, 5] {
            let name = pixels_in(&pixels, &frame_of(&layout, SideName::Front, "text", nth));
            let ink = name
                .iter()
                .filter(|rgb| rgb.iter().all(|&c| c < 80))
                .count();
            assert!(ink > 200, "text {nth}: {ink} ink pixels");
        }
    }

    /// Ink bounds of every text node, in millimetres, as usvg shaped it (kerning included).
    fn text_bounds_mm(tree: &usvg::Tree) -> Vec<(f32, f32, f32, f32)> {
        fn collect(group: &usvg::Group, found: &mut Vec<usvg::Rect>) {
            for node in group.children() {
                match node {
                    usvg::Node::Text(text) => found.push(text.abs_bounding_box()),
                    usvg::Node::Group(inner) => collect(inner, found),
                    _ => {}
                }
            }
        }
        let mut found = Vec::new();
        collect(tree.root(), &mut found);
        let scale_x = CARD_WIDTH_MM as f32 / tree.size().width();
        let scale_y = CARD_HEIGHT_MM as f32 / tree.size().height();
        found
            .iter()
            .map(|b| {
                let (left, right) = (b.left() * scale_x, b.right() * scale_x);
                (left, b.top() * scale_y, right, b.bottom() * scale_y)
            })
            .collect()
    }

    #[test]
    fn long_polish_names_shrink_to_their_frame() {
        let renderer = CardRenderer::new().unwrap();
        let layout = layout("els-student");
        let face = face("student");
        let frame = frame_of(&layout, SideName::Front, "text", 5);
        let fitted = renderer
            .fit_text(&face.field("last_name"), FontWeight::Bold, 10.0, &frame)
            .unwrap();
        assert!(fitted.size_mm < 10.0 * MM_PER_PT, "{}", fitted.size_mm);

        let tree = renderer.tree(&layout, &face, SideName::Front).unwrap();
        let bounds = text_bounds_mm(&tree);
        let (x, y) = (frame.x as f32, frame.y as f32);
        let (right, bottom) = (x + frame.width as f32, y + frame.height as f32);
        let name = bounds
            .iter()
            .find(|b| (b.0 - x).abs() < 0.5 && b.1 > y - 0.1 && b.3 < bottom + 0.1)
            .unwrap_or_else(|| panic!("no text node in {frame:?}: {bounds:?}"));
        assert!(
            name.2 <= right,
            "surname ends at {} mm, frame at {right}",
            name.2
        );
        assert!(
            name.2 > right - 2.0,
            "shrunk just enough: ends at {} mm",
            name.2
        );
    }

    /// Why the front of `layout_name` cannot be drawn for `face`.
    fn front_error(layout_name: &str, face: &CardFace) -> String {
        CardRenderer::new()
            .unwrap()
            .render(&layout(layout_name), face, SideName::Front, CardFormat::Png)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn render_errors_name_the_element_and_the_cause() {
        let long_name = CardFace {
            last_name: "Ż".repeat(200),
            ..face("student")
        };
        let bad_barcode = CardFace {
            card_number: "P-0045ł".into(),
            ..face("staff")
        };
        for (layout_name, face, element, cause) in [
            (
                "els-student",
                long_name,
                "front element 8 (text):",
                "does not fit",
            ),
            (
                "staff-badge",
                bad_barcode,
                "front element 10 (barcode): Code 39",
                "'ł' at position 7",
            ),
        ] {
            let err = front_error(layout_name, &face);
            assert!(err.starts_with(element), "{err}");
            assert!(err.contains(cause), "{err}");
        }
    }

    #[test]
    fn pdf_page_is_the_card_size_in_points() {
        let renderer = CardRenderer::new().unwrap();
        let pdf = renderer
            .render(
                &layout("staff-badge"),
                &face("staff"),
                SideName::Front,
                CardFormat::Pdf,
            )
            .unwrap();
        assert!(pdf.starts_with(b"%PDF"));
        let text = String::from_utf8_lossy(&pdf);
        let start = text.find("/MediaBox [").unwrap() + "/MediaBox [".len();
        let end = start + text[start..].find(']').unwrap();
        let numbers: Vec<f64> = text[start..end]
            .split_whitespace()
            .map(|number| number.parse().unwrap())
            .collect();
        let (width, height) = (numbers[2] - numbers[0], numbers[3] - numbers[1]);
        assert!((width - 85.60 / 25.4 * 72.0).abs() < 0.05, "{width}");
        assert!((height - 53.98 / 25.4 * 72.0).abs() < 0.05, "{height}");
        assert!(text.contains("/FontFile2"), "fonts embedded");
    }

    #[test]
    fn missing_or_broken_photos_are_explained() {
        let no_photo = CardFace {
            photo: None,
            ..face("student")
        };
        let err = front_error("els-student", &no_photo);
        assert!(err.contains("has no photo"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.png");
        std::fs::write(&broken, b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let broken_photo = CardFace {
            photo: Some(broken),
            ..face("student")
        };
        let err = front_error("els-student", &broken_photo);
        assert!(err.contains("could not be decoded"), "{err}");
    }

    #[test]
    fn text_is_escaped_for_svg() {
        let renderer = CardRenderer::new().unwrap();
        let face = CardFace {
            university: "A&B <Uczelnia> \"x\"".into(),
            ..face("staff")
        };
        let svg = renderer
            .svg(&layout("staff-badge"), &face, SideName::Back)
            .unwrap();
        assert!(svg.contains("A&amp;B &lt;Uczelnia&gt; &quot;x&quot;"));
    }
}
