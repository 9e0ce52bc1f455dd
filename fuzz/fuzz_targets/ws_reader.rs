//! Fuzz target for `transport::ws::reader::MessageReader` (and through it
//! `codec::decode_header` and `mask`).
//!
//! Owns: the properties checked on arbitrary client bytes — no panic, every delivered
//! text and close reason is valid UTF-8, close codes are valid, control payloads are at
//! most 125 bytes, messages respect the size limit, an idle reader holds no heap, and the
//! outcome (messages delivered, then the error if any) does not depend on how the bytes
//! are split into reads.
//!
//! Does not own: the handshake (`ws_handshake`) or any socket behaviour.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringcast::transport::ws::codec::is_valid_close_code;
use ringcast::transport::ws::error::WsError;
use ringcast::transport::ws::reader::{Flow, MessageReader, WsMessage};

/// An owned record of one delivered message.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, Vec<u8>),
}

fn record(m: WsMessage<'_>, max: usize) -> Seen {
    match m {
        WsMessage::Text(t) => {
            assert!(std::str::from_utf8(t).is_ok(), "text message is not UTF-8");
            assert!(t.len() <= max, "message over the limit");
            Seen::Text(t.to_vec())
        }
        WsMessage::Binary(b) => {
            assert!(b.len() <= max, "message over the limit");
            Seen::Binary(b.to_vec())
        }
        WsMessage::Ping(p) => {
            assert!(p.len() <= 125, "control payload over 125 bytes");
            Seen::Ping(p.to_vec())
        }
        WsMessage::Pong(p) => {
            assert!(p.len() <= 125, "control payload over 125 bytes");
            Seen::Pong(p.to_vec())
        }
        WsMessage::Close { code, reason } => {
            assert!(std::str::from_utf8(reason).is_ok(), "close reason is not UTF-8");
            assert!(code.is_some() || reason.is_empty(), "reason without a code");
            assert!(code.is_none_or(is_valid_close_code), "invalid close code delivered");
            assert!(reason.len() <= 123, "close reason over 123 bytes");
            Seen::Close(code, reason.to_vec())
        }
    }
}

/// Feed `bytes` in reads of `sizes` (cycled); the messages, then the error if any.
fn run(bytes: &[u8], sizes: &[usize], max: usize) -> (Vec<Seen>, Result<(), WsError>) {
    let mut input = bytes.to_vec();
    let mut reader = MessageReader::new();
    let mut seen = Vec::new();
    let mut rest = &mut input[..];
    let mut sizes = sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(usize::MAX).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at_mut(n);
        rest = tail;
        let result = reader.feed(chunk, max, |m| {
            seen.push(record(m, max));
            Flow::Continue
        });
        if let Err(e) = result {
            assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
            return (seen, Err(e));
        }
        // The heap held is bounded by the message limit plus one control frame (with
        // the Vec's doubling growth).
        assert!(reader.buffered_bytes() <= 2 * (max + 125) + 64, "reader holds too much heap");
    }
    (seen, Ok(()))
}

fuzz_target!(|data: &[u8]| {
    // Byte 0 picks the message limit, bytes 1-4 the read sizes; the rest is the stream.
    let Some((&[limit, s0, s1, s2, s3], stream)) = data.split_first_chunk::<5>() else { return };
    let max = match limit {
        0..=127 => usize::from(limit) * 8,
        _ => 1 << 20,
    };
    let sizes = [s0, s1, s2, s3].map(|s| usize::from(s) + 1);
    let whole = run(stream, &[usize::MAX], max);
    let chunked = run(stream, &sizes, max);
    assert_eq!(whole, chunked, "outcome depends on how reads are split");
    let bytewise = run(stream, &[1], max);
    assert_eq!(whole, bytewise, "outcome differs when fed byte by byte");
});
