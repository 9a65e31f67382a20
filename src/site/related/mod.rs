//! Related posts: for every visible post, the N most related other visible posts.
//!
//! A post is one TF-IDF vector whose dimensions are its words ([`terms`]) and its tags and
//! categories: a word weighs (1 + ln tf) × idf, a tag weighs as a word of the title (which is
//! counted twice) would, 1 + ln 2, times its own idf. Tags are dimensions of the same vector, not a
//! bonus beside it: a tag shared by chance weighs what a rare shared word weighs, and cannot outvote
//! a text that says otherwise. The idf is ln((N + 1) / df), kept to 0.4 % ([`idf`]), so a term
//! in every post weighs almost nothing (never exactly nothing, so that posts sharing only common
//! terms still rank among themselves). No term is dropped for being common: there is no cut-off tuned to one corpus shape.
//!
//! Linking runs in named steps, each a function below:
//! 1. [`Vocabulary::weigh`]: every post's unit vector over all its dimensions, heaviest first.
//! 2. [`index`]: an inverted index (term → posts) of each post's [`TOP_TERMS`] heaviest
//!    dimensions, each term keeping its [`POSTINGS`] heaviest posts (static index pruning by
//!    weight, Carmel et al., SIGIR 2001): a common term is rarely among a post's heaviest, and a
//!    term heavy in thousands of posts adds nothing the next few hundred did not.
//! 3. [`nearest`]: a post's candidates are the posts sharing one of its heavy terms, best
//!    [`CANDIDATES`] by the score over those terms; each candidate is then scored by the exact
//!    cosine over *all* dimensions of both posts. Never an all-pairs comparison of full texts (§9),
//!    yet a long post is not judged by 48 of its thousands of terms.
//! 4. [`hubness`] and [`rank`]: cosine favours "hubs", posts near to everything (long, generic
//!    ones: an index, a changelog). The final order is CSLS, cross-domain similarity local scaling
//!    (Conneau et al., "Word translation without parallel data", ICLR 2018), with its k = 10:
//!    2 cos(a, b) − r(a) − r(b), where r(x) is the mean cosine of x's [`HUB_NEIGHBOURS`] nearest.
//!
//! Deterministic: terms and postings are visited in a fixed order, and ties are broken by date
//! (newer first), then id. What a link made is kept ([`Linked`]) so that the daemon, after an edit,
//! redoes only the steps of the posts the edit can change, to the same result bit for bit.

mod linked;
mod terms;

use std::cmp::Ordering;

use rustc_hash::FxHashMap;

pub use linked::Linked;
pub use terms::{TermCounter, Terms};

use super::Post;

/// Dimensions (terms and tags) of each post that find its candidates: a bound on the work, not a
/// judgement of which terms matter (the weights make that; candidates are scored on all of them).
pub const TOP_TERMS: usize = 48;
/// Posts one term's postings keep, the heaviest: a bound on the work on sites with few topics.
pub const POSTINGS: usize = 64;
/// Candidates of each post scored by the exact cosine (more when more related posts are asked).
pub const CANDIDATES: usize = 64;
/// CSLS's k: the nearest posts whose mean cosine tells how much of a hub a post is.
pub const HUB_NEIGHBOURS: usize = 10;
/// The count a tag or category stands for: a word of the title, which is counted twice.
const TAG_COUNT: f32 = 2.0;

/// A post's unit vector: (term id, weight), heaviest first, ties by term key.
type Vector = Vec<(u32, f32)>;
/// (score, post index) pairs, best first.
type Scored = Vec<(f32, u32)>;
/// Best first: higher score, then newer, then lower id.
type Order<'a> = dyn Fn(&(f32, u32), &(f32, u32)) -> Ordering + Sync + 'a;

/// Sets `related` on every post: at most `count` indices into `posts`, best first.
pub fn link(posts: &mut [Post], count: usize) {
    Linked::new(posts, count).apply(posts);
}

/// Best first: higher score, then newer, then lower id — the final order of a post's list.
fn final_order(posts: &[Post]) -> impl Fn(&(f32, u32), &(f32, u32)) -> Ordering + Sync + '_ {
    |a: &(f32, u32), b: &(f32, u32)| {
        let (pa, pb) = (&posts[a.1 as usize], &posts[b.1 as usize]);
        b.0.total_cmp(&a.0).then_with(|| pb.date.cmp(&pa.date)).then_with(|| pa.id.cmp(&pb.id))
    }
}

