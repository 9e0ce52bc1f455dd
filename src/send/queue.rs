//! A connection's outbound frames, bounded by a byte budget.
//!
//! Owns: frames queued but not yet written, the frames of the write in flight (kept
//! alive until the kernel is done with them), and the `iovec`s describing that write.
//! Small frames are copied into one coalescing buffer; large frames are referenced as
//! shared `Bytes` (no copy). Enqueueing never writes: flushing is `send::flush`'s job,
//! once per tick (DESIGN §1 "write once per tick").
//!
//! Memory: an idle queue holds no heap allocation.
//!
//! Safety of kernel-held memory: while a write is in flight (io_uring holds its iovecs
//! and the buffers they point at), nothing in the safe API frees them. `discard` keeps
//! them until the write's completion; dropping a queue with a write in flight leaks them
//! (and counts it in [`writes_leaked`]) rather than hand the kernel freed memory.

use bytes::{Buf, Bytes, BytesMut};
use std::sync::atomic::{AtomicU64, Ordering};

/// Queues dropped while the kernel still held their write (see the module docs).
static WRITES_LEAKED: AtomicU64 = AtomicU64::new(0);

/// How many queues were dropped with a write in flight, process-wide. The shard waits
/// for every completion before freeing its connections, so this stays 0.
pub fn writes_leaked() -> u64 {
    WRITES_LEAKED.load(Ordering::Relaxed)
}

/// Frames up to this size are copied into the coalescing buffer: a copy of a few
/// hundred bytes costs less than an extra iovec and keeps most writes to one segment.
pub const COPY_THRESHOLD_BYTES: usize = 1024;

/// Segments per write; the kernel's `UIO_MAXIOV`.
const MAX_IOV: usize = 1024;

/// Outcome of enqueueing a frame.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Queued; will be written at the end of the tick.
    Queued,
    /// Not queued: the connection's budget would be exceeded. The caller applies the
    /// slow-consumer policy (close it).
    Backpressured,
}

/// Frames waiting for a connection's socket.
#[derive(Debug, Default)]
pub struct SendQueue {
    /// Segments not yet handed to the kernel, in order (excluding `tail`).
    pending: Vec<Bytes>,
    /// Small frames copied together; logically after `pending`.
    tail: BytesMut,
    /// Segments of the write in flight, in order; `inflight[0]` may be partly written.
    inflight: Vec<Bytes>,
    /// iovecs of the write in flight; pointers into `inflight`.
    iov: Vec<libc::iovec>,
    /// Bytes queued or in flight and not yet written.
    queued_bytes: usize,
    /// Of `queued_bytes`, those described by the write in flight.
    inflight_bytes: usize,
    /// A write of `inflight` was started and its outcome is not known yet.
    in_flight: bool,
    /// The socket failed while a write was in flight: drop everything on its completion.
    discard_on_completion: bool,
    /// TLS: the first `sealed` segments of `pending` are records already (see
    /// [`SendQueue::seal_pending`]).
    sealed: usize,
}

// SAFETY: the raw pointers in `iov` point into `inflight`'s `Bytes`, owned by this
// queue; the queue moves between threads only as a whole.
unsafe impl Send for SendQueue {}

impl SendQueue {
    pub fn new() -> Self {
        SendQueue {
            pending: Vec::new(),
            tail: BytesMut::new(),
            inflight: Vec::new(),
            iov: Vec::new(),
            queued_bytes: 0,
            inflight_bytes: 0,
            in_flight: false,
            discard_on_completion: false,
            sealed: 0,
        }
    }

    /// A write is in flight: the kernel may still read its buffers.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Everything handed to the kernel so far was whole: no write is in flight and no
    /// partly written one waits to be resumed. Only then may other bytes go out first.
    pub fn at_frame_boundary(&self) -> bool {
        !self.in_flight && self.inflight.is_empty()
    }

