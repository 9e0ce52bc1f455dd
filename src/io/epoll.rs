//! The epoll backend, through `mio` (edge-triggered readiness).
//!
//! Owns: the shard's `mio::Poll`, its listener and wake registrations, and one shared
//! read buffer. Readiness is turned into the same [`Event`]s the io_uring backend
//! produces: a readable connection is drained with `recv` into the shared buffer until
//! `EAGAIN`, one `Event::Data` per `recv`; writes are synchronous `sendmsg` calls.
//! Idle connections hold no read buffer here either. Does not own connection state.

use super::{BackendOptions, Event, WriteStart};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

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
    /// Reading one connection until `EAGAIN`; `writable` still to report first.
    Reading { token: u64, fd: RawFd, writable: bool },
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
}

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

    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.next_index = 0;
        self.cursor = Cursor::Next;
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.events.clear();
                Ok(())
            }
            other => other,
        }
    }

    pub fn next_event(&mut self) -> Option<Event<'_>> {
        loop {
            match self.cursor {
                Cursor::Next => {
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
                                self.cursor = Cursor::Reading { token, fd, writable };
                            } else if writable {
                                return Some(Event::Writable { token });
                            }
                        }
                    }
                }
                Cursor::Accepting => match accept_one(self.listener.as_raw_fd()) {
                    Some(fd) => return Some(Event::Accepted { fd }),
                    None => self.cursor = Cursor::Next,
                },
                Cursor::Reading { token, fd, writable } => {
                    if writable {
                        self.cursor = Cursor::Reading { token, fd, writable: false };
                        return Some(Event::Writable { token });
                    }
                    match recv_once(fd, &mut self.read_buf) {
                        Recv::Data(n) => return Some(Event::Data { token, data: &mut self.read_buf[..n] }),
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

/// Accept one pending connection, non-blocking with `TCP_NODELAY`; `None` when drained.
fn accept_one(listener: RawFd) -> Option<OwnedFd> {
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
            return Some(owned);
        }
        match errno() {
            libc::EINTR | libc::ECONNABORTED => continue,
            libc::EMFILE | libc::ENFILE => {
                tracing::warn!("accept: out of file descriptors; backing off");
                return None;
            }
            _ => return None,
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
