//! What linking made, kept so that the next link after an edit redoes only what the edit can
//! change — with the same result, bit for bit, as linking every post again.
//!
//! An edit of a post's words, tags or categories changes its vector, and the document frequency of
//! the terms it gained or lost; where that moves a term's idf (rarely, for a common term: the idf
//! is kept in steps), the weights of every post that has the term. From
//! the posts whose vectors changed (V), the rest follows step by step, each set exact:
//! - postings change only for terms among the heaviest of a changed vector (before or after);
//! - a post's candidates are found from nothing when its own vector changed or a post outside V
//!   came into or left a postings list it reads; chosen again among the same posts, with V's
//!   partial scores taken again, when only V's weights in those lists changed (unless the best
//!   post left out could now get in); else only the exact cosines of its candidates in V are
//!   taken again;
//! - CSLS's r(x) is taken again for every post whose candidates changed; a list is ranked again
//!   when its post's candidates or one of its candidates' r changed.
//!
//! Nothing depends on the order of term ids (ties between terms are broken by their keys), so a
//! term first seen in the edit can take the next free id.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{
    CANDIDATES, Found, Post, Scored, Scratch, TOP_TERMS, Terms, Vector, Vocabulary, by_score, cosine, final_order,
    hubness, idf, index, index_of, nearest, rank, tag_keys,
};

/// An update changing the vectors of more than 1/this of the posts links from nothing: past that,
/// the steps of an update cost more than linking all (measured on 10,000 posts: half of them
/// changed cost about 1.3× a link from nothing, 2 of them a sixth of it: `benches/phases.rs`).
const FROM_NOTHING_ABOVE: usize = 8;

/// Related lists of a site and everything they were made from.
#[derive(Clone, Default)]
pub struct Linked {
    count: usize,
    inputs: Vec<Input>,
    vocabulary: Vocabulary,
    vectors: Vec<Vector>,
    postings: Vec<Vec<(u32, f32)>>,
    found: Vec<Found>,
    hubness: Vec<f32>,
    related: Vec<Vec<usize>>,
}

/// How much an update redid: vectors weighed, posts whose candidates were found again, posts
/// whose candidates in V were only scored again, lists ranked again.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Redone {
    weighed: usize,
    found_again: usize,
    rescored: usize,
    ranked: usize,
}

/// What linking reads of a post.
#[derive(Clone)]
struct Input {
    id: String,
    date: DateTime<FixedOffset>,
    terms: Arc<Terms>,
    tags: Vec<u64>,
}

impl Input {
    fn of(post: &Post) -> Input {
        Input::with_tags(post, tag_keys(post))
    }

    fn with_tags(post: &Post, tags: Vec<u64>) -> Input {
        Input { id: post.id.clone(), date: post.date, terms: Arc::clone(&post.terms), tags }
    }

    fn dimensions(&self) -> impl Iterator<Item = u64> + '_ {
        self.terms.iter().map(|(term, _)| term).chain(self.tags.iter().copied())
    }

    /// Whether `post` has these words, tags and categories.
    fn same_dimensions(&self, post: &Post, tags: &[u64]) -> bool {
        (Arc::ptr_eq(&self.terms, &post.terms) || self.terms == post.terms) && self.tags == tags
    }
}

impl std::fmt::Debug for Linked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linked").field("count", &self.count).field("posts", &self.inputs.len()).finish_non_exhaustive()
    }
}

impl Linked {
    /// Links `posts` from nothing: their `count` most related posts each.
    pub fn new(posts: &[Post], count: usize) -> Linked {
        let inputs: Vec<Input> = posts.iter().map(Input::of).collect();
        let n = posts.len();
        if count == 0 || n < 2 {
            return Linked { count, inputs, related: vec![Vec::new(); n], ..Linked::default() };
        }
        let mut vocabulary = Vocabulary::default();
        for input in &inputs {
            vocabulary.count(input.dimensions(), 1);
        }
        let vectors: Vec<Vector> = inputs.par_iter().map(|i| vocabulary.weigh(&i.terms, &i.tags, n)).collect();
        let postings = index(&vectors, vocabulary.keys.len());
        let candidates = CANDIDATES.max(count);
        let found: Vec<Found> = (0..n)
            .into_par_iter()
            .map_init(
                || Scratch::new(n, vocabulary.keys.len()),
                |scratch, i| nearest(i, &vectors, &postings, candidates, scratch),
            )
            .collect();
        let hubness: Vec<f32> = found.iter().map(|f| hubness(&f.cosines)).collect();
        let order = final_order(posts);
        let related = found.par_iter().map(|f| rank(&f.cosines, &hubness, count, &order)).collect();
        Linked { count, inputs, vocabulary, vectors, postings, found, hubness, related }
    }

