//! Sessions of the HTTP transports (SockJS today, Engine.IO polling next), as sans-IO
//! state machines.
//!
//! Owns: [`Session`] — its life (new, open, closing with the stored close frame, spec
//! sockjs §6.2), the messages queued for the next receiver and their byte budget, the
//! attached receiver (a long-lived HTTP response) with its wrapping and response limit,
//! and its one deadline (heartbeat while a receiver is attached, destruction without
//! one). Every method returns [`Effect`]s — write bytes to a receiver, end it, tell the
//! protocol the session opened — and the shard executes them; nothing here touches a
//! socket, a clock or another shard. Also the registry ([`table`]).
//!
//! A session also carries what the shard keeps per member (protocol state, room
//! memberships), like a WebSocket connection does. WebSocket sessions are not in the
//! table (spec §8.1): each SockJS WebSocket is its own session, kept with its connection.

pub mod table;

use crate::ids::{ConnId, ServiceId};
use crate::protocol::ProtocolState;
use crate::pubsub::topics::SubKey;
use crate::transport::sockjs::framing::{self, Wrap};
use crate::transport::sockjs::statics;
use bytes::{Bytes, BytesMut};

/// sockjs §6.4: the close frame a second concurrent receiver gets.
pub(crate) const ANOTHER_CONNECTION: (u16, &str) = (2010, "Another connection still open");

/// A service's session timers and limits (spec sockjs §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// An attached, idle receiver gets `h` after this long.
    pub(crate) heartbeat_ms: u64,
    /// A session without a receiver is destroyed after this long.
    pub(crate) disconnect_ms: u64,
    /// A streaming response ends after this many frame bytes (§6.3).
    pub(crate) response_limit_bytes: usize,
}

/// Where a session is in its life (spec §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// `o` not yet written to a receiver.
    New,
    Open,
    /// Closed by the application or server; every later receiver gets this `c[...]` frame.
    Closing { close_frame: Bytes },
}

/// The HTTP response currently attached to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Receiver {
    /// The connection (on this shard) carrying the response.
    pub(crate) conn: ConnId,
    pub(crate) wrap: Wrap,
    /// Polling receivers end after one frame; streaming ones after the response limit.
    pub(crate) streaming: bool,
    /// HTTP/1.1 chunked body; false for HTTP/1.0, whose body ends by closing (spec §9).
    pub(crate) chunked: bool,
}

/// What the shard must do for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Append `bytes` to the response on `conn`.
    Write { conn: ConnId, bytes: Bytes },
    /// End the response on `conn` (with the last chunk when `chunked`).
    End { conn: ConnId, chunked: bool },
    /// The session has opened: its protocol's `on_open` is due.
    Opened,
}

/// A second receiver while one is attached (spec §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

/// Outcome of queueing a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Enqueued {
    /// Queued; `first` when the session was not yet on this tick's flush list.
    Queued { first: bool },
    /// The session is closing: the message is dropped (spec §6.6).
    Dropped,
    /// Queued bytes would pass the budget: the caller closes the session (slow consumer).
    OverBudget,
}

/// What a due deadline meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    NotDue,
    /// A heartbeat was written to the receiver.
    Heartbeat,
    /// No receiver came back in time: destroy the session.
    Expired,
}

/// One session.
#[derive(Debug)]
pub(crate) struct Session {
    /// The client-chosen id (`<session>` in the URL).
    pub(crate) key: Bytes,
    pub(crate) service: ServiceId,
    state: State,
    /// Quoted messages waiting for a receiver, in order.
    outbox: Vec<Bytes>,
    outbox_bytes: usize,
    receiver: Option<Receiver>,
    /// Frame bytes written on the current response (prelude excluded).
    sent_bytes: usize,
    /// Receiver attached: when `h` is due. None: when the session is destroyed.
    deadline_ms: u64,
    /// On this tick's flush list.
    dirty: bool,
    pub(crate) proto: ProtocolState,
    pub(crate) subs: Vec<SubKey>,
    /// The protocol has heard the close and the memberships are gone.
    pub(crate) released: bool,
}

impl Session {
    /// A new session, destroyed at `deadline_ms` unless a receiver attaches.
    pub(crate) fn new(key: Bytes, service: ServiceId, proto: ProtocolState, deadline_ms: u64) -> Session {
        Session {
            key,
            service,
            state: State::New,
            outbox: Vec::new(),
            outbox_bytes: 0,
            receiver: None,
            sent_bytes: 0,
            deadline_ms,
            dirty: false,
            proto,
            subs: Vec::new(),
            released: false,
        }
    }

