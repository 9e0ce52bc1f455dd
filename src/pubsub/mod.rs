//! Publish/subscribe: who is in which room, one encoding per message, and the queues
//! between shards.
//!
//! Owns: [`topics::TopicTable`] (a shard's room membership), [`prepared::Prepared`]
//! (an immutable published message with its lazily built wire encodings) and
//! [`bus`] (bounded cross-shard queues). Does not own: sockets or send queues.

pub mod bus;
pub mod prepared;
pub mod topics;
