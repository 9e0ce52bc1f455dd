//! The epoll backend, through `mio` (edge-triggered readiness).
//!
//! Owns: the shard's `mio::Poll`, its listener and wake registrations, and one shared
//! read buffer. Readiness is turned into the same [`Event`]s the io_uring backend
//! produces: a readable connection is read with `recv` into the shared buffer until
//! `EAGAIN` or its read budget for this wait is spent, one `Event::Data` per `recv`; a
//! connection with budget spent is carried over and read first after the next wait
//! (which then does not sleep), so one client that never stops sending cannot keep the
//! shard from its flushes, timers and other connections. Writes are synchronous
//! `sendmsg` calls.
//! Idle connections hold no read buffer here either. Does not own connection state.

use super::{BackendOptions, Event, WriteStart};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// Readiness events fetched per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 1024;

/// What the event cursor is in the middle of.
#[derive(Clone, Copy)]
enum Cursor {
    /// Take the next readiness event.
    Next,
    /// Accepting from the listener until `EAGAIN`.
    Accepting,
    /// Reading one connection until `EAGAIN` or `left_bytes` are read; `writable` still
    /// to report first.
    Reading { token: u64, fd: RawFd, writable: bool, left_bytes: usize },
}

pub struct EpollIo {
    poll: Poll,
    events: Events,
    /// Index of the next unread readiness event in `events`.
    next_index: usize,
    cursor: Cursor,
    listener: OwnedFd,
    wake_fd: RawFd,
    /// Shared read buffer: every `Event::Data` borrows it.
    read_buf: Box<[u8]>,
    /// Fd of each registered token's slab index, to read on readiness.
    fds: Vec<RawFd>,
    /// Bytes read from one connection per wait before moving on.
    read_budget_bytes: usize,
    /// Connections that spent their budget with data left: read after the next wait.
    carried: Vec<(u64, RawFd)>,
    /// This wait's share of `carried`, read before its readiness events.
    resuming: Vec<(u64, RawFd)>,
    /// Accepting ran out of file descriptors: try again at this time. The listener is
    /// edge-triggered, so without a retry the connections already queued would wait
    /// for a new one to arrive, maybe for ever.
    accept_retry_at: Option<Instant>,
    /// Out-of-fd warnings are logged at most once per `ACCEPT_WARN_INTERVAL`.
    accept_warned_at: Option<Instant>,
    accept_failures: u64,
}

/// Pause before accepting again after `EMFILE`/`ENFILE`.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);
/// Out-of-fd warnings are logged at most this often.
const ACCEPT_WARN_INTERVAL: Duration = Duration::from_secs(10);

impl EpollIo {
    pub fn new(listener: OwnedFd, wake_fd: RawFd, opts: &BackendOptions) -> io::Result<EpollIo> {
        let poll = Poll::new()?;
        poll.registry().register(&mut SourceFd(&listener.as_raw_fd()), LISTENER, Interest::READABLE)?;
        poll.registry().register(&mut SourceFd(&wake_fd), WAKER, Interest::READABLE)?;
        Ok(EpollIo {
            poll,
            events: Events::with_capacity(EVENTS_PER_WAIT),
            next_index: 0,
            cursor: Cursor::Next,
            listener,
            wake_fd,
            read_buf: vec![0u8; opts.read_buffer_bytes.max(4096)].into_boxed_slice(),
            fds: Vec::new(),
            read_budget_bytes: opts.read_budget_bytes.max(1),
            carried: Vec::new(),
            resuming: Vec::new(),
            accept_retry_at: None,
            accept_warned_at: None,
            accept_failures: 0,
        })
    }

    pub fn add_conn(&mut self, token: u64, fd: RawFd) -> io::Result<()> {
        let slot = slot_of(token);
        if self.fds.len() <= slot {
            self.fds.resize(slot + 1, -1);
        }
        self.fds[slot] = fd;
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poll.registry().register(&mut SourceFd(&fd), Token(token as usize), interest)
    }

