//! Serving the feeds: with `ETag`, `Last-Modified`, `304 Not Modified` and gzip.
//!
//! Feed readers poll, so a poll should cost nothing: the daemon keeps, for every feed of the last
//! good build, its strong ETag (a SHA-256 prefix of its bytes) and the time its bytes last
//! changed, and answers conditional requests from that alone (RFC 9110 §13: `If-None-Match`
//! wins over `If-Modified-Since`). A full answer reads the file the build wrote (the page cache
//! keeps popular feeds in memory; the daemon does not hold hundreds of tag feeds itself) and
//! gzips it when the client accepts gzip. Only the files the last build produced are served,
//! looked up by exact path, so no request path can reach anything else on disk.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;

/// One feed as served.
#[derive(Debug, Clone)]
pub struct Entry {
    pub etag: String,
    pub last_modified: SystemTime,
}

/// Every feed of the last good build, by path below the output folder.
#[derive(Debug, Default)]
pub struct FeedCache {
    dir: PathBuf,
    entries: HashMap<String, Entry>,
}

impl FeedCache {
    pub fn new(dir: PathBuf) -> FeedCache {
        FeedCache { dir, entries: HashMap::new() }
    }

    /// Records the bytes of `path` as the build made them; `changed_at` is when they last changed.
    /// A feed whose bytes are the same as before keeps its `Last-Modified`.
    pub fn set(&mut self, path: &str, etag: String, changed_at: SystemTime) {
        let entry = entry(etag, changed_at);
        match self.entries.get(path) {
            Some(old) if old.etag == entry.etag => {}
            _ => {
                self.entries.insert(path.to_owned(), entry);
            }
        }
    }

    /// Forgets the feeds not in `keep` (a tag that disappeared).
    pub fn retain(&mut self, keep: &HashSet<&str>) {
        self.entries.retain(|path, _| keep.contains(path.as_str()));
    }

    /// Where the files are (the output folder may change with the configuration).
    pub fn set_dir(&mut self, dir: PathBuf) {
        if dir != self.dir {
            self.entries.clear();
            self.dir = dir;
        }
    }

    pub fn get(&self, path: &str) -> Option<(Entry, PathBuf)> {
        self.entries.get(path).map(|e| (e.clone(), self.dir.join(path)))
    }
}

/// The strong ETag of a feed's bytes.
pub fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

fn entry(etag: String, last_modified: SystemTime) -> Entry {
    // HTTP dates have whole seconds; compare in whole seconds too.
    let seconds = last_modified.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let last_modified = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    Entry { etag, last_modified }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

fn content_type(path: &str) -> &'static str {
    if path.ends_with("rss.xml") {
        "application/rss+xml; charset=utf-8"
    } else if path.ends_with("atom.xml") {
        "application/atom+xml; charset=utf-8"
    } else {
        "application/feed+json; charset=utf-8"
    }
}

/// `GET` (and `HEAD`) of any path: a feed, or 404.
pub async fn serve(State(state): State<Arc<AppState>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = uri.path().trim_start_matches('/');
    let Some((entry, file)) = state.feeds.read().unwrap_or_else(|p| p.into_inner()).get(path) else {
        return super::pages::not_found(&state);
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    response_headers.insert(header::ETAG, HeaderValue::from_str(&entry.etag).expect("hex is a valid header"));
    response_headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&httpdate::fmt_http_date(entry.last_modified)).expect("an HTTP date is a valid header"),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    response_headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if not_modified(&headers, &entry) {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "cannot read a feed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let body = if accepts_gzip(&headers) {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        gzip(&bytes)
    } else {
        bytes
    };
    (StatusCode::OK, response_headers, Body::from(body)).into_response()
}

fn not_modified(headers: &HeaderMap, entry: &Entry) -> bool {
    if let Some(tags) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        // Weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored.
        return tags.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == entry.etag);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| entry.last_modified <= since)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused =
                parts.any(|p| matches!(p.trim().replace(' ', "").as_str(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn conditional_requests_follow_rfc_9110() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let e = entry(etag(b"feed"), at);
        assert!(not_modified(&headers(&[(header::IF_NONE_MATCH, &e.etag)]), &e));
        assert!(not_modified(&headers(&[(header::IF_NONE_MATCH, &format!("\"x\", W/{}", e.etag))]), &e));
        assert!(!not_modified(&headers(&[(header::IF_NONE_MATCH, "\"other\"")]), &e));
        let date = httpdate::fmt_http_date(at);
        assert!(not_modified(&headers(&[(header::IF_MODIFIED_SINCE, &date)]), &e));
        let earlier = httpdate::fmt_http_date(at - std::time::Duration::from_secs(1));
        assert!(!not_modified(&headers(&[(header::IF_MODIFIED_SINCE, &earlier)]), &e));
        // If-None-Match wins: a non-matching tag means the feed is sent even if not modified since.
        assert!(!not_modified(
            &headers(&[(header::IF_NONE_MATCH, "\"other\""), (header::IF_MODIFIED_SINCE, &date)]),
            &e
        ));
    }

    #[test]
    fn gzip_only_when_accepted() {
        assert!(accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "br, gzip;q=0.8")])));
        assert!(!accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "gzip;q=0, br")])));
        assert!(!accepts_gzip(&headers(&[])));
    }
}
