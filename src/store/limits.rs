//! Rate limits kept in the store. `POST /subscribe` is limited per address and per client, so
//! that nobody can use the form to flood someone's inbox with confirmations.
//!
//! The hits live in the store, not in one process's memory: a limit holds across a restart and
//! for every process that shares the store. A limit is a sliding window — a hit counts for its
//! window after it happened — and a refused request is recorded against no limit, so a client
//! that keeps trying gets in again once its earlier hits age out. Keys are kept only as keyed hashes
//! (HMAC-SHA-256 with the store's secret): the table holds no IP or e-mail address, and hits
//! older than the longest window are deleted as new ones come in.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::db::{Begin, params};
use super::{Result, Store, timestamp};

/// Hits older than this are deleted whatever their key (no window is longer).
const KEEP: Duration = Duration::from_secs(24 * 3600);

/// At most `hits` requests of `key` per `per`.
#[derive(Debug, Clone, Copy)]
pub struct Limit<'a> {
    pub key: &'a str,
    pub hits: u32,
    pub per: Duration,
}

impl Store {
    /// Whether a request at `now` is within every one of `limits`; if it is, it counts as a hit
    /// of each, and if it is not, as a hit of none (in one transaction).
    pub fn allow(&mut self, limits: &[Limit<'_>], now: DateTime<Utc>) -> Result<bool> {
        let secret = self.secret_once()?;
        let keys: Vec<String> = limits.iter().map(|limit| hash_key(&secret, limit.key)).collect();
        let since: Vec<String> = limits.iter().map(|limit| timestamp(now - limit.per.min(KEEP))).collect();
        let expired = timestamp(now - KEEP);
        let db = &self.db;
        // On PostgreSQL, one round trip, each key locked alone (`rate_allow`, migration 10).
        let hits: Vec<i64> = limits.iter().map(|limit| i64::from(limit.hits)).collect();
        let at = timestamp(now);
        let sql = "SELECT rate_allow($1::text[], $2::bigint[], $3::text[], $4::text, $5::text)";
        if let Some(rows) = db.query_postgres(sql, &[&keys, &hits, &since, &at, &expired]) {
            return Ok(rows?.first().is_some_and(|row| row.get::<_, bool>(0)));
        }
        // Immediate: two processes counting the same key at once take turns.
        db.transaction(Begin::Immediate, || {
            db.execute("DELETE FROM rate_hits WHERE at <= ?1", params![expired])?;
            let mut within = true;
            for ((limit, key), since) in limits.iter().zip(&keys).zip(&since) {
                let hits: i64 =
                    db.query_value("SELECT COUNT(*) FROM rate_hits WHERE key = ?1 AND at > ?2", params![key, since])?;
                within &= hits < i64::from(limit.hits);
            }
            if within {
                for key in &keys {
                    db.execute("INSERT INTO rate_hits (key, at) VALUES (?1, ?2)", params![key, at])?;
                }
            }
            Ok(within)
        })
    }
}

fn hash_key(secret: &[u8], key: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"rate limit\0");
    mac.update(key.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_each_backend;

    fn allow_one(store: &mut Store, key: &str, hits: u32, per: Duration, now: DateTime<Utc>) -> Result<bool> {
        store.allow(&[Limit { key, hits, per }], now)
    }

    #[test]
    fn allows_up_to_the_limit_per_sliding_window_and_per_key() {
        on_each_backend(|mut store| {
            let start: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
            let minute = Duration::from_secs(60);
            let at = |seconds: i64| start + chrono::Duration::seconds(seconds);
            assert!(allow_one(&mut store, "a", 2, minute, at(0)).unwrap());
            assert!(allow_one(&mut store, "a", 2, minute, at(30)).unwrap());
            assert!(!allow_one(&mut store, "a", 2, minute, at(40)).unwrap(), "a third hit within the minute");
            assert!(allow_one(&mut store, "b", 2, minute, at(40)).unwrap(), "another key has its own count");
            // The first hit ages out at 60 s; the refused one at 40 s never counted.
            assert!(allow_one(&mut store, "a", 2, minute, at(60)).unwrap());
            assert!(!allow_one(&mut store, "a", 2, minute, at(61)).unwrap());
        });
    }

    #[test]
    fn a_limit_holds_for_every_connection_to_the_store_and_keeps_no_plain_key() {
        on_each_backend(|mut first| {
            let mut second = first.reopen();
            let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
            let hour = Duration::from_secs(3600);
            assert!(allow_one(&mut first, "address anna@example.org", 1, hour, now).unwrap());
            assert!(!allow_one(&mut second, "address anna@example.org", 1, hour, now).unwrap());
            let keys: Vec<String> =
                first.db.query_all("SELECT key FROM rate_hits", params![], |row| row.get(0)).unwrap();
            assert_eq!(keys.len(), 1);
            assert!(!keys[0].contains("anna") && keys[0].len() == 32, "{keys:?}");
        });
    }

    #[test]
    fn requests_on_many_connections_at_once_count_each_hit_once() {
        on_each_backend(|store| {
            let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
            let hour = Duration::from_secs(3600);
            // Eight connections ask for one key allowed 3 times, each with a key of its own
            // too, all at once: exactly 3 get in, and only they count against their own key.
            store.secret().unwrap();
            let connections: Vec<Store> = (0..8).map(|_| store.reopen()).collect();
            let start = std::sync::Barrier::new(connections.len());
            let allowed: Vec<bool> = std::thread::scope(|scope| {
                let asks: Vec<_> = connections
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut connection)| {
                        let start = &start;
                        scope.spawn(move || {
                            let own = format!("client {i}");
                            let limits = [
                                Limit { key: &own, hits: 5, per: hour },
                                Limit { key: "address a", hits: 3, per: hour },
                            ];
                            start.wait();
                            connection.allow(&limits, now).unwrap()
                        })
                    })
                    .collect();
                asks.into_iter().map(|ask| ask.join().unwrap()).collect()
            });
            assert_eq!(allowed.iter().filter(|a| **a).count(), 3, "{allowed:?}");
            let hits: i64 = store.db.query_value("SELECT COUNT(*) FROM rate_hits", params![]).unwrap();
            assert_eq!(hits, 6, "3 of the shared key, 1 of each allowed client");
        });
    }

    #[test]
    fn on_postgres_a_rate_limit_does_not_wait_for_a_transaction_that_holds_the_write_lock() {
        on_each_backend(|store| {
            if !store.db.is_postgres() {
                return; // SQLite has one write lock: its rate limits wait for any writer.
            }
            // Another connection in the middle of a transaction like an issue's freeze.
            let creator = store.reopen();
            creator
                .db
                .batch(&format!("BEGIN; SELECT pg_advisory_xact_lock({})", super::super::db::IMMEDIATE_LOCK))
                .unwrap();
            let (done, result) = std::sync::mpsc::channel();
            let mut asker = store.reopen();
            std::thread::spawn(move || {
                let now = Utc::now();
                done.send(allow_one(&mut asker, "client 1", 1, Duration::from_secs(60), now).unwrap()).unwrap();
            });
            // Bounded for a test that would otherwise wait for ever, not for speed.
            let allowed = result.recv_timeout(Duration::from_secs(60)).expect("the rate limit waited for the freeze");
            assert!(allowed);
            creator.db.batch("ROLLBACK").unwrap();
        });
    }

    #[test]
    fn hits_older_than_a_day_are_deleted() {
        on_each_backend(|mut store| {
            let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
            let hour = Duration::from_secs(3600);
            allow_one(&mut store, "old", 5, hour, now).unwrap();
            allow_one(&mut store, "new", 5, hour, now + chrono::Duration::hours(25)).unwrap();
            let count: i64 = store.db.query_value("SELECT COUNT(*) FROM rate_hits", params![]).unwrap();
            assert_eq!(count, 1);
        });
    }

    #[test]
    fn a_request_over_one_limit_counts_against_none() {
        on_each_backend(|mut store| {
            let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
            let hour = Duration::from_secs(3600);
            let both =
                |address| [Limit { key: "client 1", hits: 2, per: hour }, Limit { key: address, hits: 1, per: hour }];
            assert!(store.allow(&both("address a"), now).unwrap());
            // Over the address's limit: refused, and the client's count does not move…
            assert!(!store.allow(&both("address a"), now).unwrap());
            assert!(!store.allow(&both("address a"), now).unwrap());
            // …so the client still has its second hit.
            assert!(store.allow(&both("address b"), now).unwrap());
            assert!(!store.allow(&both("address c"), now).unwrap(), "now the client is over");
        });
    }
}
