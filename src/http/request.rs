//! Sans-IO HTTP request-head parsing on top of `httparse`.
//!
//! Owns: turning the bytes of one request head into a small owned [`Request`] that
//! keeps only what ringcast uses. Incomplete input is `Ok(None)`; nothing is allocated
//! until the head is complete. Does not own: bodies (the caller reads `content_length`
//! bytes after the head) or routing.

use crate::error::HttpError;

/// Headers inspected per request; more is a malformed (hostile) request.
const MAX_HEADERS: usize = 48;

/// The parts of a request ringcast acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Query string without `?` (empty if none).
    pub query: String,
    /// HTTP/1.0 or `Connection: close`: the connection ends after the response.
    pub close: bool,
    pub upgrade: Option<Vec<u8>>,
    pub connection: Option<Vec<u8>>,
    pub ws_version: Option<Vec<u8>>,
    pub ws_key: Option<Vec<u8>>,
    /// Hixie-76 handshake keys (`Sec-WebSocket-Key1`, `Sec-WebSocket-Key2`).
    pub ws_key1: Option<Vec<u8>>,
    pub ws_key2: Option<Vec<u8>>,
    pub origin: Option<Vec<u8>>,
    /// `Host` (same-origin check of `security.allowed_origins`).
    pub host: Option<Vec<u8>>,
    /// `Authorization` (bearer tokens of `/publish` and `/metrics`).
    pub authorization: Option<Vec<u8>>,
    pub content_type: Option<Vec<u8>>,
    pub cookie: Option<Vec<u8>>,
    pub if_none_match: Option<Vec<u8>>,
    /// `Access-Control-Request-Headers` (CORS preflight).
    pub access_control_request_headers: Option<Vec<u8>>,
    pub content_length: usize,
    /// `Transfer-Encoding: chunked` body (decode with [`decode_chunked`]).
    pub chunked: bool,
    /// HTTP/1.0 request (streaming responses must then be close-delimited).
    pub http10: bool,
}

/// Parse one request head from the start of `buf`.
///
/// Returns the request and the head's length in bytes, `Ok(None)` if the head is not
/// complete yet, or an error when it is malformed or longer than `max_head_bytes`.
pub fn parse(
    buf: &[u8],
    max_head_bytes: usize,
    max_body_bytes: usize,
) -> Result<Option<(Request, usize)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(buf).map_err(|_| HttpError::Malformed)?;
    let head_len = match status {
        httparse::Status::Partial if buf.len() > max_head_bytes => return Err(HttpError::HeadTooLarge),
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(n) if n > max_head_bytes => return Err(HttpError::HeadTooLarge),
        httparse::Status::Complete(n) => n,
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut out = Request {
        method: req.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        close: req.version == Some(0),
        http10: req.version == Some(0),
        ..Request::default()
    };
    let mut framing = Framing::default();
    for h in req.headers.iter() {
        apply_header(&mut out, &mut framing, h.name, h.value)?;
    }
    framing.check(&mut out)?;
    if out.content_length > max_body_bytes {
        return Err(HttpError::BodyTooLarge);
    }
    Ok(Some((out, head_len)))
}

/// The headers that frame a body, gathered before they are checked together
/// (RFC 9112 §6: a request with an ambiguous length is refused, never guessed at).
#[derive(Default)]
struct Framing {
    content_length: Option<usize>,
    /// Every Transfer-Encoding value, in order (repeated headers are one list).
    transfer_encoding: Vec<u8>,
}

impl Framing {
    fn content_length(&mut self, value: &[u8]) -> Result<(), HttpError> {
        let n = parse_content_length(value)?;
        match self.content_length {
            Some(seen) if seen != n => Err(HttpError::ConflictingContentLength),
            _ => {
                self.content_length = Some(n);
                Ok(())
            }
        }
    }

    fn transfer_encoding(&mut self, value: &[u8]) {
        if !self.transfer_encoding.is_empty() {
            self.transfer_encoding.push(b',');
        }
        self.transfer_encoding.extend_from_slice(value);
    }

