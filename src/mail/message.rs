//! One digest e-mail, built with lettre's message builder.
//!
//! `multipart/alternative` with text/plain first and text/html last (RFC 2046 §5.1.4: the
//! richest part last); a subject RFC 2047-encoded by lettre when it is not ASCII; a
//! deterministic `Message-ID` per (issue, subscriber), so a retried message is recognisably the
//! same message; `List-Id` (RFC 2919); `List-Unsubscribe` with an HTTPS URL and
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058). Header values go through
//! lettre's encoder, and line breaks are removed from the subject first, so no name, subject or
//! address can inject a header.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart};

pub const LIST_UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
pub const LIST_UNSUBSCRIBE_POST: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");
pub const LIST_ID: HeaderName = HeaderName::new_from_ascii_str("List-Id");

/// Everything one message is made of.
#[derive(Debug, Clone)]
pub struct Letter<'a> {
    pub from: &'a Mailbox,
    pub to_email: &'a str,
    pub to_name: Option<&'a str>,
    pub subject: &'a str,
    /// Encoded by `Body::new`, or filled in from a `BodyTemplate` (`body.rs`): the same bytes.
    pub text: Body,
    pub html: Body,
    pub date: SystemTime,
    /// Without angle brackets: `kurier.3.17.5f2c9a01b7e4@example.org`.
    pub message_id: String,
    /// The envelope sender (`MAIL FROM`), where bounces go: a VERP address (`verp.rs`). The
    /// `From` address when absent.
    pub envelope_from: Option<&'a str>,
    /// The list's id, a dot-atom: `digest.example.org`.
    pub list_id: &'a str,
    /// The list's name, shown before the id.
    pub list_name: &'a str,
    /// Absent on messages that are not list mail (a subscription confirmation).
    pub unsubscribe_url: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("`{0}` is not a valid recipient address")]
    Recipient(String),
    #[error("`{0}` is not a valid envelope sender")]
    Sender(String),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
}

/// The deterministic Message-ID of an issue sent to a subscriber from the store `store_id`,
/// at the sender's domain: the same on every retry, different for every store.
pub fn message_id(issue: i64, subscriber: i64, store_id: &str, from: &Mailbox) -> String {
    format!("kurier.{issue}.{subscriber}.{store_id}@{}", from.email.domain())
}

/// Text for one header line (a subject, a display name): line breaks and runs of white space
/// become one space, so no template or name can start a header of its own.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `List-Id: phrase <id>` (RFC 2919). A name with non-ASCII characters or RFC 5322 specials
/// (`Fixture: …` has a colon, which would start an address group) is sent as RFC 2047 encoded
/// words, folded so that no line is longer than 78 characters; the id is a dot-atom.
fn list_id_header(name: &str, id: &str) -> HeaderValue {
    const SPECIALS: &[char] = &['(', ')', '<', '>', '[', ']', ':', ';', '@', '\\', ',', '.', '"'];
    let plain = name.chars().all(|c| c.is_ascii_graphic() || c == ' ') && !name.contains(SPECIALS);
    let phrase = if plain || name.is_empty() {
        name.to_owned()
    } else {
        use base64::Engine;
        let mut words = Vec::new();
        let mut chunk = String::new();
        for c in name.chars() {
            // 45 bytes of UTF-8 become 60 characters of base64: an encoded word of 72.
            if chunk.len() + c.len_utf8() > 45 {
                words.push(std::mem::take(&mut chunk));
            }
            chunk.push(c);
        }
        words.push(chunk);
        words
            .iter()
            .map(|w| format!("=?utf-8?b?{}?=", base64::engine::general_purpose::STANDARD.encode(w)))
            .collect::<Vec<_>>()
            .join("\r\n ")
    };
    let value = if phrase.is_empty() { format!("<{id}>") } else { format!("{phrase}\r\n <{id}>") };
    HeaderValue::dangerous_new_pre_encoded(LIST_ID, format!("{name} <{id}>"), value)
}

