//! Access control (`[security]`): allowed origins on WebSocket upgrades and CORS
//! responses, bearer tokens on `/publish` and `/metrics`, the per-IP connection limit
//! and the SockJS session limits, counted over every shard.

mod common;

use common::{eventually, start_with, WsClient, READ_TIMEOUT};
use ringcast::{BackendChoice, Counter};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const ALLOWED: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example.com";

const ORIGINS: &str = r#"
[security]
allowed_origins = ["https://app.example.com"]
[[service]]
prefix = "/raw"
kind = "websocket"
protocol = "echo"
"#;

const PUBLISH_TOKEN: &str = "publish-secret-0123456789";
const METRICS_TOKEN: &str = "metrics-secret-0123456789";

/// Send `request` on a new connection and read until the server closes (or resets).
/// Errors are tolerated: a refused connection may be reset before or while it is read.
fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let _ = s.write_all(request.as_bytes());
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Ok(n) = common::read_retrying(&mut s, &mut chunk) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
        // An upgrade keeps the connection open: the head is all that is needed.
        if out.starts_with(b"HTTP/1.1 101") && out.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn upgrade(addr: SocketAddr, path: &str, origin: Option<&str>) -> String {
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    exchange(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
        ),
    )
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = resp.split("\r\n\r\n").next().unwrap_or("");
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn ws_upgrades_check_the_origin(backend: BackendChoice) {
    let server = start_with(backend, 2, ORIGINS);
    let addr = server.local_addr();
    for path in ["/echo/websocket", "/echo/000/abcd/websocket", "/raw"] {
        let refused = upgrade(addr, path, Some(EVIL));
        assert!(refused.starts_with("HTTP/1.1 403"), "{path}: {refused}");
        assert!(header(&refused, "Connection") == Some("close"), "{path}: {refused}");
        for origin in [Some(ALLOWED), None, Some(&format!("http://{addr}"))] {
            let ok = upgrade(addr, path, origin);
            assert!(ok.starts_with("HTTP/1.1 101"), "{path} {origin:?}: {ok}");
        }
    }
    let null = upgrade(addr, "/echo/websocket", Some("null"));
    assert!(null.starts_with("HTTP/1.1 403"), "null is a foreign origin unless listed: {null}");
    assert!(eventually(Duration::from_secs(5), || server.metric(Counter::OriginRefused) == 4));
}
both_backends!(ws_upgrades_check_the_origin);

