//! Calling a member's protocol and carrying out the [`Action`]s it returns.
//!
//! Owns: the one way the shard calls a protocol for a member outside the inbound hot
//! path (`call_protocol`), applying actions (subscribe, publish, send, close) to the
//! right part of the shard for a WebSocket connection or a SockJS session, operations
//! from connection handles, and closing slow consumers found while delivering. Does
//! not own protocol rules.

use super::conns::Hold;
use super::rooms::{Caps, Sub};
use super::State;
use crate::api::CloseReason;
use crate::error::CloseCause;
use crate::ids::Member;
use crate::metrics::Counter;
use crate::protocol::{Action, Cx, ProtocolState, ServiceProtocol};
use crate::pubsub::bus::{HandleOp, Target};
use crate::pubsub::prepared::{Carrier, Encoding, Framing, Origin, Prepared};
use crate::pubsub::topics::SubKey;
use crate::transport::sockjs::framing;
use crate::transport::ws::codec::{self, OpCode};
use bytes::Bytes;

impl State {
    /// Call `f` on `member`'s protocol state, then apply what it returned. Skips a
    /// member that is gone or released (unless `even_released`: its `on_close`).
    pub(super) fn call_protocol(
        &mut self,
        member: Member,
        even_released: bool,
        f: impl FnOnce(&mut ProtocolState, &ServiceProtocol, &mut Cx<'_>),
    ) {
        let State { ctx, conns, sessions, actions, id, .. } = self;
        let mut out = std::mem::take(actions);
        let (proto, service) = match member {
            Member::Conn(c) => match conns.get_mut(c).and_then(|c| c.ws_mut()) {
                Some(ws) if even_released || !ws.released => (&mut ws.proto, ws.service),
                _ => return,
            },
            Member::Session(s) => match sessions.table.get_mut(s) {
                Some(s) if even_released || !s.released => (&mut s.proto, s.service),
                _ => return,
            },
        };
        let svc = ctx.services.get(service);
        let mut cx = Cx {
            shard: *id,
            member,
            remote: &ctx.remote,
            space: svc.space,
            max_topic_bytes: ctx.config.limits.max_topic_bytes,
            out: &mut out,
        };
        f(proto, &svc.protocol, &mut cx);
        self.apply_actions(member, &mut out);
        if out.capacity() > self.actions.capacity() {
            self.actions = out;
        }
    }

    /// Apply `member`'s actions in order.
    pub(super) fn apply_actions(&mut self, member: Member, actions: &mut Vec<Action>) {
        for action in actions.drain(..) {
            match action {
                Action::Subscribe { space, topic, framing } => self.subscribe(member, space, &topic, framing),
                Action::Unsubscribe { space, topic } => {
                    let State { rooms, conns, sessions, .. } = self;
                    if let Some(subs) = member_subs(conns, sessions, member, false) {
                        rooms.unsubscribe(subs, space, &topic);
                    }
                }
                Action::LeaveSpace { space } => {
                    let State { rooms, conns, sessions, .. } = self;
                    if let Some(subs) = member_subs(conns, sessions, member, false) {
                        rooms.leave_space(subs, space);
                    }
                }
                Action::Publish { space, topic, label, payload, except_self } => {
                    let p = if except_self {
                        Prepared::except(space, topic, label, payload, Origin { shard: self.id, member })
                    } else {
                        Prepared::new(space, topic, label, payload)
                    };
                    self.publish(p);
                }
                Action::Send { payload, binary } => self.send_to_member(member, &payload, binary),
                Action::Close { code, reason } => self.close_member(member, code, &reason),
                Action::HandlerPanicked => self.counters.inc(Counter::HandlerPanics),
            }
        }
    }

    fn subscribe(&mut self, member: Member, space: crate::ids::SpaceId, topic: &Bytes, framing: Framing) {
        let max_topics = self.ctx.config.limits.max_topics_per_conn;
        let State { rooms, conns, sessions, .. } = self;
        let carrier = match member {
            Member::Conn(id) => match conns.get_mut(id).and_then(|c| c.ws_mut()) {
                Some(ws) => ws.carrier,
                None => return,
            },
            Member::Session(_) => Carrier::SockjsSession,
        };
        let Some(subs) = member_subs(conns, sessions, member, false) else { return };
        let sub = Sub { member, enc: Encoding::new(framing, carrier) };
        rooms.subscribe(subs, space, topic, sub, max_topics);
    }

    /// Deliver a publish here and to every other shard; close whoever it overflowed.
    pub(super) fn publish(&mut self, p: std::sync::Arc<Prepared>) {
        let caps = self.caps();
        self.rooms.publish(p, &mut self.conns, &mut self.sessions, caps);
        self.close_slow_consumers();
    }

    pub(super) fn caps(&self) -> Caps {
        let limits = &self.ctx.config.limits;
        Caps { conn_queue_bytes: limits.queue_cap_bytes(), session_bytes: limits.send_budget_bytes }
    }

    /// Close connections and sessions that passed their budget.
    #[cold]
    pub(super) fn close_slow_consumers(&mut self) {
        while !self.conns.slow.is_empty() || !self.rooms.slow_sessions.is_empty() {
            for id in std::mem::take(&mut self.conns.slow) {
                if self.conns.get(id).is_some_and(|c| c.is_open()) {
                    tracing::info!(?id, budget = self.ctx.config.limits.send_budget_bytes, "closing slow consumer");
                    self.counters.inc(Counter::ClosedBackpressure);
                    self.abort_slow_consumer(id);
                }
            }
            for sid in std::mem::take(&mut self.rooms.slow_sessions) {
                self.counters.inc(Counter::ClosedBackpressure);
                tracing::info!(session = ?sid, "closing slow sockjs session");
                self.close_session(sid, 1008, "Send budget exceeded", CloseReason::SlowConsumer);
            }
        }
    }

    /// One message to one member, framed for its transport.
    fn send_to_member(&mut self, member: Member, payload: &[u8], binary: bool) {
        match member {
            Member::Conn(id) => {
                let Some(ws) = self.conns.get_mut(id).and_then(|c| c.ws_mut()) else { return };
                let frame = match (ws.carrier, binary) {
                    (Carrier::Ws, false) => codec::frame(OpCode::Text, payload),
                    (Carrier::Ws, true) => codec::frame(OpCode::Binary, payload),
                    (_, true) => return, // text-only transports refuse binary at the API
                    (carrier, false) => carrier.text_frame(&sockjs_messages_frame(payload)),
                };
                let cap = self.ctx.config.limits.queue_cap_bytes();
                self.conns.push_frame(id, &frame, cap);
                self.close_slow_consumers();
            }
            Member::Session(sid) => {
                if binary {
                    return;
                }
                let quoted = framing::quote(&String::from_utf8_lossy(payload));
                let budget = self.ctx.config.limits.send_budget_bytes;
                if self.sessions.enqueue(sid, &quoted, budget) == crate::session::Enqueued::OverBudget {
                    self.rooms.slow_sessions.push(sid);
                    self.close_slow_consumers();
                }
            }
        }
    }

    /// An application close of a member.
    fn close_member(&mut self, member: Member, code: u16, reason: &str) {
        match member {
            Member::Conn(id) => self.start_close(id, CloseCause::Application(code), reason),
            Member::Session(sid) => self.close_session(sid, code, reason, CloseReason::Application),
        }
    }

    /// An operation from a `ConnHandle`, if its member is still here.
    pub(super) fn on_handle(&mut self, target: Target, op: HandleOp) {
        self.counters.inc(Counter::HandleOps);
        let gone = match target.member {
            Member::Conn(id) => !self.conns.get(id).is_some_and(|c| c.is_open()),
            Member::Session(sid) => self.sessions.table.get_mut(sid).is_none_or(|s| s.is_closing()),
        };
        if gone {
            self.counters.inc(Counter::HandleOpsDropped);
            return;
        }
        self.call_protocol(target.member, false, |proto, sp, cx| proto.on_handle(sp, target.channel, op, cx));
    }

    /// The member's protocol hears the close, then the member leaves every room.
    /// Idempotent.
    pub(super) fn release(&mut self, member: Member, reason: CloseReason) {
        let released = match member {
            Member::Conn(id) => self.conns.get_mut(id).and_then(|c| c.ws_mut()).map(|ws| std::mem::replace(&mut ws.released, true)),
            Member::Session(sid) => self.sessions.table.get_mut(sid).map(|s| std::mem::replace(&mut s.released, true)),
        };
        if released != Some(false) {
            return;
        }
        // Out of its rooms first: the connection is closing, and what its handler
        // publishes on the way out reaches the others only. Then again, in case the
        // handler subscribed to something while closing.
        self.leave_all_rooms(member);
        self.call_protocol(member, true, |proto, sp, cx| proto.on_close(sp, reason, cx));
        self.leave_all_rooms(member);
    }

    fn leave_all_rooms(&mut self, member: Member) {
        let State { rooms, conns, sessions, .. } = self;
        if let Some(subs) = member_subs(conns, sessions, member, true) {
            rooms.leave_all(subs);
        }
    }

    /// The response held by connection `conn` is done: parse what follows, or close.
    pub(super) fn end_response(&mut self, conn: crate::ids::ConnId) {
        let linger = self.ctx.config.limits.close_linger_ms;
        let Some(c) = self.conns.get_mut(conn) else { return };
        c.hold = Hold::None;
        if c.close_after_response {
            self.conns.close_after_response(conn, self.clock.now_ms + linger);
        } else {
            self.conns.mark_dirty(conn);
            self.conns.resume_http.push(conn); // keep-alive: later requests are parsed again
        }
    }
}

/// The membership list of a member; of a released one only if `even_released`.
fn member_subs<'a>(
    conns: &'a mut super::conns::Conns,
    sessions: &'a mut super::sessions::Sessions,
    member: Member,
    even_released: bool,
) -> Option<&'a mut Vec<SubKey>> {
    match member {
        Member::Conn(id) => {
            let ws = conns.get_mut(id).and_then(|c| c.ws_mut())?;
            (even_released || !ws.released).then_some(&mut ws.subs)
        }
        Member::Session(sid) => {
            let s = sessions.table.get_mut(sid)?;
            (even_released || !s.released).then_some(&mut s.subs)
        }
    }
}

/// A SockJS `a[...]` frame carrying one message.
pub(super) fn sockjs_messages_frame(payload: &[u8]) -> Bytes {
    let quoted = framing::quote(&String::from_utf8_lossy(payload));
    framing::messages_frame(std::slice::from_ref(&quoted))
}
