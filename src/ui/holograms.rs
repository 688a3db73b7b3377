//! The hologram stock as the desk's prolongation and the print window show it: how many
//! stickers are left, and a warning once that is at or below the profile's
//! `[holograms] low_stock`.

use iced::Element;
use iced::widget::{column, text};

use super::i18n::{Text, t};
use super::theme;
use crate::config::Language;

/// "Stickers left: N", with the low-stock warning under it when N is at or below `low`.
pub fn stock_view<'a, M: 'a>(language: Language, left: i64, low: u32) -> Element<'a, M> {
    let is_low = left <= i64::from(low);
    let mut lines = column![
        text(format!("{} {left}", t(language, Text::StickersLeft)))
            .size(theme::SMALL_SIZE)
            .color(if is_low { theme::PROBLEM } else { theme::MUTED })
    ]
    .spacing(2);
    if is_low {
        lines = lines.push(
            text(t(language, Text::StickersLow))
                .size(theme::SMALL_SIZE)
                .color(theme::PROBLEM),
        );
    }
    lines.into()
}
