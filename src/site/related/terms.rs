//! The terms of a post, for related posts: stems of its words counted, and the keys of its tags.
//!
//! Words are runs of Unicode alphanumeric characters, lower-cased, without Polish and English stop
//! words, and cut to their first [`STEM_CHARS`] characters: a crude stemmer, but Polish inflects
//! heavily (`ketamina`, `ketaminy`, `ketaminą`) and prefix truncation is a known, cheap fit for it.
//! Weighing them and comparing posts is `related/mod.rs`'s business.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};

/// Characters a word is cut to.
pub const STEM_CHARS: usize = 6;

/// Term counts of one post: (hash of the stem, count), sorted by hash. Stems are kept as 64-bit
/// FxHash values, not strings: a tenth of the memory at 10,000 posts, and collisions among a
/// site's few hundred thousand stems are vanishingly rare (and would only blur relatedness).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terms(Vec<(u64, u32)>);

impl Terms {
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.0.iter().copied()
    }

    /// How often a (lower-case) word's stem occurs.
    pub fn count(&self, word: &str) -> u32 {
        let key = stem_key(word);
        self.0.binary_search_by_key(&key, |&(k, _)| k).map_or(0, |i| self.0[i].1)
    }
}

/// Counts terms text by text (a post's text arrives as many Markdown events).
#[derive(Default)]
pub struct TermCounter {
    counts: FxHashMap<u64, u32>,
    word: String,
}

impl TermCounter {
    /// Words are maximal runs of alphanumeric characters (Unicode), lower-cased; a word split
    /// across two calls counts as two.
    ///
    /// One pass per word: it is lower-cased into a reused buffer while its characters are
    /// counted and the end of its stem noted, so the stop-word test and the stem's key hash the
    /// word once each (this runs over every word of every post: a fifth of a build's time when it
    /// went through iterators and a `char` at a time).
    pub fn add(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let (c, len) = next_char(text, at);
            if !c.is_alphanumeric() {
                at += len;
                continue;
            }
            self.word.clear();
            let (mut chars, mut stem_end, mut digits) = (0usize, 0usize, true);
            while at < bytes.len() {
                let (c, len) = next_char(text, at);
                if !c.is_alphanumeric() {
                    break;
                }
                if c.is_ascii() {
                    self.word.push(c.to_ascii_lowercase());
                    digits &= c.is_ascii_digit();
                    chars += 1;
                    if chars == STEM_CHARS {
                        stem_end = self.word.len();
                    }
                } else {
                    digits = false;
                    for lower in c.to_lowercase() {
                        self.word.push(lower);
                        chars += 1;
                        if chars == STEM_CHARS {
                            stem_end = self.word.len();
                        }
                    }
                }
                at += len;
            }
            if chars < 3 || digits {
                continue;
            }
            let whole = str_key(&self.word);
            if stop_words().contains(&whole) {
                continue;
            }
            let key = if chars <= STEM_CHARS { whole } else { str_key(&self.word[..stem_end]) };
            *self.counts.entry(key).or_default() += 1;
        }
    }

    pub fn finish(self) -> Terms {
        let mut terms: Vec<(u64, u32)> = self.counts.into_iter().collect();
        terms.sort_unstable();
        Terms(terms)
    }
}

/// The character at byte `at` of `text` and its length, ASCII without decoding.
#[inline]
fn next_char(text: &str, at: usize) -> (char, usize) {
    let byte = text.as_bytes()[at];
    if byte.is_ascii() {
        return (byte as char, 1);
    }
    let c = text[at..].chars().next().expect("`at` is at a character boundary");
    (c, c.len_utf8())
}

/// The hash of a lower-case word's first [`STEM_CHARS`] characters.
fn stem_key(word: &str) -> u64 {
    let end = word.char_indices().nth(STEM_CHARS).map_or(word.len(), |(i, _)| i);
    str_key(&word[..end])
}

fn str_key(text: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Polish and English stop words, by the hash of each (a word is dropped when its hash is one of
/// them: a 64-bit hash of one of the site's words equals one of ~600 others' by chance once in
/// 10^16 words).
fn stop_words() -> &'static FxHashSet<u64> {
    static WORDS: OnceLock<FxHashSet<u64>> = OnceLock::new();
    WORDS.get_or_init(|| stop_words::get("pl").iter().chain(stop_words::get("en")).map(|w| str_key(w)).collect())
}

/// The key of a tag or category slug: hashed apart from the stems, so that a tag `sen` and the
/// word `sen` are different dimensions.
pub(super) fn tag_key(slug: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    0xff_u8.hash(&mut hasher); // never part of a UTF-8 stem
    slug.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_drop_stop_words_short_words_and_numbers_and_cut_stems() {
        let mut counter = TermCounter::default();
        counter.add("Ketamina i ketaminy: to jest 2026 rok, a ketaminą leczy się ból");
        let terms = counter.finish();
        assert_eq!(terms.count("ketamina"), 3);
        assert_eq!(terms.count("ketami"), 3);
        assert_eq!(terms.count("ból"), 1);
        assert_eq!(terms.count("leczy"), 1);
        for dropped in ["jest", "2026", "to", "się"] {
            assert_eq!(terms.count(dropped), 0, "{dropped}");
        }
    }

    /// The definition written plainly (split, lower-case, filter, cut) — what the one-pass
    /// counter must count exactly.
    fn plain(text: &str) -> Vec<(u64, u32)> {
        let stop: FxHashSet<String> =
            stop_words::get("pl").iter().chain(stop_words::get("en")).map(|w| w.to_string()).collect();
        let mut counts: FxHashMap<u64, u32> = FxHashMap::default();
        for raw in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let word: String = raw.chars().flat_map(char::to_lowercase).collect();
            if word.chars().count() < 3 || word.bytes().all(|b| b.is_ascii_digit()) || stop.contains(&word) {
                continue;
            }
            *counts.entry(stem_key(&word)).or_default() += 1;
        }
        let mut terms: Vec<(u64, u32)> = counts.into_iter().collect();
        terms.sort_unstable();
        terms
    }

    #[test]
    fn the_one_pass_counter_counts_what_the_plain_definition_does() {
        let texts = [
            "Zażółć gęślą jaźń — ŹDŹBŁO, źdźbła; KETAMINA/ketaminą 12345 a1b2 x² ⅷ 東京タワー",
            "İstanbul İSTANBUL \u{212A}elvin KELVIN straße STRASSE ΣΊΣΥΦΟΣ Ωμέγα ǅemal",
            "the THE and psychosomatic Psychosomatyka psychosomatyczny 2026 rok, a ból bólu bólem",
            "",
            "   ---   ",
            "ąę ąęś ąęść abc ab 123 1234x",
        ];
        for text in texts {
            let mut counter = TermCounter::default();
            counter.add(text);
            assert_eq!(counter.finish().0, plain(text), "{text}");
        }
    }
}
