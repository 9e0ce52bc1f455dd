//! Complete SockJS HTTP responses and the header sets they share (spec §3, §4, §10).
//!
//! Owns: the bytes of every response that is not a session transport's body — greeting,
//! iframe page (ETag/304), /info (CSPRNG entropy), preflight, 404, 405, 500, the
//! acknowledgements of xhr_send/jsonp_send — and the head of a receiving transport's response
//! (status, headers, `Transfer-Encoding: chunked`) plus chunk helpers. Also the CORS rules
//! (§4.1), the cache headers (§4.3), the JSESSIONID cookie (§10) and callback validation
//! (§7.4, §7.5).
//!
//! Does not own: frames or their wrapping (`framing`), payload decoding (`receive`), the
//! routing decision (`routes`), whether the connection is kept alive after a response (the
//! caller closes it when `Request::close` is set), or WebSocket handshakes (`transport::ws`).
//!
//! Decisions the spec leaves open:
//! * Header order is fixed: Content-Type, caching, route-specific (ETag, Allow,
//!   Access-Control-Allow-Methods/Max-Age), CORS, `X-Content-Type-Options`, `Set-Cookie`,
//!   framing (`Transfer-Encoding` / `Connection: close`), then `Content-Length`.
//! * 204 and 304 responses carry no `Content-Length` (RFC 9110 §8.6, §15.4.5); every other
//!   complete response has one. 304 repeats the `ETag` (RFC 9110 §15.4.5).
//! * Status lines always say `HTTP/1.1` (§9 allows it for HTTP/1.0 requests).

use std::cell::Cell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use md5::{Digest, Md5};

use super::receive::url_decode;
use super::routes::Transport;
use crate::http::request::Request;

/// One response header, owned (values may echo request bytes).
pub type Header = (String, String);

/// Per-service options that change static responses (§1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOptions {
    /// `/websocket` routes enabled; reported as `"websocket"` in /info.
    pub websocket: bool,
    /// sockjs-node's `jsessionid`: `Set-Cookie: JSESSIONID` on session routes and preflights
    /// (§10), `"cookie_needed":true` in /info.
    pub cookie_needed: bool,
    /// Hixie-76 WebSockets accepted on the session WebSocket transport (§8.3).
    pub hixie76: bool,
    /// Client script URL in the iframe page; config must ensure it starts with `/` or `http`
    /// and holds no `"` (it is written verbatim into an HTML attribute).
    pub sockjs_url: String,
}

/// §1 default `sockjs_url`.
pub const DEFAULT_SOCKJS_URL: &str = "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js";

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions { websocket: true, cookie_needed: false, hixie76: false, sockjs_url: DEFAULT_SOCKJS_URL.to_string() }
    }
}

/// §4.3 no-cache.
pub const NO_CACHE: (&str, &str) =
    ("Cache-Control", "no-store, no-cache, no-transform, must-revalidate, max-age=0");
/// §4.3 cache-for-a-year (always paired with `Expires`, see [`cache_for_a_year`]).
pub const CACHE_FOR_A_YEAR: (&str, &str) = ("Cache-Control", "public, max-age=31536000");
/// One year in seconds: `max-age`, `Expires` offset and `Access-Control-Max-Age`.
const ONE_YEAR_S: u64 = 31_536_000;

/// §4.3 content types.
pub const CT_TEXT: &str = "text/plain; charset=UTF-8";
pub const CT_HTML: &str = "text/html; charset=UTF-8";
pub const CT_JAVASCRIPT: &str = "application/javascript; charset=UTF-8";
pub const CT_JSON: &str = "application/json; charset=UTF-8";
pub const CT_EVENT_STREAM: &str = "text/event-stream";

/// §4.4 500 bodies for htmlfile/jsonp callbacks.
pub const CALLBACK_REQUIRED: &str = "\"callback\" parameter required";
pub const CALLBACK_INVALID: &str = "invalid \"callback\" parameter";
/// §7.5: longest callback accepted (also applied to htmlfile, §7.4 SHOULD).
const MAX_CALLBACK_LEN: usize = 32;

/// §3.1 greeting body (19 bytes).
pub const GREETING_BODY: &[u8] = b"Welcome to SockJS!\n";
/// §2 sockjs-node 404 body.
pub const NOT_FOUND_BODY: &[u8] = b"404 Error: Page not found\n";

/// §9 terminating chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// How a streamed (transport) response body is delimited (§9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// HTTP/1.1: `Transfer-Encoding: chunked`, write with [`chunk_into`], end with [`LAST_CHUNK`].
    Chunked,
    /// HTTP/1.0 (even with keep-alive): no `Transfer-Encoding`, no `Content-Length`,
    /// `Connection: close`; write raw bytes and end by closing the connection.
    CloseDelimited,
}

/// A response being built: status line and headers in one buffer.
struct Builder(BytesMut);

