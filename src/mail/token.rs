//! Signed tokens for the links in e-mails: unsubscribe (never expires — RFC 8058 expects the
//! link in an old digest to keep working) and confirm (expires).
//!
//! A token is `<id>.<mac>` or `<id>.<expiry>.<mac>`, where the MAC is HMAC-SHA256 over the
//! purpose, the subscriber id and the expiry, truncated to 128 bits and base64url-encoded.
//! The purpose is part of what is signed, so a token made for one purpose is useless for the
//! other; verification compares in constant time (`hmac`'s `verify_truncated_left`).

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
    Expired,
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

    pub fn confirm(&self, subscriber: i64, expires: DateTime<Utc>) -> String {
        self.sign("confirm", &format!("{subscriber}.{}", expires.timestamp()))
    }

    pub fn check_confirm(&self, token: &str, now: DateTime<Utc>) -> Result<i64, TokenError> {
        let payload = self.verify("confirm", token).ok_or(TokenError::Invalid)?;
        let (id, expires) = payload.split_once('.').ok_or(TokenError::Invalid)?;
        let expires: i64 = expires.parse().map_err(|_| TokenError::Invalid)?;
        if now.timestamp() > expires {
            return Err(TokenError::Expired);
        }
        id.parse().map_err(|_| TokenError::Invalid)
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
        let token = tokens.confirm(7, at("2026-11-27T00:00:00Z"));
        assert_eq!(tokens.check_confirm(&token, at("2026-11-26T00:00:00Z")), Ok(7));
        assert_eq!(tokens.check_confirm(&token, at("2026-11-28T00:00:00Z")), Err(TokenError::Expired));
        assert_eq!(tokens.check_unsubscribe(&token), Err(TokenError::Invalid));
        assert_eq!(tokens.check_confirm(&tokens.unsubscribe(7), at("2026-11-26T00:00:00Z")), Err(TokenError::Invalid));
    }
}
