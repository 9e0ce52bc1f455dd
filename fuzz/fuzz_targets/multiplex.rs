//! Fuzz the websocket-multiplex message parser and the rooms state machine: any message
//! sequence is handled without panics, the open-topic set stays within the configured
//! limits, and every action names an open topic of the service's space.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ringcast::ids::SpaceId;
use ringcast::protocol::multiplex::{parse, RoomsConfig, RoomsState};
use ringcast::protocol::Action;

fuzz_target!(|data: &[u8]| {
    let cfg = RoomsConfig { allow: None, max_topic_bytes: 16, max_topics: 4 };
    let mut rooms = RoomsState::new();
    let mut out = Vec::new();
    for msg in data.split(|&b| b == b'\n') {
        let p = parse(msg);
        assert!(p.kind.len() + p.topic.map_or(0, |t| t.len() + 1) + p.payload.len() <= msg.len() + 1);
        rooms.on_message(msg, &cfg, SpaceId(3), &mut out);
        for action in out.drain(..) {
            match action {
                Action::Subscribe { space, topic, .. } | Action::Unsubscribe { space, topic } => {
                    assert_eq!(space, SpaceId(3));
                    assert!(topic.len() <= 16);
                }
                Action::Publish { space, topic, .. } => {
                    assert_eq!(space, SpaceId(3));
                    assert!(rooms.open_topics().contains(&topic));
                }
                other => panic!("rooms returned {other:?}"),
            }
        }
        assert!(rooms.open_topics().len() <= 4);
        assert!(rooms.open_topics().iter().all(|t| t.len() <= 16));
    }
});
