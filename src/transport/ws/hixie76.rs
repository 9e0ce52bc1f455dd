//! The Hixie-76 WebSocket protocol (draft-hixie-thewebsocketprotocol-76), sans-IO: the
//! pre-RFC handshake some old clients and proxies still speak on SockJS session
//! WebSockets (spec sockjs §8.3), off unless a service sets `hixie76 = true`.
//!
//! Owns: turning `Sec-WebSocket-Key1/Key2` into the challenge numbers, the 101 response
//! head, collecting the 8-byte key3 that follows the request and computing the 16-byte
//! MD5 answer, the frames (text `0x00 … 0xFF`, close `0xFF 0x00`) and reading client
//! frames. Does not own: sockets, HTTP parsing, or SockJS framing inside the text frames.
//! The protocol has no masking, no binary messages, no pings and no close codes.

use super::error::WsError;
use super::reader::{Flow, WsMessage};
use md5::{Digest, Md5};

/// Bytes of key3, the nonce the client sends after its request head.
pub const KEY3_BYTES: usize = 8;
/// The closing frame, in both directions.
pub const CLOSE_FRAME: [u8; 2] = [0xFF, 0x00];

/// Why a Hixie-76 handshake is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("Sec-WebSocket-Key1/Key2 has no space")]
    NoSpaces,
    #[error("Sec-WebSocket-Key1/Key2 number is not a multiple of its spaces")]
    NotDivisible,
    #[error("Sec-WebSocket-Key1/Key2 number is out of range")]
    OutOfRange,
}

/// One key's number: its digits read as a decimal integer, divided by its number of
/// spaces (draft-76 §5.2, step 5-6 of the server's handshake).
pub fn key_number(key: &[u8]) -> Result<u32, HandshakeError> {
    let mut digits: u64 = 0;
    let mut spaces: u64 = 0;
    for &b in key {
        match b {
            b'0'..=b'9' => {
                digits = digits * 10 + u64::from(b - b'0');
                if digits > u64::from(u32::MAX) * 12 {
                    return Err(HandshakeError::OutOfRange);
                }
            }
            b' ' => spaces += 1,
            _ => {}
        }
    }
    if spaces == 0 {
        return Err(HandshakeError::NoSpaces);
    }
    if !digits.is_multiple_of(spaces) {
        return Err(HandshakeError::NotDivisible);
    }
    u32::try_from(digits / spaces).map_err(|_| HandshakeError::OutOfRange)
}

/// The first 8 bytes of the MD5 input: both key numbers, big-endian.
pub fn challenge(key1: &[u8], key2: &[u8]) -> Result<[u8; 8], HandshakeError> {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&key_number(key1)?.to_be_bytes());
    out[4..].copy_from_slice(&key_number(key2)?.to_be_bytes());
    Ok(out)
}

/// The 16-byte answer: MD5 of the challenge numbers followed by key3.
pub fn answer(challenge: &[u8; 8], key3: &[u8; KEY3_BYTES]) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(challenge);
    md5.update(key3);
    md5.finalize().into()
}

