//! A shard's SockJS sessions: the table, this tick's flush list, and carrying out the
//! effects the session state machine returns.
//!
//! Owns: [`Sessions`] (the registry of sessions this shard owns, and the sessions with
//! output this tick), executing `session::Effect`s on connections, messages from a
//! session's client into its protocol, and a session's close, destruction and timers.
//! Does not own: the session rules (`session`), HTTP routing (`shard::sockjs`).

use super::State;
use crate::api::CloseReason;
use crate::ids::{ConnId, Member, SessionId};
use crate::metrics::{Counter, Counters};
use crate::protocol::Inbound;
use crate::session::table::SessionTable;
use crate::session::{Deadline, Effect, Enqueued};
use crate::transport::sockjs::statics;
use bytes::Bytes;

/// The sessions this shard owns.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    pub(crate) table: SessionTable,
    /// Sessions with messages for their receiver this tick.
    dirty: Vec<SessionId>,
    /// Reused scratch for effects.
    pub(crate) effects: Vec<Effect>,
    pub(crate) counters: Counters,
}

impl Sessions {
    /// Queue a quoted message for a session (flushed at the end of the tick).
    #[inline]
    pub(crate) fn enqueue(&mut self, sid: SessionId, quoted: &Bytes, budget_bytes: usize) -> Enqueued {
        let Some(s) = self.table.get_mut(sid) else { return Enqueued::Dropped };
        let result = s.enqueue(quoted, budget_bytes);
        if result == (Enqueued::Queued { first: true }) {
            self.dirty.push(sid);
        }
        result
    }
}

impl State {
    /// Carry out a session's effects on connections and its protocol.
    pub(super) fn run_effects(&mut self, sid: SessionId, effects: &mut Vec<Effect>) {
        for effect in effects.drain(..) {
            match effect {
                Effect::Write { conn, bytes } => self.conns.push_control(conn, &bytes),
                Effect::End { conn, chunked } => {
                    if chunked {
                        self.conns.push_control(conn, statics::LAST_CHUNK);
                    }
                    self.end_response(conn);
                }
                Effect::Opened => {
                    self.call_protocol(Member::Session(sid), false, |proto, sp, cx| proto.on_open(sp, cx))
                }
            }
        }
    }

    /// Run `f` on session `sid` with the service's timing and execute its effects.
    pub(super) fn with_session<R>(
        &mut self,
        sid: SessionId,
        f: impl FnOnce(&mut crate::session::Session, u64, &crate::session::Timing, &mut Vec<Effect>) -> R,
    ) -> Option<R> {
        let mut fx = std::mem::take(&mut self.sessions.effects);
        let now = self.clock.now_ms;
        let s = self.sessions.table.get_mut(sid)?;
        let timing = self.ctx.services.get(s.service).timing;
        let result = f(s, now, &timing, &mut fx);
        self.run_effects(sid, &mut fx);
        self.sessions.effects = fx;
        Some(result)
    }

    /// Flush every session that got messages this tick.
    pub(super) fn flush_sessions(&mut self) {
        let dirty = std::mem::take(&mut self.sessions.dirty);
        for &sid in &dirty {
            self.with_session(sid, |s, now, t, fx| s.flush(now, t, fx));
        }
        if self.sessions.dirty.is_empty() {
            self.sessions.dirty = dirty;
            self.sessions.dirty.clear();
        }
    }

    /// Application messages from a session's client, in order (dropped while closing).
    pub(super) fn session_messages(&mut self, sid: SessionId, messages: &[String]) {
        for m in messages {
            if self.sessions.table.get_mut(sid).is_none_or(|s| s.is_closing()) {
                return;
            }
            self.counters.inc(Counter::MessagesIn);
            let msg = Inbound::Text(m.as_bytes());
            self.call_protocol(Member::Session(sid), false, |proto, sp, cx| proto.on_message(sp, msg, cx));
        }
    }

    /// Application or server close (§6.6): the `c` frame is stored for every later
    /// receiver, and the protocol hears the close.
    pub(super) fn close_session(&mut self, sid: SessionId, code: u16, reason: &str, why: CloseReason) {
        let closed = self.with_session(sid, |s, now, t, fx| s.close(code, reason, now, t, fx));
        if closed == Some(true) {
            self.release(Member::Session(sid), why);
        }
    }

    /// Forget a session at once: its timer expired, or `receiver_gone`, its receiver's
    /// TCP connection, went away (sockjs-node destroys the session then, §6.5).
    pub(super) fn destroy_session(&mut self, sid: SessionId, receiver_gone: Option<ConnId>, why: CloseReason) {
        if let (Some(conn), Some(s)) = (receiver_gone, self.sessions.table.get_mut(sid)) {
            s.detach(conn);
        }
        self.release(Member::Session(sid), why);
        let Some(s) = self.sessions.table.remove(sid) else { return };
        self.release_session(s.service, &s.key);
        self.sessions.counters.inc(Counter::SockjsSessionsClosed);
        if let Some(conn) = s.receiver_conn() {
            // Its response ends with the session (a timer cannot expire while attached).
            self.end_response(conn);
        }
    }

    /// Session deadlines (§6.2): heartbeat on an attached receiver, destruction without.
    pub(super) fn sweep_sessions(&mut self) {
        let mut ids = Vec::new();
        self.sessions.table.ids(&mut ids);
        for sid in ids {
            let due = self.sessions.table.get_mut(sid).is_some_and(|s| self.clock.now_ms >= s.deadline_ms());
            if !due {
                continue;
            }
            if self.with_session(sid, |s, now, t, fx| s.on_deadline(now, t, fx)) == Some(Deadline::Expired) {
                self.destroy_session(sid, None, CloseReason::Timeout);
            }
        }
    }
}
