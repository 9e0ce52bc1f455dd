//! HTTP/1.1 framing as RFC 9112 requires, on both backends: a request whose body length
//! is ambiguous is refused with 400 and the connection closed, so that nothing after it
//! can be read as a smuggled request.

mod common;

use ringcast::BackendChoice;

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
