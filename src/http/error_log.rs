//! The log lines of requests that end in an error status.
//!
//! Anyone can send requests, so a request must not buy a log line as long as it likes, nor as
//! many as it likes: a scanner's 8 KiB paths once wrote 16 MB of log in 0.8 s. So the path a
//! line shows is cut to [`PATH_CHARS`] characters, with the token of a confirm or unsubscribe
//! link cut to its first characters and addresses masked (`mail/address.rs`); and client errors
//! (`4xx`: scanners' 404s, forged links, rate limits) are logged at most
//! [`CLIENT_ERRORS_PER_SECOND`] a second. The ones left out are counted, and one line a second
//! after the first of them says how many. Server errors (`5xx`) are ours to fix: each one is
//! logged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::mail::mask_addresses;

/// Characters of a path a log line shows at most.
pub const PATH_CHARS: usize = 200;
/// Client-error lines logged per second at most.
pub const CLIENT_ERRORS_PER_SECOND: u32 = 10;
const WINDOW: Duration = Duration::from_secs(1);
/// Characters of a token a logged path keeps: enough to tell two links apart, useless to use.
const TOKEN_CHARS: usize = 4;

/// The budget of client-error lines, shared by every request.
#[derive(Debug)]
pub struct ErrorLog {
    budget: Mutex<Budget>,
}

impl Default for ErrorLog {
    fn default() -> ErrorLog {
        ErrorLog { budget: Mutex::new(Budget::new(Instant::now())) }
    }
}

#[derive(Debug)]
struct Budget {
    window_start: Instant,
    logged: u32,
    /// Left out since the last summary.
    suppressed: u64,
    /// A summary is scheduled.
    summary_due: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Log,
    /// Left out; the first one left out since the last summary schedules the next summary.
    Suppress {
        summary_at: Option<Instant>,
    },
}

impl Budget {
    fn new(now: Instant) -> Budget {
        Budget { window_start: now, logged: 0, suppressed: 0, summary_due: false }
    }

    fn admit(&mut self, now: Instant) -> Verdict {
        if now.duration_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.logged = 0;
        }
        if self.logged < CLIENT_ERRORS_PER_SECOND {
            self.logged += 1;
            return Verdict::Log;
        }
        self.suppressed += 1;
        if self.summary_due {
            return Verdict::Suppress { summary_at: None };
        }
        self.summary_due = true;
        Verdict::Suppress { summary_at: Some(self.window_start + WINDOW) }
    }

    /// The count for a summary line, which starts a new count.
    fn take_suppressed(&mut self) -> u64 {
        self.summary_due = false;
        std::mem::take(&mut self.suppressed)
    }
}

impl ErrorLog {
    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Middleware: one line per request that ends in an error status, within the budget.
pub async fn log_errors(State(log): State<Arc<ErrorLog>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() {
        tracing::error!(%method, path = %shown_path(uri.path()), status = status.as_u16(), "HTTP error");
    } else if status.is_client_error() {
        let verdict = log.budget().admit(Instant::now());
        match verdict {
            Verdict::Log => {
                tracing::warn!(%method, path = %shown_path(uri.path()), status = status.as_u16(), "HTTP client error")
            }
            Verdict::Suppress { summary_at: Some(at) } => {
                tokio::spawn(async move {
                    tokio::time::sleep_until(at.into()).await;
                    let suppressed = log.budget().take_suppressed();
                    let limit = CLIENT_ERRORS_PER_SECOND;
                    tracing::warn!(
                        suppressed,
                        "suppressed {suppressed} log lines of 4xx answers (at most {limit} a second)"
                    );
                });
            }
            Verdict::Suppress { summary_at: None } => {}
        }
    }
    response
}

/// A request path as a log line shows it: the token of a link cut, addresses masked, at most
/// [`PATH_CHARS`] characters.
fn shown_path(path: &str) -> String {
    let mut shown = None;
    for prefix in ["/confirm/", "/unsubscribe/"] {
        if let Some(token) = path.strip_prefix(prefix) {
            shown = Some(format!("{prefix}{}…", token.chars().take(TOKEN_CHARS).collect::<String>()));
        }
    }
    let shown = shown.unwrap_or_else(|| mask_addresses(path).into_owned());
    match shown.char_indices().nth(PATH_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes)", &shown[..cut], path.len()),
        None => shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_beyond_the_budget_are_counted_for_one_summary() {
        let start = Instant::now();
        let mut budget = Budget::new(start);
        let verdicts: Vec<Verdict> = (0..25).map(|_| budget.admit(start)).collect();
        assert!(verdicts[..10].iter().all(|v| *v == Verdict::Log));
        assert_eq!(verdicts[10], Verdict::Suppress { summary_at: Some(start + WINDOW) });
        assert!(verdicts[11..].iter().all(|v| *v == Verdict::Suppress { summary_at: None }));
        assert_eq!(budget.take_suppressed(), 15);
        assert_eq!(budget.take_suppressed(), 0);
        // A new second, a new budget.
        assert_eq!(budget.admit(start + WINDOW), Verdict::Log);
    }

    #[test]
    fn logged_paths_are_cut_and_keep_no_token_or_address() {
        let long = format!("/{}", "a".repeat(8192));
        let shown = shown_path(&long);
        assert!(shown.starts_with(&format!("/{}…", "a".repeat(PATH_CHARS - 1))), "{shown}");
        assert!(shown.ends_with("(8193 bytes)"), "{shown}");
        assert_eq!(shown_path("/confirm/12.3.1790000000.c2VjcmV0"), "/confirm/12.3…");
        assert_eq!(shown_path("/unsubscribe/12.c2VjcmV0"), "/unsubscribe/12.c…");
        assert_eq!(shown_path("/people/anna@example.org"), "/people/a***@example.org");
        assert_eq!(shown_path("/rss.xml"), "/rss.xml");
    }
}