/// The dimensions of a post: its words' keys (sorted, unique) and then its tags' and categories'
/// (sorted, unique), with the count each stands for.
fn dimensions<'a>(terms: &'a Terms, tags: &'a [u64]) -> impl Iterator<Item = (u64, f32)> + 'a {
    let tag_tf = 1.0 + TAG_COUNT.ln();
    terms.iter().map(|(term, tf)| (term, 1.0 + (tf as f32).ln())).chain(tags.iter().map(move |&tag| (tag, tag_tf)))
}

/// The keys of a post's tags and categories, sorted, each once.
fn tag_keys(post: &Post) -> Vec<u64> {
    let mut keys: Vec<u64> = post.tag_slugs.iter().chain(&post.category_slugs).map(|s| terms::tag_key(s)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The vocabulary of a site: term key → (term id, document frequency), and each id's key.
#[derive(Debug, Clone, Default)]
struct Vocabulary {
    terms: FxHashMap<u64, (u32, u32)>,
    keys: Vec<u64>,
}

impl Vocabulary {
    /// Counts one post's dimensions in (`by` = 1) or out (`by` = -1).
    fn count(&mut self, dimensions: impl Iterator<Item = u64>, by: i32) {
        for key in dimensions {
            let next = self.keys.len() as u32;
            let entry = self.terms.entry(key).or_insert((next, 0));
            if entry.0 == next {
                self.keys.push(key);
            }
            entry.1 = entry.1.wrapping_add_signed(by);
        }
    }

    /// How many posts have the term `key` (0 for a term no post has).
    fn frequency(&self, key: u64) -> u32 {
        self.terms.get(&key).map_or(0, |&(_, df)| df)
    }

    /// A post's unit TF-IDF vector over all its dimensions, in a site of `n` posts.
    fn weigh(&self, terms: &Terms, tags: &[u64], n: usize) -> Vector {
        let vector = dimensions(terms, tags)
            .map(|(term, tf)| {
                let (id, df) = self.terms[&term];
                (id, tf * idf(n, df))
            })
            .collect();
        unit(vector, &self.keys)
    }
}

/// Steps of the idf per unit of its logarithm: each step is 0.8 % of the idf.
const IDF_STEPS: f32 = 128.0;

/// The idf of a term in `df` of `n` posts: ln((n + 1) / df), rounded to a step of 1/[`IDF_STEPS`]
/// of its logarithm (within 0.4 %). That is far finer than what sets weights apart (a term in 1 %
/// of the posts against one in 2 % is 15 % of idf; on both real-prose corpora of
/// `benches/related_grid.sh` precision@3 is the same as with the exact idf, ±0.001), but an edit
/// that adds or removes a word thousands of posts have then leaves their weights as they were
/// unless the word's idf crosses a step: for a word in 10 % of 10,000 posts, one post more moves
/// its idf by 0.04 %, a twentieth of a step. The related lists need not be made again
/// ([`Linked::update`]).
fn idf(n: usize, df: u32) -> f32 {
    let exact = ((n + 1) as f32 / df as f32).ln();
    ((exact.ln() * IDF_STEPS).round() / IDF_STEPS).exp()
}

/// `vector` sorted heaviest first (ties by term key, which no other post's edit can reorder) and
/// scaled to length 1; empty if it is zero.
fn unit(mut vector: Vector, keys: &[u64]) -> Vector {
    vector.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then_with(|| keys[a.0 as usize].cmp(&keys[b.0 as usize])));
    let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm == 0.0 {
        return Vec::new();
    }
    vector.into_iter().map(|(term, w)| (term, w / norm)).collect()
}

/// term id → (post, weight) of the posts that have the term among their [`TOP_TERMS`] heaviest
/// dimensions: the [`POSTINGS`] heaviest such posts (ties by index), else in post order.
fn index(vectors: &[Vector], vocabulary: usize) -> Vec<Vec<(u32, f32)>> {
    index_of(vectors, vocabulary, |_| true)
}

/// [`index`] of the terms `wanted` says; the other terms' lists are left empty.
fn index_of(vectors: &[Vector], vocabulary: usize, wanted: impl Fn(usize) -> bool) -> Vec<Vec<(u32, f32)>> {
    let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); vocabulary];
    for (index, vector) in vectors.iter().enumerate() {
        for &(term, weight) in vector.iter().take(TOP_TERMS).filter(|&&(term, _)| wanted(term as usize)) {
            postings[term as usize].push((index as u32, weight));
        }
    }
    for list in &mut postings {
        if list.len() > POSTINGS {
            list.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list.truncate(POSTINGS);
        }
    }
    postings
}

