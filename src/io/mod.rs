//! I/O backends: one closed enum over io_uring and epoll, producing the same events.
//!
//! Owns: the kernel interface of a shard — accepting on the shard's listener, reading
//! from connections, submitting writes, sleeping until work arrives, and the startup
//! probe that picks a backend. Does not own: connection state, parsing, or what is
//! written (that is `shard` and `send`). A backend is created on, and used only by,
//! its shard's thread (io_uring rings are created with `SINGLE_ISSUER`).
//!
//! Contract shared by both backends:
//! * `add_conn(token, fd)` starts reading `fd`; data arrives as [`Event::Data`] until a
//!   single [`Event::ReadClosed`] for that token (EOF, error, or after `shutdown`).
//! * `write(token, fd, iov)` starts one write; at most one write per token is in flight.
//!   It returns [`WriteStart::Done`] (finished synchronously, epoll), [`WriteStart::Pending`]
//!   (an [`Event::Written`] follows, io_uring) or [`WriteStart::WouldBlock`] (an
//!   [`Event::Writable`] follows, epoll).
//! * `remove_conn(token, fd)` forgets the connection; the caller closes the fd afterwards.
//! * Tokens are opaque `u64`s below [`TOKEN_LIMIT`]; events for a token the caller has
//!   already removed may still arrive and must be ignored by generation check.

pub mod epoll;
pub mod probe;
pub mod uring;

use std::fmt;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::time::Duration;

/// Tokens passed to a backend are below this value; the top byte is the backend's own.
pub const TOKEN_LIMIT: u64 = 1 << 56;

/// Which kernel interface a shard uses. Closed set; chosen at startup.
///
/// ```
/// assert_eq!(ringcast::BackendKind::Uring.to_string(), "io_uring");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// io_uring: multishot accept, multishot recv with a provided-buffer ring.
    Uring,
    /// epoll through `mio`, edge-triggered.
    Epoll,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Uring => "io_uring",
            BackendKind::Epoll => "epoll",
        })
    }
}

/// What a backend reports. `Data` borrows the backend's read buffer until the next
/// call to [`Backend::next_event`]; the receiver may modify it in place (unmasking).
#[derive(Debug)]
pub enum Event<'a> {
    /// A new connection on this shard's listener (non-blocking, `TCP_NODELAY` set).
    Accepted { fd: OwnedFd },
    /// Bytes read from a connection.
    Data { token: u64, data: &'a mut [u8] },
    /// No more data will be read for this token: EOF (`errno` = 0) or an error.
    ReadClosed { token: u64, errno: i32 },
    /// io_uring: the write started by `write` finished (`result` = bytes or `-errno`).
    Written { token: u64, result: i32 },
    /// epoll: a socket that returned `WouldBlock` can be written again.
    Writable { token: u64 },
    /// Another shard woke this one (cross-shard bus has messages).
    Wake,
}

/// Outcome of starting a write.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStart {
    /// Finished synchronously; this many bytes were written (may be fewer than asked).
    Done(usize),
    /// Submitted; an `Event::Written` for the token follows.
    Pending,
    /// Socket buffer full; an `Event::Writable` for the token follows.
    WouldBlock,
    /// The write failed at once (`errno`); the connection is broken.
    Failed(i32),
}

/// Settings a backend needs at creation.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// io_uring submission queue entries.
    pub ring_entries: u32,
    /// Size of each provided read buffer (io_uring) / the shared read buffer (epoll).
    pub read_buffer_bytes: usize,
    /// Number of provided read buffers in the ring (power of two).
    pub read_buffer_count: u16,
    /// Bytes read from one connection per wait before moving on (epoll).
    pub read_budget_bytes: usize,
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions { ring_entries: 4096, read_buffer_bytes: 16 * 1024, read_buffer_count: 1024, read_budget_bytes: 64 * 1024 }
    }
}

