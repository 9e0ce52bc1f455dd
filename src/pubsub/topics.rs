//! A shard's room membership table.
//!
//! Owns: (topic space, topic name) → members, with O(1) subscribe and unsubscribe (by
//! [`SubKey`]) and a dense walk over members for publish. Topics of different spaces
//! never meet, whatever their names. Generic over the member entry so it is testable
//! alone. Empty topics are removed. Does not own: per-connection topic lists (the
//! caller keeps the `SubKey`s it was given) or delivery.

use crate::ids::SpaceId;
use bytes::Bytes;
use slab::Slab;
use std::collections::HashMap;

/// A topic's index in its shard's table (valid while the topic has members).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicId(u32);

/// Proof of one membership; give it back to unsubscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubKey {
    pub topic: TopicId,
    slot: u32,
}

#[derive(Debug)]
struct Topic<M> {
    space: SpaceId,
    name: Bytes,
    members: Slab<M>,
}

/// Room membership of one shard.
#[derive(Debug)]
pub struct TopicTable<M> {
    /// Per space (indexed by `SpaceId`), topic name → id.
    by_name: Vec<HashMap<Bytes, TopicId>>,
    topics: Slab<Topic<M>>,
    /// Memberships across all topics.
    memberships: usize,
    /// What `members` walks for a topic that is gone (no `flat_map` on the hot path).
    no_members: Slab<M>,
}

impl<M: Copy> Default for TopicTable<M> {
    fn default() -> Self {
        TopicTable { by_name: Vec::new(), topics: Slab::new(), memberships: 0, no_members: Slab::new() }
    }
}

impl<M: Copy> TopicTable<M> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `member` to topic `name` of `space` (creating the topic). The caller
    /// prevents duplicates.
    pub fn subscribe(&mut self, space: SpaceId, name: &Bytes, member: M) -> SubKey {
        if self.by_name.len() <= space.index() {
            self.by_name.resize_with(space.index() + 1, HashMap::new);
        }
        let id = match self.by_name[space.index()].get(&name[..]) {
            Some(&id) => id,
            None => {
                let topic = Topic { space, name: name.clone(), members: Slab::new() };
                let id = TopicId(self.topics.insert(topic) as u32);
                self.by_name[space.index()].insert(name.clone(), id);
                id
            }
        };
        let slot = self.topics[id.0 as usize].members.insert(member) as u32;
        self.memberships += 1;
        SubKey { topic: id, slot }
    }

    /// Remove a membership; removes the topic when it empties. O(1).
    pub fn unsubscribe(&mut self, key: SubKey) {
        let Some(topic) = self.topics.get_mut(key.topic.0 as usize) else { return };
        if topic.members.try_remove(key.slot as usize).is_some() {
            self.memberships -= 1;
        }
        if topic.members.is_empty() {
            let topic = self.topics.remove(key.topic.0 as usize);
            self.by_name[topic.space.index()].remove(&topic.name[..]);
        }
    }

    /// The topic `name` of `space`, if it has members on this shard.
    pub fn lookup(&self, space: SpaceId, name: &[u8]) -> Option<TopicId> {
        self.by_name.get(space.index())?.get(name).copied()
    }

    /// The topic's space and name (for finding a `SubKey` by name).
    pub fn name(&self, id: TopicId) -> Option<(SpaceId, &Bytes)> {
        self.topics.get(id.0 as usize).map(|t| (t.space, &t.name))
    }

    /// Members of a topic, in no particular order. Hot path: a walk over a dense slab.
    pub fn members(&self, id: TopicId) -> impl Iterator<Item = M> + '_ {
        let members = self.topics.get(id.0 as usize).map_or(&self.no_members, |t| &t.members);
        members.iter().map(|(_, m)| *m)
    }

    pub fn member_count(&self, id: TopicId) -> usize {
        self.topics.get(id.0 as usize).map_or(0, |t| t.members.len())
    }

    /// Topics with at least one member.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Memberships across all topics.
    pub fn memberships(&self) -> usize {
        self.memberships
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap as Model};

    #[test]
    fn subscribe_publish_unsubscribe() {
        let mut t = TopicTable::new();
        let red = Bytes::from_static(b"red");
        let a = t.subscribe(S0, &red, 1u32);
        let b = t.subscribe(S0, &red, 2u32);
        let id = t.lookup(S0, b"red").unwrap();
        assert_eq!(t.members(id).collect::<BTreeSet<_>>(), [1, 2].into());
        t.unsubscribe(a);
        assert_eq!(t.members(id).collect::<Vec<_>>(), vec![2]);
        t.unsubscribe(b);
        assert!(t.lookup(S0, b"red").is_none() && t.is_empty());
    }

    const S0: SpaceId = SpaceId(0);

    #[test]
    fn spaces_keep_same_named_topics_apart() {
        let mut t = TopicTable::new();
        let red = Bytes::from_static(b"red");
        let a = t.subscribe(SpaceId(0), &red, 1u32);
        t.subscribe(SpaceId(3), &red, 2u32);
        let in0 = t.lookup(SpaceId(0), b"red").unwrap();
        let in3 = t.lookup(SpaceId(3), b"red").unwrap();
        assert_ne!(in0, in3);
        assert_eq!(t.members(in0).collect::<Vec<_>>(), vec![1]);
        assert_eq!(t.members(in3).collect::<Vec<_>>(), vec![2]);
        assert!(t.lookup(SpaceId(1), b"red").is_none() && t.lookup(SpaceId(9), b"red").is_none());
        t.unsubscribe(a);
        assert!(t.lookup(SpaceId(0), b"red").is_none());
        assert_eq!(t.name(in3), Some((SpaceId(3), &red)));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Sub(u8, u8, u8),
        Uns(u8, u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..2, 0u8..4, 0u8..8).prop_map(|(s, t, m)| Op::Sub(s, t, m)),
            (0u8..2, 0u8..4, 0u8..8).prop_map(|(s, t, m)| Op::Uns(s, t, m))
        ]
    }

    proptest! {
        /// The table agrees with a plain map-of-sets model under any operation sequence.
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut table = TopicTable::new();
            let mut keys: Model<(u8, u8, u8), SubKey> = Model::new();
            let mut model: Model<(u8, u8), BTreeSet<u8>> = Model::new();
            for op in ops {
                match op {
                    Op::Sub(s, t, m) if !keys.contains_key(&(s, t, m)) => {
                        let key = table.subscribe(SpaceId(s.into()), &Bytes::from(vec![t]), m);
                        keys.insert((s, t, m), key);
                        model.entry((s, t)).or_default().insert(m);
                    }
                    Op::Uns(s, t, m) => {
                        if let Some(k) = keys.remove(&(s, t, m)) {
                            table.unsubscribe(k);
                            model.get_mut(&(s, t)).unwrap().remove(&m);
                        }
                    }
                    _ => {}
                }
            }
            model.retain(|_, s| !s.is_empty());
            prop_assert_eq!(table.len(), model.len());
            prop_assert_eq!(table.memberships(), model.values().map(|s| s.len()).sum::<usize>());
            for ((s, t), members) in &model {
                let id = table.lookup(SpaceId((*s).into()), &[*t]).unwrap();
                prop_assert_eq!(&table.members(id).collect::<BTreeSet<_>>(), members);
            }
        }
    }
}
