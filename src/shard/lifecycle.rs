//! How a connection ends: politely (close frame, FIN, linger), at once (abort), by the
//! peer, or at shutdown — and when it may be freed.
//!
//! Owns: `start_close`, `abort`, reacting to `ReadClosed` and `Written`, reaping, and
//! the exit path that waits for the kernel to give back every buffer of a write in
//! flight before any connection is freed. Does not own: the close frames' bytes
//! (`transport`) or the protocols' reaction (they hear it through `release`).

use super::conns::{Hold, Life, Phase};
use super::State;
use crate::api::CloseReason;
use crate::error::CloseCause;
use crate::ids::{ConnId, Member};
use crate::io::{self, Backend, Event};
use crate::metrics::Counter;
use crate::transport::sockjs::framing;
use std::time::{Duration, Instant};

/// At exit, how long to wait for the kernel to finish or fail writes in flight before
/// cancelling them.
const EXIT_WRITES_WAIT_MS: u64 = 1000;

impl State {
    /// Close politely: the protocol hears it and the member leaves every room, the close
    /// frame is queued (WebSocket; in a write of its own after earlier output), queued
    /// output is written, the peer's close frame is awaited (WebSocket), then FIN, and
    /// the peer's EOF is awaited — all until the linger deadline.
    pub(super) fn start_close(&mut self, id: ConnId, cause: CloseCause, reason: &str) {
        let deadline_ms = self.clock.now_ms + self.ctx.config.limits.close_linger_ms;
        let Some(conn) = self.conns.get_mut(id).filter(|c| c.is_open()) else { return };
        conn.life = Life::Closing { deadline_ms, half_closed: false };
        log_close(id, cause);
        self.count_close(cause);
        self.drop_held(id);
        self.release(Member::Conn(id), close_reason(cause));
        let Some(conn) = self.conns.get_mut(id) else { return };
        if let Phase::Ws(ws) = &mut conn.phase {
            let reason = if reason.is_empty() { default_reason(cause) } else { reason };
            let mut last = Vec::new();
            let carrier = ws.carrier;
            if let (true, CloseCause::Application(code)) = (carrier.is_sockjs_websocket(), cause) {
                // sockjs §8.1: `c[code,"reason"]`, then WebSocket close 1000 "Normal closure".
                let text = framing::close_frame(code, reason);
                last.extend_from_slice(&carrier.text_frame(&text));
                last.extend_from_slice(&carrier.close_frame(1000, "Normal closure"));
            } else {
                last.extend_from_slice(&carrier.close_frame(cause.close_code(), reason));
            }
            // After a protocol error the peer's input is not read any more: no close
            // frame of its is awaited.
            ws.close_received = matches!(
                cause,
                CloseCause::PeerClose(_) | CloseCause::Protocol(_) | CloseCause::BrokenFraming
            );
            if conn.queue.is_empty() {
                conn.queue.push_control(&last);
            } else {
                // Output queued before (the 101 of a connection its handler closes at
                // once) is written first, the close frame in a write of its own.
                ws.final_frames = Some(last);
            }
        }
        self.conns.mark_dirty(id);
    }

