//! The store's schema and its migrations, applied in order on open, written once per backend.
//!
//! The same versions on both: entry `i` of [`MIGRATIONS`] (SQLite) and of [`POSTGRES_MIGRATIONS`]
//! make the same change, each in its dialect (PostgreSQL changes a constraint in place where
//! SQLite makes the table anew; its ids are `BIGINT` identities, its counters are kept by
//! statement-level triggers over transition tables, so that freezing a million recipients
//! updates 16 counter rows once, not a million times). SQLite keeps the number of migrations
//! applied in `PRAGMA user_version`, PostgreSQL in the table `schema_version`. A migration is
//! never edited once released: a change to the schema is a new entry at the end of both lists.

use super::db::{Begin, Conn, params};
use super::{Result, Store, StoreError};

/// SQLite's: each entry takes the schema from version `i` to `i + 1`.
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
    // 5: bounces and complaints (bounces.rs): the status `complained`, why a subscriber is
    // bounced or complained, and every bounce received. The subscribers table is made anew for
    // its CHECK constraint (foreign keys are off while migrations run, see `migrate`).
    r#"
    CREATE TABLE subscribers_v5 (
        id              INTEGER PRIMARY KEY,
        email           TEXT NOT NULL,
        email_key       TEXT NOT NULL UNIQUE,  -- lower-cased, the domain in IDNA A-labels (identity.rs)
        name            TEXT,
        status          TEXT NOT NULL
                        CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        confirmed_at    TEXT,
        unsubscribed_at TEXT,
        version         INTEGER NOT NULL DEFAULT 0,
        status_reason   TEXT  -- bounced or complained: the status code and diagnostic, or the report
    );
    INSERT INTO subscribers_v5 (id, email, email_key, name, status, created_at, updated_at, confirmed_at,
                                unsubscribed_at, version)
        SELECT id, email, email_key, name, status, created_at, updated_at, confirmed_at, unsubscribed_at, version
        FROM subscribers;
    DROP TABLE subscribers;
    ALTER TABLE subscribers_v5 RENAME TO subscribers;
    CREATE INDEX subscribers_status ON subscribers (status);

    CREATE TABLE bounces (
        id            INTEGER PRIMARY KEY,
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
        issue_id      INTEGER,            -- the issue it answers, when known (0: a confirmation)
        kind          TEXT NOT NULL CHECK (kind IN ('permanent', 'transient', 'complaint')),
        detail        TEXT NOT NULL,      -- status code and diagnostic, or the report's type
        source        TEXT NOT NULL,      -- 'smtp' (at send time) or the file or maildir it came from
        received_at   TEXT NOT NULL
    );
    CREATE INDEX bounces_subscriber ON bounces (subscriber_id, kind, received_at);
    "#,
    // 6: rate limits kept in the store (limits.rs): one row per allowed hit, by keyed hash.
    r#"
    CREATE TABLE rate_hits (
        key TEXT NOT NULL,  -- HMAC of what is limited (a client, an address), never the thing itself
        at  TEXT NOT NULL
    );
    CREATE INDEX rate_hits_key ON rate_hits (key, at);
    CREATE INDEX rate_hits_at ON rate_hits (at);
    "#, // 7: counters of subscribers by status, deliveries by state and bounces by kind, kept by
    // triggers (counters.rs), so that `/metrics` reads a few rows instead of counting tables.
    // Each count is spread over 16 rows (by subscriber id) so that concurrent writers rarely
    // touch the same row. A migration that makes one of these tables anew drops its triggers:
    // it must create them again.
    r#"
    CREATE TABLE counters (
        name  TEXT NOT NULL,     -- 'subscribers:active', 'deliveries:sent', 'bounces:permanent'…
        shard INTEGER NOT NULL,  -- subscriber id % 16
        value INTEGER NOT NULL,
        PRIMARY KEY (name, shard)
    );
    INSERT INTO counters (name, shard, value)
        SELECT 'subscribers:' || status, id % 16, COUNT(*) FROM subscribers GROUP BY status, id % 16;
    INSERT INTO counters (name, shard, value)
        SELECT 'deliveries:' || state, subscriber_id % 16, COUNT(*) FROM deliveries GROUP BY state, subscriber_id % 16;
    INSERT INTO counters (name, shard, value)
        SELECT 'bounces:' || kind, subscriber_id % 16, COUNT(*) FROM bounces GROUP BY kind, subscriber_id % 16;

    CREATE TRIGGER subscribers_counted_in AFTER INSERT ON subscribers BEGIN
        INSERT INTO counters (name, shard, value) VALUES ('subscribers:' || NEW.status, NEW.id % 16, 1)
            ON CONFLICT (name, shard) DO UPDATE SET value = value + 1;
    END;
    CREATE TRIGGER subscribers_counted_out AFTER DELETE ON subscribers BEGIN
        UPDATE counters SET value = value - 1 WHERE name = 'subscribers:' || OLD.status AND shard = OLD.id % 16;
    END;
    CREATE TRIGGER subscribers_counted_moved AFTER UPDATE OF status ON subscribers
        WHEN OLD.status <> NEW.status BEGIN
        UPDATE counters SET value = value - 1 WHERE name = 'subscribers:' || OLD.status AND shard = OLD.id % 16;
        INSERT INTO counters (name, shard, value) VALUES ('subscribers:' || NEW.status, NEW.id % 16, 1)
            ON CONFLICT (name, shard) DO UPDATE SET value = value + 1;
    END;

    CREATE TRIGGER deliveries_counted_in AFTER INSERT ON deliveries BEGIN
        INSERT INTO counters (name, shard, value) VALUES ('deliveries:' || NEW.state, NEW.subscriber_id % 16, 1)
            ON CONFLICT (name, shard) DO UPDATE SET value = value + 1;
    END;
    CREATE TRIGGER deliveries_counted_out AFTER DELETE ON deliveries BEGIN
        UPDATE counters SET value = value - 1
            WHERE name = 'deliveries:' || OLD.state AND shard = OLD.subscriber_id % 16;
    END;
    CREATE TRIGGER deliveries_counted_moved AFTER UPDATE OF state ON deliveries
        WHEN OLD.state <> NEW.state BEGIN
        UPDATE counters SET value = value - 1
            WHERE name = 'deliveries:' || OLD.state AND shard = OLD.subscriber_id % 16;
        INSERT INTO counters (name, shard, value) VALUES ('deliveries:' || NEW.state, NEW.subscriber_id % 16, 1)
            ON CONFLICT (name, shard) DO UPDATE SET value = value + 1;
    END;

    CREATE TRIGGER bounces_counted_in AFTER INSERT ON bounces BEGIN
        INSERT INTO counters (name, shard, value) VALUES ('bounces:' || NEW.kind, NEW.subscriber_id % 16, 1)
            ON CONFLICT (name, shard) DO UPDATE SET value = value + 1;
    END;
    "#,
    // 8: deliveries of old issues can be pruned (prune.rs), keeping each issue's counts.
    r#"
    ALTER TABLE issues ADD COLUMN pruned_at TEXT;
    CREATE TABLE pruned_counts (
        issue_id INTEGER NOT NULL REFERENCES issues (id),
        state    TEXT NOT NULL,
        count    INTEGER NOT NULL,
        PRIMARY KEY (issue_id, state)
    );
    "#,
    // 9: several nodes on one store (nodes.rs): their heartbeats, the node and lease of each
    // delivery, and the fire time an issue was made for (one issue per fire, whichever node
    // fires first). A delivery is leased while it is claimed and not yet settled: the index
    // holds only those rows.
    r#"
    CREATE TABLE nodes (
        id           TEXT PRIMARY KEY,
        started_at   TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL
    );
    ALTER TABLE deliveries ADD COLUMN node TEXT;
    ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
    CREATE INDEX deliveries_leased ON deliveries (node) WHERE lease_until IS NOT NULL;
    ALTER TABLE issues ADD COLUMN fire_at TEXT;
    CREATE UNIQUE INDEX issues_fire ON issues (fire_at);
    "#,
    // 10: the deliveries of an issue in one state are indexed in subscriber order, so that a
    // claim reads the next few pending ones from where they start instead of passing every
    // delivery already sent (a claim cost grew with the issue: quadratic over a run). (On
    // PostgreSQL the subscription's rate limits also become a function, for one round trip;
    // SQLite's take its one write lock.)
    r#"
    DROP INDEX deliveries_state;
    CREATE INDEX deliveries_state ON deliveries (issue_id, state, subscriber_id);
    "#,
];

