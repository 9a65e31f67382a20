//! SMTP connections kurier opens itself, one per delivery worker, kept open for the whole run.
//!
//! lettre speaks the protocol (`AsyncSmtpConnection`: EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA);
//! this file opens the socket. lettre 0.11 leaves Nagle's algorithm on, and since it writes the
//! end-of-data `.` line separately from the body, every message waits for the server's delayed
//! ACK — 40 ms on Linux (lettre PR #1159). Measured here: 90 messages/s over four connections
//! into aiosmtpd, against 1,180 for Python's smtplib. So the socket is opened here with
//! `TCP_NODELAY` and handed to lettre with `connect_with_transport`.
//!
//! lettre also flushes after every write, and writes a message and its end-of-data line in two
//! writes: two segments and two wake-ups of the server per message. The socket is therefore
//! wrapped in [`WritesBeforeReads`], which keeps what lettre writes until lettre next reads —
//! SMTP without PIPELINING always reads the reply of what it wrote — and sends it then in one
//! write.
//!
//! The URL syntax is lettre's: `smtp://host[:25]`, `smtp://host[:587]?tls=required` (or
//! `opportunistic`) for STARTTLS, `smtps://host[:465]` for implicit TLS; `user:password@` for
//! AUTH (the password from `KURIER_SMTP_PASSWORD`); a path names the EHLO host.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{CaFileError, UrlError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain SMTP (`smtp://`).
    None,
    /// STARTTLS when the server offers it (`?tls=opportunistic`).
    Opportunistic,
    /// STARTTLS or fail (`?tls=required`).
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    /// Certificate authorities trusted besides the web's (from `smtp.ca_file`).
    extra_roots: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("auth", &self.credentials.is_some())
            .finish()
    }
}

impl Target {
    /// Parses a lettre connection URL; `password` (from the environment) overrides the URL's.
    pub fn from_url(url: &str, password: Option<&str>) -> Result<Target, UrlError> {
        let parsed = url::Url::parse(url)?;
        let host = parsed.host_str().ok_or(UrlError::NoHost)?.trim_matches(['[', ']']).to_owned();
        let tls = parsed.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
        let (security, default_port) = match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::None, 25),
            ("smtp", Some("required")) => (Security::Required, 587),
            ("smtp", Some("opportunistic")) => (Security::Opportunistic, 587),
            ("smtps", _) => (Security::Implicit, 465),
            (scheme, tls) => {
                return Err(UrlError::Scheme { scheme: scheme.to_owned(), tls: tls.unwrap_or_default().to_owned() });
            }
        };
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let password = password.map(str::to_owned).or_else(|| parsed.password().map(decode));
        let credentials = password.map(|p| Credentials::new(decode(parsed.username()), p));
        let hello = match parsed.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        Ok(Target {
            host,
            port: parsed.port().unwrap_or(default_port),
            security,
            credentials,
            hello,
            extra_roots: vec![],
        })
    }

    /// Whether the EHLO name is lettre's default (the machine's host name): no name was given in
    /// the URL.
    pub fn has_default_hello(&self) -> bool {
        self.hello == ClientId::default()
    }

    /// The name given in EHLO.
    pub fn set_hello(&mut self, name: &str) {
        self.hello = ClientId::Domain(name.to_owned());
    }

    /// Trusts the certificate authorities of a PEM file as well as the web's.
    pub fn trust_pem(&mut self, pem: &[u8]) -> Result<(), CaFileError> {
        let certificates = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>()?;
        if certificates.is_empty() {
            return Err(CaFileError::Empty);
        }
        self.extra_roots.extend(certificates);
        Ok(())
    }

    fn tls_parameters(&self) -> Result<TlsParameters, lettre::transport::smtp::Error> {
        let mut builder = TlsParameters::builder(self.host.clone());
        for der in &self.extra_roots {
            builder = builder.add_root_certificate(Certificate::from_der(der.to_vec())?);
        }
        builder.build()
    }

    /// Opens a connection: TCP with `TCP_NODELAY`, TLS as configured, EHLO, AUTH.
    pub async fn connect(&self, timeout: Duration) -> Result<AsyncSmtpConnection, SmtpError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((self.host.as_str(), self.port)))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"))
            .and_then(|r| r)
            .map_err(connection_error)?;
        tcp.set_nodelay(true).map_err(connection_error)?;
        let stream: Box<dyn AsyncTokioStream> = match self.security {
            Security::Implicit => {
                Box::new(TlsStream(implicit_tls(&self.host, &self.extra_roots, tcp).await.map_err(connection_error)?))
            }
            _ => Box::new(WritesBeforeReads::new(tcp)),
        };
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await.map_err(SmtpError::Smtp)?;
        match self.security {
            Security::Required | Security::Opportunistic if connection.can_starttls() => {
                let tls = self.tls_parameters().map_err(SmtpError::Smtp)?;
                connection.starttls(tls, &self.hello).await.map_err(SmtpError::Smtp)?;
            }
            Security::Required => {
                connection.abort().await;
                return Err(connection_error(std::io::Error::other(
                    "the server does not offer STARTTLS and smtp.url says tls=required",
                )));
            }
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            connection.auth(&[Mechanism::Plain, Mechanism::Login], credentials).await.map_err(SmtpError::Smtp)?;
        }
        Ok(connection)
    }
}