    pub(crate) fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing { .. })
    }

    pub(crate) fn receiver_conn(&self) -> Option<ConnId> {
        self.receiver.as_ref().map(|r| r.conn)
    }

    pub(crate) fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// Attach a receiver and write what it gets by state: a new session opens (`o`), an
    /// open one gets its queued messages, a closing one its close frame (§6.2).
    pub(crate) fn attach(&mut self, r: Receiver, now_ms: u64, t: &Timing, fx: &mut Vec<Effect>) -> Result<(), Busy> {
        if self.receiver.is_some() {
            return Err(Busy);
        }
        self.receiver = Some(r);
        self.sent_bytes = 0;
        self.deadline_ms = now_ms + t.heartbeat_ms;
        match self.state.clone() {
            State::New => {
                self.state = State::Open;
                self.write(framing::OPEN, now_ms, t, fx);
                fx.push(Effect::Opened);
            }
            State::Open => self.flush(now_ms, t, fx),
            State::Closing { close_frame } => {
                // §6.2: "queued messages (one `a` frame) if any, then the stored `c`
                // frame; response ends" (a streaming response too).
                self.flush(now_ms, t, fx);
                self.write(&close_frame, now_ms, t, fx);
                self.end_receiver(now_ms, t, fx);
            }
        }
        Ok(())
    }

    /// Queue one quoted message for the next `a[...]` frame, within `budget_bytes`.
    pub(crate) fn enqueue(&mut self, quoted: &Bytes, budget_bytes: usize) -> Enqueued {
        if self.is_closing() {
            return Enqueued::Dropped;
        }
        if self.outbox_bytes + quoted.len() > budget_bytes {
            return Enqueued::OverBudget;
        }
        self.outbox_bytes += quoted.len();
        self.outbox.push(quoted.clone());
        let first = !self.dirty;
        self.dirty = true;
        Enqueued::Queued { first }
    }

    /// Queued messages go to the attached receiver as one `a[...]` frame.
    pub(crate) fn flush(&mut self, now_ms: u64, t: &Timing, fx: &mut Vec<Effect>) {
        self.dirty = false;
        if self.receiver.is_none() || self.outbox.is_empty() {
            return;
        }
        let frame = framing::messages_frame(&self.outbox);
        self.outbox.clear();
        self.outbox_bytes = 0;
        self.write(&frame, now_ms, t, fx);
    }

    /// Application or server close (§6.6): store the `c` frame; an attached receiver
    /// gets the queued messages, then the frame, and ends. False if already closing.
    pub(crate) fn close(&mut self, code: u16, reason: &str, now_ms: u64, t: &Timing, fx: &mut Vec<Effect>) -> bool {
        if self.is_closing() {
            return false;
        }
        let close_frame = framing::close_frame(code, reason);
        self.state = State::Closing { close_frame: close_frame.clone() };
        if self.receiver.is_some() {
            self.flush(now_ms, t, fx);
            self.write(&close_frame, now_ms, t, fx);
            self.end_receiver(now_ms, t, fx);
        }
        true
    }

    /// The deadline, if due: a heartbeat on an attached receiver, or expiry.
    pub(crate) fn on_deadline(&mut self, now_ms: u64, t: &Timing, fx: &mut Vec<Effect>) -> Deadline {
        if now_ms < self.deadline_ms {
            return Deadline::NotDue;
        }
        if self.receiver.is_none() {
            return Deadline::Expired;
        }
        self.deadline_ms = now_ms + t.heartbeat_ms;
        self.write(framing::HEARTBEAT, now_ms, t, fx);
        Deadline::Heartbeat
    }

    /// The receiver's connection went away; returns whether it was attached.
    pub(crate) fn detach(&mut self, conn: ConnId) -> bool {
        if self.receiver_conn() == Some(conn) {
            self.receiver = None;
            return true;
        }
        false
    }

    /// Write one frame to the receiver; polling receivers end after one frame,
    /// streaming ones once the response limit is reached (§6.3).
    fn write(&mut self, frame: &[u8], now_ms: u64, t: &Timing, fx: &mut Vec<Effect>) {
        let Some(r) = self.receiver.as_ref() else { return };
        let mut wrapped = BytesMut::new();
        framing::wrap_into(&mut wrapped, &r.wrap, frame);
        self.sent_bytes += wrapped.len();
        let end = !r.streaming || self.sent_bytes >= t.response_limit_bytes;
        let bytes = if r.chunked {
            let mut chunk = BytesMut::with_capacity(wrapped.len() + 16);
            statics::chunk_into(&mut chunk, &wrapped);
            chunk.freeze()
        } else {
            wrapped.freeze()
        };
        fx.push(Effect::Write { conn: r.conn, bytes });
        if end {
            self.end_receiver(now_ms, t, fx);
        }
    }

    /// End the attached response; the disconnect deadline starts (§6.3).
    fn end_receiver(&mut self, now_ms: u64, t: &Timing, fx: &mut Vec<Effect>) {
        let Some(r) = self.receiver.take() else { return };
        self.deadline_ms = now_ms + t.disconnect_ms;
        fx.push(Effect::End { conn: r.conn, chunked: r.chunked });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idtable::Id;

    const T: Timing = Timing { heartbeat_ms: 25, disconnect_ms: 5, response_limit_bytes: 64 };

    fn conn(n: u32) -> ConnId {
        ConnId(Id { slot: n, generation: 0 })
    }

    fn receiver(n: u32, streaming: bool) -> Receiver {
        let wrap = if streaming { Wrap::XhrStreaming } else { Wrap::Xhr };
        Receiver { conn: conn(n), wrap, streaming, chunked: false }
    }

    fn session() -> Session {
        Session::new(Bytes::from_static(b"s"), ServiceId(0), ProtocolState::Rooms(Default::default()), 5)
    }

    fn writes(fx: &[Effect]) -> Vec<String> {
        fx.iter()
            .map(|e| match e {
                Effect::Write { bytes, .. } => String::from_utf8(bytes.to_vec()).unwrap(),
                Effect::End { .. } => "END".into(),
                Effect::Opened => "OPENED".into(),
            })
            .collect()
    }

    #[test]
    fn first_poll_opens_and_ends() {
        let mut s = session();
        let mut fx = Vec::new();
        s.attach(receiver(1, false), 0, &T, &mut fx).unwrap();
        assert_eq!(writes(&fx), ["o\n", "END", "OPENED"]);
        assert_eq!(s.deadline_ms(), T.disconnect_ms, "the disconnect timer runs without a receiver");
    }

    #[test]
    fn queued_messages_go_in_one_frame_then_close_frame_is_kept() {
        let mut s = session();
        let mut fx = Vec::new();
        s.attach(receiver(1, false), 0, &T, &mut fx).unwrap();
        assert_eq!(s.enqueue(&Bytes::from_static(b"\"a\""), 100), Enqueued::Queued { first: true });
        assert_eq!(s.enqueue(&Bytes::from_static(b"\"b\""), 100), Enqueued::Queued { first: false });
        fx.clear();
        s.attach(receiver(2, false), 1, &T, &mut fx).unwrap();
        assert_eq!(writes(&fx), ["a[\"a\",\"b\"]\n", "END"]);
        fx.clear();
        assert!(s.close(3000, "Go away!", 2, &T, &mut fx));
        assert!(fx.is_empty(), "no receiver: the frame is stored");
        assert_eq!(s.enqueue(&Bytes::from_static(b"\"c\""), 100), Enqueued::Dropped);
        s.attach(receiver(3, false), 3, &T, &mut fx).unwrap();
        assert_eq!(writes(&fx), ["c[3000,\"Go away!\"]\n", "END"]);
    }

    #[test]
    fn second_receiver_is_busy_and_budget_is_enforced() {
        let mut s = session();
        let mut fx = Vec::new();
        s.attach(receiver(1, true), 0, &T, &mut fx).unwrap();
        assert_eq!(s.attach(receiver(2, true), 0, &T, &mut fx), Err(Busy));
        assert_eq!(s.enqueue(&Bytes::from(vec![b'x'; 60]), 100), Enqueued::Queued { first: true });
        assert_eq!(s.enqueue(&Bytes::from(vec![b'x'; 60]), 100), Enqueued::OverBudget);
    }

    #[test]
    fn streaming_ends_at_the_response_limit_and_heartbeats_when_idle() {
        let mut s = session();
        let mut fx = Vec::new();
        s.attach(receiver(1, true), 0, &T, &mut fx).unwrap();
        fx.clear();
        assert_eq!(s.on_deadline(10, &T, &mut fx), Deadline::NotDue);
        assert_eq!(s.on_deadline(25, &T, &mut fx), Deadline::Heartbeat);
        assert_eq!(writes(&fx), ["h\n"]);
        let _ = s.enqueue(&Bytes::from(vec![b'y'; 70]), 1000);
        fx.clear();
        s.flush(26, &T, &mut fx);
        assert_eq!(writes(&fx).last().map(String::as_str), Some("END"), "past 64 bytes the response ends");
        assert_eq!(s.on_deadline(26 + T.disconnect_ms, &T, &mut fx), Deadline::Expired);
    }

    #[test]
    fn detach_forgets_only_its_own_receiver() {
        let mut s = session();
        let mut fx = Vec::new();
        s.attach(receiver(1, true), 0, &T, &mut fx).unwrap();
        assert!(!s.detach(conn(9)));
        assert!(s.detach(conn(1)));
        assert_eq!(s.receiver_conn(), None);
    }
}
