//! A room chat with its logic on the server: nicknames, rooms, join and leave notices,
//! and the last 50 messages of a room replayed to whoever joins it. SockJS at `/chat`
//! (raw WebSocket at `/chat/websocket`), a small page at `/`.
//!
//! Shows a stateful [`Handler`]: per-connection state (nickname, room), state shared by
//! every connection on every shard (each room's history, in the handler behind a
//! `Mutex` held only to copy a few lines), and delivery through topics (one per room) so
//! that members on different shards hear each other.
//!
//! # Protocol (text messages)
//!
//! | client sends | server does |
//! |---|---|
//! | (on connect) | sends `* send your nickname` |
//! | first message `alice` | names the connection `alice` and joins room `lobby` |
//! | `/join <room>` | leaves the current room and joins `<room>` |
//! | any other text | sends `alice: <text>` to every member of the room, sender included |
//!
//! Joining a room sends the joiner the room's last 50 messages (oldest first), then
//! `* you joined <room>`; the other members get `* alice joined`. Leaving (`/join` of
//! another room, or closing the connection) sends them `* alice left`. Nicknames are
//! 1–24 characters of letters, digits, `_`, `-`, `.`; room names 1–32 of letters,
//! digits, `_`, `-`; neither is reserved. Mistakes are answered with a `* ` line.
//!
//! A client that closes leaves at once, on every transport; one that vanishes without
//! closing its connections (its network goes away) is noticed only when the server's
//! timeouts expire, so its leave notice comes that late. A message sent at the very moment someone joins may reach the joiner twice (in the
//! replay and live). Every room's history stays in memory (at most 50 lines each).
//!
//! ```text
//! cargo run --release --example chat -- --listen 127.0.0.1:8080
//! # open http://127.0.0.1:8080/ in two browser tabs, or with websocat:
//! websocat ws://127.0.0.1:8080/chat/websocket
//! alice                  <- * you joined lobby
//! hi                     <- alice: hi
//! ```
//!
//! Flags: `--listen`, `--shards`, `--backend auto|uring|epoll`, `--config FILE`.

use ringcast::{App, CloseReason, Conn, Handler, Message};
use std::collections::{HashMap, VecDeque};
use std::process::ExitCode;
use std::sync::Mutex;

/// Messages of a room replayed to a joiner.
const HISTORY_LEN: usize = 50;
/// The room every connection joins once it has a nickname.
const LOBBY: &str = "lobby";

/// The chat service: each room's recent messages, shared by every shard.
#[derive(Default)]
struct Chat {
    /// Room name → its last [`HISTORY_LEN`] lines (`nick: text`), oldest first.
    history: Mutex<HashMap<String, VecDeque<String>>>,
}

/// One connection: unnamed until its first message, then in exactly one room.
#[derive(Default)]
struct Member {
    nick: Option<String>,
    room: Option<String>,
}

impl Chat {
    /// Append `line` to `room`'s history, dropping the oldest past [`HISTORY_LEN`].
    fn record(&self, room: &str, line: &str) {
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let lines = history.entry(room.to_string()).or_default();
        if lines.len() == HISTORY_LEN {
            lines.pop_front();
        }
        lines.push_back(line.to_string());
    }

    /// A copy of `room`'s history, oldest first.
    fn recent(&self, room: &str) -> Vec<String> {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.get(room).map(|lines| lines.iter().cloned().collect()).unwrap_or_default()
    }

    /// First message: take it as the nickname and join the lobby.
    fn name(&self, conn: &mut Conn<'_, Member>, nick: &str) {
        if !valid_name(nick, 24, &['_', '-', '.']) {
            conn.send("* a nickname is 1-24 letters, digits, '_', '-' or '.'; try again");
            return;
        }
        conn.state_mut().nick = Some(nick.to_string());
        self.enter(conn, LOBBY);
    }

    /// `/join <room>`: leave the current room for `room`.
    fn join(&self, conn: &mut Conn<'_, Member>, room: &str) {
        if !valid_name(room, 32, &['_', '-']) {
            conn.send("* a room name is 1-32 letters, digits, '_' or '-'");
        } else if conn.state().room.as_deref() == Some(room) {
            conn.send(&format!("* you are already in {room}"));
        } else {
            leave(conn);
            self.enter(conn, room);
        }
    }

