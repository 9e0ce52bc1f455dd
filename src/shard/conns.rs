//! A shard's connections: per-connection state, the table that owns it, and their
//! output.
//!
//! Owns: [`Conn`] (socket, phase, send queue, lifecycle, timestamps), [`Conns`] — the
//! generation-checked table, the dirty list and the end-of-tick flush (one write per
//! dirty connection), queueing frames under the byte budget, and the lists of
//! connections waiting to be freed, resumed or moved. Does not own: what input means
//! (the front ends), protocol state beyond holding it, or close policy (the shard).

use crate::http::request::Pending;
use crate::idtable::IdTable;
use crate::ids::{ConnId, ServiceId, SessionId, ShardId, CONN_GENERATION_MASK};
use crate::io::{self, Backend};
use crate::metrics::{Counter, Counters};
use crate::protocol::ProtocolState;
use crate::pubsub::prepared::Carrier;
use crate::pubsub::topics::SubKey;
use crate::send::flush::{self, DirtyList, FlushOutcome, FlushStats};
use crate::send::queue::{SendQueue, SendStatus};
use crate::transport::ws::error::WsError;
use crate::transport::ws::hixie76;
use crate::transport::ws::reader::{Flow, MessageReader, WsMessage};
use bytes::Bytes;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    Open,
    /// Final frames queued; once written the server half-closes (`SHUT_WR`) and waits
    /// for the peer's EOF until `deadline_ms`, then aborts.
    Closing { deadline_ms: u64, half_closed: bool },
    /// Shut down both ways; freed once reads end and no write is in flight.
    Aborted,
    /// Its request names a SockJS session of shard `owner`: the socket moves there at
    /// the end of the tick; input meanwhile is buffered, not parsed.
    Migrating { owner: ShardId },
}

/// What an HTTP connection's response is waiting for, if anything. While it waits,
/// further input is buffered, not parsed (responses stay in request order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    None,
    /// The response is the receiver of this SockJS session.
    Receiver(SessionId),
    /// The answer comes from another shard: request `id` is parked.
    Parked(u64),
}

/// Where a connection is in its protocol.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Reading HTTP requests. Holds the raw bytes of an incomplete request, and what is
    /// known of it so far once its head is parsed (its body is then still arriving).
    Http { buf: Vec<u8>, pending: Option<Box<Pending>> },
    /// An upgraded WebSocket.
    Ws(Box<WsConn>),
}

/// State of an upgraded WebSocket.
#[derive(Debug)]
pub(crate) struct WsConn {
    pub(crate) service: ServiceId,
    /// Raw WebSocket, or SockJS framing (`o`/`a[...]`/`h`/`c[...]`, JSON client messages).
    pub(crate) carrier: Carrier,
    pub(crate) reader: WsReader,
    /// Hixie-76 before key3 is complete: nothing is sent and the protocol has not opened.
    pub(crate) hixie_key3: Option<hixie76::Key3>,
    pub(crate) proto: ProtocolState,
    /// This connection's memberships in the shard's topic table.
    pub(crate) subs: Vec<SubKey>,
    /// The protocol has heard the close and the memberships are gone.
    pub(crate) released: bool,
    /// A ping was sent and nothing has arrived since.
    pub(crate) ping_outstanding: bool,
    /// SockJS WebSocket: when the next `h` frame is due.
    pub(crate) heartbeat_due_ms: u64,
    /// Closing: the final frames (close frame, SockJS `c[...]` before it), held back until
    /// everything queued before them is written, so they go out in a write of their own.
    pub(crate) final_frames: Option<Vec<u8>>,
    /// The peer's close frame arrived (or its input can no longer be read): once our
    /// close frame is written the server may end the TCP connection (RFC 6455 §7.1.1).
    pub(crate) close_received: bool,
}

/// Reads a WebSocket's frames: RFC 6455, or Hixie-76 (SockJS, when a service allows it).
#[derive(Debug)]
pub(crate) enum WsReader {
    Rfc6455(MessageReader),
    Hixie76(hixie76::Reader),
}

