//! A published message, encoded at most once per wire format per process.
//!
//! Owns: the immutable payload of one publish and its encodings, each built lazily on
//! first use and then shared (`Bytes`) by every subscriber on every shard. Does not own:
//! delivery. Adding a transport means adding a field here, never a per-subscriber encode.

use crate::transport::sockjs;
use crate::transport::ws::codec::{self, OpCode};
use bytes::{Bytes, BytesMut};
use std::sync::{Arc, OnceLock};

/// One published message. Shared across shards as `Arc<Prepared>`.
#[derive(Debug)]
pub struct Prepared {
    /// The room it was published to (a slice of `wire`, no copy).
    topic: Bytes,
    /// The application message exactly as members receive it, e.g. `msg,red,hi`.
    wire: Bytes,
    /// Raw WebSocket text frame carrying `wire` (built on first use).
    ws_text: OnceLock<Bytes>,
    /// `wire` as a SockJS-escaped JSON string, for HTTP-transport sessions' `a[...]`.
    sockjs_quoted: OnceLock<Bytes>,
    /// WebSocket text frame carrying the SockJS frame `a[<quoted wire>]`.
    sockjs_ws: OnceLock<Bytes>,
}

impl Prepared {
    pub fn new(topic: Bytes, wire: Bytes) -> Arc<Prepared> {
        Arc::new(Prepared {
            topic,
            wire,
            ws_text: OnceLock::new(),
            sockjs_quoted: OnceLock::new(),
            sockjs_ws: OnceLock::new(),
        })
    }

    pub fn topic(&self) -> &Bytes {
        &self.topic
    }

    pub fn wire(&self) -> &Bytes {
        &self.wire
    }

    /// The raw WebSocket text frame, and whether this call built it (for the
    /// `frames_encoded` counter, which proves "encode once").
    pub fn ws_text_frame(&self) -> (&Bytes, bool) {
        let mut built = false;
        let frame = self.ws_text.get_or_init(|| {
            built = true;
            let mut out = BytesMut::with_capacity(codec::header_len(self.wire.len()) + self.wire.len());
            codec::encode_header(&mut out, true, OpCode::Text, self.wire.len());
            out.extend_from_slice(&self.wire);
            out.freeze()
        });
        (frame, built)
    }

    /// The SockJS-escaped JSON string of `wire`, and whether this call built it.
    pub fn sockjs_quoted(&self) -> (&Bytes, bool) {
        let mut built = false;
        let q = self.sockjs_quoted.get_or_init(|| {
            built = true;
            sockjs::framing::quote(&String::from_utf8_lossy(&self.wire))
        });
        (q, built)
    }

    /// The WebSocket text frame `a[<quoted wire>]` for SockJS WebSocket members, and
    /// whether this call built it.
    pub fn sockjs_ws_frame(&self) -> (&Bytes, bool) {
        let mut built = false;
        let frame = self.sockjs_ws.get_or_init(|| {
            built = true;
            let (quoted, _) = self.sockjs_quoted();
            let inner = sockjs::framing::messages_frame(std::slice::from_ref(quoted));
            codec::frame(OpCode::Text, &inner)
        });
        (frame, built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_frame_is_built_once_and_shared() {
        let p = Prepared::new(Bytes::from_static(b"red"), Bytes::from_static(b"msg,red,hi"));
        let (a, built_a) = p.ws_text_frame();
        let a_ptr = a.as_ptr();
        let (b, built_b) = p.ws_text_frame();
        assert!(built_a && !built_b);
        assert_eq!(a_ptr, b.as_ptr(), "same allocation");
        assert_eq!(&b[..], b"\x81\x0amsg,red,hi");
    }
}
