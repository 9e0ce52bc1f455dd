//! `--mode soak`: a long run with churn, for leak hunting (`perf/soak.sh` samples the server's
//! RSS and fds meanwhile). `--subscribers` connections, spread over `--topics` rooms, each a
//! raw WebSocket `rooms` client or (`--sockjs-percent` of them) a SockJS session over the
//! websocket transport; one `rooms` publisher per topic publishes sequence numbers at
//! `--publish-per-sec` in total; `--churn-per-sec` random subscribers are dropped (abortive
//! close) and replaced by new ones. Every subscriber checks its topic's sequence numbers from
//! the first message it gets: each later one must be the next (no loss, no duplicate, no
//! reordering). After `--secs` publishing stops; once the last messages had time to arrive
//! (`--drain-secs` at most), every subscriber that received something must hold its topic's
//! last sequence number. One JSON line on stdout; exit status 1 on any delivery error.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use serde::Serialize;

use crate::cli::Args;
use crate::conn::{Conn, State};
use crate::dialect::{Dialect, Inbound};
use crate::rng::Rng;
use crate::socket::ReadEnd;
use crate::url::WsUrl;

/// One subscriber slot's connection and what it has checked.
struct Sub {
    conn: Conn,
    dialect: Dialect,
    topic: usize,
    /// The `sub` message has been sent.
    joined: bool,
    /// Last sequence number received.
    last: Option<u64>,
}

/// Counts for the report.
#[derive(Debug, Default, Serialize)]
struct Totals {
    connections_opened: u64,
    sockjs_sessions_opened: u64,
    churned: u64,
    published: u64,
    received: u64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    /// Connections the server closed (or that failed) although nothing asked it to.
    unexpected_closes: u64,
    /// Subscribers that received something, checked at the end.
    checked_at_end: u64,
    /// Of those, how many lacked their topic's last message.
    tail_lost: u64,
}

#[derive(Serialize)]
struct Output<'a> {
    mode: &'static str,
    ok: bool,
    secs: f64,
    subscribers: usize,
    topics: usize,
    publish_per_sec: f64,
    churn_per_sec: f64,
    sockjs_percent: u32,
    label: &'a str,
    #[serde(flatten)]
    totals: &'a Totals,
    error: Option<String>,
}

struct Soak<'a> {
    args: &'a Args,
    url: WsUrl,
    poll: Poll,
    rng: Rng,
    subs: Vec<Sub>,
    publishers: Vec<Conn>,
    /// Per topic: its publisher has sent its `sub`.
    publisher_joined: Vec<bool>,
    /// Next sequence number per topic.
    next_seq: Vec<u64>,
    totals: Totals,
    clock: Instant,
    scratch: Vec<u8>,
    out: Vec<u8>,
}

fn topic_name(t: usize) -> String {
    format!("soak-{t}")
}

