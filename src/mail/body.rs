//! A message body encoded once for a whole list, filled in per recipient.
//!
//! lettre encodes a text body (`Body::new`) in three steps: it chooses 7bit, quoted-printable or
//! base64 from the whole text (email-encoding's chooser: ASCII or not, a line of 76 bytes or
//! more, how many bytes would need escaping), turns every bare LF into CRLF, then encodes.
//! Quoted-printable keeps no state across a hard line break (the quoted_printable encoder starts
//! each line afresh after CRLF), so the encoding of a text is the encodings of its lines joined
//! by CRLF. A [`BodyTemplate`] therefore splits its text at the line ends around its
//! placeholders: the runs of lines without a placeholder are converted and encoded once, as 7bit
//! and as quoted-printable; per recipient only the lines that hold a placeholder are filled in
//! and encoded, and the encoding is chosen from counts kept per piece, so that soft line breaks
//! fall where lettre puts them and the bytes are the ones `Body::new` makes of the filled-in
//! text (the tests compare them on random texts). A text that calls for base64 (mostly
//! non-ASCII) is filled in whole and given to lettre.

use lettre::message::Body;
use lettre::message::header::ContentTransferEncoding;

/// A text with placeholders, encoded where it does not depend on them.
#[derive(Debug, Clone)]
pub struct BodyTemplate {
    placeholders: Vec<String>,
    /// The text's LF-separated pieces: runs of lines without a placeholder, and single lines
    /// with one.
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    /// The text as given, as 7bit (with CRLF) and as quoted-printable.
    Fixed {
        text: String,
        seven_bit: String,
        quoted: String,
        counts: Counts,
    },
    Filled(String),
}

/// What email-encoding's chooser looks at, for one piece of text (before CRLF conversion).
#[derive(Debug, Clone, Copy)]
struct Counts {
    ascii: bool,
    len: usize,
    /// Bytes other than tab and printable ASCII.
    escaped: usize,
    /// The length of the first line.
    first: usize,
    /// The length of the longest later line; `None` without a line break.
    rest: Option<usize>,
}

impl Counts {
    fn of(text: &str) -> Counts {
        let bytes = text.as_bytes();
        let mut lines = bytes.split(|&b| b == b'\n');
        let first = lines.next().map_or(0, <[u8]>::len);
        Counts {
            ascii: text.is_ascii(),
            len: bytes.len(),
            escaped: bytes.iter().filter(|&&b| !matches!(b, b'\t' | b' '..=b'~')).count(),
            first,
            rest: lines.map(<[u8]>::len).max(),
        }
    }
}

/// The encoding `Body::new` chooses for the pieces joined by LF (email-encoding 0.4's
/// `Encoding::choose` without SMTPUTF8). Its line-length test measures from one LF to the next
/// with the LF included, except for the first line: the first line is too long at 76 bytes,
/// every other at 75.
fn choose(counts: &[Counts]) -> ContentTransferEncoding {
    let joins = counts.len().saturating_sub(1);
    let ascii = counts.iter().all(|c| c.ascii);
    let too_long = counts.iter().enumerate().any(|(i, c)| {
        let first_limit = if i == 0 { 76 } else { 75 };
        c.first >= first_limit || c.rest.is_some_and(|rest| rest >= 75)
    });
    if ascii && !too_long {
        return ContentTransferEncoding::SevenBit;
    }
    let len: usize = counts.iter().map(|c| c.len).sum::<usize>() + joins;
    let escaped: usize = counts.iter().map(|c| c.escaped).sum::<usize>() + joins;
    if escaped <= len / 3 { ContentTransferEncoding::QuotedPrintable } else { ContentTransferEncoding::Base64 }
}

/// A piece as it stands between two CRLFs of the converted text: bare LFs become CRLF, and the CR
/// of a CRLF that ends a piece (not the last) belongs to the line break after it.
fn crlf(piece: &str, last: bool) -> String {
    let piece = if last { piece } else { piece.strip_suffix('\r').unwrap_or(piece) };
    let mut out = String::with_capacity(piece.len() + piece.len() / 32);
    let mut previous = '\0';
    for c in piece.chars() {
        if c == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(c);
        previous = c;
    }
    out
}

