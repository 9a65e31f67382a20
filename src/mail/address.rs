//! Subscriber addresses as logs may show them: masked (`r***@example.org`).
//!
//! Logs are read by more people than the subscriber list and kept longer (§10: "logs never show
//! a full subscriber address"), so a log line names a subscriber by id and, where the address
//! helps an operator (a server refusing a domain), by [`Masked`]: the first character of the
//! local part and the domain. Text that can quote addresses we did not choose to log — an SMTP
//! server's reply ("550 <anna@example.org>: no such user"), a request path — goes through
//! [`mask_addresses`] first.

use std::borrow::Cow;
use std::fmt;

/// An address shown as its first character, `***` and its domain; `***` when it has no `@`.
#[derive(Debug, Clone, Copy)]
pub struct Masked<'a>(pub &'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.rsplit_once('@') {
            Some((local, domain)) => match local.chars().next() {
                Some(first) => write!(f, "{first}***@{domain}"),
                None => write!(f, "***@{domain}"),
            },
            None => f.write_str("***"),
        }
    }
}

/// Characters of a local part as servers and logs quote it: RFC 5322 `atext` and dots, less
/// `/`, `=`, `&`, `?` and `'`, which in paths, queries and `key=value` text separate words.
fn local_char(c: char) -> bool {
    c.is_alphanumeric() || "!#$%*+-^_`{|}~.".contains(c)
}

/// Characters of a domain name (Unicode letters too: an IDN before its A-label form).
fn domain_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '.'
}

/// `text` with every `local@domain` in it masked; borrowed when there is none.
pub fn mask_addresses(text: &str) -> Cow<'_, str> {
    if !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // Bytes of `text` before `copied` are in `out` already.
    let mut copied = 0;
    for (at, _) in text.match_indices('@') {
        if at < copied {
            continue;
        }
        let start =
            text[copied..at].char_indices().rev().take_while(|(_, c)| local_char(*c)).last().map(|(i, _)| copied + i);
        let domain = &text[at + 1..];
        let domain_len = domain.char_indices().find(|(_, c)| !domain_char(*c)).map_or(domain.len(), |(i, _)| i);
        // A sentence may end right after the address.
        let domain_len = domain[..domain_len].trim_end_matches('.').len();
        if let Some(start) = start.filter(|_| domain_len > 0) {
            let end = at + 1 + domain_len;
            out.push_str(&text[copied..start]);
            out.push_str(&Masked(&text[start..end]).to_string());
            copied = end;
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_address_keeps_its_first_character_and_its_domain() {
        assert_eq!(Masked("reader@example.org").to_string(), "r***@example.org");
        assert_eq!(Masked("ż@przykład.pl").to_string(), "ż***@przykład.pl");
        assert_eq!(Masked("@example.org").to_string(), "***@example.org");
        assert_eq!(Masked("no address").to_string(), "***");
    }

    #[test]
    fn addresses_quoted_in_text_are_masked_and_the_rest_is_kept() {
        assert_eq!(
            mask_addresses("550 5.1.1 <Reader.One+x@Example.org>: no such user"),
            "550 5.1.1 <R***@Example.org>: no such user"
        );
        assert_eq!(mask_addresses("to a@b.pl and c_d@e.com."), "to a***@b.pl and c***@e.com.");
        assert_eq!(mask_addresses("/subscribe/anna@example.org/x"), "/subscribe/a***@example.org/x");
        assert_eq!(mask_addresses("email=anna@example.org&x=1"), "email=a***@example.org&x=1");
    }

    #[test]
    fn text_without_a_whole_address_is_borrowed_or_left_alone() {
        assert!(matches!(mask_addresses("421 try again later"), Cow::Borrowed(_)));
        for text in ["@", "a@", "@b.pl", "a @ b", "x@ y"] {
            assert_eq!(mask_addresses(text), text);
        }
    }
}
