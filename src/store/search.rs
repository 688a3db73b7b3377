//! Text handling for the people search: Polish letters folded to ASCII so `lodz` finds
//! `Łódź`, and user input turned into an FTS5 query that cannot be a syntax error.

/// Longest query the search honours, in terms; more words only slow it down.
const MAX_TERMS: usize = 8;

/// Replaces Polish letters with their base ASCII letter, keeping case (`Łódź` → `Lodz`).
/// `ł` has no Unicode decomposition, so the tokenizer's own diacritic removal misses it.
pub fn fold_polish(text: &str) -> String {
    text.chars()
        .map(|letter| match letter {
            'ą' => 'a',
            'ć' => 'c',
            'ę' => 'e',
            'ł' => 'l',
            'ń' => 'n',
            'ó' => 'o',
            'ś' => 's',
            'ź' | 'ż' => 'z',
            'Ą' => 'A',
            'Ć' => 'C',
            'Ę' => 'E',
            'Ł' => 'L',
            'Ń' => 'N',
            'Ó' => 'O',
            'Ś' => 'S',
            'Ź' | 'Ż' => 'Z',
            other => other,
        })
        .collect()
}

/// An FTS5 query matching rows that contain a word starting with each term the user typed
/// (`kowal an` → `"kowal"* "an"*`). Every term is letters and digits only and quoted, so
/// quotes, `NEAR`, `*`, `:`, `^` or parentheses in the input are plain text, never syntax.
/// `None` when the input has nothing to search for.
pub fn prefix_query(input: &str) -> Option<String> {
    let folded = fold_polish(input).to_lowercase();
    let terms: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|term| !term.is_empty())
        .take(MAX_TERMS)
        .map(|term| format!("\"{term}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polish_letters_fold_in_both_cases() {
        assert_eq!(fold_polish("Łódź"), "Lodz");
        assert_eq!(
            fold_polish("zażółć gęślą jaźń ZAŻÓŁĆ GĘŚLĄ JAŹŃ"),
            "zazolc gesla jazn ZAZOLC GESLA JAZN"
        );
        assert_eq!(fold_polish("Müller 123"), "Müller 123");
    }

    #[test]
    fn input_becomes_quoted_prefix_terms() {
        assert_eq!(prefix_query("Kowal").as_deref(), Some("\"kowal\"*"));
        assert_eq!(
            prefix_query("  Łódź, Ann ").as_deref(),
            Some("\"lodz\"* \"ann\"*")
        );
        assert_eq!(
            prefix_query("P-00123").as_deref(),
            Some("\"p\"* \"00123\"*")
        );
    }

    #[test]
    fn operators_and_punctuation_are_not_syntax() {
        assert_eq!(
            prefix_query("a NEAR(b c) OR \"x\" AND y*:^-").as_deref(),
            Some("\"a\"* \"near\"* \"b\"* \"c\"* \"or\"* \"x\"* \"and\"* \"y\"*")
        );
        assert_eq!(prefix_query("\"*:()^-+"), None);
        assert_eq!(prefix_query(""), None);
        let many = "a ".repeat(100);
        assert_eq!(prefix_query(&many).unwrap().matches('*').count(), MAX_TERMS);
    }
}
