//! A slab whose ids carry their slot's generation.
//!
//! Owns: storage of entries and the validity of their ids. Removing an entry bumps its
//! slot's generation, so an id kept after removal (a late completion, a timer, a queued
//! message) never reaches the slot's next occupant. Used by the shard's connection table
//! and the session table. Does not own what the entries are.

use slab::Slab;

/// An entry's identity: slot + the slot's generation when it was inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id {
    pub slot: u32,
    pub generation: u32,
}

/// Entries addressed by generation-checked [`Id`]s.
#[derive(Debug)]
pub struct IdTable<T> {
    slab: Slab<T>,
    generations: Vec<u32>,
    /// Generations wrap within this mask (e.g. 24 bits so an id fits a backend token).
    generation_mask: u32,
}

impl<T> IdTable<T> {
    pub fn new(generation_mask: u32) -> Self {
        IdTable { slab: Slab::new(), generations: Vec::new(), generation_mask }
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Insert the entry `make(id)` builds (it may keep its own id).
    pub fn insert_with(&mut self, make: impl FnOnce(Id) -> T) -> Id {
        let entry = self.slab.vacant_entry();
        let slot = entry.key();
        if self.generations.len() <= slot {
            self.generations.resize(slot + 1, 0);
        }
        let id = Id { slot: slot as u32, generation: self.generations[slot] };
        entry.insert(make(id));
        id
    }

    fn live(&self, id: Id) -> bool {
        self.generations.get(id.slot as usize) == Some(&id.generation) && self.slab.contains(id.slot as usize)
    }

    pub fn get(&self, id: Id) -> Option<&T> {
        if self.live(id) {
            self.slab.get(id.slot as usize)
        } else {
            None
        }
    }

    #[inline]
    pub fn get_mut(&mut self, id: Id) -> Option<&mut T> {
        if self.live(id) {
            self.slab.get_mut(id.slot as usize)
        } else {
            None
        }
    }

    /// Remove an entry, invalidating its id.
    pub fn remove(&mut self, id: Id) -> Option<T> {
        if !self.live(id) {
            return None;
        }
        let slot = id.slot as usize;
        self.generations[slot] = self.generations[slot].wrapping_add(1) & self.generation_mask;
        Some(self.slab.remove(slot))
    }

    /// Ids of every entry, each wrapped by `wrap` (timer sweeps, shutdown). Reuses `into`.
    pub fn ids<K>(&self, into: &mut Vec<K>, wrap: impl Fn(Id) -> K) {
        into.clear();
        into.extend(
            self.slab
                .iter()
                .map(|(slot, _)| wrap(Id { slot: slot as u32, generation: self.generations[slot] })),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_do_not_reach_new_occupants() {
        let mut t = IdTable::new(0xFF);
        let a = t.insert_with(|_| "a");
        assert_eq!(t.remove(a), Some("a"));
        assert_eq!(t.remove(a), None);
        let b = t.insert_with(|_| "b");
        assert_eq!(a.slot, b.slot);
        assert!(t.get(a).is_none() && t.get_mut(a).is_none());
        assert_eq!(t.get(b), Some(&"b"));
        let mut ids = Vec::new();
        t.ids(&mut ids, |id| id);
        assert_eq!(ids, vec![b]);
    }

    #[test]
    fn generations_wrap_within_the_mask() {
        let mut t = IdTable::new(0x3);
        let mut last = t.insert_with(|_| ());
        for _ in 0..10 {
            t.remove(last);
            last = t.insert_with(|_| ());
            assert!(last.generation <= 0x3);
        }
    }
}
