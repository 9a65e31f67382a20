//! Where a site's store is ([`Location`], from `[store] url`) and how a connection to it is made.
//!
//! SQLite is the default: a file in the subscribers folder, no server. PostgreSQL is reached with
//! rust-postgres' synchronous client over TLS when the server offers it (rustls with ring, as
//! the SMTP client; the system's roots, or only `[store] ca_file`'s when given): `sslmode=prefer`
//! is the client's default, `?sslmode=require` in the URL refuses a server without TLS, and a
//! certificate is always checked against the host name. The password comes from
//! `KURIER_STORE_PASSWORD` or the URL and never reaches a message: a store is named by its URL
//! without it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::db::{Conn, Db, Postgres};
use super::{Result, STORE_FILE, Store, StoreError};
use crate::config::{Config, Secret, StoreBackend, display_url};

/// Where a store is.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// The subscribers folder, holding `kurier.sqlite` and its locks.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PostgresTarget),
}

/// A PostgreSQL database and what it takes to log in to it.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresTarget {
    /// `postgres://user[:password]@host[:port]/database[?sslmode=…]`.
    pub url: String,
    /// `KURIER_STORE_PASSWORD`, which wins over a password in the URL.
    pub password: Option<Secret>,
    /// A PEM file of the certificate authorities to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(dir) => f.debug_tuple("Sqlite").field(dir).finish(),
            Location::Postgres(target) => f
                .debug_struct("Postgres")
                .field("url", &display_url(&target.url))
                .field("password", &target.password)
                .field("ca_file", &target.ca_file)
                .finish(),
        }
    }
}

impl Location {
    /// The store of a site: `[store] url` (or `KURIER_STORE_URL`, applied to the config), else
    /// SQLite in `subscribers_dir`; relative paths are relative to the site root.
    pub fn of(root: &Path, config: &Config) -> Location {
        match &config.store.backend {
            StoreBackend::Sqlite(dir) => Location::Sqlite(root.join(dir.as_deref().unwrap_or(&config.subscribers_dir))),
            StoreBackend::Postgres(url) => Location::Postgres(PostgresTarget {
                url: url.clone(),
                password: config.store.password.clone(),
                ca_file: config.store.ca_file.as_ref().map(|file| root.join(file)),
            }),
        }
    }

    /// The SQLite store's folder (its locks live there); `None` for PostgreSQL.
    pub fn sqlite_dir(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(dir) => Some(dir),
            Location::Postgres(_) => None,
        }
    }

    /// The store's name in messages: the SQLite file, or the URL without its password.
    pub fn name(&self) -> String {
        match self {
            Location::Sqlite(dir) => dir.join(STORE_FILE).display().to_string(),
            Location::Postgres(target) => display_url(&target.url),
        }
    }

    /// Opens (creating or migrating if needed) the store. Blocks: call it from a blocking thread.
    pub fn open(&self) -> Result<Store> {
        match self {
            Location::Sqlite(dir) => Store::open_dir(dir),
            Location::Postgres(target) => {
                let name = self.name();
                let client = super::db::outside_runtime(|| connect(target))
                    .map_err(|message| StoreError::Connect { store: name.clone(), message })?;
                let db = Db { conn: Conn::Postgres(Box::new(std::cell::RefCell::new(Postgres::new(client)))), name };
                let store = Store::ready(db, self.clone())?;
                // Another connection's lock is waited for as long as on SQLite.
                store.set_busy_timeout(super::BUSY_TIMEOUT)?;
                Ok(store)
            }
        }
    }
}

/// A connection to the database of `target`.
fn connect(target: &PostgresTarget) -> std::result::Result<postgres::Client, String> {
    let mut config = postgres::Config::from_str(&target.url).map_err(|e| e.to_string())?;
    if let Some(password) = &target.password {
        config.password(password.expose());
    }
    config.application_name("kurier");
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(target.ca_file.as_deref())?);
    config.connect(tls).map_err(|e| super::db::DbError::Postgres(e).to_string())
}

/// The TLS settings: `ca_file`'s certificates if given, else the system's roots (read once per
/// process: a daemon connects again after every fault, a send opens two connections).
fn tls_config(ca_file: Option<&Path>) -> std::result::Result<rustls::ClientConfig, String> {
    static SYSTEM: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    if ca_file.is_none() {
        if let Some(config) = SYSTEM.get() {
            return Ok(config.clone());
        }
        let config = roots_config(None)?;
        return Ok(SYSTEM.get_or_init(|| config).clone());
    }
    roots_config(ca_file)
}

