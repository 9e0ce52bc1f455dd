//! A published message, encoded at most once per wire format per process.
//!
//! Owns: the protocol-neutral content of one publish — topic space, topic, the label a
//! multiplex member sees it under, the payload and where it came from — and its
//! [`Encoding`]s, each built lazily on first use and then shared (`Bytes`) by every
//! subscriber on every shard. Does not own: delivery. A new protocol or transport adds
//! an `Encoding` variant here, never a per-subscriber encode.

use crate::ids::{Member, ShardId, SpaceId};
use crate::transport::sockjs::framing;
use crate::transport::ws::codec::{self, OpCode};
use crate::transport::ws::hixie76;
use bytes::{BufMut, Bytes, BytesMut};
use std::sync::{Arc, OnceLock};

/// How a member's protocol presents a published (topic, payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The payload alone (application handlers).
    Plain,
    /// `msg,<label>,<payload>` (websocket-multiplex rooms and channels, spec multiplex §4).
    Multiplex,
}

/// What carries a member's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// A raw WebSocket: one text frame per message.
    Ws,
    /// A SockJS WebSocket: one text frame `a[<quoted>]` per message (sockjs §8.1).
    SockjsWs,
    /// A SockJS WebSocket speaking Hixie-76: `0x00 a[<quoted>] 0xFF` per message
    /// (sockjs §8.3).
    SockjsHixie,
    /// A SockJS HTTP-transport session: the quoted message joins the session's next
    /// `a[...]` frame (sockjs §6).
    SockjsSession,
}

/// A wire format: a [`Framing`] on a [`Carrier`]. A membership stores its encoding, so
/// delivery picks the frame without looking at the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    PlainWs,
    PlainSockjsWs,
    PlainSockjsQuoted,
    MuxWs,
    MuxSockjsWs,
    MuxSockjsQuoted,
    PlainSockjsHixie,
    MuxSockjsHixie,
}

/// Number of [`Encoding`] variants.
const ENCODINGS: usize = 8;

impl Encoding {
    pub fn new(framing: Framing, carrier: Carrier) -> Encoding {
        match (framing, carrier) {
            (Framing::Plain, Carrier::Ws) => Encoding::PlainWs,
            (Framing::Plain, Carrier::SockjsWs) => Encoding::PlainSockjsWs,
            (Framing::Plain, Carrier::SockjsSession) => Encoding::PlainSockjsQuoted,
            (Framing::Multiplex, Carrier::Ws) => Encoding::MuxWs,
            (Framing::Multiplex, Carrier::SockjsWs) => Encoding::MuxSockjsWs,
            (Framing::Multiplex, Carrier::SockjsSession) => Encoding::MuxSockjsQuoted,
            (Framing::Plain, Carrier::SockjsHixie) => Encoding::PlainSockjsHixie,
            (Framing::Multiplex, Carrier::SockjsHixie) => Encoding::MuxSockjsHixie,
        }
    }

    pub(crate) fn framing(self) -> Framing {
        match self {
            Encoding::PlainWs
            | Encoding::PlainSockjsWs
            | Encoding::PlainSockjsQuoted
            | Encoding::PlainSockjsHixie => Framing::Plain,
            _ => Framing::Multiplex,
        }
    }

    pub(crate) fn carrier(self) -> Carrier {
        match self {
            Encoding::PlainWs | Encoding::MuxWs => Carrier::Ws,
            Encoding::PlainSockjsWs | Encoding::MuxSockjsWs => Carrier::SockjsWs,
            Encoding::PlainSockjsQuoted | Encoding::MuxSockjsQuoted => Carrier::SockjsSession,
            Encoding::PlainSockjsHixie | Encoding::MuxSockjsHixie => Carrier::SockjsHixie,
        }
    }
}

impl Carrier {
    /// SockJS framing (`o`, `h`, `a[...]`, `c[...]`, JSON client messages) on a WebSocket.
    pub(crate) fn is_sockjs_websocket(self) -> bool {
        matches!(self, Carrier::SockjsWs | Carrier::SockjsHixie)
    }

    /// One text message on this WebSocket carrier.
    pub(crate) fn text_frame(self, text: &[u8]) -> Bytes {
        match self {
            Carrier::SockjsHixie => Bytes::from(hixie76::text_frame(text)),
            _ => codec::frame(OpCode::Text, text),
        }
    }

    /// The closing frame on this WebSocket carrier (Hixie-76 has no code or reason).
    pub(crate) fn close_frame(self, code: u16, reason: &str) -> Bytes {
        match self {
            Carrier::SockjsHixie => Bytes::from_static(&hixie76::CLOSE_FRAME),
            _ => codec::close_frame(code, reason),
        }
    }
}

/// The member that published a message, so "broadcast to the others" can skip it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub(crate) shard: ShardId,
    pub(crate) member: Member,
}

/// One published message. Shared across shards as `Arc<Prepared>`.
#[derive(Debug)]
pub struct Prepared {
    space: SpaceId,
    topic: Bytes,
    /// The name a multiplex member sees: the topic for rooms, the channel for a
    /// channel's own topics.
    label: Bytes,
    /// UTF-8 text (checked where a publish enters the server).
    payload: Bytes,
    /// Set for a broadcast that skips its sender.
    skip: Option<Origin>,
    encoded: [OnceLock<Bytes>; ENCODINGS],
}

impl Prepared {
    /// A message for topic `topic` of `space`. `payload` must be UTF-8.
    pub fn new(space: SpaceId, topic: Bytes, label: Bytes, payload: Bytes) -> Arc<Prepared> {
        Prepared::build(space, topic, label, payload, None)
    }

