//! The per-core event loop: one shard owns its listener, backend, connections,
//! sessions, topic table and timers, and shares nothing mutable with other shards.
//!
//! One tick (DESIGN §1): wait for the backend → take messages from other shards and
//! threads → handle every event (front ends parse input; protocols return `Action`s,
//! applied to the local topic table and queues) → flush sessions → send this tick's
//! publishes to other shards → one write per dirty connection → free finished
//! connections → timers.
//!
//! The shard's state is split into owned parts, each in its file: connections and
//! their output (`conns`), rooms and delivery (`rooms`), sessions (`sessions`), parked
//! requests (`parked`); the front ends (`http`, `sockjs`, `ws`), the lifecycle of a
//! connection (`lifecycle`), applying actions (`actions`) and timers (`timers`) are
//! code over those parts. Does not own: codecs, protocol rules, kernel I/O details.

mod actions;
mod conns;
mod guard;
mod http;
mod lifecycle;
mod parked;
mod rooms;
mod sessions;
mod sockjs;
mod timers;
mod ws;

use crate::config::Config;
use crate::ids::{ConnId, ShardId};
use crate::io::{Backend, Event};
use crate::metrics::{Counter, Counters, ShardStats};
use crate::protocol::Action;
use crate::pubsub::bus::{BusEnd, BusMsg, Remote};
use crate::service::ServiceTable;
use conns::Conns;
use parked::Parked;
use rooms::Rooms;
use sessions::Sessions;
use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every shard shares, read-only.
pub(crate) struct ShardContext {
    pub(crate) config: Arc<Config>,
    pub(crate) services: Arc<ServiceTable>,
    pub(crate) stats: Arc<[ShardStats]>,
    pub(crate) shutdown: Arc<AtomicBool>,
    /// For handles the shard gives to handlers.
    pub(crate) remote: Arc<Remote>,
    /// Origins, tokens and the per-IP connection table (`[security]`).
    pub(crate) security: Arc<crate::security::Security>,
    /// The listener speaks TLS (`[tls]`).
    pub(crate) tls: Option<Arc<crate::tls::TlsAcceptor>>,
}

/// One shard: its backend and everything else, split so events can borrow the backend
/// while the state changes.
pub(crate) struct Shard {
    io: Backend,
    st: State,
}

/// The shard's time, in milliseconds since it started.
struct Clock {
    epoch: Instant,
    now_ms: u64,
    next_sweep_ms: u64,
}

/// Everything a shard owns but its backend.
struct State {
    id: ShardId,
    ctx: Arc<ShardContext>,
    conns: Conns,
    rooms: Rooms,
    sessions: Sessions,
    parked: Parked,
    /// Reused scratch for protocol actions.
    actions: Vec<Action>,
    accepted: Vec<OwnedFd>,
    /// Connections other shards handed here, with the bytes already read.
    adopted: Vec<(OwnedFd, Vec<u8>, Option<Box<crate::tls::TlsConn>>)>,
    clock: Clock,
    /// Shutdown in progress: no new connections; exit when empty or at the deadline.
    drain_deadline_ms: Option<u64>,
    /// What no part owns (requests, messages in, protocol outcomes).
    counters: Counters,
    /// Limits hit by peers are logged at most once per interval.
    log_limit: LogLimit,
    /// The backend has no read in flight between events (epoll).
    reads_are_synchronous: bool,
}

/// A warning that a hostile peer could repeat at will: logged at most once per
/// `LOG_INTERVAL_MS`, with how many were suppressed (the counters have them all).
#[derive(Debug, Default)]
struct LogLimit {
    next_ms: u64,
    suppressed: u64,
}

/// Events handled per tick: past it the shard flushes, runs its timers and checks send
/// budgets before taking more (the backends keep the rest), whatever the peers send.
/// With the per-connection read budget (epoll) and the provided-buffer ring (io_uring,
/// `io.read_buffer_count` × `io.read_buffer_bytes` in flight at most) this bounds the
/// input of one tick. A smaller byte cap on io_uring was measured to hurt: writes
/// stay in flight across short ticks while input keeps arriving.
const MAX_EVENTS_PER_TICK: usize = 4096;

/// How often a limit's warning may be logged.
const LOG_INTERVAL_MS: u64 = 10_000;

impl LogLimit {
    fn warn(&mut self, now_ms: u64, what: &str) {
        if now_ms < self.next_ms {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(suppressed = self.suppressed, "{what}");
        self.suppressed = 0;
        self.next_ms = now_ms + LOG_INTERVAL_MS;
    }
}

impl Shard {
    pub(crate) fn new(id: ShardId, io: Backend, bus: BusEnd, ctx: Arc<ShardContext>) -> Shard {
        let st = State {
            id,
            ctx,
            conns: Conns::new(),
            rooms: Rooms::new(bus),
            sessions: Sessions::default(),
            parked: Parked::default(),
            actions: Vec::new(),
            accepted: Vec::new(),
            adopted: Vec::new(),
            clock: Clock { epoch: Instant::now(), now_ms: 0, next_sweep_ms: timers::SWEEP_INTERVAL_MS },
            drain_deadline_ms: None,
            counters: Counters::default(),
            log_limit: LogLimit::default(),
            reads_are_synchronous: io.kind() == crate::io::BackendKind::Epoll,
        };
        Shard { io, st }
    }

