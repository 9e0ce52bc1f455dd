//! A shard's room membership table.
//!
//! Owns: topic name → members, with O(1) subscribe and unsubscribe (by [`SubKey`]) and
//! a dense walk over members for publish. Generic over the member id so it is testable
//! alone. Empty topics are removed. Does not own: per-connection topic lists (the
//! caller keeps the `SubKey`s it was given) or delivery.

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
    name: Bytes,
    members: Slab<M>,
}

/// Room membership of one shard.
#[derive(Debug)]
pub struct TopicTable<M> {
    by_name: HashMap<Bytes, TopicId>,
    topics: Slab<Topic<M>>,
    /// Memberships across all topics.
    memberships: usize,
}

impl<M: Copy> Default for TopicTable<M> {
    fn default() -> Self {
        TopicTable { by_name: HashMap::new(), topics: Slab::new(), memberships: 0 }
    }
}

impl<M: Copy> TopicTable<M> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `member` to `name` (creating the topic). The caller prevents duplicates.
    pub fn subscribe(&mut self, name: &Bytes, member: M) -> SubKey {
        let id = match self.by_name.get(&name[..]) {
            Some(&id) => id,
            None => {
                let id =
                    TopicId(self.topics.insert(Topic { name: name.clone(), members: Slab::new() }) as u32);
                self.by_name.insert(name.clone(), id);
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
            self.by_name.remove(&topic.name[..]);
        }
    }

    pub fn lookup(&self, name: &[u8]) -> Option<TopicId> {
        self.by_name.get(name).copied()
    }

    /// The topic's name (for finding a `SubKey` by name).
    pub fn name(&self, id: TopicId) -> Option<&Bytes> {
        self.topics.get(id.0 as usize).map(|t| &t.name)
    }

    /// Members of a topic, in no particular order. Hot path: a walk over a dense slab.
    pub fn members(&self, id: TopicId) -> impl Iterator<Item = M> + '_ {
        self.topics.get(id.0 as usize).into_iter().flat_map(|t| t.members.iter().map(|(_, m)| *m))
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
        let a = t.subscribe(&red, 1u32);
        let b = t.subscribe(&red, 2u32);
        let id = t.lookup(b"red").unwrap();
        assert_eq!(t.members(id).collect::<BTreeSet<_>>(), [1, 2].into());
        t.unsubscribe(a);
        assert_eq!(t.members(id).collect::<Vec<_>>(), vec![2]);
        t.unsubscribe(b);
        assert!(t.lookup(b"red").is_none() && t.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Sub(u8, u8),
        Uns(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, 0u8..8).prop_map(|(t, m)| Op::Sub(t, m)),
            (0u8..4, 0u8..8).prop_map(|(t, m)| Op::Uns(t, m))
        ]
    }

    proptest! {
        /// The table agrees with a plain map-of-sets model under any operation sequence.
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut table = TopicTable::new();
            let mut keys: Model<(u8, u8), SubKey> = Model::new();
            let mut model: Model<u8, BTreeSet<u8>> = Model::new();
            for op in ops {
                match op {
                    Op::Sub(t, m) if !keys.contains_key(&(t, m)) => {
                        keys.insert((t, m), table.subscribe(&Bytes::from(vec![t]), m));
                        model.entry(t).or_default().insert(m);
                    }
                    Op::Uns(t, m) => {
                        if let Some(k) = keys.remove(&(t, m)) {
                            table.unsubscribe(k);
                            model.get_mut(&t).unwrap().remove(&m);
                        }
                    }
                    _ => {}
                }
            }
            model.retain(|_, s| !s.is_empty());
            prop_assert_eq!(table.len(), model.len());
            prop_assert_eq!(table.memberships(), model.values().map(|s| s.len()).sum::<usize>());
            for (t, members) in &model {
                let id = table.lookup(&[*t]).unwrap();
                prop_assert_eq!(&table.members(id).collect::<BTreeSet<_>>(), members);
            }
        }
    }
}
