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
    pub fn add(&mut self, text: &str) {
        let stop = stop_words();
        for raw in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            self.word.clear();
            if raw.is_ascii() {
                self.word.push_str(raw);
                self.word.make_ascii_lowercase();
            } else {
                self.word.extend(raw.chars().flat_map(char::to_lowercase));
            }
            let long_enough = self.word.char_indices().nth(2).is_some();
            if !long_enough || self.word.bytes().all(|b| b.is_ascii_digit()) || stop.contains(self.word.as_str()) {
                continue;
            }
            *self.counts.entry(stem_key(&self.word)).or_default() += 1;
        }
    }

    pub fn finish(self) -> Terms {
        let mut terms: Vec<(u64, u32)> = self.counts.into_iter().collect();
        terms.sort_unstable();
        Terms(terms)
    }
}

/// The hash of a lower-case word's first [`STEM_CHARS`] characters.
fn stem_key(word: &str) -> u64 {
    let end = word.char_indices().nth(STEM_CHARS).map_or(word.len(), |(i, _)| i);
    let mut hasher = rustc_hash::FxHasher::default();
    word[..end].hash(&mut hasher);
    hasher.finish()
}

fn stop_words() -> &'static FxHashSet<&'static str> {
    static WORDS: OnceLock<FxHashSet<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| stop_words::get("pl").iter().chain(stop_words::get("en")).copied().collect())
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
}