fn roots_config(ca_file: Option<&Path>) -> std::result::Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(file) => {
            let certificates = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| format!("ca_file {}: {e}", file.display()))?;
            if certificates.is_empty() {
                return Err(format!("ca_file {}: no certificate in it", file.display()));
            }
            roots.add_parsable_certificates(certificates);
        }
        None => {
            // Certificates the system store cannot parse are skipped, as every client does.
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::params;
    use crate::store::tests::{fresh_postgres_database, test_postgres_url};

    /// A fresh database on the test server, asked for over TLS (`sslmode=require`).
    fn over_tls(ca_file: Option<PathBuf>) -> Option<Location> {
        let server = test_postgres_url()?;
        let mut url = url::Url::parse(&fresh_postgres_database(&server)).unwrap();
        url.set_query(Some("sslmode=require"));
        Some(Location::Postgres(PostgresTarget { url: url.to_string(), password: None, ca_file }))
    }

    #[test]
    fn the_password_comes_from_kurier_store_password_or_the_url_and_is_never_shown() {
        let Some(server) = test_postgres_url() else { return };
        // tests/postgres.sh asks this user, and only this one, for a password.
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let password = format!("haslo-{}", hex::encode(bytes));
        let mut url = url::Url::parse(&fresh_postgres_database(&server)).unwrap();
        let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!(
                "DO $$ BEGIN CREATE ROLE kurier_password LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
                 ALTER ROLE kurier_password PASSWORD '{password}';
                 ALTER DATABASE {} OWNER TO kurier_password;",
                url.path().trim_start_matches('/')
            ))
            .unwrap();
        url.set_username("kurier_password").unwrap();
        let at = |url: &url::Url, password: Option<&str>| {
            Location::Postgres(PostgresTarget {
                url: url.to_string(),
                password: password.map(|p| Secret::new(p.to_owned())),
                ca_file: None,
            })
        };
        // KURIER_STORE_PASSWORD (the target's password), then the URL's.
        at(&url, Some(&password)).open().unwrap().secret().unwrap();
        let mut with_password = url.clone();
        with_password.set_password(Some(&password)).unwrap();
        at(&with_password, None).open().unwrap();
        // None, or a wrong one: refused, and the message shows no password.
        let err = at(&url, None).open().err().unwrap().to_string();
        assert!(err.contains("password"), "{err}");
        let mut wrong = url.clone();
        wrong.set_password(Some("zle-haslo-z-url")).unwrap();
        let err = at(&wrong, Some("zle-haslo-ze-zmiennej")).open().err().unwrap().to_string();
        assert!(err.contains("password authentication failed"), "{err}");
        assert!(!err.contains("zle-haslo") && err.starts_with(&format!("{url}: ")), "{err}");
    }

    #[test]
    fn tls_to_postgres_trusts_the_ca_file_and_checks_the_certificate() {
        let Some(ca) = std::env::var_os("KURIER_TEST_POSTGRES_CA") else {
            let _ = test_postgres_url(); // a failure under tests/run.sh, which sets both
            return eprintln!("skipped: KURIER_TEST_POSTGRES_CA is unset");
        };
        let Some(trusting) = over_tls(Some(PathBuf::from(&ca))) else { return };
        let store = trusting.open().unwrap();
        let encrypted: bool =
            store.db.query_value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", params![]).unwrap();
        assert!(encrypted, "the connection uses TLS");

        // The system's roots do not know the test authority: refused, not sent in clear.
        let err = over_tls(None).unwrap().open().err().unwrap().to_string();
        assert!(err.contains("cannot connect") && err.to_lowercase().contains("certificate"), "{err}");
        // A file that is no certificate is named.
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate\n").unwrap();
        let err = over_tls(Some(bad)).unwrap().open().err().unwrap().to_string();
        assert!(err.contains("ca_file") && err.contains("no certificate"), "{err}");
    }

    #[test]
    fn a_postgres_url_is_shown_without_its_password() {
        let shown =
            display_url("postgres://kurier:tajne-haslo@db.example.org:5433/lista?sslmode=require&password=drugie");
        assert_eq!(shown, "postgres://kurier@db.example.org:5433/lista?sslmode=require");
        let target = PostgresTarget {
            url: "postgres://kurier:tajne-haslo@db.example.org/lista".into(),
            password: Some(Secret::new("ze-zmiennej".into())),
            ca_file: None,
        };
        let debug = format!("{:?}", Location::Postgres(target));
        assert!(!debug.contains("tajne-haslo") && !debug.contains("ze-zmiennej"), "{debug}");
    }
}
