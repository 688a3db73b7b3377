//! Fonts, sizes and colours in one place. The embedded DejaVu Sans covers Polish diacritics
//! (ą ć ę ł ń ó ś ź ż), so no station depends on its system fonts.

use iced::font::Weight;
use iced::{Color, Font, Theme};

pub const REGULAR_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub const BOLD_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

pub const REGULAR: Font = Font::with_name("DejaVu Sans");
pub const BOLD: Font = Font {
    weight: Weight::Bold,
    ..REGULAR
};

pub const TITLE_SIZE: f32 = 26.0;
pub const HEADING_SIZE: f32 = 19.0;
pub const BODY_SIZE: f32 = 16.0;
pub const SMALL_SIZE: f32 = 13.0;

/// A fixed light theme: stations must not change look with the desktop's dark mode.
pub fn theme() -> Theme {
    Theme::Light
}

pub const MUTED: Color = Color::from_rgb(0.38, 0.40, 0.45);
pub const OK: Color = Color::from_rgb(0.10, 0.50, 0.25);
pub const PROBLEM: Color = Color::from_rgb(0.72, 0.12, 0.12);
pub const ACCENT: Color = Color::from_rgb(0.13, 0.36, 0.66);
/// Text on an ACCENT or primary-button background.
pub const ON_ACCENT: Color = Color::from_rgb(0.88, 0.91, 0.97);
