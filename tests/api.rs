//! The public Rust API end to end, on both backends and 2 shards: handlers on every
//! front end (raw WebSocket service, SockJS WebSocket, SockJS polling), typed state,
//! request data, panics, handles from threads and from a tokio runtime, the publisher,
//! topic spaces shared with rooms, broadcast, and handler-backed multiplex channels.

mod common;

use common::WsClient;
use ringcast::{
    App, BackendChoice, CloseReason, Config, Conn, ConnHandle, Counter, Handler, Message, PublishStatus,
    RoomsOptions, Server,
};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(200);

/// A test app on port 0 with `shards` shards of `backend`.
fn app(backend: BackendChoice, shards: usize) -> App {
    let b = match backend {
        BackendChoice::Uring => "uring",
        _ => "epoll",
    };
    let toml = format!("listen = '127.0.0.1:0'\nshards = {shards}\nbackend = '{b}'\npin_shards = false\n");
    App::new(Config::from_toml(&toml).unwrap())
}

fn wait_for(server: &Server, c: Counter, n: u64) {
    assert!(
        common::eventually(Duration::from_secs(10), || server.metric(c) >= n),
        "{c:?} stayed at {} (< {n})",
        server.metric(c)
    );
}

/// Replies `<n>:<text>`, n counting this connection's messages (typed state); `boom`
/// panics; `whoami` answers with request data.
struct Counting;

impl Handler for Counting {
    type State = u64;

    fn on_open(&self, conn: &mut Conn<'_, u64>) {
        conn.send("hello");
    }

    fn on_message(&self, conn: &mut Conn<'_, u64>, msg: Message<'_>) {
        let text = msg.as_text().unwrap_or("<binary>");
        if text == "boom" {
            panic!("the handler asked to panic");
        }
        *conn.state_mut() += 1;
        let n = *conn.state();
        if text == "whoami" {
            let who = format!(
                "{} {} q={:?} h={:?} c={:?} t={:?} local={}",
                conn.path(),
                conn.query(),
                conn.query_param("name"),
                conn.header("x-app"),
                conn.cookie("sid"),
                conn.transport(),
                conn.remote_addr().is_some_and(|a| a.ip().is_loopback()),
            );
            return conn.send(&who);
        }
        conn.send(&format!("{n}:{text}"));
    }
}

/// SockJS text frame `a["<msg>"]` of one message (ASCII only).
fn a(msg: &str) -> String {
    format!("a[\"{msg}\"]")
}

