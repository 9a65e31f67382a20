//! A sliding-window rate limit per key, in memory: `POST /subscribe` is limited per address and
//! per client, so that nobody can use the form to flood someone's inbox with confirmations.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct RateLimiter {
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// Records a hit on `key` and says whether it is within `limit` hits per `window`.
    pub fn allow(&self, key: &str, limit: usize, window: Duration, now: Instant) -> bool {
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if hits.len() > 10_000 {
            hits.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let times = hits.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
            times.pop_front();
        }
        if times.len() >= limit {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_up_to_the_limit_per_window_and_per_key() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        assert!(limiter.allow("a", 2, minute, start));
        assert!(limiter.allow("a", 2, minute, start));
        assert!(!limiter.allow("a", 2, minute, start));
        assert!(limiter.allow("b", 2, minute, start));
        assert!(limiter.allow("a", 2, minute, start + minute));
    }
}
