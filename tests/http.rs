//! HTTP/1.1 framing as RFC 9112 requires, on both backends: a request whose body length
//! is ambiguous is refused with 400 and the connection closed, so that nothing after it
//! can be read as a smuggled request.

mod common;

use common::WsClient;
use ringcast::{BackendChoice, Counter};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `request` followed by a `GET /healthz`: the server must answer the first with
/// `status` and close, never answering the second.
fn refused_and_closed(b: BackendChoice, request: &str, status: &str) {
    let server = common::start(b, 1);
    let smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = common::http_raw(server.local_addr(), format!("{request}{smuggled}").as_bytes());
    assert!(resp.starts_with(&format!("HTTP/1.1 {status}")), "{request:?} → {resp}");
    assert!(resp.contains("Connection: close\r\n"), "{resp}");
    assert_eq!(resp.matches("HTTP/1.1").count(), 1, "a second response came: {resp}");
}

fn rfc9112_6_3_conflicting_content_length_is_400(b: BackendChoice) {
    let req = "POST /publish/t HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc";
    refused_and_closed(b, req, "400");
}
both_backends!(rfc9112_6_3_conflicting_content_length_is_400);

fn rfc9112_6_1_content_length_with_transfer_encoding_is_400(b: BackendChoice) {
    let req =
        "POST /publish/t HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
               3\r\nabc\r\n0\r\n\r\n";
    refused_and_closed(b, req, "400");
}
both_backends!(rfc9112_6_1_content_length_with_transfer_encoding_is_400);

fn rfc9112_5_2_obs_fold_is_400(b: BackendChoice) {
    let req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n folded\r\n\r\n";
    refused_and_closed(b, req, "400");
}
both_backends!(rfc9112_5_2_obs_fold_is_400);

