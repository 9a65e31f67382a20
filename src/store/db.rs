//! The store's one connection, to SQLite (rusqlite) or to PostgreSQL (the `postgres` crate,
//! rust-postgres' synchronous client), behind the few calls the store's files make: `execute`,
//! `query_opt`, `query_all`, `query_each`, `transaction`, `batch`.
//!
//! SQL is written once, in the subset both dialects read alike, with SQLite's numbered
//! placeholders `?1`, `?2`…, which become PostgreSQL's `$1`, `$2`… on the way there. What the
//! dialects do differently (the schema and its triggers, PRAGMAs) is written twice, in
//! `schema.rs`. Integers are `BIGINT` (`i64`) on PostgreSQL and a sum is `CAST(… AS BIGINT)`,
//! so one Rust type reads a column on both.
//!
//! Every call blocks — SQLite reads, writes and syncs files; the PostgreSQL client waits for the
//! server — so it must run on a blocking thread, never on an async worker: a call inside an
//! async task panics in a debug build, as the tests run (`refuse_async_task`).

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::fallible_iterator::FallibleIterator;

use super::{Result, StoreError};

/// A value that both drivers can bind.
pub trait Param: rusqlite::ToSql + postgres::types::ToSql + Sync {}
impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Param for T {}

/// `params![a, b]`: the parameters of a statement, bound to `?1`, `?2`…
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::db::Param] };
    ($($param:expr),+ $(,)?) => { &[$(&$param as &dyn $crate::store::db::Param),+] as &[&dyn $crate::store::db::Param] };
}
pub(crate) use params;

/// An error of either driver.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
}

/// A PostgreSQL error with the server's message, detail and hint (the crate's `Display` says
/// only "db error").
fn postgres_message(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            if let Some(detail) = db.detail() {
                text = format!("{text} ({detail})");
            }
            text
        }
        // A connection's error says why in its causes ("error performing TLS handshake":
        // "invalid peer certificate: UnknownIssuer").
        None => crate::errors::each_cause_once(error),
    }
}

/// One row of a result, from either driver.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

/// A Rust type a column is read as, on both backends.
pub trait Column: Sized {
    fn sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self>;
    fn postgres(row: &postgres::Row, index: usize) -> std::result::Result<Self, postgres::Error>;
}

macro_rules! plain_column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
                row.get(index)
            }
            fn postgres(row: &postgres::Row, index: usize) -> std::result::Result<Self, postgres::Error> {
                row.try_get(index)
            }
        }
    )*};
}
plain_column!(String, Option<String>, bool);

/// Integers: PostgreSQL's `integer` columns and literals are widened, so that `SELECT 1` and
/// a `BIGINT` column read alike.
fn postgres_int(row: &postgres::Row, index: usize) -> std::result::Result<Option<i64>, postgres::Error> {
    use postgres::types::Type;
    let ty = row.columns()[index].type_();
    Ok(if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(index)?.map(i64::from)
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(index)?.map(i64::from)
    } else {
        row.try_get::<_, Option<i64>>(index)?
    })
}

impl Column for Option<i64> {
    fn sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        row.get(index)
    }
    fn postgres(row: &postgres::Row, index: usize) -> std::result::Result<Self, postgres::Error> {
        postgres_int(row, index)
    }
}

impl Column for i64 {
    fn sqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        row.get(index)
    }
    fn postgres(row: &postgres::Row, index: usize) -> std::result::Result<Self, postgres::Error> {
        // A NULL read as a number is the driver's error, as on SQLite.
        match postgres_int(row, index) {
            Ok(Some(n)) => Ok(n),
            _ => row.try_get::<_, i64>(index),
        }
    }
}

impl Row<'_> {
    /// The column at `index` (0-based).
    pub fn get<T: Column>(&self, index: usize) -> std::result::Result<T, DbError> {
        match self {
            Row::Sqlite(row) => T::sqlite(row, index).map_err(DbError::from),
            Row::Postgres(row) => T::postgres(row, index).map_err(DbError::from),
        }
    }
}

/// How a transaction starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// Reads see the data as it is; writes take their locks as they go.
    Deferred,
    /// Takes the write lock at once (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL a transaction
    /// advisory lock that every immediate transaction of the database takes), so that two
    /// processes counting the same rows take turns.
    Immediate,
}

