//! Slugs: the ASCII path segment of a post's URL and of a tag feed's folder.
//!
//! Text is transliterated with `deunicode` (so `Jak ćwiczyć` → `jak-cwiczyc`, `łąka` → `laka`),
//! lower-cased, and every run of other characters becomes one `-`. A date-prefixed file name,
//! `2026-11-26-jak-cwiczyc.md`, gives both a date and a slug.

use chrono::NaiveDate;

/// The slug of any text; empty when nothing of it survives (a title of only punctuation).
pub fn slugify(text: &str) -> String {
    let ascii = deunicode::deunicode(text);
    let mut slug = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// The slug of a tag (or category): like [`slugify`], but the symbols that tell tags apart are
/// spelled out — `C++` is `c-plus-plus`, `C#` is `c-sharp`, `R&D` is `r-and-d` — where
/// `slugify` would make them all `c` or `r-d`.
pub fn tag_slug(name: &str) -> String {
    let mut spelled = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '+' => spelled.push_str(" plus "),
            '#' => spelled.push_str(" sharp "),
            '&' => spelled.push_str(" and "),
            '@' => spelled.push_str(" at "),
            c => spelled.push(c),
        }
    }
    slugify(&spelled)
}

/// Splits a file stem of the form `YYYY-MM-DD-rest` into its date and `rest`.
pub fn split_dated_stem(stem: &str) -> Option<(NaiveDate, &str)> {
    let date = NaiveDate::parse_from_str(stem.get(..10)?, "%Y-%m-%d").ok()?;
    let rest = stem.get(10..)?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    Some((date, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_slugs_spell_out_the_symbols_that_tell_tags_apart() {
        assert_eq!(tag_slug("C++"), "c-plus-plus");
        assert_eq!(tag_slug("C#"), "c-sharp");
        assert_eq!(tag_slug("c"), "c");
        assert_eq!(tag_slug("R&D"), "r-and-d");
        assert_eq!(tag_slug("Zdrowie psychiczne"), "zdrowie-psychiczne");
    }

    #[test]
    fn transliterates_polish() {
        assert_eq!(slugify("Jak ćwiczyć"), "jak-cwiczyc");
        assert_eq!(slugify("Zażółć gęślą jaźń"), "zazolc-gesla-jazn");
        assert_eq!(slugify("ŁĄKA, ŚNIEG i ŹDŹBŁO"), "laka-snieg-i-zdzblo");
    }

    #[test]
    fn collapses_punctuation_and_trims_dashes() {
        assert_eq!(slugify("  Stres -- a jelita?! (część 2) "), "stres-a-jelita-czesc-2");
        assert_eq!(slugify("?!"), "");
    }

    #[test]
    fn splits_dated_file_stems() {
        let (date, rest) = split_dated_stem("2026-11-26-jak-cwiczyc").unwrap();
        assert_eq!(date, NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
        assert_eq!(rest, "jak-cwiczyc");
        assert!(split_dated_stem("jak-cwiczyc").is_none());
        assert!(split_dated_stem("2026-13-01-x").is_none());
    }
}
