//! RFC 6455 behaviour over loopback, on both backends: handshake (good and bad),
//! ping/pong, fragmentation, close codes, oversized frames, invalid UTF-8, garbage,
//! a client vanishing mid-frame, idle timeouts. The Autobahn TestSuite (run from
//! `.ci/run`) covers the protocol exhaustively; these pin the behaviours down by name.

mod common;

use common::{client_frame, http_raw, WsClient};
use ringcast::BackendChoice;
use ringcast::Counter;
use std::time::Duration;

fn handshake_is_accepted_with_rfc_accept_key(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_text("hello");
    assert_eq!(c.recv_text(), "hello");
    c.close(1000);
}
both_backends!(handshake_is_accepted_with_rfc_accept_key);

fn tungstenite_client_interoperates(b: BackendChoice) {
    let server = common::start(b, 1);
    let url = format!("ws://{}/echo/websocket", server.local_addr());
    let (mut ws, resp) = tungstenite::connect(url).expect("tungstenite connects");
    assert_eq!(resp.status(), 101);
    ws.send(tungstenite::Message::text("ünïcödé ✓")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("ünïcödé ✓"));
    ws.send(tungstenite::Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::binary(vec![0u8, 1, 2, 255]));
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}
both_backends!(tungstenite_client_interoperates);

fn bad_handshakes_get_clear_statuses(b: BackendChoice) {
    let server = common::start(b, 1);
    let a = server.local_addr();
    let base = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    let no_key = http_raw(
        a,
        format!("GET /echo/websocket HTTP/1.1\r\n{base}Sec-WebSocket-Version: 13\r\n\r\n").as_bytes(),
    );
    assert!(no_key.starts_with("HTTP/1.1 400"), "{no_key}");
    assert!(no_key.contains("Missing handshake request header: Sec-WebSocket-Key"), "{no_key}");
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let v8 = http_raw(
        a,
        format!("GET /echo/websocket HTTP/1.1\r\n{base}{key}Sec-WebSocket-Version: 8\r\n\r\n").as_bytes(),
    );
    assert!(v8.starts_with("HTTP/1.1 400") && v8.contains("Sec-WebSocket-Version: 13"), "{v8}");
    assert!(v8.contains("Only supported WebSocket protocol is RFC 6455."), "{v8}");
    let post = http_raw(
        a,
        format!("POST /echo/websocket HTTP/1.1\r\n{base}{key}Sec-WebSocket-Version: 13\r\n\r\n").as_bytes(),
    );
    assert!(post.starts_with("HTTP/1.1 405") && post.contains("Allow: GET"), "{post}");
    let plain = common::http_get(a, "/echo/websocket");
    assert!(plain.starts_with("HTTP/1.1 400") && plain.contains("Not a valid websocket request"), "{plain}");
    assert!(common::http_get(a, "/nowhere/websocket").starts_with("HTTP/1.1 404"));
    assert!(common::http_get(a, "/off/websocket").starts_with("HTTP/1.1 404"), "websocket = false");
    assert!(
        server.metric(Counter::WsHandshakeRejected) >= 3
            || common::eventually(Duration::from_secs(2), || {
                server.metric(Counter::WsHandshakeRejected) >= 3
            })
    );
}
both_backends!(bad_handshakes_get_clear_statuses);

fn ping_is_answered_with_pong_of_same_payload(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_raw(&client_frame(true, 9, b"are you there"));
    let pong = c.recv();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"are you there"[..]));
    c.close(1000);
}
both_backends!(ping_is_answered_with_pong_of_same_payload);

fn fragmented_message_is_reassembled_with_control_frames_between(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    let text = "fragments: ünï ✓ end";
    let bytes = text.as_bytes();
    // Split inside a multi-byte character to check UTF-8 validation across fragments.
    let (a, rest) = bytes.split_at(13);
    let (m, z) = rest.split_at(5);
    c.send_raw(&client_frame(false, 1, a));
    c.send_raw(&client_frame(true, 9, b"mid"));
    c.send_raw(&client_frame(false, 0, m));
    c.send_raw(&client_frame(true, 0, z));
    let pong = c.recv();
    assert_eq!(pong.opcode, 10);
    assert_eq!(c.recv_text(), text);
    c.close(1000);
}
both_backends!(fragmented_message_is_reassembled_with_control_frames_between);

fn client_close_is_echoed_with_its_code(b: BackendChoice) {
    let server = common::start(b, 1);
    let c = WsClient::connect(server.local_addr(), "/rooms/websocket");
    c.close(4001);
}
both_backends!(client_close_is_echoed_with_its_code);

fn unmasked_frame_closes_1002(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_raw(&[0x81, 0x02, b'h', b'i']);
    c.expect_close(1002);
    assert!(common::eventually(Duration::from_secs(2), || server.metric(Counter::ClosedProtocolError) == 1));
}
both_backends!(unmasked_frame_closes_1002);

fn reserved_bits_and_opcodes_close_1002(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    let mut f = client_frame(true, 1, b"x");
    f[0] |= 0x40; // RSV1 without an extension
    c.send_raw(&f);
    c.expect_close(1002);
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_raw(&client_frame(true, 3, b"x")); // reserved data opcode
    c.expect_close(1002);
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_raw(&client_frame(true, 0, b"x")); // continuation with nothing to continue
    c.expect_close(1002);
}
both_backends!(reserved_bits_and_opcodes_close_1002);

fn invalid_utf8_closes_1007_even_across_fragments(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_raw(&client_frame(true, 1, &[b'a', 0xff, b'b']));
    c.expect_close(1007);
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_raw(&client_frame(false, 1, &[0xce])); // first byte of a 2-byte sequence
    c.send_raw(&client_frame(true, 0, &[0x41])); // not a continuation byte
    c.expect_close(1007);
}
both_backends!(invalid_utf8_closes_1007_even_across_fragments);