/// PostgreSQL's: entry `i` makes the change of SQLite's entry `i`.
const POSTGRES_MIGRATIONS: &[&str] = &[
    // 1
    r#"
    CREATE TABLE subscribers (
        id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        email           TEXT NOT NULL,
        email_key       TEXT NOT NULL UNIQUE,
        name            TEXT,
        status          TEXT NOT NULL
                        CONSTRAINT subscribers_status_check CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        confirmed_at    TEXT,
        unsubscribed_at TEXT
    );
    CREATE INDEX subscribers_status ON subscribers (status);
    CREATE TABLE issues (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        status       TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'skipped')),
        created_at   TEXT NOT NULL,
        finished_at  TEXT,
        subject      TEXT NOT NULL DEFAULT '',
        posts_json   TEXT NOT NULL DEFAULT '[]',
        archive_html TEXT
    );
    CREATE TABLE issue_posts (
        issue_id BIGINT NOT NULL REFERENCES issues (id),
        post_id  TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (issue_id, post_id)
    );
    CREATE INDEX issue_posts_post ON issue_posts (post_id);
    CREATE TABLE deliveries (
        issue_id      BIGINT NOT NULL REFERENCES issues (id),
        subscriber_id BIGINT NOT NULL REFERENCES subscribers (id),
        state         TEXT NOT NULL
                      CONSTRAINT deliveries_state_check CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
        attempts      BIGINT NOT NULL DEFAULT 0,
        last_reply    TEXT,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (issue_id, subscriber_id)
    );
    CREATE INDEX deliveries_state ON deliveries (issue_id, state);
    CREATE TABLE baseline_posts (post_id TEXT PRIMARY KEY);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    "#,
    // 2
    r#"
    CREATE TABLE digest_runs (
        fire_at    TEXT PRIMARY KEY,
        outcome    TEXT NOT NULL CHECK (outcome IN ('running', 'deferred', 'sent', 'skipped')),
        issue_id   BIGINT REFERENCES issues (id),
        missed     BIGINT NOT NULL DEFAULT 0,
        note       TEXT,
        updated_at TEXT NOT NULL
    );
    "#,
    // 3
    r#"
    ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check,
        ADD CONSTRAINT deliveries_state_check
            CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'deferred')),
        ADD COLUMN retry_at TEXT,
        ADD COLUMN deferred_since TEXT;
    CREATE INDEX deliveries_retry ON deliveries (retry_at) WHERE state = 'deferred';
    "#,
    // 4
    r#"
    ALTER TABLE subscribers ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
    "#,
    // 5
    r#"
    ALTER TABLE subscribers DROP CONSTRAINT subscribers_status_check,
        ADD CONSTRAINT subscribers_status_check
            CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
        ADD COLUMN status_reason TEXT;
    CREATE TABLE bounces (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        subscriber_id BIGINT NOT NULL REFERENCES subscribers (id),
        issue_id      BIGINT,
        kind          TEXT NOT NULL CHECK (kind IN ('permanent', 'transient', 'complaint')),
        detail        TEXT NOT NULL,
        source        TEXT NOT NULL,
        received_at   TEXT NOT NULL
    );
    CREATE INDEX bounces_subscriber ON bounces (subscriber_id, kind, received_at);
    "#,
    // 6
    r#"
    CREATE TABLE rate_hits (key TEXT NOT NULL, at TEXT NOT NULL);
    CREATE INDEX rate_hits_key ON rate_hits (key, at);
    CREATE INDEX rate_hits_at ON rate_hits (at);
    "#,
    // 7: the counters, kept per statement: each trigger adds up what a statement moved and
    // changes each (name, shard) row once.
    r#"
    CREATE TABLE counters (
        name  TEXT NOT NULL,
        shard BIGINT NOT NULL,
        value BIGINT NOT NULL,
        PRIMARY KEY (name, shard)
    );
    INSERT INTO counters (name, shard, value)
        SELECT 'subscribers:' || status, id % 16, COUNT(*) FROM subscribers GROUP BY status, id % 16;
    INSERT INTO counters (name, shard, value)
        SELECT 'deliveries:' || state, subscriber_id % 16, COUNT(*) FROM deliveries GROUP BY state, subscriber_id % 16;
    INSERT INTO counters (name, shard, value)
        SELECT 'bounces:' || kind, subscriber_id % 16, COUNT(*) FROM bounces GROUP BY kind, subscriber_id % 16;

    -- count_rows(prefix, column, shard column): adds up a statement's rows by `column` and
    -- `shard column % 16`, the old ones negative, the new ones positive.
    CREATE FUNCTION count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        counted TEXT := format('%L || %I AS name, %I %% 16 AS shard', TG_ARGV[0] || ':', TG_ARGV[1], TG_ARGV[2]);
    BEGIN
        EXECUTE format(
            'INSERT INTO counters (name, shard, value)
             SELECT name, shard, SUM(delta) FROM (%s) moved GROUP BY name, shard HAVING SUM(delta) <> 0
             ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + EXCLUDED.value',
            CASE TG_OP
                WHEN 'INSERT' THEN format('SELECT %s, 1 AS delta FROM new_rows', counted)
                WHEN 'DELETE' THEN format('SELECT %s, -1 AS delta FROM old_rows', counted)
                ELSE format('SELECT %s, -1 AS delta FROM old_rows UNION ALL SELECT %s, 1 FROM new_rows', counted, counted)
            END);
        RETURN NULL;
    END $$;
    CREATE TRIGGER subscribers_counted_in AFTER INSERT ON subscribers
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('subscribers', 'status', 'id');
    CREATE TRIGGER subscribers_counted_out AFTER DELETE ON subscribers
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('subscribers', 'status', 'id');
    CREATE TRIGGER subscribers_counted_moved AFTER UPDATE ON subscribers
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('subscribers', 'status', 'id');
    CREATE TRIGGER deliveries_counted_in AFTER INSERT ON deliveries
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('deliveries', 'state', 'subscriber_id');
    CREATE TRIGGER deliveries_counted_out AFTER DELETE ON deliveries
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('deliveries', 'state', 'subscriber_id');
    CREATE TRIGGER deliveries_counted_moved AFTER UPDATE ON deliveries
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('deliveries', 'state', 'subscriber_id');
    CREATE TRIGGER bounces_counted_in AFTER INSERT ON bounces
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('bounces', 'kind', 'subscriber_id');
    "#,
    // 8
    r#"
    ALTER TABLE issues ADD COLUMN pruned_at TEXT;
    CREATE TABLE pruned_counts (
        issue_id BIGINT NOT NULL REFERENCES issues (id),
        state    TEXT NOT NULL,
        count    BIGINT NOT NULL,
        PRIMARY KEY (issue_id, state)
    );
    "#,
    // 9
    r#"
    CREATE TABLE nodes (
        id           TEXT PRIMARY KEY,
        started_at   TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL
    );
    ALTER TABLE deliveries ADD COLUMN node TEXT, ADD COLUMN lease_until TEXT;
    CREATE INDEX deliveries_leased ON deliveries (node) WHERE lease_until IS NOT NULL;
    ALTER TABLE issues ADD COLUMN fire_at TEXT;
    CREATE UNIQUE INDEX issues_fire ON issues (fire_at);

    -- Several nodes commit delivery states at once, and every commit moves counter rows: each
    -- statement now takes their locks in one order, (name, shard), so that two nodes' commits
    -- wait for each other instead of deadlocking. The rest is migration 7's.
    CREATE OR REPLACE FUNCTION count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        counted TEXT := format('%L || %I AS name, %I %% 16 AS shard', TG_ARGV[0] || ':', TG_ARGV[1], TG_ARGV[2]);
    BEGIN
        EXECUTE format(
            'INSERT INTO counters (name, shard, value)
             SELECT name, shard, SUM(delta) FROM (%s) moved GROUP BY name, shard HAVING SUM(delta) <> 0
             ORDER BY name, shard
             ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + EXCLUDED.value',
            CASE TG_OP
                WHEN 'INSERT' THEN format('SELECT %s, 1 AS delta FROM new_rows', counted)
                WHEN 'DELETE' THEN format('SELECT %s, -1 AS delta FROM old_rows', counted)
                ELSE format('SELECT %s, -1 AS delta FROM old_rows UNION ALL SELECT %s, 1 FROM new_rows', counted, counted)
            END);
        RETURN NULL;
    END $$;
    "#,
    // 10: the index of SQLite's 10; and the counters' triggers without dynamic SQL. count_rows()
    // built its statement from its arguments and ran it with EXECUTE, planned again at every
    // statement it counted: 180 µs an UPDATE of one delivery, against 32 µs with a function of
    // plain statements per table (measured here, 2,000 updates). One such function per table is
    // made below from one text, with its triggers; each keeps migration 9's order of counter rows.
    // Also: a subscription's rate limits in one round trip (limits.rs), each key locked alone:
    // within every limit, the request counts as a hit of each; over one, of none. The locks
    // are per key (a subscription no longer waits for another client's, nor for an issue's
    // freeze), taken in one order; each statement of the function sees what was committed
    // before it ran, so a request that waited for a key's lock counts the hits of the one it
    // waited for.
    r#"
    DROP INDEX deliveries_state;
    CREATE INDEX deliveries_state ON deliveries (issue_id, state, subscriber_id);

    DO $migration$
    DECLARE
        counted RECORD;
    BEGIN
        FOR counted IN SELECT * FROM (VALUES ('subscribers', 'status', 'id', ARRAY['in', 'out', 'moved']),
                                             ('deliveries', 'state', 'subscriber_id', ARRAY['in', 'out', 'moved']),
                                             ('bounces', 'kind', 'subscriber_id', ARRAY['in'])) AS t (tab, col, shard, moves) LOOP
            EXECUTE format($function$
                CREATE FUNCTION %1$I() RETURNS trigger LANGUAGE plpgsql AS $body$
                BEGIN
                    IF TG_OP = 'INSERT' THEN
                        INSERT INTO counters (name, shard, value)
                        SELECT %2$L || %3$I, %4$I %% 16, COUNT(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
                        ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + EXCLUDED.value;
                    ELSIF TG_OP = 'DELETE' THEN
                        INSERT INTO counters (name, shard, value)
                        SELECT %2$L || %3$I, %4$I %% 16, -COUNT(*) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
                        ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + EXCLUDED.value;
                    ELSE
                        INSERT INTO counters (name, shard, value)
                        SELECT name, shard, SUM(delta) FROM (
                            SELECT %2$L || %3$I AS name, %4$I %% 16 AS shard, -1 AS delta FROM old_rows
                            UNION ALL SELECT %2$L || %3$I, %4$I %% 16, 1 FROM new_rows) moved
                        GROUP BY name, shard HAVING SUM(delta) <> 0 ORDER BY name, shard
                        ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + EXCLUDED.value;
                    END IF;
                    RETURN NULL;
                END $body$
            $function$, 'count_' || counted.tab, counted.tab || ':', counted.col, counted.shard);
            -- The triggers of migration 7, same names, now calling it.
            FOR i IN 1 .. array_length(counted.moves, 1) LOOP
                EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %I REFERENCING %s FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                    counted.tab || '_counted_' || counted.moves[i],
                    CASE counted.moves[i] WHEN 'in' THEN 'INSERT' WHEN 'out' THEN 'DELETE' ELSE 'UPDATE' END,
                    counted.tab,
                    CASE counted.moves[i] WHEN 'in' THEN 'NEW TABLE AS new_rows' WHEN 'out' THEN 'OLD TABLE AS old_rows'
                        ELSE 'OLD TABLE AS old_rows NEW TABLE AS new_rows' END,
                    'count_' || counted.tab);
            END LOOP;
        END LOOP;
    END $migration$;
    DROP FUNCTION count_rows();

    CREATE FUNCTION rate_allow(keys TEXT[], hits BIGINT[], since TEXT[], at TEXT, expired TEXT)
    RETURNS BOOLEAN LANGUAGE plpgsql AS $$
    DECLARE
        locked TEXT;
        within BOOLEAN := TRUE;
    BEGIN
        FOR locked IN SELECT DISTINCT k FROM unnest(keys) AS k ORDER BY k LOOP
            PERFORM pg_advisory_xact_lock(hashtextextended('kurier rate ' || locked, 0));
        END LOOP;
        DELETE FROM rate_hits WHERE rate_hits.at <= expired;
        FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
            IF (SELECT COUNT(*) FROM rate_hits WHERE key = keys[i] AND rate_hits.at > since[i]) >= hits[i] THEN
                within := FALSE;
            END IF;
        END LOOP;
        IF within THEN
            INSERT INTO rate_hits (key, at) SELECT k, rate_allow.at FROM unnest(keys) AS k;
        END IF;
        RETURN within;
    END $$;
    "#,
];

