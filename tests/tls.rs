//! TLS in the process (`[tls]`), on both backends, with rustls as the client and a
//! certificate made for the test: `https://` requests, `wss://` rooms, SockJS polling
//! moved between two shards with its TLS state, a plaintext client refused without
//! harm to others, and certificate reload (what SIGHUP does).

mod common;

use common::{client_frame, parse_server_frame};
use ringcast::{BackendChoice, Counter, Server};
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A fresh self-signed certificate for `localhost`, written to a test directory.
struct Cert {
    dir: PathBuf,
    der: CertificateDer<'static>,
}

impl Cert {
    fn new(name: &str) -> Cert {
        let dir = std::env::temp_dir().join(format!("ringcast-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = Cert { dir, der: CertificateDer::from(Vec::new()) };
        cert.renew()
    }

    /// Replace the files with a new certificate and key.
    fn renew(mut self) -> Cert {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(self.dir.join("cert.pem"), made.cert.pem()).unwrap();
        std::fs::write(self.dir.join("key.pem"), made.key_pair.serialize_pem()).unwrap();
        self.der = made.cert.der().clone();
        self
    }

    fn toml(&self) -> String {
        format!(
            "[tls]\ncert_file = '{}'\nkey_file = '{}'\n",
            self.dir.join("cert.pem").display(),
            self.dir.join("key.pem").display()
        )
    }
}

/// A TLS client that trusts only `cert`.
fn connect(addr: SocketAddr, cert: &CertificateDer<'static>) -> TlsStream {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// One request with `Connection: close` over TLS; the whole response.
fn https(addr: SocketAddr, cert: &CertificateDer<'static>, request: &str) -> std::io::Result<String> {
    let mut s = connect(addr, cert);
    s.write_all(request.as_bytes())?;
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        // A peer that closes without close_notify ends the response just the same.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn get(addr: SocketAddr, cert: &CertificateDer<'static>, path: &str) -> String {
    https(addr, cert, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
        .unwrap()
}

fn post(addr: SocketAddr, cert: &CertificateDer<'static>, path: &str, body: &str) -> String {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    https(addr, cert, &req).unwrap()
}

fn start(b: BackendChoice, shards: usize, cert: &Cert) -> Server {
    let config = common::config_with_services(b, shards, &cert.toml(), common::TEST_SERVICES);
    Server::start(config).expect("server starts with TLS")
}

/// A WebSocket over TLS: upgrade, then frames.
struct Wss {
    s: TlsStream,
    buf: Vec<u8>,
}

impl Wss {
    fn open(addr: SocketAddr, cert: &CertificateDer<'static>, path: &str) -> Wss {
        let mut s = connect(addr, cert);
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut w = Wss { s, buf: Vec::new() };
        let head_end = loop {
            if let Some(i) = w.buf.windows(4).position(|x| x == b"\r\n\r\n") {
                break i + 4;
            }
            w.fill();
        };
        assert!(w.buf.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&w.buf));
        w.buf.drain(..head_end);
        w
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 16384];
        let n = self.s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn send_text(&mut self, text: &str) {
        self.s.write_all(&client_frame(true, 1, text.as_bytes())).unwrap();
    }

    fn recv_text(&mut self) -> String {
        loop {
            if let Some((f, n)) = parse_server_frame(&self.buf) {
                self.buf.drain(..n);
                return f.text();
            }
            self.fill();
        }
    }
}

fn https_and_wss_rooms(b: BackendChoice) {
    let cert = Cert::new(&format!("rooms-{b:?}"));
    let server = start(b, 2, &cert);
    let addr = server.local_addr();
    assert!(get(addr, &cert.der, "/healthz").starts_with("HTTP/1.1 200"));
    let mut members: Vec<Wss> = (0..4).map(|_| Wss::open(addr, &cert.der, "/rooms/websocket")).collect();
    for m in &mut members {
        m.send_text("sub,prices");
    }
    assert!(common::eventually(Duration::from_secs(5), || server.metric(Counter::Subscriptions) == 4));
    for i in 0..50 {
        assert!(post(addr, &cert.der, "/publish/prices", &format!("tick {i}")).starts_with("HTTP/1.1 204"));
    }
    members[0].send_text("msg,prices,from a member");
    for m in &mut members {
        for i in 0..50 {
            assert_eq!(m.recv_text(), format!("msg,prices,tick {i}"));
        }
        assert_eq!(m.recv_text(), "msg,prices,from a member");
    }
}
both_backends!(https_and_wss_rooms);

/// SockJS polling over TLS with two shards: requests of one session land on either
/// shard and move to its owner with their TLS state.
fn sockjs_polling_moves_between_shards_with_its_tls_state(b: BackendChoice) {
    let cert = Cert::new(&format!("sockjs-{b:?}"));
    let config = common::config_with_services(b, 2, &cert.toml(), common::SOCKJS_SERVICES);
    let server = Server::start(config).unwrap();
    let addr = server.local_addr();
    for session in 0..8 {
        // Eight sessions: their owners spread over both shards, and so do the requests.
        let base = format!("/echo/000/s{session}");
        let opened = post(addr, &cert.der, &format!("{base}/xhr"), "");
        assert!(opened.starts_with("HTTP/1.1 200") && opened.contains("\r\no\n\r\n"), "{opened}");
        let sent = post(addr, &cert.der, &format!("{base}/xhr_send"), r#"["hello over tls"]"#);
        assert!(sent.starts_with("HTTP/1.1 204"), "{sent}");
        let polled = post(addr, &cert.der, &format!("{base}/xhr"), "");
        assert!(polled.contains("a[\"hello over tls\"]\n"), "{polled}");
    }
    assert!(common::eventually(Duration::from_secs(2), || server.metric(Counter::SockjsMigrations) > 0));
}
both_backends!(sockjs_polling_moves_between_shards_with_its_tls_state);

/// A client speaking plain HTTP to the TLS listener is closed and counted; TLS clients
/// are served meanwhile.
fn plaintext_client_is_refused_without_harm(b: BackendChoice) {
    let cert = Cert::new(&format!("plain-{b:?}"));
    let server = start(b, 1, &cert);
    let addr = server.local_addr();
    let mut member = Wss::open(addr, &cert.der, "/rooms/websocket");
    member.send_text("sub,t");
    let reply = common::http_raw(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(!reply.contains("200 OK"), "plaintext was answered: {reply}");
    assert!(common::eventually(Duration::from_secs(5), || server.metric(Counter::TlsErrors) == 1));
    member.send_text("msg,t,still here");
    assert_eq!(member.recv_text(), "msg,t,still here");
}
both_backends!(plaintext_client_is_refused_without_harm);

/// Reloading the files (SIGHUP) gives new connections the new certificate; a client
/// that trusts only the old one is refused from then on.
fn certificate_reload(b: BackendChoice) {
    let cert = Cert::new(&format!("reload-{b:?}"));
    let server = start(b, 1, &cert);
    let addr = server.local_addr();
    let old = cert.der.clone();
    assert!(get(addr, &old, "/healthz").starts_with("HTTP/1.1 200"));
    let cert = cert.renew();
    assert!(server.reload_tls().unwrap());
    assert!(get(addr, &cert.der, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(https(addr, &old, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").is_err());
    // A broken file keeps the current certificate.
    std::fs::write(cert.dir.join("key.pem"), "not a key").unwrap();
    assert!(server.reload_tls().is_err());
    assert!(get(addr, &cert.der, "/healthz").starts_with("HTTP/1.1 200"));
}
both_backends!(certificate_reload);

#[test]
fn missing_certificate_file_is_a_start_error() {
    let config = ringcast::Config::from_toml(
        "listen = '127.0.0.1:0'\n[tls]\ncert_file = '/nonexistent/cert.pem'\nkey_file = '/nonexistent/key.pem'\n",
    )
    .unwrap();
    let err = Server::start(config).err().expect("start fails").to_string();
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}
