//! Related posts: for every visible post, the N most related other visible posts.
//!
//! A post is one TF-IDF vector whose dimensions are its words ([`terms`]) and its tags and
//! categories: a word weighs (1 + ln tf) × idf, a tag weighs as a word of the title (which is
//! counted twice) would, 1 + ln 2, times its own idf. Tags are dimensions of the same vector, not a
//! bonus beside it: a tag shared by chance weighs what a rare shared word weighs, and cannot outvote
//! a text that says otherwise. The idf is ln((N + 1) / df), so a term in every post weighs almost
//! nothing (never exactly nothing, so that posts sharing only common terms still rank among
//! themselves). No term is dropped for being common: there is no cut-off tuned to one corpus shape.
//!
//! Linking runs in named steps, each a function below:
//! 1. [`weigh`]: every post's unit vector over all its dimensions, heaviest first.
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
//! (newer first), then id.

mod terms;

use std::cmp::Ordering;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

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

/// A post's unit vector: (term id, weight), heaviest first.
type Vector = Vec<(u32, f32)>;
/// (score, post index) pairs, best first.
type Scored = Vec<(f32, u32)>;
/// Best first: higher score, then newer, then lower id.
type Order<'a> = dyn Fn(&(f32, u32), &(f32, u32)) -> Ordering + Sync + 'a;

/// Sets `related` on every post: at most `count` indices into `posts`, best first.
pub fn link(posts: &mut [Post], count: usize) {
    for post in posts.iter_mut() {
        post.related.clear();
    }
    if count == 0 || posts.len() < 2 {
        return;
    }
    let order = |a: &(f32, u32), b: &(f32, u32)| {
        let (pa, pb) = (&posts[a.1 as usize], &posts[b.1 as usize]);
        b.0.total_cmp(&a.0).then_with(|| pb.date.cmp(&pa.date)).then_with(|| pa.id.cmp(&pb.id))
    };
    let (vectors, vocabulary) = weigh(posts);
    let postings = index(&vectors, vocabulary);
    let neighbours = nearest(&vectors, &postings, vocabulary, CANDIDATES.max(count));
    let hubness = hubness(&neighbours);
    let related = rank(neighbours, &hubness, count, &order);
    for (post, related) in posts.iter_mut().zip(related) {
        post.related = related;
    }
}

/// Whether [`link`] would make the same lists of `after` as it made of `before`: the same posts in
/// the same order with the same terms, tags, categories, dates and ids — everything it reads (the
/// number of posts in a list is the caller's to compare).
pub fn same_inputs(before: &[Post], after: &[Post]) -> bool {
    before.len() == after.len()
        && before.iter().zip(after).all(|(a, b)| {
            a.id == b.id
                && a.date == b.date
                && a.tag_slugs == b.tag_slugs
                && a.category_slugs == b.category_slugs
                && (std::sync::Arc::ptr_eq(&a.terms, &b.terms) || a.terms == b.terms)
        })
}

/// Every post's unit TF-IDF vector over all its words, tags and categories, heaviest first, and
/// the number of distinct terms (term ids are given in post order).
fn weigh(posts: &[Post]) -> (Vec<Vector>, usize) {
    let n = posts.len();
    let tags: Vec<Vec<u64>> = posts
        .iter()
        .map(|post| {
            let mut keys: Vec<u64> =
                post.tag_slugs.iter().chain(&post.category_slugs).map(|s| terms::tag_key(s)).collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        })
        .collect();
    // term → (id, document frequency), for words and tags alike.
    let mut ids: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
    for (post, tags) in posts.iter().zip(&tags) {
        for term in post.terms.iter().map(|(term, _)| term).chain(tags.iter().copied()) {
            let next = ids.len() as u32;
            ids.entry(term).or_insert((next, 0)).1 += 1;
        }
    }
    let tag_tf = 1.0 + TAG_COUNT.ln();
    let vectors = posts
        .par_iter()
        .zip(&tags)
        .map(|(post, tags)| {
            let weigh = |term: u64, tf: f32| {
                let (id, df) = ids[&term];
                (id, tf * ((n + 1) as f32 / df as f32).ln())
            };
            let words = post.terms.iter().map(|(term, tf)| weigh(term, 1.0 + (tf as f32).ln()));
            let vector: Vector = words.chain(tags.iter().map(|&tag| weigh(tag, tag_tf))).collect();
            unit(vector)
        })
        .collect();
    (vectors, ids.len())
}

/// `vector` sorted heaviest first (ties by term id) and scaled to length 1; empty if it is zero.
fn unit(mut vector: Vector) -> Vector {
    vector.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm == 0.0 {
        return Vec::new();
    }
    vector.into_iter().map(|(term, w)| (term, w / norm)).collect()
}