const _: () = assert!(MIGRATIONS.len() == POSTGRES_MIGRATIONS.len(), "one migration per version on both backends");

/// The advisory lock that makes two processes opening one new PostgreSQL store migrate it one
/// after the other.
const MIGRATION_LOCK: i64 = 0x6b75_7269_6572_0001;

pub fn migrate(store: &mut Store) -> Result<()> {
    if store.db.is_postgres() {
        return migrate_postgres(store);
    }
    let known = MIGRATIONS.len() as i64;
    let version: i64 = store.db.query_value("PRAGMA user_version", params![])?;
    if version > known {
        return Err(StoreError::TooNew { store: store.db.name.clone(), found: version, known });
    }
    // A migration may make a table anew (SQLite cannot change a constraint in place); foreign
    // keys are off meanwhile, as SQLite's procedure for that asks, and checked before each commit.
    if version < known {
        store.db.batch("PRAGMA foreign_keys = OFF")?;
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        store.db.transaction(Begin::Deferred, || {
            store.db.batch(migration)?;
            let broken: Option<String> = store.db.query_opt("PRAGMA foreign_key_check", params![], |row| row.get(0))?;
            if let Some(table) = broken {
                return Err(StoreError::Migration {
                    store: store.db.name.clone(),
                    message: format!("migration {} would break a reference in table {table}", index + 1),
                });
            }
            store.db.batch(&format!("PRAGMA user_version = {}", index + 1))
        })?;
    }
    store.db.batch("PRAGMA foreign_keys = ON")?;
    Ok(())
}