/// What went wrong talking to the server.
#[derive(Debug)]
pub enum SmtpError {
    /// Opening the socket or the TLS session failed: transient.
    Connect(std::io::Error),
    /// The recipient's local part is not ASCII and the server does not offer SMTPUTF8 (RFC
    /// 6531): this server can never take it, so permanent.
    NoSmtpUtf8,
    /// lettre's error: a reply of the server or a protocol failure.
    Smtp(lettre::transport::smtp::Error),
}

impl SmtpError {
    /// Whether a permanent failure is about the recipient's address — and so a bounce of that
    /// subscriber — rather than about kurier's own session or message: failed authentication
    /// (530, 535, 538; RFC 4954 and enhanced 5.7.0, 5.7.8, 5.7.9), a command the server refused
    /// as such (500–504, enhanced 5.5.x; RFC 5321 §4.2.2, RFC 3463 §3.6), a message too large
    /// for the system (5.3.4, 5.2.3). Those fail every recipient alike, and must not mark a whole
    /// list bounced because a password is wrong.
    pub fn is_about_recipient(&self) -> bool {
        match self {
            SmtpError::NoSmtpUtf8 => true,
            SmtpError::Connect(_) => false,
            SmtpError::Smtp(e) => {
                let code = e.status().map(|c| c.to_string());
                let session = ["500", "501", "502", "503", "504", "530", "535", "538"];
                if code.as_deref().is_some_and(|c| session.contains(&c)) {
                    return false;
                }
                let text = e.to_string();
                let enhanced = text
                    .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .find(|w| w.starts_with("5.") && w.matches('.').count() == 2);
                !enhanced.is_some_and(|code| {
                    code.starts_with("5.5.") || ["5.7.0", "5.7.8", "5.7.9", "5.3.4", "5.2.3"].contains(&code)
                })
            }
        }
    }

    /// A 5xx reply (RFC 5321 §4.2.1): retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SmtpError::NoSmtpUtf8) || matches!(self, SmtpError::Smtp(e) if e.is_permanent())
    }
}

impl fmt::Display for SmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmtpError::Connect(e) => write!(f, "cannot connect: {e}"),
            SmtpError::NoSmtpUtf8 => f.write_str(
                "the address has non-ASCII characters before the @ and the server does not offer SMTPUTF8 \
                 (RFC 6531): it cannot be delivered through this server",
            ),
            SmtpError::Smtp(e) => f.write_str(&crate::errors::each_cause_once(e)),
        }
    }
}

fn connection_error(e: std::io::Error) -> SmtpError {
    SmtpError::Connect(e)
}