    /// Run until shutdown has drained every connection (or its grace period ended).
    pub(crate) fn run(mut self) -> std::io::Result<()> {
        tracing::debug!(shard = self.st.id.0, backend = %self.io.kind(), "shard running");
        loop {
            let timeout = self.st.wait_timeout();
            self.io.wait(Some(timeout))?;
            self.tick();
            if self.st.finished() {
                break;
            }
        }
        self.st.close_everything(&mut self.io);
        tracing::debug!(shard = self.st.id.0, "shard stopped");
        Ok(())
    }

    /// Everything after the wait: bus, events, flush, reap, timers.
    fn tick(&mut self) {
        let st = &mut self.st;
        st.clock.now_ms = st.clock.epoch.elapsed().as_millis() as u64;
        // Other shards' publishes first: one that reached this shard's queue before a
        // client's input (say a `sub`) was published before it, and must be delivered
        // before that input is applied (multiplex §4: no replay to later subscribers).
        // Shards queue publishes before writing to any client, so this keeps causality.
        st.drain_bus();
        for _ in 0..MAX_EVENTS_PER_TICK {
            let Some(ev) = self.io.next_event() else { break };
            st.on_event(ev);
        }
        st.register_accepted(&mut self.io);
        st.register_adopted(&mut self.io);
        st.migrate_conns(&mut self.io);
        st.resume_http_conns();
        st.flush_sessions();
        let full = st.rooms.bus.flush();
        st.counters.add(Counter::BusDroppedBatches, full as u64);
        st.flush(&mut self.io);
        st.reap(&mut self.io);
        if st.clock.now_ms >= st.clock.next_sweep_ms {
            st.sweep();
            st.flush_sessions();
            st.flush(&mut self.io);
            st.clock.next_sweep_ms = st.clock.now_ms + timers::SWEEP_INTERVAL_MS;
        }
        st.publish_stats();
    }
}

impl State {
    fn wait_timeout(&self) -> Duration {
        if self.conns.has_dirty() {
            return Duration::ZERO;
        }
        let now = self.clock.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(self.clock.next_sweep_ms.saturating_sub(now))
    }

    fn finished(&self) -> bool {
        match self.drain_deadline_ms {
            Some(deadline) => self.conns.is_empty() || self.clock.now_ms >= deadline,
            None => false,
        }
    }

