//! Shared helpers for the black-box tests: start a server on port 0 with a chosen
//! backend, a raw WebSocket client that can also send malformed bytes, and the
//! `both_backends!` macro that runs each test on io_uring and on epoll; `proxy` is a
//! fault-injecting TCP proxy (delay, throttle, stall, half-close, reset, drop).
#![allow(dead_code)]

pub mod proxy;

use ringcast::config::Config;
use ringcast::BackendChoice;
use ringcast::Server;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Default per-read timeout: a hung server fails the test instead of hanging CI.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Generate `mod $name { fn uring(); fn epoll(); }` calling the function `$name(backend)`
/// (modules and functions live in different namespaces, so the names can match).
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[test]
            fn uring() {
                super::$name(ringcast::BackendChoice::Uring)
            }
            #[test]
            fn epoll() {
                super::$name(ringcast::BackendChoice::Epoll)
            }
        }
    };
}

/// Services every test server has.
pub const TEST_SERVICES: &str = r#"
[[service]]
prefix = "/rooms"
protocol = "rooms"
topic_space = "public"
[[service]]
prefix = "/colors"
protocol = "rooms"
rooms = ["red", "blue"]
[[service]]
prefix = "/multiplex"
protocol = "multiplex_example"
[[service]]
prefix = "/echo"
protocol = "echo"
[[service]]
prefix = "/close"
protocol = "close"
[[service]]
prefix = "/off"
protocol = "echo"
websocket = false
"#;

/// The services of the SockJS protocol test suite (spec `sockjs.md` §12, as in
/// `examples/sockjs-protocol.toml`) plus `/rooms` (rooms with any name, spec `multiplex.md` §5.1).
pub const SOCKJS_SERVICES: &str = r#"
[[service]]
prefix = "/echo"
protocol = "echo"
response_limit_bytes = 4096
[[service]]
prefix = "/close"
protocol = "close"
[[service]]
prefix = "/disabled_websocket_echo"
protocol = "echo"
websocket = false
[[service]]
prefix = "/cookie_needed_echo"
protocol = "echo"
cookie_needed = true
[[service]]
prefix = "/rooms"
protocol = "rooms"
"#;

/// A test config: port 0, no pinning, the test services, `extra` TOML appended
/// (e.g. a `[limits]` table).
pub fn config(backend: BackendChoice, shards: usize, extra: &str) -> Config {
    config_with_services(backend, shards, extra, TEST_SERVICES)
}

/// A test config with `services` (TOML `[[service]]` tables) instead of [`TEST_SERVICES`];
/// `extra` comes first, so it may hold top-level tables and more `[[service]]`s.
pub fn config_with_services(backend: BackendChoice, shards: usize, extra: &str, services: &str) -> Config {
    let b = match backend {
        BackendChoice::Uring => "uring",
        BackendChoice::Epoll => "epoll",
        BackendChoice::Auto => "auto",
    };
    let text = format!(
        "listen = '127.0.0.1:0'\nshards = {shards}\nbackend = '{b}'\npin_shards = false\n{extra}\n{services}"
    );
    Config::from_toml(&text).expect("test config")
}

pub fn start(backend: BackendChoice, shards: usize) -> Server {
    start_with(backend, shards, "")
}

pub fn start_with(backend: BackendChoice, shards: usize, extra: &str) -> Server {
    start_config(backend, config(backend, shards, extra))
}

/// A server with the SockJS suite's services ([`SOCKJS_SERVICES`]); `extra` may add
/// `[limits]` or further `[[service]]` tables (e.g. short timers for one test).
pub fn start_sockjs(backend: BackendChoice, shards: usize, extra: &str) -> Server {
    start_config(backend, config_with_services(backend, shards, extra, SOCKJS_SERVICES))
}

fn start_config(backend: BackendChoice, config: Config) -> Server {
    init_test_logging();
    let server = Server::start(config).expect("server starts");
    let want = match backend {
        BackendChoice::Uring => ringcast::BackendKind::Uring,
        _ => ringcast::BackendKind::Epoll,
    };
    assert_eq!(server.backend().kind, want);
    server
}

