//! The WebSocket front end: the handshake, the switch from HTTP, and the input of an
//! upgraded connection — for a raw-WebSocket service, a SockJS service's
//! `<prefix>/websocket`, and the SockJS WebSocket transport (spec sockjs §8).
//!
//! Owns: validating an upgrade and answering 101 or the refusal, creating a
//! connection's protocol state, reading frames (the codec assembles messages), SockJS
//! WebSocket message decoding, pongs and close handshakes, and handing each message
//! to the protocol. Does not own: protocol rules or what their actions do.

use super::conns::{Life, Phase, WsConn, WsReader};
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
use crate::transport::ws::hixie76;
use crate::transport::ws::reader::{Flow, MessageReader, WsMessage};
use bytes::Bytes;

impl State {
    /// Validate a WebSocket upgrade and answer 101 or the refusal.
    pub(super) fn websocket_handshake(&mut self, id: ConnId, req: &Request, service: ServiceId, carrier: Carrier) -> Next {
        let hixie = carrier == Carrier::SockjsWs && self.ctx.services.get(service).sockjs.hixie76 && is_hixie76(req);
        let checked = if hixie { validate_hixie76(req) } else { validate_handshake(req).map(Accept::Rfc6455) };
        match checked {
            Ok(Accept::Rfc6455(accept)) => {
                self.respond(id, Bytes::from(handshake::response_101(&accept)));
                Next::Upgrade { service, carrier, hixie: None }
            }
            Ok(Accept::Hixie76 { challenge, response }) => {
                // sockjs §8.3: the 101 goes out before key3 arrives (proxies wait for it).
                self.respond(id, Bytes::from(response));
                Next::Upgrade { service, carrier: Carrier::SockjsHixie, hixie: Some(challenge) }
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

    /// Switch to WebSocket: the protocol opens (SockJS: `o` first, §8.1; Hixie-76: once
    /// key3 is in), and bytes that followed the handshake are WebSocket input.
    pub(super) fn upgrade(
        &mut self,
        id: ConnId,
        service: ServiceId,
        carrier: Carrier,
        hixie: Option<[u8; 8]>,
        head: &[u8],
    ) {
        let now = self.clock.now_ms;
        let svc = self.ctx.services.get(service);
        let Some(conn) = self.conns.get_mut(id) else { return };
        let fd = conn.raw_fd();
        let transport = if carrier.is_sockjs_websocket() { Transport::SockjsWebSocket } else { Transport::WebSocket };
        let reader = match hixie {
            Some(_) => WsReader::Hixie76(hixie76::Reader::new()),
            None => WsReader::Rfc6455(MessageReader::new()),
        };
        let ws = WsConn {
            service,
            carrier,
            reader,
            hixie_key3: hixie.map(hixie76::Key3::new),
            proto: ProtocolState::new(&svc.protocol, || ConnInfo::from_request(head, fd, transport)),
            subs: Vec::new(),
            released: false,
            ping_outstanding: false,
            heartbeat_due_ms: now + svc.timing.heartbeat_ms,
            final_frames: None,
            close_received: false,
        };
        let Phase::Http { buf: early, .. } = std::mem::replace(&mut conn.phase, Phase::Ws(Box::new(ws))) else { return };
        self.counters.inc(Counter::WsUpgrades);
        if hixie.is_none() {
            self.ws_open(id, carrier);
        }
        if !early.is_empty() && self.conns.get(id).is_some_and(|c| c.is_open()) {
            let mut early = early;
            self.on_ws_data(id, &mut early);
        }
    }

    /// The protocol opens: SockJS sends `o` first (§8.1).
    fn ws_open(&mut self, id: ConnId, carrier: Carrier) {
        if carrier.is_sockjs_websocket() {
            self.conns.push_control(id, &carrier.text_frame(framing::OPEN));
        }
        self.call_protocol(Member::Conn(id), false, |proto, sp, cx| proto.on_open(sp, cx));
    }

    /// Hixie-76 before key3 is complete: take key3 from the front of `data`; once it is
    /// in, answer and open. Returns the bytes left for frames.
    fn take_key3<'d>(&mut self, id: ConnId, data: &'d mut [u8]) -> &'d mut [u8] {
        let Some(ws) = self.conns.get_mut(id).and_then(|c| c.ws_mut()) else { return data };
        let Some(key3) = &mut ws.hixie_key3 else { return data };
        let (used, answer) = key3.feed(data);
        if let Some(answer) = answer {
            ws.hixie_key3 = None;
            let carrier = ws.carrier;
            self.conns.push_control(id, &answer);
            self.ws_open(id, carrier);
        }
        &mut data[used..]
    }

    /// Frames from an upgraded connection. Hot path for a rooms publisher: messages go
    /// straight to the protocol; its actions are applied after the whole read.
    pub(super) fn on_ws_data(&mut self, id: ConnId, data: &mut [u8]) {
        let data = self.take_key3(id, data);
        if data.is_empty() || !self.conns.get(id).is_some_and(|c| c.is_open()) {
            return;
        }
        let State { conns, ctx, actions, counters, id: shard, .. } = self;
        let Some(conn) = conns.get_mut(id) else { return };
        let Phase::Ws(ws) = &mut conn.phase else { return };
        let queue = &mut conn.queue;
        let limits = &ctx.config.limits;
        let svc = ctx.services.get(ws.service);
        ws.ping_outstanding = false;
        let sockjs = ws.carrier.is_sockjs_websocket();
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

impl State {
    /// Input of a connection that is closing: dropped, except a WebSocket peer's close
    /// frame, after which (our close frame written) the server ends the TCP connection.
    pub(super) fn on_closing_data(&mut self, id: ConnId, data: &mut [u8]) {
        let max_message_bytes = self.ctx.config.limits.max_message_bytes;
        let Some(conn) = self.conns.get_mut(id).filter(|c| matches!(c.life, Life::Closing { .. })) else { return };
        let Some(ws) = conn.ws_mut() else { return };
        if ws.close_received {
            return;
        }
        let mut got_close = false;
        let result = ws.reader.feed(data, max_message_bytes, |msg| match msg {
            WsMessage::Close { .. } => {
                got_close = true;
                Flow::Stop
            }
            _ => Flow::Continue,
        });
        if got_close || result.is_err() {
            ws.close_received = true;
            self.conns.mark_dirty(id);
        }
    }
}

/// Decode one SockJS WebSocket client message into application messages (§8.1).
fn sockjs_messages(text: &[u8]) -> Result<Vec<String>, receive::PayloadError> {
    let text = std::str::from_utf8(text).map_err(|_| receive::PayloadError::BrokenJson)?;
    receive::decode_ws_message(text)
}

/// How a WebSocket handshake is answered.
enum Accept {
    /// RFC 6455: the `Sec-WebSocket-Accept` value.
    Rfc6455(String),
    /// Hixie-76: the key numbers (the answer needs key3 too) and the 101 head.
    Hixie76 { challenge: [u8; 8], response: Vec<u8> },
}

/// sockjs §8.3: both Hixie-76 keys and no `Sec-WebSocket-Version`.
fn is_hixie76(req: &Request) -> bool {
    req.ws_version.is_none() && req.ws_key1.is_some() && req.ws_key2.is_some()
}

fn validate_hixie76(req: &Request) -> Result<Accept, HandshakeError> {
    handshake::check_upgrade(&handshake_headers(req))?;
    let (key1, key2) = (req.ws_key1.as_deref().unwrap_or_default(), req.ws_key2.as_deref().unwrap_or_default());
    let challenge = hixie76::challenge(key1, key2).map_err(|_| HandshakeError::InvalidKey)?;
    let host = String::from_utf8_lossy(req.host.as_deref().unwrap_or_default());
    let query = if req.query.is_empty() { String::new() } else { format!("?{}", req.query) };
    let location = format!("ws://{host}{}{query}", req.path);
    let origin = req.origin.as_deref().unwrap_or(b"null");
    Ok(Accept::Hixie76 { challenge, response: hixie76::response_101(origin, &location) })
}

fn handshake_headers(req: &Request) -> HandshakeHeaders<'_> {
    HandshakeHeaders {
        method: &req.method,
        upgrade: req.upgrade.as_deref(),
        connection: req.connection.as_deref(),
        version: req.ws_version.as_deref(),
        key: req.ws_key.as_deref(),
    }
}

fn validate_handshake(req: &Request) -> Result<String, HandshakeError> {
    handshake::validate(&handshake_headers(req))
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
