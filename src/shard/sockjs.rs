//! The shard's SockJS service endpoints (spec `sockjs.md`): static routes, the HTTP
//! session transports, their receivers and timers, and moving a request to the shard
//! that owns its session.
//!
//! Owns: answering every path under a service prefix except the WebSocket frames
//! themselves (the WebSocket phase handles those), attaching HTTP responses to sessions,
//! writing session frames through the transport's wrapping and chunked encoding, and the
//! session lifecycle (§6). Does not own: byte formats (`transport::sockjs`), the session
//! table (`session`), or protocol rules (`protocol`).

use super::conn::{ConnId, Life, Phase};
use super::http::Next;
use super::{initial_protocol, mark_dirty, Member, State};
use crate::http::request::Request;
use crate::metrics::Counter;
use crate::protocol::{echo, ProtocolState};
use crate::session::{owner_shard, Receiver, SessionId, SessionState};
use crate::transport::sockjs::framing::{self, Wrap};
use crate::transport::sockjs::receive::{self, PayloadError};
use crate::transport::sockjs::routes::{self, SockjsRoute, Transport};
use crate::transport::sockjs::statics::{self, BodyFraming};
use bytes::{Bytes, BytesMut};

/// sockjs §6.4: the frame a second concurrent receiver gets.
const ANOTHER_CONNECTION: (u16, &str) = (2010, "Another connection still open");

impl State {
    /// Answer a request under service `service`'s prefix (`rest` follows the prefix).
    pub(super) fn answer_service(
        &mut self,
        id: ConnId,
        req: &Request,
        body: &[u8],
        service: usize,
        rest: &str,
    ) -> Next {
        let ctx = self.ctx.clone();
        let opts = &ctx.sockjs[service];
        let route = routes::route(rest);
        if route == SockjsRoute::NotFound || route == SockjsRoute::ChunkingTest {
            return self.reply(id, statics::not_found(false), req.close);
        }
        if !routes::method_allowed(&route, &req.method) {
            return self.reply(id, statics::method_not_allowed(routes::allowed_methods(&route)), req.close);
        }
        let options = req.method == "OPTIONS";
        match route {
            SockjsRoute::Greeting => self.reply(id, statics::greeting(), req.close),
            SockjsRoute::Iframe => {
                self.reply(id, statics::iframe(opts, req.if_none_match.as_deref()), req.close)
            }
            SockjsRoute::Info if options => {
                self.reply(id, statics::preflight(req, "OPTIONS, GET", opts), req.close)
            }
            SockjsRoute::Info => self.reply(id, statics::info(opts, req), req.close),
            SockjsRoute::RawWebSocket | SockjsRoute::Session { transport: Transport::WebSocket, .. } => {
                if !opts.websocket {
                    return self.reply(id, statics::not_found(true), req.close);
                }
                let sockjs = route != SockjsRoute::RawWebSocket;
                self.websocket_handshake(id, req, service, sockjs)
            }
            SockjsRoute::Session { .. } if options => {
                self.reply(id, statics::preflight(req, "OPTIONS, POST", opts), req.close)
            }
            SockjsRoute::Session { session, transport, .. } => {
                let owner = owner_shard(session.as_bytes(), self.bus.shards());
                if owner != self.index {
                    return Next::Migrate { owner };
                }
                match transport {
                    Transport::XhrSend | Transport::JsonpSend => {
                        self.session_send(id, req, body, service, session, transport)
                    }
                    _ => self.session_receive(id, req, service, session, transport),
                }
            }
            SockjsRoute::NotFound | SockjsRoute::ChunkingTest => unreachable!("answered above"),
        }
    }

