//! Application protocols spoken over a connection, as pure state machines.
//!
//! Owns: per-connection protocol state and the rules of each protocol. A protocol
//! takes one application message and returns [`Action`]s; it never touches sockets,
//! the topic table or other shards, so each is testable without a server. Does not
//! own: framing (`transport`) or delivery (`shard`, `pubsub`, `send`).

pub mod echo;
pub mod multiplex;

use bytes::Bytes;

/// What a protocol asks the shard to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add this connection to a topic's members.
    Subscribe { topic: Bytes },
    /// Remove this connection from a topic's members.
    Unsubscribe { topic: Bytes },
    /// Deliver `wire` (the exact application message, e.g. `msg,T,P`) to every member
    /// of `topic` in the cluster, the sender included.
    Publish { topic: Bytes, wire: Bytes },
    /// Send a message to this connection only.
    Reply { text: bool, payload: Bytes },
    /// Close this connection with an application close code.
    Close { code: u16, reason: &'static str },
}

/// The closed set of protocols and their per-connection state.
#[derive(Debug, Clone)]
pub enum ProtocolState {
    Rooms(multiplex::RoomsState),
    Channels(multiplex::ChannelsState),
    Echo,
    Close,
}
