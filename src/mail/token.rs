//! Signed tokens for the links in e-mails: unsubscribe (never expires — RFC 8058 expects the
//! link in an old digest to keep working) and confirm (expires, and is single-use).
//!
//! A token is `<id>.<mac>` (unsubscribe) or `<id>.<version>.<expiry>.<mac>` (confirm), where
//! the MAC is HMAC-SHA256 over the purpose and the payload before it, truncated to 128 bits and
//! base64url-encoded. The purpose is part of what is signed, so a token made for one purpose is
//! useless for the other; verification compares in constant time (`hmac`'s
//! `verify_truncated_left`).
//!
//! A confirmation token carries the subscriber's `version` when it was mailed (the store
//! increments it on every status change): the token says which version it was made for, the
//! store says whether that is still the current one. So the link dies when it is used, when a
//! newer confirmation is mailed and when the subscriber unsubscribes — an old link cannot
//! reactivate an address that someone else re-submitted. The version is in the clear so that a
//! stale link (`410`) can be told from a forged one (`400`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const MAC_BYTES: usize = 16;

/// How long a confirmation link works.
pub const CONFIRMATION_VALID_FOR: chrono::Duration = chrono::Duration::hours(48);

#[derive(Clone)]
pub struct Tokens {
    key: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Malformed, forged, or made for another purpose.
    Invalid,
    /// Genuine but past its expiry, or of the format before versions (which cannot be
    /// checked against the store, so it is treated as expired).
    Expired,
}

/// What a genuine, unexpired confirmation token names; the store decides whether `version`
/// is still current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmToken {
    pub subscriber: i64,
    pub version: i64,
}

impl Tokens {
    pub fn new(secret: &[u8]) -> Tokens {
        Tokens { key: secret.to_vec() }
    }

    fn mac(&self, purpose: &str, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(payload.as_bytes());
        mac
    }

    fn sign(&self, purpose: &str, payload: &str) -> String {
        let tag = self.mac(purpose, payload).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES]))
    }

    fn verify<'t>(&self, purpose: &str, token: &'t str) -> Option<&'t str> {
        let (payload, tag) = token.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != MAC_BYTES {
            return None;
        }
        self.mac(purpose, payload).verify_truncated_left(&tag).ok()?;
        Some(payload)
    }

    pub fn unsubscribe(&self, subscriber: i64) -> String {
        self.sign("unsubscribe", &subscriber.to_string())
    }

    pub fn check_unsubscribe(&self, token: &str) -> Result<i64, TokenError> {
        self.verify("unsubscribe", token).and_then(|id| id.parse().ok()).ok_or(TokenError::Invalid)
    }

    /// A confirmation link's token for `subscriber` at its current `version`.
    pub fn confirm(&self, subscriber: i64, version: i64, expires: DateTime<Utc>) -> String {
        self.sign("confirm", &format!("{subscriber}.{version}.{}", expires.timestamp()))
    }

    pub fn check_confirm(&self, token: &str, now: DateTime<Utc>) -> Result<ConfirmToken, TokenError> {
        let payload = self.verify("confirm", token).ok_or(TokenError::Invalid)?;
        let parts: Vec<&str> = payload.split('.').collect();
        let number = |s: &str| s.parse::<i64>().map_err(|_| TokenError::Invalid);
        let (subscriber, version, expires) = match parts[..] {
            [subscriber, version, expires] => (number(subscriber)?, number(version)?, number(expires)?),
            // `<id>.<expiry>`, signed before tokens had versions.
            [_, _] => return Err(TokenError::Expired),
            _ => return Err(TokenError::Invalid),
        };
        if now.timestamp() > expires {
            return Err(TokenError::Expired);
        }
        Ok(ConfirmToken { subscriber, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn unsubscribe_tokens_verify_and_resist_forgery() {
        let tokens = Tokens::new(b"secret");
        let token = tokens.unsubscribe(42);
        assert_eq!(tokens.check_unsubscribe(&token), Ok(42));
        let forged = token.replacen("42.", "43.", 1);
        assert_eq!(tokens.check_unsubscribe(&forged), Err(TokenError::Invalid));
        assert_eq!(Tokens::new(b"other").check_unsubscribe(&token), Err(TokenError::Invalid));
        for junk in ["", "42", "42.", "42.AAAA", ".....", "42.%%%"] {
            assert_eq!(tokens.check_unsubscribe(junk), Err(TokenError::Invalid), "{junk}");
        }
    }

    #[test]
    fn confirmation_tokens_expire_and_are_single_purpose() {
        let tokens = Tokens::new(b"secret");
        let token = tokens.confirm(7, 2, at("2026-11-27T00:00:00Z"));
        let named = ConfirmToken { subscriber: 7, version: 2 };
        assert_eq!(tokens.check_confirm(&token, at("2026-11-26T00:00:00Z")), Ok(named));
        assert_eq!(tokens.check_confirm(&token, at("2026-11-28T00:00:00Z")), Err(TokenError::Expired));
        assert_eq!(tokens.check_unsubscribe(&token), Err(TokenError::Invalid));
        assert_eq!(tokens.check_confirm(&tokens.unsubscribe(7), at("2026-11-26T00:00:00Z")), Err(TokenError::Invalid));
    }

    #[test]
    fn a_confirmation_token_is_bound_to_the_version_it_was_made_for() {
        let tokens = Tokens::new(b"secret");
        let expires = at("2026-11-27T00:00:00Z");
        let now = at("2026-11-26T00:00:00Z");
        let token = tokens.confirm(7, 3, expires);
        assert_eq!(token.split('.').take(3).collect::<Vec<_>>(), ["7", "3", &expires.timestamp().to_string()]);
        // Claiming the current version instead of the one signed is a forgery.
        let claimed = token.replacen("7.3.", "7.4.", 1);
        assert_eq!(tokens.check_confirm(&claimed, now), Err(TokenError::Invalid));
        assert_ne!(tokens.confirm(7, 4, expires), token);
        assert_eq!(tokens.check_confirm(&tokens.confirm(7, 4, expires), now).unwrap().version, 4);
    }

    #[test]
    fn a_genuine_token_from_before_versions_is_expired_and_a_forged_one_invalid() {
        let tokens = Tokens::new(b"secret");
        let expires = at("2026-11-27T00:00:00Z").timestamp();
        let old = tokens.sign("confirm", &format!("7.{expires}"));
        assert_eq!(tokens.check_confirm(&old, at("2026-11-26T00:00:00Z")), Err(TokenError::Expired));
        let forged = Tokens::new(b"other").sign("confirm", &format!("7.{expires}"));
        assert_eq!(tokens.check_confirm(&forged, at("2026-11-26T00:00:00Z")), Err(TokenError::Invalid));
    }
}