/// Runs the soak and prints its JSON line.
pub fn main(args: &Args, url: WsUrl) -> ExitCode {
    let result = Soak::new(args, url).and_then(|mut s| s.run().map(|()| s));
    let (totals, error) = match result {
        Ok(s) => {
            let t = s.totals;
            let bad = t.lost + t.duplicated + t.out_of_order + t.unexpected_closes + t.tail_lost;
            let error = (bad > 0).then(|| "delivery errors".to_string());
            (t, error)
        }
        Err(e) => (Totals::default(), Some(e)),
    };
    let out = Output {
        mode: "soak",
        ok: error.is_none(),
        secs: args.secs,
        subscribers: args.subscribers,
        topics: args.topics,
        publish_per_sec: args.publish_per_sec,
        churn_per_sec: args.churn_per_sec,
        sockjs_percent: args.sockjs_percent,
        label: &args.label,
        totals: &totals,
        error,
    };
    println!("{}", serde_json::to_string(&out).expect("serializable"));
    if out.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

impl<'a> Soak<'a> {
    fn new(args: &'a Args, url: WsUrl) -> Result<Self, String> {
        Ok(Soak {
            args,
            url,
            poll: Poll::new().map_err(|e| format!("epoll: {e}"))?,
            rng: Rng::from_clock(),
            subs: Vec::with_capacity(args.subscribers),
            publishers: Vec::new(),
            publisher_joined: vec![false; args.topics],
            next_seq: vec![0; args.topics],
            totals: Totals::default(),
            clock: Instant::now(),
            scratch: vec![0u8; 256 * 1024],
            out: Vec::new(),
        })
    }

    fn pub_token(&self, t: usize) -> Token {
        Token(self.args.subscribers + t)
    }

    /// Opens connection `i` of `subscribers` (a new one in an existing slot when churning).
    fn open_sub(&mut self, i: usize) -> Result<Sub, String> {
        let sockjs = (self.rng.next_u64() % 100) < u64::from(self.args.sockjs_percent);
        let dialect = if sockjs { Dialect::SockjsRooms } else { Dialect::Rooms };
        let path = dialect.connection_path("", &mut self.rng);
        let mut conn = Conn::start(self.url.addr, &self.url.host_header, &path, &mut self.rng)
            .map_err(|e| format!("connect: {e}"))?;
        conn.register(self.poll.registry(), Token(i)).map_err(|e| format!("register: {e}"))?;
        self.totals.connections_opened += 1;
        self.totals.sockjs_sessions_opened += u64::from(sockjs);
        Ok(Sub { conn, dialect, topic: i % self.args.topics, joined: false, last: None })
    }

    fn setup(&mut self) -> Result<(), String> {
        for t in 0..self.args.topics {
            let path = Dialect::Rooms.default_path();
            let mut c = Conn::start(self.url.addr, &self.url.host_header, path, &mut self.rng)
                .map_err(|e| format!("connect: {e}"))?;
            c.register(self.poll.registry(), self.pub_token(t)).map_err(|e| format!("register: {e}"))?;
            self.publishers.push(c);
        }
        for i in 0..self.args.subscribers {
            let s = self.open_sub(i)?;
            self.subs.push(s);
            // Let the server accept in batches instead of filling its backlog at once.
            if i % self.args.connect_batch == self.args.connect_batch - 1 {
                self.pump(Duration::from_millis(20))?;
            }
        }
        Ok(())
    }

    fn run(&mut self) -> Result<(), String> {
        self.setup()?;
        let start = Instant::now();
        let (mut published_due, mut churn_due) = (0.0f64, 0.0f64);
        let mut last_tick = start;
        while start.elapsed().as_secs_f64() < self.args.secs {
            self.pump(Duration::from_millis(5))?;
            let dt = last_tick.elapsed().as_secs_f64();
            last_tick = Instant::now();
            published_due += dt * self.args.publish_per_sec;
            churn_due += dt * self.args.churn_per_sec;
            while published_due >= 1.0 {
                published_due -= 1.0;
                self.publish_one();
            }
            while churn_due >= 1.0 {
                churn_due -= 1.0;
                self.churn_one()?;
            }
        }
        self.drain()
    }

    /// One publish on the topic whose turn it is (round robin over published counts).
    fn publish_one(&mut self) {
        let t = (self.totals.published % self.args.topics as u64) as usize;
        if !self.publisher_joined[t] {
            return; // still upgrading: its turn comes again
        }
        let seq = self.next_seq[t];
        let mut payload = format!("{seq:012}").into_bytes();
        payload.resize(self.args.payload_bytes.max(payload.len()), b'.');
        Dialect::Rooms.publish(&topic_name(t), &payload, &mut self.out);
        let p = &mut self.publishers[t];
        p.queue_text(&self.out);
        let _ = p.flush();
        self.next_seq[t] += 1;
        self.totals.published += 1;
    }

    /// Drops a random subscriber (abortive close) and opens a new one in its slot.
    fn churn_one(&mut self) -> Result<(), String> {
        let i = (self.rng.next_u64() % self.subs.len() as u64) as usize;
        self.subs[i].conn.close(self.poll.registry());
        self.subs[i] = self.open_sub(i)?;
        self.totals.churned += 1;
        Ok(())
    }

    /// Handles socket events for up to `wait`.
    fn pump(&mut self, wait: Duration) -> Result<(), String> {
        let mut events = Events::with_capacity(4096);
        match self.poll.poll(&mut events, Some(wait)) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(()),
            other => other.map_err(|e| format!("poll: {e}"))?,
        }
        for ev in events.iter() {
            let i = ev.token().0;
            if i >= self.args.subscribers {
                self.on_publisher(i - self.args.subscribers, ev.is_writable())?;
            } else {
                self.on_sub(i, ev.is_writable())?;
            }
        }
        Ok(())
    }

    fn on_publisher(&mut self, t: usize, writable: bool) -> Result<(), String> {
        let p = &mut self.publishers[t];
        if writable {
            p.on_writable().map_err(|e| format!("publisher {t}: {e}"))?;
        }
        // Publishers are members too: discard their copies.
        let end = p.read_all(&mut self.scratch, self.clock, &mut |_, _| {})?;
        if end == ReadEnd::Closed || p.state == State::Closed {
            return Err(format!("publisher {t} was closed by the server"));
        }
        if p.state == State::Open && p.has_pending_out() {
            let _ = p.flush();
        }
        self.join_publisher(t);
        Ok(())
    }

    /// A publisher joins its room once (right after its upgrade).
    fn join_publisher(&mut self, t: usize) {
        let p = &mut self.publishers[t];
        if p.state == State::Open && !self.publisher_joined[t] {
            Dialect::Rooms.subscribe(&topic_name(t), &mut self.out);
            p.queue_text(&self.out);
            let _ = p.flush();
            self.publisher_joined[t] = true;
        }
    }

    fn on_sub(&mut self, i: usize, writable: bool) -> Result<(), String> {
        let topic = topic_name(self.subs[i].topic);
        let s = &mut self.subs[i];
        if writable && s.conn.on_writable().is_err() {
            return self.replace_unexpected(i);
        }
        let (dialect, mut open, mut payloads, mut closed) = (s.dialect, false, Vec::new(), false);
        let end = s.conn.read_all(&mut self.scratch, self.clock, &mut |text, _| {
            let _ = dialect.decode(&topic, text, &mut |m| match m {
                Inbound::Open => open = true,
                Inbound::Payload(p) => payloads.push(parse_seq(p)),
                Inbound::Close => closed = true,
                Inbound::Other => {}
            });
        });
        for seq in payloads {
            self.check(i, seq);
        }
        let s = &mut self.subs[i];
        let ready = match s.dialect {
            Dialect::SockjsRooms => open,
            _ => s.conn.state == State::Open,
        };
        if ready && !s.joined {
            s.dialect.subscribe(&topic, &mut self.out);
            s.conn.queue_text(&self.out);
            s.joined = true;
        }
        if s.conn.has_pending_out() {
            let _ = s.conn.flush();
        }
        if end.is_err() || closed || matches!(end, Ok(ReadEnd::Closed)) || s.conn.state == State::Closed {
            return self.replace_unexpected(i);
        }
        Ok(())
    }

    fn replace_unexpected(&mut self, i: usize) -> Result<(), String> {
        self.totals.unexpected_closes += 1;
        if self.totals.unexpected_closes <= 5 {
            eprintln!("soak: subscriber slot {i} closed unexpectedly");
        }
        self.subs[i].conn.close(self.poll.registry());
        self.subs[i] = self.open_sub(i)?;
        Ok(())
    }

    /// The sequence check of one received message.
    fn check(&mut self, i: usize, seq: Option<u64>) {
        self.totals.received += 1;
        let s = &mut self.subs[i];
        let Some(seq) = seq else {
            self.totals.out_of_order += 1;
            return;
        };
        match step(s.last, seq) {
            Step::Next => {}
            Step::Duplicate => self.totals.duplicated += 1,
            Step::Backwards => self.totals.out_of_order += 1,
            Step::Gap(n) => self.totals.lost += n,
        }
        s.last = Some(s.last.map_or(seq, |l| l.max(seq)));
    }

    /// After publishing stopped: wait until every subscriber that received something holds
    /// its topic's last message (or `--drain-secs`), then count those that do not.
    fn drain(&mut self) -> Result<(), String> {
        let end = Instant::now() + Duration::from_secs_f64(self.args.drain_secs);
        let complete = |s: &Soak| s.subs.iter().all(|x| x.last.is_none_or(|l| l + 1 == s.next_seq[x.topic]));
        while Instant::now() < end && !complete(self) {
            self.pump(Duration::from_millis(20))?;
        }
        for s in &self.subs {
            if let Some(l) = s.last {
                self.totals.checked_at_end += 1;
                if l + 1 != self.next_seq[s.topic] {
                    self.totals.tail_lost += 1;
                }
            }
        }
        Ok(())
    }
}

/// What a received sequence number means after `last`.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The first one, or the one after `last`.
    Next,
    Duplicate,
    Backwards,
    /// This many were skipped.
    Gap(u64),
}

fn step(last: Option<u64>, seq: u64) -> Step {
    match last {
        None => Step::Next,
        Some(l) if seq == l + 1 => Step::Next,
        Some(l) if seq == l => Step::Duplicate,
        Some(l) if seq < l => Step::Backwards,
        Some(l) => Step::Gap(seq - l - 1),
    }
}

/// The sequence number at the start of a payload.
fn parse_seq(p: &[u8]) -> Option<u64> {
    let digits = p.iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(&p[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_steps() {
        assert_eq!(step(None, 7), Step::Next);
        assert_eq!(step(Some(7), 8), Step::Next);
        assert_eq!(step(Some(7), 7), Step::Duplicate);
        assert_eq!(step(Some(7), 3), Step::Backwards);
        assert_eq!(step(Some(7), 11), Step::Gap(3));
        assert_eq!(parse_seq(b"000000000042...."), Some(42));
        assert_eq!(parse_seq(b"x"), None);
    }
}