/// The 101 response head, written as soon as the request head is read (before key3:
/// proxies such as HAProxy forward key3 only after they see it).
pub fn response_101(origin: &[u8], location: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + origin.len() + location.len());
    out.extend_from_slice(b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n");
    out.extend_from_slice(b"Sec-WebSocket-Origin: ");
    out.extend_from_slice(origin);
    out.extend_from_slice(b"\r\nSec-WebSocket-Location: ");
    out.extend_from_slice(location.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// A text frame: `0x00`, the UTF-8 text, `0xFF`.
pub fn text_frame(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    out.push(0x00);
    out.extend_from_slice(text);
    out.push(0xFF);
    out
}

/// Collects key3 after the handshake and gives the answer once all 8 bytes are in.
#[derive(Debug, Clone)]
pub struct Key3 {
    challenge: [u8; 8],
    got: [u8; KEY3_BYTES],
    len: usize,
}

impl Key3 {
    pub fn new(challenge: [u8; 8]) -> Key3 {
        Key3 { challenge, got: [0; KEY3_BYTES], len: 0 }
    }

    /// Take key3 bytes from the front of `input`: how many were used, and the answer
    /// once key3 is complete.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<[u8; 16]>) {
        let used = input.len().min(KEY3_BYTES - self.len);
        self.got[self.len..self.len + used].copy_from_slice(&input[..used]);
        self.len += used;
        let done = (self.len == KEY3_BYTES).then(|| answer(&self.challenge, &self.got));
        (used, done)
    }
}

/// Reads client frames: text messages (`0x00 … 0xFF`, UTF-8) and the closing frame.
/// Any other frame type is refused (no client sends one).
#[derive(Debug, Default)]
pub struct Reader {
    /// An incomplete frame carried over from the previous input.
    partial: Vec<u8>,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::default()
    }

    /// Feed input: calls `on_msg` once per complete message (`Text`, or `Close` with no
    /// code), stopping early if it returns `Flow::Stop`. After an error the reader must
    /// not be fed again.
    pub fn feed<F: FnMut(WsMessage<'_>) -> Flow>(
        &mut self,
        input: &[u8],
        max_message_bytes: usize,
        mut on_msg: F,
    ) -> Result<(), WsError> {
        if self.partial.is_empty() {
            return self.feed_all(input, max_message_bytes, &mut on_msg);
        }
        let mut joined = std::mem::take(&mut self.partial);
        joined.extend_from_slice(input);
        self.feed_all(&joined, max_message_bytes, &mut on_msg)
    }

    fn feed_all<F: FnMut(WsMessage<'_>) -> Flow>(
        &mut self,
        mut data: &[u8],
        max_message_bytes: usize,
        on_msg: &mut F,
    ) -> Result<(), WsError> {
        while !data.is_empty() {
            let Some((msg, used)) = next_frame(data, max_message_bytes)? else {
                self.partial.extend_from_slice(data);
                return Ok(());
            };
            data = &data[used..];
            if on_msg(msg) == Flow::Stop {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The first complete frame of `data` and its length; `None` if it is incomplete.
fn next_frame(data: &[u8], max_message_bytes: usize) -> Result<Option<(WsMessage<'_>, usize)>, WsError> {
    match data[0] {
        0x00 => {
            let Some(end) = data[1..].iter().position(|&b| b == 0xFF) else {
                return if data.len() - 1 > max_message_bytes { Err(WsError::MessageTooBig) } else { Ok(None) };
            };
            let text = &data[1..1 + end];
            if text.len() > max_message_bytes {
                return Err(WsError::MessageTooBig);
            }
            std::str::from_utf8(text).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some((WsMessage::Text(text), end + 2)))
        }
        0xFF => match data.get(1) {
            None => Ok(None),
            Some(0x00) => Ok(Some((WsMessage::Close { code: None, reason: b"" }, 2))),
            Some(_) => Err(WsError::ReservedOpcode(0xFF)),
        },
        other => Err(WsError::ReservedOpcode(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of draft-hixie-thewebsocketprotocol-76 (§1.3 and §5.2).
    const KEY1: &[u8] = b"18x 6]8vM;54 *(5:  {   U1]8  z [  8";
    const KEY2: &[u8] = b"1_ tx7X d  <  nw  334J702) 7]o}` 0";
    const KEY3: &[u8; 8] = b"Tm[K T2u";

    #[test]
    fn draft_example_numbers_and_answer() {
        assert_eq!(key_number(KEY1), Ok(155_712_099));
        assert_eq!(key_number(KEY2), Ok(173_347_027));
        let c = challenge(KEY1, KEY2).unwrap();
        assert_eq!(&answer(&c, KEY3), b"fQJ,fN/4F4!~K~MH");
    }

    /// SockJS's suite vector (spec sockjs §8.3).
    #[test]
    fn sockjs_suite_vector() {
        let c = challenge(b"4 @1  46546xW%0l 1 5", b"12998 5 Y3 1  .P00").unwrap();
        assert_eq!(&c[..4], &829_309_203u32.to_be_bytes());
        assert_eq!(&c[4..], &259_970_620u32.to_be_bytes());
        let want = [0xca, 0x34, 0x00, 0xd8, 0xa5, 0x08, 0x47, 0x97, 0x2c, 0xd5, 0x71, 0x5a, 0xba, 0xbf, 0x43, 0x7b];
        assert_eq!(answer(&c, b"aaaaaaaa"), want);
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(key_number(b"12345"), Err(HandshakeError::NoSpaces));
        assert_eq!(key_number(b"1 2 3"), Err(HandshakeError::NotDivisible)); // 123 / 2
        assert_eq!(key_number(b"99999999999 "), Err(HandshakeError::OutOfRange));
        assert_eq!(key_number(b" 8 "), Ok(4));
    }

    #[test]
    fn key3_may_arrive_in_pieces_and_leaves_the_rest() {
        let c = challenge(KEY1, KEY2).unwrap();
        let mut k = Key3::new(c);
        assert_eq!(k.feed(b"Tm["), (3, None));
        let (used, done) = k.feed(b"K T2u\x00o\xff");
        assert_eq!(used, 5);
        assert_eq!(&done.unwrap(), b"fQJ,fN/4F4!~K~MH");
    }

    #[test]
    fn response_head_names_origin_and_location() {
        let head = response_101(b"http://example.com", "ws://example.com/demo");
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101 WebSocket Protocol Handshake\r\n"));
        assert!(head.contains("\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"));
        assert!(head.contains("\r\nSec-WebSocket-Origin: http://example.com\r\n"));
        assert!(head.ends_with("\r\nSec-WebSocket-Location: ws://example.com/demo\r\n\r\n"));
    }

    fn read_all(r: &mut Reader, input: &[u8]) -> (Vec<String>, Result<(), WsError>) {
        let mut got = Vec::new();
        let result = r.feed(input, 16, |m| {
            got.push(match m {
                WsMessage::Text(t) => format!("text {}", String::from_utf8_lossy(t)),
                WsMessage::Close { .. } => "close".to_owned(),
                _ => "other".to_owned(),
            });
            Flow::Continue
        });
        (got, result)
    }

    #[test]
    fn frames_are_read_across_inputs() {
        assert_eq!(text_frame("é".as_bytes()), [0x00, 0xC3, 0xA9, 0xFF]);
        let mut r = Reader::new();
        assert_eq!(read_all(&mut r, b"\x00[\"a\"]\xff\x00[\"b"), (vec!["text [\"a\"]".to_owned()], Ok(())));
        assert_eq!(read_all(&mut r, b"\"]\xff\x00\xff"), (vec!["text [\"b\"]".into(), "text ".into()], Ok(())));
        assert_eq!(read_all(&mut r, &CLOSE_FRAME), (vec!["close".to_owned()], Ok(())));
    }

    #[test]
    fn bad_frames_are_errors() {
        assert_eq!(read_all(&mut Reader::new(), b"\x80\x01x").1, Err(WsError::ReservedOpcode(0x80)));
        assert_eq!(read_all(&mut Reader::new(), b"\x00\xc3\x28\xff").1, Err(WsError::InvalidUtf8));
        assert_eq!(read_all(&mut Reader::new(), &[0u8; 40]).1, Err(WsError::MessageTooBig));
    }
}