    pub fn remove_conn(&mut self, token: u64, fd: RawFd) {
        if let Some(slot) = self.fds.get_mut(slot_of(token)) {
            *slot = -1;
        }
        if let Cursor::Reading { token: t, .. } = self.cursor {
            if t == token {
                self.cursor = Cursor::Next;
            }
        }
        self.carried.retain(|&(t, _)| t != token);
        self.resuming.retain(|&(t, _)| t != token);
        // Closing the fd would also remove it; deregistering keeps the set exact.
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
    }

    /// # Safety
    /// `iov` must describe valid readable memory for the duration of the call.
    pub unsafe fn write(&mut self, _token: u64, fd: RawFd, iov: &[libc::iovec]) -> WriteStart {
        let iov_len = iov.len().min(libc::UIO_MAXIOV as usize);
        // SAFETY: zeroed msghdr is a valid empty header; we fill iov fields only.
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov_len as _;
        loop {
            // SAFETY: fd is a socket owned by the caller; iov memory valid per contract.
            let n = libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT);
            if n >= 0 {
                return WriteStart::Done(n as usize);
            }
            match errno() {
                libc::EINTR => continue,
                libc::EAGAIN => return WriteStart::WouldBlock,
                e => return WriteStart::Failed(e),
            }
        }
    }

    /// Sleep until readiness or `timeout`. Events of the previous wait that the caller
    /// has not taken yet (it caps the events per tick) are kept: readiness is
    /// edge-triggered, so dropping one would lose it. Carried-over connections make
    /// the wait not sleep.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.has_unread_events() {
            return Ok(());
        }
        self.next_index = 0;
        self.resuming.append(&mut self.carried);
        let timeout = if self.resuming.is_empty() { timeout } else { Some(Duration::ZERO) };
        let timeout = self.accept_retry_timeout(timeout);
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.events.clear();
                Ok(())
            }
            other => other,
        }
    }

    /// Shorten `timeout` to a pending accept retry; start the retry when it is due.
    fn accept_retry_timeout(&mut self, timeout: Option<Duration>) -> Option<Duration> {
        let Some(at) = self.accept_retry_at else { return timeout };
        let now = Instant::now();
        if now >= at {
            self.accept_retry_at = None;
            self.cursor = Cursor::Accepting;
            return Some(Duration::ZERO);
        }
        Some(timeout.map_or(at - now, |t| t.min(at - now)))
    }

    /// Out of file descriptors: stop accepting for a moment (the queued connections stay
    /// in the kernel's backlog) and say so, at most once per interval.
    #[cold]
    fn accept_exhausted(&mut self, errno: i32) {
        self.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY_DELAY);
        self.accept_failures += 1;
        let now = Instant::now();
        if self.accept_warned_at.is_none_or(|at| now.duration_since(at) >= ACCEPT_WARN_INTERVAL) {
            let error = io::Error::from_raw_os_error(errno);
            tracing::warn!(failures = self.accept_failures, %error, "accept: out of file descriptors; retrying every 50 ms");
            self.accept_warned_at = Some(now);
            self.accept_failures = 0;
        }
    }

    fn has_unread_events(&self) -> bool {
        !matches!(self.cursor, Cursor::Next)
            || !self.resuming.is_empty()
            || self.events.iter().nth(self.next_index).is_some()
    }

    pub fn next_event(&mut self) -> Option<Event<'_>> {
        loop {
            match self.cursor {
                Cursor::Next => {
                    if let Some((token, fd)) = self.resuming.pop() {
                        let left_bytes = self.read_budget_bytes;
                        self.cursor = Cursor::Reading { token, fd, writable: false, left_bytes };
                        continue;
                    }
                    let ev = self.events.iter().nth(self.next_index)?;
                    self.next_index += 1;
                    match ev.token() {
                        LISTENER => self.cursor = Cursor::Accepting,
                        WAKER => {
                            drain_eventfd(self.wake_fd);
                            return Some(Event::Wake);
                        }
                        Token(t) => {
                            let token = t as u64;
                            let Some(&fd) = self.fds.get(slot_of(token)) else { continue };
                            if fd < 0 {
                                continue;
                            }
                            let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                            let writable = ev.is_writable();
                            if readable {
                                let left_bytes = self.read_budget_bytes;
                                self.cursor = Cursor::Reading { token, fd, writable, left_bytes };
                            } else if writable {
                                return Some(Event::Writable { token });
                            }
                        }
                    }
                }
                Cursor::Accepting => match accept_one(self.listener.as_raw_fd()) {
                    Accept::Conn(fd) => return Some(Event::Accepted { fd }),
                    Accept::Drained => self.cursor = Cursor::Next,
                    Accept::OutOfFds(errno) => {
                        self.accept_exhausted(errno);
                        self.cursor = Cursor::Next;
                    }
                },
                Cursor::Reading { token, fd, writable, left_bytes } => {
                    if writable {
                        self.cursor = Cursor::Reading { token, fd, writable: false, left_bytes };
                        return Some(Event::Writable { token });
                    }
                    if left_bytes == 0 {
                        self.carried.push((token, fd));
                        self.cursor = Cursor::Next;
                        continue;
                    }
                    match recv_once(fd, &mut self.read_buf) {
                        Recv::Data(n) => {
                            let left_bytes = left_bytes.saturating_sub(n);
                            self.cursor = Cursor::Reading { token, fd, writable: false, left_bytes };
                            return Some(Event::Data { token, data: &mut self.read_buf[..n] });
                        }
                        Recv::Drained => self.cursor = Cursor::Next,
                        Recv::Closed(errno) => {
                            self.cursor = Cursor::Next;
                            return Some(Event::ReadClosed { token, errno });
                        }
                    }
                }
            }
        }
    }
}

