//! A shard's connections: per-connection state and the table that owns it.
//!
//! Owns: [`Conn`] (socket, phase, send queue, lifecycle, timestamps) and
//! [`ConnTable`] (a slab with a generation per slot, so a [`ConnId`] of a closed
//! connection never reaches its slot's next occupant). Does not own: what happens on
//! input (the shard loop) or protocol rules.

use crate::idtable::{Id, IdTable};
use crate::protocol::ProtocolState;
use crate::pubsub::topics::SubKey;
use crate::send::queue::SendQueue;
use crate::transport::ws::reader::MessageReader;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A connection's identity: slab slot + the slot's generation when it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(Id);

/// Generations wrap at 24 bits: the backend token keeps its top byte.
const GENERATION_MASK: u32 = 0x00FF_FFFF;

impl ConnId {
    /// The backend token: generation in bits 32..56, slot in bits 0..32.
    pub fn token(self) -> u64 {
        ((self.0.generation & GENERATION_MASK) as u64) << 32 | self.0.slot as u64
    }

    pub fn from_token(token: u64) -> ConnId {
        ConnId(Id { slot: token as u32, generation: (token >> 32) as u32 & GENERATION_MASK })
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    Open,
    /// Final frames queued; once written the server half-closes (`SHUT_WR`) and waits
    /// for the peer's EOF until `deadline_ms`, then aborts.
    Closing {
        deadline_ms: u64,
        half_closed: bool,
    },
    /// Shut down both ways; freed once reads end and no write is in flight.
    Aborted,
    /// Its request names a SockJS session of shard `owner`: the socket moves there at
    /// the end of the tick; input meanwhile is buffered, not parsed.
    Migrating {
        owner: usize,
    },
}

/// Where a connection is in its protocol.
#[derive(Debug)]
pub enum Phase {
    /// Reading HTTP requests. Holds bytes of an incomplete request.
    Http { buf: Vec<u8> },
    /// An upgraded WebSocket.
    Ws(Box<WsConn>),
}

/// State of an upgraded WebSocket.
#[derive(Debug)]
pub struct WsConn {
    /// Index of the service (in the config) this socket belongs to.
    pub service: usize,
    pub reader: MessageReader,
    pub proto: ProtocolState,
    /// This connection's memberships in the shard's topic table.
    pub subs: Vec<SubKey>,
    /// A ping was sent and nothing has arrived since.
    pub ping_outstanding: bool,
    /// SockJS WebSocket (`o`/`a[...]`/`h`/`c[...]` framing, JSON client messages)
    /// rather than a raw WebSocket.
    pub sockjs: bool,
    /// SockJS WebSocket: when the next `h` frame is due.
    pub heartbeat_due_ms: u64,
}

/// One TCP connection.
#[derive(Debug)]
pub struct Conn {
    pub fd: OwnedFd,
    pub id: ConnId,
    pub phase: Phase,
    pub queue: SendQueue,
    pub life: Life,
    /// On this tick's dirty list.
    pub dirty: bool,
    /// epoll said the socket is full; wait for `Writable`.
    pub blocked: bool,
    /// io_uring holds a write of this connection's buffers: no new write may start and
    /// the connection may not be freed until `Event::Written`.
    pub writing: bool,
    /// The backend reported `ReadClosed`: no more input, free when writes are done.
    pub read_closed: bool,
    /// The SockJS session this HTTP response is the receiver of.
    pub attached: Option<crate::session::SessionId>,
    /// The attached request asked for `Connection: close`.
    pub close_after_response: bool,
    pub opened_ms: u64,
    /// Last time anything arrived (idle timeout, pings).
    pub last_rx_ms: u64,
}

/// Per-connection memory is a budget (DESIGN §5.8); the WebSocket state is boxed so
/// an HTTP-only connection does not pay for it.
const _: () = assert!(std::mem::size_of::<Conn>() <= 208);

impl Conn {
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn is_open(&self) -> bool {
        self.life == Life::Open
    }

    pub fn ws_mut(&mut self) -> Option<&mut WsConn> {
        match &mut self.phase {
            Phase::Ws(ws) => Some(ws),
            Phase::Http { .. } => None,
        }
    }
}

/// The shard's connections.
#[derive(Debug)]
pub struct ConnTable {
    table: IdTable<Conn>,
}

impl Default for ConnTable {
    fn default() -> Self {
        ConnTable { table: IdTable::new(GENERATION_MASK) }
    }
}

impl ConnTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Insert a new connection; returns its id.
    pub fn insert(&mut self, fd: OwnedFd, now_ms: u64) -> ConnId {
        ConnId(self.table.insert_with(|id| Conn {
            fd,
            id: ConnId(id),
            phase: Phase::Http { buf: Vec::new() },
            queue: SendQueue::new(),
            life: Life::Open,
            dirty: false,
            blocked: false,
            writing: false,
            read_closed: false,
            attached: None,
            close_after_response: false,
            opened_ms: now_ms,
            last_rx_ms: now_ms,
        }))
    }

    /// The connection with this id, if it is still the slot's occupant.
    #[inline]
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.table.get_mut(id.0)
    }

    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        self.table.get(id.0)
    }

    /// Remove a connection, invalidating its id.
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        self.table.remove(id.0)
    }

    /// Ids of every connection (for timer sweeps and shutdown).
    pub fn ids(&self, into: &mut Vec<ConnId>) {
        self.table.ids(into, ConnId);
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
        let mut t = ConnTable::new();
        let a = t.insert(fd(), 0);
        assert!(t.remove(a).is_some());
        let b = t.insert(fd(), 0);
        assert_eq!(a.0.slot, b.0.slot);
        assert!(t.get_mut(a).is_none());
        assert!(t.get_mut(b).is_some());
        assert_eq!(ConnId::from_token(b.token()), b);
    }

    #[test]
    fn token_round_trips_and_stays_below_limit() {
        let id = ConnId(Id { slot: 123_456, generation: GENERATION_MASK });
        assert_eq!(ConnId::from_token(id.token()), id);
        assert!(id.token() < crate::io::TOKEN_LIMIT);
    }
}
