//! The SockJS front end (spec `sockjs.md`): every path under a SockJS service prefix.
//!
//! Owns: answering static routes, attaching receivers (long-lived HTTP responses) to
//! sessions and creating sessions, taking sends (`xhr_send`, `jsonp_send`) — on this
//! shard when it owns the session, or relayed to the owner as a request on the bus —
//! and moving a receiver's connection to the session's owner shard. Does not own:
//! byte formats (`transport::sockjs`), session rules (`session`) or protocol rules.

use super::conns::Hold;
use super::http::{Incoming, Next};
use super::State;
use crate::api::{ConnInfo, Transport as ApiTransport};
use crate::http::request::Request;
use crate::ids::{ConnId, ServiceId, SessionId};
use crate::metrics::Counter;
use crate::protocol::ProtocolState;
use crate::pubsub::bus::Request as BusRequest;
use crate::pubsub::prepared::Carrier;
use crate::session::table::owner_shard;
use crate::session::{Receiver, Session, ANOTHER_CONNECTION};
use crate::transport::sockjs::framing::{self, Wrap};
use crate::transport::sockjs::receive::{self, PayloadError};
use crate::transport::sockjs::routes::{self, SockjsRoute, Transport};
use crate::transport::sockjs::statics::{self, BodyFraming};
use bytes::{Bytes, BytesMut};

impl State {
    /// Answer a request under SockJS service `service` (`rest` follows the prefix).
    pub(super) fn answer_sockjs(&mut self, id: ConnId, inc: &Incoming<'_>, service: ServiceId, rest: &str) -> Next {
        let req = inc.req;
        let svc = self.ctx.services.get(service);
        let opts = &svc.sockjs;
        let route = routes::route(rest);
        let close = req.close;
        if route == SockjsRoute::NotFound || route == SockjsRoute::ChunkingTest {
            return self.reply(id, statics::not_found(false), close);
        }
        if !routes::method_allowed(&route, &req.method) {
            return self.reply(id, statics::method_not_allowed(routes::allowed_methods(&route)), close);
        }
        let options = req.method == "OPTIONS";
        let resp = match route {
            SockjsRoute::Greeting => statics::greeting(),
            SockjsRoute::Iframe => statics::iframe(opts, req.if_none_match.as_deref()),
            SockjsRoute::Info if options => statics::preflight(req, "OPTIONS, GET", opts),
            SockjsRoute::Info => statics::info(opts, req),
            SockjsRoute::RawWebSocket | SockjsRoute::Session { transport: Transport::WebSocket, .. } => {
                if !opts.websocket {
                    return self.reply(id, statics::not_found(true), close);
                }
                let carrier = if route == SockjsRoute::RawWebSocket { Carrier::Ws } else { Carrier::SockjsWs };
                return self.websocket_handshake(id, req, service, carrier);
            }
            SockjsRoute::Session { .. } if options => statics::preflight(req, "OPTIONS, POST", opts),
            SockjsRoute::Session { session, transport, .. } => {
                return match transport {
                    Transport::XhrSend | Transport::JsonpSend => self.session_send(id, inc, service, session, transport),
                    _ => self.session_receive(id, inc, service, session, transport),
                };
            }
            SockjsRoute::NotFound | SockjsRoute::ChunkingTest => unreachable!("answered above"),
        };
        self.reply(id, resp, close)
    }

    // ---- sends (§6.7) ---------------------------------------------------------------

