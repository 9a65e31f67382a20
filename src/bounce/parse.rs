//! What a message that came back says: a bounce (permanent or transient), a complaint, or
//! nothing kurier acts on. PURE: bytes in, a [`Report`] out.
//!
//! In order of trust:
//! 1. the **VERP address** it was sent to (`Delivered-To`, `X-Original-To`, `Envelope-To`, `To`,
//!    a `Received: … for <…>`): it names the issue and the subscriber, signed (`mail/verp.rs`);
//! 2. the **standard reports**, `multipart/report`: an RFC 3464 delivery status notification
//!    (per recipient `Final-Recipient`, `Action`, `Status`: `failed` with 5.x.x is permanent,
//!    with 4.x.x transient; `delayed`, `delivered`, `relayed` are not bounces) or an RFC 5965
//!    ARF feedback report (a complaint; the recipient from `Original-Rcpt-To`, else the reported
//!    message's `To`, unless the provider redacted it);
//! 3. the **non-standard bounces** of MTAs that send none of those: `X-Failed-Recipients`
//!    (Exim, Gmail), Exim's "The following address(es) failed:" list, qmail's QSBMF `<address>:`
//!    paragraphs; permanent or transient from their wording and the first SMTP reply code in them.
//!
//! Anything else — an RFC 3834 auto-reply (vacation, out of office), a human reply, a delay
//! notice — is [`Verdict::Ignored`].

use mail_parser::{MessageParser, MimeHeaders, PartType};

use crate::mail::verp::{Tagged, Verp};

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Permanent,
    Transient,
    Complaint,
    Ignored,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Permanent => "permanent",
            Verdict::Transient => "transient",
            Verdict::Complaint => "complaint",
            Verdict::Ignored => "ignored",
        }
    }
}

/// One recipient a report is about, with what it says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub address: String,
    /// The status and diagnostic (`5.1.1 smtp; 550 5.1.1 No such user`), or the complaint's
    /// feedback type.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    /// The issue and subscriber of the VERP address it came back to.
    pub verp: Option<Tagged>,
}

impl Report {
    fn ignored(verp: Option<Tagged>) -> Report {
        Report { verdict: Verdict::Ignored, findings: Vec::new(), verp }
    }
}

/// Classifies one RFC 5322 message.
pub fn classify(raw: &[u8], verp: &Verp) -> Report {
    let headers = header_fields(raw);
    let tagged = verp_of(&headers, verp);
    let Some(message) = MessageParser::default().parse(raw) else { return Report::ignored(tagged) };

    let report_type = message
        .content_type()
        .filter(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .and_then(|ct| ct.attribute("report-type"))
        .map(str::to_ascii_lowercase);
    let part_of = |wanted: &str| {
        message.parts.iter().find(|part| {
            part.content_type().is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case("message")
                    && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case(wanted))
            })
        })
    };

    if report_type.as_deref() == Some("feedback-report") || part_of("feedback-report").is_some() {
        let fields = part_of("feedback-report").and_then(|p| p.text_contents()).map(fields).unwrap_or_default();
        let kind = field(&fields, "feedback-type").unwrap_or("abuse").to_owned();
        let mut address = field(&fields, "original-rcpt-to").map(address_in);
        if address.is_none() {
            // The reported message, when the provider left its recipient in.
            address = message.parts.iter().find_map(|part| match &part.body {
                PartType::Message(reported) => {
                    reported.to().and_then(|to| to.first()).and_then(|a| a.address()).map(str::to_owned)
                }
                _ => None,
            });
        }
        let findings = address
            .filter(|a| a.contains('@') && !a.to_ascii_lowercase().contains("redacted"))
            .map(|address| Finding { address, detail: format!("feedback report: {kind}") })
            .into_iter()
            .collect();
        return Report { verdict: Verdict::Complaint, findings, verp: tagged };
    }

    if let Some(status) = part_of("delivery-status").and_then(|p| p.text_contents()) {
        return delivery_status(status, tagged);
    }

    if let Some(report) = non_standard(&headers, &message, tagged) {
        return report;
    }
    Report::ignored(tagged)
}

/// An RFC 3464 `message/delivery-status` body: what it says of each recipient.
fn delivery_status(text: &str, verp: Option<Tagged>) -> Report {
    let mut permanent = Vec::new();
    let mut transient = Vec::new();
    // The first block is about the message, each further one about a recipient.
    for block in blocks(text).into_iter().skip(1) {
        let fields = fields(&block);
        let action = field(&fields, "action").unwrap_or_default().to_ascii_lowercase();
        if action != "failed" {
            continue;
        }
        let Some(address) = field(&fields, "final-recipient").or_else(|| field(&fields, "original-recipient")) else {
            continue;
        };
        let status = field(&fields, "status").unwrap_or("5.0.0").trim().to_owned();
        let diagnostic = field(&fields, "diagnostic-code").unwrap_or_default();
        let finding =
            Finding { address: address_in(address), detail: format!("{status} {diagnostic}").trim().to_owned() };
        if status.starts_with('4') { transient.push(finding) } else { permanent.push(finding) }
    }
    if !permanent.is_empty() {
        Report { verdict: Verdict::Permanent, findings: permanent, verp }
    } else if !transient.is_empty() {
        Report { verdict: Verdict::Transient, findings: transient, verp }
    } else {
        Report::ignored(verp)
    }
}

