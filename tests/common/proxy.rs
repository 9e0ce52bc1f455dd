//! A fault-injecting TCP proxy for the fault tests: it listens on `127.0.0.1:0`, forwards
//! every accepted connection to one upstream address (the server under test), and can
//! make each connection misbehave the way real networks and clients do.
//!
//! Per direction ([`Dir::Up`] client → server, [`Dir::Down`] server → client) a connection
//! can:
//! - add a fixed one-way delay ([`Leg::delay`]);
//! - be throttled to a byte rate ([`Leg::rate_bytes_per_s`], changeable at run time with
//!   [`ConnCtl::set_rate`]);
//! - stall, that is stop reading and forwarding ([`ConnCtl::stall`] / [`ConnCtl::resume`]),
//!   so that TCP flow control pushes back on the sender;
//! - end at a chosen byte position ([`ConnCtl::cut_after`]) or at once
//!   ([`ConnCtl::cut_now`]) with a [`Cut`]: a reset of both sides (RST, `SO_LINGER` 0), a
//!   half-close (FIN in that direction only), or a drop (FIN to both sides).
//!
//! [`Proxy::start`] applies one [`Plan`] to every connection; [`Proxy::conn`] returns the
//! control of the i-th accepted connection. Each connection runs four threads: a reader
//! and a writer per direction, joined by a queue of at most [`QUEUE_BYTES`] (plus one read), so a throttled or stalled direction pushes back on its sender instead
//! of buffering without limit. The proxy's own sockets have a fixed receive buffer
//! ([`SOCKET_BUFFER_BYTES`]) for the same reason. Cuts are counted in bytes written, so a
//! cut lands exactly at its byte position, after the bytes before it waited out their
//! delay. A source's end (FIN) is passed on as a half-close and its reset as a reset,
//! in order after the bytes before it.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

/// Largest read forwarded as one piece.
pub const CHUNK_BYTES: usize = 8 * 1024;
/// Bytes queued per direction (read, not yet written) before the reader waits.
pub const QUEUE_BYTES: u64 = 256 * 1024;
/// `SO_RCVBUF` of the proxy's sockets (kernel autotuning would otherwise hide a slow
/// reader behind megabytes of buffer).
pub const SOCKET_BUFFER_BYTES: usize = 128 * 1024;
/// How often blocked threads look at the connection's flags.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A direction of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client → server.
    Up,
    /// Server → client.
    Down,
}

impl Dir {
    fn index(self) -> usize {
        self as usize
    }
}

/// How a connection ends at a cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// RST to both sides (`SO_LINGER` 0, then close): a killed client or a middlebox reset.
    Reset,
    /// FIN towards the receiving side of this direction only; the other direction goes on.
    HalfClose,
    /// FIN to both sides: an orderly drop.
    Drop,
}

/// Faults of one direction, fixed at accept.
#[derive(Debug, Clone, Copy, Default)]
pub struct Leg {
    /// Added one-way delay.
    pub delay: Duration,
    /// Byte rate cap (`None`: as fast as the receiver reads).
    pub rate_bytes_per_s: Option<u64>,
}

/// Faults applied to every connection at accept.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plan {
    pub up: Leg,
    pub down: Leg,
}

impl Plan {
    /// The same delay in both directions.
    pub fn delay(delay: Duration) -> Plan {
        Plan { up: Leg { delay, ..Leg::default() }, down: Leg { delay, ..Leg::default() } }
    }
}

/// A running proxy; dropping it stops accepting (open connections run on).
pub struct Proxy {
    addr: SocketAddr,
    conns: Arc<(Mutex<Vec<ConnCtl>>, Condvar)>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listen on `127.0.0.1:0` and forward every connection to `upstream` under `plan`.
    pub fn start(upstream: SocketAddr, plan: Plan) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (conns.clone(), stop.clone());
        thread::spawn(move || accept_loop(listener, upstream, plan, c, s));
        Proxy { addr, conns, stop }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Control of the `i`-th accepted connection (0-based), waiting up to 10 s for it.
    pub fn conn(&self, i: usize) -> ConnCtl {
        let (lock, cv) = &*self.conns;
        let guard = lock.lock().unwrap();
        let (guard, _) = cv.wait_timeout_while(guard, Duration::from_secs(10), |v| v.len() <= i).unwrap();
        guard.get(i).cloned().unwrap_or_else(|| panic!("the proxy never accepted connection {i}"))
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.conns.0.lock().unwrap().len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    plan: Plan,
    conns: Arc<(Mutex<Vec<ConnCtl>>, Condvar)>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, _)) => {
                let ctl = spawn_conn(client, upstream, plan);
                let (lock, cv) = &*conns;
                lock.lock().unwrap().push(ctl);
                cv.notify_all();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("proxy accept: {e}"),
        }
    }
}

