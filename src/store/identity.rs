//! What identifies a subscriber, and what a subscriber may be called.
//!
//! **Addresses.** An address is kept as it was given (the form and `subscribers list` show
//! `user@żółw.pl`), but it is *the same subscriber* whatever the case of its letters and whatever
//! form of its domain: the key is the address lower-cased with the domain in IDNA A-labels (UTS
//! 46, as browsers and MTAs map it), so `User@Żółw.pl` and `user@xn--w-uga1v8h.pl` are one. Mail
//! goes to the A-label form ([`ascii_domain`]): a server without SMTPUTF8 (RFC 6531) can take it
//! as long as the local part is ASCII. Addresses at an IP literal (`a@[127.0.0.1]`) are refused:
//! a newsletter has no business mailing a bare host.
//!
//! **Names.** A name goes into nothing an attacker could use: at most [`MAX_NAME_CHARS`]
//! characters, no control characters, nothing that looks like a link or an address — the subscribe
//! form is the known way to send spam through double opt-in ("You won an iPhone:
//! https://evil.example" as the name of any victim's address).

use std::str::FromStr;

use super::{Result, StoreError};

/// The longest name a subscriber may have.
pub const MAX_NAME_CHARS: usize = 100;

/// `email` trimmed and checked; refused with [`StoreError::InvalidEmail`] or
/// [`StoreError::AddressLiteral`].
pub fn normalize_email(email: &str) -> Result<String> {
    let trimmed = email.trim();
    if trimmed.len() > 254 || trimmed.contains(['\r', '\n', ',', ';', '<', '>', ' ']) {
        return Err(StoreError::InvalidEmail(shorten(email)));
    }
    let (local, domain) = trimmed.rsplit_once('@').ok_or_else(|| StoreError::InvalidEmail(shorten(email)))?;
    if domain.starts_with('[') {
        return Err(StoreError::AddressLiteral(trimmed.to_owned()));
    }
    let ascii = ascii_domain(domain).ok_or_else(|| StoreError::InvalidEmail(shorten(email)))?;
    // The A-label form must be a valid address; a non-ASCII local part is allowed (SMTPUTF8).
    lettre::Address::from_str(&format!("{local}@{ascii}")).map_err(|_| StoreError::InvalidEmail(shorten(email)))?;
    Ok(trimmed.to_owned())
}

/// The domain in IDNA A-labels, lower-case; `None` when it is not a domain name.
pub fn ascii_domain(domain: &str) -> Option<String> {
    match url::Host::parse(domain).ok()? {
        url::Host::Domain(ascii) => Some(ascii),
        _ => None,
    }
}

/// The address as mail is sent to it: its domain in A-labels.
pub fn sending_address(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", ascii_domain(domain).unwrap_or_else(|| domain.to_owned())),
        None => email.to_owned(),
    }
}

/// What makes two addresses one subscriber: lower-cased, the domain in A-labels.
pub fn key(email: &str) -> String {
    sending_address(email.trim()).to_lowercase()
}

impl super::Store {
    /// Gives addresses with a non-ASCII domain the key of this version (their domain in
    /// A-labels; a store made before lower-cased the Unicode form). Run at every open: it reads
    /// only such addresses, and a key another subscriber already has is left alone.
    pub(super) fn rekey_unicode_addresses(&self) -> Result<()> {
        // SQLite only: a PostgreSQL store was never made by a version with the old keys.
        let rows: Vec<(i64, String, String)> = self.db.query_all(
            "SELECT id, email, email_key FROM subscribers WHERE email GLOB '*[^ -~]*'",
            super::db::params![],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        for (id, email, old) in rows {
            let new = key(&email);
            if new != old {
                self.db.execute(
                    "UPDATE OR IGNORE subscribers SET email_key = ?2 WHERE id = ?1",
                    super::db::params![id, new],
                )?;
            }
        }
        Ok(())
    }
}

/// A name as given: trimmed, spaces collapsed; refused with [`StoreError::InvalidName`] when
/// it is too long or carries control characters, a link or an address.
pub fn normalize_name(name: Option<&str>) -> Result<Option<String>> {
    let Some(name) = name else { return Ok(None) };
    let refuse = |reason: &str| Err(StoreError::InvalidName(reason.to_owned()));
    if name.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return refuse("it contains control characters");
    }
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return refuse(&format!("it is longer than {MAX_NAME_CHARS} characters"));
    }
    let lower = name.to_lowercase();
    let linkish = lower.contains("://")
        || lower.contains("www.")
        || name.contains('@')
        || name.split(' ').any(|word| {
            // `evil.example`, `bit.ly/x`: a dot between letters, a top-level domain after it.
            let host = word.split('/').next().unwrap_or_default();
            let host = host.trim_matches(|c: char| !c.is_alphanumeric());
            host.rsplit_once('.').is_some_and(|(head, tld)| {
                head.chars().last().is_some_and(char::is_alphanumeric)
                    && tld.len() >= 2
                    && tld.chars().all(|c| c.is_ascii_alphabetic())
            })
        });
    if linkish {
        return refuse("it looks like a link or an address");
    }
    Ok(Some(name))
}

/// An address for an error message: at most 100 characters of it.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(100).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unicode_domain_and_its_a_labels_are_one_subscriber() {
        assert_eq!(ascii_domain("żółw.pl").as_deref(), Some("xn--w-uga1v8h.pl"));
        assert_eq!(key("User@Żółw.PL"), key("user@xn--w-uga1v8h.pl"));
        assert_eq!(sending_address("user@żółw.pl"), "user@xn--w-uga1v8h.pl");
        assert_eq!(normalize_email(" user@żółw.pl ").unwrap(), "user@żółw.pl");
        // A non-ASCII local part is an address (sent only with SMTPUTF8).
        assert_eq!(normalize_email("żółw@example.org").unwrap(), "żółw@example.org");
        assert!(matches!(normalize_email("a@[127.0.0.1]"), Err(StoreError::AddressLiteral(_))));
        assert!(normalize_email(&format!("{}@example.org", "a".repeat(300))).is_err());
    }

    #[test]
    fn names_are_short_plain_text_without_links() {
        assert_eq!(normalize_name(Some("  Anna   Nowak ")).unwrap().as_deref(), Some("Anna Nowak"));
        assert_eq!(normalize_name(Some("J.R.R. Tolkien")).unwrap().as_deref(), Some("J.R.R. Tolkien"));
        assert_eq!(
            normalize_name(Some("dr hab. Zofia Wójcik-Kamińska")).unwrap().as_deref(),
            Some("dr hab. Zofia Wójcik-Kamińska")
        );
        assert_eq!(normalize_name(Some("   ")).unwrap(), None);
        for spam in [
            "Wygrałeś iPhone! https://evil.example",
            "Odbierz nagrodę: evil.example",
            "www.evil.example",
            "napisz: kontakt@evil.example",
            "bit.ly/nagroda",
        ] {
            assert!(normalize_name(Some(spam)).is_err(), "{spam}");
        }
        assert!(normalize_name(Some(&"a".repeat(101))).is_err());
        assert!(normalize_name(Some(&"ż".repeat(100))).is_ok());
        assert!(normalize_name(Some("Anna\u{7}Nowak")).is_err());
    }
}