    /// Close at once: the protocol hears it, the member leaves its rooms, and the socket
    /// is shut both ways (no close frame reaches a consumer that is not reading). Freed
    /// when the backend confirms.
    pub(super) fn abort(&mut self, id: ConnId, cause: Option<CloseCause>) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        if conn.life == Life::Aborted {
            return;
        }
        conn.life = Life::Aborted;
        io::shutdown(conn.raw_fd());
        if let Some(cause) = cause {
            log_close(id, cause);
        }
        self.conns.to_reap.push(id);
        self.drop_held(id);
        self.release(Member::Conn(id), cause.map_or(CloseReason::Client, close_reason));
    }

    /// A slow consumer: its queue is dropped and, best effort, its close frame (1008;
    /// SockJS `c[1008,"Send budget exceeded"]` first) is written straight to the socket
    /// when the kernel holds no partial frame of it, then it is aborted.
    pub(super) fn abort_slow_consumer(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id) {
            if let (Phase::Ws(ws), true) = (&conn.phase, conn.queue.at_frame_boundary()) {
                let mut last = Vec::new();
                if ws.carrier.is_sockjs_websocket() {
                    let text = framing::close_frame(1008, "Send budget exceeded");
                    last.extend_from_slice(&ws.carrier.text_frame(&text));
                }
                let reason = default_reason(CloseCause::Backpressure);
                last.extend_from_slice(&ws.carrier.close_frame(CloseCause::Backpressure.close_code(), reason));
                conn.queue.discard();
                if let Some(tls) = conn.tls.as_deref_mut() {
                    last = tls.seal_now(&last);
                }
                io::send_now(conn.raw_fd(), &last);
            }
        }
        self.abort(id, Some(CloseCause::Backpressure));
    }

    /// The connection's held response is going away: a SockJS session whose receiver
    /// it was ends at once (sockjs §6.5); a parked request is forgotten.
    fn drop_held(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        match std::mem::replace(&mut conn.hold, Hold::None) {
            Hold::Receiver(sid) => self.destroy_session(sid, Some(id), CloseReason::Client),
            Hold::Parked(request) => self.parked.forget(request),
            Hold::None => {}
        }
    }

    pub(super) fn on_read_closed(&mut self, id: ConnId, errno: i32) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        conn.read_closed = true;
        let alive = conn.is_open() || matches!(conn.life, Life::Migrating { .. });
        self.conns.to_reap.push(id);
        if alive {
            self.counters.inc(Counter::ClosedByPeer);
            tracing::trace!(?id, errno, "peer closed");
            // A peer that half-closed may also have stopped reading: `abort` shuts the
            // socket so a write the kernel still holds fails now and the connection
            // can be freed.
            self.abort(id, None);
        } else {
            self.drop_held(id);
        }
    }

    pub(super) fn on_written(&mut self, id: ConnId, result: i32) {
        if !self.conns.on_written(id, result, self.ctx.config.limits.send_budget_bytes) {
            self.abort(id, None);
        }
    }

    /// Free connections whose reads ended and whose last write finished.
    pub(super) fn reap(&mut self, io: &mut Backend) {
        let mut ids = std::mem::take(&mut self.conns.to_reap);
        for id in ids.drain(..) {
            let Some(conn) = self.conns.get(id) else { continue };
            if !conn.read_closed || conn.queue.in_flight() {
                continue;
            }
            self.drop_held(id);
            self.release(Member::Conn(id), CloseReason::Client);
            if let Some(conn) = self.conns.remove(id) {
                io.remove_conn(id.token(), conn.raw_fd());
                self.release_peer(conn.raw_fd());
                // Dropping `conn` closes the fd.
            }
        }
        if self.conns.to_reap.is_empty() {
            self.conns.to_reap = ids;
        }
    }

    /// At exit: shut every socket so writes in flight end, wait for their completions
    /// (cancelling what is left after a while), then free every connection. The kernel
    /// never holds a buffer of a freed connection.
    pub(super) fn close_everything(&mut self, io: &mut Backend) {
        let mut ids = Vec::new();
        self.conns.ids(&mut ids);
        for &id in &ids {
            if let Some(conn) = self.conns.get_mut(id) {
                io::shutdown(conn.raw_fd());
            }
        }
        let deadline = Instant::now() + Duration::from_millis(EXIT_WRITES_WAIT_MS);
        let mut cancelled = false;
        while self.writes_in_flight(&ids) {
            if Instant::now() >= deadline && !cancelled {
                io.cancel_all();
                cancelled = true;
            }
            if io.wait(Some(Duration::from_millis(10))).is_err() {
                break;
            }
            while let Some(ev) = io.next_event() {
                if let Event::Written { token, result } = ev {
                    if let Some(conn) = self.conns.get_mut(ConnId::from_token(token)) {
                        conn.queue.write_failed_or_done(result);
                    }
                }
            }
            if cancelled && Instant::now() >= deadline + Duration::from_millis(EXIT_WRITES_WAIT_MS) {
                break; // what is still in flight is leaked by its queue, never freed
            }
        }
        for id in ids {
            if let Some(conn) = self.conns.remove(id) {
                io.remove_conn(id.token(), conn.raw_fd());
            }
        }
    }

    fn writes_in_flight(&self, ids: &[ConnId]) -> bool {
        ids.iter().any(|&id| self.conns.get(id).is_some_and(|c| c.queue.in_flight()))
    }

    fn count_close(&mut self, cause: CloseCause) {
        match cause {
            CloseCause::Protocol(_) => self.counters.inc(Counter::ClosedProtocolError),
            CloseCause::PeerClose(_) => self.counters.inc(Counter::ClosedByPeer),
            CloseCause::Idle => self.counters.inc(Counter::ClosedIdle),
            _ => {}
        }
    }
}

/// What a protocol hears for a close cause.
pub(super) fn close_reason(cause: CloseCause) -> CloseReason {
    match cause {
        CloseCause::Protocol(_) | CloseCause::UnsupportedData | CloseCause::BrokenFraming => {
            CloseReason::ProtocolError
        }
        CloseCause::PeerClose(_) => CloseReason::Client,
        CloseCause::Backpressure => CloseReason::SlowConsumer,
        CloseCause::Idle => CloseReason::Timeout,
        CloseCause::Shutdown => CloseReason::Shutdown,
        CloseCause::Application(_) => CloseReason::Application,
    }
}

fn default_reason(cause: CloseCause) -> &'static str {
    match cause {
        CloseCause::Protocol(_) => "protocol error",
        CloseCause::PeerClose(_) => "",
        CloseCause::UnsupportedData => "unsupported data",
        CloseCause::Backpressure => "send budget exceeded",
        CloseCause::Idle => "idle timeout",
        CloseCause::Shutdown => "server shutting down",
        CloseCause::Application(_) => "",
        CloseCause::BrokenFraming => "Broken framing.",
    }
}

/// Peer faults are logged at debug (a hostile client must not flood the log); server
/// decisions that cost a client its connection at info.
fn log_close(id: ConnId, cause: CloseCause) {
    match cause {
        CloseCause::Protocol(e) => {
            tracing::debug!(?id, error = %e, code = e.close_code(), "closing: protocol error")
        }
        CloseCause::PeerClose(code) => tracing::trace!(?id, code, "closing: peer asked"),
        CloseCause::Backpressure | CloseCause::Idle => tracing::info!(?id, ?cause, "closing"),
        _ => tracing::debug!(?id, ?cause, "closing"),
    }
}