    /// A message that every member except `origin` receives.
    pub(crate) fn except(
        space: SpaceId,
        topic: Bytes,
        label: Bytes,
        payload: Bytes,
        origin: Origin,
    ) -> Arc<Prepared> {
        Prepared::build(space, topic, label, payload, Some(origin))
    }

    fn build(space: SpaceId, topic: Bytes, label: Bytes, payload: Bytes, skip: Option<Origin>) -> Arc<Prepared> {
        debug_assert!(std::str::from_utf8(&payload).is_ok());
        Arc::new(Prepared { space, topic, label, payload, skip, encoded: Default::default() })
    }

    pub(crate) fn space(&self) -> SpaceId {
        self.space
    }

    pub(crate) fn topic(&self) -> &Bytes {
        &self.topic
    }

    /// The member to skip, if this is a broadcast to the others.
    pub(crate) fn skip(&self) -> Option<Origin> {
        self.skip
    }

    /// The bytes of `enc`, and whether this call built them (the `frames_encoded`
    /// counter, which proves "encode once"). Hot path after the first call: one load.
    #[inline]
    pub fn encoding(&self, enc: Encoding) -> (&Bytes, bool) {
        let mut built = false;
        let bytes = self.encoded[enc as usize].get_or_init(|| {
            built = true;
            self.encode(enc)
        });
        (bytes, built)
    }

    #[cold]
    fn encode(&self, enc: Encoding) -> Bytes {
        match enc.carrier() {
            Carrier::Ws => self.ws_text_frame(enc.framing()),
            Carrier::SockjsSession => self.quoted(enc.framing()),
            carrier @ (Carrier::SockjsWs | Carrier::SockjsHixie) => {
                let quoted_enc = Encoding::new(enc.framing(), Carrier::SockjsSession);
                let (quoted, _) = self.encoding(quoted_enc);
                let inner = framing::messages_frame(std::slice::from_ref(quoted));
                carrier.text_frame(&inner)
            }
        }
    }

    /// The message text of `framing` as parts (no copy).
    fn parts(&self, framing: Framing) -> ([&[u8]; 4], usize) {
        match framing {
            Framing::Plain => ([&self.payload[..], b"", b"", b""], self.payload.len()),
            Framing::Multiplex => {
                let parts = [&b"msg,"[..], &self.label[..], b",", &self.payload[..]];
                (parts, 5 + self.label.len() + self.payload.len())
            }
        }
    }

    fn ws_text_frame(&self, framing: Framing) -> Bytes {
        let (parts, len) = self.parts(framing);
        let mut out = BytesMut::with_capacity(codec::header_len(len) + len);
        codec::encode_header(&mut out, true, OpCode::Text, len);
        for part in parts {
            out.put_slice(part);
        }
        out.freeze()
    }

    fn quoted(&self, framing: Framing) -> Bytes {
        let (parts, len) = self.parts(framing);
        let text: Vec<std::borrow::Cow<'_, str>> =
            parts.iter().map(|p| String::from_utf8_lossy(p)).collect();
        let refs: Vec<&str> = text.iter().map(|t| t.as_ref()).collect();
        let mut out = BytesMut::with_capacity(len + 2);
        framing::quote_parts_into(&mut out, &refs);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(payload: &'static str) -> Arc<Prepared> {
        Prepared::new(SpaceId(0), Bytes::from_static(b"red"), Bytes::from_static(b"red"), Bytes::from_static(payload.as_bytes()))
    }

    #[test]
    fn each_encoding_is_built_once_and_shared() {
        let p = msg("hi");
        let (a, built_a) = p.encoding(Encoding::MuxWs);
        let a_ptr = a.as_ptr();
        let (b, built_b) = p.encoding(Encoding::MuxWs);
        assert!(built_a && !built_b);
        assert_eq!(a_ptr, b.as_ptr(), "same allocation");
        assert_eq!(&b[..], b"\x81\x0amsg,red,hi");
    }

    #[test]
    fn every_encoding_has_its_bytes() {
        let p = msg("q\"\\\u{2028}");
        // WebSocket frames: a 2-byte header (text, short payload), then the text.
        let text = |e, skip: usize| String::from_utf8(p.encoding(e).0[skip..].to_vec()).unwrap();
        assert_eq!(text(Encoding::PlainWs, 2), "q\"\\\u{2028}");
        assert_eq!(text(Encoding::MuxWs, 2), "msg,red,q\"\\\u{2028}");
        assert_eq!(text(Encoding::PlainSockjsQuoted, 0), r#""q\"\\\u2028""#);
        assert_eq!(text(Encoding::MuxSockjsQuoted, 0), r#""msg,red,q\"\\\u2028""#);
        assert_eq!(text(Encoding::MuxSockjsWs, 2), r#"a["msg,red,q\"\\\u2028"]"#);
        assert_eq!(text(Encoding::PlainSockjsWs, 2), r#"a["q\"\\\u2028"]"#);
        let hixie = p.encoding(Encoding::MuxSockjsHixie).0;
        assert_eq!(&hixie[..], b"\x00a[\"msg,red,q\\\"\\\\\\u2028\"]\xff");
    }

    #[test]
    fn encodings_round_trip_their_parts() {
        for framing in [Framing::Plain, Framing::Multiplex] {
            for carrier in [Carrier::Ws, Carrier::SockjsWs, Carrier::SockjsSession, Carrier::SockjsHixie] {
                let e = Encoding::new(framing, carrier);
                assert_eq!((e.framing(), e.carrier()), (framing, carrier));
            }
        }
    }
}
