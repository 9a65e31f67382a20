//! Tera templates: the built-in defaults compiled into the binary, overridden by the files of
//! the site's own `templates/` folder, plus the filters kurier adds (Tera 2 has no date filter in
//! its core).
//!
//! Filters:
//! - `date(format="long"|"short"|strftime)` — an RFC 3339 date in the site's language:
//!   `26 listopada 2026`, `26.11.2026`, or any chrono format string;
//! - `plural(one=…, few=…, many=…)` — a count with the right plural form: `3 nowe wpisy`.
//!
//! A template that fails to parse, or that uses a variable it was not given, is reported with
//! the template's file and the line, by `check` before it could fail a send.

pub mod page;
pub mod text;

use std::path::{Path, PathBuf};

use chrono::DateTime;
use tera::{Context, Kwargs, State, Tera, TeraResult};

use crate::site::Plural;
pub use crate::site::{Locale, Strings};

use crate::config::Config;

/// The folder of a site's own templates.
pub const TEMPLATES_DIR: &str = "templates";
/// kurier's own templates inside [`TEMPLATES_DIR`], for a site whose `templates/` belongs to
/// another tool (a Zola site's `page.html`): when this folder exists, it is the only one read.
pub const OWN_TEMPLATES_DIR: &str = "templates/kurier";
pub const DIGEST_HTML: &str = "digest.html";
pub const DIGEST_TXT: &str = "digest.txt";
/// The subject line, from `digest.subject`.
pub const SUBJECT: &str = "subject.txt";
/// The pages of the subscription flow (subscribe, confirm, unsubscribe, errors).
pub const PAGE_HTML: &str = "page.html";
/// The double opt-in message.
pub const CONFIRM_EMAIL_HTML: &str = "confirm_email.html";
pub const CONFIRM_EMAIL_TXT: &str = "confirm_email.txt";

/// The subject when `digest.subject` is not set.
pub const DEFAULT_SUBJECT: &str = "{{ site.title }}: {{ new_posts }}";

/// Templates compiled into the binary: `templates/` of kurier's repository.
pub const BUILT_IN: &[(&str, &str)] = &[
    (DIGEST_HTML, include_str!("../../templates/digest.html")),
    (DIGEST_TXT, include_str!("../../templates/digest.txt")),
    (PAGE_HTML, include_str!("../../templates/page.html")),
    (CONFIRM_EMAIL_HTML, include_str!("../../templates/confirm_email.html")),
    (CONFIRM_EMAIL_TXT, include_str!("../../templates/confirm_email.txt")),
];

/// A template that could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct RenderError {
    /// The file the template came from, or `built-in digest.html`, or `kurier.toml digest.subject`.
    pub origin: String,
    pub message: String,
}

/// The loaded templates of a site.
pub struct Templates {
    tera: Tera,
    locale: Locale,
    origins: Vec<(String, String)>,
    /// Files of the site's templates folder that are not used, and why.
    warnings: Vec<String>,
}

impl Templates {
    /// Built-in templates, the site's overrides from `root/templates`, and the subject template.
    pub fn load(root: &Path, config: &Config) -> Result<Templates, RenderError> {
        let locale = Locale::of(&config.language);
        let mut tera = Tera::new();
        register_filters(&mut tera, config);
        let mut origins = Vec::new();
        for (name, text) in BUILT_IN {
            add(&mut tera, &mut origins, name, text, format!("built-in {name}"))?;
        }
        let warnings = add_site_templates(&mut tera, &mut origins, root, config, locale)?;
        let subject = config.digest.subject.as_deref().unwrap_or(DEFAULT_SUBJECT);
        add(&mut tera, &mut origins, SUBJECT, subject, "kurier.toml digest.subject".to_owned())?;
        Ok(Templates { tera, locale, origins, warnings })
    }

    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The site's template files left unused, each with why (`check` shows them).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Renders the template `name`; errors name the file it came from. A panic inside the
    /// template engine or a filter is an error too: a template must never take a send or the
    /// daemon down.
    pub fn render(&self, name: &str, context: &Context) -> Result<String, RenderError> {
        render_safely(&self.tera, name, context).map_err(|message| RenderError { origin: self.origin(name), message })
    }

    fn origin(&self, name: &str) -> String {
        self.origins.iter().rev().find(|(n, _)| n == name).map_or_else(|| name.to_owned(), |(_, o)| o.clone())
    }
}

fn add(
    tera: &mut Tera,
    origins: &mut Vec<(String, String)>,
    name: &str,
    text: &str,
    origin: String,
) -> Result<(), RenderError> {
    tera.add_raw_template(name, text).map_err(|e| RenderError { origin: origin.clone(), message: e.to_string() })?;
    origins.push((name.to_owned(), origin));
    Ok(())
}