/// Rows a PostgreSQL query read on a thread of its own may hold before they are walked
/// ([`Db::query_each`] inside a runtime).
const ROWS_IN_FLIGHT: usize = 256;

/// The advisory lock key of [`Begin::Immediate`] on PostgreSQL ("kurier" in ASCII).
pub(super) const IMMEDIATE_LOCK: i64 = 0x6b75_7269_6572;

pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<Postgres>>),
}

/// A PostgreSQL connection with the statements it prepared, each prepared once.
pub struct Postgres {
    /// Always `Some` but in `Drop`.
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
}

impl Postgres {
    pub fn new(client: postgres::Client) -> Postgres {
        Postgres { client: Some(client), statements: HashMap::new() }
    }

    fn client(&mut self) -> &mut postgres::Client {
        self.client.as_mut().expect("the client is taken only by Drop")
    }

    fn statement(&mut self, sql: &str) -> std::result::Result<postgres::Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client().prepare(&dollar_placeholders(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs `work` on this thread, or — where a tokio runtime is entered — on a thread of its
    /// own (see the module's note). The [`Db`] call that asks has refused an async task already.
    fn run<T: Send>(&mut self, work: impl FnOnce(&mut Postgres) -> T + Send) -> T {
        run_outside_runtime(|| work(self))
    }
}

thread_local! {
    /// Whether this thread is one of tokio's blocking threads, running work given to
    /// [`on_blocking_thread`].
    static BLOCKING_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `work` — given to `tokio::task::spawn_blocking` — marked as running on a blocking
/// thread: there the PostgreSQL client can run its own runtime (tokio forbids that only on a
/// thread that is running a runtime: an async worker, or inside `block_on`), so the store's
/// calls need no thread of their own. Each call spawning one cost a thread start and two waits
/// for the scheduler per statement — several per HTTP request, each long on a busy machine.
fn on_blocking_thread<T>(work: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            BLOCKING_THREAD.with(|flag| flag.set(self.0));
        }
    }
    let _reset = Reset(BLOCKING_THREAD.with(|flag| flag.replace(true)));
    work()
}

/// Runs `work` on one of tokio's blocking threads, marked as such ([`on_blocking_thread`]), and
/// gives back its value (or its panic): the one way async code uses the store, so that no async
/// worker waits for it and the PostgreSQL client runs in place.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(|| on_blocking_thread(work)).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Runs `work` on this thread, or on a scoped thread of its own where a tokio runtime is
/// entered, unless this is a blocking thread ([`on_blocking_thread`]): the PostgreSQL client's
/// runtime cannot run inside another's.
///
/// # Panics
///
/// In a debug build, inside an async task that is not on a blocking thread, as every call of
/// [`Db`] does there ([`refuse_async_task`]).
pub fn outside_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    refuse_async_task();
    run_outside_runtime(work)
}

/// Whether a tokio runtime is entered on this thread and it is not a blocking thread
/// ([`on_blocking_thread`]): an async worker, or a thread inside `block_on`.
fn in_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok() && !BLOCKING_THREAD.with(std::cell::Cell::get)
}

/// Panics (in a debug build) inside an async task that is not on a blocking thread: a store call
/// there — a round trip to PostgreSQL, or SQLite's reads, writes and fsyncs — would hold an async
/// worker, and every request it serves, until it is done. Async code uses the store through
/// [`blocking`]; a thread that only drives a runtime's `block_on` (the daemon's loop, the command
/// line) is not a worker and may call it directly.
fn refuse_async_task() {
    if !in_runtime() {
        return;
    }
    if let Some(task) = tokio::task::try_id() {
        let message =
            format!("a store call in async task {task}, on an async worker: it must go through store::blocking");
        // A fault of kurier's own code, which the tests (debug builds) are to find; a release
        // build logs it once and makes the call.
        if cfg!(debug_assertions) {
            panic!("{message}");
        }
        static LOGGED: std::sync::Once = std::sync::Once::new();
        LOGGED.call_once(|| tracing::error!("{message}"));
    }
}

/// [`outside_runtime`] without its check: for the [`Db`] calls, which make it first, and for
/// closing a connection, which a panic's unwinding may do anywhere.
fn run_outside_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if !in_runtime() {
        return work();
    }
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Closing talks to the server through the client's own runtime.
            run_outside_runtime(move || drop(client));
        }
    }
}

