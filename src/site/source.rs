//! One post file as text: the bytes on disk turned into the string the rest of `site/` parses.
//!
//! This is where input that no later stage could represent is dealt with, once: a file that is not
//! UTF-8 is refused with the line of the first bad byte; a byte-order mark is dropped; CRLF line
//! ends become LF; and characters that XML 1.0 forbids (C0 controls other than tab, LF and CR,
//! U+FFFE, U+FFFF — <https://www.w3.org/TR/xml/#charsets>) are removed, so that no feed can be
//! made ill-formed by a stray control character pasted into a post.

/// Decodes a post file, or says on which line it stops being UTF-8.
pub fn decode(bytes: &[u8]) -> Result<String, (usize, String)> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.valid_up_to();
            let line = bytes[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
            return Err((line, format!("not valid UTF-8 (byte {valid})")));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if is_clean(text.as_bytes()) {
        return Ok(text.to_owned());
    }
    Ok(text.chars().filter(|&c| c != '\r' && is_xml_char(c)).collect())
}

/// Whether UTF-8 text has nothing to remove: no CR, no C0 control but tab and LF, no U+FFFE or
/// U+FFFF (UTF-8 `EF BF BE` / `EF BF BF`). A byte scan, so the common case costs one copy.
fn is_clean(bytes: &[u8]) -> bool {
    // One pass; 0xEF (the lead byte of U+E000–U+FFFF, rare in prose) is looked at more closely.
    let suspect = |b: &u8| (*b < 0x20 && *b != b'\t' && *b != b'\n') || *b == 0xEF;
    let mut rest = bytes;
    while let Some(at) = rest.iter().position(suspect) {
        match rest[at..] {
            [0xEF, 0xBF, 0xBE | 0xBF, ..] => return false,
            [0xEF, ..] => rest = &rest[at + 1..],
            _ => return false,
        }
    }
    true
}

/// Removes characters XML 1.0 does not allow from strings that did not come straight from the
/// decoded file: front-matter values, whose escapes (`"\u0001"`) can produce any character.
pub fn xml_safe(text: &str) -> String {
    text.chars().filter(|&c| is_xml_char(c)).collect()
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_line_of_the_first_invalid_byte() {
        let bytes = b"+++\ntitle = \"a\"\n+++\nzdanie \xff\n";
        assert_eq!(decode(bytes).unwrap_err().0, 4);
    }

    #[test]
    fn drops_bom_carriage_returns_and_xml_illegal_controls() {
        let text = decode("\u{feff}a\r\nb\u{0}c\u{1b}d\u{fffe}\te".as_bytes()).unwrap();
        assert_eq!(text, "a\nbcd\te");
    }

    #[test]
    fn finds_noncharacters_and_controls_anywhere_and_passes_other_private_use_text() {
        assert!(is_clean("a\u{e000}b\u{fffd}c".as_bytes()));
        assert!(!is_clean("a\u{e000}b\u{fffe}".as_bytes()));
        assert!(!is_clean("\u{ffff}".as_bytes()));
        assert!(!is_clean("a\u{e000}\u{1}".as_bytes()));
        assert!(is_clean("\u{e000}".as_bytes()));
    }

    #[test]
    fn keeps_polish_and_astral_characters() {
        let text = "Zażółć gęślą jaźń 🧠";
        assert_eq!(decode(text.as_bytes()).unwrap(), text);
    }
}