/// Adds the site's own templates over the built-in ones and says which files were left out.
///
/// Parents and includes may come in any order, so files are added in passes until no more can
/// be. A file that still cannot be added is an error when kurier renders it by its name
/// ([`BUILT_IN`]); any other file of the folder is left out with a warning — it may belong to
/// another tool (a Zola site keeps its own Tera templates in `templates/`). A site `page.html`
/// that cannot render kurier's sample page (Zola's page template, again) is left out the same
/// way and the built-in page is used.
fn add_site_templates(
    tera: &mut Tera,
    origins: &mut Vec<(String, String)>,
    root: &Path,
    config: &Config,
    locale: Locale,
) -> Result<Vec<String>, RenderError> {
    let own = root.join(OWN_TEMPLATES_DIR);
    let folder = if own.is_dir() { OWN_TEMPLATES_DIR } else { TEMPLATES_DIR };
    // Like the configured paths: the site's templates come from inside the site folder.
    if root.join(folder).exists() {
        crate::config::paths::check_resolved(root, Path::new(folder))
            .map_err(|message| RenderError { origin: format!("{folder}/"), message })?;
    }
    let mut pending = Vec::new();
    for (name, path) in overrides(&root.join(folder)) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| RenderError { origin: path.display().to_string(), message: e.to_string() })?;
        pending.push((name, text));
    }
    let mut warnings = Vec::new();
    loop {
        let before = pending.len();
        let mut failed = Vec::new();
        for (name, text) in pending {
            match add(tera, origins, &name, &text, format!("{folder}/{name}")) {
                Ok(()) => {}
                Err(e) => failed.push((name, text, e)),
            }
        }
        if failed.is_empty() || failed.len() == before {
            let mut left_out = Vec::new();
            for (name, _, e) in failed {
                if name == PAGE_HTML {
                    warnings.push(not_a_kurier_page(folder, &e.message));
                } else if BUILT_IN.iter().any(|(built_in, _)| *built_in == name) {
                    return Err(e);
                } else {
                    left_out.push(format!("{name} ({})", first_line(&e.message)));
                }
            }
            if !left_out.is_empty() {
                warnings.push(format!(
                    "{folder}/: left out {} that kurier cannot load and does not use: {}",
                    if left_out.len() == 1 { "a file" } else { "files" },
                    left_out.join(", ")
                ));
            }
            break;
        }
        pending = failed.into_iter().map(|(name, text, _)| (name, text)).collect();
    }
    let overridden = origins.iter().any(|(name, origin)| name == PAGE_HTML && !origin.starts_with("built-in"));
    let tried = overridden.then(|| render_safely(tera, PAGE_HTML, &page::sample(config, locale)));
    let refused = match tried {
        Some(Err(e)) => Some(e),
        Some(Ok(html)) if !page::shows_the_form(config, &html) => {
            Some("the subscribe page it renders has no form with an `email` field posting to /subscribe".to_owned())
        }
        _ => None,
    };
    if let Some(e) = refused {
        warnings.push(not_a_kurier_page(folder, &e));
        let built_in = BUILT_IN.iter().find(|(name, _)| *name == PAGE_HTML).expect("page.html is built in").1;
        add(tera, origins, PAGE_HTML, built_in, format!("built-in {PAGE_HTML}"))?;
    }
    Ok(warnings)
}

/// Why a site's `page.html` is not used.
fn not_a_kurier_page(folder: &str, why: &str) -> String {
    let why = first_line(why);
    format!(
        "{folder}/{PAGE_HTML} cannot render kurier's pages ({why}); the built-in page is used. If it is \
         another tool's template (Zola's page.html), put kurier's own templates in {OWN_TEMPLATES_DIR}/"
    )
}

/// A template error on one line: Tera's first line and where (`Unknown tag at page.html:2:4`).
fn first_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim);
    let what = lines.next().unwrap_or_default().trim_start_matches("error: ");
    match lines.find_map(|line| line.strip_prefix("--> ")) {
        Some(place) => format!("{what} at {place}"),
        None => what.to_owned(),
    }
}

/// Renders `name`, turning a panic inside the template engine or a filter into an error: a
/// template must never take a send or the daemon down.
fn render_safely(tera: &Tera, name: &str, context: &Context) -> Result<String, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tera.render(name, context))) {
        Ok(result) => result.map_err(|e| crate::errors::each_cause_once(&e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("the template engine failed: {what}"))
        }
    }
}

/// `*.html` and `*.txt` files of a site's templates folder, by name: plain files only (a
/// symbolic link, which could lead anywhere, is not a template).
fn overrides(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (name.ends_with(".html") || name.ends_with(".txt")).then(|| (name, e.path()))
        })
        .collect();
    found.sort();
    found
}

