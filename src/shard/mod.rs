//! The per-core event loop: one shard owns its listener, backend, connections, topic
//! table and timers, and shares nothing mutable with other shards.
//!
//! One tick (DESIGN §1): wait for the backend → take publishes from other shards →
//! handle every event (parse input; protocols return `Action`s; apply them to the local
//! topic table and queue frames) → send this tick's publishes to other shards → flush
//! every dirty connection with one write → free finished connections → timers.
//!
//! Owns: the loop, input dispatch, action application, delivery into send queues and
//! the connection lifecycle. Does not own: codecs, protocol rules, kernel I/O details.

pub mod conn;
mod http;
mod sockjs;

use crate::config::{Config, ProtocolKind};
use crate::error::CloseCause;
use crate::io::{self, Backend, Event};
use crate::metrics::{Counter, Counters, ShardStats};
use crate::protocol::{echo, multiplex::RoomsConfig, Action, ProtocolState};
use crate::pubsub::bus::{BusEnd, BusMsg};
use crate::pubsub::prepared::Prepared;
use crate::pubsub::topics::TopicTable;
use crate::send::flush::{self, DirtyList, FlushOutcome, FlushStats};
use crate::send::queue::SendStatus;
use crate::session::{SessionId, SessionTable};
use crate::transport::sockjs::statics::ServiceOptions;
use crate::transport::ws::codec::{self, OpCode};
use crate::transport::ws::reader::{Flow, WsMessage};
use bytes::Bytes;
use conn::{ConnId, ConnTable, Life, Phase};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often timers (handshake, idle, ping, linger) are checked.
const SWEEP_INTERVAL_MS: u64 = 200;

/// A room member: a WebSocket connection or a SockJS HTTP-transport session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    Conn(ConnId),
    Session(SessionId),
}

/// What every shard shares, read-only.
pub struct ShardContext {
    pub config: Arc<Config>,
    /// Rooms settings per service (index = service index; unused for other protocols).
    pub rooms: Vec<RoomsConfig>,
    /// SockJS options per service (index = service index).
    pub sockjs: Vec<ServiceOptions>,
    pub stats: Arc<[ShardStats]>,
    pub shutdown: Arc<AtomicBool>,
}

impl ShardContext {
    pub fn new(config: Arc<Config>, stats: Arc<[ShardStats]>, shutdown: Arc<AtomicBool>) -> ShardContext {
        let rooms = config
            .services
            .iter()
            .map(|s| RoomsConfig {
                allow: s
                    .rooms
                    .as_ref()
                    .map(|r| r.iter().map(|n| Bytes::copy_from_slice(n.as_bytes())).collect()),
                max_topic_bytes: config.limits.max_topic_bytes,
                max_topics: config.limits.max_topics_per_conn,
            })
            .collect();
        let sockjs = config
            .services
            .iter()
            .map(|s| ServiceOptions {
                websocket: s.websocket,
                cookie_needed: s.cookie_needed,
                sockjs_url: s.sockjs_url.clone(),
            })
            .collect();
        ShardContext { config, rooms, sockjs, stats, shutdown }
    }
}

/// One shard: its backend and everything else, split so events can borrow the backend
/// while the state changes.
pub struct Shard {
    io: Backend,
    st: State,
}

struct State {
    index: usize,
    ctx: Arc<ShardContext>,
    conns: ConnTable,
    topics: TopicTable<Member>,
    sessions: SessionTable,
    /// Sessions with messages for their receiver this tick.
    dirty_sessions: Vec<SessionId>,
    /// Connections to hand to another shard at the end of the tick (owner shard).
    migrating: Vec<(ConnId, usize)>,
    /// Connections other shards handed here, with the bytes already read.
    adopted: Vec<(OwnedFd, Vec<u8>)>,
    /// Keep-alive connections whose receiver ended: parse any buffered request.
    resume_http: Vec<ConnId>,
    bus: BusEnd,
    dirty: DirtyList<ConnId>,
    counters: Counters,
    /// Reused scratch buffers (no per-tick allocation).
    actions: Vec<Action>,
    accepted: Vec<OwnedFd>,
    scratch_ids: Vec<ConnId>,
    scratch_sessions: Vec<SessionId>,
    to_reap: Vec<ConnId>,
    epoch: Instant,
    now_ms: u64,
    next_sweep_ms: u64,
    /// Shutdown in progress: no new connections; exit when empty or at the deadline.
    drain_deadline_ms: Option<u64>,
}

