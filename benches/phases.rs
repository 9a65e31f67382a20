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