    fn reply(&mut self, id: ConnId, resp: Bytes, close: bool) -> Next {
        if resp.starts_with(b"HTTP/1.1 4") || resp.starts_with(b"HTTP/1.1 5") {
            self.counters.inc(Counter::HttpErrors);
        }
        self.respond(id, resp);
        if close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    // ---- sends (§6.7) ---------------------------------------------------------------

    fn session_send(
        &mut self,
        id: ConnId,
        req: &Request,
        body: &[u8],
        service: usize,
        key: &str,
        t: Transport,
    ) -> Next {
        let ctx = self.ctx.clone();
        let opts = &ctx.sockjs[service];
        let ct = req.content_type.as_deref();
        let decoded = match t {
            Transport::XhrSend => receive::decode_xhr_send(ct, body),
            _ => receive::decode_jsonp_send(ct, body),
        };
        let messages = match decoded {
            Ok(m) => m,
            Err(e) => return self.payload_error(id, req, e, t, service),
        };
        let Some(sid) = self.sessions.lookup(key.as_bytes()) else {
            self.counters.inc(Counter::SockjsUnknownSession);
            let headers = self.session_headers(req, t, service);
            return self.reply(id, statics::not_found_with(&headers), req.close);
        };
        let closing =
            self.sessions.get_mut(sid).is_some_and(|s| matches!(s.state, SessionState::Closing { .. }));
        if !closing {
            for m in &messages {
                self.session_message(sid, m.as_bytes());
            }
        }
        self.reply(id, statics::send_ok(t, req, opts), req.close)
    }

    #[cold]
    fn payload_error(
        &mut self,
        id: ConnId,
        req: &Request,
        e: PayloadError,
        t: Transport,
        service: usize,
    ) -> Next {
        tracing::debug!(?id, error = %e, "sockjs send refused");
        self.counters.inc(Counter::SockjsPayloadErrors);
        let headers = self.session_headers(req, t, service);
        self.reply(id, statics::error_500(&e.to_string(), &headers), req.close)
    }

    /// Headers every session response carries (§4.3 no-cache, §4.1 CORS, §10 cookie).
    fn session_headers(&self, req: &Request, t: Transport, service: usize) -> Vec<(String, String)> {
        statics::session_headers(t, req, &self.ctx.sockjs[service])
    }

    /// One application message from a session's client.
    fn session_message(&mut self, sid: SessionId, msg: &[u8]) {
        let ctx = self.ctx.clone();
        let Some(s) = self.sessions.get_mut(sid) else { return };
        self.counters.inc(Counter::MessagesIn);
        let rooms = &ctx.rooms[s.service];
        match &mut s.proto {
            ProtocolState::Rooms(r) => r.on_message(msg, rooms, &mut self.actions),
            ProtocolState::Channels(c) => c.on_message(msg, &mut self.actions),
            ProtocolState::Echo => echo::on_message(true, msg, &mut self.actions),
            ProtocolState::Close => {}
        }
        self.apply_actions(Member::Session(sid));
    }

    // ---- receivers (§6.2–§6.6, §7) --------------------------------------------------

    fn session_receive(
        &mut self,
        id: ConnId,
        req: &Request,
        service: usize,
        key: &str,
        t: Transport,
    ) -> Next {
        let wrap = match self.receiver_wrap(req, t) {
            Ok(w) => w,
            Err(msg) => {
                let headers = self.session_headers(req, t, service);
                return self.reply(id, statics::error_500(msg, &headers), req.close);
            }
        };
        let streaming = matches!(t, Transport::XhrStreaming | Transport::EventSource | Transport::HtmlFile);
        // §9: HTTP/1.0 bodies are never chunked; they end when the connection closes.
        let chunked = !req.http10;
        let body_framing = if chunked { BodyFraming::Chunked } else { BodyFraming::CloseDelimited };
        let close = req.close || !chunked;
        let mut head = BytesMut::new();
        head.extend_from_slice(&statics::transport_head_framed(
            t,
            req,
            &self.ctx.sockjs[service],
            body_framing,
        ));
        body_into(&mut head, &framing::prelude(&wrap), chunked);
        let sid = match self.sessions.lookup(key.as_bytes()) {
            Some(sid) => sid,
            None => {
                let proto = initial_protocol(self.ctx.config.services[service].protocol);
                self.counters.inc(Counter::SockjsSessionsOpened);
                self.sessions.create(key.as_bytes(), service, proto, self.now_ms)
            }
        };
        let Some(s) = self.sessions.get_mut(sid) else { return Next::Close };
        if s.receiver.is_some() {
            let (code, reason) = ANOTHER_CONNECTION;
            let mut frame = BytesMut::new();
            framing::wrap_into(&mut frame, &wrap, &framing::close_frame(code, reason));
            body_into(&mut head, &frame, chunked);
            if chunked {
                head.extend_from_slice(statics::LAST_CHUNK);
            }
            return self.reply(id, head.freeze(), close);
        }
        s.receiver = Some(Receiver { conn: id, wrap, streaming, sent_bytes: 0, chunked });
        let heartbeat = self.ctx.config.services[service].heartbeat_delay_ms;
        s.timer_ms = self.now_ms + heartbeat;
        if let Some(conn) = self.conns.get_mut(id) {
            conn.attached = Some(sid);
            conn.close_after_response = close;
        }
        self.respond(id, head.freeze());
        self.on_receiver_attached(sid);
        Next::Attached
    }

    fn receiver_wrap(&self, req: &Request, t: Transport) -> Result<Wrap, &'static str> {
        Ok(match t {
            Transport::Xhr => Wrap::Xhr,
            Transport::XhrStreaming => Wrap::XhrStreaming,
            Transport::EventSource => Wrap::EventSource,
            Transport::HtmlFile => Wrap::HtmlFile { callback: statics::callback(&req.query)? },
            _ => Wrap::Jsonp { callback: statics::callback(&req.query)? },
        })
    }

