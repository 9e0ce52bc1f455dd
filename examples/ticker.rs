//! A price ticker: a plain thread publishes 1000 prices a second to the topic `prices`
//! through a [`Publisher`], and browsers receive them over SockJS at `/ticker` (raw
//! WebSocket at `/ticker/websocket`). A page at `/` shows the latest prices.
//!
//! Shows publishing from outside the server: [`App::run_with`] hands the running server
//! to the program, whose thread publishes without ever blocking (a full shard inbox
//! drops that shard's copy and is counted). The service's handler only subscribes each
//! new connection to `prices`; what clients send is ignored.
//!
//! Each message is `<seq> <SYMBOL> <price>`, e.g. `1042 ACME 101.25`: `seq` counts from
//! 1 and grows by one per message, so a client can check order and spot gaps. The
//! symbols `ACME`, `GLOBEX`, `INITECH` take turns; each price is a random walk in cents.
//!
//! ```text
//! cargo run --release --example ticker -- --listen 127.0.0.1:8080
//! # open http://127.0.0.1:8080/, or: websocat ws://127.0.0.1:8080/ticker/websocket
//! 1 ACME 100.07
//! 2 GLOBEX 49.88
//! ```
//!
//! Flags: `--listen`, `--shards`, `--backend auto|uring|epoll`, `--config FILE`.

use ringcast::{App, Conn, Handler, Message, PublishStatus, Publisher, Server};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

/// The service prefix and the topic every client is subscribed to.
const SERVICE: &str = "/ticker";
const TOPIC: &str = "prices";
/// Time between two publishes: 1 kHz.
const PERIOD: Duration = Duration::from_millis(1);
/// Further behind schedule than this (a stalled machine), the ticker skips ahead
/// instead of publishing the missed ticks in a burst.
const MAX_LAG: Duration = Duration::from_millis(50);
/// The symbols and their starting prices in cents.
const SYMBOLS: [(&str, i64); 3] = [("ACME", 10_000), ("GLOBEX", 5_000), ("INITECH", 2_500)];

/// Subscribes every connection to the prices; clients have nothing to say.
struct Subscribe;

impl Handler for Subscribe {
    type State = ();

    fn on_open(&self, conn: &mut Conn<'_, ()>) {
        // "prices" is far below the topic length limit.
        let _ = conn.subscribe(TOPIC);
    }

    fn on_message(&self, _conn: &mut Conn<'_, ()>, _msg: Message<'_>) {}
}

/// The prices of every symbol, moved by a small deterministic random walk.
struct Market {
    cents: Vec<i64>,
    rng: u64,
}

impl Market {
    fn new() -> Market {
        Market { cents: SYMBOLS.iter().map(|&(_, c)| c).collect(), rng: 0x9E37_79B9_7F4A_7C15 }
    }

    /// Message `seq`: the next symbol in turn with its new price.
    fn tick(&mut self, seq: u64) -> String {
        let i = (seq as usize - 1) % SYMBOLS.len();
        let step = (self.next_random() % 51) as i64 - 25; // -25..=25 cents
        self.cents[i] = (self.cents[i] + step).max(100);
        let c = self.cents[i];
        format!("{seq} {} {}.{:02}", SYMBOLS[i].0, c / 100, c % 100)
    }

    /// xorshift64: plenty for made-up prices.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

/// Publish a price every [`PERIOD`] until the server stops.
fn publish_prices(publisher: Publisher) {
    let mut market = Market::new();
    let (mut next, mut dropped) = (Instant::now(), 0u64);
    for seq in 1.. {
        match publisher.publish(SERVICE, TOPIC, &market.tick(seq)) {
            Ok(PublishStatus::Queued) => {}
            Ok(PublishStatus::Backpressured { .. }) => {
                dropped += 1;
                if dropped % 1000 == 1 {
                    tracing::warn!(seq, dropped, "shard inbox full: prices dropped");
                }
            }
            Err(e) => {
                tracing::info!(seq, error = %e, "ticker stopped");
                return;
            }
        }
        next = wait_for_tick(next);
    }
}

/// Sleep until `next + PERIOD` and return it; when far behind, restart from now.
fn wait_for_tick(next: Instant) -> Instant {
    let now = Instant::now();
    let due = next + PERIOD;
    if due > now {
        thread::sleep(due - now);
        due
    } else if now - due > MAX_LAG {
        now
    } else {
        due
    }
}

/// Start the publishing thread once the server runs.
fn start_ticker(server: &Server) {
    let publisher = server.publisher();
    thread::Builder::new()
        .name("ticker".into())
        .spawn(move || publish_prices(publisher))
        .expect("spawn the ticker thread");
}

/// The page at `/`: the latest price of each symbol and the message rate.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ringcast ticker</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 1em; }
  td, th { padding: .2em 1em; text-align: right; font-family: monospace; }
</style>
</head>
<body>
<h1>ringcast ticker</h1>
<p>Status: <span id="status">connecting…</span>; <span id="rate">0</span> prices/s; last seq <span id="seq">–</span></p>
<table><thead><tr><th>symbol</th><th>price</th></tr></thead><tbody id="prices"></tbody></table>
<script src="https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js"></script>
<script>
  var sock = new SockJS(location.protocol + '//' + location.host + '/ticker');
  var rows = {}, count = 0;
  sock.onopen = function () { document.getElementById('status').textContent = 'open (' + sock.transport + ')'; };
  sock.onclose = function (e) { document.getElementById('status').textContent = 'closed: ' + e.code + ' ' + e.reason; };
  sock.onmessage = function (e) {
    var f = e.data.split(' ');
    count++;
    document.getElementById('seq').textContent = f[0];
    if (!rows[f[1]]) {
      var tr = document.createElement('tr');
      tr.innerHTML = '<td></td><td></td>';
      tr.firstChild.textContent = f[1];
      document.getElementById('prices').appendChild(tr);
      rows[f[1]] = tr.lastChild;
    }
    rows[f[1]].textContent = f[2];
  };
  setInterval(function () { document.getElementById('rate').textContent = count; count = 0; }, 1000);
</script>
</body>
</html>
"#;

fn main() -> ExitCode {
    let mut app = App::from_args();
    app.sockjs(SERVICE, Subscribe);
    app.page("/", "text/html; charset=UTF-8", PAGE);
    app.run_with(start_ticker)
}
