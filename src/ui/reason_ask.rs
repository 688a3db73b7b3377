//! The ask shown under a row before a change that needs a reason (the desk's block, the print
//! station's cancel, reprint and withdraw): the question, the reason typed, the button that
//! makes the change, one that backs out, and a note that turns into the problem when the
//! reason is missing.

use iced::widget::{button, column, row, text, text_input};
use iced::{Alignment, Element};

use super::i18n::{Text, t};
use super::theme;
use crate::config::Language;

/// The words and messages of one reason ask.
pub struct ReasonAsk<'a, M> {
    pub why: Text,
    pub placeholder: Text,
    pub confirm: Text,
    pub back: Text,
    /// Shown under the row while the reason is fine: what the change does.
    pub warning: Text,
    /// Shown instead, as a problem, once confirm was pressed without a reason.
    pub needs_reason: Text,
    pub reason: &'a str,
    pub reason_missing: bool,
    /// The text input's id, so the ask can focus it when it opens.
    pub input_id: &'static str,
    pub on_input: fn(String) -> M,
    pub on_confirm: M,
    pub on_back: M,
}

pub fn view<'a, M: Clone + 'a>(ask: ReasonAsk<'a, M>, language: Language) -> Element<'a, M> {
    let reason = text_input(t(language, ask.placeholder), ask.reason)
        .id(ask.input_id)
        .on_input(ask.on_input)
        .on_submit(ask.on_confirm.clone())
        .padding(8)
        .size(theme::BODY_SIZE);
    let (note, colour) = if ask.reason_missing {
        (ask.needs_reason, theme::PROBLEM)
    } else {
        (ask.warning, theme::MUTED)
    };
    column![
        text(t(language, ask.why)).font(theme::BOLD),
        row![
            reason,
            button(text(t(language, ask.confirm)).size(theme::SMALL_SIZE))
                .style(button::danger)
                .on_press(ask.on_confirm),
            button(text(t(language, ask.back)).size(theme::SMALL_SIZE))
                .style(button::secondary)
                .on_press(ask.on_back),
        ]
        .spacing(10)
        .align_y(Alignment::Center),
        text(t(language, note))
            .size(theme::SMALL_SIZE)
            .color(colour),
    ]
    .spacing(6)
    .padding([4, 10])
    .into()
}