    fn session_send(&mut self, id: ConnId, inc: &Incoming<'_>, service: ServiceId, key: &str, t: Transport) -> Next {
        let req = inc.req;
        let ct = req.content_type.as_deref();
        let decoded = match t {
            Transport::XhrSend => receive::decode_xhr_send(ct, inc.body),
            _ => receive::decode_jsonp_send(ct, inc.body),
        };
        let messages = match decoded {
            Ok(m) => m,
            Err(e) => return self.payload_error(id, req, e, t, service),
        };
        let opts = &self.ctx.services.get(service).sockjs;
        let ok = statics::send_ok(t, req, opts);
        let not_found = statics::not_found_with(&statics::session_headers(t, req, opts));
        let owner = owner_shard(key.as_bytes(), self.rooms.bus.shards());
        if owner != self.id {
            let body = BusRequest::SockjsSend { service, key: Bytes::copy_from_slice(key.as_bytes()), messages };
            return self.relay(id, owner, body, ok, not_found, req.close);
        }
        let known = self.deliver_sends(service, key.as_bytes(), &messages);
        self.reply(id, if known { ok } else { not_found }, req.close)
    }

    /// Hand a client's messages to session `key` of this shard; false if there is none.
    pub(super) fn deliver_sends(&mut self, service: ServiceId, key: &[u8], messages: &[String]) -> bool {
        let Some(sid) = self.sessions.table.lookup(service, key) else {
            self.counters.inc(Counter::SockjsUnknownSession);
            return false;
        };
        self.session_messages(sid, messages);
        true
    }

    #[cold]
    fn payload_error(&mut self, id: ConnId, req: &Request, e: PayloadError, t: Transport, service: ServiceId) -> Next {
        tracing::debug!(?id, error = %e, "sockjs send refused");
        self.counters.inc(Counter::SockjsPayloadErrors);
        let headers = statics::session_headers(t, req, &self.ctx.services.get(service).sockjs);
        self.reply(id, statics::error_500(&e.to_string(), &headers), req.close)
    }

    // ---- receivers (§6.2–§6.6, §7) --------------------------------------------------

    fn session_receive(&mut self, id: ConnId, inc: &Incoming<'_>, service: ServiceId, key: &str, t: Transport) -> Next {
        let owner = owner_shard(key.as_bytes(), self.rooms.bus.shards());
        if owner != self.id {
            return Next::Migrate { owner };
        }
        let req = inc.req;
        let wrap = match receiver_wrap(req, t) {
            Ok(w) => w,
            Err(msg) => {
                let headers = statics::session_headers(t, req, &self.ctx.services.get(service).sockjs);
                return self.reply(id, statics::error_500(msg, &headers), req.close);
            }
        };
        let streaming = matches!(t, Transport::XhrStreaming | Transport::EventSource | Transport::HtmlFile);
        // §9: HTTP/1.0 bodies are never chunked; they end when the connection closes.
        let chunked = !req.http10;
        let framing_kind = if chunked { BodyFraming::Chunked } else { BodyFraming::CloseDelimited };
        let close = req.close || !chunked;
        let mut head = BytesMut::new();
        head.extend_from_slice(&statics::transport_head_framed(t, req, &self.ctx.services.get(service).sockjs, framing_kind));
        body_into(&mut head, &framing::prelude(&wrap), chunked);
        if self.sessions.table.lookup(service, key.as_bytes()).is_none() {
            if let Some(refusal) = self.admit_session(id, service, key.as_bytes(), close) {
                return self.reply(id, refusal, close);
            }
        }
        let sid = self.session_for(id, inc, service, key, t);
        let receiver = Receiver { conn: id, wrap: wrap.clone(), streaming, chunked };
        let busy = self.sessions.table.get_mut(sid).is_some_and(|s| s.receiver_conn().is_some());
        if busy {
            // §6.4: a second receiver gets `c[2010,...]` and ends; the first keeps going.
            let (code, reason) = ANOTHER_CONNECTION;
            let mut frame = BytesMut::new();
            framing::wrap_into(&mut frame, &wrap, &framing::close_frame(code, reason));
            body_into(&mut head, &frame, chunked);
            if chunked {
                head.extend_from_slice(statics::LAST_CHUNK);
            }
            return self.reply(id, head.freeze(), close);
        }
        if let Some(conn) = self.conns.get_mut(id) {
            conn.hold = Hold::Receiver(sid);
            conn.close_after_response = close;
        }
        self.respond(id, head.freeze());
        let _ = self.with_session(sid, |s, now, timing, fx| s.attach(receiver, now, timing, fx));
        Next::Held
    }

