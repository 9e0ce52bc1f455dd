//! The shard's HTTP phase: requests before (or instead of) a WebSocket upgrade.
//!
//! Owns: buffering an incomplete request, answering the built-in endpoints
//! (`/healthz`, `/metrics`, `POST /publish/<topic>`), refusing bad requests with a
//! clear status, and switching a connection to WebSocket after a valid handshake.
//! Does not own: request parsing (`http::request`) or handshake rules
//! (`transport::ws::handshake`).

use super::conn::{ConnId, Life, Phase, WsConn};
use super::{initial_protocol, mark_dirty, Member, State};
use crate::error::{HandshakeError, HttpError};
use crate::http::request::{self, Request};
use crate::http::response;
use crate::http::route::{route, Route};
use crate::metrics::{self, Counter};
use crate::protocol::{echo, ProtocolState};
use crate::pubsub::prepared::Prepared;
use crate::transport::ws::handshake::{self, HandshakeHeaders};
use crate::transport::ws::reader::MessageReader;
use bytes::{BufMut, Bytes, BytesMut};

/// What to do after answering a request.
pub(super) enum Next {
    KeepAlive,
    Close,
    /// Switch to WebSocket (`sockjs`: SockJS framing, else raw).
    Upgrade {
        service: usize,
        sockjs: bool,
    },
    /// The request names a SockJS session owned by shard `owner`: move the socket there.
    Migrate {
        owner: usize,
    },
    /// The response stays open as a SockJS session's receiver; parse nothing more now.
    Attached,
}

impl State {
    /// Append input to the connection's request buffer and answer complete requests.
    pub(super) fn on_http_data(&mut self, id: ConnId, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Phase::Http { buf } = &mut conn.phase else { return };
        buf.extend_from_slice(data);
        loop {
            let Some(conn) = self.conns.get_mut(id).filter(|c| c.is_open()) else { return };
            let Phase::Http { buf } = &mut conn.phase else { return };
            let limits = &self.ctx.config.limits;
            let (req, head_len) =
                match request::parse(buf, limits.max_request_head_bytes, limits.max_request_body_bytes) {
                    Ok(Some(parsed)) => parsed,
                    Ok(None) => return,
                    Err(e) => return self.reject_request(id, e),
                };
            let (total, chunked_body) = if req.chunked {
                match request::decode_chunked(&buf[head_len..], limits.max_request_body_bytes) {
                    Ok(Some((body, used))) => (head_len + used, Some(body)),
                    Ok(None) => return, // body still arriving
                    Err(e) => return self.reject_request(id, e),
                }
            } else {
                (head_len + req.content_length, None)
            };
            if buf.len() < total {
                return; // body still arriving
            }
            let rest = buf.split_off(total);
            let request = std::mem::replace(buf, rest);
            conn.opened_ms = self.now_ms; // the next request's handshake timer starts now
            self.counters.inc(Counter::HttpRequests);
            let body = chunked_body.as_deref().unwrap_or(&request[head_len..]);
            match self.answer(id, &req, body) {
                Next::KeepAlive => continue,
                Next::Close => return self.close_after_response(id),
                Next::Upgrade { service, sockjs } => return self.upgrade(id, service, sockjs),
                Next::Attached => return,
                Next::Migrate { owner } => return self.start_migration(id, owner, request),
            }
        }
    }

    #[cold]
    fn reject_request(&mut self, id: ConnId, e: HttpError) {
        tracing::debug!(?id, error = %e, "bad HTTP request");
        self.counters.inc(Counter::HttpErrors);
        self.respond(id, response::text(e.status(), &format!("{e}\n"), true));
        self.close_after_response(id);
    }

    fn answer(&mut self, id: ConnId, req: &Request, body: &[u8]) -> Next {
        let close = req.close;
        let services = &self.ctx.config.services;
        let (resp, next) = match route(&req.path, services) {
            Route::Healthz => (response::text(200, "ok\n", close), keep(close)),
            Route::Demo if self.demo_available() && req.method == "GET" => {
                let page = demo_page(&self.ctx.config.demo);
                (
                    response::build(200, &[], Some("text/html; charset=UTF-8"), page.as_bytes(), close),
                    keep(close),
                )
            }
            Route::Demo => (response::text(404, "Not found\n", close), keep(close)),
            Route::Metrics => {
                let text = metrics::render(&self.ctx.stats);
                (
                    response::build(200, &[], Some("text/plain; version=0.0.4"), text.as_bytes(), close),
                    keep(close),
                )
            }
            Route::Publish { topic } if req.method == "POST" => self.publish_http(topic, body, close),
            Route::Publish { .. } => {
                (response::build(405, &[("Allow", "POST")], None, b"", close), keep(close))
            }
            Route::Service { service, rest } => return self.answer_service(id, req, body, service, rest),
            Route::NotFound => (response::text(404, "Not found\n", close), keep(close)),
        };
        if resp.starts_with(b"HTTP/1.1 4") {
            self.counters.inc(Counter::HttpErrors);
        }
        self.respond(id, resp);
        next
    }

