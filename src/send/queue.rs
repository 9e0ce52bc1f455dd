//! A connection's outbound frames, bounded by a byte budget.
//!
//! Owns: frames queued but not yet written, the frames of the write in flight (kept
//! alive until the kernel is done with them), and the `iovec`s describing that write.
//! Small frames are copied into one coalescing buffer; large frames are referenced as
//! shared `Bytes` (no copy). Enqueueing never writes: flushing is `send::flush`'s job,
//! once per tick (DESIGN §1 "write once per tick").
//!
//! Memory: an idle queue holds no heap allocation.

use bytes::{Buf, Bytes, BytesMut};

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
        }
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
    #[inline]
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

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.pending.push(self.tail.split().freeze());
        }
    }

    /// Describe the next write: the unwritten rest of the previous one (after a partial
    /// or refused write), else everything queued. `None` when nothing is queued. The
    /// returned iovecs stay valid until [`SendQueue::written`] or [`SendQueue::discard`].
    /// The caller must not call this again while the kernel still holds a write.
    pub fn start_write(&mut self) -> Option<&[libc::iovec]> {
        if !self.inflight.is_empty() {
            return self.rebuild_iov();
        }
        self.seal_tail();
        if self.pending.is_empty() {
            return None;
        }
        std::mem::swap(&mut self.pending, &mut self.inflight);
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

    /// Drop everything after the socket failed: no write is in flight any more (the
    /// kernel has reported it), so every buffer can go.
    pub fn discard(&mut self) {
        *self = SendQueue::new();
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
    fn idle_queue_holds_no_heap() {
        let q = SendQueue::new();
        assert_eq!(q.pending.capacity() + q.inflight.capacity() + q.tail.capacity() + q.iov.capacity(), 0);
    }
}