impl WsReader {
    /// Feed input; `on_msg` gets each complete message (see [`MessageReader::feed`]).
    pub(crate) fn feed<F: FnMut(WsMessage<'_>) -> Flow>(
        &mut self,
        input: &mut [u8],
        max_message_bytes: usize,
        on_msg: F,
    ) -> Result<(), WsError> {
        match self {
            WsReader::Rfc6455(r) => r.feed(input, max_message_bytes, on_msg),
            WsReader::Hixie76(r) => r.feed(input, max_message_bytes, on_msg),
        }
    }
}

/// One TCP connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) fd: OwnedFd,
    pub(crate) phase: Phase,
    pub(crate) queue: SendQueue,
    pub(crate) life: Life,
    /// On this tick's dirty list.
    pub(crate) dirty: bool,
    /// epoll said the socket is full; wait for `Writable`.
    pub(crate) blocked: bool,
    /// The backend reported `ReadClosed`: no more input, free when writes are done.
    pub(crate) read_closed: bool,
    pub(crate) hold: Hold,
    /// The held request asked for `Connection: close`.
    pub(crate) close_after_response: bool,
    /// Requests are not parsed while more than the send budget of responses waits to
    /// be read (pipelining without reading); resumed once the queue drains.
    pub(crate) input_paused: bool,
    /// TLS state when the listener speaks TLS: input is decrypted before parsing, the
    /// queue is sealed into records before each write.
    pub(crate) tls: Option<Box<crate::tls::TlsConn>>,
    pub(crate) opened_ms: u64,
    /// Last time anything arrived (idle timeout, pings).
    pub(crate) last_rx_ms: u64,
}

/// Per-connection memory is a budget (DESIGN §5.8); the WebSocket state is boxed so
/// an HTTP-only connection does not pay for it, and so are the TLS state and a
/// partly received request (one pointer each when absent).
const _: () = assert!(std::mem::size_of::<Conn>() <= 240);

impl Conn {
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub(crate) fn is_open(&self) -> bool {
        self.life == Life::Open
    }

    pub(crate) fn ws_mut(&mut self) -> Option<&mut WsConn> {
        match &mut self.phase {
            Phase::Ws(ws) => Some(ws),
            Phase::Http { .. } => None,
        }
    }

    /// Parked as an HTTP receiver, waiting for an answer, or moving to another shard:
    /// input is buffered, not parsed.
    pub(crate) fn is_holding(&self) -> bool {
        self.hold != Hold::None || matches!(self.life, Life::Migrating { .. })
    }
}

/// The shard's connections and their output.
#[derive(Debug)]
pub(crate) struct Conns {
    table: IdTable<Conn>,
    dirty: DirtyList<ConnId>,
    /// Connections to free once their reads ended and no write is in flight.
    pub(crate) to_reap: Vec<ConnId>,
    /// Keep-alive connections whose held response ended: parse buffered requests.
    pub(crate) resume_http: Vec<ConnId>,
    /// Connections to hand to another shard at the end of the tick.
    pub(crate) migrating: Vec<(ConnId, ShardId)>,
    /// Connections over their send budget, found while queueing or flushing.
    pub(crate) slow: Vec<ConnId>,
    /// HTTP connections whose parsing waits for their responses to be read.
    pub(crate) paused: Vec<ConnId>,
    scratch: Vec<ConnId>,
    pub(crate) counters: Counters,
}

