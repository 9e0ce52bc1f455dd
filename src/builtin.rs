//! The built-in test and example services, written on the public handler API (they use
//! nothing an application could not): `echo` and `close` (the SockJS protocol test
//! services, spec `sockjs.md` §12) and `multiplex_example` (the reference
//! websocket-multiplex example's channels `ann`, `bob`, `carl`, spec `multiplex.md` §6).
//!
//! Owns: those handlers. Does not own: rooms, the built-in pub/sub protocol, which is a
//! protocol of its own on the fan-out path (`protocol::multiplex`).

use crate::{Conn, Handler, Message};

/// Writes every message back unchanged: text as text, binary as binary.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Echo;

impl Handler for Echo {
    type State = ();

    fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
        match msg {
            Message::Text(text) => conn.send(text),
            Message::Binary(data) => {
                // Only a raw WebSocket carries binary, and there it always succeeds.
                let _ = conn.send_binary(data);
            }
        }
    }
}

/// The SockJS `close` test service: closes every connection at once with 3000 "Go away!".
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct GoAway;

impl Handler for GoAway {
    type State = ();

    fn on_open(&self, conn: &mut Conn<'_, ()>) {
        conn.close(3000, "Go away!");
    }

    fn on_message(&self, _conn: &mut Conn<'_, ()>, _msg: Message<'_>) {}
}

/// A channel of the reference multiplex example: greets with `<name> says hi` on open
/// (not `carl`) and echoes `<name> echo: <payload>`; `carl` closes on `bye`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExampleChannel {
    pub(crate) name: &'static str,
}

/// The channels of the reference example, in registration order.
pub(crate) const EXAMPLE_CHANNELS: [ExampleChannel; 3] =
    [ExampleChannel { name: "ann" }, ExampleChannel { name: "bob" }, ExampleChannel { name: "carl" }];

impl Handler for ExampleChannel {
    type State = ();

    fn on_open(&self, conn: &mut Conn<'_, ()>) {
        if self.name != "carl" {
            conn.send(&format!("{} says hi", self.name));
        }
    }

    fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
        let Message::Text(text) = msg else { return };
        if self.name == "carl" && text == "bye" {
            conn.close(1000, "bye");
        } else {
            conn.send(&format!("{} echo: {text}", self.name));
        }
    }
}