    /// The demo page needs its rooms service to exist.
    fn demo_available(&self) -> bool {
        let demo = &self.ctx.config.demo;
        demo.enabled && self.ctx.config.services.iter().any(|s| s.prefix == demo.service)
    }

    /// Validate a WebSocket upgrade on a service path and answer 101 or the refusal.
    pub(super) fn websocket_handshake(
        &mut self,
        id: ConnId,
        req: &Request,
        service: usize,
        sockjs: bool,
    ) -> Next {
        match validate_handshake(req) {
            Ok(accept) => {
                self.respond(id, Bytes::from(handshake::response_101(&accept)));
                Next::Upgrade { service, sockjs }
            }
            Err(e) => {
                self.counters.inc(Counter::WsHandshakeRejected);
                self.counters.inc(Counter::HttpErrors);
                let names_version = sockjs && req.ws_version.is_some();
                self.respond(id, handshake_error_response(&e, names_version));
                Next::Close
            }
        }
    }

    /// Park the request's bytes (and anything after them) for the owner shard.
    fn start_migration(&mut self, id: ConnId, owner: usize, mut request: Vec<u8>) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        if let Phase::Http { buf } = &mut conn.phase {
            request.extend_from_slice(buf);
            *buf = request;
        }
        conn.life = Life::Migrating { owner };
        self.migrating.push((id, owner));
    }

    /// `POST /publish/<topic>`: the body becomes `msg,<topic>,<body>` to every member.
    fn publish_http(&mut self, topic: &str, body: &[u8], close: bool) -> (Bytes, Next) {
        if topic.contains(',') || topic.len() > self.ctx.config.limits.max_topic_bytes {
            self.counters.inc(Counter::PublishRejected);
            return (response::text(400, "invalid topic\n", close), keep(close));
        }
        if std::str::from_utf8(body).is_err() {
            // Members receive text frames; a non-UTF-8 text frame would make every raw
            // WebSocket client fail the connection with 1007.
            self.counters.inc(Counter::PublishRejected);
            return (response::text(400, "body must be UTF-8 text\n", close), keep(close));
        }
        let mut wire = BytesMut::with_capacity(5 + topic.len() + body.len());
        wire.put_slice(b"msg,");
        wire.put_slice(topic.as_bytes());
        wire.put_u8(b',');
        wire.put_slice(body);
        let wire = wire.freeze();
        let topic = wire.slice(4..4 + topic.len());
        self.publish(Prepared::new(topic, wire));
        (response::build(204, &[], None, b"", close), keep(close))
    }

    pub(super) fn respond(&mut self, id: ConnId, resp: Bytes) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        conn.queue.push_control(&resp);
        mark_dirty(&mut self.dirty, conn);
    }

    pub(super) fn close_after_response(&mut self, id: ConnId) {
        let deadline_ms = self.now_ms + self.ctx.config.limits.close_linger_ms;
        if let Some(conn) = self.conns.get_mut(id).filter(|c| c.is_open()) {
            conn.life = Life::Closing { deadline_ms, half_closed: false };
            mark_dirty(&mut self.dirty, conn);
        }
    }

    /// Switch to WebSocket; bytes that followed the handshake are WebSocket input.
    fn upgrade(&mut self, id: ConnId, service: usize, sockjs: bool) {
        let svc = &self.ctx.config.services[service];
        let (kind, heartbeat_ms) = (svc.protocol, svc.heartbeat_delay_ms);
        let now = self.now_ms;
        let Some(conn) = self.conns.get_mut(id) else { return };
        let ws = WsConn {
            service,
            reader: MessageReader::new(),
            proto: initial_protocol(kind),
            subs: Vec::new(),
            ping_outstanding: false,
            sockjs,
            heartbeat_due_ms: now + heartbeat_ms,
        };
        let Phase::Http { buf } = std::mem::replace(&mut conn.phase, Phase::Ws(Box::new(ws))) else { return };
        self.counters.inc(Counter::WsUpgrades);
        if sockjs {
            self.sockjs_ws_opened(id); // sockjs §8.1: `o` first
        }
        if let ProtocolState::Close = initial_protocol(kind) {
            echo::close_on_open(&mut self.actions);
            self.apply_actions(Member::Conn(id));
            return;
        }
        let mut early = buf;
        if !early.is_empty() {
            self.on_ws_data(id, &mut early);
        }
    }
}

/// The demo page with its script URLs and service filled in.
fn demo_page(demo: &crate::config::DemoConfig) -> String {
    include_str!("../demo.html")
        .replace("{{SOCKJS_URL}}", &html_attr(&demo.sockjs_client_url))
        .replace("{{MULTIPLEX_URL}}", &html_attr(&demo.multiplex_client_url))
        .replace("{{PREFIX}}", &demo.service.replace(['\'', '\\', '<'], ""))
}

/// Escape a configured URL for an HTML attribute.
fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
}

fn keep(close: bool) -> Next {
    if close {
        Next::Close
    } else {
        Next::KeepAlive
    }
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
