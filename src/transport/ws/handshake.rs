//! The server side of the WebSocket opening handshake (RFC 6455 §4.2).
//!
//! Owns: deciding whether an HTTP request is a valid raw-WebSocket upgrade (§4.2.1), the
//! `Sec-WebSocket-Accept` computation (§4.2.2 step 5.4), the status and body of a
//! refusal, and the bytes of the `101 Switching Protocols` response.
//!
//! Does not own: parsing the HTTP request (the caller hands over the header values),
//! routing, extra response headers on refusal (`Allow`, `Sec-WebSocket-Version`, added by
//! the caller), subprotocols and extensions (none are negotiated).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// RFC 6455 §1.3: the GUID appended to the client's key.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `base64(sha1(key + GUID))`, 28 bytes (RFC 6455 §4.2.2 step 5.4).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    STANDARD.encode(sha1.finalize())
}

/// The request fields the handshake looks at; header values are raw bytes, `None` when
/// the header is absent.
pub struct HandshakeHeaders<'a> {
    pub method: &'a str,
    pub upgrade: Option<&'a [u8]>,
    pub connection: Option<&'a [u8]>,
    pub version: Option<&'a [u8]>,
    pub key: Option<&'a [u8]>,
}

/// Why an upgrade request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// RFC 6455 §4.2.1 item 1: the method MUST be GET (405, caller adds `Allow: GET`).
    #[error("websocket upgrade with a method other than GET (RFC 6455 §4.2.1)")]
    MethodNotAllowed,
    /// RFC 6455 §4.2.1 items 3-4: `Upgrade: websocket` and `Connection: upgrade` missing.
    #[error("request lacks Upgrade: websocket or Connection: upgrade (RFC 6455 §4.2.1)")]
    NotWebSocket,
    /// RFC 6455 §4.2.1 item 6: `Sec-WebSocket-Version` MUST be 13; holds what was sent.
    #[error("unsupported Sec-WebSocket-Version {0:?}, only 13 (RFC 6455 §4.2.1)")]
    UnsupportedVersion(String),
    /// RFC 6455 §4.2.1 item 5: `Sec-WebSocket-Key` is required.
    #[error("missing Sec-WebSocket-Key (RFC 6455 §4.2.1)")]
    MissingKey,
    /// RFC 6455 §4.2.1 item 5: the key must be base64 of 16 bytes.
    #[error("Sec-WebSocket-Key is not base64 of 16 bytes (RFC 6455 §4.2.1)")]
    InvalidKey,
}

impl HandshakeError {
    /// HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::MethodNotAllowed => 405,
            _ => 400,
        }
    }

    /// Plain-text body of the refusal (empty for 405).
    #[cold]
    pub fn body(&self) -> String {
        let body = match self {
            HandshakeError::MethodNotAllowed => "",
            HandshakeError::NotWebSocket => "Not a valid websocket request",
            HandshakeError::UnsupportedVersion(_) => "Only supported WebSocket protocol is RFC 6455.",
            HandshakeError::MissingKey => "Missing handshake request header: Sec-WebSocket-Key",
            HandshakeError::InvalidKey => "Invalid handshake request header: Sec-WebSocket-Key",
        };
        body.to_owned()
    }
}

/// Validate a raw-WebSocket upgrade request and return the `Sec-WebSocket-Accept` value.
///
/// Checked in this order (RFC 6455 §4.2.1): method GET; `Upgrade` lists `websocket` and
/// `Connection` lists `upgrade` (comma-separated, case-insensitive); version 13; key
/// present and the base64 of 16 bytes.
pub fn validate(h: &HandshakeHeaders<'_>) -> Result<String, HandshakeError> {
    check_upgrade(h)?;
    match h.version.map(trim) {
        Some(b"13") => {}
        other => return Err(unsupported_version(other)),
    }
    let key = trim(h.key.ok_or(HandshakeError::MissingKey)?);
    if !is_valid_key(key) {
        return Err(HandshakeError::InvalidKey);
    }
    Ok(accept_key(key))
}

/// The checks every WebSocket handshake shares (Hixie-76 too): method GET, `Upgrade`
/// lists `websocket` and `Connection` lists `upgrade`.
pub fn check_upgrade(h: &HandshakeHeaders<'_>) -> Result<(), HandshakeError> {
    if h.method != "GET" {
        return Err(HandshakeError::MethodNotAllowed);
    }
    let upgrade = h.upgrade.is_some_and(|v| has_token(v, b"websocket"));
    let connection = h.connection.is_some_and(|v| has_token(v, b"upgrade"));
    if !upgrade || !connection {
        return Err(HandshakeError::NotWebSocket);
    }
    Ok(())
}

#[cold]
fn unsupported_version(version: Option<&[u8]>) -> HandshakeError {
    HandshakeError::UnsupportedVersion(String::from_utf8_lossy(version.unwrap_or_default()).into_owned())
}

/// RFC 6455 §4.1: the key is a random 16-byte value, base64-encoded (24 characters).
fn is_valid_key(key: &[u8]) -> bool {
    let mut decoded = [0u8; 18];
    key.len() == 24 && matches!(STANDARD.decode_slice(key, &mut decoded), Ok(16))
}