/// The shared state of one proxied connection.
struct Shared {
    /// [client, upstream].
    sockets: [TcpStream; 2],
    /// Per direction: bytes read from the source so far.
    read_bytes: [AtomicU64; 2],
    /// Per direction: bytes written to the destination so far.
    written_bytes: [AtomicU64; 2],
    /// Per direction: bytes read and not written yet.
    queued_bytes: [AtomicU64; 2],
    /// Per direction: forwarding paused.
    stalled: [AtomicBool; 2],
    /// Per direction: rate cap in bytes per second, 0 for none.
    rate: [AtomicU64; 2],
    /// Per direction: a cut planned at an absolute written position.
    cut_at: [Mutex<Option<(u64, Cut)>>; 2],
    /// Per direction: the reader stopped.
    ended: [AtomicBool; 2],
    /// The whole connection is finished (reset, dropped, or both directions ended).
    dead: AtomicBool,
}

/// Run-time control of one proxied connection. It does not keep the connection's sockets
/// open: they close when its threads end, and then every control is a no-op.
#[derive(Clone)]
pub struct ConnCtl(Weak<Shared>);

impl ConnCtl {
    fn with(&self, f: impl FnOnce(&Shared)) {
        if let Some(shared) = self.0.upgrade() {
            f(&shared)
        }
    }

    /// Stop reading and forwarding `dir` (bytes already queued still go out).
    pub fn stall(&self, dir: Dir) {
        self.with(|s| s.stalled[dir.index()].store(true, Ordering::Relaxed));
    }

    /// Forward `dir` again after [`ConnCtl::stall`].
    pub fn resume(&self, dir: Dir) {
        self.with(|s| s.stalled[dir.index()].store(false, Ordering::Relaxed));
    }

    /// Change the rate cap of `dir` (`None`: unlimited).
    pub fn set_rate(&self, dir: Dir, rate_bytes_per_s: Option<u64>) {
        self.with(|s| s.rate[dir.index()].store(rate_bytes_per_s.unwrap_or(0), Ordering::Relaxed));
    }

    /// End the connection with `cut` once `more_bytes` further bytes of `dir` have been
    /// delivered (counted from what the proxy has written so far, so bytes already read
    /// and waiting out their delay count too). With 0 the cut happens when the next byte
    /// of `dir` would go out; [`ConnCtl::cut_now`] does not wait for one.
    pub fn cut_after(&self, dir: Dir, more_bytes: u64, cut: Cut) {
        self.with(|s| {
            let at = s.written_bytes[dir.index()].load(Ordering::SeqCst) + more_bytes;
            *s.cut_at[dir.index()].lock().unwrap() = Some((at, cut));
        });
    }

    /// End the connection with `cut` now (a half-close ends `dir`).
    pub fn cut_now(&self, dir: Dir, cut: Cut) {
        self.with(|s| do_cut(s, dir, cut));
    }

    /// Bytes of `dir` written to their destination so far.
    pub fn written_bytes(&self, dir: Dir) -> u64 {
        self.0.upgrade().map_or(0, |s| s.written_bytes[dir.index()].load(Ordering::SeqCst))
    }

    /// Bytes of `dir` read from their source so far.
    pub fn read_bytes(&self, dir: Dir) -> u64 {
        self.0.upgrade().map_or(0, |s| s.read_bytes[dir.index()].load(Ordering::SeqCst))
    }

    /// Whether the connection is finished (reset, dropped, or closed on both sides).
    pub fn is_dead(&self) -> bool {
        self.0.upgrade().is_none_or(|s| s.dead.load(Ordering::Relaxed))
    }
}