    /// Links `posts` again after an edit, redoing only what changed since this was made; from
    /// nothing when the posts are not the same posts in the same order, or `count` changed.
    pub fn update(self, posts: &[Post], count: usize) -> Linked {
        self.update_counting(posts, count).0
    }

    /// [`Linked::update`], and how much it redid.
    fn update_counting(mut self, posts: &[Post], count: usize) -> (Linked, Redone) {
        let n = posts.len();
        let same_posts = self.count == count
            && self.inputs.len() == n
            && self.inputs.iter().zip(posts).all(|(input, post)| input.id == post.id && input.date == post.date);
        if !same_posts || self.vectors.len() != n {
            let all = Redone { weighed: n, found_again: n, rescored: 0, ranked: n };
            return (Linked::new(posts, count), all);
        }
        // The edited posts, and the terms whose document frequency they change.
        let mut edited: Vec<usize> = Vec::new();
        let mut frequencies: FxHashMap<u64, u32> = FxHashMap::default();
        for (i, post) in posts.iter().enumerate() {
            let tags = tag_keys(post);
            if self.inputs[i].same_dimensions(post, &tags) {
                continue;
            }
            let before = std::mem::replace(&mut self.inputs[i], Input::with_tags(post, tags));
            for key in before.dimensions().chain(self.inputs[i].dimensions()) {
                frequencies.entry(key).or_insert_with(|| self.vocabulary.frequency(key));
            }
            self.vocabulary.count(before.dimensions(), -1);
            self.vocabulary.count(self.inputs[i].dimensions(), 1);
            edited.push(i);
        }
        if edited.is_empty() {
            return (self, Redone::default());
        }
        // Terms whose idf changed: most changes of a common term's frequency leave it as it was.
        let mut changed_idf = vec![false; self.vocabulary.keys.len()];
        for (key, before) in frequencies {
            let after = self.vocabulary.frequency(key);
            if after != before && (before == 0 || after == 0 || idf(n, before) != idf(n, after)) {
                changed_idf[self.vocabulary.terms[&key].0 as usize] = true;
            }
        }
        // V: the edited posts and every post with a term whose idf changed.
        let mut in_v = vec![false; n];
        for &i in &edited {
            in_v[i] = true;
        }
        let has_changed_term: Vec<bool> =
            self.vectors.par_iter().map(|vector| vector.iter().any(|&(term, _)| changed_idf[term as usize])).collect();
        for (flag, has) in in_v.iter_mut().zip(has_changed_term) {
            *flag |= has;
        }
        let v: Vec<usize> = (0..n).filter(|&i| in_v[i]).collect();
        if v.len() > n / FROM_NOTHING_ABOVE {
            // An edit of words many posts have: nearly every list is made again either way, and
            // from nothing that is cheaper than step by step (the same lists).
            return (Linked::new(posts, count), Redone { weighed: n, found_again: n, rescored: 0, ranked: n });
        }
        let vocabulary = &self.vocabulary;
        let inputs = &self.inputs;
        let weighed: Vec<Vector> =
            v.par_iter().map(|&i| vocabulary.weigh(&inputs[i].terms, &inputs[i].tags, n)).collect();
        // Terms among the heaviest of a changed vector, before or after.
        let terms = self.vocabulary.keys.len();
        let mut heavy = vec![false; terms];
        for (&i, vector) in v.iter().zip(&weighed) {
            for &(term, _) in self.vectors[i].iter().take(TOP_TERMS).chain(vector.iter().take(TOP_TERMS)) {
                heavy[term as usize] = true;
            }
        }
        for (&i, vector) in v.iter().zip(weighed) {
            self.vectors[i] = vector;
        }
        // Only those terms' postings are made again; terms first seen in the edit have none yet.
        let mut postings = index_of(&self.vectors, terms, |term| heavy[term]);
        self.postings.resize_with(terms, Vec::new);
        // Terms whose postings changed, and of those the ones where a post outside V came or went.
        let mut changed_postings = vec![false; terms];
        let mut moved_outside_v = vec![false; terms];
        for term in (0..terms).filter(|&term| heavy[term]) {
            let new = std::mem::take(&mut postings[term]);
            if !same_bits(&self.postings[term], &new) {
                changed_postings[term] = true;
                moved_outside_v[term] = moved_outside(&self.postings[term], &new, &in_v);
                self.postings[term] = new;
            }
        }
        // Each post's candidates: found again (its vector changed, or a post outside V came into or
        // left a postings list it reads), chosen again among the same posts with those of V
        // scored again, or only the exact cosines of its candidates in V taken again.
        let work: Vec<Work> = (0..n)
            .into_par_iter()
            .map(|i| {
                let heavy = || self.vectors[i].iter().take(TOP_TERMS).map(|&(term, _)| term as usize);
                if in_v[i] || heavy().any(|term| moved_outside_v[term]) {
                    Work::Find
                } else if heavy().any(|term| changed_postings[term]) {
                    Work::Choose
                } else if self.found[i].cosines.iter().any(|&(_, other)| in_v[other as usize]) {
                    Work::Rescore
                } else {
                    Work::None
                }
            })
            .collect();
        let candidates = CANDIDATES.max(count);
        let (vectors, postings, found) = (&self.vectors, &self.postings, &self.found);
        let renewed: Vec<(usize, Found, bool)> = (0..n)
            .into_par_iter()
            .filter(|&i| work[i] != Work::None)
            .map_init(
                || Scratch::new(n, terms),
                |scratch, i| {
                    let chosen = match work[i] {
                        Work::Choose => choose_again(i, &found[i], vectors, postings, &in_v, candidates, scratch),
                        Work::Rescore => Some(rescore(i, &found[i], vectors, &in_v, scratch)),
                        _ => None,
                    };
                    match chosen {
                        Some(again) => (i, again, false),
                        None => (i, nearest(i, vectors, postings, candidates, scratch), true),
                    }
                },
            )
            .collect();
        let mut redone = Redone { weighed: v.len(), ..Redone::default() };
        redone.found_again = renewed.iter().filter(|(_, _, from_nothing)| *from_nothing).count();
        redone.rescored = renewed.len() - redone.found_again;
        // r(x) of the posts whose candidates changed; lists ranked again where it can matter.
        let mut rank_again = vec![false; n];
        let mut changed_hubness = vec![false; n];
        for (i, again, _) in renewed {
            let r = hubness(&again.cosines);
            changed_hubness[i] = r.to_bits() != self.hubness[i].to_bits();
            self.hubness[i] = r;
            self.found[i] = again;
            rank_again[i] = true;
        }
        let order = final_order(posts);
        let (found, hubness) = (&self.found, &self.hubness);
        let ranked: Vec<(usize, Vec<usize>)> = (0..n)
            .into_par_iter()
            .filter(|&i| rank_again[i] || found[i].cosines.iter().any(|&(_, other)| changed_hubness[other as usize]))
            .map(|i| (i, rank(&found[i].cosines, hubness, count, &order)))
            .collect();
        redone.ranked = ranked.len();
        for (i, list) in ranked {
            self.related[i] = list;
        }
        (self, redone)
    }

