//! The registry of one shard's sessions, and which shard owns a session.
//!
//! Owns: (service, client-chosen session key) → [`SessionId`] on the owner shard — two
//! services' sessions never meet, whatever their keys — the sessions
//! themselves (a slab with generations, so a stale id never reaches a new session), and
//! [`owner_shard`]. Does not own what a session does (`session::Session`).

use super::Session;
use crate::idtable::IdTable;
use crate::ids::{ServiceId, SessionId, ShardId};
use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// The sessions owned by one shard.
#[derive(Debug)]
pub(crate) struct SessionTable {
    /// Per service (indexed by `ServiceId`), key → session.
    by_key: Vec<HashMap<Bytes, SessionId>>,
    table: IdTable<Session>,
}

impl Default for SessionTable {
    fn default() -> Self {
        SessionTable { by_key: Vec::new(), table: IdTable::new(u32::MAX) }
    }
}

impl SessionTable {
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn lookup(&self, service: ServiceId, key: &[u8]) -> Option<SessionId> {
        self.by_key.get(service.index())?.get(key).copied()
    }

    /// Insert a session of `service` built by `make` (which gets the key back).
    pub(crate) fn insert(&mut self, service: ServiceId, key: &[u8], make: impl FnOnce(Bytes) -> Session) -> SessionId {
        let key = Bytes::copy_from_slice(key);
        let id = SessionId(self.table.insert_with(|_| make(key.clone())));
        if self.by_key.len() <= service.index() {
            self.by_key.resize_with(service.index() + 1, HashMap::new);
        }
        self.by_key[service.index()].insert(key, id);
        id
    }

    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.table.get_mut(id.0)
    }

    /// Forget a session; its id stops resolving and its key may be reused.
    pub(crate) fn remove(&mut self, id: SessionId) -> Option<Session> {
        let s = self.table.remove(id.0)?;
        if let Some(keys) = self.by_key.get_mut(s.service.index()) {
            keys.remove(&s.key[..]);
        }
        Some(s)
    }

    /// Ids of every session (timer sweeps, shutdown).
    pub(crate) fn ids(&self, into: &mut Vec<SessionId>) {
        self.table.ids(into, SessionId);
    }
}

/// The shard that owns session `key` among `shards`: a fixed hash, so every shard
/// computes the same owner without asking anyone.
pub fn owner_shard(key: &[u8], shards: usize) -> ShardId {
    if shards <= 1 {
        return ShardId(0);
    }
    // DefaultHasher with default keys is deterministic: every shard agrees.
    let mut h =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher();
    h.write(key);
    ShardId((h.finish() % shards as u64) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ServiceId;
    use crate::protocol::ProtocolState;

    const S: ServiceId = ServiceId(1);

    fn session(key: Bytes) -> Session {
        Session::new(key, S, ProtocolState::Rooms(Default::default()), 5)
    }

    #[test]
    fn insert_lookup_remove_and_reuse() {
        let mut t = SessionTable::default();
        let a = t.insert(S, b"abc", session);
        assert_eq!(t.lookup(S, b"abc"), Some(a));
        assert_eq!(t.lookup(ServiceId(0), b"abc"), None, "services' keys are apart");
        assert!(t.get_mut(a).is_some());
        assert!(t.remove(a).is_some());
        assert!(t.lookup(S, b"abc").is_none() && t.get_mut(a).is_none());
        let b = t.insert(S, b"abc", session);
        assert_ne!(a, b, "a reused key is a fresh session");
    }

    #[test]
    fn owner_is_stable_and_in_range() {
        for key in [&b"a"[..], b"session-1", b"zzzz"] {
            let o = owner_shard(key, 4);
            assert!(o.index() < 4);
            assert_eq!(o, owner_shard(key, 4));
        }
        assert_eq!(owner_shard(b"x", 1), ShardId(0));
    }
}
