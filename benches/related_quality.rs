//! Related-post quality on a topic corpus (benches/corpus.py records each post's topic in
//! `[extra] topic`): the share of related links that stay within the post's topic.
//! `cargo bench --bench related_quality -- SITE_DIR`

use std::path::PathBuf;
use std::time::Instant;

use kurier::config::Config;
use kurier::site::Site;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let root = PathBuf::from(args.first().expect("usage: related_quality SITE_DIR"));
    let config = Config::load(&root).expect("kurier.toml");
    let started = Instant::now();
    let site = Site::load(&root, &config, chrono::Utc::now()).expect("content").site;
    let topic = |i: usize| site.posts[i].extra.get("extra").and_then(|e| e.get("topic")).and_then(|t| t.as_i64());
    let (mut links, mut same) = (0usize, 0usize);
    for (i, post) in site.posts.iter().enumerate() {
        for &other in &post.related {
            links += 1;
            if topic(i).is_some() && topic(i) == topic(other) {
                same += 1;
            }
        }
    }
    println!(
        "posts {}, related links {}, within topic {}, precision {:.3} (load + link {:.0} ms)",
        site.posts.len(),
        links,
        same,
        same as f64 / links.max(1) as f64,
        started.elapsed().as_secs_f64() * 1e3
    );
}