/// term id → (post, weight) of the posts that have the term among their [`TOP_TERMS`] heaviest
/// dimensions: the [`POSTINGS`] heaviest such posts (ties by index), else in post order.
fn index(vectors: &[Vector], vocabulary: usize) -> Vec<Vec<(u32, f32)>> {
    let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); vocabulary];
    for (index, vector) in vectors.iter().enumerate() {
        for &(term, weight) in vector.iter().take(TOP_TERMS) {
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

/// Each post's best `candidates` among the posts its heavy terms reach through `postings`, scored
/// by their exact cosine over all dimensions, best first.
fn nearest(vectors: &[Vector], postings: &[Vec<(u32, f32)>], vocabulary: usize, candidates: usize) -> Vec<Scored> {
    let n = vectors.len();
    (0..n)
        .into_par_iter()
        .map_init(
            // `touched` has room for every post and one more: each is written before it is known
            // to be new, and only kept (counted) if it is.
            || (vec![0f32; n], vec![0u32; n + 1], Scored::new(), vec![0f32; vocabulary]),
            |(scores, touched, reached_posts, dense), index| {
                // Score every post reached, this one too (left out below): without a branch on
                // whether a post was reached before, which a processor mispredicts half the time.
                let mut reached = 0;
                for &(term, weight) in vectors[index].iter().take(TOP_TERMS) {
                    for &(other, other_weight) in &postings[term as usize] {
                        touched[reached] = other;
                        reached += usize::from(scores[other as usize] == 0.0);
                        scores[other as usize] += weight * other_weight;
                    }
                }
                let touched = &touched[..reached];
                reached_posts.clear();
                reached_posts.extend(
                    touched
                        .iter()
                        .filter(|&&other| other as usize != index)
                        .map(|&other| (scores[other as usize], other)),
                );
                for &other in touched {
                    scores[other as usize] = 0.0;
                }
                if reached_posts.len() > candidates {
                    reached_posts.select_nth_unstable_by(candidates - 1, by_score);
                }
                // A list of its own size: the thousands reached on a site of few topics are not kept.
                let mut found: Scored = reached_posts[..reached_posts.len().min(candidates)].to_vec();
                // The exact cosine: this post spread over a dense array, each candidate summed on it.
                for &(term, weight) in &vectors[index] {
                    dense[term as usize] = weight;
                }
                for (score, other) in &mut found {
                    *score = vectors[*other as usize].iter().map(|&(term, w)| dense[term as usize] * w).sum();
                }
                for &(term, _) in &vectors[index] {
                    dense[term as usize] = 0.0;
                }
                found.sort_unstable_by(by_score);
                found
            },
        )
        .collect()
}

/// Higher score first, then lower index: a total order, cheaper than the posts' date and id
/// (which only the final order needs).
fn by_score(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1))
}

/// CSLS's r(x) of every post: the mean cosine of its [`HUB_NEIGHBOURS`] nearest posts (a post with
/// fewer candidates counts the missing ones as 0, as an all-pairs comparison would).
fn hubness(neighbours: &[Scored]) -> Vec<f32> {
    neighbours
        .iter()
        .map(|list| list.iter().take(HUB_NEIGHBOURS).map(|&(cosine, _)| cosine).sum::<f32>() / HUB_NEIGHBOURS as f32)
        .collect()
}

/// Each post's `count` best neighbours by CSLS, 2 cos(a, b) − r(a) − r(b): r(a) is the same for
/// all of a's neighbours, so they are ordered by 2 cos(a, b) − r(b).
fn rank(neighbours: Vec<Scored>, hubness: &[f32], count: usize, order: &Order) -> Vec<Vec<usize>> {
    neighbours
        .into_par_iter()
        .map(|list| {
            let mut scored: Scored =
                list.into_iter().map(|(cosine, other)| (2.0 * cosine - hubness[other as usize], other)).collect();
            scored.sort_by(order);
            scored.into_iter().take(count).map(|(_, other)| other as usize).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector giving each of `terms` the same weight.
    fn flat(terms: impl Iterator<Item = u32>) -> Vector {
        unit(terms.map(|term| (term, 1.0)).collect())
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
        let neighbours = nearest(&vectors, &postings, 1016, CANDIDATES);
        let found: Vec<u32> = neighbours[0].iter().map(|&(_, post)| post).collect();
        assert_eq!(found, [2, 1]);
        let shared = top as f32 / (top + 16) as f32;
        assert!((neighbours[0][0].0 - 1.0).abs() < 1e-5, "{:?}", neighbours[0]);
        assert!((neighbours[0][1].0 - shared).abs() < 1e-5, "{:?}", neighbours[0]);
    }

    #[test]
    fn hubness_is_the_mean_cosine_of_the_ten_nearest_missing_ones_counting_zero() {
        let neighbours = vec![vec![(0.5, 1), (0.4, 2), (0.3, 3)], (1..=12).map(|i| (0.5, i)).collect(), vec![]];
        let hubness = hubness(&neighbours);
        assert!((hubness[0] - 0.12).abs() < 1e-6, "{hubness:?}");
        assert!((hubness[1] - 0.5).abs() < 1e-6, "{hubness:?}");
        assert_eq!(hubness[2], 0.0);
    }

    #[test]
    fn a_hub_near_to_everything_ranks_below_a_post_near_to_this_one_alone() {
        // Post 1 is a little nearer to post 0 by cosine, but as near to every post (r = 0.4); post
        // 2 is near to post 0 alone (r = 0.1): 2 × 0.45 − 0.1 = 0.8 beats 2 × 0.5 − 0.4 = 0.6.
        let neighbours = vec![vec![(0.5, 1), (0.45, 2), (0.2, 3)], vec![(0.5, 0)], vec![(0.45, 0)], vec![(0.2, 0)]];
        let hubness = [0.1, 0.4, 0.1, 0.02];
        let related = rank(neighbours, &hubness, 2, &by_score);
        assert_eq!(related, [vec![2, 1], vec![0], vec![0], vec![0]]);
    }
}
