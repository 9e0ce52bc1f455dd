//! The io_uring backend: one ring per shard, completion-driven.
//!
//! Owns: the shard's ring (created with `SINGLE_ISSUER | DEFER_TASKRUN` when the kernel
//! takes them, a plain ring otherwise), the multishot accept on the listener, one
//! multishot recv per connection fed from a provided-buffer ring (so an idle connection
//! holds no read buffer), the eventfd read that wakes the shard, and the translation of
//! completions into [`Event`]s. Writes are `send`/`sendmsg` with `MSG_NOSIGNAL` of the
//! caller's iovecs.
//!
//! Does not own: connection state, the caller's write buffers (they must stay put until
//! the matching `Event::Written`), or connection fds (the caller shuts them down and
//! closes them around `remove_conn`). Not `Send`: a ring belongs to the thread that
//! created it.
//!
//! `user_data` of every submission is `token | op << 56`; completions whose token is no
//! longer registered (same slot, other generation) are dropped, except writes, which
//! the caller always hears about.

use super::{BackendOptions, Event, WriteStart, TOKEN_LIMIT};
use io_uring::types::{BufRingEntry, CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Bit position of the op kind in `user_data`; the bits below hold the token.
const OP_SHIFT: u32 = 56;
/// Mask of the token bits in `user_data`.
const TOKEN_MASK: u64 = TOKEN_LIMIT - 1;
/// Mask of the slab index in a token (the next 24 bits are its generation).
const SLOT_MASK: u64 = 0xffff_ffff;
/// Op kinds, stored in the top byte of `user_data`.
const OP_ACCEPT: u64 = 1;
const OP_RECV: u64 = 2;
const OP_WRITE: u64 = 3;
const OP_WAKE: u64 = 4;
const OP_CANCEL: u64 = 5;

/// Buffer group id of the provided-buffer ring.
const BUF_GROUP: u16 = 0;
/// Most buffers one provided-buffer ring may hold (kernel limit).
const MAX_BUF_RING_ENTRIES: u16 = 1 << 15;
/// Completion-queue entries per submission-queue entry: multishot ops post many CQEs.
const CQ_ENTRIES_PER_SQ_ENTRY: u32 = 4;
/// Connection slots per storage chunk. Chunks never move, so the `msghdr` of a queued
/// `sendmsg` stays valid while the table grows.
const CONN_CHUNK_SLOTS: usize = 256;
/// Pause before re-arming accept after it failed (e.g. `EMFILE`), in milliseconds.
const ACCEPT_RETRY_DELAY_MS: u64 = 10;
/// Accept failures are logged at most this often.
const ACCEPT_WARN_INTERVAL: Duration = Duration::from_secs(10);
/// How long dropping the backend waits for the kernel to cancel its requests, in seconds.
const DROP_CANCEL_TIMEOUT_SECS: u64 = 1;
/// Marks a free connection slot (never a valid token: tokens are below `TOKEN_LIMIT`).
const NO_TOKEN: u64 = u64::MAX;

fn user_data(op: u64, token: u64) -> u64 {
    debug_assert!(token < TOKEN_LIMIT);
    token | op << OP_SHIFT
}

fn slot_of(token: u64) -> usize {
    (token & SLOT_MASK) as usize
}

/// The io_uring backend of one shard. See the module docs.
pub struct UringIo {
    /// Declared first so it is dropped (closed) before the memory the kernel used.
    /// Boxed: the ring's bookkeeping is ~330 bytes, and `Backend` holds us by value.
    ring: Box<IoUring>,
    bufs: BufRing,
    /// Buffer id lent out through the last `Event::Data`, returned on the next call.
    lent: Option<u16>,
    conns: ConnTable,
    /// Submissions that did not fit in the SQ even after submitting; normally empty.
    backlog: VecDeque<squeue::Entry>,
    /// Kept open for the multishot accept (which holds its own file reference).
    listener: OwnedFd,
    wake_fd: RawFd,
    /// Target of the eventfd read; the kernel writes it while a read is armed.
    wake_buf: Box<UnsafeCell<u64>>,
    /// Accept failed and is re-armed by `wait` once this moment has passed.
    accept_retry_at: Option<Instant>,
    /// Accept failures are logged at most once per `ACCEPT_WARN_INTERVAL`.
    accept_warned_at: Option<Instant>,
    accept_failures: u64,
    /// Times a recv ended because the buffer ring ran dry (read by tests).
    #[cfg(test)]
    nobufs: u64,
}

/// A completion worth reporting, before any buffer is lent out.
enum Ready {
    Data { token: u64, bid: u16, len: usize },
    Event(Event<'static>),
}

impl UringIo {
    /// Build the ring, register the read buffers, and arm accept on `listener` and a
    /// read on `wake_fd` (which must stay open as long as the backend). Must be called
    /// on the thread that will use the backend.
    pub fn new(listener: OwnedFd, wake_fd: RawFd, opts: &BackendOptions) -> io::Result<UringIo> {
        let buf_bytes = u32::try_from(opts.read_buffer_bytes)
            .ok()
            .filter(|&bytes| bytes > 0)
            .ok_or_else(|| invalid_input("read_buffer_bytes must be between 1 and u32::MAX"))?;
        UringIo::with_ring(
            build_ring(opts.ring_entries)?,
            listener,
            wake_fd,
            opts.read_buffer_count,
            buf_bytes,
        )
    }

    /// `new` on a ring built by the caller (tests use it to run on a plain ring).
    fn with_ring(
        ring: IoUring,
        listener: OwnedFd,
        wake_fd: RawFd,
        buf_count: u16,
        buf_bytes: u32,
    ) -> io::Result<UringIo> {
        let bufs = BufRing::new(buf_count, buf_bytes)?;
        // SAFETY: the mapping outlives its registration: once `io` exists its `Drop`
        // cancels all requests and unregisters the group before the fields drop; if
        // registration fails there is nothing registered.
        unsafe { ring.submitter().register_buf_ring_with_flags(bufs.addr(), bufs.entries(), BUF_GROUP, 0)? };
        let mut io = UringIo {
            ring: Box::new(ring),
            bufs,
            lent: None,
            conns: ConnTable { chunks: Vec::new() },
            backlog: VecDeque::new(),
            listener,
            wake_fd,
            wake_buf: Box::new(UnsafeCell::new(0)),
            accept_retry_at: None,
            accept_warned_at: None,
            accept_failures: 0,
            #[cfg(test)]
            nobufs: 0,
        };
        io.arm_accept();
        io.arm_wake();
        Ok(io)
    }

    /// Start reading `fd` with a multishot recv; the SQE goes out with the next `wait`.
    pub fn add_conn(&mut self, token: u64, fd: RawFd) -> io::Result<()> {
        debug_assert!(token < TOKEN_LIMIT);
        let conn = self.conns.slot_mut(slot_of(token));
        debug_assert!(conn.token == NO_TOKEN, "slot of token {token:#x} still registered");
        conn.token = token;
        conn.fd = fd;
        conn.recv_armed = false;
        conn.read_closed = false;
        self.arm_recv(token);
        Ok(())
    }

    /// Forget `token`; cancel its recv if one is still armed. Safe after `ReadClosed`.
    pub fn remove_conn(&mut self, token: u64, fd: RawFd) {
        let Some(conn) = self.conns.live(token) else { return };
        debug_assert_eq!(conn.fd, fd, "remove_conn with another fd than add_conn");
        let armed = conn.recv_armed;
        conn.token = NO_TOKEN;
        conn.recv_armed = false;
        if armed {
            self.cancel_recv(token);
        }
    }

    /// Queue one write of `iov` to `fd`; an `Event::Written` for `token` follows.
    ///
    /// # Safety
    /// `iov` and the memory it points at must stay valid and unmodified until the
    /// matching `Event::Written` (the `Backend::write` contract).
    pub unsafe fn write(&mut self, token: u64, fd: RawFd, iov: &[libc::iovec]) -> WriteStart {
        let entry = match iov {
            [one] => {
                let len = u32::try_from(one.iov_len).unwrap_or(u32::MAX);
                opcode::Send::new(Fd(fd), one.iov_base.cast::<u8>(), len).flags(libc::MSG_NOSIGNAL).build()
            }
            _ => {
                let msg = &mut self.conns.slot_mut(slot_of(token)).msg;
                msg.msg_iov = iov.as_ptr().cast_mut();
                msg.msg_iovlen = iov.len() as _;
                opcode::SendMsg::new(Fd(fd), msg).flags(libc::MSG_NOSIGNAL as u32).build()
            }
        };
        self.queue(entry.user_data(user_data(OP_WRITE, token)));
        WriteStart::Pending
    }

    /// Submit everything queued and sleep until a completion arrives or `timeout` passes.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.recycle_lent();
        let timeout = match self.accept_retry_at {
            Some(at) => self.retry_accept(at, timeout),
            None => timeout,
        };
        if !self.backlog.is_empty() {
            self.drain_backlog();
        }
        let result = match timeout {
            None => self.ring.submit_and_wait(1),
            Some(timeout) => {
                let ts = Timespec::from(timeout);
                self.ring.submitter().submit_with_args(1, &SubmitArgs::new().timespec(&ts))
            }
        };
        match result {
            Err(e) if !is_wait_interruption(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// The next completion that means something to the caller, or `None` when the
    /// completion queue is empty. Returns the previously lent read buffer first.
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        self.recycle_lent();
        let ready = loop {
            let cqe = self.ring.completion().next()?;
            if let Some(ready) = self.translate(cqe.user_data(), cqe.result(), cqe.flags()) {
                break ready;
            }
        };
        Some(match ready {
            Ready::Event(event) => event,
            Ready::Data { token, bid, len } => {
                self.lent = Some(bid);
                // SAFETY: the CQE just handed buffer `bid` (holding `len` bytes) to us; it
                // is recycled only by the next `next_event`/`wait`, which take `&mut self`
                // and so end this borrow first.
                Event::Data { token, data: unsafe { self.bufs.slice(bid, len) } }
            }
        })
    }

    /// Turn one CQE into something to report, re-arming multishot ops that ended.
    fn translate(&mut self, user_data: u64, res: i32, flags: u32) -> Option<Ready> {
        let token = user_data & TOKEN_MASK;
        match user_data >> OP_SHIFT {
            OP_RECV => self.on_recv(token, res, flags),
            OP_WRITE => Some(Ready::Event(Event::Written { token, result: res })),
            OP_ACCEPT => self.on_accept(res, flags),
            OP_WAKE => self.on_wake(res),
            // OP_CANCEL: the outcome of a cancel does not matter (ENOENT = already over).
            _ => None,
        }
    }

    fn on_recv(&mut self, token: u64, res: i32, flags: u32) -> Option<Ready> {
        let bid = cqueue::buffer_select(flags);
        if let Some(bid) = bid {
            self.bufs.taken(bid);
        }
        let more = cqueue::more(flags);
        let Some(conn) = self.conns.live(token).filter(|conn| !conn.read_closed) else {
            // Stale: removed (or already closed) since this recv was armed.
            if let Some(bid) = bid {
                self.bufs.recycle(bid);
            }
            return None;
        };
        if !more {
            conn.recv_armed = false;
        }
        match (res, bid) {
            (1.., Some(bid)) => {
                if !more {
                    self.arm_recv(token);
                }
                Some(Ready::Data { token, bid, len: res as usize })
            }
            _ => self.on_recv_end(token, res, bid, more),
        }
    }

    /// A recv CQE without data: buffer ring ran dry (re-arm), EOF or an error (close).
    fn on_recv_end(&mut self, token: u64, res: i32, bid: Option<u16>, more: bool) -> Option<Ready> {
        if let Some(bid) = bid {
            self.bufs.recycle(bid);
        }
        if res == -libc::ENOBUFS {
            #[cfg(test)]
            {
                self.nobufs += 1;
            }
            if !more {
                self.arm_recv(token);
            }
            return None;
        }
        // A positive result without a buffer would be a kernel bug; report it as EIO.
        let errno = if res > 0 { libc::EIO } else { -res };
        self.conns.live(token)?.read_closed = true;
        Some(Ready::Event(Event::ReadClosed { token, errno }))
    }

    fn on_accept(&mut self, res: i32, flags: u32) -> Option<Ready> {
        if !cqueue::more(flags) {
            if res < 0 {
                self.warn_accept_failed(res);
                self.delay_accept();
            } else {
                self.arm_accept();
            }
        }
        if res < 0 {
            return None;
        }
        // SAFETY: a successful accept CQE carries a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(res) };
        // Already non-blocking (SOCK_NONBLOCK at accept); failure here is not fatal.
        let _ = socket2::SockRef::from(&fd).set_nodelay(true);
        Some(Ready::Event(Event::Accepted { fd }))
    }

    fn on_wake(&mut self, res: i32) -> Option<Ready> {
        if res < 0 && res != -libc::EINTR {
            return self.on_wake_error(res);
        }
        self.arm_wake();
        Some(Ready::Event(Event::Wake))
    }

    /// The eventfd read failed. `EAGAIN` (a kernel that will not wait on a non-blocking
    /// fd) waits with a poll first, whose completion re-arms the read; anything else
    /// re-arms the read. Either way a spurious wake is harmless to report.
    #[cold]
    fn on_wake_error(&mut self, res: i32) -> Option<Ready> {
        if res == -libc::EAGAIN {
            self.arm_wake_poll();
        } else {
            self.arm_wake();
        }
        Some(Ready::Event(Event::Wake))
    }

    #[cold]
    fn arm_wake_poll(&mut self) {
        let entry = opcode::PollAdd::new(Fd(self.wake_fd), libc::POLLIN as u32).build();
        self.queue(entry.user_data(user_data(OP_WAKE, 0)));
    }

    fn arm_accept(&mut self) {
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        let entry = opcode::AcceptMulti::new(Fd(self.listener.as_raw_fd())).flags(flags).build();
        self.queue(entry.user_data(user_data(OP_ACCEPT, 0)));
    }

    /// Say that accepting failed (out of fds, memory, ...), at most once per interval.
    #[cold]
    fn warn_accept_failed(&mut self, res: i32) {
        self.accept_failures += 1;
        let now = Instant::now();
        if self.accept_warned_at.is_none_or(|at| now.duration_since(at) >= ACCEPT_WARN_INTERVAL) {
            let error = io::Error::from_raw_os_error(-res);
            tracing::warn!(failures = self.accept_failures, %error, "accept failed; retrying every 10 ms");
            self.accept_warned_at = Some(now);
            self.accept_failures = 0;
        }
    }

    /// Accept failed (out of fds, memory, ...): retry after a pause instead of spinning.
    #[cold]
    fn delay_accept(&mut self) {
        self.accept_retry_at = Some(Instant::now() + Duration::from_millis(ACCEPT_RETRY_DELAY_MS));
    }

    /// Re-arm a delayed accept if its time has come; otherwise shorten `timeout` to it.
    #[cold]
    fn retry_accept(&mut self, at: Instant, timeout: Option<Duration>) -> Option<Duration> {
        let now = Instant::now();
        if now >= at {
            self.accept_retry_at = None;
            self.arm_accept();
            return timeout;
        }
        let until_retry = at - now;
        Some(timeout.map_or(until_retry, |timeout| timeout.min(until_retry)))
    }

    fn arm_wake(&mut self) {
        let buf = self.wake_buf.get().cast::<u8>();
        let entry = opcode::Read::new(Fd(self.wake_fd), buf, 8).build();
        self.queue(entry.user_data(user_data(OP_WAKE, 0)));
    }

    fn arm_recv(&mut self, token: u64) {
        let Some(conn) = self.conns.live(token) else { return };
        conn.recv_armed = true;
        let entry = opcode::RecvMulti::new(Fd(conn.fd), BUF_GROUP).build();
        self.queue(entry.user_data(user_data(OP_RECV, token)));
    }

    /// Cancel the multishot recv of a removed token, and submit at once: a re-arm of it
    /// may still be queued naming the fd, which the caller is about to close (and the
    /// number could then be reused by a new connection before the next `wait`).
    fn cancel_recv(&mut self, token: u64) {
        let entry = opcode::AsyncCancel::new(user_data(OP_RECV, token)).build();
        self.queue(entry.user_data(user_data(OP_CANCEL, token)));
        if !self.backlog.is_empty() {
            self.drain_backlog();
        }
        // An error leaves the SQEs queued for the next `wait`; nothing better to do here.
        let _ = self.ring.submit();
    }

    /// Cancel every request the kernel holds and wait (up to a second) until it has let
    /// go of them; their completions follow in the completion queue.
    pub fn cancel_all(&mut self) {
        let timeout = Timespec::new().sec(DROP_CANCEL_TIMEOUT_SECS);
        let _ = self.ring.submitter().register_sync_cancel(Some(timeout), CancelBuilder::any());
    }

    /// Give the buffer lent through the last `Event::Data` back to the kernel.
    fn recycle_lent(&mut self) {
        if let Some(bid) = self.lent.take() {
            self.bufs.recycle(bid);
        }
    }

    /// Queue one SQE, submitting to make room when the SQ is full. Never drops it.
    fn queue(&mut self, entry: squeue::Entry) {
        if !(self.backlog.is_empty() && self.push_sq(&entry)) {
            self.queue_slow(entry);
        }
    }

    #[cold]
    fn queue_slow(&mut self, entry: squeue::Entry) {
        self.backlog.push_back(entry);
        self.drain_backlog();
    }

    /// Move backlog entries into the SQ, submitting whenever it is full. Entries that
    /// still do not fit (the kernel refused to take any) wait for the next call.
    #[cold]
    fn drain_backlog(&mut self) {
        while let Some(entry) = self.backlog.pop_front() {
            if self.push_sq(&entry) {
                continue;
            }
            let _ = self.ring.submit();
            if !self.push_sq(&entry) {
                self.backlog.push_front(entry);
                return;
            }
        }
    }

    fn push_sq(&mut self, entry: &squeue::Entry) -> bool {
        // SAFETY: every pointer an entry carries stays valid until its completion: the
        // wake buffer and the buffer ring live as long as the ring (see `Drop`), a
        // `sendmsg` header lives in a chunk that never moves, and write buffers are the
        // caller's to keep (the `write` contract).
        unsafe { self.ring.submission().push(entry).is_ok() }
    }
}

impl Drop for UringIo {
    /// Cancel everything the kernel still holds so it stops writing into the wake buffer
    /// and the read buffers, then unregister the buffer ring; the ring fd closes next.
    fn drop(&mut self) {
        let submitter = self.ring.submitter();
        let timeout = Timespec::new().sec(DROP_CANCEL_TIMEOUT_SECS);
        let _ = submitter.register_sync_cancel(Some(timeout), CancelBuilder::any());
        let _ = submitter.unregister_buf_ring(BUF_GROUP);
    }
}

/// ETIME (timeout), EINTR (signal) and EBUSY/EAGAIN (come back after reaping) are normal.
fn is_wait_interruption(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN))
}

/// A ring with `SINGLE_ISSUER | DEFER_TASKRUN`, or a plain one if the kernel refuses.
fn build_ring(sq_entries: u32) -> io::Result<IoUring> {
    let cq_entries = sq_entries.saturating_mul(CQ_ENTRIES_PER_SQ_ENTRY);
    let tuned = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .setup_submit_all()
        .setup_cqsize(cq_entries)
        .setup_clamp()
        .build(sq_entries);
    match tuned {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => build_plain_ring(sq_entries, cq_entries),
        other => other,
    }
}

#[cold]
fn build_plain_ring(sq_entries: u32, cq_entries: u32) -> io::Result<IoUring> {
    IoUring::builder().setup_cqsize(cq_entries).setup_clamp().build(sq_entries)
}

#[cold]
fn invalid_input(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// What the backend knows of one connection slot.
#[derive(Clone, Copy)]
struct Conn {
    /// The registered token, or `NO_TOKEN` when the slot is free.
    token: u64,
    fd: RawFd,
    /// A multishot recv is submitted or queued and has not posted its last CQE.
    recv_armed: bool,
    /// `ReadClosed` was reported; later recv completions are ignored.
    read_closed: bool,
    /// Header of this slot's multi-iovec `sendmsg`; the kernel reads it at submission.
    msg: libc::msghdr,
}

impl Conn {
    const FREE: Conn = Conn {
        token: NO_TOKEN,
        fd: -1,
        recv_armed: false,
        read_closed: false,
        // SAFETY: `msghdr` is plain C data; all zeroes is valid (null pointers, no lengths).
        msg: unsafe { std::mem::zeroed() },
    };
}

/// Connection slots indexed by the token's slab index, in chunks that never move.
struct ConnTable {
    chunks: Vec<Box<[Conn]>>,
}

impl ConnTable {
    fn slot_mut(&mut self, slot: usize) -> &mut Conn {
        let chunk = slot / CONN_CHUNK_SLOTS;
        while self.chunks.len() <= chunk {
            self.grow();
        }
        &mut self.chunks[chunk][slot % CONN_CHUNK_SLOTS]
    }

    #[cold]
    fn grow(&mut self) {
        self.chunks.push(vec![Conn::FREE; CONN_CHUNK_SLOTS].into_boxed_slice());
    }

    /// The slot of `token` if `token` (with this generation) is registered.
    fn live(&mut self, token: u64) -> Option<&mut Conn> {
        let slot = slot_of(token);
        let conn = self.chunks.get_mut(slot / CONN_CHUNK_SLOTS)?.get_mut(slot % CONN_CHUNK_SLOTS)?;
        (conn.token == token).then_some(conn)
    }
}

/// A provided-buffer ring: `count` [`BufRingEntry`]s followed by `count` buffers of
/// `buf_bytes` each, in one page-aligned anonymous mapping. The kernel takes buffers
/// from the head; we put them back at the tail.
pub(super) struct BufRing {
    map: *mut u8,
    /// Length of the mapping, bytes.
    map_len: usize,
    /// Offset of buffer 0 from `map` (the entries rounded up to a page), bytes.
    bufs_offset: usize,
    /// Size of each buffer, bytes.
    buf_bytes: u32,
    count: u16,
    /// Free-running tail; published to the kernel by `publish`.
    tail: u16,
    /// Debug builds: which buffers the kernel holds, to catch a double recycle (which
    /// would let two recvs share a buffer) or a lent buffer handed back early.
    #[cfg(debug_assertions)]
    in_kernel: Vec<bool>,
}

impl BufRing {
    /// Map and fill a ring of `count` (a power of two) buffers of `buf_bytes`.
    pub(super) fn new(count: u16, buf_bytes: u32) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > MAX_BUF_RING_ENTRIES {
            return Err(invalid_input("read_buffer_count must be a power of two up to 32768"));
        }
        let page = page_size();
        let bufs_offset = (usize::from(count) * std::mem::size_of::<BufRingEntry>()).next_multiple_of(page);
        let map_len = bufs_offset + usize::from(count) * buf_bytes as usize;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let map = unsafe { libc::mmap(std::ptr::null_mut(), map_len, prot, flags, -1, 0) };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut ring = BufRing {
            map: map.cast(),
            map_len,
            bufs_offset,
            buf_bytes,
            count,
            tail: 0,
            #[cfg(debug_assertions)]
            in_kernel: vec![false; usize::from(count)],
        };
        for bid in 0..count {
            ring.stage(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// Address to register with the kernel.
    pub(super) fn addr(&self) -> u64 {
        self.map as u64
    }

    pub(super) fn entries(&self) -> u16 {
        self.count
    }

    /// Give buffer `bid` back to the kernel.
    pub(super) fn recycle(&mut self, bid: u16) {
        self.stage(bid);
        self.publish();
    }

    /// A completion handed buffer `bid` to us (debug bookkeeping only).
    pub(super) fn taken(&mut self, bid: u16) {
        #[cfg(debug_assertions)]
        {
            let in_kernel = std::mem::replace(&mut self.in_kernel[usize::from(bid)], false);
            assert!(in_kernel, "kernel handed out buffer {bid}, which it did not hold");
        }
        let _ = bid;
    }

    /// Write buffer `bid` into the entry at the tail, not yet visible to the kernel.
    fn stage(&mut self, bid: u16) {
        debug_assert!(bid < self.count);
        #[cfg(debug_assertions)]
        {
            let in_kernel = std::mem::replace(&mut self.in_kernel[usize::from(bid)], true);
            assert!(!in_kernel, "buffer {bid} recycled twice");
        }
        let slot = usize::from(self.tail & (self.count - 1));
        let addr = self.buf_ptr(bid) as u64;
        // SAFETY: `slot < count`, so the entry lies inside the mapping. The kernel reads
        // only entries between its head and the published tail; this one is at the
        // unpublished tail (we hand back only buffers it gave us, so at most `count` are
        // ever queued). The setters leave entry 0's tail field alone.
        let entry = unsafe { &mut *self.map.cast::<BufRingEntry>().add(slot) };
        entry.set_addr(addr);
        entry.set_len(self.buf_bytes);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Make staged entries visible to the kernel.
    fn publish(&self) {
        // SAFETY: `tail` points at a `u16` inside entry 0 of our live mapping, suitably
        // aligned for `AtomicU16`; the kernel reads it concurrently, hence the atomic
        // store, and `Release` orders the staged entries before it.
        unsafe {
            let tail = BufRingEntry::tail(self.map.cast::<BufRingEntry>()).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        self.map.wrapping_add(self.bufs_offset + usize::from(bid) * self.buf_bytes as usize)
    }

    /// The first `len` bytes of buffer `bid`.
    ///
    /// # Safety
    /// A completion must have handed `bid` to us, and it must not be recycled while the
    /// slice lives.
    unsafe fn slice(&mut self, bid: u16, len: usize) -> &mut [u8] {
        debug_assert!(bid < self.count && len <= self.buf_bytes as usize);
        // SAFETY: buffer `bid` lies inside the mapping and is ours (the caller's contract).
        unsafe { std::slice::from_raw_parts_mut(self.buf_ptr(bid), len) }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped. Owners cancel their requests and
        // unregister the ring first, so no recv can still be writing into the buffers.
        unsafe {
            libc::munmap(self.map.cast(), self.map_len);
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Socket, Type};
    use std::io::{Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpStream};
    use std::thread;

    /// Longest any test waits for its traffic, in seconds.
    const TEST_DEADLINE_SECS: u64 = 60;

    /// Owned copy of an event, so tests can collect them.
    #[derive(Debug)]
    enum Ev {
        Accepted(OwnedFd),
        Data(u64, Vec<u8>),
        ReadClosed(u64, i32),
        Written(u64, i32),
        Wake,
    }

    fn uring_available() -> bool {
        match crate::io::probe::probe_uring() {
            Ok(()) => true,
            Err(why) => {
                eprintln!("skipped: io_uring unavailable: {why}");
                false
            }
        }
    }

    fn listener() -> (OwnedFd, SocketAddr) {
        let sock =
            Socket::new(Domain::IPV4, Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP)).unwrap();
        sock.set_reuse_address(true).unwrap();
        sock.set_reuse_port(true).unwrap();
        sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        sock.listen(1024).unwrap();
        let addr = sock.local_addr().unwrap().as_socket().unwrap();
        (sock.into(), addr)
    }

    fn eventfd() -> OwnedFd {
        // SAFETY: eventfd returns a new fd or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(fd >= 0, "eventfd: {}", io::Error::last_os_error());
        // SAFETY: fresh fd owned by nobody else.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    fn opts(ring_entries: u32, read_buffer_count: u16, read_buffer_bytes: usize) -> BackendOptions {
        BackendOptions { ring_entries, read_buffer_bytes, read_buffer_count, read_budget_bytes: 64 * 1024 }
    }

    /// Which ring setup a test runs on.
    #[derive(Clone, Copy)]
    enum Ring {
        /// What `new` builds (`SINGLE_ISSUER | DEFER_TASKRUN` here).
        Tuned,
        /// The fallback for kernels that refuse those flags.
        Plain,
    }

    fn make(ring: Ring, listener: OwnedFd, wake_fd: RawFd, opts: &BackendOptions) -> UringIo {
        match ring {
            Ring::Tuned => UringIo::new(listener, wake_fd, opts).unwrap(),
            Ring::Plain => {
                let cq_entries = opts.ring_entries * CQ_ENTRIES_PER_SQ_ENTRY;
                let ring = build_plain_ring(opts.ring_entries, cq_entries).unwrap();
                assert!(!ring.params().is_setup_single_issuer());
                let (count, bytes) = (opts.read_buffer_count, opts.read_buffer_bytes as u32);
                UringIo::with_ring(ring, listener, wake_fd, count, bytes).unwrap()
            }
        }
    }

    /// A backend on a fresh listener; the eventfd is returned to keep it open.
    fn backend(opts: &BackendOptions) -> (UringIo, SocketAddr, OwnedFd) {
        backend_on(Ring::Tuned, opts)
    }

    fn backend_on(ring: Ring, opts: &BackendOptions) -> (UringIo, SocketAddr, OwnedFd) {
        let (listener, addr) = listener();
        let wake = eventfd();
        let io = make(ring, listener, wake.as_raw_fd(), opts);
        (io, addr, wake)
    }

    /// Wait and collect events until `done` says so or `limit` passes.
    fn pump(io: &mut UringIo, limit: Duration, mut done: impl FnMut(&[Ev]) -> bool) -> Vec<Ev> {
        let start = Instant::now();
        let mut events = Vec::new();
        while !done(&events) && start.elapsed() < limit {
            io.wait(Some(Duration::from_millis(10))).unwrap();
            while let Some(event) = io.next_event() {
                events.push(match event {
                    Event::Accepted { fd } => Ev::Accepted(fd),
                    Event::Data { token, data } => Ev::Data(token, data.to_vec()),
                    Event::ReadClosed { token, errno } => Ev::ReadClosed(token, errno),
                    Event::Written { token, result } => Ev::Written(token, result),
                    Event::Wake => Ev::Wake,
                    Event::Writable { .. } => panic!("io_uring never reports Writable"),
                });
            }
        }
        events
    }

    /// Connect a client and register the accepted side as `token`.
    fn connect(io: &mut UringIo, addr: SocketAddr, token: u64) -> (TcpStream, OwnedFd) {
        let client = TcpStream::connect(addr).unwrap();
        let mut events = pump(io, Duration::from_secs(5), |evs| !evs.is_empty());
        let Some(Ev::Accepted(fd)) = events.pop() else { panic!("expected Accepted, got {events:?}") };
        io.add_conn(token, fd.as_raw_fd()).unwrap();
        (client, fd)
    }

    /// Deterministic pseudo-random bytes (xorshift64*), so order errors show up.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn payload(client: usize, len: usize) -> Vec<u8> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (client as u64 + 1));
        (0..len).map(|_| rng.next() as u8).collect()
    }

    /// A client that sends `len` bytes in random chunks of at most `max_chunk`, half
    /// closes, and checks that exactly the same bytes come back before EOF.
    fn spawn_client(addr: SocketAddr, client: usize, len: usize, max_chunk: usize) -> thread::JoinHandle<()> {
        let spawn = |f| thread::Builder::new().stack_size(256 * 1024).spawn(f).unwrap();
        spawn(Box::new(move || {
            let data = payload(client, len);
            let mut stream = TcpStream::connect(addr).unwrap();
            let mut reader = stream.try_clone().unwrap();
            let sent = data.clone();
            let writer = thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut rng = Rng(client as u64 * 7919 + 17);
                    let mut at = 0;
                    while at < sent.len() {
                        let chunk = (1 + rng.next() as usize % max_chunk).min(sent.len() - at);
                        stream.write_all(&sent[at..at + chunk]).unwrap();
                        at += chunk;
                    }
                    stream.shutdown(Shutdown::Write).unwrap();
                })
                .unwrap();
            let mut echoed = Vec::with_capacity(len);
            reader.read_to_end(&mut echoed).unwrap();
            writer.join().unwrap();
            assert!(echoed == data, "client {client}: echo differs ({} of {len} bytes)", echoed.len());
        }) as Box<dyn FnOnce() + Send>)
    }

    /// One echoed connection; boxed so `iov` stays put while a write is in flight.
    struct EchoConn {
        token: u64,
        fd: OwnedFd,
        pending: Vec<u8>,
        inflight: Vec<u8>,
        iov: [libc::iovec; 2],
        writing: bool,
        read_closed: bool,
    }

    /// An echo server over the backend, with a slab of connections and generations.
    struct Echo {
        io: UringIo,
        slots: Vec<Option<Box<EchoConn>>>,
        generations: Vec<u64>,
        finished: usize,
    }

    impl Echo {
        fn run(&mut self, connections: usize) {
            let start = Instant::now();
            while self.finished < connections {
                assert!(start.elapsed() < Duration::from_secs(TEST_DEADLINE_SECS), "echo timed out");
                self.io.wait(Some(Duration::from_millis(100))).unwrap();
                while let Some(event) = self.io.next_event() {
                    match event {
                        Event::Accepted { fd } => self.accept(fd),
                        Event::Data { token, data } => {
                            conn_of(&mut self.slots, token).pending.extend_from_slice(data);
                            self.start_write(token);
                        }
                        Event::ReadClosed { token, errno } => {
                            assert_eq!(errno, 0);
                            let conn = self.conn(token);
                            assert!(!conn.read_closed, "second ReadClosed for {token:#x}");
                            conn.read_closed = true;
                            self.maybe_finish(token);
                        }
                        Event::Written { token, result } => self.written(token, result),
                        Event::Wake | Event::Writable { .. } => panic!("unexpected event"),
                    }
                }
            }
        }

        fn accept(&mut self, fd: OwnedFd) {
            let slot = self.slots.iter().position(Option::is_none).unwrap_or_else(|| {
                self.slots.push(None);
                self.generations.push(0);
                self.slots.len() - 1
            });
            self.generations[slot] += 1;
            let token = slot as u64 | self.generations[slot] << 32;
            self.io.add_conn(token, fd.as_raw_fd()).unwrap();
            let iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; 2];
            let conn = EchoConn {
                token,
                fd,
                pending: Vec::new(),
                inflight: Vec::new(),
                iov,
                writing: false,
                read_closed: false,
            };
            self.slots[slot] = Some(Box::new(conn));
        }

        fn conn(&mut self, token: u64) -> &mut EchoConn {
            conn_of(&mut self.slots, token)
        }

        fn start_write(&mut self, token: u64) {
            let conn = self.slots[slot_of(token)].as_deref_mut().unwrap();
            if conn.writing || (conn.inflight.is_empty() && conn.pending.is_empty()) {
                return;
            }
            if conn.inflight.is_empty() {
                std::mem::swap(&mut conn.inflight, &mut conn.pending);
            }
            // Even lengths go out as two iovecs (sendmsg), odd ones as one (send).
            let len = conn.inflight.len();
            let first = if len.is_multiple_of(2) { len / 2 } else { len };
            let base = conn.inflight.as_mut_ptr();
            conn.iov[0] = libc::iovec { iov_base: base.cast(), iov_len: first };
            conn.iov[1] = libc::iovec { iov_base: base.wrapping_add(first).cast(), iov_len: len - first };
            let count = if first < len { 2 } else { 1 };
            conn.writing = true;
            // SAFETY: `inflight` and the boxed `iov` are left alone until `Written`.
            let start = unsafe { self.io.write(token, conn.fd.as_raw_fd(), &conn.iov[..count]) };
            assert_eq!(start, WriteStart::Pending);
        }

        fn written(&mut self, token: u64, result: i32) {
            assert!(result > 0, "write for {token:#x} failed: {result}");
            let conn = self.conn(token);
            conn.writing = false;
            conn.inflight.drain(..result as usize);
            self.start_write(token);
            self.maybe_finish(token);
        }

        fn maybe_finish(&mut self, token: u64) {
            let conn = conn_of(&mut self.slots, token);
            if conn.read_closed && !conn.writing && conn.inflight.is_empty() && conn.pending.is_empty() {
                crate::io::shutdown(conn.fd.as_raw_fd());
                self.io.remove_conn(token, conn.fd.as_raw_fd());
                self.slots[slot_of(token)] = None;
                self.finished += 1;
            }
        }
    }

    fn conn_of(slots: &mut [Option<Box<EchoConn>>], token: u64) -> &mut EchoConn {
        let conn = slots[slot_of(token)].as_deref_mut().expect("event for a free slot");
        assert_eq!(conn.token, token, "event for a stale token");
        conn
    }

    /// Run `clients` echo clients of `len` bytes each against a fresh backend.
    fn echo_test(opts: &BackendOptions, clients: usize, len: usize, max_chunk: usize) -> UringIo {
        echo_test_on(Ring::Tuned, opts, clients, len, max_chunk)
    }

    fn echo_test_on(
        ring: Ring,
        opts: &BackendOptions,
        clients: usize,
        len: usize,
        max_chunk: usize,
    ) -> UringIo {
        let (listener, addr) = listener();
        let handles: Vec<_> = (0..clients).map(|c| spawn_client(addr, c, len, max_chunk)).collect();
        let wake = eventfd();
        let io = make(ring, listener, wake.as_raw_fd(), opts);
        let mut echo = Echo { io, slots: Vec::new(), generations: Vec::new(), finished: 0 };
        echo.run(clients);
        for handle in handles {
            handle.join().unwrap();
        }
        echo.io
    }

    #[test]
    fn echo_many_clients_random_chunks() {
        if uring_available() {
            echo_test(&opts(256, 64, 16 * 1024), 200, 100 * 1024, 16 * 1024);
        }
    }

    #[test]
    fn echo_survives_buffer_ring_exhaustion() {
        if uring_available() {
            let io = echo_test(&opts(256, 8, 4096), 64, 64 * 1024, 32 * 1024);
            assert!(io.nobufs > 0, "the 8-buffer ring never ran dry; the test proves nothing");
        }
    }

    #[test]
    fn tiny_submission_queue_never_drops_ops() {
        if uring_available() {
            echo_test(&opts(4, 16, 4096), 50, 8 * 1024, 1024);
        }
    }

    #[test]
    fn default_options_echo() {
        if uring_available() {
            echo_test(&BackendOptions::default(), 4, 256 * 1024, 64 * 1024);
        }
    }

    #[test]
    fn eof_reports_one_read_closed() {
        if !uring_available() {
            return;
        }
        let (mut io, addr, _wake) = backend(&opts(64, 8, 4096));
        let (mut client, fd) = connect(&mut io, addr, 7);
        client.write_all(b"hello").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let closed = |evs: &[Ev]| evs.iter().any(|e| matches!(e, Ev::ReadClosed(..)));
        let events = pump(&mut io, Duration::from_secs(5), closed);
        let data: Vec<u8> =
            events.iter().flat_map(|e| if let Ev::Data(7, d) = e { d.clone() } else { vec![] }).collect();
        assert_eq!(data, b"hello");
        assert!(matches!(events.last(), Some(Ev::ReadClosed(7, 0))), "{events:?}");
        let later = pump(&mut io, Duration::from_millis(100), |_| false);
        assert!(later.is_empty(), "events after ReadClosed: {later:?}");
        io.remove_conn(7, fd.as_raw_fd());
        drop(fd);
        let after_remove = pump(&mut io, Duration::from_millis(50), |_| false);
        assert!(after_remove.is_empty(), "{after_remove:?}");
    }

    /// Shut down and remove a connection whose recv is armed; the client keeps sending.
    fn remove_live_conn(ring: Ring, shutdown_first: bool) {
        let (mut io, addr, _wake) = backend_on(ring, &opts(64, 8, 4096));
        let token = 3 | 1 << 32;
        let (mut client, fd) = connect(&mut io, addr, token);
        client.write_all(b"first").unwrap();
        let events = pump(&mut io, Duration::from_secs(5), |evs| !evs.is_empty());
        assert!(matches!(&events[..], [Ev::Data(t, d)] if *t == token && d == b"first"), "{events:?}");
        if shutdown_first {
            crate::io::shutdown(fd.as_raw_fd());
        }
        io.remove_conn(token, fd.as_raw_fd());
        drop(fd);
        let _ = client.write_all(b"after removal");
        let events = pump(&mut io, Duration::from_millis(200), |_| false);
        assert!(events.is_empty(), "events after remove_conn: {events:?}");
        // The peer sees the close, and the slot serves a new generation cleanly.
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest);
        let next = 3 | 2 << 32;
        let (mut client, _fd) = connect(&mut io, addr, next);
        client.write_all(b"second").unwrap();
        let events = pump(&mut io, Duration::from_secs(5), |evs| !evs.is_empty());
        assert!(matches!(&events[..], [Ev::Data(t, d)] if *t == next && d == b"second"), "{events:?}");
    }

    #[test]
    fn remove_live_conn_after_shutdown() {
        if uring_available() {
            remove_live_conn(Ring::Tuned, true);
        }
    }

    #[test]
    fn remove_live_conn_without_shutdown_cancels_recv() {
        if uring_available() {
            remove_live_conn(Ring::Tuned, false);
        }
    }

    #[test]
    fn plain_ring_echo_exhaustion_and_removal() {
        if uring_available() {
            let io = echo_test_on(Ring::Plain, &opts(64, 8, 4096), 64, 32 * 1024, 8 * 1024);
            assert!(io.nobufs > 0);
            remove_live_conn(Ring::Plain, true);
            remove_live_conn(Ring::Plain, false);
        }
    }

    #[test]
    fn wake_from_other_thread() {
        if !uring_available() {
            return;
        }
        let (mut io, _addr, wake) = backend(&opts(64, 8, 4096));
        for round in 0..3 {
            let raw = wake.as_raw_fd();
            let waker = thread::spawn(move || {
                thread::sleep(Duration::from_millis(30));
                // SAFETY: writes 8 bytes from a live u64 to an eventfd kept open by the test.
                let n = unsafe { libc::write(raw, (&1u64 as *const u64).cast(), 8) };
                assert_eq!(n, 8);
            });
            let start = Instant::now();
            let mut woke = false;
            while !woke {
                assert!(start.elapsed() < Duration::from_secs(5), "no Wake in round {round}");
                io.wait(None).unwrap();
                while let Some(event) = io.next_event() {
                    woke |= matches!(event, Event::Wake);
                }
            }
            waker.join().unwrap();
        }
    }

    /// The `EAGAIN` fallback: a poll on the eventfd also reports `Wake` and re-arms.
    #[test]
    fn wake_poll_fallback_reports_wake() {
        if !uring_available() {
            return;
        }
        let (mut io, _addr, wake) = backend(&opts(64, 8, 4096));
        io.arm_wake_poll();
        io.wait(Some(Duration::ZERO)).unwrap();
        // SAFETY: writes 8 bytes from a live u64 to an eventfd kept open by the test.
        assert_eq!(unsafe { libc::write(wake.as_raw_fd(), (&1u64 as *const u64).cast(), 8) }, 8);
        let events = pump(&mut io, Duration::from_secs(5), |evs| evs.len() >= 2);
        assert!(events.iter().all(|e| matches!(e, Ev::Wake)) && events.len() >= 2, "{events:?}");
    }

    #[test]
    fn wait_times_out_without_events() {
        if !uring_available() {
            return;
        }
        let (mut io, _addr, _wake) = backend(&opts(64, 8, 4096));
        io.wait(Some(Duration::ZERO)).unwrap(); // submits accept and wake reads
        assert!(io.next_event().is_none());
        for _ in 0..3 {
            let start = Instant::now();
            io.wait(Some(Duration::from_millis(10))).unwrap();
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(9) && took < Duration::from_secs(1), "{took:?}");
            assert!(io.next_event().is_none());
        }
        let start = Instant::now();
        io.wait(Some(Duration::ZERO)).unwrap();
        assert!(start.elapsed() < Duration::from_millis(100), "a zero timeout slept");
    }

    #[test]
    fn accepted_socket_is_nonblocking_nodelay() {
        if !uring_available() {
            return;
        }
        let (mut io, addr, _wake) = backend(&opts(64, 8, 4096));
        let (_client, fd) = connect(&mut io, addr, 1);
        // SAFETY: F_GETFL on an fd we own.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        assert!(flags & libc::O_NONBLOCK != 0);
        assert!(socket2::SockRef::from(&fd).nodelay().unwrap());
    }

    #[test]
    fn write_to_reset_peer_reports_error() {
        if !uring_available() {
            return;
        }
        let (mut io, addr, _wake) = backend(&opts(64, 8, 4096));
        let (client, fd) = connect(&mut io, addr, 9);
        socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO)).unwrap();
        drop(client); // RST
        let buf = vec![7u8; 64 * 1024];
        let mut last = 0;
        for _ in 0..100 {
            let iov = [libc::iovec { iov_base: buf.as_ptr().cast_mut().cast(), iov_len: buf.len() }];
            // SAFETY: `buf` and `iov` live until the Written event pumped below.
            assert_eq!(unsafe { io.write(9, fd.as_raw_fd(), &iov) }, WriteStart::Pending);
            let written = |evs: &[Ev]| evs.iter().any(|e| matches!(e, Ev::Written(..)));
            let events = pump(&mut io, Duration::from_secs(5), written);
            last =
                events.iter().find_map(|e| if let Ev::Written(9, r) = e { Some(*r) } else { None }).unwrap();
            if last < 0 {
                break;
            }
        }
        assert!(last == -libc::ECONNRESET || last == -libc::EPIPE, "last write result {last}");
    }

    #[test]
    fn drop_with_armed_requests_is_prompt() {
        if !uring_available() {
            return;
        }
        let start = Instant::now();
        for round in 0..20 {
            let (mut io, addr, _wake) = backend(&opts(64, 8, 4096));
            let (_client, _fd) = connect(&mut io, addr, round);
            io.wait(Some(Duration::ZERO)).unwrap();
            drop(io);
        }
        // A drop that waited out its cancel timeout would take a second each.
        assert!(start.elapsed() < Duration::from_secs(10), "dropping took {:?}", start.elapsed());
    }

    #[test]
    fn rejects_bad_buffer_options() {
        if !uring_available() {
            return;
        }
        for bad in [opts(64, 6, 4096), opts(64, 0, 4096), opts(64, 8, 0)] {
            let (listener, _addr) = listener();
            let wake = eventfd();
            let err = UringIo::new(listener, wake.as_raw_fd(), &bad).err().expect("accepted bad options");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn stays_small_inside_backend() {
        println!("size_of::<UringIo>() = {}", std::mem::size_of::<UringIo>());
        assert!(std::mem::size_of::<UringIo>() <= 192);
    }

    #[test]
    fn ring_uses_single_issuer_when_offered() {
        if !uring_available() {
            return;
        }
        let (io, _addr, _wake) = backend(&opts(64, 8, 4096));
        println!("single_issuer = {}", io.ring.params().is_setup_single_issuer());
    }
}
