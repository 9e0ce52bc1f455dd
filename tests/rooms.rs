//! websocket-multiplex rooms over raw WebSocket, on both backends: every checklist
//! item of `spec/multiplex.md` that a raw WebSocket can exercise (the SockJS carriage
//! of the same items arrives with the SockJS transports), cross-shard delivery,
//! 2000 subscribers × 1000 messages, a stalled reader, encode-once, HTTP publish.

mod common;

use common::{client_frame, Fleet, WsClient};
use ringcast::BackendChoice;
use ringcast::Counter;
use ringcast::Server;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(200);

fn wait_subscriptions(server: &Server, n: u64) {
    assert!(
        common::eventually(Duration::from_secs(10), || server.metric(Counter::Subscriptions) == n),
        "expected {n} subscriptions, have {}",
        server.metric(Counter::Subscriptions)
    );
}

fn checklist_1_to_7_and_18_plain_multiplex_channels(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut c = WsClient::connect(server.local_addr(), "/multiplex/websocket");
    c.send_text("sub,ann"); // 1
    assert_eq!(c.recv_text(), "msg,ann,ann says hi");
    c.send_text("msg,ann,hello,world"); // 2
    assert_eq!(c.recv_text(), "msg,ann,ann echo: hello,world");
    c.send_text("msg,ann"); // 3
    assert_eq!(c.recv_text(), "msg,ann,ann echo: ");
    c.send_text("msg,bob,x"); // 4
    for m in ["sub,zzz", "msg,zzz,x", "foo,ann", "sub", ""] {
        c.send_text(m); // 5
    }
    c.send_text("sub,ann"); // 6
    c.send_text("uns,ann");
    c.send_text("msg,ann,after-uns");
    c.expect_silence(QUIET);
    c.send_text("sub,ann");
    assert_eq!(c.recv_text(), "msg,ann,ann says hi");
    c.send_text("sub,bob"); // 7
    assert_eq!(c.recv_text(), "msg,bob,bob says hi");
    c.send_text("msg,bob,a,b,c");
    assert_eq!(c.recv_text(), "msg,bob,bob echo: a,b,c");
    c.send_text("sub,carl"); // 18
    c.send_text("msg,carl,bye");
    assert_eq!(c.recv_text(), "uns,carl");
    c.send_text("msg,carl,again");
    c.expect_silence(QUIET);
}
both_backends!(checklist_1_to_7_and_18_plain_multiplex_channels);

/// Items 8–17 with raw WebSocket members on 2 shards (A, B, C, W may land anywhere).
fn checklist_8_to_17_rooms(b: BackendChoice) {
    let server = common::start(b, 2);
    let url = "/colors/websocket";
    let (mut a, mut bb, mut c) = (
        WsClient::connect(server.local_addr(), url),
        WsClient::connect(server.local_addr(), url),
        WsClient::connect(server.local_addr(), url),
    );
    a.send_text("sub,red"); // 8
    bb.send_text("sub,red");
    c.send_text("sub,blue");
    c.send_text("sub,green"); // not in the allowlist: ignored
    wait_subscriptions(&server, 3);
    a.expect_silence(QUIET);
    c.expect_silence(Duration::ZERO.max(Duration::from_millis(1)));
    a.send_text("msg,red,hi,there"); // 9
    assert_eq!(a.recv_text(), "msg,red,hi,there");
    assert_eq!(bb.recv_text(), "msg,red,hi,there");
    c.send_text("msg,red,intruder"); // 10
    bb.send_text("uns,red"); // 11
    wait_subscriptions(&server, 2);
    a.send_text("msg,red,2");
    assert_eq!(a.recv_text(), "msg,red,2");
    let mut w = WsClient::connect(server.local_addr(), url); // 12
    w.send_text("sub,red");
    wait_subscriptions(&server, 3);
    a.send_text("msg,red,3");
    assert_eq!(a.recv_text(), "msg,red,3");
    assert_eq!(w.recv_text(), "msg,red,3");
    w.send_text("msg,red,from-raw"); // 13
    assert_eq!(a.recv_text(), "msg,red,from-raw");
    assert_eq!(w.recv_text(), "msg,red,from-raw");
    bb.send_text("sub,red"); // 14
    wait_subscriptions(&server, 4);
    a.send_text("msg,red,4");
    for m in [&mut a, &mut bb, &mut w] {
        assert_eq!(m.recv_text(), "msg,red,4");
    }
    bb.expect_silence(QUIET); // B got nothing between its uns and sub
    c.expect_silence(Duration::from_millis(1)); // C never got a red message
    a.close(1000); // 15
    wait_subscriptions(&server, 3);
    bb.send_text("msg,red,5");
    assert_eq!(bb.recv_text(), "msg,red,5");
    assert_eq!(w.recv_text(), "msg,red,5");
    let mut two = client_frame(true, 1, b"msg,red,1"); // 16: two messages in one write
    two.extend_from_slice(&client_frame(true, 1, b"msg,red,2"));
    bb.send_raw(&two);
    for m in [&mut bb, &mut w] {
        assert_eq!(m.recv_text(), "msg,red,1");
        assert_eq!(m.recv_text(), "msg,red,2");
    }
    let special = "msg,red,q\"\\\u{2028}"; // 17: raw members get the bytes verbatim
    bb.send_text(special);
    assert_eq!(bb.recv_text(), special);
    assert_eq!(w.recv_text(), special);
    c.expect_silence(Duration::from_millis(1));
}
both_backends!(checklist_8_to_17_rooms);