impl Shard {
    pub fn new(index: usize, io: Backend, bus: BusEnd, ctx: Arc<ShardContext>) -> Shard {
        let st = State {
            index,
            ctx,
            conns: ConnTable::new(),
            topics: TopicTable::new(),
            sessions: SessionTable::new(),
            dirty_sessions: Vec::new(),
            migrating: Vec::new(),
            adopted: Vec::new(),
            resume_http: Vec::new(),
            bus,
            dirty: DirtyList::new(),
            counters: Counters::default(),
            actions: Vec::new(),
            accepted: Vec::new(),
            scratch_ids: Vec::new(),
            scratch_sessions: Vec::new(),
            to_reap: Vec::new(),
            epoch: Instant::now(),
            now_ms: 0,
            next_sweep_ms: SWEEP_INTERVAL_MS,
            drain_deadline_ms: None,
        };
        Shard { io, st }
    }

    /// Run until shutdown has drained every connection (or its grace period ended).
    pub fn run(mut self) -> std::io::Result<()> {
        tracing::debug!(shard = self.st.index, backend = %self.io.kind(), "shard running");
        loop {
            let timeout = self.st.wait_timeout();
            self.io.wait(Some(timeout))?;
            self.tick();
            if self.st.finished() {
                break;
            }
        }
        self.st.close_everything(&mut self.io);
        tracing::debug!(shard = self.st.index, "shard stopped");
        Ok(())
    }

    /// Everything after the wait: events, bus, flush, reap, timers.
    fn tick(&mut self) {
        self.st.now_ms = self.st.epoch.elapsed().as_millis() as u64;
        // Other shards' publishes first: one that reached this shard's queue before a
        // client's input (say a `sub`) was published before it, and must be delivered
        // before that input is applied (multiplex §4: no replay to later subscribers).
        // Shards queue publishes before writing to any client, so this keeps causality.
        self.st.drain_bus();
        while let Some(ev) = self.io.next_event() {
            self.st.on_event(ev);
        }
        self.st.register_accepted(&mut self.io);
        self.st.register_adopted(&mut self.io);
        self.st.migrate_conns(&mut self.io);
        self.st.resume_http_conns();
        self.st.flush_sessions();
        let full = self.st.bus.flush();
        self.st.counters.add(Counter::BusDroppedBatches, full as u64);
        self.st.flush_dirty(&mut self.io);
        self.st.reap(&mut self.io);
        if self.st.now_ms >= self.st.next_sweep_ms {
            self.st.sweep();
            self.st.flush_dirty(&mut self.io);
            self.st.next_sweep_ms = self.st.now_ms + SWEEP_INTERVAL_MS;
        }
        self.st.counters.set(Counter::ConnectionsOpen, self.st.conns.len() as u64);
        self.st.counters.set(Counter::Subscriptions, self.st.topics.memberships() as u64);
        self.st.counters.set(Counter::Topics, self.st.topics.len() as u64);
        self.st.counters.set(Counter::SockjsSessions, self.st.sessions.len() as u64);
        self.st.ctx.stats[self.st.index].store(&self.st.counters);
    }
}

impl State {
    fn wait_timeout(&self) -> Duration {
        if !self.dirty.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_millis(self.next_sweep_ms.saturating_sub(self.epoch.elapsed().as_millis() as u64))
    }

