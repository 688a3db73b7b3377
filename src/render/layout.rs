//! Card layout templates (TOML): a CR80 card's front and back, each a background and elements
//! placed in millimetres (text bound to `CardFace` fields, photo, barcode, rectangles, static
//! images). Loading checks everything that can be checked without card-holder data: unknown
//! keys, field names, colours, frames inside the card, image files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::barcode::Symbology;
use super::face::{self, FIELD_NAMES};
use crate::error::Problem;

/// ISO/IEC 7810 ID-1 (CR80).
pub const CARD_WIDTH_MM: f64 = 85.60;
pub const CARD_HEIGHT_MM: f64 = 53.98;
/// Frames may touch the edge; this absorbs decimal rounding in hand-written layouts.
const EDGE_TOLERANCE_MM: f64 = 0.01;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read layout {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("layout {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Problem for LayoutError {
    fn next_step(&self) -> &'static str {
        match self {
            LayoutError::Read { .. } => "check the layout path (samples: profiles/layouts/)",
            LayoutError::Invalid { .. } => {
                "fix the layout file; profiles/layouts/els-student.toml shows every element kind"
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    pub name: String,
    pub front: Side,
    pub back: Side,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideName {
    Front,
    Back,
}

impl fmt::Display for SideName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SideName::Front => "front",
            SideName::Back => "back",
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Side {
    #[serde(default)]
    pub background: Background,
    #[serde(default)]
    pub elements: Vec<Element>,
}

/// A plain colour, or a linear gradient from `colour` to `gradient_to`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Background {
    pub colour: Colour,
    #[serde(default)]
    pub gradient_to: Option<Colour>,
    #[serde(default)]
    pub direction: GradientDirection,
}

impl Default for Background {
    fn default() -> Self {
        Background {
            colour: Colour::white(),
            gradient_to: None,
            direction: GradientDirection::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GradientDirection {
    #[default]
    Down,
    Right,
    Diagonal,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Element {
    /// A filled rectangle: colour bands, panels.
    Rect {
        frame: Frame,
        fill: Colour,
        #[serde(default)]
        corner_radius_mm: f64,
    },
    /// One line of text, shrunk until it fits the frame.
    Text {
        frame: Frame,
        text: Template,
        #[serde(default)]
        font: FontWeight,
        size_pt: f64,
        #[serde(default = "Colour::black")]
        colour: Colour,
        #[serde(default)]
        align: Align,
    },
    /// The card holder's portrait, cropped to fill the frame.
    Photo { frame: Frame },
    /// A barcode of a bound value, as large as whole-pixel modules allow in the frame.
    Barcode {
        frame: Frame,
        symbology: Symbology,
        data: Template,
    },
    /// A PNG or JPEG from the layout's directory tree (logos, backgrounds), fitted into the frame.
    Image {
        frame: Frame,
        /// Relative to the layout file.
        path: PathBuf,
        #[serde(default)]
        fit: ImageFit,
        #[serde(skip)]
        loaded: Option<Arc<Picture>>,
    },
}

impl Element {
    pub fn kind(&self) -> &'static str {
        match self {
            Element::Rect { .. } => "rect",
            Element::Text { .. } => "text",
            Element::Photo { .. } => "photo",
            Element::Barcode { .. } => "barcode",
            Element::Image { .. } => "image",
        }
    }

    pub fn frame(&self) -> &Frame {
        match self {
            Element::Rect { frame, .. }
            | Element::Text { frame, .. }
            | Element::Photo { frame }
            | Element::Barcode { frame, .. }
            | Element::Image { frame, .. } => frame,
        }
    }
}

/// Where an element goes, in millimetres from the card's top-left corner.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Frame {
    fn check(&self) -> Result<(), String> {
        let values = [self.x, self.y, self.width, self.height];
        if values.iter().any(|value| !value.is_finite()) {
            return Err("frame values must be numbers".into());
        }
        if self.width <= 0.0 || self.height <= 0.0 {
            return Err("frame width and height must be above 0".into());
        }
        if self.x < -EDGE_TOLERANCE_MM || self.x + self.width > CARD_WIDTH_MM + EDGE_TOLERANCE_MM {
            return Err(format!(
                "frame spans {:.2} to {:.2} mm across; the card is 0 to {CARD_WIDTH_MM:.2} mm",
                self.x,
                self.x + self.width
            ));
        }
        if self.y < -EDGE_TOLERANCE_MM || self.y + self.height > CARD_HEIGHT_MM + EDGE_TOLERANCE_MM
        {
            return Err(format!(
                "frame spans {:.2} to {:.2} mm down; the card is 0 to {CARD_HEIGHT_MM:.2} mm",
                self.y,
                self.y + self.height
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FontWeight {
    #[default]
    Regular,
    Bold,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Left,
    Centre,
    Right,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFit {
    /// Whole image visible, centred.
    #[default]
    Contain,
    /// Frame filled, centred, edges cropped.
    Cover,
    /// Frame filled, aspect ratio ignored.
    Stretch,
}

/// `#rgb` or `#rrggbb`, kept in the `#rrggbb` form SVG takes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Colour(String);

impl Colour {
    fn white() -> Self {
        Colour("#ffffff".into())
    }

    fn black() -> Self {
        Colour("#000000".into())
    }

    pub fn as_svg(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Colour {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let digits = text.strip_prefix('#').unwrap_or_default();
        let hex_ok = digits.chars().all(|digit| digit.is_ascii_hexdigit());
        match digits.len() {
            6 if hex_ok => Ok(Colour(text.to_ascii_lowercase())),
            3 if hex_ok => Ok(Colour(
                digits.chars().flat_map(|digit| [digit, digit]).fold(
                    String::from("#"),
                    |mut colour, digit| {
                        colour.push(digit.to_ascii_lowercase());
                        colour
                    },
                ),
            )),
            _ => Err(format!(
                "colour {text:?} is not #rgb or #rrggbb (e.g. \"#c8102e\")"
            )),
        }
    }
}

/// Text with `{field}` placeholders, checked against the bindable names when loaded.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Template(Vec<Piece>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(String),
}

impl TryFrom<String> for Template {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let mut pieces = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("{text:?} has a '}}' without a '{{' before it"));
            }
            if open > 0 {
                pieces.push(Piece::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("{text:?} has a '{{' without a closing '}}'"))?;
            let name = after[..close].trim();
            if !face::is_field_name(name) {
                return Err(format!(
                    "{text:?} binds unknown field {{{name}}}; known fields: {}, and extra.KEY",
                    FIELD_NAMES.join(", ")
                ));
            }
            pieces.push(Piece::Field(name.to_owned()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_owned()));
        }
        Ok(Template(pieces))
    }
}

impl Template {
    /// The text with the card holder's values filled in, surrounding spaces trimmed (so a
    /// missing middle value leaves no stray gap at the ends).
    pub fn fill(&self, face: &face::CardFace) -> String {
        let filled: String = self
            .0
            .iter()
            .map(|piece| match piece {
                Piece::Literal(text) => text.clone(),
                Piece::Field(name) => face.field(name),
            })
            .collect();
        filled.trim().to_owned()
    }
}

/// A static raster image read when the layout is loaded.
#[derive(Debug)]
pub struct Picture {
    pub mime: &'static str,
    pub bytes: Vec<u8>,
}

impl Picture {
    /// Reads a PNG or JPEG, recognised by its signature; other files are refused here
    /// rather than silently left out of the card.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes =
            std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        Picture::from_bytes(bytes)
            .ok_or_else(|| format!("{} is neither PNG nor JPEG", path.display()))
    }

    /// A PNG or JPEG in memory (a stored photo), recognised by its signature.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        let mime = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "image/jpeg"
        } else {
            return None;
        };
        Some(Picture { mime, bytes })
    }
}

impl Layout {
    pub fn load(path: &Path) -> Result<Self, LayoutError> {
        let text = std::fs::read_to_string(path).map_err(|source| LayoutError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Layout::parse(&text, base_dir).map_err(|message| LayoutError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses and checks a layout; image paths are taken relative to `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, String> {
        let mut layout: Layout = toml::from_str(text).map_err(|err| err.to_string())?;
        for (side_name, side) in [
            (SideName::Front, &mut layout.front),
            (SideName::Back, &mut layout.back),
        ] {
            for (index, element) in side.elements.iter_mut().enumerate() {
                let kind = element.kind();
                let located = |message: String| {
                    format!("{side_name} element {} ({kind}): {message}", index + 1)
                };
                element.frame().check().map_err(located)?;
                let checked = match element {
                    Element::Text { size_pt, .. } if !(1.0..=72.0).contains(size_pt) => {
                        Err(format!("size_pt {size_pt} is outside 1 to 72"))
                    }
                    Element::Rect {
                        corner_radius_mm, ..
                    } if !(0.0..=CARD_HEIGHT_MM).contains(corner_radius_mm) => Err(format!(
                        "corner_radius_mm {corner_radius_mm} is outside 0 to {CARD_HEIGHT_MM}"
                    )),
                    Element::Image { path, loaded, .. } => Picture::read(&base_dir.join(&*path))
                        .map(|picture| {
                            *loaded = Some(Arc::new(picture));
                        }),
                    _ => Ok(()),
                };
                checked.map_err(located)?;
            }
        }
        Ok(layout)
    }

    pub fn side(&self, name: SideName) -> &Side {
        match name {
            SideName::Front => &self.front,
            SideName::Back => &self.back,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Layout, String> {
        Layout::parse(text, Path::new("."))
    }

    const MINIMAL: &str = r##"
        name = "t"
        [front]
        background = { colour = "#fff" }
        [[front.elements]]
        kind = "text"
        frame = { x = 1, y = 1, width = 40, height = 6 }
        text = "{first_name} {last_name}"
        size_pt = 10
        [back]
    "##;

    #[test]
    fn minimal_layout_loads_with_defaults() {
        let layout = parse(MINIMAL).unwrap();
        assert_eq!(layout.front.background.colour.as_svg(), "#ffffff");
        match &layout.front.elements[0] {
            Element::Text {
                font,
                align,
                colour,
                ..
            } => {
                assert_eq!(*font, FontWeight::Regular);
                assert_eq!(*align, Align::Left);
                assert_eq!(colour.as_svg(), "#000000");
            }
            other => panic!("{other:?}"),
        }
        assert!(layout.back.elements.is_empty());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err =
            parse(&MINIMAL.replace("size_pt = 10", "size_pt = 10\nfont_size = 3")).unwrap_err();
        assert!(err.contains("font_size"), "{err}");
        let err = parse(&MINIMAL.replace("name = \"t\"", "name = \"t\"\ncolor = 1")).unwrap_err();
        assert!(err.contains("color"), "{err}");
        let err = parse(&MINIMAL.replace("kind = \"text\"", "kind = \"txt\"")).unwrap_err();
        assert!(err.contains("txt"), "{err}");
    }

    #[test]
    fn unknown_field_bindings_are_named() {
        let err = parse(&MINIMAL.replace("{last_name}", "{surname}")).unwrap_err();
        assert!(err.contains("unknown field {surname}"), "{err}");
        let err = parse(&MINIMAL.replace("{last_name}", "{last_name")).unwrap_err();
        assert!(err.contains("without a closing"), "{err}");
    }

    #[test]
    fn frames_outside_the_card_are_refused() {
        let err = parse(&MINIMAL.replace("width = 40", "width = 90")).unwrap_err();
        assert!(
            err.contains("front element 1 (text): frame spans 1.00 to 91.00 mm across"),
            "{err}"
        );
    }

    #[test]
    fn colours_are_checked() {
        let err = parse(&MINIMAL.replace("#fff", "red")).unwrap_err();
        assert!(err.contains("colour \"red\" is not #rgb"), "{err}");
    }

    #[test]
    fn missing_images_are_named_at_load() {
        let text = format!(
            "{MINIMAL}\n[[back.elements]]\nkind = \"image\"\npath = \"no/such.png\"\n\
             frame = {{ x = 0, y = 0, width = 10, height = 10 }}\n"
        );
        let err = parse(&text).unwrap_err();
        assert!(
            err.contains("back element 1 (image): cannot read ./no/such.png"),
            "{err}"
        );
    }

    #[test]
    fn templates_fill_from_the_face() {
        let template = Template::try_from("Nr albumu: {album_number}".to_owned()).unwrap();
        let face = face::CardFace {
            album_number: "123456".into(),
            ..Default::default()
        };
        assert_eq!(template.fill(&face), "Nr albumu: 123456");
    }
}
