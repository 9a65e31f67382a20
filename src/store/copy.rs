//! `kurier store migrate --to postgres://…`: an SQLite store's rows copied into an empty
//! PostgreSQL store, all or nothing.
//!
//! Both stores are at the current schema (opening migrates them). The source is read in one
//! transaction (a consistent snapshot, even if a daemon writes meanwhile); the target is written in
//! one transaction that commits only if every table has as many rows as the source's, and the
//! `/metrics` totals agree. Ids are kept (tokens and VERP addresses name subscribers and issues by
//! id), and so is `meta`: the token secret and the store id, so links already mailed keep working
//! and Message-IDs stay unique. The counters are not copied: the target's triggers count the rows
//! as they arrive, and the check compares their totals with the source's. Rows go up to
//! [`MAX_ROWS_PER_INSERT`] per statement.

use super::db::{Begin, Param, params};
use super::{Result, Store, StoreError};

/// A column's type, as both backends read and bind it.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
}
use Kind::{Int, Text};

/// The tables copied, in an order that keeps every reference valid, with their columns.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    ("meta", &[("key", Text), ("value", Text)]),
    (
        "subscribers",
        &[
            ("id", Int),
            ("email", Text),
            ("email_key", Text),
            ("name", Text),
            ("status", Text),
            ("created_at", Text),
            ("updated_at", Text),
            ("confirmed_at", Text),
            ("unsubscribed_at", Text),
            ("version", Int),
            ("status_reason", Text),
        ],
    ),
    (
        "issues",
        &[
            ("id", Int),
            ("status", Text),
            ("created_at", Text),
            ("finished_at", Text),
            ("subject", Text),
            ("posts_json", Text),
            ("archive_html", Text),
            ("pruned_at", Text),
            ("fire_at", Text),
        ],
    ),
    ("issue_posts", &[("issue_id", Int), ("post_id", Text), ("position", Int)]),
    (
        "deliveries",
        &[
            ("issue_id", Int),
            ("subscriber_id", Int),
            ("state", Text),
            ("attempts", Int),
            ("last_reply", Text),
            ("updated_at", Text),
            ("retry_at", Text),
            ("deferred_since", Text),
            ("node", Text),
            ("lease_until", Text),
        ],
    ),
    ("baseline_posts", &[("post_id", Text)]),
    (
        "digest_runs",
        &[
            ("fire_at", Text),
            ("outcome", Text),
            ("issue_id", Int),
            ("missed", Int),
            ("note", Text),
            ("updated_at", Text),
        ],
    ),
    (
        "bounces",
        &[
            ("id", Int),
            ("subscriber_id", Int),
            ("issue_id", Int),
            ("kind", Text),
            ("detail", Text),
            ("source", Text),
            ("received_at", Text),
        ],
    ),
    ("rate_hits", &[("key", Text), ("at", Text)]),
    ("pruned_counts", &[("issue_id", Int), ("state", Text), ("count", Int)]),
];

/// Parameters per statement: fewer than either backend allows (SQLite 32,766, PostgreSQL 65,535).
const MAX_PARAMETERS: usize = 30_000;
/// Rows per INSERT of the copy.
const MAX_ROWS_PER_INSERT: usize = 1000;

/// Tables whose `id` the target numbers itself from now on: its sequence must start after the
/// copied ids.
const NUMBERED: &[&str] = &["subscribers", "issues", "bounces"];

