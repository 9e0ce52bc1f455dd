//! Requests to other shards and the connections parked until they are answered.
//!
//! Owns: [`Parked`] (request id → the waiting connection, its deadline and what to
//! answer), sending a request over the bus, answering requests other shards send
//! here, and turning a reply (or its absence by the deadline) into the waiting
//! connection's HTTP response. Today: SockJS sends relayed to the session's owner shard
//! (the same request/reply carries token auth, RPC and cross-node relays later).
//! Does not own: the bus itself (`pubsub::bus`).

use super::conns::Hold;
use super::http::Next;
use super::State;
use crate::http::response;
use crate::ids::{ConnId, ShardId};
use crate::metrics::Counter;
use crate::pubsub::bus::{BusMsg, Reply, Request};
use bytes::Bytes;
use std::collections::HashMap;

/// How long a parked request waits for its answer before the client gets a 503.
pub(crate) const REQUEST_TIMEOUT_MS: u64 = 5_000;

/// What the waiting connection gets for each answer.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A SockJS send: the success response, or 404 for an unknown session.
    SockjsSend { ok: Bytes, not_found: Bytes, close: bool },
}

#[derive(Debug)]
struct Waiter {
    conn: ConnId,
    deadline_ms: u64,
    answer: Answer,
}

/// Connections waiting for another shard.
#[derive(Debug, Default)]
pub(crate) struct Parked {
    next_id: u64,
    waiting: HashMap<u64, Waiter>,
}

impl Parked {
    fn park(&mut self, conn: ConnId, deadline_ms: u64, answer: Answer) -> u64 {
        self.next_id += 1;
        self.waiting.insert(self.next_id, Waiter { conn, deadline_ms, answer });
        self.next_id
    }

    /// The connection went away: its answer, when it comes, is dropped.
    pub(crate) fn forget(&mut self, id: u64) {
        self.waiting.remove(&id);
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

impl State {
    /// Ask shard `owner` to handle `body` for connection `id`, which waits (parked) for
    /// the answer: `ok` or `not_found`, or 503 if no answer comes in time.
    pub(super) fn relay(&mut self, id: ConnId, owner: ShardId, body: Request, ok: Bytes, not_found: Bytes, close: bool) -> Next {
        let deadline_ms = self.clock.now_ms + REQUEST_TIMEOUT_MS;
        let request = self.parked.park(id, deadline_ms, Answer::SockjsSend { ok, not_found, close });
        if self.rooms.bus.send(owner, BusMsg::Request { from: self.id, id: request, body }).is_err() {
            self.parked.forget(request);
            self.counters.inc(Counter::BusDroppedBatches);
            tracing::warn!(?owner, "cannot relay a request to its session's shard: queue full");
            return self.reply(id, unavailable(close), close);
        }
        self.counters.inc(Counter::BusRequests);
        if let Some(conn) = self.conns.get_mut(id) {
            conn.hold = Hold::Parked(request);
        }
        Next::Held
    }

    /// A request from shard `from`: handle it here and send the reply.
    pub(super) fn on_request(&mut self, from: ShardId, id: u64, body: Request) {
        let reply = match body {
            Request::SockjsSend { service, key, messages } => {
                if self.deliver_sends(service, &key, &messages) {
                    Reply::SockjsDelivered
                } else {
                    Reply::SockjsUnknownSession
                }
            }
        };
        if self.rooms.bus.send(from, BusMsg::Reply { id, body: reply }).is_err() {
            self.counters.inc(Counter::BusDroppedBatches); // the asker answers 503 at its deadline
        }
    }

    /// The answer to one of this shard's requests.
    pub(super) fn on_reply(&mut self, id: u64, reply: Reply) {
        let Some(waiter) = self.parked.waiting.remove(&id) else { return };
        let Answer::SockjsSend { ok, not_found, close } = waiter.answer;
        let resp = match reply {
            Reply::SockjsDelivered => ok,
            Reply::SockjsUnknownSession => not_found,
        };
        self.answer_parked(waiter.conn, id, resp, close);
    }

    /// Parked requests past their deadline get 503 (the owner shard is overloaded).
    pub(super) fn expire_parked(&mut self) {
        let now = self.clock.now_ms;
        let late: Vec<u64> = self.parked.waiting.iter().filter(|(_, w)| now >= w.deadline_ms).map(|(&id, _)| id).collect();
        for id in late {
            let Some(waiter) = self.parked.waiting.remove(&id) else { continue };
            self.counters.inc(Counter::BusRequestTimeouts);
            self.answer_parked(waiter.conn, id, unavailable(true), true);
        }
    }

    fn answer_parked(&mut self, conn: ConnId, request: u64, resp: Bytes, close: bool) {
        let Some(c) = self.conns.get_mut(conn).filter(|c| c.hold == Hold::Parked(request)) else { return };
        c.close_after_response = close;
        if resp.starts_with(b"HTTP/1.1 4") || resp.starts_with(b"HTTP/1.1 5") {
            self.counters.inc(Counter::HttpErrors);
        }
        self.respond(conn, resp);
        self.end_response(conn);
    }
}

fn unavailable(close: bool) -> Bytes {
    response::text(503, "the shard owning this session did not answer in time\n", close)
}