/// Does a comma-separated header value contain `token` (ASCII case-insensitive)?
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// Strip optional whitespace (RFC 9110 §5.6.3: spaces and tabs) from both ends.
fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Full `HTTP/1.1 101 Switching Protocols` response (RFC 6455 §4.2.2 step 5), no
/// `Content-Length` (the connection stops being HTTP after it).
pub fn response_101(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";

    fn request<'a>(method: &'a str, key: Option<&'a [u8]>) -> HandshakeHeaders<'a> {
        HandshakeHeaders {
            method,
            upgrade: Some(b"websocket"),
            connection: Some(b"Upgrade"),
            version: Some(b"13"),
            key,
        }
    }

    #[test]
    fn rfc6455_1_3_accept_key_vectors() {
        // The value printed in RFC 6455 §1.3 (and checked with Python's hashlib/base64).
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accept_key(b"x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
        assert_eq!(accept_key(KEY).len(), 28);
    }

    #[test]
    fn rfc6455_4_2_1_valid_request_returns_accept() {
        assert_eq!(validate(&request("GET", Some(KEY))).as_deref(), Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        let h = HandshakeHeaders {
            method: "GET",
            upgrade: Some(b" WebSocket "),
            connection: Some(b"keep-alive, Upgrade"),
            version: Some(b" 13"),
            key: Some(b"x3JJHMbDL1EzLkh9GBhXDw== "),
        };
        assert_eq!(validate(&h).as_deref(), Ok("HSmrc0sMlYUkAGmm5OPpG2HaGWk="));
    }

    #[test]
    fn rfc6455_4_2_1_method_must_be_get() {
        for method in ["POST", "get", "HEAD", "OPTIONS"] {
            let e = validate(&request(method, Some(KEY))).unwrap_err();
            assert_eq!(e, HandshakeError::MethodNotAllowed);
            assert_eq!((e.status(), e.body().as_str()), (405, ""));
        }
        // The method is checked first.
        let h =
            HandshakeHeaders { method: "POST", upgrade: None, connection: None, version: None, key: None };
        assert_eq!(validate(&h), Err(HandshakeError::MethodNotAllowed));
    }

    #[test]
    fn rfc6455_4_2_1_upgrade_and_connection_required() {
        type Pair<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);
        let cases: [Pair<'_>; 6] = [
            (None, Some(b"Upgrade")),
            (Some(b"websocket"), None),
            (Some(b"h2c"), Some(b"Upgrade")),
            (Some(b"websocket"), Some(b"keep-alive")),
            (Some(b"websocket"), Some(b"upgrade-please")),
            (Some(b""), Some(b"")),
        ];
        for (upgrade, connection) in cases {
            let h =
                HandshakeHeaders { upgrade, connection, version: None, key: None, ..request("GET", None) };
            let e = validate(&h).unwrap_err();
            assert_eq!(e, HandshakeError::NotWebSocket, "{upgrade:?} {connection:?}");
            assert_eq!((e.status(), e.body().as_str()), (400, "Not a valid websocket request"));
        }
    }

    #[test]
    fn rfc6455_4_2_1_version_must_be_13() {
        for (version, seen) in [(None, ""), (Some(&b"8"[..]), "8"), (Some(b"14"), "14"), (Some(b""), "")] {
            let h = HandshakeHeaders { version, ..request("GET", None) };
            let e = validate(&h).unwrap_err();
            assert_eq!(e, HandshakeError::UnsupportedVersion(seen.to_owned()));
            assert_eq!(
                (e.status(), e.body().as_str()),
                (400, "Only supported WebSocket protocol is RFC 6455.")
            );
        }
    }

    #[test]
    fn rfc6455_4_2_1_key_required_and_16_bytes() {
        let e = validate(&request("GET", None)).unwrap_err();
        assert_eq!(e, HandshakeError::MissingKey);
        assert_eq!(
            (e.status(), e.body().as_str()),
            (400, "Missing handshake request header: Sec-WebSocket-Key")
        );
        let bad: [&[u8]; 5] =
            [b"", b"abc", b"AAAAAAAAAAAAAAAAAAAA", b"AAAAAAAAAAAAAAAAAAAAAA=", b"!GhlIHNhbXBsZSBub25jZQ=="];
        for key in bad {
            let e = validate(&request("GET", Some(key))).unwrap_err();
            assert_eq!(e, HandshakeError::InvalidKey, "{key:?}");
            assert_eq!(e.status(), 400);
        }
        // base64 of 17 bytes is 24 characters too, with one '=' of padding.
        assert_eq!(
            validate(&request("GET", Some(b"AAAAAAAAAAAAAAAAAAAAAAA="))),
            Err(HandshakeError::InvalidKey)
        );
    }

    #[test]
    fn rfc6455_4_2_2_response_101_bytes() {
        let r = response_101("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            r,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
    }

    #[test]
    fn handshake_error_messages_name_the_cause() {
        assert!(HandshakeError::UnsupportedVersion("8".into()).to_string().contains("\"8\""));
        assert!(HandshakeError::MissingKey.to_string().contains("Sec-WebSocket-Key"));
    }
}
