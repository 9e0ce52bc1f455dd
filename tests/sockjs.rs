//! SockJS conformance over loopback, on both backends: one test per item (or small group of
//! closely related items) of the checklist in `shared/spec/sockjs.md` §15, named after the
//! item numbers, plus what the checklist leaves implicit: sessions used from many TCP
//! connections on two shards (requests move to the session's shard), rooms over an HTTP
//! session fed by raw WebSocket members, 5000 abandoned sessions reaped after
//! `disconnect_delay`, bad input that must leave the server working, and aborted streaming
//! receivers (§6.5).
//!
//! Everything is black-box: raw HTTP/1.x bytes and raw WebSocket frames against the test
//! services of spec §12 (`common::start_sockjs`). The small HTTP client below parses
//! response heads, `Content-Length`, chunked and close-delimited bodies, and reads
//! streaming responses frame by frame; every read has a timeout, so a server that does
//! not answer fails the test instead of hanging it.
//!
//! Hixie-76 (§8.3, item 71) is tested on services with `hixie76 = true`, and for the
//! refusal the spec gives where it is off (400 `Only supported WebSocket protocol is RFC
//! 6455.`). Not implemented by ringcast, tested for the answer the spec gives instead: the legacy
//! v0.3.3 mode of §14 (`section_14_current_values_not_legacy`: every row answers with the
//! current value).

mod common;

use common::{parse_server_frame, read_retrying, WsClient, READ_TIMEOUT};
use md5::{Digest, Md5};
use ringcast::BackendChoice;
use ringcast::Counter;
use ringcast::Server;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

// ---- expected values (spec §3, §4.3, §7) ----------------------------------------------

/// §4.3 no-cache.
const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";
/// §4.3 cache-for-a-year.
const CACHE_A_YEAR: &str = "public, max-age=31536000";
const CT_TEXT: &str = "text/plain; charset=UTF-8";
const CT_JS: &str = "application/javascript; charset=UTF-8";
const CT_HTML: &str = "text/html; charset=UTF-8";
const GO_AWAY: &str = "c[3000,\"Go away!\"]";
const ANOTHER_CONNECTION: &str = "c[2010,\"Another connection still open\"]";
/// How long waits for the server's timers may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a connection the server must close may stay open: well below the server's
/// 10 s `handshake_timeout_ms`, which would otherwise close an idle connection too.
const EOF_WAIT: Duration = Duration::from_secs(5);

/// Services with short timers for the timer items (31, 32, 30, 76).
const FAST_TIMERS: &str = r#"
[[service]]
prefix = "/hb_echo"
protocol = "echo"
heartbeat_delay_ms = 1000
[[service]]
prefix = "/dd_echo"
protocol = "echo"
disconnect_delay_ms = 2000
[[service]]
prefix = "/dd_close"
protocol = "close"
disconnect_delay_ms = 1000
"#;

/// §3.2 iframe page with the default `sockjs_url`.
const IFRAME_BODY: &str = r#"<!DOCTYPE html>
<html>
<head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <script src="https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js"></script>
  <script>
    document.domain = document.domain;
    SockJS.bootstrap_iframe();
  </script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>"#;

/// §7.4 htmlfile head text H(cb).
fn htmlfile_head(cb: &str) -> String {
    format!(
        "<!doctype html>\n<html><head>\n  \
<meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
</head><body><h2>Don't panic!</h2>\n  <script>\n    document.domain = document.domain;\n    \
var c = parent.{cb};\n    c.start();\n    function p(d) {{c.message(d);}};\n    \
window.onload = function() {{c.stop();}};\n  </script>"
    )
}

/// A session id no other test uses (no `/` or `.`, spec §2).
fn sid() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("s{}_{nanos:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

// ---- a small HTTP/1.x client ------------------------------------------------------------

/// A request to send; `Host` is added, and `Content-Length` for a body or a POST unless
/// the request sets `Content-Length` or `Transfer-Encoding` itself.
#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    version: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn req(method: &'static str, path: impl Into<String>) -> Req {
    Req { method, path: path.into(), version: "HTTP/1.1", headers: Vec::new(), body: Vec::new() }
}

impl Req {
    fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn body(mut self, body: impl AsRef<[u8]>) -> Req {
        self.body = body.as_ref().to_vec();
        self
    }

    fn http10(mut self) -> Req {
        self.version = "HTTP/1.0";
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} {}\r\nHost: 127.0.0.1\r\n", self.method, self.path, self.version);
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        let framed = self.headers.iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
        });
        if !framed && (!self.body.is_empty() || self.method == "POST") {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// A response's status line and headers.
#[derive(Debug)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn chunked(&self) -> bool {
        self.get("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    }

    /// §4.1 "CORS*": `*`, no Credentials, `Vary: Origin`.
    fn assert_cors_star(&self) {
        assert_eq!(self.get("Access-Control-Allow-Origin"), Some("*"), "{self:?}");
        assert!(!self.has("Access-Control-Allow-Credentials"), "{self:?}");
        assert_eq!(self.get("Vary"), Some("Origin"), "{self:?}");
    }

    /// §4.1 with `Origin: origin`: echoed, with Credentials.
    fn assert_cors_origin(&self, origin: &str) {
        assert_eq!(self.get("Access-Control-Allow-Origin"), Some(origin), "{self:?}");
        assert_eq!(self.get("Access-Control-Allow-Credentials"), Some("true"), "{self:?}");
        assert_eq!(self.get("Vary"), Some("Origin"), "{self:?}");
    }

    /// §4.3 no-cache, never with `Expires`/`Last-Modified`.
    fn assert_no_cache(&self) {
        assert_eq!(self.get("Cache-Control"), Some(NO_CACHE), "{self:?}");
        assert!(!self.has("Expires") && !self.has("Last-Modified"), "{self:?}");
    }

    /// §4.3 cache-for-a-year: `Cache-Control` and `Expires` ≈ now + 1 year.
    fn assert_cached_a_year(&self) {
        assert_eq!(self.get("Cache-Control"), Some(CACHE_A_YEAR), "{self:?}");
        let expires = self.get("Expires").unwrap_or_else(|| panic!("no Expires: {self:?}"));
        let at = httpdate::parse_http_date(expires).expect("Expires is an HTTP-date");
        let ahead = at.duration_since(SystemTime::now()).unwrap_or_default().as_secs();
        assert!(
            (31_536_000 - 3600..=31_536_000 + 5).contains(&ahead),
            "Expires {expires} is {ahead} s ahead"
        );
    }

    fn assert_no_cookie(&self) {
        assert!(!self.has("Set-Cookie"), "{self:?}");
    }
}

/// A complete response.
#[derive(Debug)]
struct Resp {
    head: Head,
    body: Vec<u8>,
}

impl std::ops::Deref for Resp {
    type Target = Head;
    fn deref(&self) -> &Head {
        &self.head
    }
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    /// Status and exact body.
    fn assert(&self, status: u16, body: &str) {
        assert_eq!((self.status, self.text().as_str()), (status, body), "{self:?}");
    }
}

/// One client connection.
struct Http {
    stream: TcpStream,
    /// Bytes read and not consumed yet.
    buf: Vec<u8>,
}

impl Http {
    fn connect(addr: SocketAddr) -> Http {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Http { stream, buf: Vec::new() }
    }

    fn send(&mut self, r: &Req) {
        self.send_raw(&r.bytes());
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send request");
    }

    /// Read once more; false at EOF (or reset). Panics on timeout.
    fn fill(&mut self) -> bool {
        common::read_more(&mut self.stream, &mut self.buf)
    }

    /// Exactly `n` bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill(), "EOF after {} of {n} bytes: {:?}", self.buf.len(), self.lossy());
        }
        self.buf.drain(..n).collect()
    }

    /// One line without its CRLF.
    fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(at) = find(&self.buf, b"\r\n") {
                let line = self.buf.drain(..at + 2).take(at).collect();
                return line;
            }
            assert!(self.fill(), "EOF inside a line: {:?}", self.lossy());
        }
    }

    fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    fn read_head(&mut self) -> Head {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let mut hs = [httparse::EMPTY_HEADER; 64];
                let mut r = httparse::Response::new(&mut hs);
                let parsed = r.parse(&self.buf[..end + 4]);
                assert!(matches!(parsed, Ok(httparse::Status::Complete(_))), "bad head: {:?}", self.lossy());
                let head = Head {
                    status: r.code.unwrap_or(0),
                    headers: r
                        .headers
                        .iter()
                        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect(),
                };
                self.buf.drain(..end + 4);
                return head;
            }
            assert!(self.fill(), "EOF before a response head: {:?}", self.lossy());
        }
    }

    /// The next chunk of a chunked body; None after the last (zero) chunk.
    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        let size_line = String::from_utf8(self.line()).expect("chunk size line");
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
        if size == 0 {
            while !self.line().is_empty() {} // trailers
            return None;
        }
        let data = self.take(size);
        assert_eq!(self.take(2), b"\r\n", "chunk not followed by CRLF");
        Some(data)
    }

    /// The body of a response to `method` with head `head` (RFC 9112 §6.3).
    fn read_body(&mut self, head: &Head, method: &str) -> Vec<u8> {
        if method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304 {
            return Vec::new();
        }
        if head.chunked() {
            let mut body = Vec::new();
            while let Some(c) = self.next_chunk() {
                body.extend_from_slice(&c);
            }
            return body;
        }
        if let Some(n) = head.get("Content-Length") {
            return self.take(n.trim().parse().expect("Content-Length"));
        }
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    fn roundtrip(&mut self, r: &Req) -> Resp {
        self.send(r);
        let head = self.read_head();
        let body = self.read_body(&head, r.method);
        Resp { head, body }
    }

    /// The server ends the connection soon (well before its idle timeouts could), without
    /// sending anything more.
    fn expect_eof(&mut self) {
        assert!(self.buf.is_empty(), "unexpected bytes: {:?}", self.lossy());
        self.stream.set_read_timeout(Some(EOF_WAIT)).unwrap();
        assert!(!self.fill(), "expected EOF, got {:?}", self.lossy());
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request on a fresh connection (dropped after the response).
fn fetch(addr: SocketAddr, r: &Req) -> Resp {
    Http::connect(addr).roundtrip(r)
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    fetch(addr, &req("GET", path))
}

/// An empty POST (a polling request).
fn post(addr: SocketAddr, path: &str) -> Resp {
    fetch(addr, &req("POST", path))
}

/// A send with `Content-Type: text/plain`.
fn send(addr: SocketAddr, path: &str, body: &str) -> Resp {
    fetch(addr, &req("POST", path).header("Content-Type", "text/plain").body(body))
}

/// A streaming response read frame by frame.
struct Stream {
    http: Http,
    head: Head,
    /// Body bytes (chunks decoded) read so far, and how many of them were consumed.
    body: Vec<u8>,
    taken: usize,
}

impl Stream {
    fn open(addr: SocketAddr, r: &Req) -> Stream {
        let mut http = Http::connect(addr);
        http.send(r);
        let head = http.read_head();
        Stream { http, head, body: Vec::new(), taken: 0 }
    }

    /// Read more body; false once the body ended (zero chunk, or EOF without chunking).
    fn pull(&mut self) -> bool {
        if self.head.chunked() {
            match self.http.next_chunk() {
                Some(c) => {
                    self.body.extend_from_slice(&c);
                    true
                }
                None => false,
            }
        } else if self.http.buf.is_empty() && !self.http.fill() {
            false
        } else {
            self.body.append(&mut self.http.buf);
            true
        }
    }

    /// Exactly `n` more body bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.body.len() - self.taken < n {
            assert!(self.pull(), "body ended early: {:?}", self.rest());
        }
        self.taken += n;
        self.body[self.taken - n..self.taken].to_vec()
    }

    /// The next frame: body text up to and including `end`.
    fn until(&mut self, end: &str) -> String {
        loop {
            if let Some(at) = find(&self.body[self.taken..], end.as_bytes()) {
                let n = at + end.len();
                return String::from_utf8(self.take(n)).expect("UTF-8 frame");
            }
            assert!(self.pull(), "body ended before {end:?}: {:?}", self.rest());
        }
    }

    fn rest(&self) -> String {
        String::from_utf8_lossy(&self.body[self.taken..]).into_owned()
    }

    /// The body ends with nothing more in it.
    fn expect_end(&mut self) {
        while self.pull() {}
        assert_eq!(self.rest(), "", "unexpected bytes before the end of the response");
    }
}