fn quoted(converted: &str) -> String {
    String::from_utf8(quoted_printable::encode(converted)).expect("quoted-printable is ASCII")
}

impl BodyTemplate {
    /// Splits `text` around `placeholders` (none of which holds a line break) and encodes the
    /// rest once.
    pub fn new(text: &str, placeholders: &[&str]) -> BodyTemplate {
        debug_assert!(placeholders.iter().all(|p| !p.is_empty() && !p.contains(['\n', '\r'])));
        let lines: Vec<&str> = text.split('\n').collect();
        let mut pieces = Vec::new();
        let mut run_start = None;
        let flush = |pieces: &mut Vec<Piece>, start: usize, end: usize| {
            let run = lines[start..end].join("\n");
            let converted = crlf(&run, end == lines.len());
            let (quoted, counts) = (quoted(&converted), Counts::of(&run));
            pieces.push(Piece::Fixed { text: run, seven_bit: converted, quoted, counts });
        };
        for (i, line) in lines.iter().enumerate() {
            if placeholders.iter().any(|p| line.contains(p)) {
                if let Some(start) = run_start.take() {
                    flush(&mut pieces, start, i);
                }
                pieces.push(Piece::Filled((*line).to_owned()));
            } else if run_start.is_none() {
                run_start = Some(i);
            }
        }
        if let Some(start) = run_start {
            flush(&mut pieces, start, lines.len());
        }
        BodyTemplate { placeholders: placeholders.iter().map(|p| (*p).to_owned()).collect(), pieces }
    }

    /// One line with each placeholder replaced by its value, in the placeholders' order.
    fn fill_line(&self, line: &str, values: &[&str]) -> String {
        let mut line = line.to_owned();
        for (placeholder, value) in self.placeholders.iter().zip(values) {
            if line.contains(placeholder.as_str()) {
                line = line.replace(placeholder.as_str(), value);
            }
        }
        line
    }