    /// Bytes not yet written (queued + in flight).
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.queued_bytes == 0
    }

    /// Bytes not yet handed to the kernel (queued behind the write in flight, or all of
    /// them when no write is in flight). The slow-consumer test uses this after a flush.
    pub fn pending_bytes(&self) -> usize {
        self.queued_bytes - self.inflight_bytes
    }

    /// Queue a frame unless the queue would pass `cap_bytes` (a hard memory bound; the
    /// slow-consumer policy itself is applied after each flush). Hot path: O(1) amortised.
    #[inline(always)]
    pub fn push(&mut self, frame: &Bytes, cap_bytes: usize) -> SendStatus {
        if self.queued_bytes + frame.len() > cap_bytes {
            return SendStatus::Backpressured;
        }
        self.queued_bytes += frame.len();
        if frame.len() <= COPY_THRESHOLD_BYTES {
            self.tail.extend_from_slice(frame);
        } else {
            self.seal_tail();
            self.pending.push(frame.clone());
        }
        SendStatus::Queued
    }

    /// Queue a frame regardless of the budget (control frames: pong, close).
    pub fn push_control(&mut self, frame: &[u8]) {
        self.queued_bytes += frame.len();
        self.tail.extend_from_slice(frame);
    }

    /// TLS: replace what was queued since the last call (not yet handed to the kernel)
    /// by `seal(those segments)`, the records that carry it; the byte count follows.
    /// Segments already sealed or in flight are left alone.
    pub fn seal_pending(&mut self, seal: impl FnOnce(&[Bytes]) -> Bytes) {
        self.seal_tail();
        let plain = self.pending.split_off(self.sealed);
        let plain_bytes: usize = plain.iter().map(Bytes::len).sum();
        let records = seal(&plain);
        self.queued_bytes = self.queued_bytes - plain_bytes + records.len();
        if !records.is_empty() {
            self.pending.push(records);
        }
        self.sealed = self.pending.len();
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.pending.push(self.tail.split().freeze());
        }
    }

    /// Describe the next write: the unwritten rest of the previous one (after a partial
    /// or refused write), else everything queued. `None` when nothing is queued. The
    /// returned iovecs stay valid until [`SendQueue::written`] or [`SendQueue::discard`].
    /// Returns `None` as well while a write is already in flight.
    pub fn start_write(&mut self) -> Option<&[libc::iovec]> {
        if self.in_flight || self.discard_on_completion {
            return None;
        }
        if self.inflight.is_empty() {
            self.seal_tail();
            if self.pending.is_empty() {
                return None;
            }
            std::mem::swap(&mut self.pending, &mut self.inflight);
            self.sealed = 0;
        }
        self.in_flight = true;
        self.rebuild_iov()
    }

    fn rebuild_iov(&mut self) -> Option<&[libc::iovec]> {
        self.iov.clear();
        self.inflight_bytes = 0;
        for seg in self.inflight.iter().take(MAX_IOV) {
            self.iov.push(libc::iovec { iov_base: seg.as_ptr() as *mut libc::c_void, iov_len: seg.len() });
            self.inflight_bytes += seg.len();
        }
        Some(&self.iov)
    }

    /// Account for `n` bytes written by the write in flight. Returns true when the
    /// whole write is done (false: a partial write; call `start_write` again).
    pub fn written(&mut self, mut n: usize) -> bool {
        self.in_flight = false;
        if std::mem::take(&mut self.discard_on_completion) {
            *self = SendQueue::new();
            return true;
        }
        self.queued_bytes -= n;
        self.inflight_bytes = 0;
        let mut done = 0;
        for seg in self.inflight.iter_mut() {
            if n >= seg.len() {
                n -= seg.len();
                done += 1;
            } else {
                seg.advance(n);
                break;
            }
        }
        self.inflight.drain(..done);
        self.iov.clear();
        if self.inflight.is_empty() {
            self.release_idle_memory();
            true
        } else {
            false
        }
    }

    /// The write in flight failed: the kernel is done with it; drop everything.
    pub fn write_failed(&mut self) {
        self.in_flight = false;
        self.discard_on_completion = false;
        *self = SendQueue::new();
    }

    /// The completion of the write in flight: `result` bytes written, or `-errno`.
    pub fn write_failed_or_done(&mut self, result: i32) {
        if result < 0 {
            self.write_failed();
        } else {
            self.written(result as usize);
        }
    }

    /// Drop everything queued (the connection is going away). A write in flight keeps
    /// its buffers until its completion ([`SendQueue::written`] / `write_failed`).
    pub fn discard(&mut self) {
        if !self.in_flight {
            *self = SendQueue::new();
            return;
        }
        self.pending = Vec::new();
        self.sealed = 0;
        self.tail = BytesMut::new();
        self.discard_on_completion = true;
    }

    /// After a burst, give back capacity so idle connections cost nothing.
    fn release_idle_memory(&mut self) {
        if self.pending.is_empty() && self.tail.is_empty() {
            if self.inflight.capacity() > 64 {
                self.inflight = Vec::new();
            }
            if self.tail.capacity() > 64 * 1024 {
                self.tail = BytesMut::new();
            }
        }
    }
}

