//! The import on PostgreSQL, in batches: a round trip per row would cost a million round trips
//! for a million rows, so rows are sent [`BATCH`] at a time, each column as one array
//! (`unnest`). The semantics are those of the row-at-a-time import of `subscribers.rs` (which
//! SQLite keeps: there a statement costs no round trip): the first bad row in file order is
//! the one named, a duplicate names the line it first appeared on, and the caller's
//! transaction makes the whole import all or nothing.

use std::collections::{HashMap, HashSet};

use super::identity::{key, normalize_email, normalize_name};
use super::{ImportReport, ImportRow, Result, Status, Store, StoreError};

/// Rows per batch: a few round trips per thousand rows, and little memory.
pub const BATCH: usize = 1000;

/// A row whose address is valid, waiting for its batch.
struct Pending {
    line: u64,
    email: String,
    key: String,
    name: Option<String>,
    status: Status,
}

impl Store {
    /// Imports `rows` into the temporary table `import_seen` and the subscribers, [`BATCH`]
    /// rows at a time, inside the caller's transaction.
    pub(super) fn import_in_batches(
        &self,
        rows: impl IntoIterator<Item = Result<ImportRow>>,
        at: &str,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let mut batch = Vec::with_capacity(BATCH);
        for row in rows {
            let pending = row.and_then(|row| {
                let email = normalize_email(&row.email)
                    .map_err(|e| StoreError::Import { line: row.line, reason: e.to_string() })?;
                Ok(Pending { line: row.line, key: key(&email), email, name: row.name, status: row.status })
            });
            match pending {
                Ok(pending) => batch.push(pending),
                Err(e) => {
                    // A row before this one may be bad too, and it is the one to name.
                    self.import_batch(&mut batch, at, &mut report)?;
                    return Err(e);
                }
            }
            if batch.len() == BATCH {
                self.import_batch(&mut batch, at, &mut report)?;
            }
        }
        self.import_batch(&mut batch, at, &mut report)?;
        Ok(report)
    }

    /// One batch, in file order: a duplicate (of a row in this batch or an earlier one) or a
    /// bad name is an error; an address already on file is counted; the rest are added.
    fn import_batch(&self, batch: &mut Vec<Pending>, at: &str, report: &mut ImportReport) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // The first line of each address in this batch.
        let mut first_lines: HashMap<&str, u64> = HashMap::with_capacity(batch.len());
        for row in batch.iter() {
            first_lines.entry(row.key.as_str()).or_insert(row.line);
        }
        let keys: Vec<&str> = first_lines.keys().copied().collect();
        let lines: Vec<i64> = keys.iter().map(|k| first_lines[k] as i64).collect();
        let (fresh, on_file) = self
            .db
            .with_postgres(|client| {
                let fresh = client.query(
                    "INSERT INTO import_seen (key, line) SELECT * FROM unnest($1::text[], $2::bigint[])
                     ON CONFLICT (key) DO NOTHING RETURNING key",
                    &[&keys, &lines],
                )?;
                let on_file =
                    client.query("SELECT email_key FROM subscribers WHERE email_key = ANY($1::text[])", &[&keys])?;
                let column = |rows: Vec<postgres::Row>| rows.iter().map(|r| r.get(0)).collect::<HashSet<String>>();
                Ok((column(fresh), column(on_file)))
            })
            .expect("the batched import runs on PostgreSQL")?;

        let mut new = NewRows::default();
        for row in batch.iter() {
            let first = first_lines[row.key.as_str()];
            if first != row.line || !fresh.contains(&row.key) {
                let first = if first != row.line { first } else { self.import_seen_line(&row.key)? };
                let reason = format!("{} is already on line {first}", row.email);
                return Err(StoreError::Import { line: row.line, reason });
            }
            if on_file.contains(&row.key) {
                report.already_present += 1;
                continue;
            }
            let name = normalize_name(row.name.as_deref())
                .map_err(|e| StoreError::Import { line: row.line, reason: format!("name: {e}") })?;
            new.push(row, name);
        }
        report.added += new.emails.len();
        if !new.emails.is_empty() {
            self.db
                .with_postgres(|client| {
                    client.execute(
                        "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at, confirmed_at)
                         SELECT email, email_key, name, status, $5::text, $5::text,
                                CASE WHEN status = 'active' THEN $5::text END
                         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                              AS batch (email, email_key, name, status)",
                        &[&new.emails, &new.keys, &new.names, &new.statuses, &at],
                    )
                })
                .expect("the batched import runs on PostgreSQL")?;
        }
        batch.clear();
        Ok(())
    }

    /// The line an address was first seen on, in an earlier batch.
    fn import_seen_line(&self, key: &str) -> Result<u64> {
        let line: i64 = self.db.query_value("SELECT line FROM import_seen WHERE key = ?1", super::db::params![key])?;
        Ok(line as u64)
    }
}

/// The rows of a batch to add, by column.
#[derive(Default)]
struct NewRows<'a> {
    emails: Vec<&'a str>,
    keys: Vec<&'a str>,
    names: Vec<Option<String>>,
    statuses: Vec<&'static str>,
}

impl<'a> NewRows<'a> {
    fn push(&mut self, row: &'a Pending, name: Option<String>) {
        self.emails.push(&row.email);
        self.keys.push(&row.key);
        self.names.push(name);
        self.statuses.push(row.status.as_str());
    }
}
