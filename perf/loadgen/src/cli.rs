//! The command line: every knob of a run, its defaults, and the checks that need no I/O.

use clap::{Parser, ValueEnum};
use serde::Serialize;

use crate::dialect::Dialect;
use crate::payload::MIN_PAYLOAD_BYTES;

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Closed-loop fan-out: throughput, latency, loss, server CPU per delivery.
    Load,
    /// Connect, subscribe, stay idle: the server's resident memory per connection.
    Idle,
    /// Long run with churn, per-topic sequence checks and SockJS sessions (`perf/soak.sh`).
    Soak,
}

/// Closed-loop WebSocket pub/sub load generator: N subscribers and one publisher that keeps
/// W broadcasts in flight. With --json, stdout gets one JSON line and stderr the summary line.
#[derive(Debug, Clone, Parser)]
#[command(name = "ringcast-loadgen", version)]
pub struct Args {
    /// ws://HOST:PORT[/PATH] (http:// is the same); without a path the dialect's default
    /// (/rooms/websocket for rooms, the SockJS prefix /rooms for sockjs-rooms and xhr-streaming,
    /// / for broadcast). xhr-streaming's publisher uses PREFIX/websocket.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    pub url: String,
    /// Application protocol (and, for xhr-streaming, the subscribers' transport)
    #[arg(long, value_enum, default_value_t = Dialect::Rooms)]
    pub dialect: Dialect,
    /// What to measure
    #[arg(long, value_enum, default_value_t = Mode::Load)]
    pub mode: Mode,
    /// Room every client joins and the publisher publishes to
    #[arg(long, default_value = "bench")]
    pub topic: String,
    /// Subscribers (the publisher is one more connection)
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Broadcasts in flight: a new one is sent when one has reached every subscriber
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Size of each payload in bytes (`<seq>:<nanos>:` padded with 'x')
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
    /// Seconds of load before the measured window
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// Length of the measured window in seconds
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
    /// Server process whose CPU time (and, for --mode idle, RSS) is read from /proc
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print one JSON line on stdout (the summary line goes to stderr)
    #[arg(long)]
    pub json: bool,
    /// Report loss, duplicates and reordering without failing the run
    #[arg(long)]
    pub allow_loss: bool,
    /// Connections being set up at once
    #[arg(long, default_value_t = 256)]
    pub connect_batch: usize,
    /// Give up when connecting and the subscribe barrier take longer than this
    #[arg(long, default_value_t = 60.0)]
    pub setup_timeout_secs: f64,
    /// Fail the run when no broadcast completes for this long
    #[arg(long, default_value_t = 5.0)]
    pub stall_secs: f64,
    /// After the window: longest wait for the broadcasts still in flight (the wait also ends when
    /// none completes for --stall-secs); what has not arrived then counts as lost
    #[arg(long, default_value_t = 30.0)]
    pub drain_secs: f64,
    /// --mode idle: wait this long after the barrier before reading the server's RSS
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
    /// --mode soak: rooms the subscribers are spread over (one publisher each)
    #[arg(long, default_value_t = 100)]
    pub topics: usize,
    /// --mode soak: publishes per second, over all topics
    #[arg(long, default_value_t = 200.0)]
    pub publish_per_sec: f64,
    /// --mode soak: subscribers dropped and replaced per second
    #[arg(long, default_value_t = 50.0)]
    pub churn_per_sec: f64,
    /// --mode soak: share of subscribers that are SockJS sessions (websocket transport)
    #[arg(long, default_value_t = 20)]
    pub sockjs_percent: u32,
    /// Free text copied into the JSON line (e.g. server and scenario names)
    #[arg(long, default_value = "")]
    pub label: String,
}

impl Args {
    /// All connections: the subscribers and the publisher.
    pub fn connections(&self) -> usize {
        match self.mode {
            Mode::Soak => self.subscribers + self.topics,
            _ => self.subscribers + 1,
        }
    }

    /// Checks that need no I/O.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, String); 9] = [
            (
                self.mode != Mode::Soak || (self.topics >= 1 && self.sockjs_percent <= 100),
                "--topics must be at least 1 and --sockjs-percent at most 100".into(),
            ),
            (self.subscribers >= 1, "--subscribers must be at least 1".into()),
            (self.window >= 1, "--window must be at least 1".into()),
            (
                self.payload_bytes >= MIN_PAYLOAD_BYTES,
                format!("--payload-bytes must be at least {MIN_PAYLOAD_BYTES}"),
            ),
            (self.secs > 0.0 && self.warmup_secs >= 0.0, "--secs must be > 0 and --warmup-secs >= 0".into()),
            (self.connect_batch >= 1, "--connect-batch must be at least 1".into()),
            (self.stall_secs > 0.0 && self.setup_timeout_secs > 0.0, "timeouts must be > 0".into()),
            (
                !self.topic.is_empty() && !self.topic.contains(','),
                "--topic must be non-empty, without ','".into(),
            ),
            (self.mode != Mode::Idle || self.server_pid.is_some(), "--mode idle needs --server-pid".into()),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, msg)) => Err(msg),
            None => Ok(()),
        }
    }
}