async fn implicit_tls(
    host: &str,
    extra_roots: &[CertificateDer<'static>],
    tcp: TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for certificate in extra_roots {
        roots.add(certificate.clone()).map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(std::io::Error::other)?;
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await
}

/// A TLS stream lettre can drive (it asks every stream for its peer address).
#[derive(Debug)]
struct TlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A socket whose writes wait for the next read (or shutdown) and go out in one write then.
/// `flush` does not send: lettre flushes after every command and every part of a message, and
/// always reads the server's reply next.
#[derive(Debug)]
struct WritesBeforeReads {
    tcp: TcpStream,
    pending: Vec<u8>,
    /// How much of `pending` is written.
    written: usize,
}

impl WritesBeforeReads {
    fn new(tcp: TcpStream) -> WritesBeforeReads {
        WritesBeforeReads { tcp, pending: Vec::new(), written: 0 }
    }

    /// Writes what is pending, as far as the socket takes it.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.pending.len() {
            match Pin::new(&mut self.tcp).poll_write(cx, &self.pending[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncTokioStream for WritesBeforeReads {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.tcp.peer_addr()
    }
}

impl AsyncRead for WritesBeforeReads {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.tcp).poll_read(cx, buf),
            other => other,
        }
    }
}

impl AsyncWrite for WritesBeforeReads {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.tcp).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn held_writes_go_out_in_order_before_a_read_and_before_a_shutdown() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // The server answers once it has a whole line, then reads to the end.
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            while !got.ends_with(b"\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            socket.write_all(b"250 ok\r\n").await.unwrap();
            socket.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut stream = WritesBeforeReads::new(TcpStream::connect(address).await.unwrap());
        for part in [&b"MAIL FROM:<a@example.org>"[..], b"\r", b"\n"] {
            stream.write_all(part).await.unwrap();
            stream.flush().await.unwrap();
        }
        let mut reply = [0u8; 8];
        stream.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"250 ok\r\n");
        stream.write_all(b"QUIT\r\n").await.unwrap();
        stream.shutdown().await.unwrap();
        assert_eq!(server.await.unwrap(), b"MAIL FROM:<a@example.org>\r\nQUIT\r\n");
    }

    #[test]
    fn reads_lettre_connection_urls() {
        let t = Target::from_url("smtp://127.0.0.1:2525", None).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.security), ("127.0.0.1", 2525, Security::None));
        let t = Target::from_url("smtp://mail.example.org?tls=required", Some("pw")).unwrap();
        assert_eq!((t.port, t.security, t.credentials.is_some()), (587, Security::Required, true));
        let t = Target::from_url("smtps://user%40x:p%20w@mail.example.org", None).unwrap();
        assert_eq!((t.port, t.security), (465, Security::Implicit));
        assert_eq!(t.credentials, Some(Credentials::new("user@x".into(), "p w".into())));
        assert!(Target::from_url("http://mail.example.org", None).unwrap_err().to_string().contains("unknown scheme"));
        assert!(!format!("{t:?}").contains("p w"));
    }

    /// An error whose `source()` is `source`; like lettre's, its `Display` may quote it.
    #[derive(Debug)]
    struct Failure {
        text: &'static str,
        quotes: bool,
        source: std::io::Error,
    }

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.quotes {
                true => write!(f, "{}: {}", self.text, self.source),
                false => f.write_str(self.text),
            }
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn an_error_that_quotes_its_source_says_it_once() {
        let reply = || std::io::Error::other("5.1.1 no such user");
        let quoting = Failure { text: "permanent error (550)", quotes: true, source: reply() };
        use crate::errors::each_cause_once;
        assert_eq!(each_cause_once(&quoting), "permanent error (550): 5.1.1 no such user");
        let silent = Failure { text: "network error", quotes: false, source: reply() };
        assert_eq!(each_cause_once(&silent), "network error: 5.1.1 no such user");
    }
}
