//! Fuzz target for `transport::ws::handshake`.
//!
//! Owns: the properties checked on arbitrary header values — no panic; a refusal has the
//! status and body the project spec gives; an acceptance only happens for GET with version
//! 13 and yields a 28-byte accept value equal to `accept_key` of the trimmed key, which the
//! 101 response carries.
//!
//! Does not own: HTTP request parsing (the caller's) or the frame reader (`ws_reader`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringcast::transport::ws::handshake::{
    accept_key, response_101, validate, HandshakeError, HandshakeHeaders,
};

/// Split `data` on `\n` into at most 5 fields; a field of exactly `-` stands for a
/// missing header.
fn fields(data: &[u8]) -> [Option<&[u8]>; 5] {
    let mut out = [None; 5];
    for (slot, field) in out.iter_mut().zip(data.split(|&b| b == b'\n')) {
        *slot = (field != b"-").then_some(field);
    }
    out
}

/// Strip spaces and tabs (HTTP optional whitespace) from both ends.
fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fuzz_target!(|data: &[u8]| {
    let [method, upgrade, connection, version, key] = fields(data);
    let method = std::str::from_utf8(method.unwrap_or_default()).unwrap_or("GET");
    let headers = HandshakeHeaders { method, upgrade, connection, version, key };
    match validate(&headers) {
        Ok(accept) => {
            assert_eq!(method, "GET");
            assert_eq!(accept.len(), 28);
            let trimmed = key.map(|k| trim_ows(k)).unwrap_or_default();
            assert_eq!(accept, accept_key(trimmed));
            assert_eq!(version.map(|v| trim_ows(v)), Some(&b"13"[..]));
            let response = response_101(&accept);
            assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
            assert!(response.ends_with(format!("Sec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes()));
        }
        Err(e) => {
            let expected_status = if e == HandshakeError::MethodNotAllowed { 405 } else { 400 };
            assert_eq!(e.status(), expected_status);
            assert_eq!(e.body().is_empty(), e == HandshakeError::MethodNotAllowed);
            if method != "GET" {
                assert_eq!(e, HandshakeError::MethodNotAllowed);
            }
            let _ = e.to_string();
        }
    }
});