    /// The whole text with the placeholders replaced by `values`, in the placeholders' order.
    pub fn fill_text(&self, values: &[&str]) -> String {
        let mut out = String::new();
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match piece {
                Piece::Fixed { text, .. } => out.push_str(text),
                Piece::Filled(line) => out.push_str(&self.fill_line(line, values)),
            }
        }
        out
    }

    /// The body for `values`: the bytes and encoding `Body::new(self.fill_text(values))` has.
    pub fn fill(&self, values: &[&str]) -> Body {
        let filled: Vec<Option<String>> = self
            .pieces
            .iter()
            .map(|piece| match piece {
                Piece::Filled(line) => Some(self.fill_line(line, values)),
                Piece::Fixed { .. } => None,
            })
            .collect();
        let counts: Vec<Counts> = self
            .pieces
            .iter()
            .zip(&filled)
            .map(|(piece, filled)| match (piece, filled) {
                (Piece::Fixed { counts, .. }, _) => *counts,
                (Piece::Filled(_), Some(text)) => Counts::of(text),
                (Piece::Filled(_), None) => unreachable!("every filled piece is filled in"),
            })
            .collect();
        let encoding = choose(&counts);
        if !matches!(encoding, ContentTransferEncoding::SevenBit | ContentTransferEncoding::QuotedPrintable) {
            return Body::new(self.fill_text(values));
        }
        let seven_bit = encoding == ContentTransferEncoding::SevenBit;
        let size: usize = self
            .pieces
            .iter()
            .map(|piece| match piece {
                Piece::Fixed { seven_bit: s, .. } if seven_bit => s.len() + 2,
                Piece::Fixed { quoted: q, .. } => q.len() + 2,
                Piece::Filled(line) => line.len() * 2 + 64,
            })
            .sum();
        let mut out = Vec::with_capacity(size);
        let last = self.pieces.len() - 1;
        for (i, (piece, filled)) in self.pieces.iter().zip(&filled).enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n");
            }
            match (piece, filled) {
                (Piece::Fixed { seven_bit: s, .. }, _) if seven_bit => out.extend_from_slice(s.as_bytes()),
                (Piece::Fixed { quoted: q, .. }, _) => out.extend_from_slice(q.as_bytes()),
                (Piece::Filled(_), Some(text)) => {
                    let converted = crlf(text, i == last);
                    if seven_bit {
                        out.extend_from_slice(converted.as_bytes());
                    } else {
                        out.extend_from_slice(quoted(&converted).as_bytes());
                    }
                }
                (Piece::Filled(_), None) => unreachable!("every filled piece is filled in"),
            }
        }
        Body::dangerous_pre_encoded(out, encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACEHOLDERS: [&str; 3] =
        ["\u{E000}email.1f\u{E001}", "\u{E000}name.1f\u{E001}", "\u{E000}unsubscribe.1f\u{E001}"];

    /// What the digest did before templates: replace in the whole text, then `Body::new`.
    fn reference(text: &str, values: &[&str]) -> Body {
        let mut text = text.to_owned();
        for (placeholder, value) in PLACEHOLDERS.iter().zip(values) {
            text = text.replace(placeholder, value);
        }
        Body::new(text)
    }

    fn assert_same(text: &str, values: &[&str]) {
        let template = BodyTemplate::new(text, &PLACEHOLDERS);
        let expected = reference(text, values);
        let got = template.fill(values);
        assert_eq!(got.encoding(), expected.encoding(), "encoding of {text:?} with {values:?}");
        assert_eq!(
            String::from_utf8_lossy(got.as_ref()),
            String::from_utf8_lossy(expected.as_ref()),
            "bytes of {text:?} with {values:?}"
        );
    }

    /// Every encoded line fits RFC 2045's 76 characters and decodes to the filled-in text.
    fn assert_valid_quoted_printable(body: &Body, filled: &str) {
        assert_eq!(body.encoding(), ContentTransferEncoding::QuotedPrintable);
        let encoded = std::str::from_utf8(body.as_ref()).unwrap();
        for line in encoded.split("\r\n") {
            assert!(line.len() <= 76, "a line of {} characters: {line}", line.len());
            assert!(!line.trim_end_matches('=').contains("=\r"), "{line}");
        }
        let decoded = quoted_printable::decode(encoded, quoted_printable::ParseMode::Strict).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), crlf(filled, true));
    }

    fn random_text(rng: &mut fastrand::Rng, case: usize) -> String {
        let words: &[&str] = match case % 10 {
            9 => &["żółć", "ęśąźń", "ŻÓŁĆ", "ó", "ł"],
            7 | 8 => &["the", "sleep", "a", "=", " ", "\t", ".", "..", "x=3D", "<p>"],
            _ => &["Zażółć", "gęślą", "jaźń", "the", "sleep", "a", "=", " ", "\t", ".", "..", "x=3D", "\r", "<p>", "ą"],
        };
        let lines = rng.usize(0..12);
        let mut text = String::new();
        for line in 0..lines {
            if line > 0 {
                text.push_str(if rng.u8(..) < 40 { "\r\n" } else { "\n" });
            }
            // Lines of every length around the 75/76-byte limits, and some much longer.
            let target = match rng.u8(..4) {
                0 => rng.usize(0..20),
                1 => rng.usize(70..82),
                2 => rng.usize(140..160),
                _ => rng.usize(0..300),
            };
            while text.len() - text.rfind('\n').map_or(0, |i| i + 1) < target {
                if rng.u8(..) < 12 {
                    text.push_str(PLACEHOLDERS[rng.usize(..3)]);
                } else {
                    text.push_str(words[rng.usize(..words.len())]);
                    if rng.bool() {
                        text.push(' ');
                    }
                }
            }
        }
        if rng.u8(..) < 30 {
            text.push('\n');
        }
        text
    }

    fn random_value(rng: &mut fastrand::Rng) -> String {
        match rng.u8(..6) {
            0 => String::new(),
            1 => "Zażółć Gęślą-Jaźń".to_owned(),
            // A long unsubscribe URL: a token of 40 to 300 characters.
            2 => {
                let length = rng.usize(40..300);
                let token: String = std::iter::repeat_with(|| rng.alphanumeric()).take(length).collect();
                format!("https://digest.example.org/unsubscribe/{token}")
            }
            3 => "r0000042@example.org".to_owned(),
            4 => "a=b ".repeat(rng.usize(1..40)),
            _ => "dwa\nwiersze ".to_owned(),
        }
    }

    #[test]
    fn filled_templates_are_encoded_byte_for_byte_as_lettre_encodes_the_filled_text() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut seen = std::collections::BTreeSet::new();
        for case in 0..6_000 {
            let text = random_text(&mut rng, case);
            let values: Vec<String> = (0..3).map(|_| random_value(&mut rng)).collect();
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            assert_same(&text, &values);
            seen.insert(format!("{:?}", reference(&text, &values).encoding()));
        }
        // The random texts reached every encoding the chooser makes without SMTPUTF8.
        assert_eq!(seen.len(), 3, "{seen:?}");
    }

    #[test]
    fn edge_cases_of_line_ends_and_placeholders_match_lettre() {
        let [email, name, unsubscribe] = PLACEHOLDERS;
        let long = "x".repeat(74);
        let cases = [
            String::new(),
            "\n".to_owned(),
            "\r\n".to_owned(),
            "bez zmiennych\nżadnych\n".to_owned(),
            email.to_owned(),
            format!("{email}\n"),
            format!("\n{email}"),
            format!("a\r\n{email}\r\nb\r"),
            format!("a\r\r\n{email}\r"),
            format!("{long}{name}\n{long}"),
            format!("{long}\n{long}xx{email}"),
            format!("Dzień dobry {name}, \n{unsubscribe} \n\t{email}\t"),
            format!("{email}{name}{unsubscribe}\n{unsubscribe}\n{name}"),
            format!(".{email}\n..\n.\n"),
            // The chooser's line limits: 76 bytes on the first line, 75 on every other.
            "y".repeat(75),
            "y".repeat(76),
            format!("{}\n{email}", "y".repeat(75)),
            format!("{}\n{email}", "y".repeat(76)),
            format!("{email}\n{}", "y".repeat(74)),
            format!("{email}\n{}", "y".repeat(75)),
            format!("{email}\n{}\nz", "y".repeat(75)),
            format!("a\n{}{email}", "y".repeat(75)),
            format!("a\n{}", "y".repeat(74)),
            format!("a\n{}", "y".repeat(75)),
            format!("{email}\nz\n{}\n", "y".repeat(74)),
            format!("{email}\nz\n{}\n", "y".repeat(75)),
        ];
        for text in &cases {
            for values in [["", "", ""], ["anna@example.org", "Anna Żółć", "https://e.org/u/abc"]] {
                assert_same(text, &values);
            }
        }
    }

    #[test]
    fn a_long_token_in_a_quoted_printable_line_keeps_lines_short_and_sequences_whole() {
        let [email, name, unsubscribe] = PLACEHOLDERS;
        let text = format!(
            "Zażółć gęślą jaźń, {name}!\n<a href=\"{unsubscribe}\" style=\"color:#333\">Wypisz się</a> ({email})\nżółć"
        );
        let template = BodyTemplate::new(&text, &PLACEHOLDERS);
        for length in [1, 30, 60, 75, 76, 77, 150, 400] {
            let token: String = std::iter::repeat_n("Ab=9", length).collect::<String>()[..length].to_owned();
            let url = format!("https://digest.example.org/unsubscribe/{token}");
            let values = ["r1@example.org", "Łucja Ćwik", url.as_str()];
            let body = template.fill(&values);
            assert_valid_quoted_printable(&body, &template.fill_text(&values));
            assert_same(&text, &values);
        }
    }
}
