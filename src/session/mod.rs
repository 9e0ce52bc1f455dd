//! SockJS sessions of the HTTP transports: state machine and registry.
//!
//! Owns: [`Session`] (open/closing state, messages queued for the next receiver, the
//! attached receiver, the one timer of spec sockjs §6.2, the protocol state and room
//! memberships) and [`SessionTable`] (id → session on the owner shard, slab with
//! generations). A session lives on exactly one shard, chosen by [`owner_shard`];
//! requests for it that land elsewhere are moved there. Does not own: HTTP parsing,
//! framing bytes (`transport::sockjs`) or delivery.
//!
//! WebSocket sessions are not in this table (spec §8.1): each SockJS WebSocket is its
//! own session, kept with its connection.

use crate::idtable::{Id, IdTable};
use crate::protocol::ProtocolState;
use crate::pubsub::topics::SubKey;
use crate::transport::sockjs::framing::Wrap;
use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A session's identity on its owner shard: slot + generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(Id);

/// Where a session is in its life (spec §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// `o` not yet written to a receiver.
    New,
    Open,
    /// Closed by the application or server; every later receiver gets this `c[...]` frame.
    Closing {
        close_frame: Bytes,
    },
}

/// The HTTP response currently attached to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    /// The connection (on this shard) carrying the response.
    pub conn: crate::shard::conn::ConnId,
    pub wrap: Wrap,
    /// Polling receivers end after one frame; streaming ones after `response_limit_bytes`.
    pub streaming: bool,
    /// Frame bytes written so far on this response (prelude excluded).
    pub sent_bytes: usize,
    /// HTTP/1.1 chunked body; false for HTTP/1.0, whose body ends by closing (spec §9).
    pub chunked: bool,
}

/// One SockJS session.
#[derive(Debug)]
pub struct Session {
    /// The client-chosen id (`<session>` in the URL).
    pub key: Bytes,
    /// Index of the service in the config.
    pub service: usize,
    pub state: SessionState,
    /// JSON-quoted messages waiting for a receiver, in order.
    pub outbox: Vec<Bytes>,
    pub outbox_bytes: usize,
    pub receiver: Option<Receiver>,
    pub proto: ProtocolState,
    pub subs: Vec<SubKey>,
    /// No receiver: when the session is destroyed. Receiver: when `h` is due.
    pub timer_ms: u64,
    /// On this tick's list of sessions with output for their receiver.
    pub dirty: bool,
}

/// The sessions owned by one shard.
#[derive(Debug)]
pub struct SessionTable {
    by_key: HashMap<Bytes, SessionId>,
    table: IdTable<Session>,
}

impl Default for SessionTable {
    fn default() -> Self {
        SessionTable { by_key: HashMap::new(), table: IdTable::new(u32::MAX) }
    }
}

impl SessionTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn lookup(&self, key: &[u8]) -> Option<SessionId> {
        self.by_key.get(key).copied()
    }

    /// Create a session in state `New`.
    pub fn create(&mut self, key: &[u8], service: usize, proto: ProtocolState, timer_ms: u64) -> SessionId {
        let key = Bytes::copy_from_slice(key);
        let id = SessionId(self.table.insert_with(|_| Session {
            key: key.clone(),
            service,
            state: SessionState::New,
            outbox: Vec::new(),
            outbox_bytes: 0,
            receiver: None,
            proto,
            subs: Vec::new(),
            timer_ms,
            dirty: false,
        }));
        self.by_key.insert(key, id);
        id
    }

    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.table.get_mut(id.0)
    }

    /// Forget a session; its id stops resolving and its key may be reused.
    pub fn remove(&mut self, id: SessionId) -> Option<Session> {
        let s = self.table.remove(id.0)?;
        self.by_key.remove(&s.key[..]);
        Some(s)
    }

    /// Ids of every session (timer sweeps).
    pub fn ids(&self, into: &mut Vec<SessionId>) {
        self.table.ids(into, SessionId);
    }
}

/// The shard that owns session `key` among `shards`: a fixed hash, so every shard
/// computes the same owner without asking anyone.
pub fn owner_shard(key: &[u8], shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    // DefaultHasher with default keys is deterministic: every shard agrees.
    let mut h =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher();
    h.write(key);
    (h.finish() % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_lookup_remove_and_reuse() {
        let mut t = SessionTable::new();
        let a = t.create(b"abc", 0, ProtocolState::Echo, 5);
        assert_eq!(t.lookup(b"abc"), Some(a));
        assert_eq!(t.get_mut(a).unwrap().state, SessionState::New);
        assert!(t.remove(a).is_some());
        assert!(t.lookup(b"abc").is_none() && t.get_mut(a).is_none());
        let b = t.create(b"abc", 0, ProtocolState::Echo, 5);
        assert_ne!(a, b, "a reused key is a fresh session");
    }

    #[test]
    fn owner_is_stable_and_in_range() {
        for key in [&b"a"[..], b"session-1", b"zzzz"] {
            let o = owner_shard(key, 4);
            assert!(o < 4);
            assert_eq!(o, owner_shard(key, 4));
        }
        assert_eq!(owner_shard(b"x", 1), 0);
    }
}