/// Send a receiving request that will stay pending, and wait until the server parsed it:
/// `earlier` requests were made before on this single-shard server, so once it counts
/// `earlier + 1`, this one is attached.
fn pending(server: &Server, r: &Req, earlier: u64) -> Http {
    let mut http = Http::connect(server.local_addr());
    http.send(r);
    assert!(
        common::eventually(PATIENCE, || server.metric(Counter::HttpRequests) > earlier),
        "the server never parsed {r:?}"
    );
    http
}

/// The messages of an `a[...]` frame (a JSON array of strings).
fn messages(frame: &str) -> Vec<String> {
    let inner = frame
        .strip_prefix("a[")
        .and_then(|f| f.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not an a[...] frame: {frame:?}"));
    let mut out = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            ',' => continue,
            '"' => {}
            _ => panic!("unexpected {c:?} in {frame:?}"),
        }
        let mut units: Vec<u16> = Vec::new();
        loop {
            let c = chars.next().unwrap_or_else(|| panic!("unterminated string in {frame:?}"));
            let decoded = match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).collect();
                        units.push(u16::from_str_radix(&hex, 16).expect("\\u escape"));
                        continue;
                    }
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some('b') => '\u{8}',
                    Some('f') => '\u{c}',
                    Some(c @ ('"' | '\\' | '/')) => c,
                    other => panic!("bad escape {other:?} in {frame:?}"),
                },
                c => c,
            };
            let mut buf = [0u16; 2];
            units.extend_from_slice(decoded.encode_utf16(&mut buf));
        }
        out.push(String::from_utf16(&units).expect("valid UTF-16"));
    }
    out
}

/// Open a session with an xhr poll (`o`).
fn open_xhr(addr: SocketAddr, base: &str, s: &str) {
    post(addr, &format!("{base}/000/{s}/xhr")).assert(200, "o\n");
}

// ---- Static (items 1–15) ----------------------------------------------------------------

/// Item 1: "`GET B/echo` and `GET B/echo/` → 200, `Content-Type: text/plain; charset=UTF-8`,
/// body `Welcome to SockJS!\n`, no Set-Cookie."
fn item_01_greeting(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    for path in ["/echo", "/echo/"] {
        let r = get(server.local_addr(), path);
        r.assert(200, "Welcome to SockJS!\n");
        assert_eq!(r.get("Content-Type"), Some(CT_TEXT));
        r.assert_no_cookie();
    }
}
both_backends!(item_01_greeting);

/// Item 2: "`GET B/echo/a`, `/a.html`, `//`, `///`, `/a/a`, `/a/a/` → 404."
fn item_02_not_found(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    for suffix in ["/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/"] {
        let r = get(server.local_addr(), &format!("/echo{suffix}"));
        assert_eq!(r.status, 404, "{suffix}: {r:?}");
    }
}
both_backends!(item_02_not_found);

/// Item 3: "`POST B/echo` → 405, `Allow: GET`, no Content-Type, empty body."
fn item_03_greeting_post_405(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let r = post(server.local_addr(), "/echo");
    r.assert(405, "");
    assert_eq!(r.get("Allow"), Some("GET"));
    assert!(!r.has("Content-Type"), "{r:?}");
}
both_backends!(item_03_greeting_post_405);

/// Items 4–6: the iframe page (§3.2) with its cache headers and ETag, the same page under
/// versioned and queried names, and 404 for malformed names.
fn items_04_05_06_iframe_page(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let r = get(a, "/echo/iframe.html");
    r.assert(200, IFRAME_BODY);
    assert_eq!(r.get("Content-Type"), Some(CT_HTML));
    r.assert_cached_a_year();
    let md5: String = Md5::digest(IFRAME_BODY.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let etag = format!("\"{md5}\"");
    assert_eq!(r.get("ETag"), Some(etag.as_str()));
    assert!(!r.has("Last-Modified"), "{r:?}");
    r.assert_no_cookie();
    // Item 5: same page, same ETag.
    for suffix in [
        "/iframe-0.1.2abc-dirty.2144.html?t=qweqweq123",
        "/iframe-a.html",
        "/iframe-.html",
        "/iframe-0.1.2.html",
        "/iframe-a.html?t=1234",
        "/iframe.html/",
    ] {
        let r = get(a, &format!("/echo{suffix}"));
        r.assert(200, IFRAME_BODY);
        assert_eq!(r.get("ETag"), Some(etag.as_str()), "{suffix}");
    }
    // Item 6.
    for suffix in
        ["/iframe.htm", "/iframe", "/IFRAME.HTML", "/IFRAME", "/iframe.HTML", "/iframe.xml", "/iframe-/.html"]
    {
        assert_eq!(get(a, &format!("/echo{suffix}")).status, 404, "{suffix}");
    }
}
both_backends!(items_04_05_06_iframe_page);

/// Item 7: "`GET B/echo/iframe.html` with `If-None-Match: <ETag from item 4>` → 304, no
/// Content-Type, empty body."
fn item_07_iframe_if_none_match_304(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let etag = get(a, "/echo/iframe.html").get("ETag").expect("ETag").to_string();
    let r = fetch(a, &req("GET", "/echo/iframe.html").header("If-None-Match", &etag));
    r.assert(304, "");
    assert!(!r.has("Content-Type"), "{r:?}");
    let other = fetch(a, &req("GET", "/echo/iframe.html").header("If-None-Match", "\"nope\""));
    other.assert(200, IFRAME_BODY);
}
both_backends!(item_07_iframe_if_none_match_304);

/// Entropy of an /info body after checking the rest of it exactly (§3.3).
fn info_entropy(body: &str, websocket: bool, cookie_needed: bool) -> u64 {
    let prefix = format!(
        "{{\"websocket\":{websocket},\"origins\":[\"*:*\"],\"cookie_needed\":{cookie_needed},\"entropy\":"
    );
    let n = body.strip_prefix(&prefix).and_then(|r| r.strip_suffix('}')).unwrap_or_else(|| panic!("{body}"));
    let v: u64 = n.parse().unwrap_or_else(|_| panic!("entropy {n:?} is not an integer"));
    assert!(v <= u64::from(u32::MAX), "entropy {v} out of range");
    v
}

/// Items 8–10: /info shape, fresh entropy, CORS echo of the Origin.
fn items_08_09_10_info(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let r = get(a, "/echo/info");
    assert_eq!(r.status, 200);
    assert_eq!(r.get("Content-Type"), Some("application/json; charset=UTF-8"));
    r.assert_no_cache();
    r.assert_cors_star();
    r.assert_no_cookie();
    let e1 = info_entropy(&r.text(), true, false);
    // Item 9: "Two `GET B/echo/info` → different `entropy`."
    let e2 = info_entropy(&get(a, "/echo/info").text(), true, false);
    assert_ne!(e1, e2);
    // Item 10.
    let r = fetch(a, &req("GET", "/echo/info").header("Origin", "http://a.com"));
    r.assert_cors_origin("http://a.com");
    info_entropy(&r.text(), true, false);
}
both_backends!(items_08_09_10_info);

/// Items 11–13: the /info preflight without Origin, with Origin and requested headers,
/// and with `Origin: null`.
fn items_11_12_13_info_preflight(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let r = fetch(a, &req("OPTIONS", "/echo/info"));
    r.assert(204, "");
    r.assert_cached_a_year();
    assert_eq!(r.get("Access-Control-Allow-Methods"), Some("OPTIONS, GET"));
    assert_eq!(r.get("Access-Control-Max-Age"), Some("31536000"));
    assert!(!r.has("Content-Type") && !r.has("Access-Control-Allow-Headers"), "{r:?}");
    r.assert_cors_star();
    // Item 12.
    let r = fetch(
        a,
        &req("OPTIONS", "/echo/info")
            .header("Origin", "test")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "x-a, x-b"),
    );
    r.assert(204, "");
    r.assert_cors_origin("test");
    assert_eq!(r.get("Access-Control-Allow-Headers"), Some("x-a, x-b"));
    // Item 13.
    let r = fetch(a, &req("OPTIONS", "/echo/info").header("Origin", "null"));
    r.assert(204, "");
    r.assert_cors_origin("null");
}
both_backends!(items_11_12_13_info_preflight);

/// Item 14: "`GET B/disabled_websocket_echo/info` → body has `"websocket":false`."
fn item_14_info_websocket_disabled(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let r = get(server.local_addr(), "/disabled_websocket_echo/info");
    assert_eq!(r.status, 200);
    info_entropy(&r.text(), false, false);
}
both_backends!(item_14_info_websocket_disabled);

/// Item 15: "`POST B/echo/info` → 405, `Allow: OPTIONS, GET`."
fn item_15_info_post_405(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let r = post(server.local_addr(), "/echo/info");
    r.assert(405, "");
    assert_eq!(r.get("Allow"), Some("OPTIONS, GET"));
}
both_backends!(item_15_info_post_405);

// ---- Session URLs and protocol, xhr (items 16–33) ----------------------------------------

/// Item 16: any server and session ids without `/` or `.` open a session.
fn item_16_any_session_ids(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let r = sid();
    for part in [
        format!("/a/a{r}"),
        format!("/_/_{r}"),
        format!("/1/{r}"),
        format!("/abcdefgh_i-j%20/abcdefg_i-j%20{r}"),
    ] {
        post(server.local_addr(), &format!("/echo{part}/xhr")).assert(200, "o\n");
    }
}
both_backends!(item_16_any_session_ids);

