//! sockjs-node's echo server on ringcast: a SockJS service at `/echo` whose handler
//! writes every message back to the client that sent it, in order.
//!
//! Shows the smallest useful [`Handler`]: no state, one callback. Every SockJS transport
//! reaches it (websocket, xhr-streaming, xhr-polling, eventsource, htmlfile, jsonp), and
//! so does a raw WebSocket at `/echo/websocket`.
//!
//! ```text
//! cargo run --release --example sockjs_echo -- --listen 127.0.0.1:8080
//! # ringcast 0.1.0 listening on 127.0.0.1:8080 | backend io_uring (...) | 2 shards
//! websocat ws://127.0.0.1:8080/echo/websocket     # type a line, get it back
//! ```
//!
//! From a page: `new SockJS('http://127.0.0.1:8080/echo')`. Flags: `--listen`,
//! `--shards`, `--backend auto|uring|epoll`, `--config FILE`. Stop with Ctrl-C.

use ringcast::{App, Conn, Handler, Message};
use std::process::ExitCode;

/// Writes every message back to its sender: text as text, binary (raw WebSocket only)
/// as binary.
struct Echo;

impl Handler for Echo {
    type State = ();

    fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
        match msg {
            Message::Text(text) => conn.send(text),
            Message::Binary(data) => {
                // Only a raw WebSocket delivers binary, and it can always send it back.
                let _ = conn.send_binary(data);
            }
        }
    }
}

fn main() -> ExitCode {
    let mut app = App::from_args();
    app.sockjs("/echo", Echo);
    app.run()
}