impl Builder {
    fn new(status: u16) -> Self {
        let mut out = BytesMut::with_capacity(512);
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.to_string().as_bytes());
        out.put_u8(b' ');
        out.extend_from_slice(reason(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        Builder(out)
    }

    fn header(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b": ");
        self.0.extend_from_slice(value.as_bytes());
        self.0.extend_from_slice(b"\r\n");
        self
    }

    fn headers(&mut self, headers: &[Header]) -> &mut Self {
        for (name, value) in headers {
            self.header(name, value);
        }
        self
    }

    /// Finish with `Content-Length` and `body`.
    fn body(mut self, body: &[u8]) -> Bytes {
        self.header("Content-Length", &body.len().to_string());
        self.0.extend_from_slice(b"\r\n");
        self.0.extend_from_slice(body);
        self.0.freeze()
    }

    /// Finish a response that has no body by definition (204, 304) or a streamed one.
    fn end_head(mut self) -> Bytes {
        self.0.extend_from_slice(b"\r\n");
        self.0.freeze()
    }
}

/// Reason phrases of the statuses SockJS answers with.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// §4.3 cache-for-a-year: `Cache-Control` + `Expires: <HTTP-date now + 31536000 s>`.
pub fn cache_for_a_year() -> [Header; 2] {
    let expires = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(ONE_YEAR_S));
    [(CACHE_FOR_A_YEAR.0.to_string(), CACHE_FOR_A_YEAR.1.to_string()), ("Expires".to_string(), expires)]
}

fn no_cache() -> Header {
    (NO_CACHE.0.to_string(), NO_CACHE.1.to_string())
}

/// §3.1: `GET <base>` → 200 `Welcome to SockJS!\n`, no cookie.
pub fn greeting() -> Bytes {
    let mut b = Builder::new(200);
    b.header("Content-Type", CT_TEXT);
    b.body(GREETING_BODY)
}

/// §3.2 iframe page body for `sockjs_url`.
pub fn iframe_body(sockjs_url: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n  \
<meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  \
<script src=\"{sockjs_url}\"></script>\n  <script>\n    document.domain = document.domain;\n    \
SockJS.bootstrap_iframe();\n  </script>\n</head>\n<body>\n  <h2>Don't panic!</h2>\n  \
<p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n</body>\n</html>"
    )
}

/// §3.2 `ETag`: `"` + lowercase hex MD5 of the body + `"`.
fn etag_of(body: &[u8]) -> String {
    let digest = Md5::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in digest {
        tag.push_str(&format!("{b:02x}"));
    }
    tag.push('"');
    tag
}

/// §3.2 iframe page: 200 with ETag and cache-for-a-year, or 304 (empty, no Content-Type)
/// when `If-None-Match` equals the ETag exactly. No cookie, no CORS.
pub fn iframe(opts: &ServiceOptions, if_none_match: Option<&[u8]>) -> Bytes {
    let body = iframe_body(&opts.sockjs_url);
    let etag = etag_of(body.as_bytes());
    if if_none_match == Some(etag.as_bytes()) {
        let mut b = Builder::new(304);
        b.headers(&cache_for_a_year()).header("ETag", &etag);
        return b.end_head();
    }
    let mut b = Builder::new(200);
    b.header("Content-Type", CT_HTML).headers(&cache_for_a_year()).header("ETag", &etag);
    b.body(body.as_bytes())
}

/// §3.3 /info: JSON with fresh CSPRNG entropy, no-cache, CORS; never `Set-Cookie`.
pub fn info(opts: &ServiceOptions, req: &Request) -> Bytes {
    info_with_entropy(opts, req, fresh_entropy())
}

fn info_with_entropy(opts: &ServiceOptions, req: &Request, entropy: u32) -> Bytes {
    // §3.3: key order as sockjs-node writes it.
    let body = format!(
        "{{\"websocket\":{},\"origins\":[\"*:*\"],\"cookie_needed\":{},\"entropy\":{entropy}}}",
        opts.websocket, opts.cookie_needed
    );
    let mut b = Builder::new(200);
    b.header("Content-Type", CT_JSON).header(NO_CACHE.0, NO_CACHE.1).headers(&cors_headers(req, false));
    b.body(body.as_bytes())
}

thread_local! {
    /// Last entropy this thread answered, so that consecutive values always differ.
    static LAST_ENTROPY: Cell<Option<u32>> = const { Cell::new(None) };
}

/// §3.3: "fresh unsigned 32-bit random integer … from a CSPRNG; two consecutive requests
/// MUST differ" (guaranteed per thread, i.e. per shard).
fn fresh_entropy() -> u32 {
    LAST_ENTROPY.with(|last| {
        let mut v = random_u32();
        while Some(v) == last.get() {
            v = random_u32();
        }
        last.set(Some(v));
        v
    })
}

