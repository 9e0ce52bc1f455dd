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
    adopted: Vec<(OwnedFd, Vec<u8>)>,
    clock: Clock,
    /// Shutdown in progress: no new connections; exit when empty or at the deadline.
    drain_deadline_ms: Option<u64>,
    /// What no part owns (requests, messages in, protocol outcomes).
    counters: Counters,
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
        while let Some(ev) = self.io.next_event() {
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
        if conn.is_holding() {
            // A held HTTP response, or a connection on its way to another shard: keep
            // the bytes for when it parses requests again.
            if let conns::Phase::Http { buf, .. } = &mut conn.phase {
                buf.extend_from_slice(data);
            }
            return;
        }
        if !conn.is_open() {
            return; // closing: input is read and dropped until the peer's EOF
        }
        match conn.phase {
            conns::Phase::Http { .. } => self.on_http_data(id, data),
            conns::Phase::Ws(_) => self.on_ws_data(id, data),
        }
    }

    fn register_accepted(&mut self, io: &mut Backend) {
        for fd in std::mem::take(&mut self.accepted) {
            if self.drain_deadline_ms.is_some() || self.conns.len() >= self.ctx.config.limits.max_connections_per_shard
            {
                self.counters.inc(Counter::ConnectionsRejected);
                continue; // dropping the fd closes it
            }
            let send_buffer = self.ctx.config.io.socket_send_buffer_bytes;
            if send_buffer > 0 {
                // Best effort: a failure leaves the kernel's default.
                let _ = socket2::SockRef::from(&fd).set_send_buffer_size(send_buffer);
            }
            if self.start_reading(io, fd).is_some() {
                self.counters.inc(Counter::ConnectionsAccepted);
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
                BusMsg::Adopt { fd, input } => self.adopted.push((fd, input)),
                BusMsg::ToMember { target, op } => self.on_handle(target, op),
                BusMsg::Request { from, id, body } => self.on_request(from, id, body),
                BusMsg::Reply { id, body } => self.on_reply(id, body),
            }
        }
    }

    /// One write per dirty connection; close the ones that fell behind.
    fn flush(&mut self, io: &mut Backend) {
        self.conns.flush_dirty(io, self.ctx.config.limits.send_budget_bytes);
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