    /// Subscribe to `room`, replay its history, confirm, and tell the others.
    fn enter(&self, conn: &mut Conn<'_, Member>, room: &str) {
        // Room names are at most 32 bytes, far below the topic length limit.
        let _ = conn.subscribe(room);
        for line in self.recent(room) {
            conn.send(&line);
        }
        conn.send(&format!("* you joined {room}"));
        let nick = nick_of(conn);
        let _ = conn.broadcast(room, &format!("* {nick} joined"));
        conn.state_mut().room = Some(room.to_string());
    }

    /// A chat line: recorded in the room's history and published to every member.
    fn say(&self, conn: &mut Conn<'_, Member>, text: &str) {
        let Some(room) = conn.state().room.clone() else { return };
        let line = format!("{}: {text}", nick_of(conn));
        self.record(&room, &line);
        let _ = conn.publish(&room, &line);
    }
}

impl Handler for Chat {
    type State = Member;

    fn on_open(&self, conn: &mut Conn<'_, Member>) {
        conn.send("* send your nickname");
    }

    fn on_message(&self, conn: &mut Conn<'_, Member>, msg: Message<'_>) {
        let Some(text) = msg.as_text() else { return };
        if conn.state().nick.is_none() {
            self.name(conn, text);
        } else if let Some(room) = text.strip_prefix("/join ") {
            self.join(conn, room.trim());
        } else if text.starts_with('/') {
            conn.send("* commands: /join <room>");
        } else {
            self.say(conn, text);
        }
    }

    fn on_close(&self, conn: &mut Conn<'_, Member>, _reason: CloseReason) {
        leave(conn);
    }
}

/// Leave the current room (if any), telling its other members.
fn leave(conn: &mut Conn<'_, Member>) {
    let Some(room) = conn.state_mut().room.take() else { return };
    let nick = nick_of(conn);
    let _ = conn.broadcast(&room, &format!("* {nick} left"));
    let _ = conn.unsubscribe(&room);
}

/// The connection's nickname (empty before it has one).
fn nick_of(conn: &Conn<'_, Member>) -> String {
    conn.state().nick.clone().unwrap_or_default()
}

/// 1 to `max` characters, each an ASCII letter or digit or one of `extra`.
fn valid_name(name: &str, max: usize, extra: &[char]) -> bool {
    (1..=max).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// The page at `/`: a log, a line to type in, and the protocol above.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ringcast chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 1em; }
  #log { height: 60vh; overflow-y: auto; border: 1px solid #ccc; padding: .5em; }
  #log .sys { color: #777; font-style: italic; }
  form input { width: 70%; font: inherit; }
</style>
</head>
<body>
<h1>ringcast chat</h1>
<p>Type your nickname first, then chat; <code>/join room</code> changes room.
Status: <span id="status">connecting…</span></p>
<div id="log"></div>
<form id="say"><input id="text" autocomplete="off" placeholder="nickname"> <button>send</button></form>
<script src="https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js"></script>
<script>
  var sock = new SockJS(location.protocol + '//' + location.host + '/chat');
  var log = document.getElementById('log'), text = document.getElementById('text');
  sock.onopen = function () { document.getElementById('status').textContent = 'open (' + sock.transport + ')'; };
  sock.onclose = function (e) { document.getElementById('status').textContent = 'closed: ' + e.code + ' ' + e.reason; };
  sock.onmessage = function (e) {
    var p = document.createElement('div');
    p.textContent = e.data;
    if (e.data.indexOf('* ') === 0) p.className = 'sys';
    log.appendChild(p);
    log.scrollTop = log.scrollHeight;
  };
  document.getElementById('say').onsubmit = function (e) {
    e.preventDefault();
    if (text.value) { sock.send(text.value); text.value = ''; text.placeholder = 'message or /join room'; }
  };
</script>
</body>
</html>
"#;

fn main() -> ExitCode {
    let mut app = App::from_args();
    app.sockjs("/chat", Chat::default());
    app.page("/", "text/html; charset=UTF-8", PAGE);
    app.run()
}