/// A CSPRNG `u32` (the OS's `getrandom`). Should the OS refuse, fall back to std's randomly
/// keyed SipHash over a counter and the clock: still unpredictable to a client, never a panic.
fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    if getrandom::getrandom(&mut buf).is_ok() {
        return u32::from_ne_bytes(buf);
    }
    fallback_u32()
}

#[cold]
fn fallback_u32() -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::collections::hash_map::RandomState::new().hash_one((n, SystemTime::now())) as u32
}

/// §4.2 preflight: 204, cache-for-a-year, `Access-Control-Allow-Methods: <methods>`,
/// `Access-Control-Max-Age`, CORS, and JSESSIONID when `cookie_needed` (also on /info).
/// `methods` is `routes::preflight_methods` of the route.
pub fn preflight(req: &Request, methods: &str, opts: &ServiceOptions) -> Bytes {
    let mut b = Builder::new(204);
    b.headers(&cache_for_a_year())
        .header("Access-Control-Allow-Methods", methods)
        .header("Access-Control-Max-Age", &ONE_YEAR_S.to_string())
        .headers(&cors_headers(req, false));
    if opts.cookie_needed {
        let (name, value) = jsessionid_header(req);
        b.header(&name, &value);
    }
    b.end_head()
}

/// §2 404 with sockjs-node's body; `cache_for_a_year` for a disabled `/websocket` route.
pub fn not_found(cache_for_a_year_headers: bool) -> Bytes {
    if cache_for_a_year_headers {
        not_found_with(&cache_for_a_year())
    } else {
        not_found_with(&[])
    }
}

/// §4.4 404 plus extra headers, e.g. [`session_headers`] for an unknown session on a send route.
pub fn not_found_with(headers: &[Header]) -> Bytes {
    let mut b = Builder::new(404);
    b.header("Content-Type", CT_TEXT).headers(headers);
    b.body(NOT_FOUND_BODY)
}

/// §2 405: `Allow: <allow>` (`routes::allowed_methods`), no Content-Type, empty body.
pub fn method_not_allowed(allow: &str) -> Bytes {
    let mut b = Builder::new(405);
    b.header("Allow", allow);
    b.body(b"")
}

/// §4.1 CORS headers for `req`. `eventsource`: `Origin: null` counts as absent (§7.3).
///
/// An empty `Origin` value also counts as absent (sockjs-node tests the value's truthiness).
/// Values are echoed verbatim; non-UTF-8 bytes become U+FFFD.
pub fn cors_headers(req: &Request, eventsource: bool) -> Vec<Header> {
    let counts_as_absent = |o: &&[u8]| o.is_empty() || (eventsource && *o == b"null");
    let origin = req.origin.as_deref().filter(|o| !counts_as_absent(o));
    let mut out = Vec::with_capacity(4);
    match origin {
        None => out.push(("Access-Control-Allow-Origin".to_string(), "*".to_string())),
        Some(o) => {
            out.push(("Access-Control-Allow-Origin".to_string(), lossy(o)));
            out.push(("Access-Control-Allow-Credentials".to_string(), "true".to_string()));
        }
    }
    // §4.1: "`Access-Control-Request-Headers: H`, H non-empty → `Access-Control-Allow-Headers: H`".
    if let Some(h) = req.access_control_request_headers.as_deref().filter(|h| !h.is_empty()) {
        out.push(("Access-Control-Allow-Headers".to_string(), lossy(h)));
    }
    out.push(("Vary".to_string(), "Origin".to_string()));
    out
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// §10: `Set-Cookie: JSESSIONID=<v>; path=/`, v = the request's non-empty `JSESSIONID`
/// cookie (first one, name case-sensitive) or `dummy`.
pub fn jsessionid_header(req: &Request) -> Header {
    let value = req.cookie.as_deref().and_then(jsessionid_value).unwrap_or_else(|| "dummy".to_string());
    ("Set-Cookie".to_string(), format!("JSESSIONID={value}; path=/"))
}

fn jsessionid_value(cookie: &[u8]) -> Option<String> {
    cookie.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let value = pair.strip_prefix(b"JSESSIONID=")?.trim_ascii();
        (!value.is_empty()).then(|| lossy(value))
    })
}

/// §4.4 500: no Content-Type, body = `message` without newline, plus `headers`
/// (the route's [`session_headers`]).
pub fn error_500(message: &str, headers: &[Header]) -> Bytes {
    let mut b = Builder::new(500);
    b.headers(headers);
    b.body(message.as_bytes())
}

/// Headers every response on a session route carries, errors included (§4.1, §4.3, §10):
/// no-cache; CORS for xhr, xhr_send, xhr_streaming, the eventsource variant for eventsource,
/// none for htmlfile/jsonp/jsonp_send; JSESSIONID when `cookie_needed`.
/// [`Transport::WebSocket`] gets none (§10: never on WebSocket endpoints).
pub fn session_headers(t: Transport, req: &Request, opts: &ServiceOptions) -> Vec<Header> {
    if t == Transport::WebSocket {
        return Vec::new();
    }
    let mut out = vec![no_cache()];
    match t {
        Transport::Xhr | Transport::XhrSend | Transport::XhrStreaming => out.extend(cors_headers(req, false)),
        Transport::EventSource => out.extend(cors_headers(req, true)),
        _ => {}
    }
    if opts.cookie_needed {
        out.push(jsessionid_header(req));
    }
    out
}

