//! Subscribers: an address (validated, unique regardless of case), an optional name, a status.
//!
//! Status moves `pending` → `active` → `unsubscribed` (or `bounced`). Records are never deleted:
//! an unsubscribed address stays on file so that no import or typo mails it again by accident.
//! Every status change increments the subscriber's `version`, which confirmation tokens are
//! signed with: a confirmation link works once, and only while nothing changed since it was
//! mailed ([`Store::confirm`]).

use std::fmt;
use std::str::FromStr;

use super::db::{Begin, DbError, Row, params};
use super::identity::{key, normalize_email, normalize_name};
use super::{Result, Store, StoreError, timestamp};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Signed up, not yet confirmed (double opt-in).
    Pending,
    /// Receives digests.
    Active,
    Unsubscribed,
    /// Mail to the address failed for good (a 5xx, a 5.x.x DSN, or too many transient bounces).
    Bounced,
    /// The subscriber reported a digest as spam (an ARF report): never mailed again.
    Complained,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Pending, Status::Active, Status::Unsubscribed, Status::Bounced, Status::Complained];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Unsubscribed => "unsubscribed",
            Status::Bounced => "bounced",
            Status::Complained => "complained",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s.trim())
            .ok_or_else(|| format!("unknown status `{s}` (pending, active, unsubscribed, bounced, complained)"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub status: Status,
    pub created_at: String,
    pub updated_at: String,
    /// Incremented by every status change (see [`Store::confirm`]).
    pub version: i64,
    /// Why the subscriber is bounced or complained (`bounces.rs`).
    pub status_reason: Option<String>,
}

/// What a confirmation link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The pending subscriber is active now.
    Confirmed,
    /// The subscriber changed since the link was mailed: it was used, replaced by a newer
    /// one, or the subscriber unsubscribed.
    Stale,
    /// No such subscriber.
    Unknown,
}

/// One row of an import: `email,name[,status]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// 1-based line of the CSV file, for errors.
    pub line: u64,
    pub email: String,
    pub name: Option<String>,
    pub status: Status,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    /// Addresses already in the list: left exactly as they were (an import never resubscribes).
    pub already_present: usize,
}

const COLUMNS: &str = "id, email, name, status, created_at, updated_at, version, status_reason";

fn from_row(row: &Row<'_>) -> std::result::Result<Subscriber, DbError> {
    let status: String = row.get(3)?;
    Ok(Subscriber {
        id: row.get(0)?,
        email: row.get(1)?,
        name: row.get(2)?,
        status: status.parse().unwrap_or(Status::Bounced),
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
        version: row.get(6)?,
        status_reason: row.get(7)?,
    })
}

impl Store {
    /// Adds an address; an address already on file (in any case, any status) is an error.
    pub fn add_subscriber(
        &self,
        email: &str,
        name: Option<&str>,
        status: Status,
        now: DateTime<Utc>,
    ) -> Result<Subscriber> {
        let email = normalize_email(email)?;
        if let Some(existing) = self.subscriber_by_email(&email)? {
            return Err(StoreError::Duplicate { email: existing.email, status: existing.status });
        }
        let at = timestamp(now);
        let confirmed = (status == Status::Active).then(|| at.clone());
        self.db.execute(
            "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at, confirmed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            params![email, key(&email), normalize_name(name)?, status.as_str(), at, confirmed],
        )?;
        self.subscriber_by_email(&email)?.ok_or_else(|| StoreError::NotFound(email))
    }

    /// A subscription of `email` from the form, in one statement: a new address is added
    /// pending; a pending or unsubscribed one is made pending again, a new version (the links
    /// mailed before stop working; its name is left as it was). Gives back the subscriber to
    /// mail a confirmation; none when the address is active (nothing to confirm), bounced or
    /// complained (the operator's to reset, never a stranger's).
    pub fn subscribe(&self, email: &str, name: Option<&str>, now: DateTime<Utc>) -> Result<Option<Subscriber>> {
        let email = normalize_email(email)?;
        self.db.query_opt(
            &format!(
                "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?4)
                 ON CONFLICT (email_key) DO UPDATE
                     SET status = 'pending', updated_at = ?4, version = subscribers.version + 1, status_reason = NULL
                     WHERE subscribers.status IN ('pending', 'unsubscribed')
                 RETURNING {COLUMNS}"
            ),
            params![email, key(&email), normalize_name(name)?, timestamp(now)],
            from_row,
        )
    }