fn rfc9112_6_1_bad_transfer_encoding_is_400(b: BackendChoice) {
    for te in ["gzip, chunked", "chunked, identity", "identity"] {
        let req = format!("POST /publish/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
        refused_and_closed(b, &req, "400");
    }
    let http10 = "POST /publish/t HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    refused_and_closed(b, http10, "400");
}
both_backends!(rfc9112_6_1_bad_transfer_encoding_is_400);

fn equal_repeated_content_length_and_plain_chunked_are_served(b: BackendChoice) {
    let server = common::start(b, 1);
    let twice = "POST /publish/t HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
    assert!(common::http_raw(server.local_addr(), twice.as_bytes()).starts_with("HTTP/1.1 204"));
    let chunked =
        "POST /publish/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    assert!(common::http_raw(server.local_addr(), chunked.as_bytes()).starts_with("HTTP/1.1 204"));
}
both_backends!(equal_repeated_content_length_and_plain_chunked_are_served);

/// Resident memory of this process (the server runs in it), KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Bytes sent on a connection whose SockJS receiver is attached are kept only up to one
/// complete request; past that the connection is closed (and its session ends).
fn input_on_a_held_receiver_is_bounded(b: BackendChoice) {
    use std::io::Write;
    let server = common::start_sockjs(b, 1, "");
    let addr = server.local_addr();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /echo/000/held/xhr_streaming HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(common::eventually(std::time::Duration::from_secs(5), || {
        server.metric(ringcast::Counter::SockjsSessions) == 1
    }));
    let before = rss_kib();
    let junk = vec![b'j'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 << 20 {
        match s.write(&junk) {
            Ok(n) => sent += n,
            Err(_) => break, // closed by the server, as it should
        }
    }
    assert!(sent < 64 << 20, "the server took 64 MiB without closing the connection");
    assert!(common::eventually(std::time::Duration::from_secs(5), || {
        server.metric(ringcast::Counter::ClosedInputOverflow) == 1
    }));
    assert!(rss_kib() < before + 32 * 1024, "RSS grew from {before} KiB to {} KiB", rss_kib());
    assert!(common::http_get(addr, "/echo/info").starts_with("HTTP/1.1 200"));
}
both_backends!(input_on_a_held_receiver_is_bounded);

/// Pipelined requests whose responses are never read: once a send budget of responses
/// waits, parsing pauses and input is bounded; the connection is closed (as a slow
/// consumer, or for its input), while other clients are served.
fn pipelined_requests_without_reading_are_bounded(b: BackendChoice) {
    use std::io::Write;
    let server = common::start_with(b, 1, "[limits]\nsend_budget_bytes = 65536\n");
    let addr = server.local_addr();
    let before = rss_kib();
    let mut s = common::WsClient::connect_tcp_small_window(addr, 4096).stream;
    let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100);
    let mut sent = 0usize;
    for _ in 0..20_000 {
        match s.write(&request) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let closed = || {
        server.metric(ringcast::Counter::ClosedInputOverflow)
            + server.metric(ringcast::Counter::ClosedBackpressure)
    };
    assert!(
        common::eventually(std::time::Duration::from_secs(10), || closed() == 1),
        "sent {sent} bytes of requests; the connection is still open"
    );
    assert!(common::http_get(addr, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(rss_kib() < before + 64 * 1024, "RSS grew from {before} KiB to {} KiB", rss_kib());
}
both_backends!(pipelined_requests_without_reading_are_bounded);
const CHUNKED_HEAD: &str = "POST /publish/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

/// Chunks with 1000-byte extensions: refused with 400 once their total passes the cap
/// (a few KiB), instead of being parsed again on every read; counted as an HTTP error.
fn long_chunk_extensions_are_400_and_close(b: BackendChoice) {
    let server = common::start(b, 1);
    let chunk = format!("1;x={}\r\na\r\n", "e".repeat(1000));
    let req = format!("{CHUNKED_HEAD}{}0\r\n\r\n", chunk.repeat(8));
    let errors_before = server.metric(Counter::HttpErrors);
    let smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = common::http_raw(server.local_addr(), format!("{req}{smuggled}").as_bytes());
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("chunk extensions"), "{resp}");
    assert!(resp.contains("Connection: close\r\n"), "{resp}");
    assert_eq!(resp.matches("HTTP/1.1").count(), 1, "{resp}");
    assert_eq!(server.metric(Counter::HttpErrors), errors_before + 1);
    // Short extensions below the cap are accepted.
    let ok = format!("{CHUNKED_HEAD}2;a=b\r\nhi\r\n0\r\n\r\n")
        .replace("\r\n\r\n2", "\r\nConnection: close\r\n\r\n2");
    assert!(common::http_raw(server.local_addr(), ok.as_bytes()).starts_with("HTTP/1.1 204"));
}
both_backends!(long_chunk_extensions_are_400_and_close);

/// A client that sends trailer lines without end gets 400 once the trailer cap is
/// passed, and the connection closes, while it is still sending.
fn endless_trailer_lines_are_cut_off_with_400(b: BackendChoice) {
    let server = common::start(b, 1);
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{CHUNKED_HEAD}1\r\na\r\n0\r\n").as_bytes()).unwrap();
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let lines = "X-Trailer: endless\r\n".repeat(50); // 1000 bytes a write
        for _ in 0..1000 {
            if writer.write_all(lines.as_bytes()).is_err() {
                break; // the server closed
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("trailer section"), "{resp}");
    assert!(resp.contains("Connection: close\r\n"), "{resp}");
    sender.join().unwrap();
    assert!(common::http_get(server.local_addr(), "/healthz").starts_with("HTTP/1.1 200"));
}
both_backends!(endless_trailer_lines_are_cut_off_with_400);

/// A 1 MiB chunked body in chunks of 1 to 100 bytes, written in a few hundred small
/// writes, is decoded exactly: a member receives the whole message.
fn large_chunked_body_in_many_small_reads_is_accepted(b: BackendChoice) {
    let limits = "[limits]\nmax_request_body_bytes = 2097152\nmax_message_bytes = 2097152\nsend_budget_bytes = 67108864\n";
    let server = common::start_with(b, 1, limits);
    let addr = server.local_addr();
    let mut member = WsClient::connect(addr, "/rooms/websocket");
    member.send_text("sub,t");
    assert!(common::eventually(Duration::from_secs(10), || server.metric(Counter::Subscriptions) == 1));
    let body: String = (0..1 << 20).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut framed = CHUNKED_HEAD.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n").into_bytes();
    let (mut at, mut size) = (0, 1);
    while at < body.len() {
        let n = size.min(body.len() - at);
        framed.extend_from_slice(format!("{n:x}\r\n{}\r\n", &body[at..at + n]).as_bytes());
        at += n;
        size = size % 100 + 1;
    }
    framed.extend_from_slice(b"0\r\n\r\n");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let writes = framed.chunks(framed.len() / 300 + 1);
    assert!(writes.len() >= 250, "{} writes", writes.len());
    for piece in writes {
        s.write_all(piece).unwrap();
    }
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    assert!(resp.starts_with(b"HTTP/1.1 204"), "{}", String::from_utf8_lossy(&resp));
    assert_eq!(member.recv_text(), format!("msg,t,{body}"));
}
both_backends!(large_chunked_body_in_many_small_reads_is_accepted);