/// §4.3 Content-Type of a session route's successful response.
fn transport_content_type(t: Transport) -> Option<&'static str> {
    match t {
        Transport::Xhr | Transport::XhrStreaming | Transport::Jsonp => Some(CT_JAVASCRIPT),
        Transport::EventSource => Some(CT_EVENT_STREAM),
        Transport::HtmlFile => Some(CT_HTML),
        Transport::XhrSend | Transport::JsonpSend => Some(CT_TEXT),
        Transport::WebSocket => None,
    }
}

/// Head of a receiving transport's 200 response, chunked (HTTP/1.1). See
/// [`transport_head_framed`].
pub fn transport_head(t: Transport, req: &Request, opts: &ServiceOptions) -> Bytes {
    transport_head_framed(t, req, opts, BodyFraming::Chunked)
}

/// Head of a receiving transport's 200 response (§7): Content-Type of §4.3,
/// [`session_headers`], `X-Content-Type-Options: nosniff` for jsonp, then the body framing.
/// Meant for receiving transports; for the others it yields the same shape with their
/// content type.
pub fn transport_head_framed(
    t: Transport,
    req: &Request,
    opts: &ServiceOptions,
    framing: BodyFraming,
) -> Bytes {
    let mut b = Builder::new(200);
    if let Some(ct) = transport_content_type(t) {
        b.header("Content-Type", ct);
    }
    let headers = session_headers(t, req, opts);
    // §4.3 "jsonp extra": nosniff sits before Set-Cookie, after CORS (none for jsonp).
    let (cookie, rest): (Vec<Header>, Vec<Header>) =
        headers.into_iter().partition(|(n, _)| n == "Set-Cookie");
    b.headers(&rest);
    if t == Transport::Jsonp {
        b.header("X-Content-Type-Options", "nosniff");
    }
    b.headers(&cookie);
    match framing {
        BodyFraming::Chunked => b.header("Transfer-Encoding", "chunked"),
        BodyFraming::CloseDelimited => b.header("Connection", "close"),
    };
    b.end_head()
}

/// Append `data` as one chunk: `<lowercase hex len>\r\n<data>\r\n`. Empty `data` writes
/// nothing (an empty chunk would end the body; use [`LAST_CHUNK`] for that).
pub fn chunk_into(out: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.reserve(data.len() + 12);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Success of a send route (§6.7): xhr_send → 204, empty, `Content-Type: text/plain`,
/// no-cache, CORS, cookie; jsonp_send (and any other transport) → 200 `ok` with
/// `Content-Length: 2`, text/plain, no-cache, cookie, no CORS.
pub fn send_ok(t: Transport, req: &Request, opts: &ServiceOptions) -> Bytes {
    let headers = session_headers(t, req, opts);
    if t == Transport::XhrSend {
        let mut b = Builder::new(204);
        b.header("Content-Type", CT_TEXT).headers(&headers);
        return b.end_head();
    }
    let mut b = Builder::new(200);
    b.header("Content-Type", CT_TEXT).headers(&headers);
    b.body(b"ok")
}

/// The htmlfile/jsonp callback from the query string (§7.4, §7.5): parameter `c`, else
/// `callback`, URL-decoded. Errors are the §4.4 500 bodies.
///
/// Both transports reject (as `invalid "callback" parameter`) an empty name, a name longer
/// than 32 bytes, and any character outside `[a-zA-Z0-9_.-]` (sockjs-node accepts empty
/// names, and long ones on htmlfile; §7.4/§7.5 allow rejecting them). A present `c`, even
/// empty, wins over `callback`.
pub fn callback(query: &str) -> Result<String, &'static str> {
    let raw =
        query_param(query, b"c").or_else(|| query_param(query, b"callback")).ok_or(CALLBACK_REQUIRED)?;
    let valid = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if raw.is_empty() || raw.len() > MAX_CALLBACK_LEN || !raw.iter().all(valid) {
        return Err(CALLBACK_INVALID);
    }
    String::from_utf8(raw).map_err(|_| CALLBACK_INVALID)
}

