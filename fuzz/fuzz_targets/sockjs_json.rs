//! Fuzz target for the SockJS JSON decoder (`transport::sockjs::receive`), differential
//! against serde_json.
//!
//! Owns: the properties checked on arbitrary payloads — no panic in any decoder entry
//! point; and on every input serde_json accepts as JSON, the SockJS decoder accepts it
//! too and yields the same messages: a string element is its decoded text, any other
//! element compact JSON text that serde_json reads back as the same value. (The reverse
//! is not checked: ringcast also accepts lone surrogate escapes, numbers beyond f64 and
//! nesting deeper than serde_json's recursion limit, by design.)
//!
//! Does not own: the sessions the messages go to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringcast::transport::sockjs::receive::{
    decode_jsonp_send, decode_ws_message, decode_xhr_send, PayloadError,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let xhr = decode_xhr_send(None, data);
    let _ = decode_jsonp_send(Some(b"application/x-www-form-urlencoded"), data);
    let _ = decode_jsonp_send(Some(b"text/plain"), data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ws = decode_ws_message(text);
    if text.is_empty() {
        assert_eq!(ws, Ok(Vec::new()));
        assert_eq!(xhr, Err(PayloadError::Expected));
        return;
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else { return };
    // §8.1: a WebSocket message starting with `[` is a batch; anything else one message.
    let want_ws = match &value {
        Value::Array(items) if text.starts_with('[') => items.clone(),
        _ => vec![value.clone()],
    };
    check_messages(&ws.unwrap_or_else(|e| panic!("ws refused valid JSON: {e}")), &want_ws);
    match &value {
        Value::Array(items) => {
            check_messages(&xhr.unwrap_or_else(|e| panic!("xhr refused valid JSON: {e}")), items)
        }
        _ => assert_eq!(xhr, Err(PayloadError::Expected)),
    }
});

fn check_messages(got: &[String], want: &[Value]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (message, value) in got.iter().zip(want) {
        match value {
            Value::String(s) => assert_eq!(message, s),
            other => {
                let back: Value = serde_json::from_str(message).expect("compact text is JSON");
                assert_eq!(&back, other, "compact text {message:?}");
                assert!(!message.contains([' ', '\n', '\t', '\r']) || message.contains('"'), "{message:?}");
            }
        }
    }
}