    /// The session `key` names, created (state New) if it does not exist.
    fn session_for(&mut self, id: ConnId, inc: &Incoming<'_>, service: ServiceId, key: &str, t: Transport) -> SessionId {
        if let Some(sid) = self.sessions.table.lookup(service, key.as_bytes()) {
            return sid;
        }
        let svc = self.ctx.services.get(service);
        let fd = self.conns.get(id).map_or(-1, |c| c.raw_fd());
        let proto = ProtocolState::new(&svc.protocol, || ConnInfo::from_request(inc.head, fd, api_transport(t)));
        let deadline = self.clock.now_ms + svc.timing.disconnect_ms;
        self.sessions.counters.inc(Counter::SockjsSessionsOpened);
        self.sessions.table.insert(service, key.as_bytes(), |key| Session::new(key, service, proto, deadline))
    }

    // ---- moving connections to the owner shard ----------------------------------------

    /// Hand connections whose request names a session owned elsewhere to that shard.
    pub(super) fn migrate_conns(&mut self, io: &mut crate::io::Backend) {
        for (id, owner) in std::mem::take(&mut self.conns.migrating) {
            let Some(conn) = self.conns.get(id) else { continue };
            if conn.life != (super::conns::Life::Migrating { owner }) {
                continue; // the peer went away meanwhile
            }
            if !conn.queue.is_empty() || conn.queue.in_flight() {
                self.conns.migrating.push((id, owner)); // the previous response is still being written
                continue;
            }
            let Some(conn) = self.conns.remove(id) else { continue };
            io.remove_conn(id.token(), conn.raw_fd());
            let super::conns::Phase::Http { buf, .. } = conn.phase else { continue };
            self.counters.inc(Counter::SockjsMigrations);
            if let Err(fd) = self.rooms.bus.adopt(owner, conn.fd, buf, conn.tls) {
                tracing::warn!(?owner, "cannot move a request to its session's shard: queue full");
                self.counters.inc(Counter::BusDroppedBatches);
                self.release_peer(std::os::fd::AsRawFd::as_raw_fd(&fd));
                drop(fd);
            }
        }
    }

    /// Take connections other shards moved here and answer their requests.
    pub(super) fn register_adopted(&mut self, io: &mut crate::io::Backend) {
        for (fd, input, tls) in std::mem::take(&mut self.adopted) {
            if let Some(id) = self.start_reading(io, fd) {
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.tls = tls;
                }
                self.on_http_data(id, &input);
            }
        }
    }
}

/// How a receiver of transport `t` wraps frames; the 500 body if its callback is bad.
fn receiver_wrap(req: &Request, t: Transport) -> Result<Wrap, &'static str> {
    Ok(match t {
        Transport::Xhr => Wrap::Xhr,
        Transport::XhrStreaming => Wrap::XhrStreaming,
        Transport::EventSource => Wrap::EventSource,
        Transport::HtmlFile => Wrap::HtmlFile { callback: statics::callback(&req.query)? },
        _ => Wrap::Jsonp { callback: statics::callback(&req.query)? },
    })
}

/// The public name of a receiving transport.
fn api_transport(t: Transport) -> ApiTransport {
    match t {
        Transport::XhrStreaming => ApiTransport::SockjsXhrStreaming,
        Transport::EventSource => ApiTransport::SockjsEventSource,
        Transport::HtmlFile => ApiTransport::SockjsHtmlFile,
        Transport::Jsonp => ApiTransport::SockjsJsonpPolling,
        _ => ApiTransport::SockjsXhrPolling,
    }
}

/// Append response body bytes: as one chunk (HTTP/1.1), or raw (HTTP/1.0, §9).
fn body_into(out: &mut BytesMut, data: &[u8], chunked: bool) {
    if chunked {
        statics::chunk_into(out, data);
    } else {
        out.extend_from_slice(data);
    }
}