fn oversized_message_closes_1009(b: BackendChoice) {
    let server = common::start_with(b, 1, "[limits]\nmax_message_bytes = 1000\n");
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_text(&"a".repeat(1000));
    assert_eq!(c.recv_text().len(), 1000, "exactly the limit is fine");
    // Only the header of a too-large frame is needed to refuse it.
    c.send_raw(&client_frame(true, 1, &[b'a'; 1001])[..8]);
    c.expect_close(1009);
    // Fragments adding up past the limit.
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_raw(&client_frame(false, 1, &[b'a'; 600]));
    c.send_raw(&client_frame(true, 0, &[b'a'; 600]));
    c.expect_close(1009);
}
both_backends!(oversized_message_closes_1009);

fn garbage_bytes_get_400_before_upgrade_and_1002_after(b: BackendChoice) {
    let server = common::start(b, 1);
    let resp = http_raw(server.local_addr(), b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    c.send_raw(&[0xff; 64]);
    c.expect_close(1002);
    // The server is still fine for others.
    let mut ok = WsClient::connect(server.local_addr(), "/echo/websocket");
    ok.send_text("still here");
    assert_eq!(ok.recv_text(), "still here");
}
both_backends!(garbage_bytes_get_400_before_upgrade_and_1002_after);

fn client_vanishing_mid_frame_is_cleaned_up(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut c = WsClient::connect(server.local_addr(), "/rooms/websocket");
    c.send_text("sub,red");
    let frame = client_frame(true, 1, b"msg,red,this frame never finishes");
    c.send_raw(&frame[..10]);
    assert!(common::eventually(Duration::from_secs(2), || server.metric(Counter::ConnectionsOpen) == 1));
    drop(c);
    assert!(common::eventually(Duration::from_secs(5), || server.metric(Counter::ConnectionsOpen) == 0));
    let mut ok = WsClient::connect(server.local_addr(), "/rooms/websocket");
    ok.send_text("sub,red");
    ok.send_text("msg,red,after");
    assert_eq!(ok.recv_text(), "msg,red,after");
}
both_backends!(client_vanishing_mid_frame_is_cleaned_up);

fn silent_client_is_pinged_then_closed_1001(b: BackendChoice) {
    let server = common::start_with(b, 1, "[limits]\nping_interval_ms = 200\nidle_timeout_ms = 700\n");
    let mut c = WsClient::connect(server.local_addr(), "/rooms/websocket");
    let ping = c.recv();
    assert_eq!(ping.opcode, 9, "{ping:?}");
    let close = c.recv();
    assert_eq!(close.close_code(), Some(1001));
    c.expect_eof();
    assert!(common::eventually(Duration::from_secs(2), || server.metric(Counter::ClosedIdle) == 1));
}
both_backends!(silent_client_is_pinged_then_closed_1001);

fn answering_pings_keeps_the_connection(b: BackendChoice) {
    let server = common::start_with(b, 1, "[limits]\nping_interval_ms = 100\nidle_timeout_ms = 400\n");
    let mut c = WsClient::connect(server.local_addr(), "/echo/websocket");
    for _ in 0..6 {
        let ping = c.recv();
        assert_eq!(ping.opcode, 9);
        c.send_raw(&client_frame(true, 10, &ping.payload));
    }
    c.send_text("alive");
    assert_eq!(c.recv_text(), "alive");
}
both_backends!(answering_pings_keeps_the_connection);

fn close_service_says_go_away(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut c = WsClient::connect(server.local_addr(), "/close/websocket");
    let f = c.recv();
    assert_eq!(f.close_code(), Some(3000));
    assert_eq!(&f.payload[2..], b"Go away!");
    // RFC 6455 §7.1.1: the server waits for the client's close frame before it ends the
    // TCP connection (the linger deadline is 2 s).
    assert_still_open(&c.stream, Duration::from_millis(300));
    c.send_raw(&client_frame(true, 8, &3000u16.to_be_bytes()));
    c.expect_eof();
}
both_backends!(close_service_says_go_away);

fn slow_handshake_is_timed_out(b: BackendChoice) {
    let server = common::start_with(b, 1, "[limits]\nhandshake_timeout_ms = 300\n");
    let mut c = WsClient::connect_tcp(server.local_addr());
    c.send_raw(b"GET /echo/websocket HTTP/1.1\r\nHost: x\r\n");
    c.expect_eof();
    assert!(common::eventually(Duration::from_secs(2), || server.metric(Counter::HandshakeTimeouts) == 1));
}
both_backends!(slow_handshake_is_timed_out);

/// Nothing arrives on `stream` within `wait`, and the server has not ended it.
fn assert_still_open(stream: &std::net::TcpStream, wait: Duration) {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    match common::read_retrying(&mut &*stream, &mut byte) {
        Ok(0) => panic!("the server ended the connection"),
        Ok(_) => panic!("unexpected byte {byte:?}"),
        Err(e) => {
            assert!(matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{e}")
        }
    }
    stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
}

fn close_without_reply_ends_at_linger_deadline(b: BackendChoice) {
    let server = common::start_with(b, 1, "[limits]\nclose_linger_ms = 400\n");
    let mut c = WsClient::connect(server.local_addr(), "/close/websocket");
    assert_eq!(c.recv().close_code(), Some(3000));
    let start = std::time::Instant::now();
    c.expect_eof();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(3), "{waited:?}");
}
both_backends!(close_without_reply_ends_at_linger_deadline);