/// `RINGCAST_TEST_LOG=debug cargo test ...` shows the servers' logs.
fn init_test_logging() {
    if let Ok(filter) = std::env::var("RINGCAST_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

/// Poll `cond` every 10 ms until true or `timeout`; returns whether it became true.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Send raw bytes as an HTTP request and read the whole response (until close).
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET path` with `Connection: close`; returns the whole response.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    http_raw(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
}

/// `read`, retried on `EINTR`. Test clients share the process with io_uring shard
/// threads, whose task-work notifications can interrupt a blocking read here.
pub fn read_retrying(stream: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Read once more into `buf`; false at EOF (or reset). Panics on timeout, showing what
/// was unread.
pub fn read_more(stream: &mut impl Read, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 65536];
    match read_retrying(stream, &mut chunk) {
        Ok(0) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            panic!("timed out waiting for the server; unread: {:?}", String::from_utf8_lossy(buf))
        }
        Err(_) => false,
    }
}

/// Read and discard until EOF or error (a publisher's copies of its own messages).
pub fn drain_thread(stream: &std::net::TcpStream) -> std::thread::JoinHandle<()> {
    let mut s = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut sink = vec![0u8; 65536];
        while matches!(read_retrying(&mut s, &mut sink), Ok(n) if n > 0) {}
    })
}

/// A frame as the client sees it (server frames are never masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn text(&self) -> String {
        assert_eq!(self.opcode, 1, "expected a text frame, got {self:?}");
        String::from_utf8(self.payload.clone()).unwrap()
    }

    /// Close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, 8, "expected a close frame, got {self:?}");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Parse one unmasked server frame from `buf`: (frame, bytes used) or None if incomplete.
pub fn parse_server_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "server frames must not be masked");
    let (len, mut at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if buf.len() < at + len {
        return None;
    }
    let payload = buf[at..at + len].to_vec();
    at += len;
    Some((Frame { fin: buf[0] & 0x80 != 0, opcode: buf[0] & 0x0f, payload }, at))
}

/// Encode a masked client frame (independent of the server's codec).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A raw blocking WebSocket client.
pub struct WsClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl WsClient {
    /// Connect and complete the handshake on `path`.
    pub fn connect(addr: SocketAddr, path: &str) -> WsClient {
        WsClient::connect_tcp(addr).handshake(path)
    }

    /// A connection whose receive buffer is `bytes`, so that it falls behind quickly
    /// when it stops reading (`handshake` it next).
    pub fn connect_tcp_small_window(addr: SocketAddr, bytes: usize) -> WsClient {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_recv_buffer_size(bytes).unwrap();
        s.connect(&addr.into()).unwrap();
        let stream: TcpStream = s.into();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        WsClient { stream, buf: Vec::new() }
    }

    /// Complete the WebSocket handshake on `path` over this connection.
    pub fn handshake(mut self, path: &str) -> WsClient {
        let c = &mut self;
        let addr = c.stream.peer_addr().unwrap();
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        c.stream.write_all(req.as_bytes()).unwrap();
        let head = c.read_http_head();
        assert!(head.starts_with("HTTP/1.1 101"), "handshake failed: {head}");
        assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        self
    }

    pub fn connect_tcp(addr: SocketAddr) -> WsClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        WsClient { stream, buf: Vec::new() }
    }

    fn read_http_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end + 4]).into_owned();
                self.buf.drain(..end + 4);
                return head;
            }
            let mut chunk = [0u8; 4096];
            let n = read_retrying(&mut self.stream, &mut chunk).expect("read handshake");
            assert!(n > 0, "closed during handshake");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.send_raw(&client_frame(true, 1, text.as_bytes()));
    }

    /// Next frame; panics on timeout or EOF.
    pub fn recv(&mut self) -> Frame {
        self.try_recv().expect("connection closed before a frame arrived")
    }

    /// Next frame, or None on EOF/reset. Panics on timeout.
    pub fn try_recv(&mut self) -> Option<Frame> {
        loop {
            if let Some((f, n)) = parse_server_frame(&self.buf) {
                self.buf.drain(..n);
                return Some(f);
            }
            let mut chunk = [0u8; 65536];
            match read_retrying(&mut self.stream, &mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    panic!("timed out waiting for a frame")
                }
                Err(_) => return None,
            }
        }
    }

    /// Next text frame's content.
    pub fn recv_text(&mut self) -> String {
        self.recv().text()
    }

    /// Assert nothing arrives within `wait`.
    pub fn expect_silence(&mut self, wait: Duration) {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut chunk = [0u8; 1024];
        let got = if self.buf.is_empty() {
            read_retrying(&mut self.stream, &mut chunk).unwrap_or(0)
        } else {
            self.buf.len()
        };
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        assert_eq!(got, 0, "expected silence, got {:?}", String::from_utf8_lossy(&chunk[..got.min(1024)]));
    }

    /// Expect a close frame with `code`, then EOF.
    pub fn expect_close(&mut self, code: u16) {
        let f = loop {
            let f = self.recv();
            if f.opcode != 9 {
                break f; // skip pings
            }
        };
        assert_eq!(f.close_code(), Some(code), "close frame {f:?}");
        self.expect_eof();
    }

    /// Expect the server to end the TCP connection soon.
    pub fn expect_eof(&mut self) {
        loop {
            match self.try_recv() {
                None => return,
                Some(f) if f.opcode == 9 || f.opcode == 8 => continue,
                Some(f) => panic!("expected EOF, got {f:?}"),
            }
        }
    }

    /// Send a close frame and wait for the server's reply and EOF.
    pub fn close(mut self, code: u16) {
        self.send_raw(&client_frame(true, 8, &code.to_be_bytes()));
        self.expect_close(code);
    }
}

/// Many non-blocking WebSocket clients read through one `mio::Poll`: for fan-out tests
/// with thousands of subscribers in one test thread.
pub struct Fleet {
    poll: mio::Poll,
    pub conns: Vec<FleetConn>,
}

pub struct FleetConn {
    pub stream: mio::net::TcpStream,
    buf: Vec<u8>,
    pub eof: bool,
}

impl Fleet {
    /// Open `n` WebSocket connections on `path` and send `first` on each (e.g. `sub,x`).
    pub fn connect(addr: SocketAddr, path: &str, n: usize, first: &str) -> Fleet {
        let poll = mio::Poll::new().unwrap();
        let mut conns = Vec::with_capacity(n);
        for i in 0..n {
            let mut c = WsClient::connect(addr, path);
            c.send_text(first);
            assert!(c.buf.is_empty(), "no data expected before the first message");
            c.stream.set_nonblocking(true).unwrap();
            let mut stream = mio::net::TcpStream::from_std(c.stream);
            poll.registry().register(&mut stream, mio::Token(i), mio::Interest::READABLE).unwrap();
            conns.push(FleetConn { stream, buf: Vec::new(), eof: false });
        }
        Fleet { poll, conns }
    }

    /// Read frames, calling `on_frame(conn index, frame)`, until it returns true
    /// (done) or `timeout` passes. Returns whether it finished.
    pub fn run(&mut self, timeout: Duration, mut on_frame: impl FnMut(usize, Frame) -> bool) -> bool {
        let end = Instant::now() + timeout;
        let mut events = mio::Events::with_capacity(1024);
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            match self.poll.poll(&mut events, Some((end - now).min(Duration::from_millis(100)))) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => other.unwrap(),
            }
            for ev in events.iter() {
                let i = ev.token().0;
                let c = &mut self.conns[i];
                loop {
                    match read_retrying(&mut c.stream, &mut chunk) {
                        Ok(0) => {
                            c.eof = true;
                            break;
                        }
                        Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            c.eof = true;
                            break;
                        }
                    }
                }
                let mut at = 0;
                let mut done = false;
                while let Some((f, n)) = parse_server_frame(&c.buf[at..]) {
                    at += n;
                    done |= on_frame(i, f);
                }
                c.buf.drain(..at);
                if done {
                    return true;
                }
            }
        }
    }
}