impl Conns {
    pub(crate) fn new() -> Conns {
        Conns {
            table: IdTable::new(CONN_GENERATION_MASK),
            dirty: DirtyList::new(),
            to_reap: Vec::new(),
            resume_http: Vec::new(),
            migrating: Vec::new(),
            slow: Vec::new(),
            paused: Vec::new(),
            scratch: Vec::new(),
            counters: Counters::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// A new connection in the HTTP phase; returns its id.
    pub(crate) fn insert(&mut self, fd: OwnedFd, now_ms: u64) -> ConnId {
        ConnId(self.table.insert_with(|_| Conn {
            fd,
            phase: Phase::Http { buf: Vec::new(), pending: None },
            queue: SendQueue::new(),
            life: Life::Open,
            dirty: false,
            blocked: false,
            read_closed: false,
            hold: Hold::None,
            close_after_response: false,
            input_paused: false,
            tls: None,
            opened_ms: now_ms,
            last_rx_ms: now_ms,
        }))
    }

    /// The connection with this id, if it is still the slot's occupant.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.table.get_mut(id.0)
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Conn> {
        self.table.get(id.0)
    }

    /// Remove a connection, invalidating its id.
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Conn> {
        self.table.remove(id.0)
    }

    /// Ids of every connection (timer sweeps and shutdown).
    pub(crate) fn ids(&self, into: &mut Vec<ConnId>) {
        self.table.ids(into, ConnId);
    }

    /// Put a connection on the dirty list once per tick.
    #[inline]
    pub(crate) fn mark_dirty(&mut self, id: ConnId) {
        if let Some(conn) = self.table.get_mut(id.0) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    /// Whether anything waits to be flushed.
    pub(crate) fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Queue bytes outside the budget (HTTP responses, control and close frames).
    pub(crate) fn push_control(&mut self, id: ConnId, bytes: &[u8]) {
        if let Some(conn) = self.table.get_mut(id.0) {
            conn.queue.push_control(bytes);
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    /// Queue a frame to an open connection under its memory cap; past the cap the
    /// connection joins `slow`.
    pub(crate) fn push_frame(&mut self, id: ConnId, frame: &Bytes, cap_bytes: usize) -> bool {
        if !self.get(id).is_some_and(|c| c.is_open()) {
            return false;
        }
        self.push_member_frame(id, frame, cap_bytes)
    }

    /// [`Conns::push_frame`] for a room member, which is open: a connection leaves its
    /// rooms when it starts closing. Hot path: O(1), no syscall; inlined into the
    /// delivery loop (a call per member costs more than the queueing itself).
    #[inline(always)]
    pub(crate) fn push_member_frame(&mut self, id: ConnId, frame: &Bytes, cap_bytes: usize) -> bool {
        let Some(conn) = self.table.get_mut(id.0) else { return false };
        debug_assert!(conn.is_open(), "a closing connection is in no room");
        match conn.queue.push(frame, cap_bytes) {
            SendStatus::Queued => {
                if !conn.dirty {
                    conn.dirty = true;
                    self.dirty.push(id);
                }
                true
            }
            SendStatus::Backpressured => {
                self.slow.push(id);
                false
            }
        }
    }

    /// One write per dirty connection (DESIGN §1 "write once per tick"). Connections
    /// left with more than `budget_bytes` the kernel would not take join `slow`. While
    /// an io_uring write is in flight the kernel has not refused anything yet (it sends
    /// a stream write whole): the queue behind it is bounded by the hard cap, and the
    /// budget is checked when the write completes.
    pub(crate) fn flush_dirty(&mut self, io: &mut Backend, budget_bytes: usize) {
        let mut ids = std::mem::take(&mut self.scratch);
        self.dirty.take(&mut ids);
        let mut stats = FlushStats::default();
        for &id in &ids {
            self.flush_one(io, id, &mut stats);
            if self.get(id).is_some_and(|c| {
                c.is_open() && !c.queue.in_flight() && c.queue.pending_bytes() > budget_bytes
            }) {
                self.slow.push(id);
            }
        }
        self.counters.add(Counter::Writes, stats.writes);
        if io.kind() == io::BackendKind::Epoll {
            self.counters.add(Counter::BytesOut, stats.bytes);
        }
        ids.clear();
        self.scratch = ids;
    }

    fn flush_one(&mut self, io: &mut Backend, id: ConnId, stats: &mut FlushStats) {
        let Some(conn) = self.table.get_mut(id.0) else { return };
        conn.dirty = false;
        if conn.blocked || conn.queue.in_flight() || conn.life == Life::Aborted {
            return; // resumed by Writable / Written
        }
        let fd = conn.raw_fd();
        if let Some(tls) = conn.tls.as_deref_mut() {
            tls.seal(&mut conn.queue);
        }
        match flush::flush(io, id.token(), fd, &mut conn.queue, stats) {
            FlushOutcome::Drained => {
                if let Life::Closing { deadline_ms, half_closed: false } = conn.life {
                    match conn.phase {
                        Phase::Ws(ref mut ws) if ws.final_frames.is_some() => {
                            // The close frame goes out next tick, in a write of its own.
                            let frames = ws.final_frames.take().unwrap_or_default();
                            conn.queue.push_control(&frames);
                            conn.dirty = true;
                            self.dirty.push(id);
                        }
                        // RFC 6455 §7.1.1: wait for the peer's close frame (or the linger
                        // deadline) before ending the TCP connection.
                        Phase::Ws(ref ws) if !ws.close_received => {}
                        _ => {
                            // Our last frame is out: FIN after it, then wait for the peer's EOF.
                            // SAFETY: shutdown of our own socket's write side.
                            unsafe { libc::shutdown(fd, libc::SHUT_WR) };
                            conn.life = Life::Closing { deadline_ms, half_closed: true };
                        }
                    }
                }
            }
            FlushOutcome::InFlight => {}
            FlushOutcome::Blocked => conn.blocked = true,
            FlushOutcome::Failed(errno) => {
                tracing::debug!(?id, errno, "write failed");
                self.counters.inc(Counter::WriteErrors);
                conn.life = Life::Aborted;
                io::shutdown(fd);
                self.to_reap.push(id);
            }
        }
    }

    /// A write the backend finished (io_uring). False if the connection must be aborted.
    /// More than `budget_bytes` queued behind it means the
    /// consumer is slow (checked here rather than after the flush, see `flush_dirty`).
    pub(crate) fn on_written(&mut self, id: ConnId, result: i32, budget_bytes: usize) -> bool {
        let Some(conn) = self.table.get_mut(id.0) else { return true };
        self.to_reap.push(id);
        if result < 0 {
            conn.queue.write_failed();
            self.counters.inc(Counter::WriteErrors);
            return false;
        }
        self.counters.add(Counter::BytesOut, result as u64);
        conn.queue.written(result as usize);
        if conn.is_open() && conn.queue.pending_bytes() > budget_bytes {
            self.slow.push(id);
        }
        self.mark_dirty(id);
        true
    }

    /// epoll: a blocked socket can take more.
    pub(crate) fn on_writable(&mut self, id: ConnId) {
        if let Some(conn) = self.table.get_mut(id.0).filter(|c| c.blocked) {
            conn.blocked = false;
            self.mark_dirty(id);
        }
    }

    /// Paused connections whose unsent output fell within `budget_bytes` again: they
    /// parse their buffered requests (via `resume_http`).
    pub(crate) fn unpause_drained(&mut self, budget_bytes: usize) {
        let mut paused = std::mem::take(&mut self.paused);
        paused.retain(|&id| match self.table.get_mut(id.0) {
            Some(c) if c.queue.queued_bytes() <= budget_bytes => {
                c.input_paused = false;
                self.resume_http.push(id);
                false
            }
            Some(c) => c.is_open(),
            None => false,
        });
        self.paused = paused;
    }

    /// End the connection after its response: FIN once written, then linger.
    pub(crate) fn close_after_response(&mut self, id: ConnId, deadline_ms: u64) {
        if let Some(conn) = self.table.get_mut(id.0).filter(|c| c.is_open()) {
            conn.life = Life::Closing { deadline_ms, half_closed: false };
            self.mark_dirty(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    #[test]
    fn stale_ids_do_not_reach_new_occupants() {
        let mut t = Conns::new();
        let a = t.insert(fd(), 0);
        assert!(t.remove(a).is_some());
        let b = t.insert(fd(), 0);
        assert_eq!(a.0.slot, b.0.slot);
        assert!(t.get_mut(a).is_none());
        assert!(t.get_mut(b).is_some());
        assert_eq!(ConnId::from_token(b.token()), b);
    }

    #[test]
    fn frames_past_the_cap_mark_the_connection_slow() {
        let mut t = Conns::new();
        let a = t.insert(fd(), 0);
        assert!(t.push_frame(a, &Bytes::from(vec![0u8; 600]), 1000));
        assert!(!t.push_frame(a, &Bytes::from(vec![0u8; 600]), 1000));
        assert_eq!(t.slow, vec![a]);
        assert!(t.has_dirty());
    }
}
