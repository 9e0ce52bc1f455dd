//! The `echo` and `close` test protocols.
//!
//! Owns: echoing each message back unchanged (text stays text, binary stays binary),
//! and the `close` service's immediate 3000 "Go away!". Used by the RFC 6455
//! conformance run and the SockJS protocol services. Does not own framing.

use super::Action;
use bytes::Bytes;

/// Echo one message.
pub fn on_message(text: bool, payload: &[u8], out: &mut Vec<Action>) {
    out.push(Action::Reply { text, payload: Bytes::copy_from_slice(payload) });
}

/// What the `close` service does when a connection opens.
pub fn close_on_open(out: &mut Vec<Action>) {
    out.push(Action::Close { code: 3000, reason: "Go away!" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_keeps_kind_and_bytes() {
        let mut out = Vec::new();
        on_message(false, &[0, 255], &mut out);
        on_message(true, "Hello world!\u{ffff}".as_bytes(), &mut out);
        assert_eq!(out[0], Action::Reply { text: false, payload: Bytes::from_static(&[0, 255]) });
        assert_eq!(out[1], Action::Reply { text: true, payload: Bytes::from("Hello world!\u{ffff}") });
    }

    #[test]
    fn close_service_says_go_away() {
        let mut out = Vec::new();
        close_on_open(&mut out);
        assert_eq!(out, vec![Action::Close { code: 3000, reason: "Go away!" }]);
    }
}
