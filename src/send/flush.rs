//! The end-of-tick flush: one coalesced write per dirty connection.
//!
//! Owns: starting the write of a connection's queued frames through the backend and
//! interpreting the outcome (done, in flight, blocked, failed), plus the dirty list
//! that makes each connection's write happen once per tick however many frames it got.
//! Does not own: the connection table or close policy (the shard acts on the outcome).

use super::queue::SendQueue;
use crate::io::{Backend, WriteStart};
use std::os::fd::RawFd;

/// Where a connection's output stands after a flush attempt.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushOutcome {
    /// Everything queued has been written.
    Drained,
    /// A write is in flight (io_uring); `Event::Written` follows.
    InFlight,
    /// The socket is full (epoll); `Event::Writable` follows.
    Blocked,
    /// The socket is broken (`errno`).
    Failed(i32),
}

/// Statistics of one flush, for the shard's counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlushStats {
    pub writes: u64,
    pub bytes: u64,
}

/// Write `queue` to `fd` until it is drained, in flight or blocked.
/// Synchronous completions (epoll) loop here; a partial write is resumed at once.
pub fn flush(
    io: &mut Backend,
    token: u64,
    fd: RawFd,
    queue: &mut SendQueue,
    stats: &mut FlushStats,
) -> FlushOutcome {
    loop {
        let Some(iov) = queue.start_write() else {
            return if queue.in_flight() { FlushOutcome::InFlight } else { FlushOutcome::Drained };
        };
        stats.writes += 1;
        // SAFETY: the iovecs point into `queue`'s in-flight segments, which stay alive and
        // unmodified until `queue.written` (called on Done here, or on Event::Written).
        match unsafe { io.write(token, fd, iov) } {
            WriteStart::Done(n) => {
                stats.bytes += n as u64;
                queue.written(n);
            }
            WriteStart::Pending => return FlushOutcome::InFlight,
            // Nothing written: the kernel holds nothing (so all of it counts as pending);
            // the same segments are retried on `Event::Writable`.
            WriteStart::WouldBlock => {
                queue.written(0);
                return FlushOutcome::Blocked;
            }
            WriteStart::Failed(errno) => {
                queue.write_failed();
                return FlushOutcome::Failed(errno);
            }
        }
    }
}

/// Connections with queued output this tick, each listed once.
#[derive(Debug, Default)]
pub struct DirtyList<T> {
    items: Vec<T>,
}

impl<T: Copy> DirtyList<T> {
    pub fn new() -> Self {
        DirtyList { items: Vec::new() }
    }

    /// Add a connection; the caller keeps a per-connection `dirty` flag so each joins once.
    pub fn push(&mut self, id: T) {
        self.items.push(id);
    }

    /// Take the list for flushing, leaving an empty one (capacity kept).
    pub fn take(&mut self, into: &mut Vec<T>) {
        into.clear();
        std::mem::swap(&mut self.items, into);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
