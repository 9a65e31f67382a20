//! Related-post quality on a corpus whose posts record their topic in `[extra] topic`
//! (benches/corpus.py, benches/real_prose.py): precision@k of kurier's related posts beside two
//! plain TF-IDF cosines computed in the same run over the same terms (kurier's words: stop words
//! dropped, stems cut).
//! `cargo bench --bench related_quality -- SITE_DIR`
//!
//! Precision@k of one post: its related posts in its own topic, over min(k, the other posts of
//! its topic) — the best any method can do; a post alone in its topic is not counted. "micro"
//! sums over posts, "macro" averages the topics' precisions (real prose has one big folder).
//!
//! The baselines compare every post with every other one, which the product never may (§9):
//! - `tfidf`: raw counts × (ln((1+N)/(1+df)) + 1), L2-normalised — scikit-learn's
//!   `TfidfVectorizer` defaults, the "30 lines of Python";
//! - `tfidf-sub`: (1 + ln tf) × ln(N/df), L2-normalised.
//!
//! Both use all of a post's terms and no tags. Above 3,000 posts they are computed for 1,000
//! query posts (every N/1000-th, in date order), and kurier's precision is given on the same
//! queries as well as on all posts.

use std::path::PathBuf;
use std::time::Instant;

use kurier::config::Config;
use kurier::site::{Post, Site};
use rustc_hash::FxHashMap;
use serde_json::Value;

/// The most posts whose related posts the all-pairs baselines compute.
const BASELINE_QUERIES: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let root = PathBuf::from(args.first().expect("usage: related_quality SITE_DIR"));
    let config = Config::load(&root).expect("kurier.toml");
    let k = config.feeds.related;
    let started = Instant::now();
    let site = Site::load(&root, &config, chrono::Utc::now()).expect("content").site;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut posts = site.posts.clone();
    let started = Instant::now();
    let cpu_started = cpu_ms();
    kurier::site::link_related(&mut posts, k);
    let link_cpu_ms = cpu_ms() - cpu_started;
    let link_ms = started.elapsed().as_secs_f64() * 1e3;
    let posts = &site.posts;
    let n = posts.len();

    let topics: Vec<Option<Value>> =
        posts.iter().map(|p| p.extra.get("extra").and_then(|e| e.get("topic")).cloned()).collect();
    let mut sizes: FxHashMap<String, usize> = FxHashMap::default();
    for topic in topics.iter().flatten() {
        *sizes.entry(topic.to_string()).or_default() += 1;
    }
    let precision = |queries: &[usize], related: &dyn Fn(usize) -> Vec<usize>| {
        // topic → (hits, possible)
        let mut per_topic: FxHashMap<String, (usize, usize)> = FxHashMap::default();
        for &q in queries {
            let Some(topic) = &topics[q] else { continue };
            let possible = k.min(sizes[&topic.to_string()] - 1);
            if possible == 0 {
                continue;
            }
            let hits = related(q).iter().take(k).filter(|&&o| topics[o].as_ref() == Some(topic)).count();
            let entry = per_topic.entry(topic.to_string()).or_default();
            entry.0 += hits;
            entry.1 += possible;
        }
        let (hits, possible) = per_topic.values().fold((0, 0), |(h, p), &(a, b)| (h + a, p + b));
        let macro_ = per_topic.values().map(|&(h, p)| h as f64 / p as f64).sum::<f64>() / per_topic.len().max(1) as f64;
        (hits as f64 / possible.max(1) as f64, macro_)
    };

    let queries: Vec<usize> =
        if n <= 3000 { (0..n).collect() } else { (0..BASELINE_QUERIES).map(|i| i * n / BASELINE_QUERIES).collect() };
    let all: Vec<usize> = (0..n).collect();
    let kurier_related = |q: usize| posts[q].related.clone();
    let (kurier_all, kurier_all_macro) = precision(&all, &kurier_related);
    let (kurier_q, kurier_q_macro) = precision(&queries, &kurier_related);
    let started = Instant::now();
    let sklearn = baseline(posts, &queries, k, |tf, df| tf as f32 * (((1 + n) as f32 / (1 + df) as f32).ln() + 1.0));
    let sublinear = baseline(posts, &queries, k, |tf, df| (1.0 + (tf as f32).ln()) * (n as f32 / df as f32).ln());
    let baseline_ms = started.elapsed().as_secs_f64() * 1e3;
    let (sk, sk_macro) = precision(&queries, &|q| sklearn[&q].clone());
    let (sub, sub_macro) = precision(&queries, &|q| sublinear[&q].clone());
    println!(
        "posts {n}, topics {}, queries {} | precision@{k} micro/macro: kurier {kurier_q:.3}/{kurier_q_macro:.3} \
         | tfidf {sk:.3}/{sk_macro:.3} | tfidf-sub {sub:.3}/{sub_macro:.3} | kurier on all posts \
         {kurier_all:.3}/{kurier_all_macro:.3} | load+link {load_ms:.0} ms, link alone {link_ms:.0} ms ({link_cpu_ms:.0} ms CPU), baselines {baseline_ms:.0} ms",
        sizes.len(),
        queries.len(),
    );
}

/// CPU time of this process so far (user and system, all threads), from /proc/self/stat: on a
/// machine shared with other builds it says more than the wall time. Linux only, 10 ms ticks.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: f64 = after.split_whitespace().skip(11).take(2).filter_map(|f| f.parse::<f64>().ok()).sum();
    ticks * 10.0
}

/// The `k` posts most similar to each query by the cosine of `weight(tf, df)` vectors over all
/// terms; ties broken as kurier breaks them (newer first, then id).
fn baseline(
    posts: &[Post],
    queries: &[usize],
    k: usize,
    weight: impl Fn(u32, u32) -> f32,
) -> FxHashMap<usize, Vec<usize>> {
    let mut df: FxHashMap<u64, u32> = FxHashMap::default();
    for post in posts {
        for (term, _) in post.terms.iter() {
            *df.entry(term).or_default() += 1;
        }
    }
    let mut ids: FxHashMap<u64, usize> = FxHashMap::default();
    let vectors: Vec<Vec<(usize, f32)>> = posts
        .iter()
        .map(|post| {
            let mut v: Vec<(usize, f32)> = post
                .terms
                .iter()
                .map(|(term, tf)| {
                    let next = ids.len();
                    (*ids.entry(term).or_insert(next), weight(tf, df[&term]))
                })
                .collect();
            let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|(_, w)| *w /= norm);
            }
            v
        })
        .collect();
    let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); ids.len()];
    for (index, vector) in vectors.iter().enumerate() {
        for &(term, w) in vector {
            postings[term].push((index as u32, w));
        }
    }
    let mut scores = vec![0f32; posts.len()];
    let mut out = FxHashMap::default();
    for &q in queries {
        scores.iter_mut().for_each(|s| *s = 0.0);
        for &(term, w) in &vectors[q] {
            for &(other, ow) in &postings[term] {
                scores[other as usize] += w * ow;
            }
        }
        let mut candidates: Vec<(f32, usize)> =
            scores.iter().enumerate().filter(|&(o, &s)| o != q && s > 0.0).map(|(o, &s)| (s, o)).collect();
        candidates.sort_by(|a, b| {
            let (pa, pb) = (&posts[a.1], &posts[b.1]);
            b.0.total_cmp(&a.0).then_with(|| pb.date.cmp(&pa.date)).then_with(|| pa.id.cmp(&pb.id))
        });
        out.insert(q, candidates.into_iter().take(k).map(|(_, o)| o).collect());
    }
    out
}
