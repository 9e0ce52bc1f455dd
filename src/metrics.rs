//! Counters and gauges, and their Prometheus text rendering.
//!
//! Owns: the list of metrics ([`Counter`]), each shard's plain per-tick [`Counters`]
//! and the published [`ShardStats`] (atomics on their own cache line, written only by
//! their shard once per tick, read by whichever shard serves `/metrics`). Does not own
//! what is counted; the shard decides.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($variant:ident => ($name:literal, $kind:literal, $help:literal)),* $(,)?) => {
        /// Every metric ringcast exports (`GET /metrics`), readable in-process with
        /// [`Server::metric`](crate::Server::metric).
        ///
        /// ```no_run
        /// let server = ringcast::Server::start(ringcast::Config::embedded_default())?;
        /// println!("{} open", server.metric(ringcast::Counter::ConnectionsOpen));
        /// # Ok::<(), ringcast::StartError>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Counter { $(#[doc = concat!("`", $name, "` (", $kind, "): ", $help)] $variant),* }
        /// (Prometheus name, type, help) per [`Counter`], in declaration order.
        pub const METRICS: &[(&str, &str, &str)] = &[$(($name, $kind, $help)),*];
    };
}

counters! {
    ConnectionsOpen => ("ringcast_connections_open", "gauge", "Open TCP connections."),
    Subscriptions => ("ringcast_subscriptions", "gauge", "Topic memberships (connection × room)."),
    Topics => ("ringcast_topics", "gauge", "Rooms with at least one member."),
    ConnectionsAccepted => ("ringcast_connections_accepted_total", "counter", "TCP connections accepted."),
    ConnectionsRejected => ("ringcast_connections_rejected_total", "counter", "Connections closed at accept: over limits.max_connections_per_shard or shutting down."),
    HttpRequests => ("ringcast_http_requests_total", "counter", "HTTP requests parsed."),
    HttpErrors => ("ringcast_http_errors_total", "counter", "HTTP requests answered with a 4xx status."),
    HandshakeTimeouts => ("ringcast_handshake_timeouts_total", "counter", "Connections closed for not finishing a request head in time."),
    WsUpgrades => ("ringcast_ws_upgrades_total", "counter", "WebSocket handshakes completed."),
    WsHandshakeRejected => ("ringcast_ws_handshake_rejected_total", "counter", "WebSocket handshakes refused (400/405)."),
    MessagesIn => ("ringcast_messages_in_total", "counter", "WebSocket data messages received."),
    Publishes => ("ringcast_publishes_total", "counter", "Messages published to a topic on this shard."),
    BusPublishesIn => ("ringcast_bus_publishes_in_total", "counter", "Publishes received from other shards."),
    BusDroppedBatches => ("ringcast_bus_dropped_batches_total", "counter", "Cross-shard batches dropped because a shard's queue was full."),
    Deliveries => ("ringcast_deliveries_total", "counter", "Frames queued to subscribers."),
    FramesEncoded => ("ringcast_frames_encoded_total", "counter", "Wire encodings built for published messages (once per message per format)."),
    Writes => ("ringcast_writes_total", "counter", "Socket writes submitted (each may carry many frames)."),
    BytesOut => ("ringcast_bytes_out_total", "counter", "Bytes written to sockets (epoll: synchronous writes; io_uring: completed writes)."),
    ClosedBackpressure => ("ringcast_closed_backpressure_total", "counter", "Connections closed for exceeding limits.send_budget_bytes (1008)."),
    ClosedProtocolError => ("ringcast_closed_protocol_error_total", "counter", "WebSocket connections closed for a protocol violation (1002/1007/1009)."),
    ClosedIdle => ("ringcast_closed_idle_total", "counter", "WebSocket connections closed after limits.idle_timeout_ms of silence (1001)."),
    ClosedByPeer => ("ringcast_closed_by_peer_total", "counter", "Connections the peer closed (close frame or EOF)."),
    SockjsSessions => ("ringcast_sockjs_sessions", "gauge", "SockJS HTTP-transport sessions on this shard."),
    SockjsSessionsOpened => ("ringcast_sockjs_sessions_opened_total", "counter", "SockJS HTTP-transport sessions created."),
    SockjsSessionsClosed => ("ringcast_sockjs_sessions_closed_total", "counter", "SockJS HTTP-transport sessions destroyed (timer or receiver dropped)."),
    SockjsUnknownSession => ("ringcast_sockjs_unknown_session_total", "counter", "SockJS sends to a session that does not exist (404)."),
    SockjsPayloadErrors => ("ringcast_sockjs_payload_errors_total", "counter", "SockJS sends refused: payload missing or broken JSON (500)."),
    SockjsMigrations => ("ringcast_sockjs_migrations_total", "counter", "Requests moved to the shard that owns their SockJS session."),
    PublishRejected => ("ringcast_publish_rejected_total", "counter", "POST /publish requests refused (bad topic or a body that is not UTF-8)."),
    HandlerPanics => ("ringcast_handler_panics_total", "counter", "Handler callbacks that panicked (each closed its connection with 1011)."),
    HandleOps => ("ringcast_handle_ops_total", "counter", "Sends and closes received through connection handles."),
    HandleOpsDropped => ("ringcast_handle_ops_dropped_total", "counter", "Handle operations for connections that had already closed."),
    BusRequests => ("ringcast_bus_requests_total", "counter", "Requests sent to another shard (SockJS sends relayed to the session's owner)."),
    BusRequestTimeouts => ("ringcast_bus_request_timeouts_total", "counter", "Requests to another shard not answered in time (the client got 503)."),
    ClosedInputOverflow => ("ringcast_closed_input_overflow_total", "counter", "HTTP connections closed for sending more than one request while their response was pending."),
    WriteErrors => ("ringcast_write_errors_total", "counter", "Connections whose socket write failed."),
    OriginRefused => ("ringcast_origin_refused_total", "counter", "Requests refused with 403: an Origin not in security.allowed_origins (WebSocket upgrades included)."),
    AuthRefused => ("ringcast_auth_refused_total", "counter", "Requests to /publish or /metrics refused with 401: missing or wrong bearer token."),
    SockjsSessionsRefused => ("ringcast_sockjs_sessions_refused_total", "counter", "SockJS sessions not created (503): over security.max_sessions or security.max_sessions_per_ip."),
    ClosedPerIpLimit => ("ringcast_closed_per_ip_limit_total", "counter", "Connections closed at accept (503): their IP already held security.max_connections_per_ip."),
}

