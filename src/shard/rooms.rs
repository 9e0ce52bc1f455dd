//! A shard's rooms and delivery: who is in which topic here, and getting each publish
//! into every local member's queue in the member's own encoding.
//!
//! Owns: the topic table (members with their [`Encoding`]), the shard's end of the bus
//! (publishes to and from other shards), and [`Rooms::deliver`] — the fan-out hot path.
//! Does not own: membership bookkeeping per member (the member keeps its `SubKey`s),
//! what a slow consumer gets (the shard closes it), or flushing.

use super::conns::Conns;
use super::sessions::Sessions;
use crate::ids::{Member, SessionId, SpaceId};
use crate::metrics::{Counter, Counters};
use crate::pubsub::bus::BusEnd;
use crate::pubsub::prepared::{Carrier, Encoding, Prepared};
use crate::pubsub::topics::{SubKey, TopicTable};
use crate::session::Enqueued;
use bytes::Bytes;
use std::sync::Arc;

/// One membership: who, and in which wire format it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sub {
    pub(crate) member: Member,
    pub(crate) enc: Encoding,
}

/// The shard's topic table, bus end and delivery.
pub(crate) struct Rooms {
    pub(crate) topics: TopicTable<Sub>,
    pub(crate) bus: BusEnd,
    /// Sessions over their budget while delivering: the shard closes them.
    pub(crate) slow_sessions: Vec<SessionId>,
    pub(crate) counters: Counters,
}

/// Per-connection queue cap and per-session budget, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub(crate) conn_queue_bytes: usize,
    pub(crate) session_bytes: usize,
}

impl Rooms {
    pub(crate) fn new(bus: BusEnd) -> Rooms {
        Rooms { topics: TopicTable::new(), bus, slow_sessions: Vec::new(), counters: Counters::default() }
    }

    /// Add a membership; `subs` (the member's list) gets its key unless the member is
    /// already in the topic or holds `max_topics` topics.
    pub(crate) fn subscribe(&mut self, subs: &mut Vec<SubKey>, space: SpaceId, topic: &Bytes, sub: Sub, max_topics: usize) {
        if let Some(tid) = self.topics.lookup(space, topic) {
            if subs.iter().any(|k| k.topic == tid) {
                return;
            }
        }
        if subs.len() >= max_topics {
            tracing::debug!(member = ?sub.member, max_topics, "subscribe ignored: limits.max_topics_per_conn");
            return;
        }
        subs.push(self.topics.subscribe(space, topic, sub));
    }

    /// Remove the member (whose list is `subs`) from one topic.
    pub(crate) fn unsubscribe(&mut self, subs: &mut Vec<SubKey>, space: SpaceId, topic: &[u8]) {
        let Some(tid) = self.topics.lookup(space, topic) else { return };
        if let Some(at) = subs.iter().position(|k| k.topic == tid) {
            self.topics.unsubscribe(subs.swap_remove(at));
        }
    }

    /// Remove the member from every topic of `space`.
    pub(crate) fn leave_space(&mut self, subs: &mut Vec<SubKey>, space: SpaceId) {
        let topics = &mut self.topics;
        subs.retain(|&key| {
            let here = topics.name(key.topic).is_some_and(|(s, _)| s == space);
            if here {
                topics.unsubscribe(key);
            }
            !here
        });
    }

    /// Remove the member from every topic.
    pub(crate) fn leave_all(&mut self, subs: &mut Vec<SubKey>) {
        for key in subs.drain(..) {
            self.topics.unsubscribe(key);
        }
    }

    /// Publish from this shard: deliver here, then to every other shard at the end of
    /// the tick.
    pub(crate) fn publish(&mut self, p: Arc<Prepared>, conns: &mut Conns, sessions: &mut Sessions, caps: Caps) {
        self.counters.inc(Counter::Publishes);
        self.deliver(&p, conns, sessions, caps);
        self.bus.publish(p);
    }

    /// Queue a published message to every member on this shard, in the encoding each
    /// membership names (each built once per message, shared by all).
    /// Hot path: O(members); one small copy or `Bytes` refcount per member, no syscall.
    /// Members of a topic mostly share one encoding: it is looked up again only when it
    /// changes from one member to the next.
    pub(crate) fn deliver(&mut self, p: &Prepared, conns: &mut Conns, sessions: &mut Sessions, caps: Caps) {
        let Some(tid) = self.topics.lookup(p.space(), p.topic()) else { return };
        let skip = p.skip().filter(|o| o.shard == self.bus.shard()).map(|o| o.member);
        let (mut delivered, mut built) = (0u64, 0u64);
        let mut current: Option<(Encoding, &bytes::Bytes)> = None;
        for sub in self.topics.members(tid) {
            if skip == Some(sub.member) {
                continue;
            }
            let bytes = match current {
                Some((enc, bytes)) if enc == sub.enc => bytes,
                _ => {
                    let (bytes, fresh) = p.encoding(sub.enc);
                    built += fresh as u64;
                    current = Some((sub.enc, bytes));
                    bytes
                }
            };
            let queued = match (sub.member, sub.enc.carrier()) {
                (Member::Conn(id), Carrier::Ws | Carrier::SockjsWs | Carrier::SockjsHixie) => {
                    conns.push_member_frame(id, bytes, caps.conn_queue_bytes)
                }
                (Member::Session(sid), Carrier::SockjsSession) => {
                    match sessions.enqueue(sid, bytes, caps.session_bytes) {
                        Enqueued::Queued { .. } => true,
                        Enqueued::Dropped => false,
                        Enqueued::OverBudget => {
                            self.slow_sessions.push(sid);
                            false
                        }
                    }
                }
                _ => false,
            };
            delivered += queued as u64;
        }
        self.counters.add(Counter::FramesEncoded, built);
        self.counters.add(Counter::Deliveries, delivered);
    }
}