    /// What a freshly attached receiver gets, by session state.
    fn on_receiver_attached(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get_mut(sid) else { return };
        match s.state.clone() {
            SessionState::New => {
                s.state = SessionState::Open;
                self.write_to_receiver(sid, framing::OPEN);
                if let Some(ProtocolState::Close) = self.sessions.get_mut(sid).map(|s| &s.proto) {
                    echo::close_on_open(&mut self.actions);
                    self.apply_actions(Member::Session(sid));
                }
            }
            SessionState::Open => self.flush_session(sid),
            SessionState::Closing { close_frame } => {
                // §6.2: "queued messages (one `a` frame) if any, then the stored `c` frame;
                // response ends" (a streaming response too).
                self.flush_session(sid);
                self.write_to_receiver(sid, &close_frame);
                self.end_receiver(sid);
            }
        }
    }

    /// Write one frame to the session's receiver; polling receivers end after one frame,
    /// streaming ones once `response_limit_bytes` is reached (§6.3).
    fn write_to_receiver(&mut self, sid: SessionId, frame: &[u8]) {
        let limit = {
            let Some(s) = self.sessions.get_mut(sid) else { return };
            self.ctx.config.services[s.service].response_limit_bytes
        };
        let Some(s) = self.sessions.get_mut(sid) else { return };
        let Some(r) = s.receiver.as_mut() else { return };
        let mut wrapped = BytesMut::new();
        framing::wrap_into(&mut wrapped, &r.wrap, frame);
        r.sent_bytes += wrapped.len();
        let end = !r.streaming || r.sent_bytes >= limit;
        let conn_id = r.conn;
        let mut chunk = BytesMut::with_capacity(wrapped.len() + 16);
        body_into(&mut chunk, &wrapped, r.chunked);
        if let Some(conn) = self.conns.get_mut(conn_id) {
            conn.queue.push_control(&chunk);
            mark_dirty(&mut self.dirty, conn);
        }
        if end {
            self.end_receiver(sid);
        }
    }

