//! The floor of a build: read every post file under `SITE/content` and render its Markdown to
//! HTML with pulldown-cmark, on all cores (rayon), and nothing else — no front matter, no
//! excerpt, no related posts, no feeds, no writes. What no feed generator can go below on this
//! machine; `benches/run.sh` compares `kurier build` with it in the same run.
//! `cargo bench --bench floor -- SITE`.

use std::path::PathBuf;

use pulldown_cmark::{Options, Parser};
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let root = PathBuf::from(args.first().expect("usage: floor SITE_DIR"));
    let files: Vec<PathBuf> = walkdir::WalkDir::new(root.join("content"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| e.into_path())
        .collect();
    let options = Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES | Options::ENABLE_STRIKETHROUGH;
    let bytes: usize = files
        .par_iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).expect("a UTF-8 post");
            let mut html = String::with_capacity(text.len() * 3 / 2);
            pulldown_cmark::html::push_html(&mut html, Parser::new_ext(&text, options));
            html.len()
        })
        .sum();
    println!("{} posts, {} bytes of HTML", files.len(), bytes);
}