    /// §6.1: Transfer-Encoding must be exactly `chunked` (we decode nothing else), never
    /// with Content-Length, and never in HTTP/1.0.
    fn check(self, out: &mut Request) -> Result<(), HttpError> {
        if self.transfer_encoding.is_empty() {
            out.content_length = self.content_length.unwrap_or(0);
            return Ok(());
        }
        if self.content_length.is_some() {
            return Err(HttpError::LengthWithTransferEncoding);
        }
        if out.http10 || !self.transfer_encoding.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(HttpError::BadTransferEncoding);
        }
        out.chunked = true;
        Ok(())
    }
}

fn apply_header(out: &mut Request, framing: &mut Framing, name: &str, value: &[u8]) -> Result<(), HttpError> {
    let n = name.as_bytes();
    if n.eq_ignore_ascii_case(b"upgrade") {
        out.upgrade = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"connection") {
        // HTTP/1.0 `Connection: keep-alive` does not keep the connection: no response says
        // `Connection: keep-alive` back, and without it the client expects the server to
        // close (RFC 9112 §C.2.2; sockjs §9 checklist 79).
        if has_token(value, b"close") {
            out.close = true;
        }
        out.connection = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"sec-websocket-version") {
        out.ws_version = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"sec-websocket-key") {
        out.ws_key = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"sec-websocket-key1") {
        out.ws_key1 = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"sec-websocket-key2") {
        out.ws_key2 = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"origin") {
        out.origin = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"host") {
        out.host = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"authorization") {
        out.authorization = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"content-type") {
        out.content_type = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"cookie") {
        out.cookie = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"if-none-match") {
        out.if_none_match = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"access-control-request-headers") {
        out.access_control_request_headers = Some(value.to_vec());
    } else if n.eq_ignore_ascii_case(b"content-length") {
        framing.content_length(value)?;
    } else if n.eq_ignore_ascii_case(b"transfer-encoding") {
        framing.transfer_encoding(value);
    }
    Ok(())
}

fn parse_content_length(value: &[u8]) -> Result<usize, HttpError> {
    let s = std::str::from_utf8(value).map_err(|_| HttpError::BadContentLength)?.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::BadContentLength);
    }
    s.parse().map_err(|_| HttpError::BadContentLength)
}

