//! A real SMTP server for the tests: `tests/smtp_sink.py` (aiosmtpd) on a free loopback port,
//! with rules for 4xx/5xx replies and stalls, and the messages it accepted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sink; stopped when dropped.
pub struct Sink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    rules: PathBuf,
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: Vec<u8>,
    pub rcpt_tos: Vec<String>,
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The name the client gave in EHLO.
    pub helo: String,
    /// When the message was complete, in seconds on the sink's monotonic clock (differences
    /// only).
    pub arrived: f64,
}

/// One RCPT attempt at the sink.
#[derive(Debug, Clone)]
pub struct Rcpt {
    pub address: String,
    /// The sink's reply code, or `stall`.
    pub code: String,
    /// When it came, in seconds on the sink's monotonic clock (differences only).
    pub at: f64,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.raw).expect("mail-parser reads the message")
    }

    /// The only recipient of the message.
    pub fn recipient(&self) -> &str {
        assert_eq!(self.rcpt_tos.len(), 1, "{:?}", self.rcpt_tos);
        &self.rcpt_tos[0]
    }
}

/// Now on the sink's clock (`time.monotonic()` in Python: Linux's `CLOCK_MONOTONIC`), to compare
/// with the times it stamps.
pub fn sink_clock() -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

impl Sink {
    pub fn start() -> Sink {
        Sink::start_with(&[])
    }

    /// A sink that does not offer SMTPUTF8 (RFC 6531).
    pub fn without_smtputf8() -> Sink {
        Sink::start_with(&["--no-smtputf8"])
    }

    /// A sink that requires AUTH with `user:password`.
    pub fn with_auth(credentials: &str) -> Sink {
        Sink::start_with(&["--auth", credentials])
    }

    /// A sink speaking TLS (`starttls` or `implicit`) with the test certificate of
    /// `tests/fixtures/tls` (for `localhost` and 127.0.0.1, signed by `ca.pem` there).
    pub fn with_tls(mode: &str) -> Sink {
        let dir = super::repo().join("tests/fixtures/tls");
        let cert = dir.join("server.pem");
        let key = dir.join("server.key");
        Sink::start_with(&["--tls", mode, "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()])
    }

    fn start_with(extra: &[&str]) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.json");
        let mut child = Command::new(super::python())
            .arg(super::repo().join("tests/smtp_sink.py"))
            .arg("--dir")
            .arg(dir.path().join("mail"))
            .arg("--rules")
            .arg(&rules)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the SMTP sink starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the sink said {line:?}"));
        Sink { child, port, dir, rules }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Replaces the sink's rules (read again on every RCPT and DATA).
    pub fn set_rules(&self, rules: serde_json::Value) {
        let temp = self.dir.path().join(".rules.json");
        std::fs::write(&temp, rules.to_string()).unwrap();
        std::fs::rename(temp, &self.rules).unwrap();
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.mail_dir())
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        names.sort();
        names.iter().map(|eml| read_message(eml)).collect()
    }

    pub fn count(&self) -> usize {
        std::fs::read_dir(self.mail_dir())
            .map(|entries| {
                entries.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "eml")).count()
            })
            .unwrap_or(0)
    }

    /// Waits until at least `n` messages arrived; says whether they did within `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Every RCPT attempt: (address, the sink's reply code or `stall`).
    pub fn rcpt_log(&self) -> Vec<(String, String)> {
        self.rcpts().into_iter().map(|r| (r.address, r.code)).collect()
    }

    /// Every RCPT attempt, in order, with when it came.
    pub fn rcpts(&self) -> Vec<Rcpt> {
        std::fs::read_to_string(self.mail_dir().join("rcpt.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let [address, code, at] = fields[..] else { panic!("rcpt.log line {line:?}") };
                Rcpt { address: address.to_owned(), code: code.to_owned(), at: at.parse().unwrap() }
            })
            .collect()
    }

    /// Waits until no SMTP session is open at the sink (its clients have gone and their last
    /// commands are handled: nothing more can arrive from them); says whether that happened
    /// within `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if std::fs::read_to_string(self.mail_dir().join("sessions")).is_ok_and(|s| s.trim() == "open 0") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

fn read_message(eml: &Path) -> Received {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(eml.with_extension("json")).unwrap()).unwrap();
    Received {
        raw: std::fs::read(eml).unwrap(),
        rcpt_tos: json["rcpt_tos"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
        mail_from: json["mail_from"].as_str().unwrap_or_default().to_owned(),
        helo: json["helo"].as_str().unwrap_or_default().to_owned(),
        arrived: json["arrived"].as_f64().expect("the sink records when a message arrived"),
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