/// The working memory of [`nearest`] on one thread, for a site of `posts` and `vocabulary` terms.
struct Scratch {
    scores: Vec<f32>,
    /// Room for every post and one more: each is written before it is known to be new, and only
    /// kept (counted) if it is.
    touched: Vec<u32>,
    reached: Scored,
    dense: Vec<f32>,
}

impl Scratch {
    fn new(posts: usize, vocabulary: usize) -> Scratch {
        Scratch {
            scores: vec![0.0; posts],
            touched: vec![0; posts + 1],
            reached: Scored::new(),
            dense: vec![0.0; vocabulary],
        }
    }

    /// Runs `score` with `vector` spread over the dense array (zeroed again after).
    fn spread<T>(&mut self, vector: &Vector, score: impl FnOnce(&[f32]) -> T) -> T {
        for &(term, weight) in vector {
            self.dense[term as usize] = weight;
        }
        let result = score(&self.dense);
        for &(term, _) in vector {
            self.dense[term as usize] = 0.0;
        }
        result
    }
}

/// The exact cosine of two unit vectors, one of them spread over `dense`.
fn cosine(dense: &[f32], vector: &Vector) -> f32 {
    vector.iter().map(|&(term, w)| dense[term as usize] * w).sum()
}

/// A post's candidates: the posts reached through the postings of its heavy terms, best by the
/// partial score summed over those terms, then scored by their exact cosine.
#[derive(Debug, Clone, Default)]
struct Found {
    /// (exact cosine, post), best first.
    cosines: Scored,
    /// (partial score, post) of the same posts, best first.
    partials: Scored,
    /// The best post reached but not kept, if any: (partial score, post).
    loser: Option<(f32, u32)>,
}

/// Post `index`'s best `candidates` among the posts its heavy terms reach through `postings`,
/// scored by their exact cosine over all dimensions.
fn nearest(
    index: usize,
    vectors: &[Vector],
    postings: &[Vec<(u32, f32)>],
    candidates: usize,
    s: &mut Scratch,
) -> Found {
    // Score every post reached, this one too (left out below): without a branch on whether a post
    // was reached before, which a processor mispredicts half the time.
    let mut reached = 0;
    for &(term, weight) in vectors[index].iter().take(TOP_TERMS) {
        for &(other, other_weight) in &postings[term as usize] {
            s.touched[reached] = other;
            reached += usize::from(s.scores[other as usize] == 0.0);
            s.scores[other as usize] += weight * other_weight;
        }
    }
    let touched = &s.touched[..reached];
    s.reached.clear();
    s.reached.extend(
        touched.iter().filter(|&&other| other as usize != index).map(|&other| (s.scores[other as usize], other)),
    );
    for &other in touched {
        s.scores[other as usize] = 0.0;
    }
    let mut loser = None;
    if s.reached.len() > candidates {
        s.reached.select_nth_unstable_by(candidates - 1, by_score);
        loser = s.reached[candidates..].iter().copied().min_by(by_score);
    }
    // A list of its own size: the thousands reached on a site of few topics are not kept.
    let mut partials: Scored = s.reached[..s.reached.len().min(candidates)].to_vec();
    partials.sort_unstable_by(by_score);
    let mut cosines = partials.clone();
    s.spread(&vectors[index], |dense| {
        for (score, other) in &mut cosines {
            *score = cosine(dense, &vectors[*other as usize]);
        }
    });
    cosines.sort_unstable_by(by_score);
    Found { cosines, partials, loser }
}

/// Higher score first, then lower index: a total order, cheaper than the posts' date and id
/// (which only the final order needs).
fn by_score(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1))
}

/// CSLS's r(x) of a post: the mean cosine of its [`HUB_NEIGHBOURS`] nearest posts (a post with
/// fewer candidates counts the missing ones as 0, as an all-pairs comparison would).
fn hubness(neighbours: &Scored) -> f32 {
    neighbours.iter().take(HUB_NEIGHBOURS).map(|&(cosine, _)| cosine).sum::<f32>() / HUB_NEIGHBOURS as f32
}

