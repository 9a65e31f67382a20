//! VERP envelope senders: `bounces+TOKEN@DOMAIN`, one per message, so that a bounce that comes
//! back — at once or days later, through a relay, as a DSN — names the issue and the
//! subscriber it is about, without parsing the bounce's body.
//!
//! TOKEN is `ISSUE-SUBSCRIBER-MAC`: the issue's id (0 for a confirmation mail), the subscriber's
//! id, and an HMAC-SHA256 over both with the site secret, truncated to 64 bits and written in
//! lowercase hex — letters and digits only, which every MTA keeps as they are (some fold the
//! case of local parts; hex survives that). A forged or mangled token is not matched.
//! Variable envelope return paths: <https://cr.yp.to/proto/verp.txt>; the `+` separator is
//! Postfix's and Exim's default recipient delimiter.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::SettingsError;

const MAC_HEX: usize = 16;

/// Makes and reads the envelope senders of one site.
#[derive(Clone)]
pub struct Verp {
    key: Vec<u8>,
    local: String,
    domain: String,
}

/// What a VERP address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tagged {
    /// 0 for a confirmation mail.
    pub issue: i64,
    pub subscriber: i64,
}

impl Verp {
    /// `address` is the bounce mailbox (`bounces@example.org`); `secret` the site secret.
    pub fn new(secret: &[u8], address: &str) -> Result<Verp, SettingsError> {
        let (local, domain) =
            address.rsplit_once('@').ok_or_else(|| SettingsError::BounceAddress(address.to_owned()))?;
        if local.is_empty() || domain.is_empty() || local.contains('+') {
            return Err(SettingsError::BounceLocalPart(address.to_owned()));
        }
        Ok(Verp { key: secret.to_vec(), local: local.to_owned(), domain: domain.to_ascii_lowercase() })
    }

    fn mac(&self, issue: i64, subscriber: i64) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(format!("verp\0{issue}\0{subscriber}").as_bytes());
        let tag = mac.finalize().into_bytes();
        hex::encode(&tag[..MAC_HEX / 2])
    }

    /// The envelope sender of the message of `issue` to `subscriber`.
    pub fn address(&self, issue: i64, subscriber: i64) -> String {
        format!("{}+{issue}-{subscriber}-{}@{}", self.local, self.mac(issue, subscriber), self.domain)
    }

    /// What a bounce sent to `address` is about, if the address is one of ours and its MAC holds.
    pub fn parse(&self, address: &str) -> Option<Tagged> {
        let address = address.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, domain) = address.rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let (base, token) = local.split_once('+')?;
        if !base.eq_ignore_ascii_case(&self.local) {
            return None;
        }
        let mut parts = token.splitn(3, '-');
        let issue: i64 = parts.next()?.parse().ok()?;
        let subscriber: i64 = parts.next()?.parse().ok()?;
        let mac = parts.next()?.to_ascii_lowercase();
        let expected = self.mac(issue, subscriber);
        // Constant time: the MAC is compared as a whole, whatever its first differing byte.
        let same =
            mac.len() == expected.len() && mac.bytes().zip(expected.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
        same.then_some(Tagged { issue, subscriber })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_sender_names_its_issue_and_subscriber_and_cannot_be_forged() {
        let verp = Verp::new(b"secret", "bounces@Example.org").unwrap();
        let address = verp.address(3, 17);
        assert!(address.starts_with("bounces+3-17-") && address.ends_with("@example.org"), "{address}");
        assert_eq!(verp.parse(&address), Some(Tagged { issue: 3, subscriber: 17 }));
        // MTAs may change the case of the whole address.
        assert_eq!(verp.parse(&format!("<{}>", address.to_uppercase())), Some(Tagged { issue: 3, subscriber: 17 }));
        // Another subscriber's id with this MAC, another key, another domain: not ours.
        assert_eq!(verp.parse(&address.replace("+3-17-", "+3-18-")), None);
        assert_eq!(Verp::new(b"other", "bounces@example.org").unwrap().parse(&address), None);
        assert_eq!(verp.parse(&address.replace("example.org", "example.net")), None);
        assert_eq!(verp.parse("bounces@example.org"), None);
        assert!(Verp::new(b"k", "no-at-sign").is_err());
    }
}