fn register_filters(tera: &mut Tera, config: &Config) {
    let locale = Locale::of(&config.language);
    let timezone = config.timezone;
    tera.register_filter("date", move |value: &str, kwargs: Kwargs, _: &State| -> TeraResult<String> {
        let date = DateTime::parse_from_rfc3339(value)
            .map_err(|e| tera::Error::message(format!("date: `{value}` is not an RFC 3339 date: {e}")))?
            .with_timezone(&timezone)
            .fixed_offset();
        let format: Option<&str> = kwargs.get("format")?;
        Ok(match format.unwrap_or("long") {
            "long" => locale.long_date(&date),
            "short" => locale.short_date(&date),
            // chrono reports a bad format only as an error of `Display`, which `to_string`
            // would turn into a panic: write it out and say what is wrong instead.
            other => {
                use std::fmt::Write as _;
                let mut text = String::new();
                write!(text, "{}", date.format(other)).map_err(|_| {
                    tera::Error::message(format!(
                        "date: `{other}` is not a date format (use \"long\", \"short\" or chrono's strftime, e.g. \"%d.%m.%Y %H:%M\")"
                    ))
                })?;
                text
            }
        })
    });
    tera.register_filter("plural", move |count: i64, kwargs: Kwargs, _: &State| -> TeraResult<String> {
        let one: &str = kwargs.must_get("one")?;
        let many: &str = kwargs.must_get("many")?;
        let few: &str = kwargs.get("few")?.unwrap_or(many);
        let n = count.unsigned_abs();
        let word = match locale.plural(n) {
            Plural::One => one,
            Plural::Few => few,
            Plural::Many => many,
        };
        Ok(format!("{count} {word}"))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "title = \"Blog\"\nbase_url = \"https://example.org/\"\nlanguage = \"pl\"\ntimezone = \"Europe/Warsaw\"\n{extra}"
        );
        Config::parse(&text, Path::new("kurier.toml")).unwrap()
    }

    #[test]
    fn date_and_plural_filters_speak_the_site_language() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(
            "[digest]\nsubject = '{{ d | date }} / {{ d | date(format=\"short\") }} / {{ n | plural(one=\"nowy wpis\", few=\"nowe wpisy\", many=\"nowych wpisów\") }}'\n",
        );
        let templates = Templates::load(dir.path(), &config).unwrap();
        let mut context = Context::new();
        // 23:30 UTC on the 25th is already the 26th in Warsaw.
        context.insert("d", "2026-11-25T23:30:00Z");
        for (n, expected) in [(1, "1 nowy wpis"), (3, "3 nowe wpisy"), (5, "5 nowych wpisów")] {
            context.insert("n", &n);
            assert_eq!(
                templates.render(SUBJECT, &context).unwrap(),
                format!("26 listopada 2026 / 26.11.2026 / {expected}")
            );
        }
    }

    #[test]
    fn a_bad_date_format_is_an_error_naming_the_template_not_a_panic() {
        // Regression: `date(format="%Q")` panicked; `check` and `preview` exited 101.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(TEMPLATES_DIR)).unwrap();
        std::fs::write(dir.path().join("templates/digest.txt"), "Wpisy\n{{ d | date(format=\"%Q\") }}\n").unwrap();
        let templates = Templates::load(dir.path(), &config("")).unwrap();
        let mut context = Context::new();
        context.insert("d", "2026-11-25T23:30:00Z");
        let err = templates.render(DIGEST_TXT, &context).unwrap_err();
        assert_eq!(err.origin, "templates/digest.txt");
        assert!(err.message.contains("`%Q` is not a date format"), "{}", err.message);
        assert!(err.message.contains("line 2") || err.message.contains(":2:"), "{}", err.message);
    }

    #[test]
    fn a_site_template_overrides_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(TEMPLATES_DIR)).unwrap();
        std::fs::write(dir.path().join("templates/digest.txt"), "własny: {{ site.title }}").unwrap();
        std::fs::write(dir.path().join("templates/notes.md"), "{{ not a template").unwrap();
        let templates = Templates::load(dir.path(), &config("")).unwrap();
        let mut context = Context::new();
        context.insert("site", &serde_json::json!({ "title": "Blog" }));
        assert_eq!(templates.render(DIGEST_TXT, &context).unwrap(), "własny: Blog");
    }

    #[test]
    fn errors_name_the_template_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(TEMPLATES_DIR)).unwrap();
        std::fs::write(dir.path().join("templates/digest.html"), "<p>\n{% for x in %}</p>").unwrap();
        let err = Templates::load(dir.path(), &config("")).err().unwrap();
        assert_eq!(err.origin, "templates/digest.html");

        std::fs::write(dir.path().join("templates/digest.html"), "<p>\n{{ nie_ma_takiej }}</p>").unwrap();
        let templates = Templates::load(dir.path(), &config("")).unwrap();
        let err = templates.render(DIGEST_HTML, &Context::new()).unwrap_err();
        assert_eq!(err.origin, "templates/digest.html");
        assert!(err.message.contains("nie_ma_takiej"), "{}", err.message);
    }

    #[test]
    fn a_site_template_may_extend_one_that_sorts_after_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(TEMPLATES_DIR)).unwrap();
        std::fs::write(
            dir.path().join("templates/digest.txt"),
            "{% extends \"zz_layout.txt\" %}{% block body %}treść{% endblock body %}",
        )
        .unwrap();
        std::fs::write(dir.path().join("templates/zz_layout.txt"), "[{% block body %}{% endblock body %}]").unwrap();
        let templates = Templates::load(dir.path(), &config("")).unwrap();
        assert_eq!(templates.render(DIGEST_TXT, &Context::new()).unwrap(), "[treść]");
        assert!(templates.warnings().is_empty(), "{:?}", templates.warnings());
    }

    #[test]
    fn another_tools_templates_are_left_out_with_a_warning_and_its_page_html_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(TEMPLATES_DIR)).unwrap();
        std::fs::write(dir.path().join("templates/base.html"), "{{ get_url(path=\"x\") }}").unwrap();
        std::fs::write(dir.path().join("templates/page.html"), "<h1>{{ page.title }}</h1>{{ page.content | safe }}")
            .unwrap();
        let templates = Templates::load(dir.path(), &config("")).unwrap();
        let warnings = templates.warnings().join("\n");
        assert!(warnings.contains("templates/: left out a file that kurier cannot load and does not use: base.html (Unknown function `get_url`"), "{warnings}");
        assert!(warnings.contains("templates/page.html cannot render kurier's pages"), "{warnings}");
        let page = templates.render(PAGE_HTML, &page::sample(&config(""), templates.locale())).unwrap();
        assert!(page.contains("name=\"email\""), "the built-in page: {page}");

        // kurier's own folder, when there is one, is the only one read.
        std::fs::create_dir(dir.path().join(OWN_TEMPLATES_DIR)).unwrap();
        let own = "własna: {{ page.title }}<form action=\"{{ page.action }}\"><input name=\"email\"></form>";
        std::fs::write(dir.path().join("templates/kurier/page.html"), own).unwrap();
        let templates = Templates::load(dir.path(), &config("")).unwrap();
        assert!(templates.warnings().is_empty(), "{:?}", templates.warnings());
        let page = templates.render(PAGE_HTML, &page::sample(&config(""), templates.locale())).unwrap();
        assert!(page.starts_with("własna: "), "{page}");
    }
}

