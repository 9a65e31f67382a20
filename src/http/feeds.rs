//! Serving the feeds: with `ETag`, `Last-Modified`, `304 Not Modified` and gzip.
//!
//! Feed readers poll, so a poll should cost nothing: the daemon keeps, for every feed of the last
//! good build, its strong ETag (a SHA-256 prefix of its bytes) and the time its bytes last
//! changed. A request is answered by [`serve`] with those headers and a body that reads the file
//! the build wrote only when it is sent (the page cache keeps popular feeds in memory; the daemon
//! does not hold hundreds of tag feeds itself); tower-http's compression negotiates gzip and
//! compresses as the body streams; [`conditional`], outside it, gives the gzip bytes their own
//! strong ETag and answers a conditional request with `304` — dropping the body unread and
//! uncompressed. Only the files the last build produced are served, looked up by exact path, so
//! no request path can reach anything else on disk.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;

use super::AppState;
pub use crate::feed::output::etag;

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

    /// Every feed's path and ETag.
    pub fn etags(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.entries.iter().map(|(path, entry)| (path.clone(), entry.etag.clone()))
    }

    pub fn get(&self, path: &str) -> Option<(Entry, PathBuf)> {
        self.entries.get(path).map(|e| (e.clone(), self.dir.join(path)))
    }
}

fn entry(etag: String, last_modified: SystemTime) -> Entry {
    // HTTP dates have whole seconds; compare in whole seconds too.
    let seconds = last_modified.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let last_modified = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    Entry { etag, last_modified }
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

/// `GET` (and `HEAD`) of any path: a feed, or 404. The body is read from disk only when it is
/// sent: a `304` or a `HEAD` never reads it (see [`conditional`]).
pub async fn serve(State(state): State<Arc<AppState>>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = uri.path().trim_start_matches('/');
    let Some((entry, file)) = state.feeds.read().unwrap_or_else(|p| p.into_inner()).get(path) else {
        return super::pages::not_found(&state);
    };
    let opened = match tokio::fs::File::open(&file).await {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "cannot read a feed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    headers.insert(header::ETAG, HeaderValue::from_str(&entry.etag).expect("hex is a valid header"));
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&httpdate::fmt_http_date(entry.last_modified)).expect("an HTTP date is a valid header"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    (StatusCode::OK, headers, Body::from_stream(ReaderStream::new(opened))).into_response()
}

/// The feeds' middleware, outside tower-http's compression: gives the gzip coding an ETag of its
/// own, weak (`W/"…-gzip"`): the gzip bytes are made as the body streams, and the encoder flushes
/// whenever a read of the file is not back yet, so two answers of the same feed — on two nodes, or
/// on one — may differ in their bytes, which a strong tag would promise they do not (RFC 9110
/// §8.8.1; nginx weakens the tags of what it compresses on the fly for the same reason). The plain
/// bytes keep their strong tag. Then it answers a conditional request from the final headers
/// with `304 Not Modified` and drops the body unread (RFC 9110 §13.2.2: `If-None-Match` first,
/// `If-Modified-Since` only without it).
pub async fn conditional(request: Request, next: Next) -> Response {
    // Only the validators are kept from the request, not all of its headers.
    let asked: HeaderMap = [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE]
        .into_iter()
        .filter_map(|name| request.headers().get(&name).cloned().map(|value| (name, value)))
        .collect();
    let mut response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let coding = response.headers().get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let (Some(coding), Some(tag)) = (coding, response.headers().get(header::ETAG).and_then(|v| v.to_str().ok())) {
        let tagged = format!("W/{}-{coding}\"", tag.trim_end_matches('"'));
        response.headers_mut().insert(header::ETAG, HeaderValue::from_str(&tagged).expect("a valid header"));
    }
    if !not_modified(&asked, response.headers()) {
        return response;
    }
    let mut headers = HeaderMap::new();
    for name in [header::ETAG, header::LAST_MODIFIED, header::CACHE_CONTROL, header::VARY] {
        if let Some(value) = response.headers().get(&name) {
            headers.insert(name, value.clone());
        }
    }
    (StatusCode::NOT_MODIFIED, headers).into_response()
}

/// Whether a request's validators match the response's (`ETag`, `Last-Modified`).
fn not_modified(asked: &HeaderMap, response: &HeaderMap) -> bool {
    let header = |map: &HeaderMap, name| map.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
    if let Some(tags) = header(asked, header::IF_NONE_MATCH) {
        let Some(etag) = header(response, header::ETAG) else { return false };
        // Weak comparison (RFC 9110 §8.8.3.2): `W/` prefixes are ignored, on both sides.
        let etag = etag.trim_start_matches("W/");
        return tags.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == etag);
    }
    let date = |map: &HeaderMap, name| header(map, name).and_then(|v| httpdate::parse_http_date(&v).ok());
    match (date(asked, header::IF_MODIFIED_SINCE), date(response, header::LAST_MODIFIED)) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
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
        let date = httpdate::fmt_http_date(at);
        let sent = headers(&[(header::ETAG, &e.etag), (header::LAST_MODIFIED, &date)]);
        assert!(not_modified(&headers(&[(header::IF_NONE_MATCH, &e.etag)]), &sent));
        assert!(not_modified(&headers(&[(header::IF_NONE_MATCH, &format!("\"x\", W/{}", e.etag))]), &sent));
        assert!(not_modified(&headers(&[(header::IF_NONE_MATCH, "*")]), &sent));
        assert!(!not_modified(&headers(&[(header::IF_NONE_MATCH, "\"other\"")]), &sent));
        assert!(not_modified(&headers(&[(header::IF_MODIFIED_SINCE, &date)]), &sent));
        let earlier = httpdate::fmt_http_date(at - std::time::Duration::from_secs(1));
        assert!(!not_modified(&headers(&[(header::IF_MODIFIED_SINCE, &earlier)]), &sent));
        // If-None-Match wins: a non-matching tag means the feed is sent even if not modified since.
        assert!(!not_modified(
            &headers(&[(header::IF_NONE_MATCH, "\"other\""), (header::IF_MODIFIED_SINCE, &date)]),
            &sent
        ));
        assert!(!not_modified(&headers(&[]), &sent), "an unconditional request");
        // A weak tag of the response (the gzip coding's) matches the same tag, weak or not.
        let gzip = format!("W/{}-gzip\"", e.etag.trim_end_matches('"'));
        let sent_gzip = headers(&[(header::ETAG, &gzip)]);
        assert!(not_modified(&headers(&[(header::IF_NONE_MATCH, &gzip)]), &sent_gzip));
        assert!(not_modified(&headers(&[(header::IF_NONE_MATCH, &gzip[2..])]), &sent_gzip));
        assert!(!not_modified(&headers(&[(header::IF_NONE_MATCH, &e.etag)]), &sent_gzip));
    }
}
