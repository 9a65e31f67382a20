//! Related posts: for every visible post, the N most related other visible posts.
//!
//! Relatedness is the cosine of TF-IDF vectors whose dimensions are the post's words and its
//! tags and categories: a word weighs (1 + ln tf) × idf, a tag weighs as a word of the title
//! (which is counted twice) would, 1 + ln 2, times its own idf. Tags are dimensions of the same
//! vector, not a bonus beside it: a tag shared by chance weighs what a rare shared word weighs,
//! and cannot outvote a text that says otherwise. The idf is ln((N + 1) / df), so a term in every
//! post weighs almost nothing (never exactly nothing, so that posts sharing only common terms still
//! rank among themselves, by date then id).
//!
//! No term is dropped for being common: there is no cut-off tuned to one corpus shape. What keeps
//! it fast at 10,000 posts (§9) is that each post keeps only its [`TOP_TERMS`] heaviest
//! dimensions, and scores are accumulated through an inverted index of those (term → posts), so a
//! post is only ever compared with posts that share one of its top terms — never an all-pairs
//! comparison of full texts. A common term is rarely among any post's heaviest, so its postings
//! stay short without being cut: the idf does what a document-frequency cut-off did.
//!
//! Words are runs of Unicode alphanumeric characters, lower-cased, without Polish and English stop words, and
//! cut to their first [`STEM_CHARS`] characters: a crude stemmer, but Polish inflects heavily
//! (`ketamina`, `ketaminy`, `ketaminą`) and prefix truncation is a known, cheap fit for it.
//!
//! Deterministic: terms and postings are visited in a fixed order, and ties are broken by date
//! (newer first), then id.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::Post;

/// Dimensions (terms and tags) kept per post: a bound on the work of comparing it, not a
/// judgement of which terms matter (the weights make that).
pub const TOP_TERMS: usize = 24;
/// Characters a word is cut to.
pub const STEM_CHARS: usize = 6;
/// The count a tag or category stands for: a word of the title, which is counted twice.
const TAG_COUNT: f32 = 2.0;

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
fn tag_key(slug: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    0xff_u8.hash(&mut hasher); // never part of a UTF-8 stem
    slug.hash(&mut hasher);
    hasher.finish()
}

/// Sets `related` on every post: at most `count` indices into `posts`, best first.
pub fn link(posts: &mut [Post], count: usize) {
    for post in posts.iter_mut() {
        post.related.clear();
    }
    let n = posts.len();
    if count == 0 || n < 2 {
        return;
    }

    let tags: Vec<Vec<u64>> = posts
        .iter()
        .map(|post| {
            let mut keys: Vec<u64> = post.tag_slugs.iter().chain(&post.category_slugs).map(|s| tag_key(s)).collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        })
        .collect();
    // Document frequencies of words and tags alike.
    let mut df: FxHashMap<u64, u32> = FxHashMap::default();
    for (post, tags) in posts.iter().zip(&tags) {
        for term in post.terms.iter().map(|(term, _)| term).chain(tags.iter().copied()) {
            *df.entry(term).or_default() += 1;
        }
    }
    let idf = |term: u64| ((n + 1) as f32 / df[&term] as f32).ln();
    // Each post's heaviest dimensions, as a unit vector.
    let tag_tf = 1.0 + TAG_COUNT.ln();
    let weighted: Vec<Vec<(u64, f32)>> = posts
        .par_iter()
        .zip(&tags)
        .map(|(post, tags)| {
            let words = post.terms.iter().map(|(term, tf)| (term, (1.0 + (tf as f32).ln()) * idf(term)));
            let mut weighted: Vec<(u64, f32)> = words.chain(tags.iter().map(|&tag| (tag, tag_tf * idf(tag)))).collect();
            weighted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            weighted.truncate(TOP_TERMS);
            let norm = weighted.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if norm == 0.0 {
                return Vec::new();
            }
            weighted.into_iter().map(|(term, w)| (term, w / norm)).collect()
        })
        .collect();
    // Term ids in post order, so that postings are built in a fixed order.
    let mut term_ids: FxHashMap<u64, u32> = FxHashMap::default();
    let vectors: Vec<Vec<(u32, f32)>> = weighted
        .into_iter()
        .map(|terms| {
            terms
                .into_iter()
                .map(|(term, w)| {
                    let next = term_ids.len() as u32;
                    (*term_ids.entry(term).or_insert(next), w)
                })
                .collect()
        })
        .collect();
    let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); term_ids.len()];
    for (index, vector) in vectors.iter().enumerate() {
        for &(term, weight) in vector {
            postings[term as usize].push((index as u32, weight));
        }
    }

    let related: Vec<Vec<usize>> = (0..n)
        .into_par_iter()
        .map_init(
            || (vec![0f32; n], Vec::<u32>::new()),
            |(scores, touched), index| {
                for &(term, weight) in &vectors[index] {
                    for &(other, other_weight) in &postings[term as usize] {
                        if other as usize != index {
                            if scores[other as usize] == 0.0 {
                                touched.push(other);
                            }
                            scores[other as usize] += weight * other_weight;
                        }
                    }
                }
                let mut candidates: Vec<(f32, u32)> =
                    touched.iter().map(|&other| (scores[other as usize], other)).filter(|&(s, _)| s > 0.0).collect();
                for &other in touched.iter() {
                    scores[other as usize] = 0.0;
                }
                touched.clear();
                let order = |a: &(f32, u32), b: &(f32, u32)| {
                    let (pa, pb) = (&posts[a.1 as usize], &posts[b.1 as usize]);
                    b.0.total_cmp(&a.0).then_with(|| pb.date.cmp(&pa.date)).then_with(|| pa.id.cmp(&pb.id))
                };
                if candidates.len() > count {
                    candidates.select_nth_unstable_by(count - 1, order);
                    candidates.truncate(count);
                }
                candidates.sort_by(order);
                candidates.into_iter().map(|(_, other)| other as usize).collect()
            },
        )
        .collect();
    for (post, related) in posts.iter_mut().zip(related) {
        post.related = related;
    }
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