    pub fn subscriber_by_email(&self, email: &str) -> Result<Option<Subscriber>> {
        self.db.query_opt(
            &format!("SELECT {COLUMNS} FROM subscribers WHERE email_key = ?1"),
            params![key(email.trim())],
            from_row,
        )
    }

    pub fn subscriber(&self, id: i64) -> Result<Option<Subscriber>> {
        self.db.query_opt(&format!("SELECT {COLUMNS} FROM subscribers WHERE id = ?1"), params![id], from_row)
    }

    /// Sets the status of the subscriber `id`, with the time of the change. Even a status set
    /// to what it was is a change: a second subscription of a pending address makes the first
    /// confirmation link stale.
    pub fn set_status(&self, id: i64, status: Status, now: DateTime<Utc>) -> Result<()> {
        let at = timestamp(now);
        let changed = self.db.execute(
            "UPDATE subscribers SET status = ?2, updated_at = ?3, version = version + 1, status_reason = NULL,
                confirmed_at = CASE WHEN ?2 = 'active' THEN ?3 ELSE confirmed_at END,
                unsubscribed_at = CASE WHEN ?2 = 'unsubscribed' THEN ?3 ELSE unsubscribed_at END
             WHERE id = ?1",
            params![id, status.as_str(), at],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("subscriber {id}")));
        }
        Ok(())
    }

    /// Activates the pending subscriber `id` if its version is still `version`, the one its
    /// confirmation link was signed with; the activation is itself a change, so the link
    /// works once. One statement, so two clicks racing cannot both confirm.
    pub fn confirm(&self, id: i64, version: i64, now: DateTime<Utc>) -> Result<Confirmation> {
        let at = timestamp(now);
        let changed = self.db.execute(
            "UPDATE subscribers SET status = 'active', updated_at = ?3, confirmed_at = ?3, version = version + 1
             WHERE id = ?1 AND version = ?2 AND status = 'pending'",
            params![id, version, at],
        )?;
        Ok(match changed {
            0 if self.subscriber(id)?.is_none() => Confirmation::Unknown,
            0 => Confirmation::Stale,
            _ => Confirmation::Confirmed,
        })
    }

    /// Marks an address unsubscribed, keeping its record.
    pub fn unsubscribe_email(&self, email: &str, now: DateTime<Utc>) -> Result<Subscriber> {
        let subscriber =
            self.subscriber_by_email(email)?.ok_or_else(|| StoreError::NotFound(email.trim().to_owned()))?;
        self.set_status(subscriber.id, Status::Unsubscribed, now)?;
        Ok(Subscriber { status: Status::Unsubscribed, ..subscriber })
    }

    /// Subscribers in the order they were added, optionally of one status, all in memory (for
    /// tests; commands walk the list with [`Store::for_each_subscriber`]).
    #[cfg(test)]
    pub fn subscribers(&self, status: Option<Status>) -> Result<Vec<Subscriber>> {
        let mut all = Vec::new();
        self.for_each_subscriber(status, |s| {
            all.push(s);
            Ok::<(), StoreError>(())
        })?;
        Ok(all)
    }

    /// Calls `each` with every subscriber (of `status`, if given) in id order, one row at a
    /// time, so that a list of a million is never all in memory (`list`, `export`). An error of
    /// `each` stops the walk and is returned.
    pub fn for_each_subscriber<E: From<StoreError>>(
        &self,
        status: Option<Status>,
        mut each: impl FnMut(Subscriber) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let sql =
            format!("SELECT {COLUMNS} FROM subscribers WHERE CAST(?1 AS TEXT) IS NULL OR status = ?1 ORDER BY id");
        self.db
            .query_each(&sql, params![status.map(Status::as_str)], |row| each(from_row(row).map_err(|e| self.err(e))?))
    }

    /// The first subscriber (by id) of `status`.
    pub fn first_subscriber(&self, status: Status) -> Result<Option<Subscriber>> {
        self.db.query_opt(
            &format!("SELECT {COLUMNS} FROM subscribers WHERE status = ?1 ORDER BY id LIMIT 1"),
            params![status.as_str()],
            from_row,
        )
    }

    /// Number of subscribers of each status, counted from the table (the tests' reference for
    /// the counters of `counters.rs`, which everything else reads).
    #[cfg(test)]
    pub fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        Status::ALL
            .into_iter()
            .map(|status| {
                self.db
                    .query_value::<i64>("SELECT COUNT(*) FROM subscribers WHERE status = ?1", params![status.as_str()])
                    .map(|count| (status, count as u64))
            })
            .collect()
    }

    /// Imports rows in one transaction: all of them, or — on the first bad row — none. Rows are
    /// taken one at a time (from [`super::parse_import`]): the addresses seen so far are kept in
    /// a temporary table, not in memory, so a list of a million costs no more memory than one of
    /// ten. On PostgreSQL the rows go in batches (`bulk.rs`), with the same errors.
    pub fn import(
        &mut self,
        rows: impl IntoIterator<Item = Result<ImportRow>>,
        now: DateTime<Utc>,
    ) -> Result<ImportReport> {
        let at = timestamp(now);
        let db = &self.db;
        db.batch(
            "CREATE TEMP TABLE IF NOT EXISTS import_seen (key TEXT PRIMARY KEY, line BIGINT NOT NULL);
             DELETE FROM import_seen;",
        )?;
        if db.is_postgres() {
            return db.transaction(Begin::Deferred, || self.import_in_batches(rows, &at));
        }
        db.transaction(Begin::Deferred, || {
            let mut report = ImportReport::default();
            for row in rows {
                let row = row?;
                let email = normalize_email(&row.email)
                    .map_err(|e| StoreError::Import { line: row.line, reason: e.to_string() })?;
                let email_key = key(&email);
                let new = db.execute(
                    "INSERT INTO import_seen (key, line) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                    params![email_key, row.line as i64],
                )?;
                if new == 0 {
                    let first: i64 =
                        db.query_value("SELECT line FROM import_seen WHERE key = ?1", params![email_key])?;
                    let reason = format!("{email} is already on line {first}");
                    return Err(StoreError::Import { line: row.line, reason });
                }
                let exists: bool = db.query_value(
                    "SELECT EXISTS (SELECT 1 FROM subscribers WHERE email_key = ?1)",
                    params![email_key],
                )?;
                if exists {
                    report.already_present += 1;
                    continue;
                }
                let name = normalize_name(row.name.as_deref())
                    .map_err(|e| StoreError::Import { line: row.line, reason: format!("name: {e}") })?;
                let confirmed = (row.status == Status::Active).then(|| at.clone());
                db.execute(
                    "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at, confirmed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                    params![email, email_key, name, row.status.as_str(), at, confirmed],
                )?;
                report.added += 1;
            }
            Ok(report)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MAX_NAME_CHARS;
    use crate::store::tests::on_each_backend;

    fn now() -> DateTime<Utc> {
        "2026-11-26T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn addresses_are_validated_and_unique_regardless_of_case() {
        on_each_backend(|store| {
            store.add_subscriber("Anna@Example.org", Some("Anna"), Status::Active, now()).unwrap();
            let err = store.add_subscriber("anna@example.ORG", None, Status::Pending, now()).unwrap_err();
            assert!(matches!(err, StoreError::Duplicate { status: Status::Active, .. }), "{err}");
            for bad in ["anna", "anna@", "a b@example.org", "x@example.org\r\nBcc: y@example.org", ""] {
                assert!(
                    matches!(store.add_subscriber(bad, None, Status::Active, now()), Err(StoreError::InvalidEmail(_))),
                    "{bad:?}"
                );
            }
        });
    }

    #[test]
    fn names_lose_line_breaks() {
        on_each_backend(|store| {
            let s = store.add_subscriber("a@example.org", Some("Anna\r\nNowak"), Status::Active, now()).unwrap();
            assert_eq!(s.name.as_deref(), Some("Anna Nowak"));
        });
    }

    #[test]
    fn unsubscribing_keeps_the_record_and_lists_filter_by_status() {
        on_each_backend(|store| {
            store.add_subscriber("a@example.org", None, Status::Active, now()).unwrap();
            store.add_subscriber("b@example.org", None, Status::Pending, now()).unwrap();
            store.unsubscribe_email("A@example.org", now()).unwrap();
            assert_eq!(store.subscribers(None).unwrap().len(), 2);
            let unsubscribed = store.subscribers(Some(Status::Unsubscribed)).unwrap();
            assert_eq!(unsubscribed.iter().map(|s| s.email.as_str()).collect::<Vec<_>>(), ["a@example.org"]);
            assert!(matches!(store.unsubscribe_email("c@example.org", now()), Err(StoreError::NotFound(_))));
        });
    }

    #[test]
    fn addresses_at_an_ip_literal_are_refused_with_their_own_reason() {
        on_each_backend(|mut store| {
            for literal in ["a@[127.0.0.1]", "a@[IPv6:::1]"] {
                let err = store.add_subscriber(literal, None, Status::Pending, now()).unwrap_err();
                assert!(matches!(err, StoreError::AddressLiteral(_)), "{literal}: {err}");
                assert!(err.to_string().contains("IP address"), "{err}");
            }
            let row = ImportRow { line: 4, email: "b@[10.0.0.1]".into(), name: None, status: Status::Active };
            let err = store.import([row].map(Ok), now()).unwrap_err();
            assert!(err.to_string().starts_with("line 4: `b@[10.0.0.1]` has an IP address for a domain"), "{err}");
            assert!(store.subscribers(None).unwrap().is_empty());
        });
    }

    #[test]
    fn a_confirmation_works_once_and_only_at_the_version_it_was_issued_for() {
        on_each_backend(|store| {
            let s = store.add_subscriber("a@example.org", None, Status::Pending, now()).unwrap();
            assert_eq!(store.confirm(s.id, s.version + 1, now()).unwrap(), Confirmation::Stale);
            assert_eq!(store.confirm(s.id, s.version, now()).unwrap(), Confirmation::Confirmed);
            assert_eq!(store.subscriber(s.id).unwrap().unwrap().status, Status::Active);
            assert_eq!(store.confirm(s.id, s.version, now()).unwrap(), Confirmation::Stale, "used twice");
            assert_eq!(store.confirm(s.id + 100, 0, now()).unwrap(), Confirmation::Unknown);
        });
    }

    #[test]
    fn unsubscribing_and_subscribing_again_make_the_old_confirmation_stale() {
        on_each_backend(|store| {
            let s = store.add_subscriber("a@example.org", None, Status::Pending, now()).unwrap();
            let first = s.version;
            store.unsubscribe_email("a@example.org", now()).unwrap();
            // Re-armed by the form: pending again, with a newer link mailed.
            store.set_status(s.id, Status::Pending, now()).unwrap();
            let rearmed = store.subscriber(s.id).unwrap().unwrap();
            assert_eq!(rearmed.status, Status::Pending);
            assert_eq!(store.confirm(s.id, first, now()).unwrap(), Confirmation::Stale);
            assert_eq!(store.subscriber(s.id).unwrap().unwrap().status, Status::Pending);
            // A second subscription while pending replaces the first link too.
            store.set_status(s.id, Status::Pending, now()).unwrap();
            assert_eq!(store.confirm(s.id, rearmed.version, now()).unwrap(), Confirmation::Stale);
            let latest = store.subscriber(s.id).unwrap().unwrap().version;
            assert_eq!(store.confirm(s.id, latest, now()).unwrap(), Confirmation::Confirmed);
        });
    }

    #[test]
    fn a_subscription_from_the_form_adds_or_re_arms_in_one_statement_and_leaves_the_rest_alone() {
        on_each_backend(|store| {
            // New: added pending, with its name.
            let new = store.subscribe(" Nowa@Example.org ", Some("Ola"), now()).unwrap().unwrap();
            assert_eq!(
                (new.email.as_str(), new.name.as_deref(), new.status),
                ("Nowa@Example.org", Some("Ola"), Status::Pending)
            );
            // Pending again (in another case): a new version, the first link stale, the name kept.
            let again = store.subscribe("nowa@example.org", Some("Other"), now()).unwrap().unwrap();
            assert_eq!((again.id, again.version, again.name.as_deref()), (new.id, new.version + 1, Some("Ola")));
            assert_eq!(store.confirm(new.id, new.version, now()).unwrap(), Confirmation::Stale);
            // Unsubscribed: pending again.
            store.unsubscribe_email("nowa@example.org", now()).unwrap();
            let back = store.subscriber(new.id).unwrap().unwrap();
            let rearmed = store.subscribe("nowa@example.org", None, now()).unwrap().unwrap();
            assert_eq!((rearmed.status, rearmed.version), (Status::Pending, back.version + 1));
            assert_eq!(store.confirm(new.id, rearmed.version, now()).unwrap(), Confirmation::Confirmed);
            // Active, bounced, complained: nothing to confirm, and nothing changes.
            let bounced = store.add_subscriber("b@example.org", None, Status::Active, now()).unwrap();
            store.set_status(bounced.id, Status::Bounced, now()).unwrap();
            let complained = store.add_subscriber("c@example.org", None, Status::Active, now()).unwrap();
            store.set_status(complained.id, Status::Complained, now()).unwrap();
            for email in ["nowa@example.org", "b@example.org", "c@example.org"] {
                let before = store.subscriber_by_email(email).unwrap().unwrap();
                assert_eq!(store.subscribe(email, None, now()).unwrap(), None, "{email}");
                assert_eq!(store.subscriber_by_email(email).unwrap().unwrap(), before, "{email}");
            }
            assert!(matches!(store.subscribe("a@[127.0.0.1]", None, now()), Err(StoreError::AddressLiteral(_))));
            // The counters of `/metrics` followed every one of these.
            let totals = store.totals().unwrap();
            for (status, n) in store.count_by_status().unwrap() {
                assert_eq!(totals.subscribers.get(&status).copied().unwrap_or(0), n, "{status}");
            }
            assert_eq!(totals.subscribers.get(&Status::Active), Some(&1));
        });
    }

    #[test]
    fn a_bad_line_far_into_a_large_import_is_named_and_nothing_is_imported() {
        on_each_backend(|mut store| {
            // 2,500 rows: several of the PostgreSQL import's batches (`bulk.rs`).
            let rows = |bad: &dyn Fn(u64) -> Option<ImportRow>| {
                (2..2502u64)
                    .map(|line| {
                        bad(line).unwrap_or(ImportRow {
                            line,
                            email: format!("r{line}@example.org"),
                            name: Some(format!("R{line}")),
                            status: Status::Active,
                        })
                    })
                    .map(Ok)
                    .collect::<Vec<_>>()
            };
            let row = |line, email: &str, name: Option<String>| {
                Some(ImportRow { line, email: email.into(), name, status: Status::Active })
            };
            let mut expect = |rows: Vec<Result<ImportRow>>, start: &str| {
                let err = store.import(rows, now()).unwrap_err().to_string();
                assert!(err.starts_with(start), "{err}");
            };
            let invalid = |line| if line == 2401 { row(line, "not-an-address", None) } else { None };
            expect(rows(&invalid), "line 2401: `not-an-address` is not a valid e-mail address");
            // A duplicate of a row in an earlier batch names that row's line.
            let again = |line| if line == 2200 { row(line, "R3@Example.org", None) } else { None };
            expect(rows(&again), "line 2200: R3@Example.org is already on line 3");
            // Two bad rows of one batch: the first in the file is named, whatever its kind.
            let long = "n".repeat(MAX_NAME_CHARS + 1);
            let two = |line| match line {
                1500 => row(line, "long@example.org", Some(long.clone())),
                1600 => row(line, "also bad", None),
                _ => None,
            };
            expect(rows(&two), "line 1500: name:");
            // A row that fails to parse ends the import with its own error, naming its line.
            let mut parsed = rows(&|_| None);
            parsed[2300] = Err(StoreError::Import { line: 2302, reason: "unknown status `vip`".into() });
            expect(parsed, "line 2302: unknown status `vip`");
            assert!(store.subscribers(None).unwrap().is_empty(), "nothing imported");
            let report = store.import(rows(&|_| None), now()).unwrap();
            assert_eq!(report, ImportReport { added: 2500, already_present: 0 });
            let all = store.subscribers(None).unwrap();
            assert_eq!((all.len(), all[2499].email.as_str()), (2500, "r2501@example.org"));
            assert_eq!(store.count_by_status().unwrap()[1], (Status::Active, 2500));
        });
    }

    #[test]
    fn import_is_all_or_nothing_and_never_resubscribes() {
        on_each_backend(|mut store| {
            store.add_subscriber("old@example.org", None, Status::Unsubscribed, now()).unwrap();
            let row = |line, email: &str| ImportRow { line, email: email.into(), name: None, status: Status::Active };
            let err = store.import([row(2, "a@example.org"), row(3, "not-an-address")].map(Ok), now()).unwrap_err();
            assert!(err.to_string().starts_with("line 3: `not-an-address` is not a valid e-mail address"), "{err}");
            assert_eq!(store.subscribers(None).unwrap().len(), 1);
            let err = store.import([row(2, "a@example.org"), row(3, "A@example.org")].map(Ok), now()).unwrap_err();
            assert!(err.to_string().contains("line 3: A@example.org is already on line 2"), "{err}");
            let report = store.import([row(2, "a@example.org"), row(3, "OLD@example.org")].map(Ok), now()).unwrap();
            assert_eq!(report, ImportReport { added: 1, already_present: 1 });
            assert_eq!(store.subscriber_by_email("old@example.org").unwrap().unwrap().status, Status::Unsubscribed);
        });
    }
}