/// A post's `count` best neighbours by CSLS, 2 cos(a, b) − r(a) − r(b): r(a) is the same for all
/// of a's neighbours, so they are ordered by 2 cos(a, b) − r(b).
fn rank(neighbours: &Scored, hubness: &[f32], count: usize, order: &Order) -> Vec<usize> {
    let mut scored: Scored =
        neighbours.iter().map(|&(cosine, other)| (2.0 * cosine - hubness[other as usize], other)).collect();
    scored.sort_by(order);
    scored.into_iter().take(count).map(|(_, other)| other as usize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector giving each of `terms` the same weight.
    fn flat(terms: impl Iterator<Item = u32>) -> Vector {
        let keys: Vec<u64> = (0..2000).collect();
        unit(terms.map(|term| (term, 1.0)).collect(), &keys)
    }

    #[test]
    fn postings_keep_the_heaviest_posts_of_a_common_term() {
        // Term 0 is the heaviest term of POSTINGS + 2 posts; the fewer other terms a post has (1 to
        // 5: 1 + i % 5), the more term 0 weighs in it.
        let posts = POSTINGS as u32 + 2;
        let vectors: Vec<Vector> = (0..posts).map(|i| flat(std::iter::once(0).chain(1..2 + i % 5))).collect();
        let postings = index(&vectors, 6);
        let kept: Vec<u32> = postings[0].iter().map(|&(post, _)| post).collect();
        let mut expected: Vec<u32> = (0..posts).collect();
        expected.sort_by_key(|i| (i % 5, *i));
        expected.truncate(POSTINGS);
        assert_eq!(kept, expected);
        // The two cut are the last two posts where term 0 weighs least (5 other terms).
        let cut: Vec<u32> = (0..posts).filter(|i| !kept.contains(i)).collect();
        let last_two: Vec<u32> = (0..posts).filter(|i| i % 5 == 4).rev().take(2).collect();
        assert_eq!(cut, last_two.into_iter().rev().collect::<Vec<_>>());
        // Term 5 is only in the posts with 5 other terms: fewer than POSTINGS, all kept in order.
        let term_5: Vec<u32> = postings[5].iter().map(|&(post, _)| post).collect();
        assert_eq!(term_5, (0..posts).filter(|i| i % 5 == 4).collect::<Vec<_>>());
    }

    #[test]
    fn candidates_are_scored_on_all_their_dimensions_not_only_the_heaviest() {
        // Posts 1 and 2 share post 0's TOP_TERMS heaviest terms alike; beyond them, post 2 shares
        // post 0's other 16 terms as well, post 1 has 16 others. On the heaviest terms alone they
        // tie (and the lower index, 1, would win); on all dimensions post 2 is post 0 itself.
        let top = TOP_TERMS as u32;
        let vectors = vec![flat(0..top + 16), flat((0..top).chain(1000..1016)), flat(0..top + 16)];
        let postings = index(&vectors, 1016);
        let neighbours = [nearest(0, &vectors, &postings, CANDIDATES, &mut Scratch::new(3, 1016)).cosines];
        let found: Vec<u32> = neighbours[0].iter().map(|&(_, post)| post).collect();
        assert_eq!(found, [2, 1]);
        let shared = top as f32 / (top + 16) as f32;
        assert!((neighbours[0][0].0 - 1.0).abs() < 1e-5, "{:?}", neighbours[0]);
        assert!((neighbours[0][1].0 - shared).abs() < 1e-5, "{:?}", neighbours[0]);
    }

    #[test]
    fn hubness_is_the_mean_cosine_of_the_ten_nearest_missing_ones_counting_zero() {
        let neighbours = [vec![(0.5, 1), (0.4, 2), (0.3, 3)], (1..=12).map(|i| (0.5, i)).collect(), vec![]];
        let hubness: Vec<f32> = neighbours.iter().map(hubness).collect();
        assert!((hubness[0] - 0.12).abs() < 1e-6, "{hubness:?}");
        assert!((hubness[1] - 0.5).abs() < 1e-6, "{hubness:?}");
        assert_eq!(hubness[2], 0.0);
    }

    #[test]
    fn a_hub_near_to_everything_ranks_below_a_post_near_to_this_one_alone() {
        // Post 1 is a little nearer to post 0 by cosine, but as near to every post (r = 0.4); post
        // 2 is near to post 0 alone (r = 0.1): 2 × 0.45 − 0.1 = 0.8 beats 2 × 0.5 − 0.4 = 0.6.
        let neighbours = [vec![(0.5, 1), (0.45, 2), (0.2, 3)], vec![(0.5, 0)], vec![(0.45, 0)], vec![(0.2, 0)]];
        let hubness = [0.1, 0.4, 0.1, 0.02];
        let related: Vec<Vec<usize>> = neighbours.iter().map(|list| rank(list, &hubness, 2, &by_score)).collect();
        assert_eq!(related, [vec![2, 1], vec![0], vec![0], vec![0]]);
    }
}