    fn on_event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Accepted { fd } => self.accepted.push(fd),
            Event::Data { token, data } => self.on_data(ConnId::from_token(token), data),
            Event::ReadClosed { token, errno } => self.on_read_closed(ConnId::from_token(token), errno),
            Event::Written { token, result } => self.on_written(ConnId::from_token(token), result),
            Event::Writable { token } => self.conns.on_writable(ConnId::from_token(token)),
            Event::Wake => {}
        }
    }

    fn on_data(&mut self, id: ConnId, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        conn.last_rx_ms = self.clock.now_ms;
        if conn.life == conns::Life::Aborted {
            // The socket is shut down. epoll reads synchronously, so no read is pending
            // and the connection can be freed now, even if the peer never stops sending.
            if self.reads_are_synchronous {
                conn.read_closed = true;
                self.conns.to_reap.push(id);
            }
            return;
        }
        if conn.tls.is_some() {
            return self.on_tls_data(id, data);
        }
        self.on_plain_data(id, data);
    }

    /// Bytes (plaintext) read on a connection that is not aborted.
    fn on_plain_data(&mut self, id: ConnId, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        if conn.is_holding() || conn.input_paused {
            // A held HTTP response, a connection on its way to another shard, or one whose
            // responses are not being read: keep the bytes for when it parses requests
            // again, up to one complete request.
            if let conns::Phase::Http { buf, .. } = &mut conn.phase {
                if buf.len() + data.len() > self.ctx.config.limits.max_request_bytes() {
                    return self.close_input_overflow(id);
                }
                buf.extend_from_slice(data);
            }
            return;
        }
        if !conn.is_open() {
            return self.on_closing_data(id, data); // dropped until the peer's EOF
        }
        match conn.phase {
            conns::Phase::Http { .. } => self.on_http_data(id, data),
            conns::Phase::Ws(_) => self.on_ws_data(id, data),
        }
    }

    /// The listener speaks TLS: the connection starts with a handshake.
    fn start_tls(&mut self, id: ConnId) {
        let Some(acceptor) = &self.ctx.tls else { return };
        match acceptor.accept() {
            Ok(tls) => {
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.tls = Some(Box::new(tls));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start TLS on a connection");
                self.abort(id, None);
            }
        }
    }

    /// Bytes read on a TLS connection: the plaintext they carry goes on as if read, and
    /// handshake answers are flushed. A TLS error closes the connection (rustls queues
    /// the alert), counted and logged once per interval.
    fn on_tls_data(&mut self, id: ConnId, data: &[u8]) {
        let Some(tls) = self.conns.get_mut(id).and_then(|c| c.tls.as_deref_mut()) else { return };
        let decrypted = tls.decrypt(data);
        let wants_write = tls.wants_write();
        if wants_write {
            self.conns.mark_dirty(id);
        }
        match decrypted {
            Ok(mut plain) => {
                if !plain.is_empty() {
                    self.on_plain_data(id, &mut plain);
                }
                if let Some(tls) = self.conns.get_mut(id).and_then(|c| c.tls.as_deref_mut()) {
                    tls.restore(plain);
                }
            }
            Err(e) => {
                self.counters.inc(Counter::TlsErrors);
                self.log_limit.warn(self.clock.now_ms, &format!("closing a connection after a TLS error: {e}"));
                self.conns.close_after_response(id, self.clock.now_ms + self.ctx.config.limits.close_linger_ms);
            }
        }
    }

    /// A connection sent more than one complete request while it could not be parsed.
    #[cold]
    fn close_input_overflow(&mut self, id: ConnId) {
        self.counters.inc(Counter::ClosedInputOverflow);
        self.log_limit.warn(self.clock.now_ms, "closing a connection that sent more than a request while its response was pending (limits.max_request_head_bytes + max_request_body_bytes)");
        if let Some(conn) = self.conns.get(id) {
            crate::io::reset_on_close(conn.raw_fd());
        }
        self.abort(id, None);
    }

    fn register_accepted(&mut self, io: &mut Backend) {
        for fd in std::mem::take(&mut self.accepted) {
            if self.drain_deadline_ms.is_some() || self.conns.len() >= self.ctx.config.limits.max_connections_per_shard
            {
                self.counters.inc(Counter::ConnectionsRejected);
                continue; // dropping the fd closes it
            }
            let Some(fd) = self.admit_peer(fd) else { continue };
            let send_buffer = self.ctx.config.io.socket_send_buffer_bytes;
            if send_buffer > 0 {
                // Best effort: a failure leaves the kernel's default.
                let _ = socket2::SockRef::from(&fd).set_send_buffer_size(send_buffer);
            }
            if let Some(id) = self.start_reading(io, fd) {
                self.counters.inc(Counter::ConnectionsAccepted);
                self.start_tls(id);
            }
        }
    }

    /// Add a socket to the table and start reading it; `None` (and the socket closed) if
    /// the backend refuses it.
    fn start_reading(&mut self, io: &mut Backend, fd: OwnedFd) -> Option<ConnId> {
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let id = self.conns.insert(fd, self.clock.now_ms);
        if let Err(e) = io.add_conn(id.token(), raw) {
            tracing::warn!(error = %e, "cannot start reading a connection");
            self.release_peer(raw);
            self.conns.remove(id);
            return None;
        }
        Some(id)
    }

    /// Messages from other shards and application threads, in arrival order.
    fn drain_bus(&mut self) {
        while let Some(msg) = self.rooms.bus.try_recv() {
            match msg {
                BusMsg::Publish(batch) => {
                    self.counters.add(Counter::BusPublishesIn, batch.len() as u64);
                    let caps = self.caps();
                    for p in batch.iter() {
                        self.rooms.deliver(p, &mut self.conns, &mut self.sessions, caps);
                    }
                    self.close_slow_consumers();
                }
                BusMsg::Adopt { fd, input, tls } => self.adopted.push((fd, input, tls)),
                BusMsg::ToMember { target, op } => self.on_handle(target, op),
                BusMsg::Request { from, id, body } => self.on_request(from, id, body),
                BusMsg::Reply { id, body } => self.on_reply(id, body),
            }
        }
    }

    /// One write per dirty connection; close the ones that fell behind.
    fn flush(&mut self, io: &mut Backend) {
        let budget = self.ctx.config.limits.send_budget_bytes;
        self.conns.flush_dirty(io, budget);
        if !self.conns.paused.is_empty() {
            self.conns.unpause_drained(budget);
        }
        if !self.conns.slow.is_empty() {
            self.close_slow_consumers();
        }
    }

    /// Publish this tick's counters and gauges for `/metrics`.
    fn publish_stats(&mut self) {
        self.counters.set(Counter::ConnectionsOpen, self.conns.len() as u64);
        self.counters.set(Counter::Subscriptions, self.rooms.topics.memberships() as u64);
        self.counters.set(Counter::Topics, self.rooms.topics.len() as u64);
        self.counters.set(Counter::SockjsSessions, self.sessions.table.len() as u64);
        let parts = [&self.counters, &self.conns.counters, &self.rooms.counters, &self.sessions.counters];
        self.ctx.stats[self.id.index()].store_sum(&parts);
    }
}
