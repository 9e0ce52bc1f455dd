//! The WebSocket front end: the handshake, the switch from HTTP, and the input of an
//! upgraded connection — for a raw-WebSocket service, a SockJS service's
//! `<prefix>/websocket`, and the SockJS WebSocket transport (spec sockjs §8).
//!
//! Owns: validating an upgrade and answering 101 or the refusal, creating a
//! connection's protocol state, reading frames (the codec assembles messages), SockJS
//! WebSocket message decoding, pongs and close handshakes, and handing each message
//! to the protocol. Does not own: protocol rules or what their actions do.

use super::conns::{Phase, WsConn};
use super::http::Next;
use super::State;
use crate::api::{ConnInfo, Transport};
use crate::error::{CloseCause, HandshakeError};
use crate::http::request::Request;
use crate::http::response;
use crate::ids::{ConnId, Member, ServiceId};
use crate::metrics::Counter;
use crate::protocol::{Cx, Inbound, ProtocolState};
use crate::pubsub::prepared::Carrier;
use crate::transport::sockjs::{framing, receive};
use crate::transport::ws::codec::{self, OpCode};
use crate::transport::ws::handshake::{self, HandshakeHeaders};
use crate::transport::ws::reader::{Flow, MessageReader, WsMessage};
use bytes::Bytes;

impl State {
    /// Validate a WebSocket upgrade and answer 101 or the refusal.
    pub(super) fn websocket_handshake(&mut self, id: ConnId, req: &Request, service: ServiceId, carrier: Carrier) -> Next {
        match validate_handshake(req) {
            Ok(accept) => {
                self.respond(id, Bytes::from(handshake::response_101(&accept)));
                Next::Upgrade { service, carrier }
            }
            Err(e) => {
                self.counters.inc(Counter::WsHandshakeRejected);
                self.counters.inc(Counter::HttpErrors);
                let names_version = carrier == Carrier::SockjsWs && req.ws_version.is_some();
                self.respond(id, handshake_error_response(&e, names_version));
                Next::Close
            }
        }
    }

    /// Switch to WebSocket: the protocol opens (SockJS: `o` first, §8.1), and bytes
    /// that followed the handshake are WebSocket input.
    pub(super) fn upgrade(&mut self, id: ConnId, service: ServiceId, carrier: Carrier, head: &[u8]) {
        let now = self.clock.now_ms;
        let svc = self.ctx.services.get(service);
        let Some(conn) = self.conns.get_mut(id) else { return };
        let fd = conn.raw_fd();
        let transport = if carrier == Carrier::SockjsWs { Transport::SockjsWebSocket } else { Transport::WebSocket };
        let ws = WsConn {
            service,
            carrier,
            reader: MessageReader::new(),
            proto: ProtocolState::new(&svc.protocol, || ConnInfo::from_request(head, fd, transport)),
            subs: Vec::new(),
            released: false,
            ping_outstanding: false,
            heartbeat_due_ms: now + svc.timing.heartbeat_ms,
        };
        let Phase::Http { buf: early, .. } = std::mem::replace(&mut conn.phase, Phase::Ws(Box::new(ws))) else { return };
        self.counters.inc(Counter::WsUpgrades);
        if carrier == Carrier::SockjsWs {
            self.conns.push_control(id, &codec::frame(OpCode::Text, framing::OPEN));
        }
        self.call_protocol(Member::Conn(id), false, |proto, sp, cx| proto.on_open(sp, cx));
        if !early.is_empty() && self.conns.get(id).is_some_and(|c| c.is_open()) {
            let mut early = early;
            self.on_ws_data(id, &mut early);
        }
    }