/// Connect until both shards hold at least one subscriber, then publish from each side.
fn cross_shard_delivery_with_two_shards(b: BackendChoice) {
    let server = common::start(b, 2);
    let mut subs = Vec::new();
    while subs.len() < 64
        && (server.shard_metric(0, Counter::ConnectionsOpen) == 0
            || server.shard_metric(1, Counter::ConnectionsOpen) == 0)
        || subs.len() < 8
    {
        let mut c = WsClient::connect(server.local_addr(), "/rooms/websocket");
        c.send_text("sub,x");
        subs.push(c);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        server.shard_metric(0, Counter::ConnectionsOpen) > 0
            && server.shard_metric(1, Counter::ConnectionsOpen) > 0
    );
    wait_subscriptions(&server, subs.len() as u64);
    for i in 0..subs.len() {
        subs[i].send_text(&format!("msg,x,from-{i}"));
        for s in subs.iter_mut() {
            assert_eq!(s.recv_text(), format!("msg,x,from-{i}"));
        }
    }
    assert!(server.metric(Counter::BusPublishesIn) > 0, "some publishes crossed shards");
}
both_backends!(cross_shard_delivery_with_two_shards);

/// The fan-out acceptance test: 2000 subscribers, 1000 messages, every subscriber
/// receives every message exactly once and in publish order, across 2 shards.
fn two_thousand_subscribers_get_a_thousand_messages_in_order(b: BackendChoice) {
    const SUBSCRIBERS: usize = 2000;
    const MESSAGES: usize = 1000;
    let server = common::start(b, 2);
    let mut fleet = Fleet::connect(server.local_addr(), "/rooms/websocket", SUBSCRIBERS, "sub,bench");
    let mut publisher = WsClient::connect(server.local_addr(), "/rooms/websocket");
    publisher.send_text("sub,bench");
    wait_subscriptions(&server, SUBSCRIBERS as u64 + 1);
    // The publisher is a member too and gets its own messages: drain them on a thread.
    let drain = common::drain_thread(&publisher.stream);
    let mut batch = Vec::new();
    for i in 0..MESSAGES {
        batch.extend_from_slice(&client_frame(true, 1, format!("msg,bench,{i}").as_bytes()));
    }
    publisher.send_raw(&batch);
    let mut next = vec![0usize; SUBSCRIBERS];
    let mut received = 0usize;
    let finished = fleet.run(Duration::from_secs(120), |i, f| {
        let text = f.text();
        let seq: usize = text.strip_prefix("msg,bench,").and_then(|s| s.parse().ok()).expect("payload");
        assert_eq!(seq, next[i], "subscriber {i}: out of order, lost or duplicated");
        next[i] += 1;
        received += 1;
        received == SUBSCRIBERS * MESSAGES
    });
    assert!(finished, "received {received} of {}", SUBSCRIBERS * MESSAGES);
    assert!(next.iter().all(|&n| n == MESSAGES));
    assert_eq!(server.metric(Counter::ClosedBackpressure), 0);
    assert!(common::eventually(Duration::from_secs(2), || server.metric(Counter::FramesEncoded)
        == MESSAGES as u64));
    drop(fleet);
    drop(publisher);
    server.stop().unwrap();
    drain.join().unwrap();
}
both_backends!(two_thousand_subscribers_get_a_thousand_messages_in_order);

