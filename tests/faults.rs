//! Fault tests, on both backends: clients reach the server through the fault-injecting
//! proxy of `common::proxy` (this kernel has no `netem`), which kills a client in the
//! middle of a WebSocket frame, adds 50 ms of delay and throttles subscribers below the
//! publish rate, stalls one subscriber's path, and resets SockJS receivers in the middle of a polling or streaming
//! response. In every case the clients that stay receive every message exactly once and
//! in order, the server frees what the faulty client held, a consumer that falls more than
//! `send_budget_bytes` behind is closed with 1008 and counted (`ClosedBackpressure`),
//! and whatever a faulty client did receive before its end has no gap and no duplicate.

mod common;

use common::proxy::{Cut, Dir, Leg, Plan, Proxy};
use common::{client_frame, Fleet, WsClient, READ_TIMEOUT};
use ringcast::BackendChoice;
use ringcast::Counter;
use ringcast::Server;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

fn wait_metric(server: &Server, counter: Counter, want: u64) {
    assert!(
        common::eventually(PATIENCE, || server.metric(counter) == want),
        "expected {counter:?} = {want}, have {}",
        server.metric(counter)
    );
}

/// The sequence number of a room message `msg,<room>,<seq>[padding]` (4 digits).
fn seq(text: &str, room: &str) -> usize {
    let rest =
        text.strip_prefix(&format!("msg,{room},")).unwrap_or_else(|| panic!("unexpected message {text:?}"));
    rest[..4].parse().unwrap_or_else(|_| panic!("no sequence number in {text:?}"))
}

/// `got` is 0, 1, 2, … with no gap and no duplicate.
fn assert_prefix(who: &str, got: &[usize]) {
    for (i, &s) in got.iter().enumerate() {
        assert_eq!(s, i, "{who}: message {i} has sequence number {s} (gap, duplicate or reorder)");
    }
}

// ---- a client killed mid-frame ---------------------------------------------------------------