/// The bounces of MTAs that send no DSN.
fn non_standard(
    headers: &[(String, String)],
    message: &mail_parser::Message<'_>,
    verp: Option<Tagged>,
) -> Option<Report> {
    let body: String = message.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
    let mut addresses: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name == "x-failed-recipients")
        .flat_map(|(_, value)| value.split(',').map(address_in).collect::<Vec<_>>())
        .collect();
    if addresses.is_empty() {
        addresses = exim_list(&body).or_else(|| qmail_list(&body)).unwrap_or_default();
    }
    if addresses.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let code = first_reply_code(&body);
    let transient_words = ["temporary", "will be retried", "deferred", "try again later"];
    let verdict = match code.as_deref().and_then(|c| c.chars().next()) {
        Some('4') => Verdict::Transient,
        Some('5') => Verdict::Permanent,
        _ if lower.contains("permanent") => Verdict::Permanent,
        _ if transient_words.iter().any(|w| lower.contains(w)) => Verdict::Transient,
        _ => Verdict::Permanent,
    };
    let detail = code.unwrap_or_else(|| "non-standard bounce".to_owned());
    let findings = addresses.into_iter().map(|address| Finding { address, detail: detail.clone() }).collect();
    Some(Report { verdict, findings, verp })
}

/// Exim: "The following address(es) failed:" then the addresses, indented, one per line.
fn exim_list(body: &str) -> Option<Vec<String>> {
    let start = body.find("following address(es) failed")?;
    let rest = &body[start..];
    let addresses: Vec<String> = rest
        .lines()
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with([' ', '\t']))
        .map(|l| address_in(l.trim()))
        .filter(|a| a.contains('@'))
        .collect();
    (!addresses.is_empty()).then_some(addresses)
}

/// qmail (QSBMF): paragraphs that start with `<address>:`, before the copy of the message.
fn qmail_list(body: &str) -> Option<Vec<String>> {
    if !body.contains("qmail-send program") && !body.contains("wasn't able to deliver") {
        return None;
    }
    let end = body.find("--- Below this line").unwrap_or(body.len());
    let addresses: Vec<String> = body[..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix('<')?.split_once(">:").map(|(a, _)| a.to_owned()))
        .filter(|a| a.contains('@'))
        .collect();
    (!addresses.is_empty()).then_some(addresses)
}

/// The first SMTP reply code in a text (`550`, or the enhanced `5.1.1`), with what follows on
/// its line.
fn first_reply_code(text: &str) -> Option<String> {
    for line in text.lines() {
        for (i, _) in line.char_indices() {
            let rest = &line[i..];
            let bytes = rest.as_bytes();
            let boundary_before = i == 0 || !line.as_bytes()[i - 1].is_ascii_alphanumeric();
            let reply = bytes.len() >= 4
                && matches!(bytes[0], b'4' | b'5')
                && bytes[1].is_ascii_digit()
                && bytes[2].is_ascii_digit()
                && matches!(bytes[3], b' ' | b'-');
            if boundary_before && reply {
                return Some(rest.trim().to_owned());
            }
        }
    }
    None
}

/// The top-level header fields, unfolded, names lower-cased.
fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let head = head.split("\n\n").next().unwrap_or_default();
    fields(head)
}

/// `Name: value` fields of a block, continuation lines joined, names lower-cased.
fn fields(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    out
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Blocks of fields separated by blank lines.
fn blocks(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()).map(str::to_owned).collect()
}

/// The address in `rfc822; <a@b>`, `<a@b>` or `a@b`.
fn address_in(value: &str) -> String {
    let value = value.rsplit(';').next().unwrap_or(value).trim();
    let value = match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value,
    };
    value.trim().trim_end_matches(':').to_owned()
}

/// The VERP address among the places a message's recipient shows.
fn verp_of(headers: &[(String, String)], verp: &Verp) -> Option<Tagged> {
    let places = ["delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to", "received"];
    for place in places {
        for (_, value) in headers.iter().filter(|(name, _)| name == place) {
            let candidates = value.split([' ', ',', ';', '<', '>', '\t']).filter(|w| w.contains('@'));
            if let Some(tagged) = candidates.filter_map(|word| verp.parse(word)).next() {
                return Some(tagged);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_are_found_where_they_start_a_word() {
        assert_eq!(first_reply_code("host said: 550 5.1.1 No such user").as_deref(), Some("550 5.1.1 No such user"));
        assert_eq!(
            first_reply_code("at 10:45 in 2026 the 451-4.7.1 greylisted").as_deref(),
            Some("451-4.7.1 greylisted")
        );
        assert_eq!(first_reply_code("nothing here 12345"), None);
    }

    #[test]
    fn addresses_come_out_of_their_wrappings() {
        assert_eq!(address_in("rfc822; <a@example.org>"), "a@example.org");
        assert_eq!(address_in("rfc822;b@example.org"), "b@example.org");
        assert_eq!(address_in("<c@example.org>:"), "c@example.org");
    }
}