/// `?1` → `$1`: SQLite's numbered placeholders in PostgreSQL's form. The store's SQL has no `?`
/// inside its string literals.
pub fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn sqlite_params<'a>(params: &'a [&'a dyn Param]) -> Vec<&'a dyn rusqlite::ToSql> {
    params.iter().map(|p| *p as &dyn rusqlite::ToSql).collect()
}

fn postgres_params<'a>(params: &'a [&'a dyn Param]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|p| *p as &(dyn postgres::types::ToSql + Sync)).collect()
}

/// The connection and the name of the store it reaches (a file's path, or a PostgreSQL URL
/// without its password), which every error starts with.
pub struct Db {
    pub conn: Conn,
    pub name: String,
}

impl Db {
    /// The store error of a driver error.
    pub fn err(&self, source: impl Into<DbError>) -> StoreError {
        StoreError::Database { store: self.name.clone(), source: source.into() }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.conn, Conn::Postgres(_))
    }

    /// Whether the connection is known to be gone (a PostgreSQL server that restarted or a
    /// network that dropped it; asks nothing of the server). An SQLite file is never gone.
    pub fn is_closed(&self) -> bool {
        match &self.conn {
            Conn::Sqlite(_) => false,
            Conn::Postgres(pg) => pg.borrow_mut().client().is_closed(),
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<u64> {
        refuse_async_task();
        match &self.conn {
            Conn::Sqlite(conn) => conn
                .prepare_cached(sql)
                .and_then(|mut statement| statement.execute(sqlite_params(params).as_slice()))
                .map(|n| n as u64)
                .map_err(|e| self.err(e)),
            Conn::Postgres(pg) => pg
                .borrow_mut()
                .run(|pg| {
                    let statement = pg.statement(sql)?;
                    pg.client().execute(&statement, &postgres_params(params))
                })
                .map_err(|e| self.err(e)),
        }
    }

    /// Runs `work` with the PostgreSQL client itself, for what the shared SQL cannot say (arrays
    /// bound as one parameter: the batches of `bulk.rs`); `None` on SQLite.
    pub fn with_postgres<T: Send>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> std::result::Result<T, postgres::Error> + Send,
    ) -> Option<Result<T>> {
        refuse_async_task();
        match &self.conn {
            Conn::Sqlite(_) => None,
            Conn::Postgres(pg) => Some(pg.borrow_mut().run(|pg| work(pg.client())).map_err(|e| self.err(e))),
        }
    }

    /// The rows of `sql`, prepared once per connection like every statement, with parameters
    /// only PostgreSQL binds (arrays); `None` on SQLite.
    pub fn query_postgres(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Option<Result<Vec<postgres::Row>>> {
        refuse_async_task();
        match &self.conn {
            Conn::Sqlite(_) => None,
            Conn::Postgres(pg) => Some(
                pg.borrow_mut()
                    .run(|pg| {
                        let statement = pg.statement(sql)?;
                        pg.client().query(&statement, params)
                    })
                    .map_err(|e| self.err(e)),
            ),
        }
    }

    /// Runs statements without parameters, separated by `;`.
    pub fn batch(&self, sql: &str) -> Result<()> {
        refuse_async_task();
        match &self.conn {
            Conn::Sqlite(conn) => conn.execute_batch(sql).map_err(|e| self.err(e)),
            Conn::Postgres(pg) => pg.borrow_mut().run(|pg| pg.client().batch_execute(sql)).map_err(|e| self.err(e)),
        }
    }

    /// Calls `each` with every row of a query, one at a time (the rows are not all in memory).
    /// `each` must not use the store: the connection is busy with the query meanwhile.
    pub fn query_each<E: From<StoreError>>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut each: impl FnMut(&Row<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        refuse_async_task();
        match &self.conn {
            Conn::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql).map_err(|e| self.err(e))?;
                let mut rows = statement.query(sqlite_params(params).as_slice()).map_err(|e| self.err(e))?;
                while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                    each(&Row::Sqlite(row))?;
                }
                Ok(())
            }
            Conn::Postgres(pg) => {
                let mut pg = pg.borrow_mut();
                if in_runtime() {
                    return self.query_each_beside(&mut pg, sql, params, each);
                }
                let statement = pg.statement(sql).map_err(|e| self.err(e))?;
                let mut rows = pg.client().query_raw(&statement, postgres_params(params)).map_err(|e| self.err(e))?;
                while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                    each(&Row::Postgres(&row))?;
                }
                Ok(())
            }
        }
    }

    /// [`Db::query_each`] where a tokio runtime is entered: the client reads the rows on a
    /// thread of its own (see `Postgres::run`) and hands them over a few at a time through a
    /// bounded channel, so that they are still never all in memory. An error of `each` drops
    /// the channel, which ends the reading.
    fn query_each_beside<E: From<StoreError>>(
        &self,
        pg: &mut Postgres,
        sql: &str,
        params: &[&dyn Param],
        mut each: impl FnMut(&Row<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let (rows_tx, rows) = std::sync::mpsc::sync_channel::<postgres::Row>(ROWS_IN_FLIGHT);
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || {
                let statement = pg.statement(sql)?;
                let mut iter = pg.client().query_raw(&statement, postgres_params(params))?;
                while let Some(row) = iter.next()? {
                    if rows_tx.send(row).is_err() {
                        break;
                    }
                }
                Ok::<(), postgres::Error>(())
            });
            let mut walked = Ok(());
            for row in &rows {
                walked = each(&Row::Postgres(&row));
                if walked.is_err() {
                    break;
                }
            }
            drop(rows);
            let read = match reader.join() {
                Ok(read) => read,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            walked?;
            read.map_err(|e| E::from(self.err(e)))
        })
    }

    /// Every row of a query, each made into a `T` by `map`.
    pub fn query_all<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        map: impl Fn(&Row<'_>) -> std::result::Result<T, DbError>,
    ) -> Result<Vec<T>> {
        let mut all = Vec::new();
        self.query_each(sql, params, |row| {
            all.push(map(row).map_err(|e| self.err(e))?);
            Ok::<(), StoreError>(())
        })?;
        Ok(all)
    }

    /// The first row of a query, if there is one.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        map: impl Fn(&Row<'_>) -> std::result::Result<T, DbError>,
    ) -> Result<Option<T>> {
        refuse_async_task();
        match &self.conn {
            Conn::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql).map_err(|e| self.err(e))?;
                let mut rows = statement.query(sqlite_params(params).as_slice()).map_err(|e| self.err(e))?;
                match rows.next().map_err(|e| self.err(e))? {
                    Some(row) => map(&Row::Sqlite(row)).map(Some).map_err(|e| self.err(e)),
                    None => Ok(None),
                }
            }
            Conn::Postgres(pg) => {
                let row = pg
                    .borrow_mut()
                    .run(|pg| {
                        let statement = pg.statement(sql)?;
                        pg.client().query_opt(&statement, &postgres_params(params))
                    })
                    .map_err(|e| self.err(e))?;
                row.map(|row| map(&Row::Postgres(&row)).map_err(|e| self.err(e))).transpose()
            }
        }
    }

    /// The one value of a query that always gives one row (`COUNT(*)`, `MAX(…)`).
    pub fn query_value<T: Column>(&self, sql: &str, params: &[&dyn Param]) -> Result<T> {
        self.query_opt(sql, params, |row| row.get(0))?.ok_or_else(|| self.err(rusqlite::Error::QueryReturnedNoRows))
    }

    /// Runs `work` in a transaction: committed if it returns `Ok`, rolled back otherwise.
    pub fn transaction<T>(&self, begin: Begin, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = match (&self.conn, begin) {
            (Conn::Sqlite(_), Begin::Deferred) => "BEGIN".to_owned(),
            (Conn::Sqlite(_), Begin::Immediate) => "BEGIN IMMEDIATE".to_owned(),
            (Conn::Postgres(_), Begin::Deferred) => "BEGIN".to_owned(),
            (Conn::Postgres(_), Begin::Immediate) => format!("BEGIN; SELECT pg_advisory_xact_lock({IMMEDIATE_LOCK})"),
        };
        self.batch(&start)?;
        match work() {
            Ok(value) => match self.batch("COMMIT") {
                Ok(()) => Ok(value),
                Err(e) => {
                    let _ = self.batch("ROLLBACK");
                    Err(e)
                }
            },
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_dollars() {
        assert_eq!(dollar_placeholders("SELECT ?1, ?12 WHERE a = ?2"), "SELECT $1, $12 WHERE a = $2");
        assert_eq!(dollar_placeholders("SELECT '?'"), "SELECT '?'");
    }
}