    /// Frames from an upgraded connection. Hot path for a rooms publisher: messages go
    /// straight to the protocol; its actions are applied after the whole read.
    pub(super) fn on_ws_data(&mut self, id: ConnId, data: &mut [u8]) {
        let State { conns, ctx, actions, counters, id: shard, .. } = self;
        let Some(conn) = conns.get_mut(id) else { return };
        let Phase::Ws(ws) = &mut conn.phase else { return };
        let queue = &mut conn.queue;
        let limits = &ctx.config.limits;
        let svc = ctx.services.get(ws.service);
        ws.ping_outstanding = false;
        let sockjs = ws.carrier == Carrier::SockjsWs;
        let mut close: Option<CloseCause> = None;
        let proto = &mut ws.proto;
        let mut out = std::mem::take(actions);
        let mut cx = Cx {
            shard: *shard,
            member: Member::Conn(id),
            remote: &ctx.remote,
            space: svc.space,
            max_topic_bytes: limits.max_topic_bytes,
            out: &mut out,
        };
        let result = ws.reader.feed(data, limits.max_message_bytes, |msg| match msg {
            WsMessage::Text(text) if sockjs => match sockjs_messages(text) {
                // sockjs §8.1: each text message is JSON carrying zero or more messages.
                Ok(messages) => {
                    for m in &messages {
                        counters.inc(Counter::MessagesIn);
                        proto.on_message(&svc.protocol, Inbound::Text(m.as_bytes()), &mut cx);
                    }
                    Flow::Continue
                }
                Err(_) => {
                    close = Some(CloseCause::BrokenFraming);
                    Flow::Stop
                }
            },
            WsMessage::Text(text) => {
                counters.inc(Counter::MessagesIn);
                proto.on_message(&svc.protocol, Inbound::Text(text), &mut cx);
                Flow::Continue
            }
            WsMessage::Binary(_) if sockjs => {
                close = Some(CloseCause::UnsupportedData); // sockjs §8.1: SHOULD close 1003
                Flow::Stop
            }
            WsMessage::Binary(bin) => {
                counters.inc(Counter::MessagesIn);
                proto.on_message(&svc.protocol, Inbound::Binary(bin), &mut cx);
                Flow::Continue
            }
            WsMessage::Ping(payload) => {
                queue.push_control(&codec::frame(OpCode::Pong, payload));
                Flow::Continue
            }
            WsMessage::Pong(_) => Flow::Continue,
            WsMessage::Close { code, .. } => {
                close = Some(CloseCause::PeerClose(code.unwrap_or(1000)));
                Flow::Stop
            }
        });
        if !conn.queue.is_empty() {
            self.conns.mark_dirty(id);
        }
        if let Err(e) = result {
            close = Some(CloseCause::Protocol(e));
        }
        self.apply_actions(Member::Conn(id), &mut out);
        self.actions = out;
        if let Some(cause) = close {
            self.start_close(id, cause, "");
        }
    }
}

/// Decode one SockJS WebSocket client message into application messages (§8.1).
fn sockjs_messages(text: &[u8]) -> Result<Vec<String>, receive::PayloadError> {
    let text = std::str::from_utf8(text).map_err(|_| receive::PayloadError::BrokenJson)?;
    receive::decode_ws_message(text)
}

fn validate_handshake(req: &Request) -> Result<String, HandshakeError> {
    handshake::validate(&HandshakeHeaders {
        method: &req.method,
        upgrade: req.upgrade.as_deref(),
        connection: req.connection.as_deref(),
        version: req.ws_version.as_deref(),
        key: req.ws_key.as_deref(),
    })
}

/// The status and body the spec gives for a refused handshake, plus the headers RFC
/// 6455 asks for (`Allow`, `Sec-WebSocket-Version`).
///
/// `names_version`: a SockJS session WebSocket that sent a `Sec-WebSocket-Version`, refused
/// as sockjs §8.1 says: `Unsupported WebSocket version: <v>`. The raw endpoint (§8.2) and a
/// request without the header (hixie-76, not implemented, §8.3) get the RFC 6455 sentence.
fn handshake_error_response(e: &HandshakeError, names_version: bool) -> Bytes {
    let headers: &[(&str, &str)] = match e {
        HandshakeError::MethodNotAllowed => &[("Allow", "GET")],
        HandshakeError::UnsupportedVersion(_) => &[("Sec-WebSocket-Version", "13")],
        _ => &[],
    };
    let body = match e {
        HandshakeError::UnsupportedVersion(v) if names_version => {
            format!("Unsupported WebSocket version: {v}")
        }
        _ => e.body(),
    };
    let ct = if body.is_empty() { None } else { Some("text/plain; charset=UTF-8") };
    response::build(e.status(), headers, ct, body.as_bytes(), true)
}
