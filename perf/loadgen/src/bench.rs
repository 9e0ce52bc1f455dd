//! The single-threaded event loop and the phases of a run: connect every client in batches
//! (for `xhr-streaming`, each subscriber's `sub` goes out on a short-lived xhr_send connection),
//! pass the subscribe barrier, then drive the closed loop (warm-up, measured window, drain).

use std::io;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use crate::cli::Args;
use crate::client::Client;
use crate::conn::{Conn, State};
use crate::dialect::{Dialect, Inbound};
use crate::payload;
use crate::rng::Rng;
use crate::socket::ReadEnd;
use crate::sys;
use crate::track::{Totals, Tracker, PUBLISHER};
use crate::url::WsUrl;
use crate::xhr::{XhrSend, XhrStream};

/// Bytes read per `read` call (shared by all connections).
const READ_SCRATCH_BYTES: usize = 64 * 1024;
const EVENTS_CAPACITY: usize = 4096;
/// Interval between barrier probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Set in the poll token of subscriber `i`'s xhr_send connection (token `i | SEND_TOKEN_BIT`).
const SEND_TOKEN_BIT: usize = 1 << (usize::BITS - 1);

/// How far a client has got joining the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the transport (and, for SockJS, the `o` frame).
    Opening,
    /// The xhr_send carrying `sub` is in flight.
    Subscribing,
    /// Subscribe sent (WebSocket) or acknowledged (xhr_send).
    Ready,
}

/// CPU and network counters at one instant.
#[derive(Debug, Clone, Copy)]
struct CpuSnapshot {
    at: Instant,
    server_ticks: Option<u64>,
    own_ticks: u64,
    machine: sys::MachineCounters,
}

impl CpuSnapshot {
    fn take(server_pid: Option<u32>) -> Result<Self, String> {
        let server_ticks = match server_pid {
            Some(pid) => Some(sys::cpu_ticks(Some(pid)).map_err(|e| format!("server pid {pid}: {e}"))?),
            None => None,
        };
        let own_ticks = sys::cpu_ticks(None).map_err(|e| format!("own CPU time: {e}"))?;
        Ok(Self { at: Instant::now(), server_ticks, own_ticks, machine: sys::machine_counters() })
    }
}

/// What connecting took.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub connect_secs: f64,
}

/// What the closed loop measured.
#[derive(Debug)]
pub struct LoadOutcome {
    pub measured_secs: f64,
    pub deliveries: u64,
    pub completed: u64,
    pub server_cpu_secs: Option<f64>,
    pub own_cpu_secs: f64,
    /// Machine-wide drops, retransmits and CPU-pressure time during the window.
    pub machine: sys::MachineCounters,
    pub totals: Totals,
    /// Why the loop stopped early, if it did.
    pub failure: Option<String>,
    /// The first subscriber disconnect, if any.
    pub first_disconnect: Option<String>,
    /// xhr_streaming responses the server ended (response_limit or close), all subscribers, whole
    /// run; `None` for the WebSocket dialects.
    pub xhr_responses_ended: Option<u64>,
    /// New connections made because the server closed one between two xhr_streaming responses.
    pub xhr_reconnects: Option<u64>,
}

/// The load generator's connections and bookkeeping.
pub struct Bench<'a> {
    args: &'a Args,
    url: WsUrl,
    poll: Poll,
    events: Events,
    clients: Vec<Client>,
    phases: Vec<Phase>,
    /// The xhr_send in flight per subscriber (`xhr-streaming` only).
    sends: Vec<Option<XhrSend>>,
    ready_count: usize,
    loading: bool,
    scratch: Vec<u8>,
    text: Vec<u8>,
    payload: Vec<u8>,
    pub tracker: Tracker,
    clock: Instant,
    rng: Rng,
    probes_sent: u64,
    first_disconnect: Option<String>,
}