/// A room member whose connection is reset after half of a WebSocket frame it sent: the
/// server frees its connection and membership, the half frame reaches nobody, and the
/// other members receive every message of a publisher, in order, before and after.
fn client_killed_mid_frame(b: BackendChoice) {
    const MESSAGES: usize = 2000;
    let server = common::start(b, 2);
    let addr = server.local_addr();
    let mut fleet = Fleet::connect(addr, "/rooms/websocket", 3, "sub,room");
    let mut publisher = WsClient::connect(addr, "/rooms/websocket");
    publisher.send_text("sub,room");
    wait_metric(&server, Counter::Subscriptions, 4);
    let open_before = server.metric(Counter::ConnectionsOpen);
    let proxy = Proxy::start(addr, Plan::default());
    let mut victim = WsClient::connect(proxy.addr(), "/rooms/websocket");
    victim.send_text("sub,room");
    wait_metric(&server, Counter::Subscriptions, 5);
    assert_eq!(server.metric(Counter::ConnectionsOpen), open_before + 1);
    let ctl = proxy.conn(0);
    let drain = common::drain_thread(&publisher.stream);
    let victim_drain = common::drain_thread(&victim.stream);
    let publishing = std::thread::spawn(move || {
        let publish = |p: &mut WsClient, range: std::ops::Range<usize>| {
            for i in range {
                p.send_text(&format!("msg,room,{i:04}"));
                if i % 50 == 49 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        };
        publish(&mut publisher, 0..MESSAGES / 2);
        // The victim starts a 4 KB message; the proxy delivers half of it, then resets.
        let frame = client_frame(true, 1, format!("msg,room,VICTIM{}", "v".repeat(4000)).as_bytes());
        ctl.cut_after(Dir::Up, frame.len() as u64 / 2, Cut::Reset);
        victim.send_raw(&frame);
        assert!(common::eventually(PATIENCE, || ctl.is_dead()), "the proxy never reset the victim");
        publish(&mut publisher, MESSAGES / 2..MESSAGES);
        (publisher, victim)
    });
    let mut next = [0usize; 3];
    let finished = fleet.run(Duration::from_secs(60), |i, f| {
        assert_eq!(seq(&f.text(), "room"), next[i], "member {i}: lost, duplicated or out of order");
        next[i] += 1;
        next.iter().all(|&n| n == MESSAGES)
    });
    assert!(finished, "members got {next:?} of {MESSAGES}");
    let (publisher, victim) = publishing.join().unwrap();
    wait_metric(&server, Counter::ConnectionsOpen, open_before);
    wait_metric(&server, Counter::Subscriptions, 4);
    assert_eq!(server.metric(Counter::ClosedProtocolError), 0, "a cut frame is not a protocol error");
    drop((fleet, publisher, victim));
    server.stop().unwrap();
    drain.join().unwrap();
    victim_drain.join().unwrap();
}
both_backends!(client_killed_mid_frame);

// ---- delay and throttled subscribers ---------------------------------------------------------

/// What one subscriber read: the sequence numbers of its messages, and the close code
/// if a close frame arrived before the end of the connection.
struct Received {
    seqs: Vec<usize>,
    close: Option<u16>,
}

/// Read room messages until `want` arrived or the connection ended.
fn read_room(mut c: WsClient, room: &'static str, want: usize) -> std::thread::JoinHandle<Received> {
    std::thread::spawn(move || {
        let mut got = Received { seqs: Vec::new(), close: None };
        while got.seqs.len() < want {
            match c.try_recv() {
                Some(f) if f.opcode == 1 => got.seqs.push(seq(&f.text(), room)),
                Some(f) if f.opcode == 8 => got.close = f.close_code(),
                Some(_) => {}
                None => break,
            }
        }
        got
    })
}

/// Five subscribers behind 50 ms of delay each way, two of them throttled to 20 KB/s
/// while about 1 MB/s is published: the three others receive everything exactly once
/// and in order; the throttled two fall more than the send budget behind and are closed
/// (1008, counted), and what they received up to then has no gap and no duplicate.
fn delayed_and_throttled_subscribers(b: BackendChoice) {
    const MESSAGES: usize = 2000;
    const SUBSCRIBERS: usize = 5;
    const THROTTLED: usize = 2;
    let extra = "[limits]\nsend_budget_bytes = 65536\n[io]\nsocket_send_buffer_bytes = 32768\n";
    let server = common::start_with(b, 1, extra);
    let addr = server.local_addr();
    let proxy = Proxy::start(addr, Plan::delay(Duration::from_millis(50)));
    let mut readers = Vec::new();
    for i in 0..SUBSCRIBERS {
        let mut c = WsClient::connect(proxy.addr(), "/rooms/websocket");
        if i < THROTTLED {
            proxy.conn(i).set_rate(Dir::Down, Some(20_000));
        }
        c.send_text("sub,feed");
        readers.push(read_room(c, "feed", MESSAGES));
    }
    let mut publisher = WsClient::connect(addr, "/rooms/websocket");
    publisher.send_text("sub,feed");
    wait_metric(&server, Counter::Subscriptions, SUBSCRIBERS as u64 + 1);
    let drain = common::drain_thread(&publisher.stream);
    let body = "p".repeat(1000);
    for i in 0..MESSAGES {
        publisher.send_text(&format!("msg,feed,{i:04}{body}"));
        if i % 16 == 15 {
            std::thread::sleep(Duration::from_millis(16));
        }
    }
    // The throttled two are closed; lift their throttle so that what the proxy and the
    // sockets still hold for them arrives quickly.
    wait_metric(&server, Counter::ClosedBackpressure, THROTTLED as u64);
    for i in 0..THROTTLED {
        proxy.conn(i).set_rate(Dir::Down, None);
    }
    for (i, r) in readers.into_iter().enumerate() {
        let got = r.join().unwrap();
        assert_prefix(&format!("subscriber {i}"), &got.seqs);
        if i < THROTTLED {
            assert!(got.seqs.len() < MESSAGES, "throttled subscriber {i} kept up: {}", got.seqs.len());
            assert!(matches!(got.close, None | Some(1008)), "subscriber {i}: close {:?}", got.close);
        } else {
            assert_eq!(got.seqs.len(), MESSAGES, "subscriber {i}");
            assert_eq!(got.close, None);
        }
    }
    assert_eq!(server.metric(Counter::ClosedBackpressure), THROTTLED as u64);
    drop(publisher);
    server.stop().unwrap();
    drain.join().unwrap();
}
both_backends!(delayed_and_throttled_subscribers);

/// A network path that stops forwarding to one subscriber (the proxy stalls): the server
/// keeps delivering to a direct subscriber, closes the stalled one once it is more than the
/// send budget behind (1008, counted), and after the path resumes that subscriber reads a
/// gapless prefix of the messages, then the end of its connection.
fn stalled_path_is_closed_by_the_send_budget(b: BackendChoice) {
    const MESSAGES: usize = 2000;
    let extra = "[limits]\nsend_budget_bytes = 65536\n[io]\nsocket_send_buffer_bytes = 32768\n";
    let server = common::start_with(b, 1, extra);
    let addr = server.local_addr();
    let proxy = Proxy::start(addr, Plan::default());
    let mut stalled = WsClient::connect(proxy.addr(), "/rooms/websocket");
    stalled.send_text("sub,feed");
    let mut direct = WsClient::connect(addr, "/rooms/websocket");
    direct.send_text("sub,feed");
    let mut publisher = WsClient::connect(addr, "/rooms/websocket");
    publisher.send_text("sub,feed");
    wait_metric(&server, Counter::Subscriptions, 3);
    let ctl = proxy.conn(0);
    ctl.stall(Dir::Down);
    let (stalled_reader, direct_reader) =
        (read_room(stalled, "feed", MESSAGES), read_room(direct, "feed", MESSAGES));
    let drain = common::drain_thread(&publisher.stream);
    let body = "s".repeat(1000);
    for i in 0..MESSAGES {
        publisher.send_text(&format!("msg,feed,{i:04}{body}"));
        if i % 16 == 15 {
            std::thread::sleep(Duration::from_millis(16)); // about 1 MB/s
        }
    }
    wait_metric(&server, Counter::ClosedBackpressure, 1);
    ctl.resume(Dir::Down);
    let got = stalled_reader.join().unwrap();
    assert_prefix("the stalled subscriber", &got.seqs);
    assert!(got.seqs.len() < MESSAGES, "the stalled subscriber got everything");
    assert!(matches!(got.close, None | Some(1008)), "close {:?}", got.close);
    let got = direct_reader.join().unwrap();
    assert_prefix("the direct subscriber", &got.seqs);
    assert_eq!(got.seqs.len(), MESSAGES);
    assert_eq!(server.metric(Counter::ClosedBackpressure), 1, "only the stalled subscriber was closed");
    // The stalled subscriber was freed, and the direct one closed by its reader: the
    // publisher is left.
    wait_metric(&server, Counter::ConnectionsOpen, 1);
    drop(publisher);
    server.stop().unwrap();
    drain.join().unwrap();
}
both_backends!(stalled_path_is_closed_by_the_send_budget);

// ---- SockJS receivers reset mid-response ----------------------------------------------------

/// A SockJS HTTP/1.0 receiving request (close-delimited body, spec §9) read line by line.
struct Receiver {
    stream: TcpStream,
    buf: Vec<u8>,
    head_done: bool,
}

impl Receiver {
    /// `POST <path>` over HTTP/1.0 to `addr`.
    fn open(addr: SocketAddr, path: &str) -> Receiver {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream
            .write_all(format!("POST {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n").as_bytes())
            .unwrap();
        Receiver { stream, buf: Vec::new(), head_done: false }
    }

    /// Read more; false at EOF or reset.
    fn fill(&mut self) -> bool {
        common::read_more(&mut self.stream, &mut self.buf)
    }

    /// The next body line (a SockJS frame) without its `\n`; None at the end.
    fn frame(&mut self) -> Option<String> {
        loop {
            if !self.head_done {
                if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                    self.buf.drain(..at + 4);
                    self.head_done = true;
                    continue;
                }
            } else if let Some(at) = self.buf.iter().position(|&c| c == b'\n') {
                let line = String::from_utf8(self.buf.drain(..at + 1).take(at).collect()).unwrap();
                return Some(line);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// The next frame that is not the streaming prelude or a heartbeat.
    fn data_frame(&mut self) -> Option<String> {
        loop {
            match self.frame() {
                Some(f) if f.bytes().all(|c| c == b'h') => continue,
                other => return other,
            }
        }
    }
}

/// The messages of an `a[...]` frame whose strings have no quote or escape in them.
fn frame_messages(frame: &str) -> Vec<String> {
    let inner = frame.strip_prefix("a[\"").and_then(|f| f.strip_suffix("\"]"));
    let inner = inner.unwrap_or_else(|| panic!("not an a[...] frame: {frame:?}"));
    inner.split("\",\"").map(str::to_string).collect()
}

/// `POST …/xhr_send` with one message; the status code.
fn xhr_send(addr: SocketAddr, sid: &str, message: &str) -> u16 {
    let body = format!("[\"{message}\"]");
    let req = format!(
        "POST /rooms/000/{sid}/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let resp = common::http_raw(addr, req.as_bytes());
    resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad response {resp:?}"))
}

/// A raw WebSocket room member that publishes `count` messages `msg,<room>,<seq>` at
/// about one per `pause`, from a thread; returns it when done.
fn publish_paced(
    addr: SocketAddr,
    room: &'static str,
    count: usize,
    pause: Duration,
) -> (std::thread::JoinHandle<WsClient>, std::thread::JoinHandle<()>) {
    let mut p = WsClient::connect(addr, "/rooms/websocket");
    p.send_text(&format!("sub,{room}")); // only members publish to a room
    let drain = common::drain_thread(&p.stream);
    let thread = std::thread::spawn(move || {
        for i in 0..count {
            p.send_text(&format!("msg,{room},{i:04}"));
            std::thread::sleep(pause);
        }
        p
    });
    (thread, drain)
}

/// A session that receives the whole room by xhr_streaming, directly: every message
/// exactly once and in order.
fn stream_everything(addr: SocketAddr, sid: String, count: usize) -> std::thread::JoinHandle<Vec<usize>> {
    let mut r = Receiver::open(addr, &format!("/rooms/000/{sid}/xhr_streaming"));
    assert_eq!(r.data_frame().as_deref(), Some("o"));
    assert_eq!(xhr_send(addr, &sid, "sub,t"), 204);
    std::thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < count {
            // The response limit (128 KiB by default) ends a response: open the next one.
            let Some(f) = r.data_frame() else {
                r = Receiver::open(addr, &format!("/rooms/000/{sid}/xhr_streaming"));
                continue;
            };
            got.extend(frame_messages(&f).iter().map(|m| seq(m, "t")));
        }
        got
    })
}

/// A session whose xhr_streaming receiver is reset in the middle of a frame: the server
/// ends the session at once (spec §6.5: a receiver dropped before the server ended it
/// destroys the session, as sockjs-node does), so sends to it get 404 and the same id opens
/// a new session; what it received has no gap and no duplicate; another session and the
/// connections gauge are unaffected.
fn sockjs_streaming_receiver_reset(b: BackendChoice) {
    const MESSAGES: usize = 400;
    let server = common::start_sockjs(b, 2, "");
    let addr = server.local_addr();
    let (victim, survivor) = ("fault-stream-victim", "fault-stream-survivor".to_string());
    let open_before = server.metric(Counter::ConnectionsOpen);
    let proxy = Proxy::start(addr, Plan::default());
    let mut v = Receiver::open(proxy.addr(), &format!("/rooms/000/{victim}/xhr_streaming"));
    assert_eq!(v.data_frame().as_deref(), Some("o"));
    assert_eq!(xhr_send(addr, victim, "sub,t"), 204);
    let survivor = stream_everything(addr, survivor, MESSAGES);
    wait_metric(&server, Counter::Subscriptions, 2);
    let (publishing, drain) = publish_paced(addr, "t", MESSAGES, Duration::from_millis(3));
    let mut got = Vec::new();
    let ctl = proxy.conn(0);
    while let Some(f) = v.data_frame() {
        let before = got.len();
        got.extend(frame_messages(&f).iter().map(|m| seq(m, "t")));
        if before < 50 && got.len() >= 50 {
            // 7 bytes into whatever the server sends next: `a["msg,` and the reset.
            ctl.cut_after(Dir::Down, 7, Cut::Reset);
        }
    }
    assert_prefix("the reset session", &got);
    assert!(got.len() < MESSAGES, "the reset came after the last message");
    // At once: well before the 5 s disconnect delay would end it anyway.
    assert!(
        common::eventually(Duration::from_secs(3), || server.metric(Counter::SockjsSessionsClosed) == 1),
        "the reset session was not ended at once"
    );
    assert_eq!(xhr_send(addr, victim, "msg,t,gone"), 404, "the reset session still exists");
    let survived = survivor.join().unwrap();
    assert_prefix("the other session", &survived);
    assert_eq!(survived.len(), MESSAGES);
    let publisher = publishing.join().unwrap();
    let mut again = Receiver::open(addr, &format!("/rooms/000/{victim}/xhr_streaming"));
    assert_eq!(again.data_frame().as_deref(), Some("o"), "the same id opens a new session");
    drop((publisher, again, v));
    assert!(common::eventually(PATIENCE, || server.metric(Counter::ConnectionsOpen) <= open_before + 1));
    server.stop().unwrap();
    drain.join().unwrap();
}
both_backends!(sockjs_streaming_receiver_reset);

/// Poll `/rooms/000/<sid>/xhr` once through `addr`; the frame, or None if the response
/// was cut before a whole frame arrived.
fn poll(addr: SocketAddr, sid: &str) -> Option<String> {
    Receiver::open(addr, &format!("/rooms/000/{sid}/xhr")).frame()
}

/// A polling session whose poll is reset in the middle of its response (the server wrote
/// all of it; the proxy delivers half): the server had ended that poll normally, so the
/// session goes on (spec §6.3) and the next polls get the later messages; the messages
/// of the cut response are lost (polling is at most once) and none is delivered twice.
/// Another polling session receives everything, exactly once and in order.
fn sockjs_polling_response_reset(b: BackendChoice) {
    const MESSAGES: usize = 400;
    let server = common::start_sockjs(b, 2, "");
    let addr = server.local_addr();
    let (victim, survivor) = ("fault-poll-victim", "fault-poll-survivor");
    // The victim's responses wait 100 ms in the proxy: time to plan a cut inside one.
    let down = Leg { delay: Duration::from_millis(100), rate_bytes_per_s: None };
    let proxy = Proxy::start(addr, Plan { up: Leg::default(), down });
    for sid in [victim, survivor] {
        assert_eq!(poll(addr, sid).as_deref(), Some("o"));
        assert_eq!(xhr_send(addr, sid, "sub,t"), 204);
    }
    wait_metric(&server, Counter::Subscriptions, 2);
    let survivor_thread = std::thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < MESSAGES {
            let f = poll(addr, survivor).expect("a whole poll response");
            got.extend(frame_messages(&f).iter().map(|m| seq(m, "t")));
        }
        got
    });
    let (publishing, drain) = publish_paced(addr, "t", MESSAGES, Duration::from_millis(5));
    let mut got = Vec::new();
    let mut cut_lost_bytes = 0;
    for i in 0.. {
        if got.last() == Some(&(MESSAGES - 1)) {
            break;
        }
        assert!(i < 10 * MESSAGES, "the victim never got the last message: {got:?}");
        if i != 3 {
            let f = poll(proxy.addr(), victim).expect("a whole poll response");
            got.extend(frame_messages(&f).iter().map(|m| seq(m, "t")));
            continue;
        }
        // Poll 3: once its response is in the proxy, cut it in the middle.
        let mut r = Receiver::open(proxy.addr(), &format!("/rooms/000/{victim}/xhr"));
        let ctl = proxy.conn(i);
        assert!(common::eventually(PATIENCE, || ctl.read_bytes(Dir::Down) > 0));
        std::thread::sleep(Duration::from_millis(20));
        let half = ctl.read_bytes(Dir::Down) / 2;
        ctl.cut_after(Dir::Down, half, Cut::Reset);
        assert_eq!(r.frame(), None, "a whole frame passed the cut");
        assert!(r.buf.len() as u64 <= half);
        cut_lost_bytes = half;
    }
    assert!(cut_lost_bytes > 0);
    assert_prefix_with_gap(&got);
    assert!(got.len() < MESSAGES, "the cut response carried no message");
    assert_eq!(server.metric(Counter::SockjsSessionsClosed), 0, "a session ended");
    let survived = survivor_thread.join().unwrap();
    assert_prefix("the other session", &survived);
    assert_eq!(survived.len(), MESSAGES);
    drop(publishing.join().unwrap());
    server.stop().unwrap();
    drain.join().unwrap();
}
both_backends!(sockjs_polling_response_reset);

