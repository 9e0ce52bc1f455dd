//! Sans-IO HTTP request-head parsing on top of `httparse`.
//!
//! Owns: turning the bytes of one request head into a small owned [`Request`] that
//! keeps only what ringcast uses. Incomplete input is `Ok(None)`; nothing is allocated
//! until the head is complete. Also owns finding where a request ends ([`next_request`]):
//! after `content_length` body bytes, or at the end of a chunked body (decoded by
//! `http::chunked`), remembering the work done between reads. Does not own: routing.

use super::chunked::ChunkedDecoder;
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
    /// `Transfer-Encoding: chunked` body (decoded by [`next_request`]).
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

/// A request whose head is parsed and whose body is still arriving: kept with the
/// connection between reads so that neither the head nor the body is parsed twice.
#[derive(Debug)]
pub struct Pending {
    req: Request,
    head_len: usize,
    /// Bytes of the connection's buffer already used (head, then body bytes decoded).
    used: usize,
    chunked: Option<ChunkedDecoder>,
}

/// One complete request at the start of the connection's buffer.
#[derive(Debug)]
pub struct Complete {
    pub req: Request,
    pub head_len: usize,
    /// Bytes of the buffer the request takes (head and body, chunk framing included).
    pub total_len: usize,
    /// The decoded body of a chunked request (`None`: the body is the raw bytes after
    /// the head).
    pub chunked_body: Option<Vec<u8>>,
}

/// Request-size limits applied while reading one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_head_bytes: usize,
    pub max_body_bytes: usize,
}

/// The next complete request at the start of `buf`, `Ok(None)` while more bytes are
/// needed. `pending` carries the work done on earlier calls for the same request: call
/// again with the same `pending` and `buf` grown by the bytes read since. Body bytes are
/// looked at once, whatever the read sizes; only an incomplete head is parsed again.
pub fn next_request(
    buf: &[u8],
    pending: &mut Option<Box<Pending>>,
    limits: Limits,
) -> Result<Option<Complete>, HttpError> {
    let mut p = match pending.take() {
        Some(p) => p,
        None => {
            let Some((req, head_len)) = parse(buf, limits.max_head_bytes, limits.max_body_bytes)? else {
                return Ok(None);
            };
            let chunked = req.chunked.then(|| ChunkedDecoder::new(limits.max_body_bytes));
            Box::new(Pending { req, head_len, used: head_len, chunked })
        }
    };
    if !p.advance(buf)? {
        *pending = Some(p); // boxed: a connection between requests holds only a `None`
        return Ok(None);
    }
    let Pending { req, head_len, used, chunked } = *p;
    Ok(Some(Complete { req, head_len, total_len: used, chunked_body: chunked.map(ChunkedDecoder::into_body) }))
}

impl Pending {
    /// Use the body bytes of `buf` not used yet; whether the body is complete.
    fn advance(&mut self, buf: &[u8]) -> Result<bool, HttpError> {
        match self.chunked.as_mut() {
            Some(decoder) => {
                self.used += decoder.feed(&buf[self.used..])?;
                Ok(decoder.is_done())
            }
            None => {
                let total = self.head_len + self.req.content_length;
                self.used = buf.len().min(total);
                Ok(self.used == total)
            }
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

    const LIMITS: Limits = Limits { max_head_bytes: 8192, max_body_bytes: 1 << 20 };

    /// Feed `raw` to [`next_request`] in `step`-byte reads; the requests completed.
    fn feed_in_steps(raw: &[u8], step: usize) -> Vec<Complete> {
        let (mut buf, mut pending, mut done) = (Vec::new(), None, Vec::new());
        for piece in raw.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(c) = next_request(&buf, &mut pending, LIMITS).unwrap() {
                buf.drain(..c.total_len);
                done.push(c);
            }
        }
        assert!(buf.is_empty() && pending.is_none());
        done
    }

    #[test]
    fn requests_complete_in_any_split() {
        let raw = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n\
POST /y HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /z HTTP/1.1\r\n\r\n";
        for step in 1..raw.len() {
            let done = feed_in_steps(raw, step);
            let paths: Vec<_> = done.iter().map(|c| c.req.path.as_str()).collect();
            assert_eq!(paths, ["/x", "/y", "/z"], "step {step}");
            assert_eq!(done[0].chunked_body.as_deref(), Some(&b"Wikipedia"[..]));
            assert_eq!(done[1].chunked_body, None);
            assert_eq!(done[1].total_len - done[1].head_len, 3);
        }
    }

    #[test]
    fn chunked_errors_surface() {
        let head = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let bad = [head.as_slice(), b"zz\r\n"].concat();
        assert_eq!(next_request(&bad, &mut None, LIMITS).unwrap_err(), HttpError::Malformed);
        let big = [head.as_slice(), b"200000\r\n"].concat();
        assert_eq!(next_request(&big, &mut None, LIMITS).unwrap_err(), HttpError::BodyTooLarge);
    }
}