/// Decode a chunked body at the start of `buf` (RFC 9112 §7.1): the body and the bytes
/// used, `Ok(None)` while incomplete. Chunk extensions and trailers are skipped.
pub fn decode_chunked(buf: &[u8], max_body_bytes: usize) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[at..]) else { return incomplete(buf.len() - at) };
        let size = parse_chunk_size(&buf[at..at + line_end])?;
        at += line_end + 2;
        if size == 0 {
            return skip_trailers(buf, at).map(|done| done.map(|used| (body, used)));
        }
        if body.len() + size > max_body_bytes {
            return Err(HttpError::BodyTooLarge);
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err(HttpError::Malformed);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

/// A chunk-size line longer than this is hostile.
const MAX_CHUNK_LINE_BYTES: usize = 1024;

fn incomplete<T>(pending_line_bytes: usize) -> Result<Option<T>, HttpError> {
    if pending_line_bytes > MAX_CHUNK_LINE_BYTES {
        Err(HttpError::Malformed)
    } else {
        Ok(None)
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn parse_chunk_size(line: &[u8]) -> Result<usize, HttpError> {
    let hex = line.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
    if hex.is_empty() || hex.len() > 8 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(HttpError::Malformed);
    }
    let text = std::str::from_utf8(hex).map_err(|_| HttpError::Malformed)?;
    usize::from_str_radix(text, 16).map_err(|_| HttpError::Malformed)
}

/// After the last chunk: trailer lines until an empty line. Returns total bytes used.
fn skip_trailers(buf: &[u8], mut at: usize) -> Result<Option<usize>, HttpError> {
    loop {
        let Some(line_end) = find_crlf(&buf[at..]) else { return incomplete(buf.len() - at) };
        at += line_end + 2;
        if line_end == 0 {
            return Ok(Some(at));
        }
    }
}

/// Query parameter `name` of `query` (without `?`), percent-decoded; the first if repeated.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = crate::transport::sockjs::receive::url_decode(k.as_bytes());
        let v = || String::from_utf8_lossy(&crate::transport::sockjs::receive::url_decode(v.as_bytes())).into_owned();
        (k == name.as_bytes()).then(v)
    })
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_head_needs_more() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n", 8192, 0), Ok(None));
    }

    #[test]
    fn parses_upgrade_headers_and_query() {
        let raw = b"GET /rooms/websocket?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\n\
Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: abc\r\n\r\nrest";
        let (req, n) = parse(raw, 8192, 0).unwrap().unwrap();
        assert_eq!(n, raw.len() - 4);
        assert_eq!(req.path, "/rooms/websocket");
        assert_eq!(req.query, "x=1");
        assert_eq!(req.upgrade.as_deref(), Some(&b"WebSocket"[..]));
        assert!(has_token(req.connection.as_deref().unwrap(), b"upgrade"));
        assert!(!req.close);
    }

    #[test]
    fn http10_and_connection_close_end_the_connection() {
        let (req, _) = parse(b"GET / HTTP/1.0\r\n\r\n", 8192, 0).unwrap().unwrap();
        assert!(req.close);
        let (req, _) = parse(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 8192, 0).unwrap().unwrap();
        assert!(req.close);
        let keep = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
        assert!(parse(keep, 8192, 0).unwrap().unwrap().0.close, "HTTP/1.0 keep-alive is not answered");
        let (req, _) = parse(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", 8192, 0).unwrap().unwrap();
        assert!(!req.close);
    }

    #[test]
    fn oversized_and_malformed_heads_are_errors() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000));
        assert_eq!(parse(big.as_bytes(), 8192, 0), Err(HttpError::HeadTooLarge));
        assert_eq!(parse(b"\x00\x01garbage\r\n\r\n", 8192, 0), Err(HttpError::Malformed));
        let cl = b"POST /publish/a HTTP/1.1\r\nContent-Length: 99999\r\n\r\n";
        assert_eq!(parse(cl, 8192, 10), Err(HttpError::BodyTooLarge));
        let bad = b"POST /publish/a HTTP/1.1\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(parse(bad, 8192, 10), Err(HttpError::BadContentLength));
        let gzip = b"POST /publish/a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(parse(gzip, 8192, 10), Err(HttpError::BadTransferEncoding));
    }

    #[test]
    fn ambiguous_framing_is_refused_rfc9112_6() {
        let req = |headers: &str| format!("POST /x HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
        let parse_req = |headers: &str| parse(req(headers).as_bytes(), 8192, 1000).map(|r| r.map(|(r, _)| r));
        let same = parse_req("Content-Length: 5\r\nContent-Length: 5\r\n").unwrap().unwrap();
        assert_eq!(same.content_length, 5, "repeated equal values are one value");
        assert_eq!(parse_req("Content-Length: 5\r\nContent-Length: 6\r\n"), Err(HttpError::ConflictingContentLength));
        assert_eq!(
            parse_req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
            Err(HttpError::LengthWithTransferEncoding)
        );
        for te in ["gzip, chunked", "chunked, chunked", "identity", "xchunked"] {
            assert_eq!(parse_req(&format!("Transfer-Encoding: {te}\r\n")), Err(HttpError::BadTransferEncoding), "{te}");
        }
        let two = parse_req("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n");
        assert_eq!(two, Err(HttpError::BadTransferEncoding), "repeated headers form one list");
        assert!(parse_req("Transfer-Encoding: Chunked\r\n").unwrap().unwrap().chunked);
        let http10 = b"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse(http10, 8192, 1000), Err(HttpError::BadTransferEncoding));
        let folded = b"GET /x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  continued\r\n\r\n";
        assert_eq!(parse(folded, 8192, 1000), Err(HttpError::Malformed), "obs-fold");
    }

    #[test]
    fn chunked_bodies_decode_incrementally() {
        let (req, n) =
            parse(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 8192, 100).unwrap().unwrap();
        assert!(req.chunked && n > 0);
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for cut in 0..body.len() - 4 {
            assert_eq!(decode_chunked(&body[..cut], 100), Ok(None), "cut at {cut}");
        }
        assert_eq!(decode_chunked(body, 100), Ok(Some((b"Wikipedia".to_vec(), body.len() - 4))));
        assert_eq!(decode_chunked(b"0\r\n\r\n", 100), Ok(Some((vec![], 5))));
        assert_eq!(decode_chunked(b"zz\r\n", 100), Err(HttpError::Malformed));
        assert_eq!(decode_chunked(b"4\r\nWikiXX", 100), Err(HttpError::Malformed));
        assert_eq!(decode_chunked(b"ff\r\n", 10), Err(HttpError::BodyTooLarge));
    }
}