/// A subscriber that stops reading is closed once its queue passes the budget; the
/// others receive everything, in order, meanwhile.
fn stalled_reader_is_closed_and_others_are_unaffected(b: BackendChoice) {
    const MESSAGES: usize = 4000;
    let server = common::start_with(b, 1, "[limits]\nsend_budget_bytes = 262144\n");
    let addr = server.local_addr();
    let mut stalled = WsClient::connect_tcp_small_window(addr, 4096).handshake("/rooms/websocket");
    stalled.send_text("sub,big");
    let mut fleet = Fleet::connect(addr, "/rooms/websocket", 3, "sub,big");
    let mut publisher = WsClient::connect(addr, "/rooms/websocket");
    publisher.send_text("sub,big");
    wait_subscriptions(&server, 5);
    let drain = common::drain_thread(&publisher.stream);
    let body = "x".repeat(4096);
    // A paced publisher (64 KiB bursts, ~30 MB/s): healthy readers keep up with it, the
    // stalled one falls behind by more than the budget and is closed.
    let pub_thread = std::thread::spawn(move || {
        for i in 0..MESSAGES {
            publisher.send_text(&format!("msg,big,{i:05}{body}"));
            if i % 16 == 15 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        publisher
    });
    let mut next = [0usize; 3];
    let finished = fleet.run(Duration::from_secs(120), |i, f| {
        let t = f.text();
        assert_eq!(t[8..13].parse::<usize>().unwrap(), next[i]);
        next[i] += 1;
        next.iter().all(|&n| n == MESSAGES)
    });
    assert!(finished, "healthy subscribers got {next:?} of {MESSAGES}");
    assert_eq!(server.metric(Counter::ClosedBackpressure), 1, "the stalled reader was closed");
    let publisher = pub_thread.join().unwrap();
    drop(publisher);
    drop(stalled);
    server.stop().unwrap();
    drain.join().unwrap();
}
both_backends!(stalled_reader_is_closed_and_others_are_unaffected);

/// A consumer closed for its send budget is told so when its socket can take it: close
/// 1008 (SockJS: `c[1008,"Send budget exceeded"]` first), not only a line in the log.
fn slow_consumer_gets_its_1008_when_the_socket_takes_it(b: BackendChoice) {
    let server = common::start_with(b, 1, "[limits]\nsend_budget_bytes = 4096\n");
    let addr = server.local_addr();
    let mut raw = WsClient::connect(addr, "/rooms/websocket");
    raw.send_text("sub,big");
    let mut sj = WsClient::connect(addr, "/rooms/000/s/websocket");
    assert_eq!(sj.recv_text(), "o");
    sj.send_text(r#"["sub,big"]"#);
    wait_subscriptions(&server, 2);
    // One message over the per-tick cap (4 × the budget): both members are over budget
    // at once, with empty socket buffers.
    let body = "x".repeat(20_000);
    let req = format!(
        "POST /publish/big HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert!(common::http_raw(addr, req.as_bytes()).starts_with("HTTP/1.1 204"));
    raw.expect_close(1008);
    assert_eq!(sj.recv_text(), r#"c[1008,"Send budget exceeded"]"#);
    sj.expect_close(1008);
    // The counters are published at the end of the shard's tick, after the writes.
    assert!(common::eventually(Duration::from_secs(2), || server.metric(Counter::ClosedBackpressure) == 2));
}
both_backends!(slow_consumer_gets_its_1008_when_the_socket_takes_it);

fn http_publish_reaches_members(b: BackendChoice) {
    let server = common::start(b, 2);
    let mut m = WsClient::connect(server.local_addr(), "/rooms/websocket");
    m.send_text("sub,news");
    wait_subscriptions(&server, 1);
    let resp = common::http_raw(
        server.local_addr(),
        b"POST /publish/news HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello,world",
    );
    assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");
    assert_eq!(m.recv_text(), "msg,news,hello,world");
    let get = common::http_get(server.local_addr(), "/publish/news");
    assert!(get.starts_with("HTTP/1.1 405"), "{get}");
}
both_backends!(http_publish_reaches_members);

/// Two rooms services are two topic spaces: the same room name in each is two rooms,
/// and `/colors` keeps its allow-list whatever `/rooms` members do.
fn same_room_name_in_two_services_does_not_leak(b: BackendChoice) {
    let server = common::start(b, 2);
    let addr = server.local_addr();
    let mut any = WsClient::connect(addr, "/rooms/websocket");
    let mut any_sj = WsClient::connect(addr, "/rooms/000/s/websocket");
    assert_eq!(any_sj.recv_text(), "o");
    let mut colors = WsClient::connect(addr, "/colors/websocket");
    let mut colors_sj = WsClient::connect(addr, "/colors/000/s/websocket");
    assert_eq!(colors_sj.recv_text(), "o");
    any.send_text("sub,red");
    any_sj.send_text(r#"["sub,red"]"#);
    colors.send_text("sub,red");
    colors_sj.send_text(r#"["sub,red"]"#);
    colors.send_text("sub,green"); // not on /colors' allow-list
    any.send_text("sub,green");
    wait_subscriptions(&server, 5);
    any.send_text("msg,red,from-rooms");
    assert_eq!(any.recv_text(), "msg,red,from-rooms");
    assert_eq!(any_sj.recv_text(), r#"a["msg,red,from-rooms"]"#);
    colors.send_text("msg,red,from-colors");
    assert_eq!(colors.recv_text(), "msg,red,from-colors");
    assert_eq!(colors_sj.recv_text(), r#"a["msg,red,from-colors"]"#);
    colors.send_text("msg,green,not-a-member");
    any.send_text("msg,green,rooms-green");
    assert_eq!(any.recv_text(), "msg,green,rooms-green");
    // `/publish` reaches the public space (`/rooms`), or the service named in the query.
    let post = |path: &str| {
        let req =
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
        common::http_raw(addr, req.as_bytes())
    };
    assert!(post("/publish/red").starts_with("HTTP/1.1 204"));
    assert_eq!(any.recv_text(), "msg,red,hi");
    assert!(post("/publish/red?service=/colors").starts_with("HTTP/1.1 204"));
    assert_eq!(colors.recv_text(), "msg,red,hi");
    assert!(post("/publish/red?service=/nope").starts_with("HTTP/1.1 404"));
    for c in [&mut any, &mut colors] {
        c.expect_silence(QUIET);
    }
    assert_eq!(any_sj.recv_text(), r#"a["msg,red,hi"]"#);
    assert_eq!(colors_sj.recv_text(), r#"a["msg,red,hi"]"#);
    for c in [&mut any_sj, &mut colors_sj] {
        c.expect_silence(QUIET);
    }
}
both_backends!(same_room_name_in_two_services_does_not_leak);

/// A body that is not UTF-8 would go out as a text frame that every raw WebSocket client
/// must fail with 1007: it is refused with 400, and members get nothing.
fn http_publish_refuses_non_utf8_bodies(b: BackendChoice) {
    let server = common::start(b, 2);
    let mut m = WsClient::connect(server.local_addr(), "/rooms/websocket");
    m.send_text("sub,news");
    wait_subscriptions(&server, 1);
    let mut req =
        b"POST /publish/news HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'a', 0xff, b'b']);
    let resp = common::http_raw(server.local_addr(), &req);
    assert!(resp.starts_with("HTTP/1.1 400") && resp.ends_with("body must be UTF-8 text\n"), "{resp}");
    m.expect_silence(QUIET);
    assert_eq!(server.metric(Counter::PublishRejected), 1);
    m.send_text("msg,news,still-open");
    assert_eq!(m.recv_text(), "msg,news,still-open");
}
both_backends!(http_publish_refuses_non_utf8_bodies);

/// A peer that half-closes (FIN) while it has stopped reading, with a write of ours
/// stuck in its full socket buffers, is shut down and freed, not kept forever.
fn half_closed_peer_that_stops_reading_is_freed(b: BackendChoice) {
    // A budget large enough that the slow-consumer rule does not close it first.
    let server = common::start_with(b, 1, "[limits]\nsend_budget_bytes = 67108864\n");
    let addr = server.local_addr();
    // A small receive window, so that the flood below fills the path.
    let mut stalled = WsClient::connect_tcp_small_window(addr, 4096).handshake("/rooms/websocket");
    stalled.send_text("sub,flood");
    let mut publisher = WsClient::connect(addr, "/rooms/websocket");
    publisher.send_text("sub,flood");
    wait_subscriptions(&server, 2);
    let drain = common::drain_thread(&publisher.stream);
    let body = "y".repeat(8192);
    for i in 0..3000 {
        publisher.send_text(&format!("msg,flood,{i}{body}"));
    }
    // ~24 MB were published: far more than loopback socket buffers hold.
    assert!(common::eventually(Duration::from_secs(10), || server.metric(Counter::Deliveries) >= 6000));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.metric(Counter::ConnectionsOpen), 2);
    stalled.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(
        common::eventually(Duration::from_secs(5), || server.metric(Counter::ConnectionsOpen) == 1),
        "the half-closed connection is still open ({} open)",
        server.metric(Counter::ConnectionsOpen)
    );
    publisher.send_text("msg,flood,after");
    drop(publisher);
    server.stop().unwrap();
    drain.join().unwrap();
}
both_backends!(half_closed_peer_that_stops_reading_is_freed);

fn health_and_metrics_endpoints(b: BackendChoice) {
    let server = common::start(b, 2);
    let h = common::http_get(server.local_addr(), "/healthz");
    assert!(h.starts_with("HTTP/1.1 200") && h.ends_with("ok\n"), "{h}");
    let m = common::http_get(server.local_addr(), "/metrics");
    assert!(m.contains("# TYPE ringcast_deliveries_total counter"), "{m}");
    assert!(m.contains("ringcast_connections_open{shard=\"1\"}"), "{m}");
}
both_backends!(health_and_metrics_endpoints);

fn shutdown_closes_websockets_with_1001(b: BackendChoice) {
    let server = common::start(b, 2);
    let mut clients: Vec<WsClient> =
        (0..6).map(|_| WsClient::connect(server.local_addr(), "/rooms/websocket")).collect();
    server.stop().unwrap();
    for c in clients.iter_mut() {
        c.expect_close(1001);
    }
}
both_backends!(shutdown_closes_websockets_with_1001);

fn demo_page_is_served_with_configured_client_urls(b: BackendChoice) {
    let extra = "[demo]\nsockjs_client_url = \"/static/sockjs.js\"\nmultiplex_client_url = \"http://x/m.js?a=1&b=2\"\n";
    let server = common::start_with(b, 1, extra);
    let page = common::http_get(server.local_addr(), "/");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("text/html; charset=UTF-8"), "{page}");
    assert!(page.contains(r#"<script src="/static/sockjs.js">"#), "{page}");
    assert!(page.contains(r#"<script src="http://x/m.js?a=1&amp;b=2">"#), "{page}");
    assert!(page.contains("new Sock('/rooms'"), "{page}");
    assert!(
        !page.contains(r#"<script src="/ringcast-client.js">"#),
        "a configured client replaces ringcast's own: {page}"
    );
    let off = common::start_with(b, 1, "[demo]\nenabled = false\n");
    assert!(common::http_get(off.local_addr(), "/").starts_with("HTTP/1.1 404"));
}
both_backends!(demo_page_is_served_with_configured_client_urls);

/// A burst of 4 MB from one member does not starve the room: the shard reads it a
/// budget at a time and flushes in between, so subscribers that read as fast as they
/// can stay connected and receive every message, in order (fair event loop).
fn a_burst_from_one_member_reaches_every_subscriber(b: BackendChoice) {
    const SUBSCRIBERS: usize = 20;
    const MESSAGES: usize = 256;
    let server = common::start(b, 1);
    let addr = server.local_addr();
    let body = "x".repeat(16_000);
    let frames: Vec<Vec<u8>> =
        (0..MESSAGES).map(|i| client_frame(true, 1, format!("msg,burst,{i:05}{body}").as_bytes())).collect();
    // What a subscriber receives: the same payloads in unmasked server frames.
    let expected_bytes: usize = frames.iter().map(|f| f.len() - 4).sum();
    let readers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut c = WsClient::connect(addr, "/rooms/websocket");
            c.send_text("sub,burst");
            std::thread::spawn(move || {
                let mut got = Vec::with_capacity(expected_bytes);
                let mut chunk = vec![0u8; 1 << 20];
                while got.len() < expected_bytes {
                    match common::read_retrying(&mut c.stream, &mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&chunk[..n]),
                    }
                }
                got
            })
        })
        .collect();
    let mut publisher = WsClient::connect(addr, "/rooms/websocket");
    publisher.send_text("sub,burst");
    wait_subscriptions(&server, SUBSCRIBERS as u64 + 1);
    let drain = common::drain_thread(&publisher.stream);
    publisher.send_raw(&frames.concat());
    for (r, reader) in readers.into_iter().enumerate() {
        let got = reader.join().unwrap();
        let (mut at, mut next) = (0, 0);
        while let Some((f, n)) = common::parse_server_frame(&got[at..]) {
            at += n;
            assert_eq!(
                f.text()[10..15].parse::<usize>().unwrap(),
                next,
                "subscriber {r}: lost or out of order"
            );
            next += 1;
        }
        assert_eq!(next, MESSAGES, "subscriber {r} got {next} of {MESSAGES} messages");
    }
    assert_eq!(server.metric(Counter::ClosedBackpressure), 0, "no subscriber was dropped");
    drop(publisher);
    server.stop().unwrap();
    drain.join().unwrap();
}
both_backends!(a_burst_from_one_member_reaches_every_subscriber);

/// One client that never stops sending cannot stall its shard: while it floods, another
/// client on the same shard is served promptly, over and over (fair event loop: a read
/// budget per connection per tick, then flushes and timers).
fn a_flooding_client_does_not_stall_the_shard(b: BackendChoice) {
    let server = common::start(b, 1);
    let addr = server.local_addr();
    let mut flooder = WsClient::connect(addr, "/rooms/websocket");
    flooder.send_text("sub,own");
    let drain = common::drain_thread(&flooder.stream);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        let batch = client_frame(true, 1, format!("msg,nobody,{}", "n".repeat(8000)).as_bytes()).repeat(64);
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                flooder.send_raw(&batch);
            }
            flooder
        })
    };
    let mut member = WsClient::connect(addr, "/rooms/websocket");
    member.send_text("sub,calm");
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let started = std::time::Instant::now();
        member.send_text(&format!("msg,calm,{i}"));
        assert_eq!(member.recv_text(), format!("msg,calm,{i}"));
        worst = worst.max(started.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(worst < Duration::from_secs(2), "a round trip took {worst:?} while another client flooded");
    let flooder = flood.join().unwrap();
    drop(flooder);
    server.stop().unwrap();
    drain.join().unwrap();
}
both_backends!(a_flooding_client_does_not_stall_the_shard);

fn demo_page_uses_ringcast_client_by_default(b: BackendChoice) {
    let server = common::start(b, 2);
    let addr = server.local_addr();
    let page = common::http_get(addr, "/");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("text/html; charset=UTF-8"), "{page}");
    assert!(page.contains(r#"<script src="/ringcast-client.js"></script>"#), "{page}");
    assert!(!page.contains("https://"), "the default page must load nothing from elsewhere: {page}");
    let js = common::http_get(addr, "/ringcast-client.js");
    assert!(js.starts_with("HTTP/1.1 200"), "{js}");
    assert!(js.contains("Content-Type: text/javascript; charset=UTF-8"), "{js}");
    assert!(js.contains("global.Ringcast = {") && js.contains("'/websocket'"), "{js}");
    let off = common::start_with(b, 1, "[demo]\nenabled = false\n");
    assert!(common::http_get(off.local_addr(), "/ringcast-client.js").starts_with("HTTP/1.1 404"));
}
both_backends!(demo_page_uses_ringcast_client_by_default);