fn migrate_postgres(store: &mut Store) -> Result<()> {
    let known = POSTGRES_MIGRATIONS.len() as i64;
    let db = &store.db;
    db.transaction(Begin::Deferred, || {
        db.batch(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
             CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);"
        ))?;
        let version: i64 = db.query_value("SELECT COALESCE(MAX(version), 0) FROM schema_version", params![])?;
        if version > known {
            return Err(StoreError::TooNew { store: db.name.clone(), found: version, known });
        }
        for migration in POSTGRES_MIGRATIONS.iter().skip(version as usize) {
            db.batch(migration)?;
        }
        if version < known {
            db.execute("DELETE FROM schema_version", params![])?;
            db.execute("INSERT INTO schema_version (version) VALUES (?1)", params![known])?;
        }
        Ok(())
    })
}

impl Store {
    /// The number of migrations applied to the store.
    pub fn schema_version(&self) -> Result<i64> {
        match &self.db.conn {
            Conn::Sqlite(_) => self.db.query_value("PRAGMA user_version", params![]),
            Conn::Postgres(_) => self.db.query_value("SELECT MAX(version) FROM schema_version", params![]),
        }
    }

    /// Sets the schema version as a newer kurier would have (the tests' way to make one).
    #[cfg(test)]
    pub fn set_schema_version(&self, version: i64) -> Result<()> {
        match &self.db.conn {
            Conn::Sqlite(_) => self.db.batch(&format!("PRAGMA user_version = {version}")),
            Conn::Postgres(_) => {
                self.db.execute("UPDATE schema_version SET version = ?1", params![version]).map(|_| ())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{fresh_postgres_database, test_postgres_url};
    use crate::store::{Location, PostgresTarget};

    #[test]
    fn a_postgres_store_of_an_earlier_version_is_migrated_with_its_data_and_counted() {
        let Some(server) = test_postgres_url() else { return };
        let url = fresh_postgres_database(&server);
        {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            for migration in &POSTGRES_MIGRATIONS[..4] {
                client.batch_execute(migration).unwrap();
            }
            client
                .batch_execute(
                    "CREATE TABLE schema_version (version BIGINT NOT NULL);
                     INSERT INTO schema_version VALUES (4);
                     INSERT INTO subscribers (id, email, email_key, name, status, created_at, updated_at, version)
                         VALUES (7, 'Ola@example.org', 'ola@example.org', 'Ola', 'active', 't', 't', 3);
                     INSERT INTO issues (id, status, created_at) VALUES (1, 'sent', 't');
                     INSERT INTO deliveries (issue_id, subscriber_id, state, updated_at) VALUES (1, 7, 'sent', 't');",
                )
                .unwrap();
        }
        let location = Location::Postgres(PostgresTarget { url, password: None, ca_file: None });
        let store = location.open().unwrap();
        assert_eq!(store.schema_version().unwrap(), POSTGRES_MIGRATIONS.len() as i64);
        let subscriber = store.subscriber(7).unwrap().unwrap();
        assert_eq!((subscriber.email.as_str(), subscriber.version), ("Ola@example.org", 3));
        // The counters of migration 7 start from the rows that were there, and follow changes.
        let totals = store.totals().unwrap();
        assert_eq!(totals.deliveries, store.delivery_counts(None).unwrap());
        assert_eq!(totals.subscribers.values().sum::<u64>(), 1);
        store.set_status(7, crate::store::Status::Complained, chrono::Utc::now()).unwrap();
        let totals = store.totals().unwrap();
        assert_eq!(totals.subscribers.get(&crate::store::Status::Complained), Some(&1), "the new status is allowed");
        assert_eq!(totals.subscribers.get(&crate::store::Status::Active), None);
        let orphan = store.db.execute(
            "INSERT INTO deliveries (issue_id, subscriber_id, state, updated_at) VALUES (1, 99, 'sent', 't')",
            params![],
        );
        assert!(orphan.is_err(), "the reference to subscribers still holds");
    }

    #[test]
    fn a_store_of_an_earlier_version_is_migrated_with_its_data_and_references() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::STORE_FILE);
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            for migration in &MIGRATIONS[..4] {
                conn.execute_batch(migration).unwrap();
            }
            conn.execute_batch(
                "PRAGMA user_version = 4;
                 INSERT INTO subscribers (id, email, email_key, name, status, created_at, updated_at, version)
                     VALUES (7, 'Ola@example.org', 'ola@example.org', 'Ola', 'active', 't', 't', 3);
                 INSERT INTO issues (id, status, created_at) VALUES (1, 'sent', 't');
                 INSERT INTO deliveries (issue_id, subscriber_id, state, updated_at) VALUES (1, 7, 'sent', 't');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let subscriber = store.subscriber(7).unwrap().unwrap();
        assert_eq!((subscriber.email.as_str(), subscriber.version), ("Ola@example.org", 3));
        assert_eq!(store.delivery_counts(Some(1)).unwrap().values().sum::<u64>(), 1);
        // The counters of migration 7 start from the rows that were there.
        let totals = store.totals().unwrap();
        assert_eq!(totals.deliveries, store.delivery_counts(None).unwrap());
        assert_eq!(totals.subscribers.values().sum::<u64>(), 1);
        let fk: bool = store.db.query_value("PRAGMA foreign_keys", params![]).unwrap();
        assert!(fk, "foreign keys are on again");
        let orphan = store.db.execute(
            "INSERT INTO deliveries (issue_id, subscriber_id, state, updated_at) VALUES (1, 99, 'sent', 't')",
            params![],
        );
        assert!(orphan.is_err(), "the reference to subscribers still holds");
    }
}
