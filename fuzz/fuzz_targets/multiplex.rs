//! Fuzz the websocket-multiplex rooms state machine: any message sequence is handled
//! without panics, and the open-topic set stays within the configured limits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ringcast::protocol::multiplex::{ChannelsState, RoomsConfig, RoomsState};

fuzz_target!(|data: &[u8]| {
    let cfg = RoomsConfig { allow: None, max_topic_bytes: 16, max_topics: 4 };
    let mut rooms = RoomsState::new();
    let mut channels = ChannelsState::new();
    let mut out = Vec::new();
    for msg in data.split(|&b| b == b'\n') {
        rooms.on_message(msg, &cfg, &mut out);
        channels.on_message(msg, &mut out);
        out.clear();
        assert!(rooms.open_topics().len() <= 4);
        assert!(rooms.open_topics().iter().all(|t| t.len() <= 16));
    }
});
