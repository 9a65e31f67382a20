//! Which tags share a feed. Tags whose names differ only in case or diacritics (`Stres`,
//! `stres`, `Zdrówie`/`Zdrowie`) are one tag and share `tags/<slug>/` — that is a merge, and it is
//! reported, so that `check` lists it. Tags whose names differ otherwise never share one: when
//! two such names still give one slug, the later one in the order of their folded names (stable
//! from build to build) gets the slug with `-2`, `-3` … and that is reported too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{Post, Warning};

/// What makes two tag names one tag: the name without case or diacritics.
fn folded(name: &str) -> String {
    deunicode::deunicode(name).to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Gives distinct tags distinct slugs across `posts` and reports every merge it makes.
pub fn separate(posts: &mut [Post]) -> Vec<Warning> {
    // Most sites spell each tag one way: then there is nothing to merge or rename.
    let mut spelling: rustc_hash::FxHashMap<&str, &str> = rustc_hash::FxHashMap::default();
    let one_spelling = posts.iter().all(|post| {
        post.tags.iter().zip(&post.tag_slugs).all(|(name, slug)| *spelling.entry(slug).or_insert(name) == name)
    });
    if one_spelling {
        return Vec::new();
    }
    // slug → folded name → (the names seen, the first post that used it).
    let mut by_slug: BTreeMap<String, BTreeMap<String, (BTreeSet<String>, PathBuf)>> = BTreeMap::new();
    // A site has far fewer tag names than tagged posts: each name is folded once.
    let mut folded_names: rustc_hash::FxHashMap<&str, String> = rustc_hash::FxHashMap::default();
    for post in posts.iter() {
        for (name, slug) in post.tags.iter().zip(&post.tag_slugs) {
            if !by_slug.contains_key(slug) {
                by_slug.insert(slug.clone(), BTreeMap::new());
            }
            let tags = by_slug.get_mut(slug).expect("inserted above");
            let key = folded_names.entry(name).or_insert_with(|| folded(name));
            if !tags.contains_key(key.as_str()) {
                tags.insert(key.clone(), (BTreeSet::new(), post.source.clone()));
            }
            let (names, _) = tags.get_mut(key.as_str()).expect("inserted above");
            if !names.contains(name) {
                names.insert(name.clone());
            }
        }
    }
    let mut warnings = Vec::new();
    let mut renamed: BTreeMap<(String, String), String> = BTreeMap::new();
    for (slug, tags) in &by_slug {
        let first_name = |names: &BTreeSet<String>| names.iter().next().cloned().unwrap_or_default();
        for (names, first) in tags.values().filter(|(names, _)| names.len() > 1) {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            let reason = format!("tags {} differ only in case or accents: they share tags/{slug}/", list.join(", "));
            warnings.push(Warning { path: first.clone(), line: None, reason });
        }
        let Some((kept, _)) = tags.values().next() else { continue };
        for (n, (folded_name, (names, first))) in tags.iter().enumerate().skip(1) {
            let mut candidate = format!("{slug}-{}", n + 1);
            while by_slug.contains_key(&candidate) {
                candidate.push_str("-x");
            }
            let (kept, moved) = (first_name(kept), first_name(names));
            let reason =
                format!("tags `{kept}` and `{moved}` would share tags/{slug}/: `{moved}` gets tags/{candidate}/");
            warnings.push(Warning { path: first.clone(), line: None, reason });
            renamed.insert((slug.clone(), folded_name.clone()), candidate);
        }
    }
    if renamed.is_empty() {
        return warnings;
    }
    for post in posts.iter_mut() {
        let new: Vec<Option<&String>> = post
            .tags
            .iter()
            .zip(&post.tag_slugs)
            .map(|(name, slug)| renamed.get(&(slug.clone(), folded(name))))
            .collect();
        if new.iter().any(Option::is_some) {
            for (slug, new) in post.read_mut().tag_slugs.iter_mut().zip(new) {
                if let Some(new) = new {
                    *slug = new.clone();
                }
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::site::Site;
    use std::path::Path;

    #[test]
    fn tags_that_slug_alike_get_their_own_feeds_and_merges_are_reported() {
        // Regression: `C++`, `C#` and `c` all became tags/c/, titled "C#", and check said nothing.
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, tags: &str| {
            let path = dir.path().join("content").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, format!("+++\ntitle = \"{name}\"\ndate = 2026-01-01\ntags = [{tags}]\n+++\nx\n"))
                .unwrap();
        };
        write("a.md", "\"C++\", \"Stres\"");
        write("b.md", "\"C#\", \"stres\"");
        write("c.md", "\"c\", \"c plus plus\"");
        let config = Config::parse("title = \"T\"\nbase_url = \"https://example.org/\"\n", Path::new("k")).unwrap();
        let loaded = Site::load(dir.path(), &config, "2026-11-26T00:00:00Z".parse().unwrap()).unwrap();
        let mut slugs: Vec<(String, String)> =
            loaded.site.posts.iter().flat_map(|p| p.tags.iter().cloned().zip(p.tag_slugs.iter().cloned())).collect();
        slugs.sort();
        assert_eq!(
            slugs,
            [
                ("C#", "c-sharp"),
                ("C++", "c-plus-plus-2"),
                ("Stres", "stres"),
                ("c", "c"),
                ("c plus plus", "c-plus-plus"),
                ("stres", "stres"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("tags `Stres`, `stres` differ only in case or accents: they share tags/stres/")),
            "{warnings:?}"
        );
        assert!(warnings.iter().any(|w| w.contains("`C++` gets tags/c-plus-plus-2/")), "{warnings:?}");
    }
}
