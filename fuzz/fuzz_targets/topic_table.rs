//! Fuzz topic-table operation sequences against a simple model: topics in two spaces
//! with the same names stay apart.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringcast::ids::SpaceId;
use ringcast::pubsub::topics::{SubKey, TopicTable};
use std::collections::{BTreeSet, HashMap};

fuzz_target!(|data: &[u8]| {
    let mut table = TopicTable::new();
    let mut keys: HashMap<(u8, u8), SubKey> = HashMap::new();
    for op in data.chunks(2) {
        let [a, m] = op else { break };
        // Bits 0-2: topic name; bit 3: space; bit 7: unsubscribe.
        let (topic, sub) = (a & 0x0f, a & 0x80 == 0);
        let (space, name) = (SpaceId(u16::from(topic >> 3)), Bytes::from(vec![topic & 0x07]));
        match (sub, keys.remove(&(topic, *m))) {
            (true, None) => {
                keys.insert((topic, *m), table.subscribe(space, &name, *m));
            }
            (true, Some(k)) => {
                keys.insert((topic, *m), k);
            }
            (false, Some(k)) => table.unsubscribe(k),
            (false, None) => {}
        }
    }
    assert_eq!(table.memberships(), keys.len());
    for t in 0..16u8 {
        let want: BTreeSet<u8> = keys.keys().filter(|(tt, _)| *tt == t).map(|(_, m)| *m).collect();
        let space = SpaceId(u16::from(t >> 3));
        let have: BTreeSet<u8> =
            table.lookup(space, &[t & 0x07]).map(|id| table.members(id).collect()).unwrap_or_default();
        assert_eq!(want, have);
    }
});
