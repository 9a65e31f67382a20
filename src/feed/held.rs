//! Large HTML texts held out of the XML documents while the crates write them, and put back.
//!
//! The `rss` and `atom_syndication` crates escape text through quick-xml a byte and a closure
//! call at a time; on a full build of a big site that was 15 % of the time, most of it in the
//! posts' HTML (content and summary, escaped once per feed they appear in). So the crates are
//! given each such text as a short placeholder, and [`Held::put_back`] replaces the placeholders
//! in the written document with the text escaped here — the same five characters to the same
//! entities as quick-xml's `escape`, which the crates use for text — over whole runs of bytes.
//! The document is what the crates alone would write, byte for byte (tested against them).
//!
//! A placeholder is a private-use character, a random marker and the text's number. Each must be
//! found exactly once, in order, and the marker nowhere else; otherwise (a title that happens to
//! contain the marker) the document is written again with the texts in place.

use std::borrow::Cow;

/// Texts held out of one document.
pub struct Held<'a> {
    /// `None`: hold nothing (the texts go into the document as they are).
    marker: Option<String>,
    texts: Vec<Cow<'a, str>>,
}

const END: char = '\u{E001}';

impl<'a> Held<'a> {
    /// Holds texts out of a document about to be written.
    pub fn new() -> Held<'a> {
        Held { marker: Some(format!("\u{E000}kurier{:016x}#", fastrand::u64(..))), texts: Vec::new() }
    }

    /// Holds nothing: [`Held::hold`] returns the text itself.
    pub fn nothing() -> Held<'a> {
        Held { marker: None, texts: Vec::new() }
    }

    /// What to give the crate in place of `text`.
    pub fn hold(&mut self, text: impl Into<Cow<'a, str>>) -> String {
        let text = text.into();
        let Some(marker) = &self.marker else { return text.into_owned() };
        let placeholder = format!("{marker}{}{END}", self.texts.len());
        self.texts.push(text);
        placeholder
    }

    /// The document with every placeholder replaced by its text, escaped; `None` when the
    /// placeholders are not each found once, in order (write the document again, holding nothing).
    pub fn put_back(self, document: Vec<u8>) -> Option<Vec<u8>> {
        let Some(marker) = self.marker else { return Some(document) };
        let text = std::str::from_utf8(&document).ok()?;
        let extra: usize = self.texts.iter().map(|t| t.len() + t.len() / 8).sum();
        let mut out = Vec::with_capacity(document.len() + extra);
        let mut from = 0;
        for (number, held) in self.texts.iter().enumerate() {
            let at = from + text[from..].find(marker.as_str())?;
            let digits_from = at + marker.len();
            let digits_to = digits_from + text[digits_from..].find(END)?;
            if text[digits_from..digits_to].parse::<usize>().ok()? != number {
                return None;
            }
            out.extend_from_slice(&document[from..at]);
            escape_into(held, &mut out);
            from = digits_to + END.len_utf8();
        }
        if text[from..].contains(marker.as_str()) {
            return None;
        }
        out.extend_from_slice(&document[from..]);
        Some(out)
    }
}

/// XML-escapes `text` as quick-xml's `escape` does (`<`, `>`, `&`, `'`, `"`), appending to `out`.
pub fn escape_into(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut from = 0;
    for (at, byte) in bytes.iter().enumerate() {
        let entity: &[u8] = match byte {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'\'' => b"&apos;",
            b'"' => b"&quot;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..at]);
        out.extend_from_slice(entity);
        from = at + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters_quick_xml_escapes_and_nothing_else() {
        let cases = [
            ("", ""),
            ("plain ąę 🙂", "plain ąę 🙂"),
            ("<p class=\"a\">Tom & Jerry's</p>", "&lt;p class=&quot;a&quot;&gt;Tom &amp; Jerry&apos;s&lt;/p&gt;"),
            ("]]> &amp;\t\n", "]]&gt; &amp;amp;\t\n"),
        ];
        for (text, escaped) in cases {
            let mut out = Vec::new();
            escape_into(text, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), escaped);
        }
    }

    #[test]
    fn placeholders_are_replaced_by_their_escaped_texts() {
        let mut held = Held::new();
        let a = held.hold("<b>a</b>");
        let b = held.hold(String::from("Tom & Jerry"));
        let document = format!("<x>{a}</x><y>{b}</y>").into_bytes();
        assert_eq!(held.put_back(document).unwrap(), b"<x>&lt;b&gt;a&lt;/b&gt;</x><y>Tom &amp; Jerry</y>");
    }

    #[test]
    fn a_placeholder_found_twice_or_out_of_order_or_missing_is_refused() {
        let hold_two = || {
            let mut held = Held::new();
            let a = held.hold("a");
            let b = held.hold("b");
            (held, a, b)
        };
        let (held, a, b) = hold_two();
        assert!(held.put_back(format!("{a}{a}{b}").into_bytes()).is_none(), "twice");
        let (held, a, b) = hold_two();
        assert!(held.put_back(format!("{b}{a}").into_bytes()).is_none(), "out of order");
        let (held, a, _) = hold_two();
        assert!(held.put_back(a.into_bytes()).is_none(), "missing");
        let (held, a, b) = hold_two();
        assert!(held.put_back(format!("{a}{b}{b}").into_bytes()).is_none(), "an extra one after the last");
    }

    #[test]
    fn holding_nothing_gives_the_text_back() {
        let mut held = Held::nothing();
        assert_eq!(held.hold("<b>"), "<b>");
        assert_eq!(held.put_back(b"<b>".to_vec()).unwrap(), b"<b>");
    }
}