/// Item 17: "GET and POST on `B/echo//xhr`, `/a./a/xhr`, `/a/a./xhr`, `/././xhr`, `/xhr`,
/// `///xhr` → 404."
fn item_17_invalid_session_paths(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    for suffix in
        ["//xhr", "/a./a/xhr", "/a/a./xhr", "/././xhr", "/./././xhr", "/xhr", "///xhr", "/a/b/c/xhr"]
    {
        assert_eq!(get(a, &format!("/echo{suffix}")).status, 404, "GET {suffix}");
        assert_eq!(post(a, &format!("/echo{suffix}")).status, 404, "POST {suffix}");
    }
    assert_eq!(post(a, "/echo/a/b/nope").status, 404, "unknown transport");
}
both_backends!(item_17_invalid_session_paths);

/// Items 18–20: open by xhr, send by xhr_send, receive with another server id.
fn items_18_19_20_xhr_session(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let r = post(a, &format!("/echo/000/{s}/xhr"));
    r.assert(200, "o\n");
    assert_eq!(r.get("Content-Type"), Some(CT_JS));
    r.assert_no_cache();
    r.assert_cors_star();
    // Item 19.
    let r = send(a, &format!("/echo/000/{s}/xhr_send"), "[\"x\"]");
    r.assert(204, "");
    assert_eq!(r.get("Content-Type"), Some(CT_TEXT));
    r.assert_no_cache();
    r.assert_cors_star();
    // Item 20: "(server id ignored)".
    post(a, &format!("/echo/999/{s}/xhr")).assert(200, "a[\"x\"]\n");
}
both_backends!(items_18_19_20_xhr_session);

/// Item 21: "`POST B/echo/000/<unknown>/xhr_send` body `["x"]` → 404." (§4.4: with the
/// route's no-cache and CORS headers.)
fn item_21_send_to_unknown_session_404(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let r = send(server.local_addr(), &format!("/echo/000/{}/xhr_send", sid()), "[\"x\"]");
    assert_eq!(r.status, 404, "{r:?}");
    r.assert_no_cache();
    r.assert_cors_star();
    assert_eq!(server.metric(Counter::SockjsSessions), 0, "a send never creates a session");
}
both_backends!(item_21_send_to_unknown_session_404);

/// Item 22: xhr_send payload validation (§6.7 table), 500 bodies without Content-Type.
fn item_22_xhr_send_payload_validation(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/echo", &s);
    let url = format!("/echo/000/{s}/xhr_send");
    let r = send(a, &url, "[\"x");
    r.assert(500, "Broken JSON encoding.");
    assert!(!r.has("Content-Type"), "{r:?}");
    r.assert_no_cache();
    r.assert_cors_star();
    for body in ["", "{\"a\":1}", "\"abc\"", "5", "null"] {
        send(a, &url, body).assert(500, "Payload expected.");
    }
    send(a, &url, "[]").assert(204, "");
    send(a, &url, "[\"a\"]").assert(204, "");
    post(a, &format!("/echo/000/{s}/xhr")).assert(200, "a[\"a\"]\n");
    // §6.7 "an invalid body to an unknown session gives 500, not 404".
    send(a, &format!("/echo/000/{}/xhr_send", sid()), "[\"x").assert(500, "Broken JSON encoding.");
}
both_backends!(item_22_xhr_send_payload_validation);

/// Items 23–24: accepted xhr_send media types; form-encoded is "no payload".
fn items_23_24_xhr_send_content_types(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/echo", &s);
    let url = format!("/echo/000/{s}/xhr_send");
    let types = [
        "text/plain",
        "T",
        "application/json",
        "application/xml",
        "",
        "application/json; charset=utf-8",
        "text/xml; charset=utf-8",
        "text/xml",
    ];
    for ct in types {
        fetch(a, &req("POST", &url).header("Content-Type", ct).body("[\"a\"]")).assert(204, "");
    }
    post(a, &format!("/echo/000/{s}/xhr"))
        .assert(200, "a[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]\n");
    // Item 24.
    let form = req("POST", &url).header("Content-Type", "application/x-www-form-urlencoded").body("[\"a\"]");
    fetch(a, &form).assert(500, "Payload expected.");
}
both_backends!(items_23_24_xhr_send_content_types);

/// Items 25–26: preflights of the three xhr routes.
fn items_25_26_xhr_preflights(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    for t in ["xhr", "xhr_send", "xhr_streaming"] {
        let url = format!("/echo/abc/abc/{t}");
        let preflight = |headers: &str| {
            fetch(
                a,
                &req("OPTIONS", &url)
                    .header("Origin", "test")
                    .header("Access-Control-Request-Method", "POST")
                    .header("Access-Control-Request-Headers", headers),
            )
        };
        let r = preflight("a, b, c");
        r.assert(204, "");
        assert_eq!(r.get("Access-Control-Allow-Methods"), Some("OPTIONS, POST"), "{t}");
        assert_eq!(r.get("Access-Control-Allow-Headers"), Some("a, b, c"), "{t}");
        r.assert_cors_origin("test");
        assert_eq!(r.get("Access-Control-Max-Age"), Some("31536000"), "{t}");
        r.assert_cached_a_year();
        let r = preflight("");
        r.assert(204, "");
        assert!(!r.has("Access-Control-Allow-Headers"), "{t}: {r:?}");
    }
    // §4.2: "OPTIONS … never creates or touches a session."
    assert_eq!(server.metric(Counter::SockjsSessionsOpened), 0);
}
both_backends!(items_25_26_xhr_preflights);

/// Item 27: "`GET B/echo/abc/abc/xhr` → 405 `Allow: POST, OPTIONS`."
fn item_27_xhr_get_405(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let r = get(server.local_addr(), "/echo/abc/abc/xhr");
    r.assert(405, "");
    assert_eq!(r.get("Allow"), Some("POST, OPTIONS"));
    assert!(!r.has("Content-Type"));
}
both_backends!(item_27_xhr_get_405);

/// Item 28: a second receiver gets `c[2010,…]` (§6.4); the first is unaffected.
fn item_28_second_xhr_receiver_gets_2010(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/echo", &s);
    let poll = req("POST", format!("/echo/000/{s}/xhr"));
    let mut first = pending(&server, &poll, 1);
    post(a, &poll.path).assert(200, &format!("{ANOTHER_CONNECTION}\n"));
    send(a, &format!("/echo/000/{s}/xhr_send"), "[\"x\"]").assert(204, "");
    let head = first.read_head();
    let body = first.read_body(&head, "POST");
    assert_eq!((head.status, body.as_slice()), (200, &b"a[\"x\"]\n"[..]));
}
both_backends!(item_28_second_xhr_receiver_gets_2010);

/// Item 29 (§6.5): a pending poll aborted by the client ends the session at once; the next
/// poll opens a new one (`c[1002,…]` is also acceptable).
fn item_29_aborted_xhr_poll_ends_session(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/echo", &s);
    let first = pending(&server, &req("POST", format!("/echo/000/{s}/xhr")), 1);
    drop(first);
    assert!(common::eventually(PATIENCE, || server.metric(Counter::SockjsSessionsClosed) == 1));
    let body = post(a, &format!("/echo/000/{s}/xhr")).text();
    assert!(body == "o\n" || body == "c[1002,\"Connection interrupted\"]\n", "{body:?}");
}
both_backends!(item_29_aborted_xhr_poll_ends_session);

/// Item 30: the `close` service: `o`, then `c[3000,"Go away!"]` to every later receiver,
/// until the disconnect timer forgets the session (here on a copy with a 1 s delay).
fn item_30_close_service_xhr(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, FAST_TIMERS);
    let a = server.local_addr();
    for base in ["/close", "/dd_close"] {
        let url = format!("{base}/000/{}/xhr", sid());
        post(a, &url).assert(200, "o\n");
        post(a, &url).assert(200, &format!("{GO_AWAY}\n"));
        post(a, &url).assert(200, &format!("{GO_AWAY}\n"));
        if base == "/dd_close" {
            // "after > disconnect_delay of silence → `o\n` (new session)".
            assert!(common::eventually(PATIENCE, || server.metric(Counter::SockjsSessionsClosed) == 1));
            post(a, &url).assert(200, "o\n");
        }
    }
}
both_backends!(item_30_close_service_xhr);

/// Item 31: "(heartbeat_delay 1 s service) open S by xhr, then `POST …/S/xhr` with
/// nothing queued → after ~1 s body `h\n`."
fn item_31_xhr_heartbeat(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, FAST_TIMERS);
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/hb_echo", &s);
    let start = Instant::now();
    post(a, &format!("/hb_echo/000/{s}/xhr")).assert(200, "h\n");
    assert!(start.elapsed() >= Duration::from_millis(900), "heartbeat after {:?}", start.elapsed());
}
both_backends!(item_31_xhr_heartbeat);

/// Item 32: "(disconnect_delay 2 s service) open S by xhr; `xhr_send` 1.5 s later → 204;
/// `xhr_send` 2.3 s after the last poll ended → 404." Sends do not restart the timer.
fn item_32_disconnect_delay(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, FAST_TIMERS);
    let a = server.local_addr();
    let s = sid();
    let url = format!("/dd_echo/000/{s}/xhr_send");
    open_xhr(a, "/dd_echo", &s);
    let poll_ended = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    send(a, &url, "[\"x\"]").assert(204, "");
    std::thread::sleep(Duration::from_millis(2300).saturating_sub(poll_ended.elapsed()));
    let gone = common::eventually(PATIENCE, || send(a, &url, "[\"x\"]").status == 404);
    assert!(gone, "the session outlived its disconnect delay");
}
both_backends!(item_32_disconnect_delay);

/// Item 33 (§6.2): "Messages written while no receiver is attached are delivered as one
/// frame: after three sends `["a"]`,`["b"]`,`["c"]` the next xhr body is `a["a","b","c"]\n`."
fn item_33_queued_messages_one_frame(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/echo", &s);
    for m in ["a", "b", "c"] {
        send(a, &format!("/echo/000/{s}/xhr_send"), &format!("[\"{m}\"]")).assert(204, "");
    }
    post(a, &format!("/echo/000/{s}/xhr")).assert(200, "a[\"a\",\"b\",\"c\"]\n");
}
both_backends!(item_33_queued_messages_one_frame);

// ---- xhr_streaming (items 34–40) -----------------------------------------------------------

fn xhr_streaming(addr: SocketAddr, base: &str, s: &str) -> Stream {
    let mut st =
        Stream::open(addr, &req("POST", format!("{base}/000/{s}/xhr_streaming")).header("Origin", "test"));
    assert_eq!(st.head.status, 200);
    // §7.2: "Prelude: 2048 × `h` followed by `\n`".
    let prelude = st.take(2049);
    assert!(prelude[..2048].iter().all(|&c| c == b'h') && prelude[2048] == b'\n');
    st
}

