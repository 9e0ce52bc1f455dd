//! A benchmark client over either transport: a WebSocket connection (`Conn`: the publisher and
//! the subscribers of the WebSocket dialects) or a SockJS xhr_streaming receiver (`XhrStream`:
//! the subscribers of the `xhr-streaming` dialect), with the operations the event loop needs.

use std::io;
use std::time::Instant;

use mio::{Registry, Token};

use crate::conn::{Conn, State};
use crate::socket::ReadEnd;
use crate::xhr::XhrStream;

/// One client connection.
pub enum Client {
    Ws(Conn),
    Xhr(XhrStream),
}

impl Client {
    pub fn state(&self) -> State {
        match self {
            Client::Ws(c) => c.state,
            Client::Xhr(x) => x.state(),
        }
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self {
            Client::Ws(c) => c.register(registry, token),
            Client::Xhr(x) => x.register(registry, token),
        }
    }

    pub fn close(&mut self, registry: &Registry) {
        match self {
            Client::Ws(c) => c.close(registry),
            Client::Xhr(x) => x.close(registry),
        }
    }

    pub fn on_writable(&mut self) -> io::Result<()> {
        match self {
            Client::Ws(c) => c.on_writable(),
            Client::Xhr(x) => x.on_writable(),
        }
    }

    pub fn has_pending_out(&self) -> bool {
        match self {
            Client::Ws(c) => c.has_pending_out(),
            Client::Xhr(x) => x.has_pending_out(),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Client::Ws(c) => c.flush(),
            Client::Xhr(x) => x.flush(),
        }
    }

    /// Reads until drained; `on_text` gets every WebSocket text message or SockJS HTTP frame.
    pub fn read_all(
        &mut self,
        scratch: &mut [u8],
        clock: Instant,
        on_text: &mut dyn FnMut(&[u8], u64),
    ) -> Result<ReadEnd, String> {
        match self {
            Client::Ws(c) => c.read_all(scratch, clock, on_text),
            Client::Xhr(x) => x.read_all(scratch, clock, on_text),
        }
    }

    /// The server closed the connection where a new one can continue without loss.
    pub fn resumable(&self) -> bool {
        matches!(self, Client::Xhr(x) if x.resumable())
    }

    /// Continues on a new connection (only when `resumable`).
    pub fn resume(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self {
            Client::Ws(_) => Err(io::Error::other("a WebSocket connection cannot resume")),
            Client::Xhr(x) => x.reconnect(registry, token),
        }
    }

    /// The WebSocket connection (the publisher always is one).
    pub fn ws_mut(&mut self) -> Option<&mut Conn> {
        match self {
            Client::Ws(c) => Some(c),
            Client::Xhr(_) => None,
        }
    }

    /// (responses received to their end, reconnects) of an xhr_streaming receiver.
    pub fn http_counts(&self) -> Option<(u64, u64)> {
        match self {
            Client::Ws(_) => None,
            Client::Xhr(x) => Some((x.responses, x.reconnects)),
        }
    }
}