impl Store {
    /// Copies every row of this store into `target`, which must be empty; the rows copied per
    /// table. Nothing is written to `target` unless all of it is.
    pub fn copy_into(&self, target: &Store) -> Result<Vec<(&'static str, u64)>> {
        let refuse = |message: String| StoreError::Migration { store: target.name().to_owned(), message };
        for (table, _) in TABLES {
            let rows: i64 = target.db.query_value(&format!("SELECT COUNT(*) FROM {table}"), params![])?;
            if rows > 0 {
                return Err(refuse(format!("table {table} has {rows} rows: the target store must be empty")));
            }
        }
        let source = &self.db;
        source.transaction(Begin::Deferred, || {
            target.db.transaction(Begin::Deferred, || {
                let mut copied = Vec::new();
                for (table, columns) in TABLES {
                    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
                    let select = format!("SELECT {} FROM {table}", names.join(", "));
                    // Many rows per INSERT: a round trip per row would make a million
                    // subscribers a million round trips to PostgreSQL.
                    let per_insert = (MAX_PARAMETERS / columns.len()).min(MAX_ROWS_PER_INSERT);
                    let insert = |rows: usize| {
                        let row = |r: usize| {
                            let numbers: Vec<String> =
                                (1..=columns.len()).map(|c| format!("?{}", r * columns.len() + c)).collect();
                            format!("({})", numbers.join(", "))
                        };
                        let values: Vec<String> = (0..rows).map(row).collect();
                        format!("INSERT INTO {table} ({}) VALUES {}", names.join(", "), values.join(", "))
                    };
                    let full = insert(per_insert);
                    let flush = |values: &mut Vec<Box<dyn Param>>| {
                        let rows = values.len() / columns.len();
                        if rows > 0 {
                            let params: Vec<&dyn Param> = values.iter().map(|v| v.as_ref()).collect();
                            let sql = if rows == per_insert { full.clone() } else { insert(rows) };
                            target.db.execute(&sql, &params)?;
                        }
                        values.clear();
                        Ok::<(), StoreError>(())
                    };
                    let mut count = 0u64;
                    let mut values: Vec<Box<dyn Param>> = Vec::with_capacity(per_insert * columns.len());
                    source.query_each(&select, params![], |row| {
                        for (index, (_, kind)) in columns.iter().enumerate() {
                            let value: Box<dyn Param> = match kind {
                                Int => Box::new(row.get::<Option<i64>>(index).map_err(|e| source.err(e))?),
                                Text => Box::new(row.get::<Option<String>>(index).map_err(|e| source.err(e))?),
                            };
                            values.push(value);
                        }
                        count += 1;
                        if values.len() == per_insert * columns.len() {
                            flush(&mut values)?;
                        }
                        Ok::<(), StoreError>(())
                    })?;
                    flush(&mut values)?;
                    let written: i64 = target.db.query_value(&format!("SELECT COUNT(*) FROM {table}"), params![])?;
                    if written as u64 != count {
                        return Err(refuse(format!("table {table}: {count} rows read, {written} written")));
                    }
                    copied.push((*table, count));
                }
                if target.db.is_postgres() {
                    for table in NUMBERED {
                        target.db.execute(
                            &format!(
                                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                            ),
                            params![],
                        )?;
                    }
                }
                let (from, to) = (self.totals()?, target.totals()?);
                if from != to {
                    return Err(refuse(format!("the totals differ after the copy: {from:?} read, {to:?} written")));
                }
                Ok(copied)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{fresh_postgres_database, test_postgres_url};
    use crate::store::{Location, PostgresTarget, Status};

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    /// A new SQLite store, and a new PostgreSQL one on the test server (if there is one).
    fn stores() -> Option<(tempfile::TempDir, Store, Store)> {
        let server = test_postgres_url()?;
        let dir = tempfile::tempdir().unwrap();
        let source = Store::open_dir(dir.path()).unwrap();
        let url = fresh_postgres_database(&server);
        let target = Location::Postgres(PostgresTarget { url, password: None, ca_file: None }).open().unwrap();
        Some((dir, source, target))
    }

    #[test]
    fn a_store_is_copied_whole_with_its_ids_and_secret_and_only_into_an_empty_one() {
        let Some((_dir, mut source, target)) = stores() else { return };
        let now = now();
        for i in 0..5 {
            let status = if i == 3 { Status::Pending } else { Status::Active };
            source.add_subscriber(&format!("r{i}@example.org"), Some("Ola"), status, now).unwrap();
        }
        let issue = source.create_issue("Temat", &[], "<p>archiwum</p>", now).unwrap();
        source.set_delivery(issue.id, 1, crate::store::DeliveryState::Sent, Some("250 OK"), 1, now).unwrap();
        source
            .record_bounce(
                2,
                Some(issue.id),
                crate::store::BounceKind::Permanent,
                "550",
                "smtp",
                &Default::default(),
                now,
            )
            .unwrap();
        let secret = source.secret().unwrap();

        let copied = source.copy_into(&target).unwrap();
        let count = |table: &str| copied.iter().find(|(t, _)| *t == table).unwrap().1;
        assert_eq!((count("subscribers"), count("deliveries"), count("bounces")), (5, 4, 1));
        assert_eq!(target.secret().unwrap(), secret, "links already mailed keep working");
        assert_eq!(target.totals().unwrap(), source.totals().unwrap());
        assert_eq!(target.issue_summaries().unwrap()[0].counts, source.issue_summaries().unwrap()[0].counts);
        assert_eq!(target.subscriber(2).unwrap().unwrap().status, Status::Bounced);
        // The target numbers new rows after the copied ones.
        let added = target.add_subscriber("nowy@example.org", None, Status::Active, now).unwrap();
        assert_eq!(added.id, 6);

        // A second copy finds rows there and writes nothing.
        let err = source.copy_into(&target).unwrap_err().to_string();
        assert!(err.contains("must be empty"), "{err}");
        assert_eq!(target.totals().unwrap().subscribers.values().sum::<u64>(), 6);
    }

    #[test]
    fn a_store_of_several_inserts_per_table_is_copied_row_for_row() {
        let Some((_dir, mut source, target)) = stores() else { return };
        let now = now();
        // 2,345 subscribers and as many deliveries: two full INSERTs and a shorter last one.
        let rows = (0..2345u64).map(|i| {
            let status = if i % 7 == 0 { Status::Pending } else { Status::Active };
            Ok(crate::store::ImportRow { line: i + 1, email: format!("r{i}@example.org"), name: None, status })
        });
        source.import(rows, now).unwrap();
        source.unsubscribe_email("r2344@example.org", now).unwrap();
        let issue = source.create_issue("Temat", &[], "", now).unwrap();
        let copied = source.copy_into(&target).unwrap();
        let count = |table: &str| copied.iter().find(|(t, _)| *t == table).unwrap().1;
        let active = 2345 - 2345usize.div_ceil(7) - 1;
        assert_eq!((count("subscribers"), count("deliveries")), (2345, active as u64));
        assert_eq!(target.totals().unwrap(), source.totals().unwrap());
        assert_eq!(target.subscribers(None).unwrap(), source.subscribers(None).unwrap());
        assert_eq!(target.issue_summaries().unwrap()[0].counts, source.issue_summaries().unwrap()[0].counts);
        assert_eq!(target.issue_summaries().unwrap()[0].id, issue.id);
    }

    #[test]
    fn a_copy_that_fails_half_way_leaves_the_target_empty() {
        let Some((_dir, mut source, target)) = stores() else { return };
        let now = now();
        source.add_subscriber("a@example.org", None, Status::Active, now).unwrap();
        source
            .allow(&[crate::store::Limit { key: "k", hits: 5, per: std::time::Duration::from_secs(60) }], now)
            .unwrap();
        // rate_hits comes late in the copy: the subscribers before it are written, then undone.
        target.db.batch("ALTER TABLE rate_hits ADD CONSTRAINT refuse_all CHECK (false)").unwrap();
        let err = source.copy_into(&target).unwrap_err().to_string();
        assert!(err.contains("refuse_all"), "{err}");
        let left: i64 = target.db.query_value("SELECT COUNT(*) FROM subscribers", params![]).unwrap();
        assert_eq!(left, 0);
        assert!(target.secret().is_ok(), "the target is still usable");
    }

    #[test]
    fn every_table_of_the_schema_is_copied_with_every_column() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).unwrap();
        let mut tables: Vec<String> = store
            .db
            .query_all("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", params![], |row| row.get(0))
            .unwrap();
        // Counters are made anew; the nodes' heartbeats belong to the nodes of the old store.
        tables.retain(|t| t != "counters" && t != "nodes");
        let mut copied: Vec<String> = TABLES.iter().map(|(t, _)| t.to_string()).collect();
        copied.sort();
        assert_eq!(tables, copied, "a table the copy does not know");
        for (table, columns) in TABLES {
            let known: i64 =
                store.db.query_value(&format!("SELECT COUNT(*) FROM pragma_table_info('{table}')"), params![]).unwrap();
            assert_eq!(known as usize, columns.len(), "columns of {table}");
        }
    }
}
