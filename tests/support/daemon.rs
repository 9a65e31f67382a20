//! `kurier run` as a real process: started on a free port, talked to over HTTP, stopped with a
//! signal.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::TempSite;

/// The token secret the daemon tests run with (`KURIER_SECRET`).
pub const SECRET: &str = "test-secret-do-not-use";

/// The digest fixture listening on a free port, with `active` active subscribers
/// (`reader001@example.org`, "Czytelnik 1", …).
pub fn site(active: usize) -> TempSite {
    let site = TempSite::fixture("digest");
    let config = site.read("kurier.toml");
    site.write("kurier.toml", &format!("{config}\n[http]\nlisten = \"127.0.0.1:0\"\n"));
    if active > 0 {
        let rows: Vec<String> =
            (1..=active).map(|i| format!("reader{i:03}@example.org,Czytelnik {i},active")).collect();
        site.write("list.csv", &format!("email,name,status\n{}\n", rows.join("\n")));
        site.kurier(&["subscribers", "import", site.path("list.csv").to_str().unwrap()]).expect_code(0);
    }
    site
}

pub struct Daemon {
    child: Option<Child>,
    pub base: String,
    logs: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

/// How a daemon is started: the test's defaults unless a test says otherwise.
#[derive(Debug, Default, Clone, Copy)]
struct Launch {
    /// `RLIMIT_NOFILE`.
    descriptors: Option<u64>,
    /// A session of its own (`setsid`) instead of the test's.
    own_session: bool,
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Daemon {
    /// Starts `kurier run` on the site; its `http.listen` must be `127.0.0.1:0`. Logs at
    /// `info` unless `env` sets `RUST_LOG`.
    pub fn start(site: &TempSite, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(site, env, Launch::default())
    }

    /// [`Daemon::start`] with at most `descriptors` open files (`RLIMIT_NOFILE`).
    pub fn start_limited(site: &TempSite, env: &[(&str, &str)], descriptors: u64) -> Daemon {
        Daemon::start_with(site, env, Launch { descriptors: Some(descriptors), ..Launch::default() })
    }

    /// [`Daemon::start`] as the leader of a session of its own, as systemd starts a service.
    pub fn start_in_own_session(site: &TempSite, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(site, env, Launch { own_session: true, ..Launch::default() })
    }

    fn start_with(site: &TempSite, env: &[(&str, &str)], launch: Launch) -> Daemon {
        let mut env: Vec<(&str, &str)> = env.to_vec();
        if !env.iter().any(|(key, _)| *key == "RUST_LOG") {
            env.push(("RUST_LOG", "info"));
        }
        let mut command = site.command_for(&["run"], &env);
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit and setsid are async-signal-safe; they only touch the child itself.
        unsafe {
            command.pre_exec(move || {
                if let Some(n) = launch.descriptors {
                    let limit = libc::rlimit { rlim_cur: n, rlim_max: n };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if launch.own_session && libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("kurier run starts");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        std::thread::spawn(move || {
            let mut rest = Vec::new();
            let _ = stdout.read_to_end(&mut rest);
        });
        let base = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("kurier run said {first:?}; logs:\n{}", logs.lock().unwrap()))
            .trim_end_matches('/')
            .to_owned();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Daemon { child: Some(child), base, logs, agent }
    }

    /// The process id, for signals and resource limits.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until the logs contain `needle` `times` times; says whether they did.
    pub fn wait_for_log(&self, needle: &str, times: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs().matches(needle).count() >= times {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None)
    }

    pub fn post(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.request("POST", path, &[("Content-Type", content_type)], Some(body.as_bytes()))
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder.body(body.map(<[u8]>::to_vec).unwrap_or_default()).unwrap();
        let mut response = self
            .agent
            .run(request)
            .unwrap_or_else(|e| panic!("{method} {url}: {e}; the daemon's log:\n{}", self.logs()));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = response.body_mut().with_config().limit(50 * 1024 * 1024).read_to_vec().unwrap_or_default();
        Reply { status, headers, body }
    }

    /// POSTs from the loopback address `client` (any of 127.0.0.0/8, so that tests can be
    /// many clients to the per-client rate limit) on a new connection; returns the status and
    /// the body of the answer.
    pub fn post_from(&self, client: Ipv4Addr, path: &str, content_type: &str, body: &str) -> (u16, String) {
        let server: SocketAddr = self.base.trim_start_matches("http://").parse().expect("base is http://IP:PORT");
        // std cannot bind a socket before connecting it; tokio can, and hands the stream over.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
        let stream = runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(client.into(), 0)).unwrap();
            socket.connect(server).await.unwrap_or_else(|e| panic!("connect from {client}: {e}"))
        });
        let mut stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {server}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status =
            answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("answer {answer:?}"));
        let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// A sample of `/metrics`, e.g. `kurier_builds_total` or `kurier_subscribers{status="active"}`.
    pub fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics").text();
        text.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Polls `path` until its body contains `needle`; returns that reply, or `None` when
    /// `timeout` passed first.
    pub fn wait_for_body(&self, path: &str, needle: &str, timeout: Duration) -> Option<Reply> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let reply = self.get(path);
            if reply.text().contains(needle) {
                return Some(reply);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Sends SIGTERM and waits (at most `timeout`) for the process to exit.
    pub fn terminate(self, timeout: Duration) -> ExitStatus {
        self.signal("-TERM", timeout)
    }

    /// Sends a signal (`-TERM`, `-INT`) and waits (at most `timeout`) for the process to exit.
    pub fn signal(mut self, signal: &str, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("kurier run did not exit within {timeout:?} of SIGTERM; logs:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
