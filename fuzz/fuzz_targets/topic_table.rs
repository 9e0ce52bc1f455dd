//! Fuzz topic-table operation sequences against a simple model.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringcast::pubsub::topics::{SubKey, TopicTable};
use std::collections::{BTreeSet, HashMap};

fuzz_target!(|data: &[u8]| {
    let mut table = TopicTable::new();
    let mut keys: HashMap<(u8, u8), SubKey> = HashMap::new();
    for op in data.chunks(2) {
        let [a, m] = op else { break };
        let (topic, sub) = (a & 0x07, a & 0x80 == 0);
        match (sub, keys.remove(&(topic, *m))) {
            (true, None) => {
                keys.insert((topic, *m), table.subscribe(&Bytes::from(vec![topic]), *m));
            }
            (true, Some(k)) => {
                keys.insert((topic, *m), k);
            }
            (false, Some(k)) => table.unsubscribe(k),
            (false, None) => {}
        }
    }
    assert_eq!(table.memberships(), keys.len());
    for t in 0..8u8 {
        let want: BTreeSet<u8> = keys.keys().filter(|(tt, _)| *tt == t).map(|(_, m)| *m).collect();
        let have: BTreeSet<u8> = table.lookup(&[t]).map(|id| table.members(id).collect()).unwrap_or_default();
        assert_eq!(want, have);
    }
});