fn handler_serves_raw_and_sockjs_websockets_with_typed_state(b: BackendChoice) {
    let mut app = app(b, 2);
    app.sockjs("/count", Counting);
    app.websocket("/raw", Counting);
    let server = app.start().unwrap();
    let addr = server.local_addr();
    for path in ["/raw", "/count/websocket"] {
        let mut c = WsClient::connect(addr, path);
        assert_eq!(c.recv_text(), "hello", "{path}");
        c.send_text("x");
        c.send_text("y");
        assert_eq!((c.recv_text(), c.recv_text()), ("1:x".into(), "2:y".into()), "{path}");
    }
    let mut s = WsClient::connect(addr, "/count/000/abc/websocket");
    assert_eq!(s.recv_text(), "o");
    assert_eq!(s.recv_text(), a("hello"));
    s.send_text(r#"["x","y"]"#);
    assert_eq!((s.recv_text(), s.recv_text()), (a("1:x"), a("2:y")));
    // A raw-WebSocket service answers at its prefix only.
    assert!(common::http_get(addr, "/raw/info").starts_with("HTTP/1.1 404"));
}

fn app_pages_answer_get_and_head(b: BackendChoice) {
    let mut app = app(b, 1);
    app.page("/", "text/html; charset=UTF-8", "<h1>mine</h1>");
    app.rooms("/rooms", RoomsOptions::default());
    let server = app.start().unwrap();
    let addr = server.local_addr();
    let get = common::http_get(addr, "/");
    assert!(get.starts_with("HTTP/1.1 200") && get.ends_with("\r\n\r\n<h1>mine</h1>"), "{get}");
    assert!(get.contains("Content-Type: text/html; charset=UTF-8\r\n"), "the demo page gave way: {get}");
    let head = common::http_raw(addr, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("Content-Length: 13\r\n\r\n"), "{head}");
    let post = common::http_raw(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405") && post.contains("Allow: GET, HEAD"), "{post}");
}
both_backends!(app_pages_answer_get_and_head);
both_backends!(handler_serves_raw_and_sockjs_websockets_with_typed_state);

/// One xhr-polling request or send, `Connection: close`; returns the body.
fn xhr(addr: SocketAddr, path: &str, body: &str, headers: &str) -> String {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let resp = common::http_raw(addr, req.as_bytes());
    let (_, body) = resp.split_once("\r\n\r\n").expect("a response");
    // Chunked bodies of polling responses: size line, data, CRLF, last chunk.
    body.lines().filter(|l| l.starts_with(['o', 'a', 'c', 'h'])).collect::<Vec<_>>().join("\n")
}

fn handler_serves_sockjs_polling_with_request_data(b: BackendChoice) {
    let mut app = app(b, 2);
    app.sockjs("/count", Counting);
    let server = app.start().unwrap();
    let addr = server.local_addr();
    let base = "/count/000/s1";
    let headers = "X-App: demo\r\nCookie: a=1; sid=xyz\r\n";
    assert_eq!(xhr(addr, &format!("{base}/xhr?name=al%20ice"), "", headers), "o");
    assert_eq!(xhr(addr, &format!("{base}/xhr"), "", ""), a("hello"));
    assert_eq!(xhr(addr, &format!("{base}/xhr_send"), r#"["x","whoami"]"#, ""), "");
    let got = xhr(addr, &format!("{base}/xhr"), "", "");
    let want = r#"a["1:x","/count/000/s1/xhr name=al%20ice q=Some(\"al ice\") h=Some(\"demo\") c=Some(\"xyz\") t=SockjsXhrPolling local=true"]"#;
    assert_eq!(got, want);
    // Sends to sessions of another service's prefix do not reach this one.
    assert!(common::http_raw(
        addr,
        b"POST /other/000/s1/xhr_send HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n[\"x\"]"
    )
    .starts_with("HTTP/1.1 404"));
}
both_backends!(handler_serves_sockjs_polling_with_request_data);

fn panicking_handler_closes_only_its_connection(b: BackendChoice) {
    let mut app = app(b, 2);
    app.sockjs("/count", Counting);
    let server = app.start().unwrap();
    let addr = server.local_addr();
    let mut bystander = WsClient::connect(addr, "/count/websocket");
    assert_eq!(bystander.recv_text(), "hello");
    let mut raw = WsClient::connect(addr, "/count/websocket");
    assert_eq!(raw.recv_text(), "hello");
    raw.send_text("boom");
    raw.expect_close(1011);
    let mut sj = WsClient::connect(addr, "/count/000/p/websocket");
    assert_eq!(sj.recv_text(), "o");
    assert_eq!(sj.recv_text(), a("hello"));
    sj.send_text(r#"["boom"]"#);
    assert_eq!(sj.recv_text(), r#"c[1011,"Internal error"]"#);
    sj.expect_close(1000);
    assert_eq!(xhr(addr, "/count/000/q/xhr", "", ""), "o");
    assert_eq!(xhr(addr, "/count/000/q/xhr", "", ""), a("hello"));
    xhr(addr, "/count/000/q/xhr_send", r#"["boom"]"#, "");
    assert_eq!(xhr(addr, "/count/000/q/xhr", "", ""), r#"c[1011,"Internal error"]"#);
    wait_for(&server, Counter::HandlerPanics, 3);
    bystander.send_text("still here");
    assert_eq!(bystander.recv_text(), "1:still here");
}
both_backends!(panicking_handler_closes_only_its_connection);

/// Hands each message to slow work elsewhere and answers through a handle: `t:<x>` to a
/// worker thread (in order), `a:<x>` to a tokio task.
struct Offload {
    worker: Mutex<mpsc::Sender<(ConnHandle, String)>>,
    runtime: tokio::runtime::Handle,
}

impl Handler for Offload {
    type State = ();

    fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
        let text = msg.as_text().unwrap_or_default().to_string();
        let handle = conn.handle();
        if let Some(x) = text.strip_prefix("a:") {
            let x = x.to_string();
            self.runtime.spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = handle.send(&format!("async {x}"));
            });
        } else {
            let _ = self.worker.lock().unwrap().send((handle, text));
        }
    }
}

fn handles_answer_later_from_a_thread_and_a_tokio_task(b: BackendChoice) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
    let (tx, rx) = mpsc::channel::<(ConnHandle, String)>();
    let worker = std::thread::spawn(move || {
        for (handle, text) in rx {
            std::thread::sleep(Duration::from_millis(2)); // slow work, off the shard
            if text == "close" {
                handle.close(4000, "done").unwrap();
            } else {
                handle.send(&format!("worked {text}")).unwrap();
            }
        }
    });
    let mut app = app(b, 2);
    app.sockjs("/off", Offload { worker: Mutex::new(tx), runtime: runtime.handle().clone() });
    let server = app.start().unwrap();
    let mut raw = WsClient::connect(server.local_addr(), "/off/websocket");
    let mut sj = WsClient::connect(server.local_addr(), "/off/000/h/websocket");
    assert_eq!(sj.recv_text(), "o");
    for i in 0..50 {
        raw.send_text(&i.to_string());
        sj.send_text(&format!("[\"{i}\"]"));
    }
    for i in 0..50 {
        assert_eq!(raw.recv_text(), format!("worked {i}"));
        assert_eq!(sj.recv_text(), a(&format!("worked {i}")));
    }
    raw.send_text("a:1");
    assert_eq!(raw.recv_text(), "async 1");
    raw.send_text("close");
    raw.expect_close(4000);
    sj.send_text(r#"["close"]"#);
    assert_eq!(sj.recv_text(), r#"c[4000,"done"]"#);
    wait_for(&server, Counter::HandleOps, 103);
    server.stop().unwrap();
    drop(app_keepalive(runtime));
    worker.join().unwrap();
}
both_backends!(handles_answer_later_from_a_thread_and_a_tokio_task);

/// Keeps the runtime alive until the server stopped (its tasks hold handles).
fn app_keepalive(runtime: tokio::runtime::Runtime) -> tokio::runtime::Runtime {
    runtime
}

/// Subscribes to `prices` on open; `pub:<t>` publishes, `bc:<t>` broadcasts; leaving
/// publishes `<id> left` to `presence`.
struct Ticker;

impl Handler for Ticker {
    type State = ();

    fn on_open(&self, conn: &mut Conn<'_, ()>) {
        conn.subscribe("prices").unwrap();
        conn.subscribe("presence").unwrap();
        conn.subscribe("prices").unwrap(); // twice is once
    }

    fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
        let text = msg.as_text().unwrap_or_default();
        if let Some(t) = text.strip_prefix("pub:") {
            conn.publish("prices", t).unwrap();
        } else if let Some(t) = text.strip_prefix("bc:") {
            conn.broadcast("prices", t).unwrap();
        } else if text == "leave" {
            conn.unsubscribe("prices").unwrap();
        } else if text == "long" {
            let long = "x".repeat(300);
            assert!(conn.subscribe(&long).is_err());
            conn.send("refused");
        }
    }

    fn on_close(&self, conn: &mut Conn<'_, ()>, reason: CloseReason) {
        let _ = conn.publish("presence", &format!("left {reason:?}"));
    }
}

fn publisher_publish_and_broadcast_reach_subscribers_everywhere(b: BackendChoice) {
    let mut app = app(b, 2);
    app.sockjs("/t", Ticker).topic_space("public");
    app.rooms("/rooms", RoomsOptions::default()).topic_space("public");
    app.websocket("/other", Ticker);
    let server = app.start().unwrap();
    let addr = server.local_addr();
    let mut x = WsClient::connect(addr, "/t/websocket");
    let mut y = WsClient::connect(addr, "/t/000/y/websocket");
    assert_eq!(y.recv_text(), "o");
    let mut room = WsClient::connect(addr, "/rooms/websocket");
    room.send_text("sub,prices");
    let mut other = WsClient::connect(addr, "/other");
    wait_for(&server, Counter::Subscriptions, 7);
    let publisher = server.publisher();
    let status = std::thread::spawn(move || publisher.publish("/t", "prices", "ACME 42")).join().unwrap();
    assert_eq!(status, Ok(PublishStatus::Queued));
    assert_eq!(x.recv_text(), "ACME 42");
    assert_eq!(y.recv_text(), a("ACME 42"));
    assert_eq!(room.recv_text(), "msg,prices,ACME 42", "the shared space reaches rooms in their form");
    other.expect_silence(QUIET); // a service of its own space
    x.send_text("pub:P");
    assert_eq!((x.recv_text(), y.recv_text(), room.recv_text()), ("P".into(), a("P"), "msg,prices,P".into()));
    x.send_text("bc:B");
    assert_eq!((y.recv_text(), room.recv_text()), (a("B"), "msg,prices,B".into()));
    room.send_text("msg,prices,from-room");
    assert_eq!(x.recv_text(), "from-room", "not B: the broadcast skipped its sender");
    x.send_text("leave");
    x.send_text("long");
    assert_eq!(x.recv_text(), "refused");
    let status = server.publisher().publish("/rooms", "prices", "after");
    assert_eq!(status, Ok(PublishStatus::Queued));
    assert_eq!(y.recv_text(), a("from-room"));
    assert_eq!(y.recv_text(), a("after"));
    x.expect_silence(QUIET);
    drop(y);
    assert_eq!(x.recv_text(), "left Client");
    assert!(server.publisher().publish("/nope", "t", "x").is_err());
    assert!(server.publisher().publish("/t", &"t".repeat(300), "x").is_err());
}
both_backends!(publisher_publish_and_broadcast_reach_subscribers_everywhere);

/// A channel that greets, echoes, and closes on `bye`.
struct Red;

impl Handler for Red {
    type State = Vec<String>;

    fn on_open(&self, conn: &mut Conn<'_, Vec<String>>) {
        conn.send(&format!("Red is connected on {}", conn.channel().unwrap_or("?")));
    }

    fn on_message(&self, conn: &mut Conn<'_, Vec<String>>, msg: Message<'_>) {
        let text = msg.as_text().unwrap_or_default();
        conn.state_mut().push(text.to_string());
        match text {
            "bye" => conn.close(1000, "bye"),
            "later" => {
                let handle = conn.handle();
                std::thread::spawn(move || handle.send("from a handle").unwrap());
            }
            "sub" => conn.subscribe("t").unwrap(),
            "pub" => conn.publish("t", "to red members").unwrap(),
            _ => conn.send(&format!("echo {text} ({} so far)", conn.state().len())),
        }
    }
}

fn channels_are_served_by_handlers(b: BackendChoice) {
    let mut app = app(b, 2);
    app.channels("/mux").channel("red", Red).channel("blue", Red);
    let server = app.start().unwrap();
    let addr = server.local_addr();
    let mut c = WsClient::connect(addr, "/mux/websocket");
    c.send_text("sub,red");
    assert_eq!(c.recv_text(), "msg,red,Red is connected on red");
    c.send_text("msg,red,a,b");
    assert_eq!(c.recv_text(), "msg,red,echo a,b (1 so far)");
    c.send_text("sub,green"); // not registered: ignored
    c.send_text("msg,red,later");
    assert_eq!(c.recv_text(), "msg,red,from a handle");
    let mut d = WsClient::connect(addr, "/mux/000/d/websocket");
    assert_eq!(d.recv_text(), "o");
    d.send_text(r#"["sub,blue","sub,red","msg,red,sub"]"#);
    assert_eq!(d.recv_text(), a("msg,blue,Red is connected on blue"));
    assert_eq!(d.recv_text(), a("msg,red,Red is connected on red"));
    c.send_text("msg,red,sub");
    wait_for(&server, Counter::Subscriptions, 2);
    c.send_text("msg,red,pub");
    assert_eq!(c.recv_text(), "msg,red,to red members");
    assert_eq!(d.recv_text(), a("msg,red,to red members"));
    c.send_text("msg,red,bye");
    assert_eq!(c.recv_text(), "uns,red");
    c.send_text("msg,red,after");
    c.expect_silence(QUIET);
    c.send_text("sub,red");
    assert_eq!(c.recv_text(), "msg,red,Red is connected on red", "a fresh channel and state");
    c.send_text("msg,red,x");
    assert_eq!(c.recv_text(), "msg,red,echo x (1 so far)");
}
both_backends!(channels_are_served_by_handlers);

fn handles_of_closed_connections_are_harmless(b: BackendChoice) {
    struct Keep(Mutex<Option<ConnHandle>>);
    impl Handler for Keep {
        type State = ();
        fn on_open(&self, conn: &mut Conn<'_, ()>) {
            *self.0.lock().unwrap() = Some(conn.handle());
        }
        fn on_message(&self, _: &mut Conn<'_, ()>, _: Message<'_>) {}
    }
    let keep = std::sync::Arc::new(Keep(Mutex::new(None)));
    struct Shared(std::sync::Arc<Keep>);
    impl Handler for Shared {
        type State = ();
        fn on_open(&self, conn: &mut Conn<'_, ()>) {
            self.0.on_open(conn)
        }
        fn on_message(&self, _: &mut Conn<'_, ()>, _: Message<'_>) {}
    }
    let mut app = app(b, 1);
    app.websocket("/k", Shared(keep.clone()));
    let server = app.start().unwrap();
    let c = WsClient::connect(server.local_addr(), "/k");
    assert!(common::eventually(Duration::from_secs(5), || keep.0.lock().unwrap().is_some()));
    let handle = keep.0.lock().unwrap().take().unwrap();
    c.close(1000);
    assert_eq!(handle.send("to nobody"), Ok(()));
    wait_for(&server, Counter::HandleOpsDropped, 1);
    let mut again = WsClient::connect(server.local_addr(), "/k");
    again.expect_silence(QUIET); // the old handle never reaches the slot's next occupant
    server.stop().unwrap();
    assert!(handle.send("after stop").is_err());
}
both_backends!(handles_of_closed_connections_are_harmless);