/// WCAG 2.1 contrast of the built-in digest's small text (success criterion 1.4.3, level AA:
/// at least 4.5:1 for text under 18pt), computed from the colors in `templates/digest.html`.
#[cfg(test)]
mod contrast {
    const TEMPLATE: &str = include_str!("../../templates/digest.html");

    /// The `property: #rrggbb` of the CSS rule for `selector`.
    fn color(selector: &str, property: &str) -> [f64; 3] {
        let rule = TEMPLATE
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&format!("{selector} {{")))
            .unwrap_or_else(|| panic!("no CSS rule for {selector}"));
        let at = rule.find(&format!(" {property}: #")).unwrap_or_else(|| panic!("{selector} has no {property}"));
        let hex = &rule[at + property.len() + 4..at + property.len() + 10];
        [0, 2, 4].map(|i| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0)
    }

    /// Relative luminance, WCAG 2.1 §1.4.3's definition.
    fn luminance(rgb: [f64; 3]) -> f64 {
        let [r, g, b] = rgb.map(|c| if c <= 0.040_45 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) });
        0.2126 * r + 0.7152 * g + 0.0722 * b
    }

    fn ratio(a: [f64; 3], b: [f64; 3]) -> f64 {
        let (a, b) = (luminance(a), luminance(b));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    #[test]
    fn small_text_of_the_digest_meets_wcag_aa_contrast() {
        let page = color("body", "background");
        let card = color(".card", "background");
        for (selector, background) in [
            (".browser", page),
            (".browser a", page),
            (".footer", page),
            (".footer a", page),
            (".date", card),
            (".meta", card),
            (".related-title", card),
            (".related a", card),
            (".more", card),
        ] {
            let contrast = ratio(color(selector, "color"), background);
            assert!(contrast >= 4.5, "{selector}: {contrast:.2}:1 is below 4.5:1");
        }
    }
}