/// Builds the message.
pub fn build(letter: Letter<'_>) -> Result<Message, MessageError> {
    let address: lettre::Address =
        letter.to_email.parse().map_err(|_| MessageError::Recipient(letter.to_email.to_owned()))?;
    let to = Mailbox::new(letter.to_name.map(one_line), address.clone());
    let mut builder = Message::builder();
    if let Some(sender) = letter.envelope_from {
        let sender: lettre::Address = sender.parse().map_err(|_| MessageError::Sender(sender.to_owned()))?;
        builder = builder.envelope(lettre::address::Envelope::new(Some(sender), vec![address])?);
    }
    let mut builder = builder
        .from(letter.from.clone())
        .to(to)
        .subject(one_line(letter.subject))
        .date(letter.date)
        .message_id(Some(format!("<{}>", letter.message_id)))
        .raw_header(list_id_header(&one_line(letter.list_name), letter.list_id));
    if let Some(url) = letter.unsubscribe_url {
        builder = builder
            .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, format!("<{url}>")))
            .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE_POST, "List-Unsubscribe=One-Click".to_owned()));
    }
    Ok(builder.multipart(MultiPart::alternative_plain_html(letter.text, letter.html))?)
}

/// The decoded text/plain part of a formatted message, for `digest preview --text` (read back
/// with mail-parser, as a mail client would).
pub fn text_part(raw: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default().parse(raw);
    let text = parsed.as_ref().and_then(|message| message.body_text(0)).unwrap_or_default();
    text.replace("\r\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter<'a>(from: &'a Mailbox, subject: &'a str, name: Option<&'a str>) -> Letter<'a> {
        Letter {
            from,
            to_email: "anna@example.org",
            to_name: name,
            subject,
            text: Body::new("tekst".to_owned()),
            html: Body::new("<p>html</p>".to_owned()),
            date: SystemTime::UNIX_EPOCH,
            message_id: "kurier.1.2@example.org".into(),
            envelope_from: None,
            list_id: "digest.example.org",
            list_name: "Psychosomatyka na co dzień",
            unsubscribe_url: Some("https://example.org/unsubscribe/2.abc"),
        }
    }

    fn text(message: &Message) -> String {
        String::from_utf8(message.formatted()).unwrap()
    }

    #[test]
    fn carries_list_headers_and_a_deterministic_message_id() {
        let from: Mailbox = "Blog <news@example.org>".parse().unwrap();
        let raw = text(&build(letter(&from, "Nowe wpisy", None)).unwrap());
        assert!(raw.contains("Message-ID: <kurier.1.2@example.org>\r\n"), "{raw}");
        assert!(raw.contains("List-Unsubscribe: <https://example.org/unsubscribe/2.abc>\r\n"), "{raw}");
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), "{raw}");
        assert!(
            raw.contains("List-Id: =?utf-8?b?UHN5Y2hvc29tYXR5a2EgbmEgY28gZHppZcWE?=\r\n <digest.example.org>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
        assert_eq!(message_id(1, 2, "5f2c9a01b7e4", &from), "kurier.1.2.5f2c9a01b7e4@example.org");
    }

    #[test]
    fn the_envelope_sender_is_the_verp_address_not_the_from_address() {
        let from: Mailbox = "Blog <news@example.org>".parse().unwrap();
        let message = build(letter(&from, "T", None)).unwrap();
        assert_eq!(message.envelope().from().map(ToString::to_string).as_deref(), Some("news@example.org"));
        let mut verp = letter(&from, "T", None);
        verp.envelope_from = Some("bounces+1-2-0123456789abcdef@example.org");
        let message = build(verp).unwrap();
        assert_eq!(
            message.envelope().from().map(ToString::to_string).as_deref(),
            Some("bounces+1-2-0123456789abcdef@example.org")
        );
        assert_eq!(message.envelope().to().iter().map(ToString::to_string).collect::<Vec<_>>(), ["anna@example.org"]);
        assert!(String::from_utf8(message.formatted()).unwrap().contains("From: Blog <news@example.org>"));
    }

    #[test]
    fn text_part_is_decoded_whole_even_with_a_signature_separator() {
        let from: Mailbox = "news@example.org".parse().unwrap();
        let mut l = letter(&from, "T", None);
        l.text = Body::new("Zażółć\n--\nstopka".to_owned());
        let raw = build(l).unwrap().formatted();
        assert_eq!(text_part(&raw).trim_end(), "Zażółć\n--\nstopka");
    }

    #[test]
    fn polish_subjects_are_encoded_and_line_breaks_cannot_inject_headers() {
        let from: Mailbox = "news@example.org".parse().unwrap();
        let raw =
            text(&build(letter(&from, "Zażółć\r\nBcc: victim@example.org", Some("Anna\nBcc: x@example.org"))).unwrap());
        assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
        let headers = &raw[..raw.find("\r\n\r\n").unwrap()];
        assert!(!headers.lines().any(|l| l.starts_with("Bcc:")), "{headers}");
        assert!(!raw.contains("\r\nBcc"), "{raw}");
    }
}