fn cors_reflects_only_allowed_origins(backend: BackendChoice) {
    let server = start_with(backend, 2, ORIGINS);
    let addr = server.local_addr();
    let get = |origin: &str| {
        exchange(
            addr,
            &format!(
                "GET /echo/info HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
            ),
        )
    };
    let ok = get(ALLOWED);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(header(&ok, "Access-Control-Allow-Origin"), Some(ALLOWED), "{ok}");
    assert_eq!(header(&ok, "Access-Control-Allow-Credentials"), Some("true"), "{ok}");
    let refused = get(EVIL);
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert_eq!(header(&refused, "Access-Control-Allow-Origin"), None, "{refused}");
    // A preflight and a simple cross-site POST (sent without a preflight) are refused
    // too: a foreign page cannot feed a session.
    let preflight = exchange(
        addr,
        &format!("OPTIONS /echo/000/abcd/xhr_send HTTP/1.1\r\nHost: {addr}\r\nOrigin: {EVIL}\r\nConnection: close\r\n\r\n"),
    );
    assert!(preflight.starts_with("HTTP/1.1 403"), "{preflight}");
    let send = exchange(
        addr,
        &format!("POST /echo/000/abcd/xhr_send HTTP/1.1\r\nHost: {addr}\r\nOrigin: {EVIL}\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\n[\"x\"]"),
    );
    assert!(send.starts_with("HTTP/1.1 403"), "{send}");

    // Off by default: any origin is reflected.
    let open_server = start_with(backend, 1, "");
    let addr = open_server.local_addr();
    let any = exchange(
        addr,
        &format!("GET /echo/info HTTP/1.1\r\nHost: {addr}\r\nOrigin: {EVIL}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(header(&any, "Access-Control-Allow-Origin"), Some(EVIL), "{any}");
}
both_backends!(cors_reflects_only_allowed_origins);

fn tokens(backend: BackendChoice) -> ringcast::Server {
    let extra =
        format!("[security]\npublish_token = \"{PUBLISH_TOKEN}\"\nmetrics_token = \"{METRICS_TOKEN}\"\n");
    start_with(backend, 2, &extra)
}

fn publish(addr: SocketAddr, authorization: Option<&str>, body: &str) -> String {
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let len = body.len();
    exchange(addr, &format!("POST /publish/news HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {len}\r\nConnection: close\r\n\r\n{body}"))
}

fn publish_needs_its_token(backend: BackendChoice) {
    let server = tokens(backend);
    let addr = server.local_addr();
    let mut member = WsClient::connect(addr, "/rooms/websocket");
    member.send_text("sub,news");
    assert!(eventually(Duration::from_secs(5), || server.metric(Counter::Subscriptions) == 1));
    let missing = publish(addr, None, "one");
    assert!(missing.starts_with("HTTP/1.1 401"), "{missing}");
    assert_eq!(header(&missing, "WWW-Authenticate"), Some("Bearer realm=\"ringcast\""), "{missing}");
    let wrong = publish(addr, Some(&format!("Bearer {METRICS_TOKEN}")), "two");
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(header(&wrong, "WWW-Authenticate").is_some_and(|v| v.starts_with("Bearer")), "{wrong}");
    let prefix = publish(addr, Some(&format!("Bearer {}", &PUBLISH_TOKEN[..10])), "three");
    assert!(prefix.starts_with("HTTP/1.1 401"), "{prefix}");
    let right = publish(addr, Some(&format!("Bearer {PUBLISH_TOKEN}")), "four");
    assert!(right.starts_with("HTTP/1.1 204"), "{right}");
    assert_eq!(member.recv_text(), "msg,news,four", "refused publishes must not be delivered");
    assert!(eventually(Duration::from_secs(5), || server.metric(Counter::AuthRefused) == 3));
}
both_backends!(publish_needs_its_token);

fn metrics_needs_its_token(backend: BackendChoice) {
    let server = tokens(backend);
    let addr = server.local_addr();
    let get = |auth: &str| {
        exchange(addr, &format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"))
    };
    let missing = get("");
    assert!(missing.starts_with("HTTP/1.1 401"), "{missing}");
    assert!(!missing.contains("ringcast_"), "{missing}");
    assert_eq!(header(&missing, "WWW-Authenticate"), Some("Bearer realm=\"ringcast\""));
    let wrong = get(&format!("Authorization: Bearer {PUBLISH_TOKEN}\r\n"));
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let right = get(&format!("Authorization: Bearer {METRICS_TOKEN}\r\n"));
    assert!(right.starts_with("HTTP/1.1 200"), "{right}");
    assert!(right.contains("ringcast_auth_refused_total{shard="), "{right}");
    assert!(common::http_get(addr, "/healthz").starts_with("HTTP/1.1 200"), "health needs no token");
}
both_backends!(metrics_needs_its_token);

/// Whether a new connection is served: a full `/healthz` answer.
fn healthz_served(addr: SocketAddr) -> String {
    exchange(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

fn per_ip_limit_counts_over_shards(backend: BackendChoice) {
    let server = start_with(backend, 2, "[security]\nmax_connections_per_ip = 3\n");
    let addr = server.local_addr();
    let mut held: Vec<WsClient> = (0..3).map(|_| WsClient::connect(addr, "/echo/websocket")).collect();
    let fourth = healthz_served(addr);
    assert!(!fourth.contains("200 OK"), "a 4th connection from 127.0.0.1 was served: {fourth}");
    assert!(fourth.is_empty() || fourth.starts_with("HTTP/1.1 503"), "{fourth}");
    assert!(eventually(Duration::from_secs(5), || server.metric(Counter::ClosedPerIpLimit) >= 1));
    // The held connections are unaffected.
    held[0].send_text("still here");
    assert_eq!(held[0].recv_text(), "still here");
    // One closes: a new connection is accepted again.
    drop(held.pop());
    assert!(
        eventually(Duration::from_secs(5), || healthz_served(addr).starts_with("HTTP/1.1 200")),
        "no connection accepted after one closed"
    );
    // Connections that ended give their slots back: all three can be held again.
    drop(held);
    assert!(eventually(Duration::from_secs(5), || server.metric(Counter::ConnectionsOpen) == 0));
    let again: Vec<WsClient> = (0..3).map(|_| WsClient::connect(addr, "/echo/websocket")).collect();
    assert_eq!(again.len(), 3);
    let mut probe = [0u8; 1];
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut head = Vec::new();
    while let Ok(n) = s.read(&mut probe) {
        if n == 0 {
            break;
        }
        head.push(probe[0]);
    }
    assert!(!String::from_utf8_lossy(&head).contains("200 OK"), "limit no longer held after reuse");
}
both_backends!(per_ip_limit_counts_over_shards);

fn open_session(addr: SocketAddr, prefix: &str, session: &str) -> String {
    exchange(addr, &format!("POST {prefix}/000/{session}/xhr HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
}

fn session_limits_answer_503(backend: BackendChoice) {
    for limit in ["max_sessions", "max_sessions_per_ip"] {
        let extra = format!(
            "[security]\n{limit} = 2\n[[service]]\nprefix = \"/short\"\nprotocol = \"echo\"\ndisconnect_delay_ms = 300\n"
        );
        let server = start_with(backend, 2, &extra);
        let addr = server.local_addr();
        for s in ["s1", "s2"] {
            let open = open_session(addr, "/short", s);
            assert!(open.starts_with("HTTP/1.1 200") && open.contains("\r\no\n"), "{limit} {s}: {open}");
        }
        let third = open_session(addr, "/echo", "s3");
        assert!(third.starts_with("HTTP/1.1 503"), "{limit}: {third}");
        assert!(eventually(Duration::from_secs(5), || server.metric(Counter::SockjsSessionsRefused) == 1));
        // An existing session is not a new one: its sends are taken.
        let send = exchange(addr, "POST /short/000/s1/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n[\"x\"]");
        assert!(send.starts_with("HTTP/1.1 204"), "{limit}: {send}");
        // Once the sessions expire (no receiver for disconnect_delay_ms), their slots return.
        assert!(
            eventually(Duration::from_secs(5), || open_session(addr, "/echo", "s4")
                .starts_with("HTTP/1.1 200")),
            "{limit}: no session admitted after the others ended"
        );
    }
}
both_backends!(session_limits_answer_503);