/// Result of one `recv` on a readable connection.
enum Recv {
    Data(usize),
    /// `EAGAIN`: nothing more until the next readiness edge.
    Drained,
    /// EOF (0) or an error.
    Closed(i32),
}

fn recv_once(fd: RawFd, buf: &mut [u8]) -> Recv {
    loop {
        // SAFETY: buf is owned and writable; fd is a registered socket.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n > 0 {
            return Recv::Data(n as usize);
        }
        match if n == 0 { 0 } else { errno() } {
            libc::EINTR => continue,
            libc::EAGAIN => return Recv::Drained,
            e => return Recv::Closed(e),
        }
    }
}

/// Slab index inside a token (low 32 bits).
fn slot_of(token: u64) -> usize {
    (token & 0xFFFF_FFFF) as usize
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// What one `accept4` gave.
enum Accept {
    Conn(OwnedFd),
    /// Nothing more queued (or an error that concerns only that connection).
    Drained,
    /// `EMFILE`/`ENFILE`: connections wait in the backlog until fds are free.
    OutOfFds(i32),
}

/// Accept one pending connection, non-blocking with `TCP_NODELAY`.
fn accept_one(listener: RawFd) -> Accept {
    loop {
        // SAFETY: accept4 on our listening socket; null address is allowed.
        let fd = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd >= 0 {
            // SAFETY: accept4 returned a fresh fd that nothing else owns.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            set_nodelay(fd);
            return Accept::Conn(owned);
        }
        match errno() {
            libc::EINTR | libc::ECONNABORTED => continue,
            e @ (libc::EMFILE | libc::ENFILE) => return Accept::OutOfFds(e),
            _ => return Accept::Drained,
        }
    }
}

/// Disable Nagle: frames are coalesced by the server, so the kernel must not delay them.
pub(crate) fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid int option value on a socket fd.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Reset an eventfd's counter so edge-triggered readiness fires again.
fn drain_eventfd(fd: RawFd) {
    let mut value = 0u64;
    // SAFETY: reading 8 bytes from an eventfd into a u64.
    unsafe {
        libc::read(fd, (&mut value as *mut u64).cast(), 8);
    }
}