/// The shard's kernel interface. Dispatched with `match`, no `dyn`.
pub enum Backend {
    Uring(uring::UringIo),
    Epoll(epoll::EpollIo),
}

impl Backend {
    /// Create a backend of `kind` serving `listener` (non-blocking, already listening)
    /// and waking on `wake_fd` (an eventfd other shards write to).
    pub fn new(
        kind: BackendKind,
        listener: OwnedFd,
        wake_fd: RawFd,
        opts: &BackendOptions,
    ) -> io::Result<Backend> {
        Ok(match kind {
            BackendKind::Uring => Backend::Uring(uring::UringIo::new(listener, wake_fd, opts)?),
            BackendKind::Epoll => Backend::Epoll(epoll::EpollIo::new(listener, wake_fd, opts)?),
        })
    }

    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Uring(_) => BackendKind::Uring,
            Backend::Epoll(_) => BackendKind::Epoll,
        }
    }

    /// Start reading from a connection.
    pub fn add_conn(&mut self, token: u64, fd: RawFd) -> io::Result<()> {
        debug_assert!(token < TOKEN_LIMIT);
        match self {
            Backend::Uring(b) => b.add_conn(token, fd),
            Backend::Epoll(b) => b.add_conn(token, fd),
        }
    }

    /// Forget a connection (after its `ReadClosed` and with no write in flight).
    pub fn remove_conn(&mut self, token: u64, fd: RawFd) {
        match self {
            Backend::Uring(b) => b.remove_conn(token, fd),
            Backend::Epoll(b) => b.remove_conn(token, fd),
        }
    }

    /// Start one write of `iov`.
    ///
    /// # Safety
    /// The memory `iov` points at, and the `iov` array itself, must stay valid and
    /// unmodified until the write has finished: at once for `Done`/`WouldBlock`/`Failed`,
    /// or until the matching `Event::Written` for `Pending`.
    pub unsafe fn write(&mut self, token: u64, fd: RawFd, iov: &[libc::iovec]) -> WriteStart {
        match self {
            Backend::Uring(b) => b.write(token, fd, iov),
            Backend::Epoll(b) => b.write(token, fd, iov),
        }
    }

    /// Cancel every operation the kernel holds (io_uring: synchronously, so their
    /// completions are posted before this returns); epoll holds none.
    pub fn cancel_all(&mut self) {
        if let Backend::Uring(b) = self {
            b.cancel_all();
        }
    }

    /// Submit queued operations and sleep until at least one event is ready or
    /// `timeout` passes. `None` means no timeout; `Some(ZERO)` does not sleep.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Backend::Uring(b) => b.wait(timeout),
            Backend::Epoll(b) => b.wait(timeout),
        }
    }

    /// The next ready event, or `None` when this wait's events are used up.
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        match self {
            Backend::Uring(b) => b.next_event(),
            Backend::Epoll(b) => b.next_event(),
        }
    }
}

/// Write `bytes` at once if the socket takes them, without waiting and without caring
/// if it does not (a last word to a peer that is about to be cut off).
pub fn send_now(fd: RawFd, bytes: &[u8]) {
    // SAFETY: a non-blocking send from a live slice on a socket fd we own.
    unsafe {
        libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL);
    }
}

/// Make the coming `close` of `fd` reset the connection (`SO_LINGER` 0) instead of
/// ending it with FIN: for a peer cut off for what it sent, whose unread input and
/// unsent output are discarded at once rather than kept in an orphaned socket that a
/// zero window can hold for minutes.
pub fn reset_on_close(fd: RawFd) {
    // SAFETY: `fd` is a socket the caller owns and keeps open for this call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    // Best effort: a failure leaves the ordinary close.
    let _ = socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO));
}

/// Half-close both directions so pending reads finish (`ReadClosed`) and pending writes
/// fail fast; the fd itself is closed later by its owner.
pub fn shutdown(fd: RawFd) {
    // SAFETY: shutdown on a socket fd we own; errors (ENOTCONN) are harmless here.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}
