//! Times the phases of a full build of a site, to see what dominates:
//! `cargo bench --bench phases -- SITE_DIR [RUNS]`.

use std::path::PathBuf;
use std::time::Instant;

use kurier::config::Config;
use kurier::site::Site;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let root = PathBuf::from(args.first().expect("usage: phases SITE_DIR [RUNS]"));
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let config = Config::load(&root).expect("kurier.toml");
    let now = chrono::Utc::now();
    let mut unrelated = config.clone();
    unrelated.feeds.related = 0;
    for run in 1..=runs {
        let t = Instant::now();
        let _ = Site::load(&root, &unrelated, now).expect("content");
        println!("run {run}: load without related {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let loaded = Site::load(&root, &config, now).expect("content");
        let load = t.elapsed();
        let mut posts = loaded.site.posts.clone();
        let t = Instant::now();
        kurier::site::link_related(&mut posts, config.feeds.related);
        println!("run {run}: related alone {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        edits(&root, &config, now);
        let t = Instant::now();
        let files = kurier::feed::render(&loaded.site, &config);
        let render = t.elapsed();
        let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
        let t = Instant::now();
        let report = kurier::feed::output::write_all(&root.join(&config.output_dir), &files).expect("write");
        let write = t.elapsed();
        println!(
            "run {run}: load+related {:.0} ms, render {:.0} ms ({} files, {} MB), write {:.0} ms ({} written)",
            load.as_secs_f64() * 1e3,
            render.as_secs_f64() * 1e3,
            files.len(),
            bytes / 1_000_000,
            write.as_secs_f64() * 1e3,
            report.written.len()
        );
    }
}

/// The daemon's rebuild after an edit of one post, related posts updated from the last link beside
/// linked from nothing: the post gains a sentence of words no other post has, then words many
/// posts have. The post is put back as it was at the end.
fn edits(root: &std::path::Path, config: &Config, now: chrono::DateTime<chrono::Utc>) {
    let mut cache = kurier::site::PostCache::load(root, config).expect("content");
    let mut site = cache.site(config, now, None).site;
    let posts = &site.posts;
    let edited = posts[posts.len() / 2].source.clone();
    let path = root.join(&edited);
    let original = std::fs::read(&path).expect("post");
    let common = "Stres, sen, napięcie i zdrowie: ciało i emocje, codzienne objawy.";
    for (kind, sentence) in [("new words", "Kalibracja, rekalibracja, przekalibrowanie."), ("common words", common)] {
        let mut text = original.clone();
        text.extend_from_slice(format!("\n{sentence}\n").as_bytes());
        std::fs::write(&path, &text).expect("edit");
        cache.refresh(root, config, std::slice::from_ref(&edited));
        let t = Instant::now();
        let fresh = cache.site(config, now, None).site;
        let from_nothing = t.elapsed();
        let t = Instant::now();
        let updated = cache.site(config, now, Some(&mut site)).site;
        let update = t.elapsed();
        let same = fresh.posts.iter().zip(&updated.posts).all(|(a, b)| a.related == b.related);
        println!(
            "edit ({kind}): site with related linked from nothing {:.1} ms, updated {:.1} ms, same lists: {same}",
            from_nothing.as_secs_f64() * 1e3,
            update.as_secs_f64() * 1e3
        );
        site = updated;
    }
    std::fs::write(&path, &original).expect("put back");
}
