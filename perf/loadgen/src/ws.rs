//! The WebSocket client wire format (RFC 6455), sans I/O: the upgrade request and the check of
//! the server's 101 answer, masked client frames, and decoding of unmasked server frames.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha1::{Digest, Sha1};

use crate::http::{find_head_end, MAX_RESPONSE_HEAD_BYTES};
use crate::rng::Rng;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Largest single frame accepted from a server.
const MAX_FRAME_BYTES: u64 = 64 * 1024 * 1024;
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64.
pub fn new_key(rng: &mut Rng) -> String {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    raw[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    BASE64.encode(raw)
}

/// The `Sec-WebSocket-Accept` a correct server answers to `key`.
pub fn accept_for(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// Appends the HTTP/1.1 upgrade request to `out`.
pub fn write_upgrade_request(out: &mut Vec<u8>, host: &str, path: &str, key: &str) {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    out.extend_from_slice(req.as_bytes());
}

/// Checks the server's upgrade response at the start of `buf`. `Ok(None)`: the head is not
/// complete yet; `Ok(Some(n))`: a valid 101 whose head is `n` bytes long (frames may follow).
pub fn parse_upgrade_response(buf: &[u8], expected_accept: &str) -> Result<Option<usize>, String> {
    let Some(end) = find_head_end(buf) else {
        if buf.len() > MAX_RESPONSE_HEAD_BYTES {
            return Err("upgrade response head too large".into());
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    if status.split_ascii_whitespace().nth(1) != Some("101") {
        return Err(format!("upgrade refused: {status:?}"));
    }
    let accept = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("sec-websocket-accept").then(|| value.trim().to_string())
    });
    match accept {
        Some(a) if a == expected_accept => Ok(Some(end + 4)),
        Some(a) => Err(format!("wrong Sec-WebSocket-Accept {a:?}, expected {expected_accept:?}")),
        None => Err("101 response without Sec-WebSocket-Accept".into()),
    }
}

/// Appends one final, masked client frame with `opcode` and `payload` to `out`.
pub fn write_client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[start..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// One decoded server frame, borrowing its payload from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub fin: bool,
    pub opcode: u8,
    pub payload: &'a [u8],
}

/// Decodes the frame at the start of `buf`: `Ok(None)` when it is not complete yet, else the
/// frame and the number of bytes it took. Masked server frames and reserved bits are errors.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(format!("server frame with reserved bits set (0x{b0:02x})"));
    }
    if b1 & 0x80 != 0 {
        return Err("masked frame from the server".into());
    }
    let Some((len, header)) = payload_len(buf, b1 & 0x7F) else { return Ok(None) };
    if len > MAX_FRAME_BYTES {
        return Err(format!("server frame of {len} bytes"));
    }
    let total = header + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let frame = Frame { fin: b0 & 0x80 != 0, opcode: b0 & 0x0F, payload: &buf[header..total] };
    Ok(Some((frame, total)))
}

/// The payload length and the header size, once the extended length bytes are there.
fn payload_len(buf: &[u8], len7: u8) -> Option<(u64, usize)> {
    match len7 {
        126 => Some((u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)), 4)),
        127 => Some((u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10)),
        n => Some((u64::from(n), 2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_accept_example() {
        assert_eq!(accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn upgrade_response_checks() {
        let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let mut ok = head.as_bytes().to_vec();
        ok.extend_from_slice(&[0x81, 0x00]);
        let key_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        assert_eq!(parse_upgrade_response(&ok, key_accept), Ok(Some(head.len())));
        assert_eq!(parse_upgrade_response(&ok[..20], key_accept), Ok(None));
        assert!(parse_upgrade_response(b"HTTP/1.1 404 Not Found\r\n\r\n", key_accept).is_err());
        assert!(parse_upgrade_response(&ok, "other").is_err());
    }

    #[test]
    fn client_frame_is_masked_and_sized() {
        for len in [0usize, 5, 125, 126, 65535, 65536] {
            let payload = vec![b'a'; len];
            let mut out = Vec::new();
            write_client_frame(&mut out, OP_TEXT, &payload, [1, 2, 3, 4]);
            assert_eq!(out[0], 0x81);
            assert!(out[1] & 0x80 != 0);
            let header = if len < 126 {
                6
            } else if len <= 0xFFFF {
                8
            } else {
                14
            };
            assert_eq!(out.len(), header + len);
            let unmasked: Vec<u8> =
                out[header..].iter().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i & 3]).collect();
            assert_eq!(unmasked, payload);
        }
    }

    #[test]
    fn decodes_server_frames() {
        let mut buf = vec![0x81, 0x03, b'a', b'b', b'c', 0x89, 0x00];
        let (f, n) = decode_frame(&buf).unwrap().unwrap();
        assert_eq!((f.fin, f.opcode, f.payload, n), (true, OP_TEXT, &b"abc"[..], 5));
        let (f, n) = decode_frame(&buf[5..]).unwrap().unwrap();
        assert_eq!((f.opcode, n), (OP_PING, 2));
        buf.truncate(4);
        assert_eq!(decode_frame(&buf), Ok(None));
    }

    #[test]
    fn decodes_extended_lengths() {
        let mut buf = vec![0x01, 126, 0x01, 0x00];
        buf.extend(std::iter::repeat_n(b'z', 256));
        let (f, n) = decode_frame(&buf).unwrap().unwrap();
        assert_eq!((f.fin, f.payload.len(), n), (false, 256, 260));
        assert_eq!(decode_frame(&buf[..100]), Ok(None));
        assert_eq!(decode_frame(&[0x81, 127, 0, 0]), Ok(None));
    }

    #[test]
    fn rejects_masked_and_reserved() {
        assert!(decode_frame(&[0x81, 0x80, 0, 0, 0, 0]).is_err());
        assert!(decode_frame(&[0xC1, 0x00]).is_err());
    }
}