impl Drop for SendQueue {
    /// Never free what the kernel may still read: leak a write in flight instead.
    fn drop(&mut self) {
        if self.in_flight {
            WRITES_LEAKED.fetch_add(1, Ordering::Relaxed);
            std::mem::forget(std::mem::take(&mut self.inflight));
            std::mem::forget(std::mem::take(&mut self.iov));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_all(q: &mut SendQueue) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(iov) = q.start_write() {
            let iov = iov.to_vec();
            let mut n = 0;
            for v in &iov {
                // SAFETY: iovecs point at live Bytes owned by the queue.
                out.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
                });
                n += v.iov_len;
            }
            assert!(q.written(n));
        }
        out
    }

    #[test]
    fn small_frames_coalesce_and_order_is_kept() {
        let mut q = SendQueue::new();
        let big = Bytes::from(vec![b'B'; 5000]);
        assert_eq!(q.push(&Bytes::from_static(b"a1"), 1 << 20), SendStatus::Queued);
        assert_eq!(q.push(&Bytes::from_static(b"a2"), 1 << 20), SendStatus::Queued);
        assert_eq!(q.push(&big, 1 << 20), SendStatus::Queued);
        assert_eq!(q.push(&Bytes::from_static(b"c"), 1 << 20), SendStatus::Queued);
        assert_eq!(q.start_write().unwrap().len(), 3, "a1a2 coalesced, big referenced, c");
        q.written(0);
        let out = drain_all(&mut q);
        assert_eq!(&out[..4], b"a1a2");
        assert_eq!(out.len(), 4 + 5000 + 1);
        assert_eq!(out[out.len() - 1], b'c');
        assert!(q.is_empty());
    }

    #[test]
    fn budget_is_enforced() {
        let mut q = SendQueue::new();
        let f = Bytes::from(vec![0u8; 600]);
        assert_eq!(q.push(&f, 1000), SendStatus::Queued);
        assert_eq!(q.push(&f, 1000), SendStatus::Backpressured);
        assert_eq!(q.queued_bytes(), 600);
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut q = SendQueue::new();
        let big = Bytes::from((0..3000u32).map(|i| i as u8).collect::<Vec<_>>());
        let _ = q.push(&big, 1 << 20);
        let _ = q.push(&Bytes::from_static(b"xyz"), 1 << 20);
        q.start_write().unwrap();
        assert!(!q.written(1234));
        let rest = drain_all(&mut q);
        let mut expected = big[1234..].to_vec();
        expected.extend_from_slice(b"xyz");
        assert_eq!(rest, expected);
    }

    #[test]
    fn frames_queued_during_a_write_go_in_the_next_one() {
        let mut q = SendQueue::new();
        let _ = q.push(&Bytes::from_static(b"one"), 100);
        let n = q.start_write().unwrap().len();
        assert_eq!(n, 1);
        let _ = q.push(&Bytes::from_static(b"two"), 100);
        assert!(q.written(3));
        assert_eq!(drain_all(&mut q), b"two");
    }

    #[test]
    fn pending_bytes_excludes_the_write_in_flight() {
        let mut q = SendQueue::new();
        let _ = q.push(&Bytes::from_static(b"12345"), 100);
        assert_eq!(q.pending_bytes(), 5);
        q.start_write().unwrap();
        assert_eq!(q.pending_bytes(), 0);
        let _ = q.push(&Bytes::from_static(b"678"), 100);
        assert_eq!(q.pending_bytes(), 3);
        assert!(!q.written(2));
        assert_eq!(q.pending_bytes(), 6, "unwritten rest of the write counts until resubmitted");
    }

    #[test]
    fn a_write_in_flight_survives_discard_until_its_completion() {
        let mut q = SendQueue::new();
        let _ = q.push(&Bytes::from(vec![1u8; 4000]), 1 << 20);
        let ptr = q.start_write().unwrap()[0].iov_base;
        assert!(q.in_flight());
        assert!(q.start_write().is_none(), "one write at a time");
        let _ = q.push(&Bytes::from_static(b"later"), 1 << 20);
        q.discard();
        assert!(q.in_flight());
        assert_eq!(q.inflight[0].as_ptr() as *mut libc::c_void, ptr, "the kernel's buffer is still owned");
        assert!(q.start_write().is_none(), "nothing new starts after discard");
        assert!(q.written(10));
        assert!(q.is_empty() && !q.in_flight());
    }

    #[test]
    fn dropping_a_queue_in_flight_leaks_instead_of_freeing() {
        let before = writes_leaked();
        let mut q = SendQueue::new();
        let _ = q.push(&Bytes::from_static(b"abc"), 100);
        q.start_write().unwrap();
        drop(q);
        assert_eq!(writes_leaked(), before + 1);
    }

    #[test]
    fn idle_queue_holds_no_heap() {
        let q = SendQueue::new();
        assert_eq!(q.pending.capacity() + q.inflight.capacity() + q.tail.capacity() + q.iov.capacity(), 0);
    }
}