    /// End the attached response; the session starts its disconnect timer (§6.3).
    fn end_receiver(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get_mut(sid) else { return };
        let Some(r) = s.receiver.take() else { return };
        s.timer_ms = self.now_ms + self.ctx.config.services[s.service].disconnect_delay_ms;
        let Some(conn) = self.conns.get_mut(r.conn) else { return };
        conn.attached = None;
        if r.chunked {
            conn.queue.push_control(statics::LAST_CHUNK);
        }
        mark_dirty(&mut self.dirty, conn);
        if conn.close_after_response {
            self.close_after_response(r.conn);
        } else {
            // Keep-alive: later requests on this connection are parsed again.
            self.resume_http.push(r.conn);
        }
    }

    /// Queued messages go to the attached receiver as one `a[...]` frame.
    pub(super) fn flush_session(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get_mut(sid) else { return };
        s.dirty = false;
        if s.receiver.is_none() || s.outbox.is_empty() {
            return;
        }
        let frame = framing::messages_frame(&s.outbox);
        s.outbox.clear();
        s.outbox_bytes = 0;
        self.write_to_receiver(sid, &frame);
    }

    /// Flush every session that got messages this tick.
    pub(super) fn flush_sessions(&mut self) {
        let dirty = std::mem::take(&mut self.dirty_sessions);
        for &sid in &dirty {
            self.flush_session(sid);
        }
        self.dirty_sessions = dirty;
        self.dirty_sessions.clear();
    }

    /// Queue a quoted message for a session (delivered at the end of the tick).
    pub(super) fn session_enqueue(&mut self, sid: SessionId, quoted: &Bytes) {
        let budget = self.ctx.config.limits.send_budget_bytes;
        let Some(s) = self.sessions.get_mut(sid) else { return };
        if matches!(s.state, SessionState::Closing { .. }) {
            return;
        }
        if s.outbox_bytes + quoted.len() > budget {
            self.counters.inc(Counter::ClosedBackpressure);
            tracing::info!(session = ?String::from_utf8_lossy(&s.key), "closing slow sockjs session");
            return self.close_session(sid, 1008, "Send budget exceeded");
        }
        s.outbox_bytes += quoted.len();
        s.outbox.push(quoted.clone());
        if !s.dirty {
            s.dirty = true;
            self.dirty_sessions.push(sid);
        }
    }

    /// Application/server close (§6.6): store the `c` frame; an attached receiver gets
    /// the queued messages, then the frame, and ends.
    pub(super) fn close_session(&mut self, sid: SessionId, code: u16, reason: &str) {
        self.leave_session_rooms(sid);
        let Some(s) = self.sessions.get_mut(sid) else { return };
        if matches!(s.state, SessionState::Closing { .. }) {
            return;
        }
        let close_frame = framing::close_frame(code, reason);
        s.state = SessionState::Closing { close_frame: close_frame.clone() };
        if s.receiver.is_some() {
            self.flush_session(sid);
            self.write_to_receiver(sid, &close_frame);
            self.end_receiver(sid);
        }
    }

    fn leave_session_rooms(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get_mut(sid) else { return };
        for key in s.subs.drain(..) {
            self.topics.unsubscribe(key);
        }
    }

    /// Forget a session at once (timer expired, or its receiver's TCP connection was
    /// dropped — sockjs-node destroys the session then, §6.5).
    pub(super) fn destroy_session(&mut self, sid: SessionId) {
        self.leave_session_rooms(sid);
        if let Some(s) = self.sessions.remove(sid) {
            self.counters.inc(Counter::SockjsSessionsClosed);
            if let Some(r) = s.receiver {
                if let Some(conn) = self.conns.get_mut(r.conn) {
                    conn.attached = None;
                }
            }
        }
    }