    /// Sets each post's `related` to its list.
    pub fn apply(&self, posts: &mut [Post]) {
        for (post, related) in posts.iter_mut().zip(&self.related) {
            post.related.clone_from(related);
        }
    }
}

/// What an update does with one post's candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    None,
    Rescore,
    Choose,
    Find,
}

/// Post `i`'s candidates after an edit that changed only posts of V, where no post outside V came
/// into or left the postings its heavy terms read: the partial scores of posts outside V are what
/// they were, so the candidates are the best of the old ones outside V and the posts of V reached
/// now — unless a post that was reached but not kept could now get in (its partial score is known
/// only for the best of them, `loser`): then `None`, and the candidates are found from nothing.
fn choose_again(
    i: usize,
    before: &Found,
    vectors: &[Vector],
    postings: &[Vec<(u32, f32)>],
    in_v: &[bool],
    candidates: usize,
    s: &mut Scratch,
) -> Option<Found> {
    if before.loser.is_some_and(|(_, other)| in_v[other as usize]) {
        return None;
    }
    // The partial scores of the posts of V reached, summed in the order `nearest` sums them.
    let mut reached = 0;
    for &(term, weight) in vectors[i].iter().take(TOP_TERMS) {
        for &(other, other_weight) in postings[term as usize].iter().filter(|(other, _)| in_v[*other as usize]) {
            s.touched[reached] = other;
            reached += usize::from(s.scores[other as usize] == 0.0);
            s.scores[other as usize] += weight * other_weight;
        }
    }
    let mut partials: Scored = before.partials.iter().copied().filter(|&(_, other)| !in_v[other as usize]).collect();
    partials.extend(s.touched[..reached].iter().map(|&other| (s.scores[other as usize], other)));
    for &other in &s.touched[..reached] {
        s.scores[other as usize] = 0.0;
    }
    partials.sort_unstable_by(by_score);
    let mut loser = partials.get(candidates).copied();
    partials.truncate(candidates);
    if let Some(old) = before.loser {
        // Posts reached but not kept, outside V: none better than `old`, which must stay out.
        let last = partials.last().copied();
        if partials.len() < candidates || last.is_some_and(|last| by_score(&old, &last) == std::cmp::Ordering::Less) {
            return None;
        }
        loser = Some(loser.map_or(old, |new| std::cmp::min_by(new, old, by_score)));
    }
    let kept: FxHashMap<u32, f32> = before.cosines.iter().map(|&(cosine, other)| (other, cosine)).collect();
    let mut cosines = partials.clone();
    s.spread(&vectors[i], |dense| {
        for (score, other) in &mut cosines {
            *score = match kept.get(other) {
                Some(&cosine) if !in_v[*other as usize] => cosine,
                _ => cosine(dense, &vectors[*other as usize]),
            };
        }
    });
    cosines.sort_unstable_by(by_score);
    Some(Found { cosines, partials, loser })
}