/// Shutdown ends every attached receiver properly: `c[1001,"Server shutting down"]`, then
/// the end of the response (the last chunk; EOF for HTTP/1.0), on streaming and polling
/// transports, on both shards.
fn shutdown_closes_every_receiver_with_1001(b: BackendChoice) {
    let server = common::start_sockjs(b, 2, "");
    let a = server.local_addr();
    let (s1, s2, s3) = (sid(), sid(), sid());
    let mut streaming = xhr_streaming(a, "/echo", &s1);
    assert_eq!(streaming.until("\n"), "o\n");
    let mut events = eventsource(a, &s2, None);
    assert_eq!(events.until("\r\n\r\n"), "data: o\r\n\r\n");
    open_xhr(a, "/echo", &s3);
    let mut polling = Stream::open(a, &req("POST", format!("/echo/000/{s3}/xhr")));
    assert_eq!(polling.head.status, 200);
    std::thread::sleep(Duration::from_millis(100)); // the poll is attached
    server.request_shutdown();
    assert_eq!(streaming.until("\n"), "c[1001,\"Server shutting down\"]\n");
    assert_eq!(events.until("\r\n\r\n"), "data: c[1001,\"Server shutting down\"]\r\n\r\n");
    assert_eq!(polling.until("\n"), "c[1001,\"Server shutting down\"]\n");
    for st in [&mut streaming, &mut events, &mut polling] {
        assert!(!st.pull(), "the response ended (last chunk): {:?}", st.rest());
    }
    server.stop().unwrap();
}
both_backends!(shutdown_closes_every_receiver_with_1001);

/// Items 34–35: xhr_streaming head, prelude, `o`, then a message.
fn items_34_35_xhr_streaming(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let mut st = xhr_streaming(a, "/echo", &s);
    assert_eq!(st.head.get("Content-Type"), Some(CT_JS));
    st.head.assert_no_cache();
    st.head.assert_cors_origin("test");
    assert!(!st.head.has("Content-Length"));
    assert_eq!(st.until("\n"), "o\n");
    send(a, &format!("/echo/000/{s}/xhr_send"), "[\"x\"]").assert(204, "");
    assert_eq!(st.until("\n"), "a[\"x\"]\n");
}
both_backends!(items_34_35_xhr_streaming);

/// Item 36 (§6.3): with limit 4096, `o\n` + 30 × 134-byte frames keep the response open;
/// the 31st ends it.
fn item_36_xhr_streaming_response_limit(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let mut st = xhr_streaming(a, "/echo", &s);
    assert_eq!(st.until("\n"), "o\n");
    let x = "x".repeat(128);
    for _ in 0..31 {
        send(a, &format!("/echo/000/{s}/xhr_send"), &format!("[\"{x}\"]")).assert(204, "");
        assert_eq!(st.until("\n"), format!("a[\"{x}\"]\n"));
    }
    st.expect_end();
    // The session lives on: the next receiver gets what is sent meanwhile.
    send(a, &format!("/echo/000/{s}/xhr_send"), "[\"after\"]").assert(204, "");
    post(a, &format!("/echo/000/{s}/xhr")).assert(200, "a[\"after\"]\n");
}
both_backends!(item_36_xhr_streaming_response_limit);

/// Item 37: a second concurrent xhr_streaming gets the prelude, `c[2010,…]`, and ends.
fn item_37_second_xhr_streaming_gets_2010(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let mut first = xhr_streaming(a, "/echo", &s);
    assert_eq!(first.until("\n"), "o\n");
    let mut second = xhr_streaming(a, "/echo", &s);
    assert_eq!(second.until("\n"), format!("{ANOTHER_CONNECTION}\n"));
    second.expect_end();
    send(a, &format!("/echo/000/{s}/xhr_send"), "[\"still\"]").assert(204, "");
    assert_eq!(first.until("\n"), "a[\"still\"]\n");
}
both_backends!(item_37_second_xhr_streaming_gets_2010);

/// Item 38 (§6.6): on the `close` service one streaming response carries `o` and the close
/// frame; a second one gets the close frame; both end.
fn item_38_close_service_xhr_streaming(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let mut st = xhr_streaming(a, "/close", &s);
    assert_eq!(st.until("\n"), "o\n");
    assert_eq!(st.until("\n"), format!("{GO_AWAY}\n"));
    st.expect_end();
    let mut again = xhr_streaming(a, "/close", &s);
    assert_eq!(again.until("\n"), format!("{GO_AWAY}\n"));
    again.expect_end();
}
both_backends!(item_38_close_service_xhr_streaming);

/// Item 39 (§9): "HTTP/1.0 `POST B/close/000/S/xhr_streaming` with `Connection: Keep-Alive`
/// → 200, no Transfer-Encoding, no Content-Length, `Connection: close`; bytes
/// `h…h\no\nc[3000,"Go away!"]\n` then TCP close."
fn item_39_http10_streaming_close_delimited(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let mut c = Http::connect(server.local_addr());
    c.send(
        &req("POST", format!("/close/000/{}/xhr_streaming", sid()))
            .http10()
            .header("Connection", "Keep-Alive"),
    );
    let head = c.read_head();
    assert_eq!(head.status, 200);
    assert!(!head.has("Transfer-Encoding") && !head.has("Content-Length"), "{head:?}");
    assert_eq!(head.get("Connection").map(str::to_ascii_lowercase).as_deref(), Some("close"));
    let mut expected = "h".repeat(2048);
    expected.push_str(&format!("\no\n{GO_AWAY}\n"));
    assert_eq!(String::from_utf8(c.take(expected.len())).unwrap(), expected);
    c.expect_eof();
}
both_backends!(item_39_http10_streaming_close_delimited);

/// Item 40 (§9): "HTTP/1.1 same request → chunked; chunks: prelude (2049 bytes), `o\n`,
/// `c[3000,"Go away!"]\n`, zero chunk."
fn item_40_http11_streaming_chunks(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let mut c = Http::connect(server.local_addr());
    c.send(&req("POST", format!("/close/000/{}/xhr_streaming", sid())).header("Connection", "Keep-Alive"));
    let head = c.read_head();
    assert_eq!(head.status, 200);
    assert!(head.chunked() && !head.has("Content-Length"), "{head:?}");
    let prelude = c.next_chunk().expect("prelude chunk");
    assert_eq!(prelude.len(), 2049);
    assert_eq!(c.next_chunk().as_deref(), Some(&b"o\n"[..]));
    assert_eq!(c.next_chunk(), Some(format!("{GO_AWAY}\n").into_bytes()));
    assert_eq!(c.next_chunk(), None);
    // Keep-alive: the connection serves another request.
    let r = c.roundtrip(&req("GET", "/echo"));
    r.assert(200, "Welcome to SockJS!\n");
}
both_backends!(item_40_http11_streaming_chunks);

// ---- eventsource (items 41–44) ---------------------------------------------------------------

fn eventsource(addr: SocketAddr, s: &str, origin: Option<&str>) -> Stream {
    let mut r = req("GET", format!("/echo/000/{s}/eventsource"));
    if let Some(o) = origin {
        r = r.header("Origin", o);
    }
    let mut st = Stream::open(addr, &r);
    assert_eq!(st.head.status, 200);
    assert_eq!(st.take(2), b"\r\n", "§7.3 prelude");
    st
}