/// URL-decoded value of the first query parameter named `name` (`name` alone = empty value).
fn query_param(query: &str, name: &[u8]) -> Option<Vec<u8>> {
    query.as_bytes().split(|&b| b == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        (url_decode(k) == name).then(|| url_decode(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed response: status, headers in order, body after the head.
    struct Parsed {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Parsed {
        fn get(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
        fn has(&self, name: &str) -> bool {
            self.get(name).is_some()
        }
    }

    fn parse(raw: &[u8]) -> Parsed {
        let mut hs = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut hs);
        let n = match r.parse(raw) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("incomplete response {other:?}: {}", String::from_utf8_lossy(raw)),
        };
        assert_eq!(r.version, Some(1));
        let headers = r
            .headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
            .collect();
        Parsed { status: r.code.unwrap_or(0), headers, body: raw[n..].to_vec() }
    }

    fn req() -> Request {
        Request { method: "GET".into(), ..Request::default() }
    }

    fn with_origin(o: &str) -> Request {
        Request { origin: Some(o.as_bytes().to_vec()), ..req() }
    }

    fn cookie_opts() -> ServiceOptions {
        ServiceOptions { cookie_needed: true, ..ServiceOptions::default() }
    }

    fn assert_expires_in_a_year(p: &Parsed) {
        assert_eq!(p.get("Cache-Control"), Some("public, max-age=31536000"));
        let expires = httpdate::parse_http_date(p.get("Expires").unwrap_or("")).expect("HTTP-date");
        let delta = expires.duration_since(SystemTime::now()).map(|d| d.as_secs()).unwrap_or(0);
        assert!((ONE_YEAR_S - 5..=ONE_YEAR_S).contains(&delta), "{delta}");
    }

    fn assert_cors_star(p: &Parsed) {
        assert_eq!(p.get("Access-Control-Allow-Origin"), Some("*"));
        assert!(!p.has("Access-Control-Allow-Credentials"));
        assert_eq!(p.get("Vary"), Some("Origin"));
    }

    /// Checklist 1, 79.
    #[test]
    fn spec_3_1_greeting_exact() {
        assert_eq!(
            &greeting()[..],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 19\r\n\r\nWelcome to SockJS!\n"
        );
    }

    /// Checklist 4, 5.
    #[test]
    fn spec_3_2_iframe_page_and_etag() {
        let opts = ServiceOptions::default();
        let p = parse(&iframe(&opts, None));
        assert_eq!(p.status, 200);
        assert_eq!(p.get("Content-Type"), Some("text/html; charset=UTF-8"));
        assert_expires_in_a_year(&p);
        let body = String::from_utf8(p.body.clone()).unwrap_or_default();
        assert!(body.starts_with("<!DOCTYPE html>\n<html>\n<head>\n"));
        assert!(body.contains(&format!("  <script src=\"{DEFAULT_SOCKJS_URL}\"></script>\n  <script>\n")));
        assert!(body.contains(
            "    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n"
        ));
        assert!(body.ends_with("cross domain magic.</p>\n</body>\n</html>"));
        assert_eq!(p.get("Content-Length"), Some(body.len().to_string().as_str()));
        let etag = p.get("ETag").unwrap_or("");
        assert_eq!(etag.len(), 34);
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        assert!(etag[1..33].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(etag, etag_of(body.as_bytes()));
        assert!(!p.has("Last-Modified") && !p.has("Set-Cookie"));
        assert!(!parse(&iframe(&cookie_opts(), None)).has("Set-Cookie"));
        // Stable across requests; depends on sockjs_url only.
        assert_eq!(parse(&iframe(&opts, None)).get("ETag"), Some(etag));
        let other = ServiceOptions { sockjs_url: "/sockjs.js".into(), ..ServiceOptions::default() };
        assert_ne!(parse(&iframe(&other, None)).get("ETag"), Some(etag));
    }

    /// Checklist 7.
    #[test]
    fn spec_3_2_iframe_if_none_match_304() {
        let opts = ServiceOptions::default();
        let etag = etag_of(iframe_body(&opts.sockjs_url).as_bytes());
        let raw = iframe(&opts, Some(etag.as_bytes()));
        let p = parse(&raw);
        assert_eq!(p.status, 304);
        assert!(raw.starts_with(b"HTTP/1.1 304 Not Modified\r\n"));
        assert!(!p.has("Content-Type") && !p.has("Content-Length"));
        assert!(p.body.is_empty());
        assert_expires_in_a_year(&p);
        assert_eq!(parse(&iframe(&opts, Some(b"\"nope\""))).status, 200);
        assert_eq!(parse(&iframe(&opts, Some(etag.trim_matches('"').as_bytes()))).status, 200);
    }

    /// Checklist 8, 14, 58.
    #[test]
    fn spec_3_3_info_shape() {
        let p = parse(&info_with_entropy(&ServiceOptions::default(), &req(), 4274902991));
        assert_eq!(p.status, 200);
        assert_eq!(
            p.body,
            br#"{"websocket":true,"origins":["*:*"],"cookie_needed":false,"entropy":4274902991}"#
        );
        assert_eq!(p.get("Content-Type"), Some("application/json; charset=UTF-8"));
        assert_eq!(p.get("Cache-Control"), Some(NO_CACHE.1));
        assert_cors_star(&p);
        assert!(!p.has("Set-Cookie") && !p.has("Expires") && !p.has("Last-Modified"));
        let opts = ServiceOptions { websocket: false, cookie_needed: true, ..ServiceOptions::default() };
        let p = parse(&info_with_entropy(&opts, &req(), 0));
        assert_eq!(p.body, br#"{"websocket":false,"origins":["*:*"],"cookie_needed":true,"entropy":0}"#);
        assert!(!p.has("Set-Cookie"));
    }

    fn entropy_of(raw: &[u8]) -> u64 {
        let p = parse(raw);
        let body = String::from_utf8(p.body).unwrap_or_default();
        let n = body.rsplit(':').next().unwrap_or("").trim_end_matches('}');
        n.parse().expect("entropy is an integer")
    }

    /// Checklist 9: two requests → different entropy, each in [0, 2^32-1].
    #[test]
    fn spec_3_3_info_two_entropies_differ() {
        let opts = ServiceOptions::default();
        let a = entropy_of(&info(&opts, &req()));
        let b = entropy_of(&info(&opts, &req()));
        assert_ne!(a, b);
        assert!(a <= u64::from(u32::MAX) && b <= u64::from(u32::MAX));
        assert_ne!(fallback_u32(), fallback_u32());
    }

    /// Checklist 10.
    #[test]
    fn spec_3_3_info_echoes_origin() {
        let p = parse(&info(&ServiceOptions::default(), &with_origin("http://a.com")));
        assert_eq!(p.get("Access-Control-Allow-Origin"), Some("http://a.com"));
        assert_eq!(p.get("Access-Control-Allow-Credentials"), Some("true"));
        assert_eq!(p.get("Vary"), Some("Origin"));
    }

    #[test]
    fn spec_4_1_cors_no_origin() {
        let h = cors_headers(&req(), false);
        assert_eq!(
            h,
            vec![("Access-Control-Allow-Origin".into(), "*".into()), ("Vary".into(), "Origin".into())]
        );
        assert_eq!(cors_headers(&with_origin(""), false), h);
    }

    #[test]
    fn spec_4_1_cors_origin_echoed_with_credentials() {
        for o in ["http://o.test", "null", "test"] {
            let h = cors_headers(&with_origin(o), false);
            assert_eq!(
                h,
                vec![
                    ("Access-Control-Allow-Origin".into(), o.into()),
                    ("Access-Control-Allow-Credentials".into(), "true".into()),
                    ("Vary".into(), "Origin".into()),
                ]
            );
        }
    }

    /// Checklist 44.
    #[test]
    fn spec_4_1_cors_eventsource_null_origin_is_star() {
        assert_eq!(cors_headers(&with_origin("null"), true), cors_headers(&req(), false));
        let h = cors_headers(&with_origin("http://o.test"), true);
        assert_eq!(h[0].1, "http://o.test");
        assert_eq!(h[1], ("Access-Control-Allow-Credentials".into(), "true".into()));
    }

    #[test]
    fn spec_4_1_cors_allow_headers_when_requested() {
        let r = Request { access_control_request_headers: Some(b"x-a, x-b".to_vec()), ..req() };
        assert!(cors_headers(&r, false).contains(&("Access-Control-Allow-Headers".into(), "x-a, x-b".into())));
        let r = Request { access_control_request_headers: Some(Vec::new()), ..req() };
        assert!(cors_headers(&r, false).iter().all(|(n, _)| n != "Access-Control-Allow-Headers"));
    }

    /// Checklist 11.
    #[test]
    fn spec_4_2_preflight_info() {
        let r = Request { method: "OPTIONS".into(), ..req() };
        let raw = preflight(&r, "OPTIONS, GET", &ServiceOptions::default());
        assert!(raw.starts_with(b"HTTP/1.1 204 No Content\r\n"));
        let p = parse(&raw);
        assert!(p.body.is_empty() && !p.has("Content-Type") && !p.has("Content-Length"));
        assert_expires_in_a_year(&p);
        assert_eq!(p.get("Access-Control-Allow-Methods"), Some("OPTIONS, GET"));
        assert_eq!(p.get("Access-Control-Max-Age"), Some("31536000"));
        assert_cors_star(&p);
        assert!(!p.has("Set-Cookie"));
    }

    /// Checklist 12, 13, 25, 26, 60.
    #[test]
    fn spec_4_2_preflight_with_origin_and_headers() {
        let r = Request {
            method: "OPTIONS".into(),
            origin: Some(b"test".to_vec()),
            access_control_request_headers: Some(b"a, b, c".to_vec()),
            ..req()
        };
        let p = parse(&preflight(&r, "OPTIONS, POST", &cookie_opts()));
        assert_eq!(p.status, 204);
        assert_eq!(p.get("Access-Control-Allow-Methods"), Some("OPTIONS, POST"));
        assert_eq!(p.get("Access-Control-Allow-Headers"), Some("a, b, c"));
        assert_eq!(p.get("Access-Control-Allow-Origin"), Some("test"));
        assert_eq!(p.get("Access-Control-Allow-Credentials"), Some("true"));
        assert_eq!(p.get("Access-Control-Max-Age"), Some("31536000"));
        assert_eq!(p.get("Set-Cookie"), Some("JSESSIONID=dummy; path=/"));
        let p = parse(&preflight(&with_origin("null"), "OPTIONS, GET", &ServiceOptions::default()));
        assert_eq!(p.get("Access-Control-Allow-Origin"), Some("null"));
        assert_eq!(p.get("Access-Control-Allow-Credentials"), Some("true"));
    }

    /// §2 404 body; disabled WebSocket variant with cache-for-a-year (checklist 72).
    #[test]
    fn spec_2_not_found() {
        let raw = not_found(false);
        assert_eq!(
            &raw[..],
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 26\r\n\r\n404 Error: Page not found\n"
        );
        assert_expires_in_a_year(&parse(&not_found(true)));
        let p =
            parse(&not_found_with(&session_headers(Transport::XhrSend, &req(), &ServiceOptions::default())));
        assert_eq!(p.status, 404);
        assert_eq!(p.get("Cache-Control"), Some(NO_CACHE.1));
        assert_cors_star(&p);
    }

    /// Checklist 3, 15, 27.
    #[test]
    fn spec_2_method_not_allowed() {
        assert_eq!(
            &method_not_allowed("GET")[..],
            b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(parse(&method_not_allowed("OPTIONS, GET")).get("Allow"), Some("OPTIONS, GET"));
    }

    /// Checklist 22, 47, 48.
    #[test]
    fn spec_4_4_error_500() {
        let h = session_headers(Transport::XhrSend, &req(), &cookie_opts());
        let raw = error_500("Payload expected.", &h);
        assert!(raw.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
        let p = parse(&raw);
        assert_eq!(p.body, b"Payload expected.");
        assert!(!p.has("Content-Type"));
        assert_eq!(p.get("Cache-Control"), Some(NO_CACHE.1));
        assert_cors_star(&p);
        assert_eq!(p.get("Set-Cookie"), Some("JSESSIONID=dummy; path=/"));
        let p = parse(&error_500(
            CALLBACK_REQUIRED,
            &session_headers(Transport::HtmlFile, &req(), &cookie_opts()),
        ));
        assert_eq!(p.body, b"\"callback\" parameter required");
        assert!(!p.has("Access-Control-Allow-Origin"));
    }

    /// Checklist 59, 61.
    #[test]
    fn spec_10_jsessionid_value() {
        assert_eq!(jsessionid_header(&req()), ("Set-Cookie".into(), "JSESSIONID=dummy; path=/".into()));
        let c = |v: &str| jsessionid_header(&Request { cookie: Some(v.as_bytes().to_vec()), ..req() }).1;
        assert_eq!(c("JSESSIONID=abcdef"), "JSESSIONID=abcdef; path=/");
        assert_eq!(c("a=b; JSESSIONID=xyz; c=d"), "JSESSIONID=xyz; path=/");
        assert_eq!(c("a=b;JSESSIONID=xyz"), "JSESSIONID=xyz; path=/");
        assert_eq!(c("XJSESSIONID=1; jsessionid=2"), "JSESSIONID=dummy; path=/");
        assert_eq!(c("JSESSIONID="), "JSESSIONID=dummy; path=/");
        let off = session_headers(
            Transport::Xhr,
            &Request { cookie: Some(b"JSESSIONID=1".to_vec()), ..req() },
            &ServiceOptions::default(),
        );
        assert!(off.iter().all(|(n, _)| n != "Set-Cookie"));
        assert!(session_headers(Transport::WebSocket, &req(), &cookie_opts()).is_empty());
    }

    /// Checklist 18, 34.
    #[test]
    fn spec_7_1_7_2_xhr_heads() {
        for t in [Transport::Xhr, Transport::XhrStreaming] {
            let p = parse(&transport_head(t, &with_origin("test"), &ServiceOptions::default()));
            assert_eq!(p.status, 200);
            assert_eq!(p.get("Content-Type"), Some("application/javascript; charset=UTF-8"));
            assert_eq!(p.get("Cache-Control"), Some(NO_CACHE.1));
            assert_eq!(p.get("Access-Control-Allow-Origin"), Some("test"));
            assert_eq!(p.get("Access-Control-Allow-Credentials"), Some("true"));
            assert_eq!(p.get("Transfer-Encoding"), Some("chunked"));
            assert!(!p.has("Content-Length") && !p.has("Set-Cookie") && !p.has("Expires"));
            assert!(p.body.is_empty());
        }
    }

    /// Checklist 41, 44.
    #[test]
    fn spec_7_3_eventsource_head() {
        let p =
            parse(&transport_head(Transport::EventSource, &with_origin("null"), &ServiceOptions::default()));
        assert_eq!(p.get("Content-Type"), Some("text/event-stream"));
        assert_eq!(p.get("Cache-Control"), Some(NO_CACHE.1));
        assert_cors_star(&p);
    }

    /// Checklist 45, 50, 60.
    #[test]
    fn spec_7_4_7_5_htmlfile_and_jsonp_heads() {
        let p = parse(&transport_head(Transport::HtmlFile, &with_origin("x"), &cookie_opts()));
        assert_eq!(p.get("Content-Type"), Some("text/html; charset=UTF-8"));
        assert!(!p.has("Access-Control-Allow-Origin") && !p.has("Vary") && !p.has("X-Content-Type-Options"));
        assert_eq!(p.get("Set-Cookie"), Some("JSESSIONID=dummy; path=/"));
        let raw = transport_head(Transport::Jsonp, &with_origin("x"), &cookie_opts());
        let p = parse(&raw);
        assert_eq!(p.get("Content-Type"), Some("application/javascript; charset=UTF-8"));
        assert_eq!(p.get("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(p.get("Cache-Control"), Some(NO_CACHE.1));
        assert!(!p.has("Access-Control-Allow-Origin"));
        assert_eq!(
            &raw[..],
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {CT_JAVASCRIPT}\r\nCache-Control: {}\r\nX-Content-Type-Options: nosniff\r\n\
Set-Cookie: JSESSIONID=dummy; path=/\r\nTransfer-Encoding: chunked\r\n\r\n",
                NO_CACHE.1
            )
            .as_bytes()
        );
    }

    /// Checklist 39: HTTP/1.0 streaming is close-delimited.
    #[test]
    fn spec_9_http10_close_delimited_head() {
        let p = parse(&transport_head_framed(
            Transport::XhrStreaming,
            &req(),
            &ServiceOptions::default(),
            BodyFraming::CloseDelimited,
        ));
        assert_eq!(p.get("Connection"), Some("close"));
        assert!(!p.has("Transfer-Encoding") && !p.has("Content-Length"));
    }

    /// Checklist 40: chunk per write, then the zero chunk.
    #[test]
    fn spec_9_chunks() {
        let mut out = BytesMut::new();
        chunk_into(&mut out, b"o\n");
        chunk_into(&mut out, b"");
        chunk_into(&mut out, &[b'h'; 2049]);
        out.extend_from_slice(LAST_CHUNK);
        let mut expected = b"2\r\no\n\r\n801\r\n".to_vec();
        expected.extend_from_slice(&[b'h'; 2049]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(&out[..], &expected[..]);
    }

    /// Checklist 19, 51, 60.
    #[test]
    fn spec_6_7_send_ok() {
        let raw = send_ok(Transport::XhrSend, &req(), &cookie_opts());
        assert!(raw.starts_with(b"HTTP/1.1 204 No Content\r\n"));
        let p = parse(&raw);
        assert!(p.body.is_empty() && !p.has("Content-Length"));
        assert_eq!(p.get("Content-Type"), Some("text/plain; charset=UTF-8"));
        assert_eq!(p.get("Cache-Control"), Some(NO_CACHE.1));
        assert_cors_star(&p);
        assert_eq!(p.get("Set-Cookie"), Some("JSESSIONID=dummy; path=/"));
        let p = parse(&send_ok(Transport::JsonpSend, &with_origin("x"), &cookie_opts()));
        assert_eq!(p.status, 200);
        assert_eq!(p.body, b"ok");
        assert_eq!(p.get("Content-Length"), Some("2"));
        assert_eq!(p.get("Content-Type"), Some("text/plain; charset=UTF-8"));
        assert_eq!(p.get("Cache-Control"), Some(NO_CACHE.1));
        assert!(!p.has("Access-Control-Allow-Origin"));
        assert_eq!(p.get("Set-Cookie"), Some("JSESSIONID=dummy; path=/"));
    }

    /// Checklist 45, 47, 48, 53.
    #[test]
    fn spec_7_4_7_5_callback_validation() {
        assert_eq!(callback("c=%63allback"), Ok("callback".to_string()));
        assert_eq!(callback("t=1&callback=cb_1.x-y"), Ok("cb_1.x-y".to_string()));
        assert_eq!(callback("c=a&callback=b"), Ok("a".to_string()));
        assert_eq!(callback(""), Err(CALLBACK_REQUIRED));
        assert_eq!(callback("t=1&cc=x"), Err(CALLBACK_REQUIRED));
        for q in ["c=%20", "c=*", "c=abc(", "c=abc%28", "c=a+b", "c=", "c", "c=%C3%A9", "c=a%00"] {
            assert_eq!(callback(q), Err(CALLBACK_INVALID), "{q}");
        }
        assert_eq!(callback(&format!("c={}", "a".repeat(32))), Ok("a".repeat(32)));
        assert_eq!(callback(&format!("c={}", "a".repeat(33))), Err(CALLBACK_INVALID));
    }
}