fn spawn_conn(client: TcpStream, upstream: SocketAddr, plan: Plan) -> ConnCtl {
    client.set_nonblocking(false).unwrap();
    let server = connect_upstream(upstream);
    for s in [&client, &server] {
        s.set_nodelay(true).unwrap();
        socket2::SockRef::from(s).set_recv_buffer_size(SOCKET_BUFFER_BYTES).unwrap();
        s.set_read_timeout(Some(POLL_INTERVAL)).unwrap();
        s.set_write_timeout(Some(POLL_INTERVAL)).unwrap();
    }
    let shared = Arc::new(Shared {
        sockets: [client, server],
        read_bytes: [AtomicU64::new(0), AtomicU64::new(0)],
        written_bytes: [AtomicU64::new(0), AtomicU64::new(0)],
        queued_bytes: [AtomicU64::new(0), AtomicU64::new(0)],
        stalled: [AtomicBool::new(false), AtomicBool::new(false)],
        rate: [
            AtomicU64::new(plan.up.rate_bytes_per_s.unwrap_or(0)),
            AtomicU64::new(plan.down.rate_bytes_per_s.unwrap_or(0)),
        ],
        cut_at: [Mutex::new(None), Mutex::new(None)],
        ended: [AtomicBool::new(false), AtomicBool::new(false)],
        dead: AtomicBool::new(false),
    });
    for (dir, leg) in [(Dir::Up, plan.up), (Dir::Down, plan.down)] {
        let (tx, rx) = channel();
        let (r, w) = (shared.clone(), shared.clone());
        thread::spawn(move || read_side(&r, dir, tx));
        thread::spawn(move || write_side(&w, dir, leg.delay, rx));
    }
    ConnCtl(Arc::downgrade(&shared))
}

/// Connect to the server with the proxy's fixed receive buffer (set before connecting,
/// so the window scale matches it).
fn connect_upstream(upstream: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(SOCKET_BUFFER_BYTES).unwrap();
    s.connect(&upstream.into()).expect("proxy connects upstream");
    s.into()
}

/// What the reader hands to the writer of the same direction.
enum Item {
    Data(Instant, Vec<u8>),
    /// The source ended (FIN): pass it on as a half-close.
    Eof(Instant),
    /// End the connection this way.
    Cut(Instant, Cut),
}

/// (source, destination) sockets of `dir`.
fn ends(shared: &Shared, dir: Dir) -> (&TcpStream, &TcpStream) {
    match dir {
        Dir::Up => (&shared.sockets[0], &shared.sockets[1]),
        Dir::Down => (&shared.sockets[1], &shared.sockets[0]),
    }
}