/// Number of metrics.
pub const COUNT: usize = METRICS.len();

/// A shard's counters, plain integers on the hot path.
#[derive(Debug, Clone, Copy)]
pub struct Counters([u64; COUNT]);

impl Default for Counters {
    fn default() -> Self {
        Counters([0; COUNT])
    }
}

impl Counters {
    #[inline]
    pub fn add(&mut self, c: Counter, n: u64) {
        self.0[c as usize] += n;
    }

    #[inline]
    pub fn inc(&mut self, c: Counter) {
        self.add(c, 1);
    }

    #[inline]
    pub fn set(&mut self, c: Counter, v: u64) {
        self.0[c as usize] = v;
    }
}

/// The published copy of one shard's counters.
#[repr(align(128))]
pub struct ShardStats {
    values: [AtomicU64; COUNT],
}

impl Default for ShardStats {
    fn default() -> Self {
        ShardStats { values: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

impl ShardStats {
    /// Publish the sum of a shard's parts' counters (each part counts its own).
    pub fn store_sum(&self, parts: &[&Counters]) {
        for (i, slot) in self.values.iter().enumerate() {
            slot.store(parts.iter().map(|c| c.0[i]).sum(), Ordering::Relaxed);
        }
    }

    pub fn load(&self, c: Counter) -> u64 {
        self.values[c as usize].load(Ordering::Relaxed)
    }
}

/// Sum of one metric over all shards.
pub fn total(stats: &[ShardStats], c: Counter) -> u64 {
    stats.iter().map(|s| s.load(c)).sum()
}

/// Prometheus text exposition format, one series per shard.
pub fn render(stats: &[ShardStats]) -> String {
    let mut out = String::with_capacity(COUNT * 200);
    for (i, (name, kind, help)) in METRICS.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (shard, s) in stats.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", s.values[i].load(Ordering::Relaxed));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_every_metric_per_shard() {
        let stats = [ShardStats::default(), ShardStats::default()];
        let mut c = Counters::default();
        c.add(Counter::Deliveries, 42);
        stats[1].store_sum(&[&c]);
        let text = render(&stats);
        assert!(text.contains("ringcast_deliveries_total{shard=\"1\"} 42"));
        assert!(text.contains("# TYPE ringcast_connections_open gauge"));
        assert_eq!(total(&stats, Counter::Deliveries), 42);
    }
}