/// Items 41–42: eventsource head, prelude, frames; `%` is escaped as `%25`.
fn items_41_42_eventsource(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let mut st = eventsource(a, &s, None);
    assert_eq!(st.head.get("Content-Type"), Some("text/event-stream"));
    st.head.assert_no_cache();
    st.head.assert_cors_star();
    assert_eq!(st.until("\r\n\r\n"), "data: o\r\n\r\n");
    let url = format!("/echo/000/{s}/xhr_send");
    send(a, &url, "[\"x\"]").assert(204, "");
    assert_eq!(st.until("\r\n\r\n"), "data: a[\"x\"]\r\n\r\n");
    send(a, &url, r#"["  \u0000\n\r "]"#).assert(204, "");
    assert_eq!(st.until("\r\n\r\n"), "data: a[\"  \\u0000\\n\\r \"]\r\n\r\n");
    send(a, &url, "[\"b%c\"]").assert(204, "");
    assert_eq!(st.until("\r\n\r\n"), "data: a[\"b%25c\"]\r\n\r\n");
}
both_backends!(items_41_42_eventsource);

/// Item 43: a 4096-character message reaches the limit: its frame, then the end.
fn item_43_eventsource_response_limit(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let mut st = eventsource(a, &s, None);
    assert_eq!(st.until("\r\n\r\n"), "data: o\r\n\r\n");
    let x = "x".repeat(4096);
    send(a, &format!("/echo/000/{s}/xhr_send"), &format!("[\"{x}\"]")).assert(204, "");
    assert_eq!(st.until("\r\n\r\n"), format!("data: a[\"{x}\"]\r\n\r\n"));
    st.expect_end();
}
both_backends!(item_43_eventsource_response_limit);

/// Item 44 (§4.1): eventsource treats `Origin: null` as absent; other origins are echoed.
fn item_44_eventsource_cors(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let mut st = eventsource(a, &sid(), Some("null"));
    st.head.assert_cors_star();
    assert_eq!(st.until("\r\n\r\n"), "data: o\r\n\r\n");
    let mut st = eventsource(a, &sid(), Some("http://o.test"));
    st.head.assert_cors_origin("http://o.test");
    assert_eq!(st.until("\r\n\r\n"), "data: o\r\n\r\n");
}
both_backends!(item_44_eventsource_cors);

// ---- htmlfile (items 45–49) ------------------------------------------------------------------

fn htmlfile(addr: SocketAddr, s: &str) -> Stream {
    let mut st = Stream::open(addr, &req("GET", format!("/echo/000/{s}/htmlfile?c=%63allback")));
    assert_eq!(st.head.status, 200);
    let prelude = String::from_utf8(st.take(1035)).unwrap();
    assert_eq!(prelude, format!("{}{}\r\n\r\n", htmlfile_head("callback"), " ".repeat(653)));
    st
}

/// Items 45–46: htmlfile head, prelude (1035 bytes for `callback`), script frames.
fn items_45_46_htmlfile(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let mut st = htmlfile(a, &s);
    assert_eq!(st.head.get("Content-Type"), Some(CT_HTML));
    st.head.assert_no_cache();
    assert!(!st.head.has("Access-Control-Allow-Origin"), "§4.1: htmlfile has no CORS");
    assert_eq!(st.until("</script>\r\n"), "<script>\np(\"o\");\n</script>\r\n");
    send(a, &format!("/echo/000/{s}/xhr_send"), "[\"x\"]").assert(204, "");
    assert_eq!(st.until("</script>\r\n"), "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n");
}
both_backends!(items_45_46_htmlfile);

/// Items 47–48: missing or invalid htmlfile callbacks → 500.
fn items_47_48_htmlfile_callback_errors(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let r = get(a, "/echo/a/a/htmlfile");
    r.assert(500, "\"callback\" parameter required");
    assert!(!r.has("Content-Type"), "{r:?}");
    r.assert_no_cache();
    for q in ["%20", "*", "abc(", "abc%28"] {
        get(a, &format!("/echo/a/a/htmlfile?c={q}")).assert(500, "invalid \"callback\" parameter");
    }
    assert_eq!(server.metric(Counter::SockjsSessionsOpened), 0, "refused requests create no session");
}
both_backends!(items_47_48_htmlfile_callback_errors);

/// Item 49: "Response limit: a 4096-char message → `<script>\np("a[\"xxx…\"]");\n</script>\r\n`,
/// then the response ends."
fn item_49_htmlfile_response_limit(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let mut st = htmlfile(a, &s);
    assert_eq!(st.until("</script>\r\n"), "<script>\np(\"o\");\n</script>\r\n");
    let x = "x".repeat(4096);
    send(a, &format!("/echo/000/{s}/xhr_send"), &format!("[\"{x}\"]")).assert(204, "");
    assert_eq!(st.until("</script>\r\n"), format!("<script>\np(\"a[\\\"{x}\\\"]\");\n</script>\r\n"));
    st.expect_end();
}
both_backends!(item_49_htmlfile_response_limit);

// ---- jsonp (items 50–57) ---------------------------------------------------------------------

fn form(path: &str, body: &str) -> Req {
    req("POST", path).header("Content-Type", "application/x-www-form-urlencoded").body(body)
}

/// Items 50–52: jsonp open, jsonp_send (form), jsonp receive.
fn items_50_51_52_jsonp(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let r = get(a, &format!("/echo/000/{s}/jsonp?c=%63allback"));
    r.assert(200, "/**/callback(\"o\");\r\n");
    assert_eq!(r.get("Content-Type"), Some(CT_JS));
    assert_eq!(r.get("X-Content-Type-Options"), Some("nosniff"));
    r.assert_no_cache();
    assert!(!r.has("Access-Control-Allow-Origin"), "§4.1: jsonp has no CORS");
    // Item 51.
    let r = fetch(a, &form(&format!("/echo/000/{s}/jsonp_send"), "d=%5B%22x%22%5D"));
    r.assert(200, "ok");
    assert_eq!(r.get("Content-Length"), Some("2"));
    assert_eq!(r.get("Content-Type"), Some(CT_TEXT));
    r.assert_no_cache();
    assert!(!r.has("Access-Control-Allow-Origin"), "{r:?}");
    // Item 52.
    get(a, &format!("/echo/000/{s}/jsonp?c=%63allback")).assert(200, "/**/callback(\"a[\\\"x\\\"]\");\r\n");
}
both_backends!(items_50_51_52_jsonp);

/// Item 53: jsonp callback validation, 32 characters accepted, 33 refused.
fn item_53_jsonp_callback_validation(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    get(a, "/echo/a/a/jsonp").assert(500, "\"callback\" parameter required");
    let long = "a".repeat(33);
    for q in ["%20", "*", "abc(", "abc%28", long.as_str()] {
        get(a, &format!("/echo/a/a/jsonp?c={q}")).assert(500, "invalid \"callback\" parameter");
    }
    let cb = "b".repeat(32);
    get(a, &format!("/echo/000/{}/jsonp?c={cb}", sid())).assert(200, &format!("/**/{cb}(\"o\");\r\n"));
}
both_backends!(item_53_jsonp_callback_validation);

/// Item 54: jsonp_send (form) payload validation.
fn item_54_jsonp_send_payload_validation(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    get(a, &format!("/echo/000/{s}/jsonp?c=x")).assert(200, "/**/x(\"o\");\r\n");
    let url = format!("/echo/000/{s}/jsonp_send");
    let r = fetch(a, &form(&url, "d=%5B%22x"));
    r.assert(500, "Broken JSON encoding.");
    assert!(!r.has("Content-Type"), "{r:?}");
    r.assert_no_cache();
    for body in ["", "d=", "p=p"] {
        fetch(a, &form(&url, body)).assert(500, "Payload expected.");
    }
    fetch(a, &form(&url, "d=%5B%5D")).assert(200, "ok");
}
both_backends!(item_54_jsonp_send_payload_validation);

/// Item 55: a text/plain jsonp_send body is the raw payload (no URL-decoding).
fn item_55_jsonp_send_content_types(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    get(a, &format!("/echo/000/{s}/jsonp?c=x")).assert(200, "/**/x(\"o\");\r\n");
    let url = format!("/echo/000/{s}/jsonp_send");
    fetch(a, &form(&url, "d=%5B%22abc%22%5D")).assert(200, "ok");
    send(a, &url, "[\"%61bc\"]").assert(200, "ok");
    get(a, &format!("/echo/000/{s}/jsonp?c=x")).assert(200, "/**/x(\"a[\\\"abc\\\",\\\"%61bc\\\"]\");\r\n");
}
both_backends!(item_55_jsonp_send_content_types);

/// Item 56: "jsonp_send to unknown session (valid body) → 404."
fn item_56_jsonp_send_unknown_session_404(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let r = fetch(server.local_addr(), &form(&format!("/echo/000/{}/jsonp_send", sid()), "d=%5B%22x%22%5D"));
    assert_eq!(r.status, 404, "{r:?}");
    r.assert_no_cache();
}
both_backends!(item_56_jsonp_send_unknown_session_404);

/// Item 57: "`GET B/close/000/S/jsonp?c=x` → `/**/x("o");\r\n`, then twice
/// `/**/x("c[3000,\"Go away!\"]");\r\n`."
fn item_57_close_service_jsonp(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let url = format!("/close/000/{}/jsonp?c=x", sid());
    get(a, &url).assert(200, "/**/x(\"o\");\r\n");
    for _ in 0..2 {
        get(a, &url).assert(200, "/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n");
    }
}
both_backends!(item_57_close_service_jsonp);

// ---- JSESSIONID (items 58–61) ------------------------------------------------------------------

/// Item 58: "`GET B/cookie_needed_echo/info` → `"cookie_needed":true`, no Set-Cookie."
fn item_58_cookie_needed_info(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let r = get(server.local_addr(), "/cookie_needed_echo/info");
    assert_eq!(r.status, 200);
    info_entropy(&r.text(), true, true);
    r.assert_no_cookie();
}
both_backends!(item_58_cookie_needed_info);

/// Item 59: xhr on `cookie_needed_echo` sets `JSESSIONID=dummy`, or echoes the request's value.
fn item_59_jsessionid_xhr(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let r = post(a, &format!("/cookie_needed_echo/000/{}/xhr", sid()));
    r.assert(200, "o\n");
    assert_eq!(r.get("Set-Cookie"), Some("JSESSIONID=dummy; path=/"));
    let with_cookie = req("POST", format!("/cookie_needed_echo/000/{}/xhr", sid()));
    let r = fetch(a, &with_cookie.header("Cookie", "JSESSIONID=abcdef"));
    r.assert(200, "o\n");
    assert_eq!(r.get("Set-Cookie"), Some("JSESSIONID=abcdef; path=/"));
}
both_backends!(item_59_jsessionid_xhr);

/// Item 60: every session route and preflight on `cookie_needed_echo` sets the cookie.
fn item_60_jsessionid_every_session_route(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let cookie = Some("JSESSIONID=dummy; path=/");
    let base = "/cookie_needed_echo/000";
    for (method, t) in [("POST", "xhr_streaming"), ("GET", "eventsource"), ("GET", "htmlfile?c=cb")] {
        let st = Stream::open(a, &req(method, format!("{base}/{}/{t}", sid())));
        assert_eq!((st.head.status, st.head.get("Set-Cookie")), (200, cookie), "{t}");
    }
    let s = sid();
    let r = get(a, &format!("{base}/{s}/jsonp?c=cb"));
    assert_eq!((r.status, r.get("Set-Cookie")), (200, cookie), "jsonp");
    let r = fetch(a, &form(&format!("{base}/{s}/jsonp_send"), "d=%5B%22x%22%5D"));
    assert_eq!((r.status, r.get("Set-Cookie")), (200, cookie), "jsonp_send");
    let r = send(a, &format!("{base}/{s}/xhr_send"), "[\"x\"]");
    assert_eq!((r.status, r.get("Set-Cookie")), (204, cookie), "xhr_send");
    for path in [format!("{base}/{s}/xhr"), "/cookie_needed_echo/info".to_string()] {
        let r = fetch(a, &req("OPTIONS", &path));
        assert_eq!((r.status, r.get("Set-Cookie")), (204, cookie), "OPTIONS {path}");
    }
    // §10: never on greeting or iframe.
    get(a, "/cookie_needed_echo").assert_no_cookie();
    get(a, "/cookie_needed_echo/iframe.html").assert_no_cookie();
}
both_backends!(item_60_jsessionid_every_session_route);

/// Item 61: "Any request on `B/echo/...` → never Set-Cookie" (even if one was sent).
fn item_61_no_cookie_without_jsessionid(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    let c = |r: Req| r.header("Cookie", "JSESSIONID=abc");
    fetch(a, &c(req("POST", format!("/echo/000/{s}/xhr")))).assert_no_cookie();
    fetch(a, &c(req("POST", format!("/echo/000/{s}/xhr_send")).body("[\"x\"]"))).assert_no_cookie();
    fetch(a, &c(req("GET", format!("/echo/000/{s}/jsonp?c=x")))).assert_no_cookie();
    fetch(a, &c(req("OPTIONS", format!("/echo/000/{s}/xhr")))).assert_no_cookie();
    fetch(a, &c(req("GET", "/echo/info"))).assert_no_cookie();
    fetch(a, &c(req("GET", "/echo"))).assert_no_cookie();
}
both_backends!(item_61_no_cookie_without_jsessionid);

// ---- WebSocket (items 62–76) -----------------------------------------------------------------

const KEY: &str = "x3JJHMbDL1EzLkh9GBhXDw==";

fn upgrade(path: &str, version: Option<&str>) -> Req {
    upgrade_with(path, version, "Upgrade")
}

fn upgrade_with(path: &str, version: Option<&str>, connection: &str) -> Req {
    let r = req("GET", path)
        .header("Upgrade", "websocket")
        .header("Connection", connection)
        .header("Sec-WebSocket-Key", KEY);
    match version {
        Some(v) => r.header("Sec-WebSocket-Version", v),
        None => r,
    }
}

/// Items 62–64: WebSocket requests that are not valid upgrades.
fn items_62_63_64_websocket_bad_requests(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    get(a, "/echo/0/0/websocket").assert(400, "Not a valid websocket request");
    // Item 63.
    let r = fetch(
        a,
        &req("GET", "/echo/0/0/websocket").header("Upgrade", "WebSocket").header("Connection", "close"),
    );
    assert_eq!(r.status, 400, "{r:?}");
    // Item 64.
    for r in [req("POST", "/echo/0/0/websocket"), upgrade("/echo/0/0/websocket", Some("13")).body("x")] {
        let r = fetch(a, &Req { method: "POST", ..r });
        r.assert(405, "");
        assert_eq!(r.get("Allow"), Some("GET"));
        assert!(!r.has("Content-Type"), "{r:?}");
    }
    // §10: JSESSIONID is "never on … the WebSocket endpoints (a 400 from the WebSocket
    // route has none)".
    let r = get(a, "/cookie_needed_echo/0/0/websocket");
    r.assert(400, "Not a valid websocket request");
    r.assert_no_cookie();
    let mut c = Http::connect(a);
    c.send(&upgrade(&format!("/cookie_needed_echo/000/{}/websocket", sid()), Some("13")));
    let head = c.read_head();
    assert_eq!(head.status, 101);
    head.assert_no_cookie();
}
both_backends!(items_62_63_64_websocket_bad_requests);

/// Item 65: the RFC 6455 handshake on a session path (test vector of §8.1), then `o`.
fn item_65_websocket_handshake(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    for connection in ["Upgrade", "keep-alive, Upgrade"] {
        let mut c = Http::connect(server.local_addr());
        c.send(&upgrade_with(&format!("/echo/000/{}/websocket", sid()), Some("13"), connection));
        let head = c.read_head();
        assert_eq!(head.status, 101, "{connection}: {head:?}");
        assert_eq!(head.get("Upgrade").map(str::to_ascii_lowercase).as_deref(), Some("websocket"));
        assert_eq!(head.get("Connection"), Some("Upgrade"));
        assert_eq!(head.get("Sec-WebSocket-Accept"), Some("HSmrc0sMlYUkAGmm5OPpG2HaGWk="));
        assert!(!head.has("Content-Length") && !head.has("Set-Cookie"), "{head:?}");
        while parse_server_frame(&c.buf).is_none() {
            assert!(c.fill(), "closed before the open frame");
        }
        let (frame, _) = parse_server_frame(&c.buf).unwrap();
        assert_eq!(frame.text(), "o");
    }
}
both_backends!(item_65_websocket_handshake);

/// Item 66: "Same with version `7`, `8`, `99` → 400 `Unsupported WebSocket version: <v>`."
fn item_66_websocket_unsupported_versions(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    for v in ["7", "8", "99"] {
        let r = fetch(server.local_addr(), &upgrade(&format!("/echo/000/{}/websocket", sid()), Some(v)));
        r.assert(400, &format!("Unsupported WebSocket version: {v}"));
        r.assert_no_cookie();
    }
}
both_backends!(item_66_websocket_unsupported_versions);

/// Item 67 (§8.1): client messages are JSON; empty and `[]` deliver nothing; each echoed
/// message is its own `a[...]` text message.
fn item_67_websocket_messages(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let mut c = WsClient::connect(server.local_addr(), &format!("/echo/000/{}/websocket", sid()));
    assert_eq!(c.recv_text(), "o");
    for m in ["", "[]", "[\"a\"]"] {
        c.send_text(m);
    }
    assert_eq!(c.recv_text(), "a[\"a\"]");
    c.send_text("\"single\"");
    assert_eq!(c.recv_text(), "a[\"single\"]", "`\"\"` and `[]` must deliver nothing");
    c.send_text("[\"x\",\"y\"]");
    assert_eq!(c.recv_text(), "a[\"x\"]");
    assert_eq!(c.recv_text(), "a[\"y\"]");
    c.close(1000);
}
both_backends!(item_67_websocket_messages);

/// Item 68: "Client sends `["a` → server close frame code 3000 reason `Broken framing.`."
fn item_68_websocket_broken_framing(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let mut c = WsClient::connect(server.local_addr(), &format!("/echo/000/{}/websocket", sid()));
    assert_eq!(c.recv_text(), "o");
    c.send_text("[\"a");
    let close = c.recv();
    assert_eq!(close.close_code(), Some(3000));
    assert_eq!(&close.payload[2..], b"Broken framing.");
    c.expect_eof();
}
both_backends!(item_68_websocket_broken_framing);

/// Item 69: "`B/close/000/S/websocket` → `o`, `c[3000,"Go away!"]`, close frame 1000
/// `Normal closure`."
fn item_69_close_service_websocket(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let mut c = WsClient::connect(server.local_addr(), &format!("/close/000/{}/websocket", sid()));
    assert_eq!(c.recv_text(), "o");
    assert_eq!(c.recv_text(), GO_AWAY);
    let close = c.recv();
    assert_eq!(close.close_code(), Some(1000));
    assert_eq!(&close.payload[2..], b"Normal closure");
    c.expect_eof();
}
both_backends!(item_69_close_service_websocket);

/// Item 70 (§8.1): every WebSocket is its own session, whatever its session id.
fn item_70_websocket_sessions_independent(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let path = format!("/echo/000/{}/websocket", sid());
    let mut one = WsClient::connect(server.local_addr(), &path);
    let mut two = WsClient::connect(server.local_addr(), &path);
    assert_eq!(one.recv_text(), "o");
    assert_eq!(two.recv_text(), "o");
    one.send_text("[\"a\"]");
    assert_eq!(one.recv_text(), "a[\"a\"]");
    two.expect_silence(Duration::from_millis(200));
    one.close(1000);
    two.close(1000);
    let mut again = WsClient::connect(server.local_addr(), &path);
    assert_eq!(again.recv_text(), "o");
    assert_eq!(server.metric(Counter::SockjsSessionsOpened), 0, "WebSockets are not in the session table");
}
both_backends!(item_70_websocket_sessions_independent);

/// Item 71 where `hixie76` is off (the default); §8.3: "If ringcast omits it, answer such requests
/// 400 `Only supported WebSocket protocol is RFC 6455.`" (the request of §8.3's test vector).
fn item_71_hixie76_refused(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let r = req("GET", format!("/echo/000/{}/websocket", sid()))
        .header("Connection", "Upgrade")
        .header("Upgrade", "WebSocket")
        .header("Origin", "http://example.com")
        .header("Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5")
        .header("Sec-WebSocket-Key2", "12998 5 Y3 1  .P00");
    let mut c = Http::connect(server.local_addr());
    let mut bytes = r.bytes();
    bytes.extend_from_slice(b"aaaaaaaa"); // key3, with no Content-Length
    c.send_raw(&bytes);
    let head = c.read_head();
    let body = c.read_body(&head, "GET");
    assert_eq!(
        (head.status, String::from_utf8_lossy(&body).as_ref()),
        (400, "Only supported WebSocket protocol is RFC 6455.")
    );
}
both_backends!(item_71_hixie76_refused);

/// Services with Hixie-76 on (`hixie76 = true`, spec §8.3).
const HIXIE_SERVICES: &str = "[[service]]\nprefix = \"/hixie_echo\"\nprotocol = \"echo\"\nhixie76 = true\n\
[[service]]\nprefix = \"/hixie_close\"\nprotocol = \"close\"\nhixie76 = true\n";

/// The suite's Hixie-76 request (spec §8.3), without key3.
fn hixie_request(path: &str) -> Req {
    req("GET", path)
        .header("Connection", "Upgrade")
        .header("Upgrade", "WebSocket")
        .header("Origin", "http://example.com")
        .header("Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5")
        .header("Sec-WebSocket-Key2", "12998 5 Y3 1  .P00")
}

/// Send the handshake, check the 101 that comes before key3, send key3 and check the
/// answer (spec §8.3 test vector) and the `o` frame.
fn hixie_open(addr: SocketAddr, path: &str) -> Http {
    let mut c = Http::connect(addr);
    c.send(&hixie_request(path));
    let head = c.read_head();
    assert_eq!(head.status, 101, "{head:?}");
    assert_eq!(head.get("Upgrade"), Some("WebSocket"));
    assert_eq!(head.get("Connection"), Some("Upgrade"));
    assert_eq!(head.get("Sec-WebSocket-Origin"), Some("http://example.com"));
    assert_eq!(head.get("Sec-WebSocket-Location"), Some(format!("ws://127.0.0.1{path}").as_str()));
    assert!(!head.has("Content-Length"), "{head:?}");
    assert!(c.buf.is_empty(), "nothing before key3: {:?}", c.lossy());
    c.send_raw(b"aaaaaaaa");
    let answer =
        [0xca, 0x34, 0x00, 0xd8, 0xa5, 0x08, 0x47, 0x97, 0x2c, 0xd5, 0x71, 0x5a, 0xba, 0xbf, 0x43, 0x7b];
    assert_eq!(c.take(16), answer);
    assert_eq!(c.take(3), b"\x00o\xff");
    c
}

/// Item 71 with `hixie76 = true`: the 101 (reason `WebSocket Protocol Handshake`) before
/// key3, then the answer and `o`; client messages are JSON arrays in `0x00 … 0xFF`
/// frames; the client's closing frame `0xFF 0x00` is answered and the connection ends.
fn item_71_hixie76_accepted(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, HIXIE_SERVICES);
    let path = format!("/hixie_echo/000/{}/websocket", sid());
    let mut c = hixie_open(server.local_addr(), &path);
    c.send_raw(&hixie_frame(r#"["a","é"]"#));
    c.send_raw(&hixie_frame("[]"));
    c.send_raw(&hixie_frame(r#""b""#));
    for want in [r#"a["a"]"#, r#"a["é"]"#, r#"a["b"]"#] {
        assert_eq!(c.take(want.len() + 2), hixie_frame(want), "{want}");
    }
    c.send_raw(&[0xFF, 0x00]);
    assert_eq!(c.take(2), [0xFF, 0x00]);
    c.expect_eof();
}
both_backends!(item_71_hixie76_accepted);

/// A Hixie-76 text frame.
fn hixie_frame(text: &str) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend_from_slice(text.as_bytes());
    out.push(0xFF);
    out
}

/// Hixie-76 on the `close` service: `o`, `c[3000,"Go away!"]`, the closing frame; the
/// server then waits for the client's closing frame before it ends the connection.
fn item_71_hixie76_close(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, HIXIE_SERVICES);
    let mut c = hixie_open(server.local_addr(), &format!("/hixie_close/000/{}/websocket", sid()));
    let close = hixie_frame(r#"c[3000,"Go away!"]"#);
    assert_eq!(c.take(close.len()), close);
    assert_eq!(c.take(2), [0xFF, 0x00]);
    c.stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut byte = [0u8; 1];
    let still_open = read_retrying(&mut c.stream, &mut byte);
    assert!(
        still_open.is_err(),
        "the server ended the connection before the client's closing frame: {still_open:?}"
    );
    c.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    c.send_raw(&[0xFF, 0x00]);
    c.expect_eof();
}
both_backends!(item_71_hixie76_close);

/// A bad Hixie-76 key (no space) is refused with 400 like any bad handshake.
fn item_71_hixie76_bad_key_refused(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, HIXIE_SERVICES);
    let r = req("GET", format!("/hixie_echo/000/{}/websocket", sid()))
        .header("Connection", "Upgrade")
        .header("Upgrade", "WebSocket")
        .header("Sec-WebSocket-Key1", "12345")
        .header("Sec-WebSocket-Key2", "12998 5 Y3 1  .P00");
    let resp = fetch(server.local_addr(), &r);
    assert_eq!(resp.status, 400, "{resp:?}");
    // Every other connection is unaffected.
    let mut c = hixie_open(server.local_addr(), &format!("/hixie_echo/000/{}/websocket", sid()));
    c.send_raw(&hixie_frame(r#"["x"]"#));
    let want = hixie_frame(r#"a["x"]"#);
    assert_eq!(c.take(want.len()), want);
}
both_backends!(item_71_hixie76_bad_key_refused);

/// Item 72: with `websocket=false` both WebSocket routes are 404, with cache-for-a-year.
fn item_72_websocket_disabled_404(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    for path in [
        format!("/disabled_websocket_echo/000/{}/websocket", sid()),
        "/disabled_websocket_echo/websocket".into(),
    ] {
        let r = fetch(server.local_addr(), &upgrade(&path, Some("13")));
        assert_eq!(r.status, 404, "{path}: {r:?}");
        r.assert_cached_a_year();
    }
}
both_backends!(item_72_websocket_disabled_404);

/// Item 73: the raw WebSocket echoes text verbatim, with no SockJS framing.
fn item_73_raw_websocket_echo(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_text("Hello world!\u{ffff}");
    assert_eq!(c.recv_text(), "Hello world!\u{ffff}");
    c.send_text("[\"not parsed\"");
    assert_eq!(c.recv_text(), "[\"not parsed\"");
    c.send_text("");
    assert_eq!(c.recv_text(), "");
    c.close(1000);
}
both_backends!(item_73_raw_websocket_echo);

/// Item 74: "Raw: upgrade `B/close/websocket` → close frame 3000 `Go away!`."
fn item_74_raw_websocket_close(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let mut c = WsClient::connect(server.local_addr(), "/close/websocket");
    let close = c.recv();
    assert_eq!(close.close_code(), Some(3000));
    assert_eq!(&close.payload[2..], b"Go away!");
    c.expect_eof();
}
both_backends!(item_74_raw_websocket_close);

/// Item 75: "Raw: version 7 or missing → 400 `Only supported WebSocket protocol is RFC 6455.`."
fn item_75_raw_websocket_version_refused(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    for v in [Some("7"), Some("8"), None] {
        let r = fetch(server.local_addr(), &upgrade("/echo/websocket", v));
        r.assert(400, "Only supported WebSocket protocol is RFC 6455.");
    }
}
both_backends!(item_75_raw_websocket_version_refused);

/// Item 76: an idle SockJS WebSocket gets an `h` text message every heartbeat (1 s here).
fn item_76_websocket_heartbeat(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, FAST_TIMERS);
    let start = Instant::now(); // before the server can start its timer
    let mut c = WsClient::connect(server.local_addr(), &format!("/hb_echo/000/{}/websocket", sid()));
    assert_eq!(c.recv_text(), "o");
    for n in 1..=2u32 {
        assert_eq!(c.recv_text(), "h");
        assert!(
            start.elapsed() >= Duration::from_millis(900) * n,
            "heartbeat {n} after {:?}",
            start.elapsed()
        );
    }
    c.close(1000);
}
both_backends!(item_76_websocket_heartbeat);

// ---- JSON encoding (items 77–78) -------------------------------------------------------------

/// Item 77 (§5.2): every character of the escaped ranges comes back as a lowercase `\uXXXX`.
fn item_77_server_escapes_ranges(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/echo", &s);
    let ranges = [0x200c..=0x200f, 0x2028..=0x202f, 0x2060..=0x206f, 0xfff0..=0xffff];
    let chars: Vec<char> = ranges.into_iter().flatten().filter_map(char::from_u32).collect();
    let raw: String = chars.iter().collect();
    let escaped: String = chars.iter().map(|c| format!("\\u{:04x}", *c as u32)).collect();
    send(a, &format!("/echo/000/{s}/xhr_send"), &format!("[\"{raw}\"]")).assert(204, "");
    post(a, &format!("/echo/000/{s}/xhr")).assert(200, &format!("a[\"{escaped}\"]\n"));
    // The rest of the §5.2 table: C0 controls escaped, the listed others raw.
    let controls = r#"["\u0000\u0001\u001f\b\t\n\f\r\"\\/"]"#;
    send(a, &format!("/echo/000/{s}/xhr_send"), controls).assert(204, "");
    let expected = "a[\"\\u0000\\u0001\\u001f\\b\\t\\n\\f\\r\\\"\\\\/\"]\n";
    post(a, &format!("/echo/000/{s}/xhr")).assert(200, expected);
    let verbatim = "\u{7f}\u{80}\u{ad}\u{2000}\u{200b}\u{2030}\u{feff}\u{ffef}<>&'";
    send(a, &format!("/echo/000/{s}/xhr_send"), &format!("[\"{verbatim}\"]")).assert(204, "");
    post(a, &format!("/echo/000/{s}/xhr")).assert(200, &format!("a[\"{verbatim}\"]\n"));
}
both_backends!(item_77_server_escapes_ranges);

/// Item 78: astral characters come back as surrogate escapes; `\u2000` sent escaped comes
/// back as raw UTF-8.
fn item_78_surrogates_and_raw_utf8(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/echo", &s);
    send(a, &format!("/echo/000/{s}/xhr_send"), "[\"😀\"]").assert(204, "");
    post(a, &format!("/echo/000/{s}/xhr")).assert(200, "a[\"\\ud83d\\ude00\"]\n");
    send(a, &format!("/echo/000/{s}/xhr_send"), r#"["\u2000x"]"#).assert(204, "");
    let r = post(a, &format!("/echo/000/{s}/xhr"));
    assert_eq!(r.body, b"a[\"\xe2\x80\x80x\"]\n");
    // §5.3: the client's escapes (here surrogate pairs and combining marks) decode.
    send(a, &format!("/echo/000/{s}/xhr_send"), r#"["\ud83d\ude00\u0300\u00e9"]"#).assert(204, "");
    let r = post(a, &format!("/echo/000/{s}/xhr"));
    assert_eq!(messages(r.text().trim_end()), vec!["😀\u{300}é".to_string()]);
}
both_backends!(item_78_surrogates_and_raw_utf8);

// ---- HTTP framing (items 79–80) ----------------------------------------------------------------

/// Item 79 (§9): "HTTP/1.0 `GET B/echo` with `Connection: Keep-Alive` → 200
/// `Welcome to SockJS!\n` with no Transfer-Encoding; either `Content-Length: 19` or
/// `Connection: close` + close." As the suite checks: without `Connection: keep-alive`
/// in the answer, the server must close.
fn item_79_http10_greeting(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let mut c = Http::connect(server.local_addr());
    let greeting = req("GET", "/echo").http10().header("Connection", "Keep-Alive");
    let r = c.roundtrip(&greeting);
    r.assert(200, "Welcome to SockJS!\n");
    assert!(!r.has("Transfer-Encoding"), "{r:?}");
    match r.get("Connection").map(str::to_ascii_lowercase).as_deref() {
        Some("keep-alive") => {
            assert_eq!(r.get("Content-Length"), Some("19"));
            c.roundtrip(&greeting).assert(200, "Welcome to SockJS!\n");
        }
        _ => c.expect_eof(),
    }
}
both_backends!(item_79_http10_greeting);

/// Item 80: "HTTP/1.1 `GET B/echo` twice on one keep-alive connection → both 200."
fn item_80_http11_keep_alive(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let mut c = Http::connect(server.local_addr());
    for _ in 0..2 {
        let r = c.roundtrip(&req("GET", "/echo").header("Connection", "Keep-Alive"));
        r.assert(200, "Welcome to SockJS!\n");
        assert!(matches!(r.get("Connection"), None | Some("keep-alive")), "{r:?}");
    }
    // Several requests in one write (pipelining) are answered in order.
    let mut both = req("GET", "/echo/info").bytes();
    both.extend_from_slice(&req("GET", "/echo").bytes());
    c.send_raw(&both);
    let info = c.read_head();
    c.read_body(&info, "GET");
    let greeting = c.read_head();
    assert_eq!(c.read_body(&greeting, "GET"), b"Welcome to SockJS!\n");
}
both_backends!(item_80_http11_keep_alive);

/// §14: ringcast has no `legacy_033` mode, so every row of the table answers with the
/// "current" column, never the v0.3.3 file's expectation.
fn section_14_current_values_not_legacy(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    // no-cache with `no-transform`; CORS without Origin: `*`, no Credentials.
    let r = post(a, &format!("/echo/000/{s}/xhr"));
    assert_eq!(r.get("Cache-Control"), Some(NO_CACHE));
    r.assert_cors_star();
    // `Origin: null` is echoed with Credentials (not `*`).
    fetch(a, &req("POST", format!("/echo/000/{s}/xhr_send")).header("Origin", "null").body("[]"))
        .assert_cors_origin("null");
    // jsonp frames start with `/**/`.
    get(a, &format!("/echo/000/{}/jsonp?c=cb", sid())).assert(200, "/**/cb(\"o\");\r\n");
    // eventsource type without charset.
    let st = Stream::open(a, &req("GET", format!("/echo/000/{}/eventsource", sid())));
    assert_eq!(st.head.get("Content-Type"), Some("text/event-stream"));
    // iframe: `<script src>` before the inline bootstrap, no `_sockjs_onload`.
    let body = get(a, "/echo/iframe.html").text();
    assert!(!body.contains("_sockjs_onload") && body.contains("</script>\n  <script>\n    document.domain"));
    // WebSocket version 7 and 8 (also with `Connection: keep-alive, Upgrade`) are refused.
    for v in ["7", "8"] {
        let r = fetch(
            a,
            &upgrade_with(&format!("/echo/000/{}/websocket", sid()), Some(v), "keep-alive, Upgrade"),
        );
        assert_eq!(r.status, 400, "version {v}");
    }
    // GET websocket without upgrade: sockjs-node 0.3.24's body, not `Can "Upgrade" only to "WebSocket".`
    get(a, "/echo/0/0/websocket").assert(400, "Not a valid websocket request");
}
both_backends!(section_14_current_values_not_legacy);

// ---- beyond the checklist -------------------------------------------------------------------

/// §11 "a session's state must be found from any shard that accepts one of its requests":
/// with two shards, one xhr session is fed by 200 xhr_send requests on separate connections
/// (half on one keep-alive connection that the sends move between shards) and drained by
/// polls on yet other connections. Every message arrives once, in order.
fn shards_2_session_used_from_many_connections(b: BackendChoice) {
    const LONG: &str =
        "[[service]]\nprefix = \"/echo_long\"\nprotocol = \"echo\"\ndisconnect_delay_ms = 60000\n";
    let server = common::start_sockjs(b, 2, LONG);
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/echo", &s);
    const N: usize = 200;
    let poll_url = format!("/echo/000/{s}/xhr");
    let poller = std::thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < N {
            let r = post(a, &poll_url);
            assert_eq!(r.status, 200, "{r:?}");
            got.extend(messages(r.text().trim_end()));
        }
        got
    });
    // A second session owned by the other shard (it is not polled until the end, hence
    // its long disconnect delay), so that the keep-alive connection's sends cross shards:
    // a send to a session another shard owns is relayed there and answered here.
    let owner = |key: &str| ringcast::session::table::owner_shard(key.as_bytes(), 2);
    let other = std::iter::repeat_with(sid).find(|o| owner(o) != owner(&s)).expect("an id");
    open_xhr(a, "/echo_long", &other);
    let mut keep_alive = Http::connect(a);
    for i in 0..N {
        let body = format!("[\"m{i}\"]");
        let r = if i % 2 == 0 {
            send(a, &format!("/echo/000/{s}/xhr_send"), &body)
        } else {
            let other_send = req("POST", format!("/echo_long/000/{other}/xhr_send")).body("[\"o\"]");
            keep_alive.roundtrip(&other_send).assert(204, "");
            keep_alive.roundtrip(&req("POST", format!("/echo/000/{s}/xhr_send")).body(&body))
        };
        r.assert(204, "");
    }
    let got = poller.join().expect("poller");
    let want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
    let others = messages(post(a, &format!("/echo_long/000/{other}/xhr")).text().trim_end());
    assert_eq!(others, vec!["o".to_string(); N / 2]);
    assert!(server.metric(Counter::BusRequests) > 0, "no send crossed shards");
    assert_eq!(server.metric(Counter::SockjsSessions), 2);
}
both_backends!(shards_2_session_used_from_many_connections);

/// Rooms over an HTTP session on two shards (multiplex §5.1): a `/rooms` session joins a
/// room by xhr_send; raw WebSocket members (on both shards) publish; the session's polls
/// receive every publish once, each member's in order.
fn shards_2_rooms_session_receives_websocket_publishes(b: BackendChoice) {
    let server = common::start_sockjs(b, 2, "");
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/rooms", &s);
    send(a, &format!("/rooms/000/{s}/xhr_send"), "[\"sub,red\"]").assert(204, "");
    const MEMBERS: usize = 4;
    const EACH: usize = 50;
    let mut members: Vec<WsClient> = (0..MEMBERS).map(|_| WsClient::connect(a, "/rooms/websocket")).collect();
    let drains: Vec<_> = members
        .iter_mut()
        .map(|m| {
            m.send_text("sub,red");
            common::drain_thread(&m.stream)
        })
        .collect();
    for i in 0..EACH {
        for (k, m) in members.iter_mut().enumerate() {
            m.send_text(&format!("msg,red,w{k}-{i}"));
        }
    }
    let mut next = [0usize; MEMBERS];
    let poll = format!("/rooms/000/{s}/xhr");
    while next.iter().sum::<usize>() < MEMBERS * EACH {
        let r = post(a, &poll);
        assert_eq!(r.status, 200, "{r:?}");
        for m in messages(r.text().trim_end()) {
            let rest = m.strip_prefix("msg,red,w").unwrap_or_else(|| panic!("unexpected {m:?}"));
            let (k, i) = rest.split_once('-').expect("w<k>-<i>");
            let (k, i): (usize, usize) = (k.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[k], "member {k}: got message {i}, expected {}", next[k]);
            next[k] += 1;
        }
    }
    // Nothing duplicated behind the last one: the next poll starts with a fresh publish.
    members[0].send_text("msg,red,end");
    let r = post(a, &poll);
    assert_eq!(messages(r.text().trim_end()), vec!["msg,red,end".to_string()]);
    for m in &members {
        m.stream.shutdown(Shutdown::Both).unwrap();
    }
    for d in drains {
        d.join().unwrap();
    }
}
both_backends!(shards_2_rooms_session_receives_websocket_publishes);

/// §6.2 "no receiver: disconnect timer → session destroyed": 5000 sessions opened by one
/// poll each and abandoned are all reaped soon after `disconnect_delay_ms` (500 ms), and
/// their connections are freed.
fn leak_5000_abandoned_sessions_are_reaped(b: BackendChoice) {
    const LEAK: &str = "[[service]]\nprefix = \"/leak\"\nprotocol = \"echo\"\ndisconnect_delay_ms = 500\n";
    let server = common::start_sockjs(b, 2, LEAK);
    let a = server.local_addr();
    const THREADS: usize = 4;
    const EACH: usize = 1250;
    let prefix = sid();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let prefix = prefix.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    // One connection per session, closed after its poll.
                    post(a, &format!("/leak/000/{prefix}-{t}-{i}/xhr")).assert(200, "o\n");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let total = (THREADS * EACH) as u64;
    assert!(common::eventually(PATIENCE, || server.metric(Counter::SockjsSessionsOpened) == total));
    let reaped = common::eventually(PATIENCE, || server.metric(Counter::SockjsSessions) == 0);
    assert!(reaped, "{} sessions left", server.metric(Counter::SockjsSessions));
    assert_eq!(server.metric(Counter::SockjsSessionsClosed), total);
    let freed = common::eventually(PATIENCE, || server.metric(Counter::ConnectionsOpen) == 0);
    assert!(freed, "{} connections left", server.metric(Counter::ConnectionsOpen));
}
both_backends!(leak_5000_abandoned_sessions_are_reaped);

/// A working session after each bad request: a send and a poll round-trip.
fn assert_session_works(a: SocketAddr, s: &str, m: &str) {
    send(a, &format!("/echo/000/{s}/xhr_send"), &format!("[\"{m}\"]")).assert(204, "");
    post(a, &format!("/echo/000/{s}/xhr")).assert(200, &format!("a[\"{m}\"]\n"));
}

/// Bad input is refused with the spec's status and leaves the server serving others:
/// malformed session paths (404), bodies over `limits.max_request_body_bytes` (413, with
/// Content-Length and chunked), broken JSON (500), a send to an unknown session (404),
/// bytes that are not HTTP (400).
fn bad_input_leaves_server_working(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let s = sid();
    open_xhr(a, "/echo", &s);
    for path in
        ["/echo/a./b/xhr_send", "/echo//b/xhr_send", "/echo/a/b./xhr", "/echo/a/b/c/d/xhr", "/echo/a/b/XHR"]
    {
        assert_eq!(send(a, path, "[\"x\"]").status, 404, "{path}");
    }
    assert_session_works(a, &s, "after-404");
    // Default limits.max_request_body_bytes is 64 KiB.
    let big = format!("[\"{}\"]", "x".repeat(70_000));
    let mut c = Http::connect(a);
    let r = c.roundtrip(&req("POST", format!("/echo/000/{s}/xhr_send")).body(&big));
    assert_eq!(r.status, 413, "{r:?}");
    assert_session_works(a, &s, "after-413");
    let mut chunked = format!(
        "POST /echo/000/{s}/xhr_send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        big.len()
    );
    chunked.push_str(&big);
    chunked.push_str("\r\n0\r\n\r\n");
    let mut c = Http::connect(a);
    c.send_raw(chunked.as_bytes());
    let head = c.read_head();
    assert_eq!(head.status, 413, "{head:?}");
    assert_session_works(a, &s, "after-chunked-413");
    // A chunked body within the limit is a normal send (§9 "honour chunked request bodies").
    let ok = format!(
        "POST /echo/000/{s}/xhr_send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
3\r\n[\"c\r\n4\r\nhk\"]\r\n0\r\n\r\n"
    );
    let mut c = Http::connect(a);
    c.send_raw(ok.as_bytes());
    assert_eq!(c.read_head().status, 204);
    post(a, &format!("/echo/000/{s}/xhr")).assert(200, "a[\"chk\"]\n");
    send(a, &format!("/echo/000/{s}/xhr_send"), "[\"x").assert(500, "Broken JSON encoding.");
    assert_session_works(a, &s, "after-500");
    assert_eq!(send(a, &format!("/echo/000/{}/xhr_send", sid()), "[\"x\"]").status, 404);
    assert_session_works(a, &s, "after-unknown");
    let mut c = Http::connect(a);
    c.send_raw(b"\x00\x01 garbage\r\n\r\n");
    assert_eq!(c.read_head().status, 400);
    assert_session_works(a, &s, "after-garbage");
    // A large message within the limits travels both ways.
    let large = "y".repeat(60_000);
    assert_session_works(a, &s, &large);
    assert_eq!(server.metric(Counter::SockjsSessions), 1);
}
both_backends!(bad_input_leaves_server_working);

/// §6.5: "If the client drops the TCP connection of an attached receiver before the server
/// ended it, sockjs-node destroys the session at once": for xhr_streaming, eventsource and
/// htmlfile, the next request with the same id opens a new session.
fn abandoned_streaming_response_ends_session(b: BackendChoice) {
    let server = common::start_sockjs(b, 1, "");
    let a = server.local_addr();
    let streams =
        [("xhr_streaming", "o\n"), ("eventsource", "data: o\r\n\r\n"), ("htmlfile?c=cb", "p(\"o\")")];
    for (n, (t, open)) in streams.into_iter().enumerate() {
        let s = sid();
        let method = if t == "xhr_streaming" { "POST" } else { "GET" };
        let mut st = Stream::open(a, &req(method, format!("/echo/000/{s}/{t}")));
        assert!(st.until(open).ends_with(open));
        drop(st);
        let closed = n as u64 + 1;
        assert!(
            common::eventually(PATIENCE, || server.metric(Counter::SockjsSessionsClosed) == closed),
            "{t}: session not ended"
        );
        let body = post(a, &format!("/echo/000/{s}/xhr")).text();
        assert!(body == "o\n" || body == "c[1002,\"Connection interrupted\"]\n", "{t}: {body:?}");
    }
    // A WebSocket client that vanishes without a close frame is gone too.
    let c = WsClient::connect(a, &format!("/echo/000/{}/websocket", sid()));
    c.stream.shutdown(Shutdown::Both).unwrap();
    drop(c);
    assert!(common::eventually(PATIENCE, || server.metric(Counter::ConnectionsOpen) == 0));
}
both_backends!(abandoned_streaming_response_ends_session);
