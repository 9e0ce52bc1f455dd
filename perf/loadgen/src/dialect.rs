//! The application protocols the load generator speaks: which path a client connects to, how it
//! joins the benchmark topic, how the publisher wraps a payload, and how received text messages
//! (or SockJS frames read off an HTTP stream) unwrap into payloads. One enum, one `match` per
//! operation: add a dialect by adding a variant.

use std::borrow::Cow;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// `--dialect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// websocket-multiplex rooms over a raw WebSocket: `sub,<topic>`, `msg,<topic>,<payload>`.
    Rooms,
    /// The same rooms messages inside SockJS's websocket transport (`o`, `a[...]`, `h`).
    SockjsRooms,
    /// No topics: every text message sent goes to every connected client, verbatim.
    Broadcast,
    /// The same rooms messages over SockJS's HTTP transports: each subscriber holds an
    /// xhr_streaming session and sends its `sub` through xhr_send; the publisher is a `rooms`
    /// client of the service's raw WebSocket (`<prefix>/websocket`).
    XhrStreaming,
}

/// One thing a received text message meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// The dialect-level session is open (SockJS `o`); raw dialects are open after the upgrade.
    Open,
    /// A benchmark payload addressed to our topic.
    Payload(&'a [u8]),
    /// The server closed the session at the dialect level (SockJS `c[...]`).
    Close,
    /// Heartbeats, other topics, anything else to ignore.
    Other,
}

/// The elements of a SockJS `a[...]` frame, borrowed when they contain no escapes.
#[derive(Deserialize)]
struct SockjsArray<'a>(#[serde(borrow)] Vec<Cow<'a, str>>);

impl Dialect {
    /// The URL path used when `--url` has none.
    pub fn default_path(self) -> &'static str {
        match self {
            Dialect::Rooms => "/rooms/websocket",
            Dialect::SockjsRooms | Dialect::XhrStreaming => "/rooms",
            Dialect::Broadcast => "/",
        }
    }

    /// The request path of one subscriber: SockJS adds `/<server>/<session>/<transport>` to the
    /// prefix.
    pub fn connection_path(self, url_path: &str, rng: &mut Rng) -> String {
        let base = if url_path.is_empty() { self.default_path() } else { url_path };
        match self {
            Dialect::Rooms | Dialect::Broadcast => base.to_string(),
            Dialect::SockjsRooms => sockjs_session_path(base, "websocket", rng),
            Dialect::XhrStreaming => sockjs_session_path(base, "xhr_streaming", rng),
        }
    }

    /// The dialect the publisher speaks: `rooms` for `xhr-streaming`, else the same.
    pub fn for_publisher(self) -> Dialect {
        match self {
            Dialect::XhrStreaming => Dialect::Rooms,
            d => d,
        }
    }

    /// The publisher's request path: the SockJS service's raw WebSocket for `xhr-streaming`.
    pub fn publisher_path(self, url_path: &str, rng: &mut Rng) -> String {
        match self {
            Dialect::XhrStreaming => {
                let base = if url_path.is_empty() { self.default_path() } else { url_path };
                format!("{}/websocket", base.trim_end_matches('/'))
            }
            d => d.connection_path(url_path, rng),
        }
    }

    /// Whether subscribers use SockJS's HTTP transports (a receiver plus short-lived sends).
    pub fn over_http(self) -> bool {
        matches!(self, Dialect::XhrStreaming)
    }

    /// Whether the session opens only on a server message (SockJS `o`) rather than at the upgrade.
    pub fn waits_for_open_message(self) -> bool {
        matches!(self, Dialect::SockjsRooms | Dialect::XhrStreaming)
    }

    /// Writes the text message (for `xhr-streaming`: the xhr_send body) that joins `topic` into
    /// `out` (cleared first); false if none is needed.
    pub fn subscribe(self, topic: &str, out: &mut Vec<u8>) -> bool {
        out.clear();
        match self {
            Dialect::Rooms => out.extend_from_slice(format!("sub,{topic}").as_bytes()),
            Dialect::SockjsRooms | Dialect::XhrStreaming => sockjs_wrap(&format!("sub,{topic}"), out),
            Dialect::Broadcast => return false,
        }
        true
    }

    /// Writes the text message that publishes `payload` (ASCII) to `topic` into `out` (cleared
    /// first). For `xhr-streaming` that is an xhr_send body, but its publisher speaks `rooms`.
    pub fn publish(self, topic: &str, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match self {
            Dialect::Rooms => rooms_msg(topic, payload, out),
            Dialect::SockjsRooms | Dialect::XhrStreaming => {
                let mut inner = Vec::with_capacity(payload.len() + topic.len() + 5);
                rooms_msg(topic, payload, &mut inner);
                sockjs_wrap(&String::from_utf8_lossy(&inner), out);
            }
            Dialect::Broadcast => out.extend_from_slice(payload),
        }
    }

    /// Interprets one received text message, calling `on` for each thing it carries.
    pub fn decode(self, topic: &str, text: &[u8], on: &mut dyn FnMut(Inbound<'_>)) -> Result<(), String> {
        match self {
            Dialect::Rooms => on(rooms_payload(topic, text)),
            Dialect::SockjsRooms | Dialect::XhrStreaming => return sockjs_decode(topic, text, on),
            Dialect::Broadcast => on(Inbound::Payload(text)),
        }
        Ok(())
    }
}

