//! A shard's timers: handshake, idle, ping, linger, SockJS heartbeats and session
//! deadlines, parked requests, and the start of a graceful shutdown.
//!
//! Owns: the periodic sweep (every `SWEEP_INTERVAL_MS`) that checks each deadline.
//! O(connections + sessions) per sweep. Does not own what happens when one is due
//! (closing, heartbeats and session expiry are the other parts' code).

use super::conns::{Life, Phase};
use super::State;
use crate::error::CloseCause;
use crate::ids::ConnId;
use crate::metrics::Counter;
use crate::pubsub::prepared::Carrier;
use crate::transport::sockjs::framing;
use crate::transport::ws::codec::{self, OpCode};
use std::sync::atomic::Ordering;

/// How often timers are checked.
pub(super) const SWEEP_INTERVAL_MS: u64 = 200;

impl State {
    /// Every deadline of this shard.
    pub(super) fn sweep(&mut self) {
        self.check_shutdown();
        let mut ids = Vec::new();
        self.conns.ids(&mut ids);
        for id in ids {
            self.sweep_conn(id);
        }
        self.sweep_sessions();
        if self.parked.len() > 0 {
            self.expire_parked();
        }
    }

    fn sweep_conn(&mut self, id: ConnId) {
        let now = self.clock.now_ms;
        let limits = &self.ctx.config.limits;
        let (ping_ms, idle_ms, handshake_ms) =
            (limits.ping_interval_ms, limits.idle_timeout_ms, limits.handshake_timeout_ms);
        let Some(conn) = self.conns.get_mut(id) else { return };
        let silent_ms = now.saturating_sub(conn.last_rx_ms);
        let heartbeat_ms = match &conn.phase {
            Phase::Ws(ws) => self.ctx.services.get(ws.service).timing.heartbeat_ms,
            Phase::Http { .. } => 0,
        };
        let holding = conn.is_holding();
        let frame = match (&mut conn.phase, conn.life) {
            (_, Life::Closing { deadline_ms, .. }) if now >= deadline_ms => return self.abort(id, None),
            (Phase::Http { .. }, Life::Open) if !holding && now.saturating_sub(conn.opened_ms) >= handshake_ms => {
                self.counters.inc(Counter::HandshakeTimeouts);
                return self.abort(id, None);
            }
            // Hixie-76 has no pings: its client cannot prove it is alive, so it is never
            // idle; its `h` frames still find a dead peer.
            (Phase::Ws(ws), Life::Open) if ws.carrier != Carrier::SockjsHixie && idle_ms > 0 && silent_ms >= idle_ms => {
                return self.start_close(id, CloseCause::Idle, "");
            }
            (Phase::Ws(ws), Life::Open)
                if ws.carrier != Carrier::SockjsHixie && ping_ms > 0 && silent_ms >= ping_ms && !ws.ping_outstanding =>
            {
                ws.ping_outstanding = true;
                Some(codec::frame(OpCode::Ping, b""))
            }
            (Phase::Ws(ws), Life::Open)
                if ws.carrier.is_sockjs_websocket() && ws.hixie_key3.is_none() && now >= ws.heartbeat_due_ms =>
            {
                // sockjs §8.1: the `h` frame keeps proxies and the client's timers happy.
                ws.heartbeat_due_ms = now + heartbeat_ms;
                Some(ws.carrier.text_frame(framing::HEARTBEAT))
            }
            _ => None,
        };
        if let Some(frame) = frame {
            self.conns.push_control(id, &frame);
        }
    }

    /// On the first sweep after shutdown was requested, close every session and
    /// connection politely. Sessions first: an attached receiver then gets
    /// `c[1001,"Server shutting down"]` and the end of its response before its connection
    /// is closed (FIN after the last byte).
    fn check_shutdown(&mut self) {
        if self.drain_deadline_ms.is_some() || !self.ctx.shutdown.load(Ordering::Acquire) {
            return;
        }
        self.drain_deadline_ms = Some(self.clock.now_ms + self.ctx.config.limits.shutdown_grace_ms);
        let mut sids = Vec::new();
        self.sessions.table.ids(&mut sids);
        for sid in sids {
            self.close_session(sid, 1001, "Server shutting down", crate::api::CloseReason::Shutdown);
        }
        let mut ids = Vec::new();
        self.conns.ids(&mut ids);
        tracing::debug!(shard = self.id.0, connections = ids.len(), "draining");
        for id in ids {
            self.start_close(id, CloseCause::Shutdown, "");
        }
    }
}
