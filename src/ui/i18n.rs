//! UI text in Polish and English, chosen by the profile.

use crate::config::Language;

/// Picks the Polish or English form of a UI string.
pub fn tr(language: Language, pl: &'static str, en: &'static str) -> &'static str {
    match language {
        Language::Pl => pl,
        Language::En => en,
    }
}