/// Strictly increasing (no duplicate, no reorder), starting at 0, with one gap at most.
fn assert_prefix_with_gap(got: &[usize]) {
    assert_eq!(got.first(), Some(&0), "{got:?}");
    let gaps = got.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert!(got.windows(2).all(|w| w[1] > w[0]), "duplicate or out of order: {got:?}");
    assert!(gaps <= 1, "more than the cut response lost: {got:?}");
}

/// A pending poll (nothing to receive yet) reset by the network: like a client abort
/// (spec §6.5, item 29) the session ends at once and the same id opens a new one; a
/// session polled alongside is unaffected.
fn sockjs_pending_poll_reset(b: BackendChoice) {
    let server = common::start_sockjs(b, 2, "");
    let addr = server.local_addr();
    let (victim, other) = ("fault-pending-victim", "fault-pending-other");
    for sid in [victim, other] {
        assert_eq!(poll(addr, sid).as_deref(), Some("o"));
    }
    let proxy = Proxy::start(addr, Plan::default());
    let mut r = Receiver::open(proxy.addr(), &format!("/rooms/000/{victim}/xhr"));
    let ctl = proxy.conn(0);
    assert!(common::eventually(PATIENCE, || ctl.written_bytes(Dir::Up) > 0));
    std::thread::sleep(Duration::from_millis(200)); // the poll is attached
    ctl.cut_now(Dir::Down, Cut::Reset);
    assert_eq!(r.frame(), None);
    wait_metric(&server, Counter::SockjsSessionsClosed, 1);
    assert_eq!(xhr_send(addr, victim, "x"), 404);
    assert_eq!(xhr_send(addr, other, "sub,t"), 204);
    let mut m = WsClient::connect(addr, "/rooms/websocket");
    m.send_text("sub,t");
    wait_metric(&server, Counter::Subscriptions, 2);
    m.send_text("msg,t,0000");
    assert_eq!(poll(addr, other).as_deref(), Some("a[\"msg,t,0000\"]"));
    assert_eq!(poll(addr, victim).as_deref(), Some("o"), "the same id opens a new session");
}
both_backends!(sockjs_pending_poll_reset);