    fn limits(&self) -> &crate::config::Limits {
        &self.ctx.config.limits
    }

    fn finished(&self) -> bool {
        match self.drain_deadline_ms {
            Some(deadline) => self.conns.is_empty() || self.now_ms >= deadline,
            None => false,
        }
    }

    // ---- events -------------------------------------------------------------------

    fn on_event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Accepted { fd } => self.accepted.push(fd),
            Event::Data { token, data } => self.on_data(ConnId::from_token(token), data),
            Event::ReadClosed { token, errno } => self.on_read_closed(ConnId::from_token(token), errno),
            Event::Written { token, result } => self.on_written(ConnId::from_token(token), result),
            Event::Writable { token } => {
                let id = ConnId::from_token(token);
                if let Some(c) = self.conns.get_mut(id).filter(|c| c.blocked) {
                    c.blocked = false;
                    mark_dirty(&mut self.dirty, c);
                }
            }
            Event::Wake => {}
        }
    }

    fn register_accepted(&mut self, io: &mut Backend) {
        for fd in self.accepted.drain(..) {
            if self.drain_deadline_ms.is_some()
                || self.conns.len() >= self.ctx.config.limits.max_connections_per_shard
            {
                self.counters.inc(Counter::ConnectionsRejected);
                continue; // dropping the fd closes it
            }
            let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
            let id = self.conns.insert(fd, self.now_ms);
            if let Err(e) = io.add_conn(id.token(), raw) {
                tracing::warn!(error = %e, "cannot start reading a new connection");
                self.conns.remove(id);
                continue;
            }
            self.counters.inc(Counter::ConnectionsAccepted);
        }
    }

    fn on_data(&mut self, id: ConnId, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        conn.last_rx_ms = self.now_ms;
        if sockjs::is_receiver(conn) {
            // A parked HTTP receiver or a connection on its way to another shard: keep
            // the bytes for when it parses requests again.
            if let Phase::Http { buf } = &mut conn.phase {
                buf.extend_from_slice(data);
            }
            return;
        }
        if !conn.is_open() {
            return; // closing: input is read and dropped until the peer's EOF
        }
        match conn.phase {
            Phase::Http { .. } => self.on_http_data(id, data),
            Phase::Ws(_) => self.on_ws_data(id, data),
        }
    }

    fn on_read_closed(&mut self, id: ConnId, errno: i32) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        conn.read_closed = true;
        if let Some(sid) = conn.attached.take() {
            // sockjs §6.5: a receiver's TCP connection dropped ends its session at once.
            self.destroy_session(sid);
        }
        let Some(conn) = self.conns.get_mut(id) else { return };
        if conn.is_open() || matches!(conn.life, Life::Migrating { .. }) {
            self.counters.inc(Counter::ClosedByPeer);
            tracing::trace!(?id, errno, "peer closed");
            conn.life = Life::Aborted;
            // A peer that half-closed may also have stopped reading: shut the socket so a
            // write the kernel still holds fails now and the connection can be freed.
            io::shutdown(conn.raw_fd());
        }
        self.to_reap.push(id);
    }

    fn on_written(&mut self, id: ConnId, result: i32) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        conn.writing = false;
        if result < 0 {
            conn.queue.discard();
            self.counters.inc(Counter::WriteErrors);
            self.abort(id, None);
        } else {
            self.counters.add(Counter::BytesOut, result as u64);
            conn.queue.written(result as usize);
            mark_dirty(&mut self.dirty, conn);
        }
        self.to_reap.push(id);
    }

    // ---- WebSocket input ------------------------------------------------------------

    fn on_ws_data(&mut self, id: ConnId, data: &mut [u8]) {
        let State { conns, ctx, actions, counters, .. } = self;
        let Some(conn) = conns.get_mut(id) else { return };
        let Phase::Ws(ws) = &mut conn.phase else { return };
        let queue = &mut conn.queue;
        let limits = &ctx.config.limits;
        let rooms = &ctx.rooms[ws.service];
        ws.ping_outstanding = false;
        let sockjs = ws.sockjs;
        let mut close: Option<CloseCause> = None;
        let proto = &mut ws.proto;
        let result = ws.reader.feed(data, limits.max_message_bytes, |msg| match msg {
            WsMessage::Text(text) if sockjs => {
                // sockjs §8.1: each text message is JSON carrying zero or more messages.
                match State::sockjs_ws_messages(text) {
                    Ok(messages) => {
                        for m in &messages {
                            counters.inc(Counter::MessagesIn);
                            run_protocol(proto, true, m.as_bytes(), rooms, actions);
                        }
                        Flow::Continue
                    }
                    Err(_) => {
                        close = Some(CloseCause::BrokenFraming);
                        Flow::Stop
                    }
                }
            }
            WsMessage::Text(text) => {
                counters.inc(Counter::MessagesIn);
                run_protocol(proto, true, text, rooms, actions);
                Flow::Continue
            }
            WsMessage::Binary(_) if sockjs => {
                close = Some(CloseCause::UnsupportedData); // sockjs §8.1: SHOULD close 1003
                Flow::Stop
            }
            WsMessage::Binary(bin) => {
                counters.inc(Counter::MessagesIn);
                // multiplex §5.2: binary messages are not part of the protocol; ignored.
                if let ProtocolState::Echo = proto {
                    echo::on_message(false, bin, actions);
                }
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
            mark_dirty(&mut self.dirty, conn);
        }
        if let Err(e) = result {
            close = Some(CloseCause::Protocol(e));
        }
        self.apply_actions(Member::Conn(id));
        if let Some(cause) = close {
            self.start_close(id, cause, "");
        }
    }

    /// Apply the actions the protocol returned for `actor`, in order.
    fn apply_actions(&mut self, actor: Member) {
        let mut actions = std::mem::take(&mut self.actions);
        for action in actions.drain(..) {
            match (action, actor) {
                (Action::Subscribe { topic }, _) => self.subscribe(actor, &topic),
                (Action::Unsubscribe { topic }, _) => self.unsubscribe(actor, &topic),
                (Action::Publish { topic, wire }, _) => self.publish(Prepared::new(topic, wire)),
                (Action::Reply { text, payload }, Member::Conn(id)) => self.reply_ws(id, text, &payload),
                (Action::Reply { payload, .. }, Member::Session(sid)) => {
                    let quoted = crate::transport::sockjs::framing::quote(&String::from_utf8_lossy(&payload));
                    self.session_enqueue(sid, &quoted);
                }
                (Action::Close { code, reason }, Member::Conn(id)) => {
                    self.start_close(id, CloseCause::Application(code), reason)
                }
                (Action::Close { code, reason }, Member::Session(sid)) => {
                    self.close_session(sid, code, reason)
                }
            }
        }
        self.actions = actions;
    }

    /// A reply to one WebSocket: raw text/binary, or a SockJS `a[...]` frame.
    fn reply_ws(&mut self, id: ConnId, text: bool, payload: &[u8]) {
        let sockjs = self.conns.get_mut(id).and_then(|c| c.ws_mut()).is_some_and(|ws| ws.sockjs);
        let frame = if sockjs {
            codec::frame(OpCode::Text, &sockjs::ws_reply_frame(payload))
        } else {
            codec::frame(if text { OpCode::Text } else { OpCode::Binary }, payload)
        };
        self.send_to(id, &frame);
    }

    fn member_subs(&mut self, member: Member) -> Option<&mut Vec<crate::pubsub::topics::SubKey>> {
        match member {
            Member::Conn(id) => self.conns.get_mut(id).and_then(|c| c.ws_mut()).map(|ws| &mut ws.subs),
            Member::Session(sid) => self.sessions.get_mut(sid).map(|s| &mut s.subs),
        }
    }

    fn subscribe(&mut self, member: Member, topic: &Bytes) {
        let key = self.topics.subscribe(topic, member);
        match self.member_subs(member) {
            Some(subs) => subs.push(key),
            None => self.topics.unsubscribe(key),
        }
    }

    fn unsubscribe(&mut self, member: Member, topic: &Bytes) {
        let Some(tid) = self.topics.lookup(topic) else { return };
        let Some(subs) = self.member_subs(member) else { return };
        if let Some(pos) = subs.iter().position(|k| k.topic == tid) {
            let key = subs.swap_remove(pos);
            self.topics.unsubscribe(key);
        }
    }

    /// Publish from this shard: deliver here, then to every other shard.
    fn publish(&mut self, p: Arc<Prepared>) {
        self.counters.inc(Counter::Publishes);
        self.deliver_local(&p);
        self.bus.publish(p);
    }

    /// Queue a published message to every member on this shard, in the encoding each
    /// member's transport needs (each built once per message, shared by all).
    /// Hot path: O(members); one `Bytes` refcount or small copy per member, no syscall.
    fn deliver_local(&mut self, p: &Prepared) {
        let Some(tid) = self.topics.lookup(p.topic()) else { return };
        let cap = self.ctx.config.limits.queue_cap_bytes();
        let mut delivered = 0;
        let mut sessions = std::mem::take(&mut self.scratch_sessions);
        for member in self.topics.members(tid) {
            let id = match member {
                Member::Conn(id) => id,
                Member::Session(sid) => {
                    sessions.push(sid);
                    continue;
                }
            };
            let Some(conn) = self.conns.get_mut(id) else { continue };
            let sockjs = matches!(&conn.phase, Phase::Ws(ws) if ws.sockjs);
            let (frame, built) = if sockjs { p.sockjs_ws_frame() } else { p.ws_text_frame() };
            self.counters.add(Counter::FramesEncoded, built as u64);
            match conn.queue.push(frame, cap) {
                SendStatus::Queued => {
                    delivered += 1;
                    mark_dirty(&mut self.dirty, conn);
                }
                SendStatus::Backpressured => self.scratch_ids.push(id),
            }
        }
        if !sessions.is_empty() {
            let (quoted, built) = p.sockjs_quoted();
            self.counters.add(Counter::FramesEncoded, built as u64);
            for &sid in &sessions {
                self.session_enqueue(sid, quoted);
            }
            delivered += sessions.len() as u64;
            sessions.clear();
        }
        self.scratch_sessions = sessions;
        self.counters.add(Counter::Deliveries, delivered);
        if !self.scratch_ids.is_empty() {
            self.close_slow_consumers();
        }
    }

    #[cold]
    fn close_slow_consumers(&mut self) {
        let slow = std::mem::take(&mut self.scratch_ids);
        for &id in &slow {
            tracing::info!(?id, budget = self.limits().send_budget_bytes, "closing slow consumer");
            self.counters.inc(Counter::ClosedBackpressure);
            self.abort(id, Some(CloseCause::Backpressure));
        }
        self.scratch_ids = slow;
        self.scratch_ids.clear();
    }

    /// Queue a frame to one connection under its memory cap; past it → closed.
    fn send_to(&mut self, id: ConnId, frame: &Bytes) {
        let cap = self.ctx.config.limits.queue_cap_bytes();
        let Some(conn) = self.conns.get_mut(id).filter(|c| c.is_open()) else { return };
        match conn.queue.push(frame, cap) {
            SendStatus::Queued => mark_dirty(&mut self.dirty, conn),
            SendStatus::Backpressured => {
                self.counters.inc(Counter::ClosedBackpressure);
                self.abort(id, Some(CloseCause::Backpressure));
            }
        }
    }

    fn drain_bus(&mut self) {
        while let Some(msg) = self.bus.try_recv() {
            match msg {
                BusMsg::Publish(batch) => {
                    self.counters.add(Counter::BusPublishesIn, batch.len() as u64);
                    for p in batch.iter() {
                        self.deliver_local(p);
                    }
                }
                BusMsg::Adopt { fd, input } => self.adopted.push((fd, input)),
            }
        }
    }

    // ---- output -----------------------------------------------------------------------

    /// One write per dirty connection (DESIGN §1 "write once per tick").
    fn flush_dirty(&mut self, io: &mut Backend) {
        let mut ids = std::mem::take(&mut self.scratch_ids);
        self.dirty.take(&mut ids);
        let mut stats = FlushStats::default();
        let budget = self.limits().send_budget_bytes;
        for &id in &ids {
            self.flush_one(io, id, &mut stats);
            // Slow consumer: more than the budget that the kernel would not take.
            if self.conns.get(id).is_some_and(|c| c.is_open() && c.queue.pending_bytes() > budget) {
                self.scratch_ids.push(id);
            }
        }
        if !self.scratch_ids.is_empty() {
            self.close_slow_consumers();
        }
        self.counters.add(Counter::Writes, stats.writes);
        if io.kind() == io::BackendKind::Epoll {
            self.counters.add(Counter::BytesOut, stats.bytes);
        }
        ids.clear();
        self.scratch_ids = ids;
    }

    fn flush_one(&mut self, io: &mut Backend, id: ConnId, stats: &mut FlushStats) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        conn.dirty = false;
        if conn.blocked || conn.writing || conn.life == Life::Aborted {
            return; // resumed by Writable / Written
        }
        let fd = conn.raw_fd();
        match flush::flush(io, id.token(), fd, &mut conn.queue, stats) {
            FlushOutcome::Drained => {
                if let Life::Closing { deadline_ms, half_closed: false } = conn.life {
                    // Our last frame is out: FIN after it, then wait for the peer's EOF.
                    // SAFETY: shutdown of our own socket's write side.
                    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
                    conn.life = Life::Closing { deadline_ms, half_closed: true };
                }
            }
            FlushOutcome::InFlight => conn.writing = true,
            FlushOutcome::Blocked => conn.blocked = true,
            FlushOutcome::Failed(errno) => {
                tracing::debug!(?id, errno, "write failed");
                self.counters.inc(Counter::WriteErrors);
                self.abort(id, None);
            }
        }
    }

    // ---- closing ------------------------------------------------------------------------

    /// Close politely: leave every room, queue the close frame (WebSocket), write what
    /// is queued, half-close, and wait for the peer's EOF until the linger deadline.
    fn start_close(&mut self, id: ConnId, cause: CloseCause, reason: &str) {
        let linger = self.limits().close_linger_ms;
        let now = self.now_ms;
        self.leave_all_rooms(id);
        let Some(conn) = self.conns.get_mut(id).filter(|c| c.is_open()) else { return };
        log_close(id, cause);
        match cause {
            CloseCause::Protocol(_) => self.counters.inc(Counter::ClosedProtocolError),
            CloseCause::PeerClose(_) => self.counters.inc(Counter::ClosedByPeer),
            CloseCause::Idle => self.counters.inc(Counter::ClosedIdle),
            _ => {}
        }
        if let Phase::Ws(ws) = &conn.phase {
            let reason = if reason.is_empty() { default_reason(cause) } else { reason };
            if let (true, CloseCause::Application(code)) = (ws.sockjs, cause) {
                // sockjs §8.1: `c[code,"reason"]`, then WebSocket close 1000 "Normal closure".
                let text = crate::transport::sockjs::framing::close_frame(code, reason);
                conn.queue.push_control(&codec::frame(OpCode::Text, &text));
                conn.queue.push_control(&codec::close_frame(1000, "Normal closure"));
            } else {
                conn.queue.push_control(&codec::close_frame(cause.close_code(), reason));
            }
        }
        conn.life = Life::Closing { deadline_ms: now + linger, half_closed: false };
        mark_dirty(&mut self.dirty, conn);
    }

    /// Close at once: leave rooms and shut the socket both ways (no close frame can be
    /// written to a consumer that is not reading). Freed when the backend confirms.
    fn abort(&mut self, id: ConnId, cause: Option<CloseCause>) {
        self.leave_all_rooms(id);
        let Some(conn) = self.conns.get_mut(id) else { return };
        if conn.life == Life::Aborted {
            return;
        }
        if let Some(cause) = cause {
            log_close(id, cause);
        }
        conn.life = Life::Aborted;
        io::shutdown(conn.raw_fd());
        self.to_reap.push(id);
    }

    fn leave_all_rooms(&mut self, id: ConnId) {
        if let Some(sid) = self.conns.get_mut(id).and_then(|c| c.attached.take()) {
            self.destroy_session(sid);
        }
        let Some(ws) = self.conns.get_mut(id).and_then(|c| c.ws_mut()) else { return };
        for key in ws.subs.drain(..) {
            self.topics.unsubscribe(key);
        }
    }

    /// Free connections whose reads ended and whose last write finished.
    fn reap(&mut self, io: &mut Backend) {
        let mut ids = std::mem::take(&mut self.to_reap);
        for id in ids.drain(..) {
            let Some(conn) = self.conns.get(id) else { continue };
            if !conn.read_closed || conn.writing {
                continue;
            }
            self.leave_all_rooms(id);
            if let Some(conn) = self.conns.remove(id) {
                io.remove_conn(id.token(), conn.raw_fd());
                // Dropping `conn` closes the fd.
            }
        }
        self.to_reap = ids;
    }

    // ---- timers -------------------------------------------------------------------------

    /// Handshake, idle and linger deadlines; pings. O(connections) every 200 ms.
    fn sweep(&mut self) {
        self.check_shutdown();
        let mut ids = std::mem::take(&mut self.scratch_ids);
        self.conns.ids(&mut ids);
        for &id in &ids {
            self.sweep_one(id);
        }
        ids.clear();
        self.scratch_ids = ids;
        self.sweep_sessions();
    }

    fn sweep_one(&mut self, id: ConnId) {
        let now = self.now_ms;
        let limits = &self.ctx.config.limits;
        let (ping_ms, idle_ms, handshake_ms) =
            (limits.ping_interval_ms, limits.idle_timeout_ms, limits.handshake_timeout_ms);
        let Some(conn) = self.conns.get_mut(id) else { return };
        let silent_ms = now.saturating_sub(conn.last_rx_ms);
        let heartbeat_ms = match &conn.phase {
            Phase::Ws(ws) => self.ctx.config.services[ws.service].heartbeat_delay_ms,
            Phase::Http { .. } => 0,
        };
        let receiver = conn.attached.is_some();
        match (&mut conn.phase, conn.life) {
            (_, Life::Closing { deadline_ms, .. }) if now >= deadline_ms => self.abort(id, None),
            (Phase::Http { .. }, Life::Open)
                if !receiver && now.saturating_sub(conn.opened_ms) >= handshake_ms =>
            {
                self.counters.inc(Counter::HandshakeTimeouts);
                self.abort(id, None);
            }
            (Phase::Ws(_), Life::Open) if idle_ms > 0 && silent_ms >= idle_ms => {
                self.start_close(id, CloseCause::Idle, "")
            }
            (Phase::Ws(ws), Life::Open) if ping_ms > 0 && silent_ms >= ping_ms && !ws.ping_outstanding => {
                ws.ping_outstanding = true;
                conn.queue.push_control(&codec::frame(OpCode::Ping, b""));
                mark_dirty(&mut self.dirty, conn);
            }
            (Phase::Ws(ws), Life::Open) if ws.sockjs && now >= ws.heartbeat_due_ms => {
                // sockjs §8.1: the `h` frame keeps proxies and the client's timers happy.
                ws.heartbeat_due_ms = now + heartbeat_ms;
                conn.queue.push_control(&codec::frame(OpCode::Text, b"h"));
                mark_dirty(&mut self.dirty, conn);
            }
            _ => {}
        }
    }

    /// On the first tick after shutdown was requested, close every connection politely.
    fn check_shutdown(&mut self) {
        if self.drain_deadline_ms.is_some() || !self.ctx.shutdown.load(Ordering::Acquire) {
            return;
        }
        self.drain_deadline_ms = Some(self.now_ms + self.limits().shutdown_grace_ms);
        let mut ids = Vec::new();
        self.conns.ids(&mut ids);
        tracing::debug!(shard = self.index, connections = ids.len(), "draining");
        for id in ids {
            self.start_close(id, CloseCause::Shutdown, "");
        }
        let mut sids = Vec::new();
        self.sessions.ids(&mut sids);
        for sid in sids {
            self.close_session(sid, 1001, "Server shutting down");
        }
    }

    /// At exit: anything left is closed by dropping it (after the backend forgets it).
    fn close_everything(&mut self, io: &mut Backend) {
        let mut ids = Vec::new();
        self.conns.ids(&mut ids);
        for id in ids {
            if let Some(conn) = self.conns.remove(id) {
                io.remove_conn(id.token(), conn.raw_fd());
            }
        }
    }
}

