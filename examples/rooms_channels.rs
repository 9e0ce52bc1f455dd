//! Channels over websocket-multiplex, each served by its own handler: one SockJS
//! connection at `/multiplex` carries several named channels (`sub,<name>` opens one,
//! `msg,<name>,<data>` talks on it, `uns,<name>` closes it), as in the sockjs-rooms demo.
//!
//! | channel | on open | on a message |
//! |---|---|---|
//! | `red` | sends `Red is connected` | echoes it back |
//! | `bob`, `carl` | nothing | echo it back |
//! | `latency` | nothing | echoes it back (the page sends timestamps and shows the round trip) |
//!
//! An echo goes only to the channel connection that sent the message, never to other
//! clients. `/` serves a page showing the channels, built with sockjs-client and the
//! websocket-multiplex client loaded from their public CDN.
//!
//! ```text
//! cargo run --release --example rooms_channels -- --listen 127.0.0.1:8080
//! # open http://127.0.0.1:8080/ in a browser, or with websocat:
//! websocat ws://127.0.0.1:8080/multiplex/websocket
//! sub,red                 <- msg,red,Red is connected
//! msg,red,hello           <- msg,red,hello
//! ```
//!
//! Flags: `--listen`, `--shards`, `--backend auto|uring|epoll`, `--config FILE`.

use ringcast::{App, Conn, Handler, Message};
use std::process::ExitCode;

/// A channel that optionally greets a new member and echoes each message to its sender.
struct EchoChannel {
    /// Sent to a connection as soon as it opens the channel.
    greeting: Option<&'static str>,
}

impl Handler for EchoChannel {
    type State = ();

    fn on_open(&self, conn: &mut Conn<'_, ()>) {
        if let Some(greeting) = self.greeting {
            conn.send(greeting);
        }
    }

    fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
        // A channel carries text only (websocket-multiplex frames are text).
        if let Message::Text(text) = msg {
            conn.send(text);
        }
    }
}

/// The page at `/`: one panel per channel, and a latency meter on `latency`.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ringcast channels</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 1em; }
  .panels { display: flex; gap: 1em; flex-wrap: wrap; }
  .panel { border: 1px solid #ccc; border-radius: 6px; padding: .5em; width: 18em; }
  .panel h2 { font-size: 1em; margin: 0 0 .3em; }
  .log { height: 12em; overflow-y: auto; font-family: monospace; font-size: .9em; background: #f7f7f7; }
  .panel input { width: 100%; box-sizing: border-box; margin-top: .3em; }
</style>
</head>
<body>
<h1>ringcast: websocket-multiplex channels</h1>
<p>One SockJS connection to <code>/multiplex</code>, four channels. Status: <span id="status">connecting…</span>;
round trip on <code>latency</code>: <span id="rtt">–</span></p>
<div class="panels" id="panels"></div>
<script src="https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js"></script>
<script src="https://cdn.jsdelivr.net/npm/websocket-multiplex@0.1.0/multiplex_client.js"></script>
<script>
  var sock = new SockJS(location.protocol + '//' + location.host + '/multiplex');
  var mux = new WebSocketMultiplex(sock);
  sock.addEventListener('open', function () {
    document.getElementById('status').textContent = 'open (' + sock.transport + ')';
  });
  sock.addEventListener('close', function (e) {
    document.getElementById('status').textContent = 'closed: ' + e.code + ' ' + e.reason;
  });

  function panel(name) {
    var box = document.createElement('div');
    box.className = 'panel';
    box.innerHTML = '<h2></h2><div class="log"></div><input placeholder="type and press enter">';
    box.querySelector('h2').textContent = name;
    document.getElementById('panels').appendChild(box);
    var log = box.querySelector('.log');
    var channel = mux.channel(name);
    channel.onmessage = function (e) {
      var line = document.createElement('div');
      line.textContent = e.data;
      log.appendChild(line);
      log.scrollTop = log.scrollHeight;
    };
    box.querySelector('input').onkeydown = function (e) {
      if (e.key === 'Enter' && this.value) { channel.send(this.value); this.value = ''; }
    };
  }
  ['red', 'bob', 'carl'].forEach(panel);

  var latency = mux.channel('latency');
  latency.onmessage = function (e) {
    document.getElementById('rtt').textContent = (Date.now() - Number(e.data)) + ' ms';
  };
  setInterval(function () {
    if (sock.readyState === SockJS.OPEN) latency.send(String(Date.now()));
  }, 1000);
</script>
</body>
</html>
"#;

fn main() -> ExitCode {
    let mut app = App::from_args();
    app.channels("/multiplex")
        .channel("red", EchoChannel { greeting: Some("Red is connected") })
        .channel("bob", EchoChannel { greeting: None })
        .channel("carl", EchoChannel { greeting: None })
        .channel("latency", EchoChannel { greeting: None });
    app.page("/", "text/html; charset=UTF-8", PAGE);
    app.run()
}
