//! The store's schema and its migrations, applied in order on open.
//!
//! `PRAGMA user_version` holds the number of migrations applied. A migration is never edited
//! once released: a change to the schema is a new entry at the end of [`MIGRATIONS`].

use super::{Result, Store, StoreError};

/// Each entry takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: subscribers, digest issues with their posts, deliveries, settings.
    r#"
    CREATE TABLE subscribers (
        id              INTEGER PRIMARY KEY,
        email           TEXT NOT NULL,
        email_key       TEXT NOT NULL UNIQUE,  -- lower-cased: addresses are unique regardless of case
        name            TEXT,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        confirmed_at    TEXT,
        unsubscribed_at TEXT
    );
    CREATE INDEX subscribers_status ON subscribers (status);

    CREATE TABLE issues (
        id           INTEGER PRIMARY KEY,
        status       TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'skipped')),
        created_at   TEXT NOT NULL,
        finished_at  TEXT,
        subject      TEXT NOT NULL DEFAULT '',
        posts_json   TEXT NOT NULL DEFAULT '[]',  -- the posts as sent, frozen for resuming
        archive_html TEXT                          -- the "view in browser" page
    );

    CREATE TABLE issue_posts (
        issue_id INTEGER NOT NULL REFERENCES issues (id),
        post_id  TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (issue_id, post_id)
    );
    CREATE INDEX issue_posts_post ON issue_posts (post_id);

    CREATE TABLE deliveries (
        issue_id      INTEGER NOT NULL REFERENCES issues (id),
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
        state         TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_reply    TEXT,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (issue_id, subscriber_id)
    );
    CREATE INDEX deliveries_state ON deliveries (issue_id, state);

    -- Posts that existed, older than `first_window_days`, when the first digest was composed:
    -- never sent, so that the second issue does not mail the whole archive.
    CREATE TABLE baseline_posts (
        post_id TEXT PRIMARY KEY
    );

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 2: one row per digest schedule fire (runs.rs).
    r#"
    CREATE TABLE digest_runs (
        fire_at    TEXT PRIMARY KEY,  -- the cron time, RFC 3339 UTC
        outcome    TEXT NOT NULL CHECK (outcome IN ('running', 'deferred', 'sent', 'skipped')),
        issue_id   INTEGER REFERENCES issues (id),
        missed     INTEGER NOT NULL DEFAULT 0,  -- earlier fires missed while down, collapsed into this one
        note       TEXT,
        updated_at TEXT NOT NULL
    );
    "#,
    // 3: deferred deliveries keep their own retry time (deferrals.rs); SQLite cannot change a
    // CHECK constraint, so the table is made anew.
    r#"
    CREATE TABLE deliveries_v3 (
        issue_id       INTEGER NOT NULL REFERENCES issues (id),
        subscriber_id  INTEGER NOT NULL REFERENCES subscribers (id),
        state          TEXT NOT NULL
                       CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'deferred')),
        attempts       INTEGER NOT NULL DEFAULT 0,
        last_reply     TEXT,
        updated_at     TEXT NOT NULL,
        retry_at       TEXT,  -- deferred: when to try again
        deferred_since TEXT,  -- the first deferral: given up `smtp.retry_hours` after it
        PRIMARY KEY (issue_id, subscriber_id)
    );
    INSERT INTO deliveries_v3 (issue_id, subscriber_id, state, attempts, last_reply, updated_at)
        SELECT issue_id, subscriber_id, state, attempts, last_reply, updated_at FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v3 RENAME TO deliveries;
    CREATE INDEX deliveries_state ON deliveries (issue_id, state);
    CREATE INDEX deliveries_retry ON deliveries (retry_at) WHERE state = 'deferred';
    "#,
    // 4: a counter every status change of a subscriber increments; confirmation tokens are
    // signed with it, so a link dies once used and when the subscriber changes after it was
    // mailed (subscribers.rs, mail/token.rs).
    r#"
    ALTER TABLE subscribers ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    "#,
];

pub fn migrate(store: &mut Store) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let version: i64 = store.conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|e| store.err(e))?;
    if version > known {
        return Err(StoreError::TooNew { path: store.path.clone(), found: version, known });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let path = store.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = store.conn.transaction().map_err(sqlite)?;
        tx.execute_batch(migration).map_err(sqlite)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1)).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
    }
    Ok(())
}
