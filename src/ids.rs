//! Identities every layer shares: connections, sessions, shards, services, topic
//! spaces, and room members.
//!
//! Owns: the id newtypes and how a connection id becomes a backend token. A leaf: it
//! depends on nothing but [`crate::idtable::Id`], so the session, protocol, pub/sub and
//! shard modules can all name each other's entities without importing each other.

use crate::idtable::Id;

/// A connection on its shard: slab slot + the slot's generation when it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub(crate) Id);

/// Generations of connection slots wrap at 24 bits: the backend token keeps its top byte.
pub(crate) const CONN_GENERATION_MASK: u32 = 0x00FF_FFFF;

impl ConnId {
    /// The backend token: generation in bits 32..56, slot in bits 0..32.
    pub(crate) fn token(self) -> u64 {
        ((self.0.generation & CONN_GENERATION_MASK) as u64) << 32 | self.0.slot as u64
    }

    pub(crate) fn from_token(token: u64) -> ConnId {
        ConnId(Id { slot: token as u32, generation: (token >> 32) as u32 & CONN_GENERATION_MASK })
    }
}

/// A SockJS HTTP-transport session on its owner shard: slot + generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub(crate) Id);

/// A shard: its index among the server's event-loop threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub(crate) u16);

impl ShardId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// A service: its index in the server's service table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceId(pub(crate) u16);

impl ServiceId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// A topic space: topics are keyed by (space, name). Each service has its own space
/// unless the configuration joins several into a shared one; each channel of a
/// channels service has its own as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpaceId(pub u16);

impl SpaceId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// A room member: a WebSocket connection, or a SockJS HTTP-transport session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Member {
    Conn(ConnId),
    Session(SessionId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_and_stays_below_limit() {
        let id = ConnId(Id { slot: 123_456, generation: CONN_GENERATION_MASK });
        assert_eq!(ConnId::from_token(id.token()), id);
        assert!(id.token() < crate::io::TOKEN_LIMIT);
    }
}