fn read_side(shared: &Shared, dir: Dir, tx: Sender<Item>) {
    let (mut src, _) = ends(shared, dir);
    let mut buf = vec![0u8; CHUNK_BYTES];
    let last = loop {
        if shared.dead.load(Ordering::Relaxed) {
            return;
        }
        let full = shared.queued_bytes[dir.index()].load(Ordering::SeqCst) >= QUEUE_BYTES;
        if full || shared.stalled[dir.index()].load(Ordering::Relaxed) {
            thread::sleep(POLL_INTERVAL);
            continue;
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break Item::Eof(Instant::now()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => break Item::Cut(Instant::now(), Cut::Reset),
        };
        shared.read_bytes[dir.index()].fetch_add(n as u64, Ordering::SeqCst);
        shared.queued_bytes[dir.index()].fetch_add(n as u64, Ordering::SeqCst);
        if tx.send(Item::Data(Instant::now(), buf[..n].to_vec())).is_err() {
            return;
        }
    };
    let _ = tx.send(last);
}

fn write_side(shared: &Shared, dir: Dir, delay: Duration, rx: Receiver<Item>) {
    let (_, dst) = ends(shared, dir);
    let mut pacer = Pacer::new();
    loop {
        let item = match rx.recv_timeout(POLL_INTERVAL) {
            Ok(item) => item,
            Err(RecvTimeoutError::Timeout) if !shared.dead.load(Ordering::Relaxed) => continue,
            Err(_) => return,
        };
        let at = match &item {
            Item::Data(at, _) | Item::Eof(at) | Item::Cut(at, _) => *at,
        };
        sleep_until(at + delay);
        match item {
            Item::Data(_, data) => {
                let cut = write_paced(shared, dir, dst, &data, &mut pacer);
                shared.queued_bytes[dir.index()].fetch_sub(data.len() as u64, Ordering::SeqCst);
                if let Some(how) = cut {
                    return do_cut(shared, dir, how);
                }
            }
            Item::Eof(_) => return do_cut(shared, dir, Cut::HalfClose),
            Item::Cut(_, how) => return do_cut(shared, dir, how),
        }
    }
}

/// Rate accounting of one direction: bytes written since `since`.
struct Pacer {
    since: Instant,
    bytes: u64,
    rate: u64,
}

impl Pacer {
    fn new() -> Pacer {
        Pacer { since: Instant::now(), bytes: 0, rate: 0 }
    }

    /// How many bytes may go now under `rate` (restarting the account when it changes),
    /// sleeping until at least one may.
    fn allowance(&mut self, rate: u64, want: usize) -> usize {
        if rate != self.rate {
            *self = Pacer { since: Instant::now(), bytes: 0, rate };
        }
        if rate == 0 {
            return want;
        }
        // At most 10 ms worth at a time, so a low rate is smooth.
        let slice = (rate / 100).max(1) as usize;
        loop {
            let earned = (self.since.elapsed().as_secs_f64() * rate as f64) as u64;
            if earned > self.bytes {
                return want.min(slice).min((earned - self.bytes) as usize);
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Write `data` to `dst` under the direction's rate cap, stopping at a planned cut;
/// returns the cut to carry out (a reset if the connection died).
fn write_paced(
    shared: &Shared,
    dir: Dir,
    mut dst: &TcpStream,
    data: &[u8],
    pacer: &mut Pacer,
) -> Option<Cut> {
    let written = &shared.written_bytes[dir.index()];
    let mut at = 0;
    while at < data.len() {
        if shared.dead.load(Ordering::Relaxed) {
            return Some(Cut::Reset);
        }
        let mut n = data.len() - at;
        if let Some((cut_at, how)) = *shared.cut_at[dir.index()].lock().unwrap() {
            let room = cut_at.saturating_sub(written.load(Ordering::SeqCst));
            if room == 0 {
                return Some(how);
            }
            n = n.min(room as usize);
        }
        let n = pacer.allowance(shared.rate[dir.index()].load(Ordering::Relaxed), n);
        match dst.write(&data[at..at + n]) {
            Ok(0) => return Some(Cut::Reset),
            Ok(w) => {
                at += w;
                pacer.bytes += w as u64;
                written.fetch_add(w as u64, Ordering::SeqCst);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Some(Cut::Reset),
        }
    }
    // A cut exactly at the end of this data happens now, not at the next byte.
    match *shared.cut_at[dir.index()].lock().unwrap() {
        Some((cut_at, how)) if cut_at <= written.load(Ordering::SeqCst) => Some(how),
        _ => None,
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// Carry out `how` for `dir`. Sockets close when the last thread holding the connection
/// ends, so a reset sets `SO_LINGER` 0 first and marks the connection dead (every thread
/// then returns within [`POLL_INTERVAL`]).
fn do_cut(shared: &Shared, dir: Dir, how: Cut) {
    let (_, dst) = ends(shared, dir);
    match how {
        Cut::HalfClose => {
            let _ = dst.shutdown(Shutdown::Write);
            shared.ended[dir.index()].store(true, Ordering::SeqCst);
            if shared.ended.iter().all(|e| e.load(Ordering::SeqCst)) {
                shared.dead.store(true, Ordering::Relaxed);
            }
        }
        Cut::Drop => {
            for s in &shared.sockets {
                let _ = s.shutdown(Shutdown::Both);
            }
            shared.dead.store(true, Ordering::Relaxed);
        }
        Cut::Reset => {
            for s in &shared.sockets {
                let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
            }
            shared.dead.store(true, Ordering::Relaxed);
        }
    }
}