/// Post `i`'s candidates, the same posts, with the exact cosines of those in V taken again.
fn rescore(i: usize, before: &Found, vectors: &[Vector], in_v: &[bool], s: &mut Scratch) -> Found {
    let mut found = before.clone();
    s.spread(&vectors[i], |dense| {
        for (score, other) in found.cosines.iter_mut().filter(|(_, other)| in_v[*other as usize]) {
            *score = cosine(dense, &vectors[*other as usize]);
        }
    });
    found.cosines.sort_unstable_by(by_score);
    found
}

/// Whether a post outside V is in one of two postings lists of a term and not in the other, or
/// in both with another weight.
fn moved_outside(old: &[(u32, f32)], new: &[(u32, f32)], in_v: &[bool]) -> bool {
    let outside = |list: &[(u32, f32)]| {
        let mut posts: Vec<(u32, u32)> =
            list.iter().filter(|(post, _)| !in_v[*post as usize]).map(|&(post, w)| (post, w.to_bits())).collect();
        posts.sort_unstable();
        posts
    };
    outside(old) != outside(new)
}

/// Whether two postings lists are the same posts with the same weights, bit for bit.
fn same_bits(a: &[(u32, f32)], b: &[(u32, f32)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    /// Words of the test sites: 40 for each of up to 50 topics, then 20 common to all.
    const WORDS: usize = 2020;
    const COMMON: usize = 2000;

    /// Words whose first six characters differ (terms are stems of six characters).
    fn words(count: usize) -> Vec<String> {
        const SYLLABLES: [&str; 16] =
            ["ka", "ro", "mi", "sze", "ło", "ść", "py", "te", "gu", "na", "dź", "le", "wo", "bi", "cz", "fa"];
        (0..count)
            .map(|i| format!("{}{}{}x", SYLLABLES[i % 16], SYLLABLES[(i / 16) % 16], SYLLABLES[(i / 256) % 16]))
            .collect()
    }

    /// A site to edit: posts on `topics` topics of 40 words each, with tags, 20 words common to
    /// all and a few of any topic.
    struct Site {
        config: Config,
        rng: fastrand::Rng,
        words: Vec<String>,
        texts: Vec<(Vec<String>, Vec<String>)>,
    }

    impl Site {
        fn new(posts: usize, topics: usize, seed: u64) -> Site {
            let config = Config::parse(
                "title = \"T\"\nbase_url = \"https://example.org/\"\n[feeds]\nrelated = 3\n",
                Path::new("kurier.toml"),
            )
            .unwrap();
            let mut rng = fastrand::Rng::with_seed(seed);
            let words = words(WORDS);
            let texts = (0..posts)
                .map(|_| {
                    let topic = rng.usize(..topics);
                    let text = (0..rng.usize(5..60))
                        .map(|_| match rng.u8(..10) {
                            0..=5 => words[topic * 40 + rng.usize(..40)].clone(),
                            6..=8 => words[COMMON + rng.usize(..20)].clone(),
                            _ => words[rng.usize(..WORDS)].clone(),
                        })
                        .collect();
                    let mut tags = vec![format!("temat-{topic}")];
                    if rng.bool() {
                        tags.push(format!("inne-{}", rng.usize(..5)));
                    }
                    (text, tags)
                })
                .collect();
            Site { config, rng, words, texts }
        }

        fn posts(&self) -> Vec<Post> {
            let content = Path::new("content");
            self.texts
                .iter()
                .enumerate()
                .map(|(i, (text, tags))| {
                    let date = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(i as u64);
                    let tags = tags.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
                    let source =
                        format!("+++\ntitle = \"Wpis {i}\"\ndate = {date}\ntags = [{tags}]\n+++\n{}\n", text.join(" "));
                    let path = content.join(format!("{i:04}.md"));
                    crate::site::post::parse(&path, source.as_bytes(), content, &self.config).unwrap()
                })
                .collect()
        }

        /// One edit of one or a few posts, of a kind picked at random.
        fn edit(&mut self) -> &'static str {
            let n = self.texts.len();
            let post = self.rng.usize(..n);
            let rng = &mut self.rng;
            match rng.u8(..8) {
                0 => {
                    let new = format!("nowość{}x", rng.u32(..));
                    self.texts[post].0.push(new);
                    "a word no other post has"
                }
                1 => {
                    let common = self.words[COMMON + rng.usize(..20)].clone();
                    self.texts[post].0.push(common);
                    "a word many posts have"
                }
                2 => {
                    self.texts[post].0.clear();
                    "the text removed"
                }
                3 => {
                    self.texts[post].1 = vec![format!("temat-{}", rng.usize(..8))];
                    "tags changed"
                }
                4 => {
                    let other = rng.usize(..n);
                    self.texts[post] = self.texts[other].clone();
                    "the text and tags of another post"
                }
                5 => {
                    for _ in 0..3 {
                        let (post, word) = (rng.usize(..n), self.words[rng.usize(..WORDS)].clone());
                        self.texts[post].0.push(word);
                    }
                    "three posts at once"
                }
                6 => {
                    let text = &mut self.texts[post].0;
                    if !text.is_empty() {
                        text.remove(rng.usize(..text.len()));
                    }
                    "a word taken out"
                }
                _ => {
                    let text = &mut self.texts[post].0;
                    text.push(text.first().cloned().unwrap_or_default());
                    "a word it has, once more"
                }
            }
        }
    }

    /// Why two links differ, if they do: vectors (by term key), candidates, r and lists, bit for bit.
    fn difference(a: &Linked, b: &Linked) -> Option<String> {
        let by_key = |l: &Linked, i: usize| -> Vec<(u64, u32)> {
            l.vectors[i].iter().map(|&(term, w)| (l.vocabulary.keys[term as usize], w.to_bits())).collect()
        };
        for i in 0..a.inputs.len() {
            if by_key(a, i) != by_key(b, i) {
                return Some(format!("vector of post {i}"));
            }
            let bits = |list: &Scored| list.iter().map(|&(s, o)| (s.to_bits(), o)).collect::<Vec<_>>();
            if bits(&a.found[i].cosines) != bits(&b.found[i].cosines) {
                return Some(format!("candidates of post {i}"));
            }
            if bits(&a.found[i].partials) != bits(&b.found[i].partials) {
                return Some(format!("partial scores of post {i}"));
            }
            let loser = |l: &Linked| l.found[i].loser.map(|(s, o)| (s.to_bits(), o));
            if loser(a) != loser(b) {
                return Some(format!("best post left out of post {i}'s candidates"));
            }
            if a.hubness[i].to_bits() != b.hubness[i].to_bits() {
                return Some(format!("r of post {i}"));
            }
            if a.related[i] != b.related[i] {
                return Some(format!("list of post {i}: {:?} / {:?}", a.related[i], b.related[i]));
            }
        }
        None
    }

    #[test]
    fn an_updated_link_is_bit_for_bit_the_link_made_from_nothing() {
        for (posts, topics, seed) in [(120, 8, 1), (300, 30, 2), (40, 3, 3), (400, 50, 4)] {
            let mut site = Site::new(posts, topics, seed);
            let mut linked = Linked::new(&site.posts(), 3);
            for step in 0..40 {
                let edit = site.edit();
                let posts = site.posts();
                linked = linked.update(&posts, 3);
                let fresh = Linked::new(&posts, 3);
                if let Some(difference) = difference(&linked, &fresh) {
                    panic!(
                        "{posts} posts, seed {seed}, edit {step} ({edit}): the {difference} differs",
                        posts = posts.len()
                    );
                }
            }
        }
    }

    #[test]
    fn an_update_redoes_only_what_the_edit_can_change() {
        // A word no other post has: one vector changes, and few posts' candidates are found again.
        let mut site = Site::new(500, 50, 5);
        let linked = Linked::new(&site.posts(), 3);
        site.texts[7].0.push("jedynakx".into());
        let posts = site.posts();
        let (updated, redone) = linked.update_counting(&posts, 3);
        assert!(difference(&updated, &Linked::new(&posts, 3)).is_none());
        assert_eq!(redone.weighed, 1);
        // Its candidates, and those of the posts whose postings lost or gained a post outside V.
        assert!(redone.found_again < 10, "{redone:?}");
        // The same posts in another number: linked from nothing.
        let fewer = &posts[1..];
        let (_, redone) = updated.update_counting(fewer, 3);
        assert_eq!(redone.weighed, fewer.len(), "{redone:?}");
    }

    #[test]
    fn a_word_many_posts_have_changes_their_weights_only_when_its_idf_crosses_a_step() {
        let site = Site::new(500, 50, 6);
        let n = site.texts.len();
        let linked = Linked::new(&site.posts(), 3);
        let common: Vec<String> =
            site.words[COMMON..COMMON + 20].iter().filter(|w| !site.texts[7].0.contains(w)).cloned().collect();
        assert!(common.len() >= 5, "post 7 lacks some common words: {common:?}");
        let (mut alone, mut crossed) = (0, 0);
        for word in &common {
            let mut edited = Site { texts: site.texts.clone(), words: site.words.clone(), ..Site::new(0, 1, 0) };
            edited.texts[7].0.push(word.clone());
            let posts = edited.posts();
            let (updated, redone) = linked.clone().update_counting(&posts, 3);
            assert!(difference(&updated, &Linked::new(&posts, 3)).is_none(), "{word}");
            // Whether the idf of a term the post gained, one other posts have, moved a step.
            let moved = updated.inputs[7].dimensions().any(|key| {
                let (before, after) = (linked.vocabulary.frequency(key), updated.vocabulary.frequency(key));
                before > 0 && before != after && idf(n, before) != idf(n, after)
            });
            if moved {
                crossed += 1;
                assert!(redone.weighed > 50, "{word}: {redone:?}");
            } else {
                alone += 1;
                assert_eq!(redone.weighed, 1, "{word}: {redone:?}");
            }
        }
        // Both happen (in these 500 posts one post more moves such a word's idf by about half a
        // step): without the steps every such edit would weigh all the posts that have the word.
        assert!(alone > 0 && crossed > 0, "{alone} edits weighed one post, {crossed} weighed all that have the word");
    }
}
