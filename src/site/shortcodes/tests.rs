use super::*;

fn permalink_of(target: &str) -> String {
    format!("https://example.org/blog/@{target}")
}

fn run(markdown: &str) -> (String, Vec<(usize, String)>) {
    let context = Context {
        permalink_of: &permalink_of,
        in_content: "posts/a.md",
        site_url: "https://example.org",
        base_path: "/blog",
    };
    let rewritten = rewrite(markdown, &context);
    (rewritten.text.into_owned(), rewritten.warnings)
}

#[test]
fn text_without_braces_is_borrowed_untouched() {
    let context = Context { permalink_of: &permalink_of, in_content: "a.md", site_url: "", base_path: "" };
    assert!(matches!(rewrite("Zwykły { tekst }.\n", &context).text, Cow::Borrowed(_)));
}

#[test]
fn hugo_figure_becomes_a_figure_with_its_caption_and_link() {
    let (out, warnings) =
        run("Przed.\n{{< figure src=\"img/a.png\" alt=\"Wykres\" caption=\"Rys. 1 <b>\" link=\"/duzy.png\" >}}\nPo.\n");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(
        out.contains(
            "\n\n<figure><a href=\"/duzy.png\"><img src=\"img/a.png\" alt=\"Wykres\"></a>\
             <figcaption>Rys. 1 &lt;b&gt;</figcaption></figure>\n\n"
        ),
        "{out}"
    );
}

#[test]
fn videos_become_links_with_a_thumbnail_in_every_spelling() {
    for markdown in [
        "{{< youtube dQw4w9WgXcQ >}}",
        "{{< youtube id=\"dQw4w9WgXcQ\" >}}",
        "{{ youtube(id=\"dQw4w9WgXcQ\") }}",
        "{{ youtube(id=\"dQw4w9WgXcQ\", autoplay=true) }}",
    ] {
        let (out, warnings) = run(markdown);
        assert!(warnings.is_empty(), "{markdown}: {warnings:?}");
        assert!(out.contains("href=\"https://www.youtube.com/watch?v=dQw4w9WgXcQ\""), "{markdown}: {out}");
        assert!(out.contains("src=\"https://img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg\""), "{out}");
        assert!(!out.contains("iframe"), "{out}");
    }
    let (out, _) = run("{{ vimeo(id=\"124313553\") }} i {{< vimeo 55 >}}");
    assert!(out.contains("href=\"https://vimeo.com/124313553\"") && out.contains("https://vimeo.com/55"), "{out}");
    let (_, warnings) = run("{{< youtube \"x\\\" onload=1\" >}}");
    assert_eq!(warnings, [(1, "shortcode `{{< youtube >}}`: no video id; removed".to_owned())]);
}

#[test]
fn links_to_other_posts_resolve_by_path() {
    let (out, warnings) = run("[a]({{< ref \"other.md\" >}}) [b]({{< relref \"/docs/x.md#sekcja\" >}}) \
         [c]({% post_url 2026-03-01-witaj %}) [d]({% link _posts/2026-03-02-b.markdown %}) \
         [e]({{ site.baseurl }}/o-nas/) [f]({{ site.url }}{{ site.baseurl }}/)");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        out,
        "[a](https://example.org/blog/@posts/other.md) [b](https://example.org/blog/@docs/x.md#sekcja) \
         [c](https://example.org/blog/@_posts/2026-03-01-witaj) [d](https://example.org/blog/@_posts/2026-03-02-b.markdown) \
         [e](/blog/o-nas/) [f](https://example.org/blog/)"
    );
}

#[test]
fn highlight_becomes_a_fenced_block_whose_braces_stay() {
    let (out, warnings) =
        run("{{< highlight go \"linenos=table\" >}}\nfunc main() { x := \"{{< y >}}\" }\n{{< /highlight >}}\n\n\
         {% highlight ruby linenos %}\ndef a; \"{% b %}\"; end\n{% endhighlight %}\n");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(out.contains("```go\nfunc main() { x := \"{{< y >}}\" }\n```"), "{out}");
    assert!(out.contains("```ruby\ndef a; \"{% b %}\"; end\n```"), "{out}");
}

#[test]
fn a_block_written_inside_a_sentence_splits_it_rather_than_nesting_in_it() {
    let (out, _) = run("Użyj {{< highlight sh >}}hugo server{{< /highlight >}} i gotowe.");
    assert_eq!(out, "Użyj \n\n```sh\nhugo server\n```\n\n i gotowe.");
}

#[test]
fn code_blocks_and_inline_code_keep_their_braces() {
    let markdown =
        "Użyj `{{< figure >}}` tak:\n\n```\n{{< nieznany >}}\n{% if x %}\n```\n\n    {{ youtube(id=\"a\") }}\n";
    let (out, warnings) = run(markdown);
    assert_eq!(out, markdown);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn unknown_shortcodes_and_tags_are_removed_with_their_line_and_paired_bodies_kept() {
    let (out, warnings) = run(
        "Wstęp.\n\n{{% note %}}\nUwaga, *ważne*.\n{{% /note %}}\n\n{{< gist user 123 >}}\n{% if page.x %}tak{% endif %}\n\
         {% quote(author=\"A\") %}\nCytat.\n{% end %}\n{{ zly( }}\n",
    );
    assert!(!out.contains("{{") && !out.contains("{%"), "{out}");
    assert!(out.contains("Uwaga, *ważne*.") && out.contains("tak") && out.contains("Cytat."), "{out}");
    let warnings: Vec<String> = warnings.iter().map(|(line, reason)| format!("{line}: {reason}")).collect();
    assert_eq!(
        warnings,
        [
            "3: shortcode `{{% note %}}`: not supported by kurier; removed",
            "7: shortcode `{{< gist >}}`: not supported by kurier; removed",
            "8: Liquid tag `{% if %}`: not supported by kurier; removed",
            "8: Liquid tag `{% endif %}`: not supported by kurier; removed",
            "9: shortcode `{% quote(…) %}`: not supported by kurier; removed",
            "12: `{{ zly(` is not a complete shortcode; removed",
        ]
    );
}

#[test]
fn comments_vanish_includes_go_with_a_warning_and_raw_is_shown_as_written() {
    let (out, warnings) = run("a{% include brak.html %}b{% comment %}nie{% endcomment %}c{% raw %}{{ x }}{% endraw %}");
    assert_eq!(out, "abc{{ x }}");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].1.ends_with("kurier does not render included files; removed"), "{warnings:?}");
}

#[test]
fn hugo_comment_shortcodes_are_shown_as_code() {
    let (out, _) = run("Napisz {{</* figure src=\"a.png\" */>}}.");
    assert_eq!(out, "Napisz `{{< figure src=\"a.png\" >}}`.");
}

#[test]
fn an_unclosed_shortcode_is_removed_with_a_warning() {
    let (out, warnings) = run("a\n{{< figure src=\"a.png\"\n");
    assert!(!out.contains("{{<"), "{out}");
    assert_eq!(warnings, [(2, "`{{<` is never closed with `>}}`; removed".to_owned())]);
}