/// Put a connection on the dirty list once per tick.
#[inline]
fn mark_dirty(dirty: &mut DirtyList<ConnId>, conn: &mut conn::Conn) {
    if !conn.dirty {
        conn.dirty = true;
        dirty.push(conn.id);
    }
}

fn default_reason(cause: CloseCause) -> &'static str {
    match cause {
        CloseCause::Protocol(_) => "protocol error",
        CloseCause::PeerClose(_) => "",
        CloseCause::UnsupportedData => "unsupported data",
        CloseCause::Backpressure => "send budget exceeded",
        CloseCause::Idle => "idle timeout",
        CloseCause::Shutdown => "server shutting down",
        CloseCause::Application(_) => "",
        CloseCause::BrokenFraming => "Broken framing.",
    }
}

/// Peer faults are logged at debug (a hostile client must not flood the log); server
/// decisions that cost a client its connection at info.
fn log_close(id: ConnId, cause: CloseCause) {
    match cause {
        CloseCause::Protocol(e) => {
            tracing::debug!(?id, error = %e, code = e.close_code(), "closing: protocol error")
        }
        CloseCause::PeerClose(code) => tracing::trace!(?id, code, "closing: peer asked"),
        CloseCause::Backpressure | CloseCause::Idle => tracing::info!(?id, ?cause, "closing"),
        _ => tracing::debug!(?id, ?cause, "closing"),
    }
}

/// Hand one application message to a connection's or session's protocol.
fn run_protocol(
    proto: &mut ProtocolState,
    text: bool,
    msg: &[u8],
    rooms: &RoomsConfig,
    out: &mut Vec<Action>,
) {
    match proto {
        ProtocolState::Rooms(r) => r.on_message(msg, rooms, out),
        ProtocolState::Channels(c) => c.on_message(msg, out),
        ProtocolState::Echo => echo::on_message(text, msg, out),
        ProtocolState::Close => {}
    }
}

/// Which protocol state a new WebSocket of service kind `kind` starts with.
pub(crate) fn initial_protocol(kind: ProtocolKind) -> ProtocolState {
    match kind {
        ProtocolKind::Rooms => ProtocolState::Rooms(crate::protocol::multiplex::RoomsState::new()),
        ProtocolKind::MultiplexExample => {
            ProtocolState::Channels(crate::protocol::multiplex::ChannelsState::new())
        }
        ProtocolKind::Echo => ProtocolState::Echo,
        ProtocolKind::Close => ProtocolState::Close,
    }
}