impl<'a> Bench<'a> {
    pub fn new(args: &'a Args, url: WsUrl) -> Result<Self, String> {
        let poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
        Ok(Self {
            args,
            url,
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            clients: Vec::with_capacity(args.connections()),
            phases: Vec::with_capacity(args.connections()),
            sends: Vec::with_capacity(args.connections()),
            ready_count: 0,
            loading: false,
            scratch: vec![0; READ_SCRATCH_BYTES],
            text: Vec::with_capacity(args.payload_bytes + 64),
            payload: Vec::with_capacity(args.payload_bytes + 64),
            tracker: Tracker::new(args.subscribers),
            clock: Instant::now(),
            rng: Rng::from_clock(),
            probes_sent: 0,
            first_disconnect: None,
        })
    }

    fn now_nanos(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// Opens every connection (publisher first), at most `--connect-batch` in progress at once.
    pub fn connect_all(&mut self) -> Result<Setup, String> {
        let total = self.args.connections();
        let started_at = Instant::now();
        let timeout = Duration::from_secs_f64(self.args.setup_timeout_secs);
        while self.ready_count < total {
            while self.clients.len() < total
                && self.clients.len() - self.ready_count < self.args.connect_batch
            {
                self.start_conn()?;
            }
            self.turn(Duration::from_millis(50))?;
            if started_at.elapsed() > timeout {
                return Err(format!(
                    "setup: only {} of {total} connections open after {:.1}s",
                    self.ready_count, self.args.setup_timeout_secs
                ));
            }
        }
        Ok(Setup { connect_secs: started_at.elapsed().as_secs_f64() })
    }

    fn start_conn(&mut self) -> Result<(), String> {
        let idx = self.clients.len();
        let mut client = self.new_client(idx).map_err(|e| connect_error(self.url.addr, idx, &e))?;
        client.register(self.poll.registry(), Token(idx)).map_err(|e| format!("epoll register: {e}"))?;
        self.clients.push(client);
        self.phases.push(Phase::Opening);
        self.sends.push(None);
        Ok(())
    }

    /// The publisher is always a WebSocket client; subscribers use the dialect's transport.
    fn new_client(&mut self, idx: usize) -> io::Result<Client> {
        let (dialect, url) = (self.args.dialect, &self.url);
        let path = if idx == PUBLISHER {
            dialect.publisher_path(&url.path, &mut self.rng)
        } else {
            dialect.connection_path(&url.path, &mut self.rng)
        };
        if idx != PUBLISHER && dialect.over_http() {
            return Ok(Client::Xhr(XhrStream::start(url.addr, &url.host_header, &path)?));
        }
        Ok(Client::Ws(Conn::start(url.addr, &url.host_header, &path, &mut self.rng)?))
    }

    /// The dialect client `idx` speaks.
    fn dialect_of(&self, idx: usize) -> Dialect {
        if idx == PUBLISHER {
            self.args.dialect.for_publisher()
        } else {
            self.args.dialect
        }
    }

    /// Waits until every subscriber has received a probe published after its subscribe.
    pub fn barrier(&mut self) -> Result<(), String> {
        let started_at = Instant::now();
        let timeout = Duration::from_secs_f64(self.args.setup_timeout_secs);
        let mut last_probe: Option<Instant> = None;
        while self.tracker.probes_seen() < self.args.subscribers {
            if last_probe.is_none_or(|t| t.elapsed() >= PROBE_INTERVAL) {
                self.send_probe()?;
                last_probe = Some(Instant::now());
            }
            self.turn(Duration::from_millis(10))?;
            if started_at.elapsed() > timeout {
                return Err(format!(
                    "subscribe barrier: only {} of {} subscribers received a probe after {:.1}s",
                    self.tracker.probes_seen(),
                    self.args.subscribers,
                    self.args.setup_timeout_secs
                ));
            }
        }
        Ok(())
    }

    fn send_probe(&mut self) -> Result<(), String> {
        let now = self.now_nanos();
        self.payload.clear();
        payload::write_probe(&mut self.payload, self.probes_sent, now, self.args.payload_bytes);
        self.probes_sent += 1;
        self.queue_publish();
        self.flush_publisher()
    }

    /// Wraps `self.payload` for the publisher's dialect and queues it on the publisher.
    fn queue_publish(&mut self) {
        self.dialect_of(PUBLISHER).publish(&self.args.topic, &self.payload, &mut self.text);
        let publisher = self.clients[PUBLISHER].ws_mut().expect("the publisher is a WebSocket client");
        publisher.queue_text(&self.text);
    }

    fn flush_publisher(&mut self) -> Result<(), String> {
        self.clients[PUBLISHER].flush().map_err(|e| format!("publisher write: {e}"))
    }

    /// Keeps polling (answering pings) for `dur`.
    pub fn settle(&mut self, dur: Duration) -> Result<(), String> {
        let until = Instant::now() + dur;
        while Instant::now() < until {
            self.turn(Duration::from_millis(20))?;
        }
        Ok(())
    }

    /// Runs the closed loop: warm-up, the measured window, then a drain of what is in flight.
    pub fn load(&mut self) -> Result<LoadOutcome, String> {
        self.loading = true;
        let warmup = Duration::from_secs_f64(self.args.warmup_secs);
        let end = warmup + Duration::from_secs_f64(self.args.secs);
        let started_at = Instant::now();
        let mut window_start: Option<CpuSnapshot> = None;
        let mut failure = None;
        loop {
            self.top_up()?;
            self.turn(Duration::from_millis(5))?;
            let elapsed = started_at.elapsed();
            if window_start.is_none() && elapsed >= warmup {
                window_start = Some(CpuSnapshot::take(self.args.server_pid)?);
                self.tracker.begin_window();
            }
            if elapsed >= end {
                break;
            }
            if let Some(why) = self.stalled() {
                failure = Some(why);
                break;
            }
        }
        let window_end = CpuSnapshot::take(self.args.server_pid)?;
        self.tracker.end_window();
        self.drain()?;
        Ok(self.outcome(window_start.unwrap_or(window_end), window_end, failure))
    }

    /// Sends broadcasts until `--window` are in flight.
    fn top_up(&mut self) -> Result<(), String> {
        if self.tracker.live_subscribers() == 0 {
            return Err("every subscriber has disconnected".into());
        }
        while self.tracker.incomplete() < self.args.window {
            let now = self.now_nanos();
            let seq = self.tracker.publish_next(now);
            self.payload.clear();
            payload::write_data(&mut self.payload, seq, now, self.args.payload_bytes);
            self.queue_publish();
        }
        self.flush_publisher()
    }

    fn stalled(&self) -> Option<String> {
        let quiet_nanos = self.now_nanos().saturating_sub(self.tracker.last_completion_nanos());
        let limit_nanos = (self.args.stall_secs * 1e9) as u64;
        (self.tracker.incomplete() > 0 && quiet_nanos > limit_nanos).then(|| {
            format!(
                "stalled: no broadcast completed for {:.1}s ({} in flight)",
                self.args.stall_secs,
                self.tracker.incomplete()
            )
        })
    }

    /// Waits for the broadcasts still in flight while they keep completing (slow servers may have
    /// seconds of backlog), at most `--drain-secs`.
    fn drain(&mut self) -> Result<(), String> {
        let until = Instant::now() + Duration::from_secs_f64(self.args.drain_secs);
        while self.tracker.incomplete() > 0 && Instant::now() < until && self.stalled().is_none() {
            self.turn(Duration::from_millis(10))?;
        }
        Ok(())
    }

    fn outcome(&mut self, start: CpuSnapshot, end: CpuSnapshot, failure: Option<String>) -> LoadOutcome {
        let tick_secs = 1.0 / sys::clock_ticks_per_sec() as f64;
        let server_cpu_secs = match (start.server_ticks, end.server_ticks) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 * tick_secs),
            _ => None,
        };
        LoadOutcome {
            measured_secs: end.at.duration_since(start.at).as_secs_f64(),
            deliveries: self.tracker.window.deliveries,
            completed: self.tracker.window.completed,
            server_cpu_secs,
            own_cpu_secs: end.own_ticks.saturating_sub(start.own_ticks) as f64 * tick_secs,
            machine: sys::MachineCounters {
                backlog_drops: end.machine.backlog_drops.saturating_sub(start.machine.backlog_drops),
                tcp_retrans_segs: end.machine.tcp_retrans_segs.saturating_sub(start.machine.tcp_retrans_segs),
                cpu_pressure_us: end.machine.cpu_pressure_us.saturating_sub(start.machine.cpu_pressure_us),
            },
            totals: self.tracker.finish(),
            failure,
            first_disconnect: self.first_disconnect.clone(),
            xhr_responses_ended: self.xhr_counts().map(|(ended, _)| ended),
            xhr_reconnects: self.xhr_counts().map(|(_, reconnects)| reconnects),
        }
    }

    /// Sums of (responses ended, reconnects) over the xhr_streaming subscribers, if any.
    fn xhr_counts(&self) -> Option<(u64, u64)> {
        self.clients.iter().filter_map(Client::http_counts).reduce(|a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// One poll and the handling of every event it returned.
    fn turn(&mut self, timeout: Duration) -> Result<(), String> {
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let result = self.poll_once(&mut events, timeout);
        self.events = events;
        result
    }

    fn poll_once(&mut self, events: &mut Events, timeout: Duration) -> Result<(), String> {
        match self.poll.poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("epoll_wait: {e}")),
        }
        for ev in events.iter() {
            let token = ev.token().0;
            let writable = ev.is_writable() || ev.is_error();
            let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
            if token & SEND_TOKEN_BIT != 0 {
                self.on_send_event(token & !SEND_TOKEN_BIT, writable, readable)?;
                continue;
            }
            if writable {
                self.on_writable(token)?;
            }
            if readable {
                self.on_readable(token)?;
            }
        }
        Ok(())
    }

    fn on_writable(&mut self, idx: usize) -> Result<(), String> {
        let conn = &mut self.clients[idx];
        if conn.state() == State::Closed {
            return Ok(());
        }
        let connecting = conn.state() == State::Connecting;
        match conn.on_writable() {
            Ok(()) => Ok(()),
            Err(e) if connecting => Err(connect_error(self.url.addr, idx, &e)),
            Err(e) => self.on_closed(idx, &format!("write: {e}")),
        }
    }

    fn on_readable(&mut self, idx: usize) -> Result<(), String> {
        let conn_state = self.clients[idx].state();
        if matches!(conn_state, State::Connecting | State::Closed) {
            return Ok(());
        }
        let (dialect, topic) = (self.dialect_of(idx), self.args.topic.as_str());
        let (mut session_open, mut session_closed, mut bad) = (false, false, None);
        let tracker = &mut self.tracker;
        let conn = &mut self.clients[idx];
        let end = conn.read_all(&mut self.scratch, self.clock, &mut |text, now| {
            let decoded = dialect.decode(topic, text, &mut |inbound| match inbound {
                Inbound::Open => session_open = true,
                Inbound::Payload(p) => tracker.on_payload(idx, p, now),
                Inbound::Close => session_closed = true,
                Inbound::Other => {}
            });
            if let Err(e) = decoded {
                bad.get_or_insert(e);
            }
        });
        let upgraded = conn_state == State::Upgrading && conn.state() == State::Open;
        if upgraded && !dialect.waits_for_open_message() || session_open {
            self.on_session_open(idx)?;
        }
        match (end, bad) {
            (Err(e), _) | (_, Some(e)) => self.on_closed(idx, &e),
            (Ok(ReadEnd::Closed), None) if self.clients[idx].resumable() => self.resume(idx),
            (Ok(ReadEnd::Closed), None) => self.on_closed(idx, "closed by the server"),
            (Ok(ReadEnd::Drained), None) if session_closed => {
                self.on_closed(idx, "session closed by the server")
            }
            (Ok(ReadEnd::Drained), None) => self.flush_conn(idx),
        }
    }

    /// The dialect session is open: join the topic, over the WebSocket or through xhr_send.
    fn on_session_open(&mut self, idx: usize) -> Result<(), String> {
        if self.phases[idx] != Phase::Opening {
            return Ok(());
        }
        if !self.dialect_of(idx).subscribe(&self.args.topic, &mut self.text) {
            self.mark_ready(idx);
            return Ok(());
        }
        match &mut self.clients[idx] {
            Client::Ws(conn) => {
                conn.queue_text(&self.text);
                self.mark_ready(idx);
                Ok(())
            }
            Client::Xhr(stream) => {
                let path = stream.send_path().to_string();
                self.start_send(idx, &path)
            }
        }
    }

    fn mark_ready(&mut self, idx: usize) {
        self.phases[idx] = Phase::Ready;
        self.ready_count += 1;
    }

    /// POSTs `self.text` to `path` on a new connection for subscriber `idx`.
    fn start_send(&mut self, idx: usize, path: &str) -> Result<(), String> {
        let addr = self.url.addr;
        let mut send = XhrSend::start(addr, &self.url.host_header, path, &self.text)
            .map_err(|e| connect_error(addr, idx, &e))?;
        let token = Token(idx | SEND_TOKEN_BIT);
        send.register(self.poll.registry(), token).map_err(|e| format!("epoll register: {e}"))?;
        self.sends[idx] = Some(send);
        self.phases[idx] = Phase::Subscribing;
        Ok(())
    }

    /// Progress of subscriber `idx`'s xhr_send; a 2xx answer makes it ready. Sends only happen
    /// during setup, so any failure ends the run.
    fn on_send_event(&mut self, idx: usize, writable: bool, readable: bool) -> Result<(), String> {
        let Some(send) = self.sends[idx].as_mut() else { return Ok(()) };
        if writable {
            send.on_writable().map_err(|e| format!("subscriber {idx} xhr_send: {e}"))?;
        }
        if !readable {
            return Ok(());
        }
        match send.read_status(&mut self.scratch).map_err(|e| format!("subscriber {idx}: {e}"))? {
            None => Ok(()),
            Some(status) if (200..300).contains(&status) => {
                self.end_send(idx);
                self.mark_ready(idx);
                Ok(())
            }
            Some(status) => Err(format!("subscriber {idx}: xhr_send answered HTTP {status}")),
        }
    }

    /// Closes subscriber `idx`'s xhr_send connection, if any (abortively: no TIME_WAIT).
    fn end_send(&mut self, idx: usize) {
        if let Some(mut send) = self.sends[idx].take() {
            send.close(self.poll.registry());
        }
    }

    /// The server closed an xhr_streaming connection between responses: continue on a new one.
    fn resume(&mut self, idx: usize) -> Result<(), String> {
        match self.clients[idx].resume(self.poll.registry(), Token(idx)) {
            Ok(()) => Ok(()),
            Err(e) => self.on_closed(idx, &format!("reconnect: {e}")),
        }
    }

    fn flush_conn(&mut self, idx: usize) -> Result<(), String> {
        if !self.clients[idx].has_pending_out() {
            return Ok(());
        }
        match self.clients[idx].flush() {
            Ok(()) => Ok(()),
            Err(e) => self.on_closed(idx, &format!("write: {e}")),
        }
    }

    /// A connection ended. Before the load phase, or for the publisher, that ends the run; during
    /// it, the subscriber's missing broadcasts count as lost.
    fn on_closed(&mut self, idx: usize, why: &str) -> Result<(), String> {
        self.clients[idx].close(self.poll.registry());
        self.end_send(idx);
        if idx == PUBLISHER || !self.loading {
            let role = if idx == PUBLISHER { "publisher".to_string() } else { format!("connection {idx}") };
            return Err(format!("{role}: {why}"));
        }
        let now = self.now_nanos();
        self.tracker.on_disconnect(idx, now);
        self.first_disconnect.get_or_insert_with(|| format!("subscriber {idx}: {why}"));
        Ok(())
    }
}

fn connect_error(addr: std::net::SocketAddr, idx: usize, e: &io::Error) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::EMFILE) | Some(libc::ENFILE) => " (out of file descriptors)",
        Some(libc::EADDRNOTAVAIL) => " (out of local ports: too many connections or TIME_WAIT sockets)",
        Some(libc::ECONNREFUSED) => " (is the server running?)",
        _ => "",
    };
    format!("connection {idx} to {addr}: {e}{hint}")
}