/// `<prefix>/<3 digits>/<8 letters>/<transport>`.
fn sockjs_session_path(base: &str, transport: &str, rng: &mut Rng) -> String {
    let server = rng.next_u64() % 1000;
    format!("{}/{server:03}/{}/{transport}", base.trim_end_matches('/'), rng.letters(8))
}

fn rooms_msg(topic: &str, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"msg,");
    out.extend_from_slice(topic.as_bytes());
    out.push(b',');
    out.extend_from_slice(payload);
}

/// `msg,<topic>,<payload>` for our topic gives the payload; anything else is ignored.
fn rooms_payload<'a>(topic: &str, text: &'a [u8]) -> Inbound<'a> {
    let Some(rest) = text.strip_prefix(b"msg,") else { return Inbound::Other };
    match rest.strip_prefix(topic.as_bytes()).and_then(|r| r.strip_prefix(b",")) {
        Some(payload) => Inbound::Payload(payload),
        None => Inbound::Other,
    }
}

/// A SockJS client frame: a JSON array holding one string.
fn sockjs_wrap(message: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(out, &[message]).expect("serializing a string to a Vec cannot fail");
}

/// SockJS server frames: `o`, `h`, `a[...]`, `m"..."`, `c[...]`.
fn sockjs_decode(topic: &str, text: &[u8], on: &mut dyn FnMut(Inbound<'_>)) -> Result<(), String> {
    match text.first() {
        Some(b'o') => on(Inbound::Open),
        Some(b'h') => on(Inbound::Other),
        Some(b'c') => on(Inbound::Close),
        Some(b'a') => {
            let SockjsArray(items) = serde_json::from_slice(&text[1..]).map_err(|e| bad_sockjs(text, &e))?;
            for item in &items {
                on(rooms_payload(topic, item.as_bytes()));
            }
        }
        Some(b'm') => {
            let item: Cow<'_, str> = serde_json::from_slice(&text[1..]).map_err(|e| bad_sockjs(text, &e))?;
            on(rooms_payload(topic, item.as_bytes()));
        }
        _ => return Err(format!("unknown SockJS frame {:?}", String::from_utf8_lossy(text))),
    }
    Ok(())
}

fn bad_sockjs(text: &[u8], e: &serde_json::Error) -> String {
    let shown: String = String::from_utf8_lossy(text).chars().take(80).collect();
    format!("bad SockJS frame {shown:?}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(d: Dialect, text: &[u8]) -> Vec<String> {
        let mut seen = Vec::new();
        d.decode("bench", text, &mut |ev| {
            seen.push(match ev {
                Inbound::Payload(p) => String::from_utf8_lossy(p).into_owned(),
                other => format!("{other:?}"),
            })
        })
        .unwrap();
        seen
    }

    #[test]
    fn rooms_messages() {
        let mut out = Vec::new();
        assert!(Dialect::Rooms.subscribe("bench", &mut out));
        assert_eq!(out, b"sub,bench");
        Dialect::Rooms.publish("bench", b"1:2:x,y", &mut out);
        assert_eq!(out, b"msg,bench,1:2:x,y");
        assert_eq!(decoded(Dialect::Rooms, b"msg,bench,1:2:x,y"), ["1:2:x,y"]);
        assert_eq!(decoded(Dialect::Rooms, b"msg,benchmark,1"), ["Other"]);
        assert_eq!(decoded(Dialect::Rooms, b"uns,bench"), ["Other"]);
    }

    #[test]
    fn sockjs_messages() {
        let mut out = Vec::new();
        Dialect::SockjsRooms.subscribe("bench", &mut out);
        assert_eq!(out, br#"["sub,bench"]"#);
        Dialect::SockjsRooms.publish("bench", b"7:8:xx", &mut out);
        assert_eq!(out, br#"["msg,bench,7:8:xx"]"#);
        assert_eq!(decoded(Dialect::SockjsRooms, b"o"), ["Open"]);
        assert_eq!(decoded(Dialect::SockjsRooms, b"h"), ["Other"]);
        assert_eq!(decoded(Dialect::SockjsRooms, br#"a["msg,bench,1","msg,bench,2\u0041"]"#), ["1", "2A"]);
        assert_eq!(decoded(Dialect::SockjsRooms, br#"m"msg,bench,3""#), ["3"]);
        assert_eq!(decoded(Dialect::SockjsRooms, br#"c[3000,"Go away!"]"#), ["Close"]);
        assert!(Dialect::SockjsRooms.decode("bench", b"a[1", &mut |_| {}).is_err());
    }

    #[test]
    fn broadcast_is_verbatim() {
        let mut out = Vec::new();
        assert!(!Dialect::Broadcast.subscribe("bench", &mut out));
        Dialect::Broadcast.publish("bench", b"5:6:", &mut out);
        assert_eq!(out, b"5:6:");
        assert_eq!(decoded(Dialect::Broadcast, b"5:6:"), ["5:6:"]);
    }

    #[test]
    fn sockjs_paths() {
        let mut rng = Rng::seeded(1);
        let p = Dialect::SockjsRooms.connection_path("", &mut rng);
        let parts: Vec<&str> = p.split('/').collect();
        assert_eq!((parts[1], parts[2].len(), parts[3].len(), parts[4]), ("rooms", 3, 8, "websocket"));
        assert_eq!(Dialect::Rooms.connection_path("/x/websocket", &mut rng), "/x/websocket");
    }

    #[test]
    fn xhr_streaming_paths_and_messages() {
        let mut rng = Rng::seeded(2);
        let d = Dialect::XhrStreaming;
        let p = d.connection_path("/rooms/", &mut rng);
        let parts: Vec<&str> = p.split('/').collect();
        assert_eq!((parts[1], parts[2].len(), parts[3].len(), parts[4]), ("rooms", 3, 8, "xhr_streaming"));
        assert_eq!(d.publisher_path("", &mut rng), "/rooms/websocket");
        assert_eq!(d.publisher_path("/a/b", &mut rng), "/a/b/websocket");
        assert_eq!(d.for_publisher(), Dialect::Rooms);
        assert_eq!(Dialect::SockjsRooms.for_publisher(), Dialect::SockjsRooms);
        let mut out = Vec::new();
        assert!(d.subscribe("bench", &mut out));
        assert_eq!(out, br#"["sub,bench"]"#);
        assert_eq!(decoded(d, br#"a["msg,bench,9"]"#), ["9"]);
        assert!(d.waits_for_open_message() && d.over_http());
    }
}