    /// Session timers (§6.2): heartbeat on an attached receiver, destruction without one.
    pub(super) fn sweep_sessions(&mut self) {
        let mut ids = Vec::new();
        self.sessions.ids(&mut ids);
        for sid in ids {
            let Some(s) = self.sessions.get_mut(sid) else { continue };
            if self.now_ms < s.timer_ms {
                continue;
            }
            if s.receiver.is_some() {
                s.timer_ms = self.now_ms + self.ctx.config.services[s.service].heartbeat_delay_ms;
                self.write_to_receiver(sid, framing::HEARTBEAT);
            } else {
                self.destroy_session(sid);
            }
        }
    }

    /// The SockJS WebSocket's first frame and, for the `close` service, its close.
    pub(super) fn sockjs_ws_opened(&mut self, id: ConnId) {
        self.send_ws_text(id, framing::OPEN);
    }

    /// Send a WebSocket text message to one connection (control priority, in order).
    pub(super) fn send_ws_text(&mut self, id: ConnId, text: &[u8]) {
        let frame = crate::transport::ws::codec::frame(crate::transport::ws::codec::OpCode::Text, text);
        if let Some(conn) = self.conns.get_mut(id) {
            conn.queue.push_control(&frame);
            mark_dirty(&mut self.dirty, conn);
        }
    }

    /// Decode one SockJS WebSocket client message into application messages (§8.1).
    pub(super) fn sockjs_ws_messages(text: &[u8]) -> Result<Vec<String>, PayloadError> {
        let text = std::str::from_utf8(text).map_err(|_| PayloadError::BrokenJson)?;
        receive::decode_ws_message(text)
    }

    // ---- moving requests to the owner shard -----------------------------------------

    /// Hand connections whose request names a session owned elsewhere to that shard.
    pub(super) fn migrate_conns(&mut self, io: &mut crate::io::Backend) {
        let moving = std::mem::take(&mut self.migrating);
        for (id, owner) in moving {
            let Some(conn) = self.conns.get(id) else { continue };
            if conn.queue.is_empty() && !conn.writing {
                let Some(conn) = self.conns.remove(id) else { continue };
                io.remove_conn(id.token(), conn.raw_fd());
                let Phase::Http { buf } = conn.phase else { continue };
                self.counters.inc(Counter::SockjsMigrations);
                if let Err(fd) = self.bus.adopt(owner, conn.fd, buf) {
                    tracing::warn!(owner, "cannot move a request to its session's shard: queue full");
                    self.counters.inc(Counter::BusDroppedBatches);
                    drop(fd);
                }
            } else {
                // The previous response is still being written: try next tick.
                self.migrating.push((id, owner));
            }
        }
    }

    /// Take connections other shards moved here and answer their requests.
    pub(super) fn register_adopted(&mut self, io: &mut crate::io::Backend) {
        for (fd, mut input) in std::mem::take(&mut self.adopted) {
            let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
            let id = self.conns.insert(fd, self.now_ms);
            if let Err(e) = io.add_conn(id.token(), raw) {
                tracing::warn!(error = %e, "cannot read an adopted connection");
                self.conns.remove(id);
                continue;
            }
            self.on_http_data(id, &mut input);
        }
    }

    /// Parse requests that arrived while a receiver was attached (keep-alive reuse).
    pub(super) fn resume_http_conns(&mut self) {
        for id in std::mem::take(&mut self.resume_http) {
            if self.conns.get(id).is_some_and(|c| c.is_open() && c.attached.is_none()) {
                self.on_http_data(id, &mut []);
            }
        }
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

/// Whether a connection is parked as an HTTP receiver (input is buffered, not parsed).
pub(super) fn is_receiver(conn: &super::conn::Conn) -> bool {
    conn.attached.is_some() || matches!(conn.life, Life::Migrating { .. })
}

/// Application messages → actions → for a SockJS WebSocket, replies are `a[...]` frames.
pub(super) fn ws_reply_frame(payload: &[u8]) -> Bytes {
    let quoted = framing::quote(&String::from_utf8_lossy(payload));
    framing::messages_frame(std::slice::from_ref(&quoted))
}
