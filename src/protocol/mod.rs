//! Application protocols spoken over a connection or session, and the one place that
//! dispatches to them.
//!
//! Owns: [`ProtocolState`] — the per-member state of whatever the service speaks — and
//! its dispatch (`on_open`, `on_message`, `on_close`, `on_handle`), which every front
//! end (SockJS sessions, SockJS WebSocket, raw WebSocket) calls the same way. A protocol
//! takes one event and pushes [`Action`]s; it never touches sockets, the topic table or
//! other shards, so each is testable without a server. Built-ins are enum variants
//! (rooms); an application's [`Handler`](crate::Handler) is one more variant (`App`),
//! as are websocket-multiplex channels backed by handlers (`Channels`), so `dyn` is
//! only ever on inbound messages of application services, never on fan-out.
//!
//! Does not own: framing (`transport`), delivery (`shard`, `pubsub`, `send`), or the
//! public handler API (`api`).

pub(crate) mod app;
pub(crate) mod channels;
pub mod multiplex;

use crate::api::{CloseReason, ConnInfo};
use crate::ids::{Member, ShardId, SpaceId};
use crate::pubsub::bus::{ChannelRef, HandleOp, Remote};
use crate::pubsub::prepared::Framing;
use app::{AppConn, DynHandler};
use bytes::Bytes;
use channels::{ChannelSpec, ChannelsConn};
use multiplex::{RoomsConfig, RoomsState};
use std::borrow::Cow;
use std::sync::Arc;

/// What a protocol asks the shard to do for the member it was called for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add the member to topic `topic` of `space`; it gets messages in `framing`.
    Subscribe { space: SpaceId, topic: Bytes, framing: Framing },
    /// Remove the member from a topic.
    Unsubscribe { space: SpaceId, topic: Bytes },
    /// Remove the member from every topic of `space` (a multiplex channel closed).
    LeaveSpace { space: SpaceId },
    /// Deliver `payload` to every member of (`space`, `topic`) in the cluster — but the
    /// member itself when `except_self`. Multiplex members see it as `msg,<label>,…`.
    Publish { space: SpaceId, topic: Bytes, label: Bytes, payload: Bytes, except_self: bool },
    /// Send one message (the exact text, or binary) to this member only.
    Send { payload: Bytes, binary: bool },
    /// Close the member with an application close code.
    Close { code: u16, reason: Cow<'static, str> },
    /// A handler callback panicked (counted; a `Close` follows).
    HandlerPanicked,
}

/// What a service speaks, resolved once at startup and shared by every shard.
pub(crate) enum ServiceProtocol {
    /// websocket-multiplex rooms (spec `multiplex.md` §4).
    Rooms(RoomsConfig),
    /// An application handler.
    Handler(Arc<dyn DynHandler>),
    /// websocket-multiplex channels, each served by a handler (spec `multiplex.md` §3).
    Channels(Vec<ChannelSpec>),
}

impl std::fmt::Debug for ServiceProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceProtocol::Rooms(r) => f.debug_tuple("Rooms").field(r).finish(),
            ServiceProtocol::Handler(_) => f.write_str("Handler"),
            ServiceProtocol::Channels(c) => f.debug_list().entries(c.iter().map(|c| &c.name)).finish(),
        }
    }
}

/// One message from a client. `Text` is valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inbound<'a> {
    Text(&'a [u8]),
    Binary(&'a [u8]),
}

/// The member a protocol call is for, and where its actions go.
pub(crate) struct Cx<'a> {
    pub(crate) shard: ShardId,
    pub(crate) member: Member,
    pub(crate) remote: &'a Arc<Remote>,
    /// The service's topic space.
    pub(crate) space: SpaceId,
    pub(crate) max_topic_bytes: usize,
    pub(crate) out: &'a mut Vec<Action>,
}

/// The per-member state of a service's protocol.
#[derive(Debug)]
pub(crate) enum ProtocolState {
    Rooms(RoomsState),
    App(AppConn),
    Channels(ChannelsConn),
}

impl ProtocolState {
    /// A new member's state; `info` is called only for protocols that keep it.
    pub(crate) fn new(proto: &ServiceProtocol, info: impl FnOnce() -> ConnInfo) -> ProtocolState {
        match proto {
            ServiceProtocol::Rooms(_) => ProtocolState::Rooms(RoomsState::new()),
            ServiceProtocol::Handler(h) => ProtocolState::App(AppConn::new(h, info())),
            ServiceProtocol::Channels(_) => ProtocolState::Channels(ChannelsConn::new(info())),
        }
    }

    /// The member is open.
    pub(crate) fn on_open(&mut self, proto: &ServiceProtocol, cx: &mut Cx<'_>) {
        if let (ProtocolState::App(a), ServiceProtocol::Handler(_)) = (self, proto) {
            a.open(cx);
        }
    }

    /// One message from the client. Hot path for rooms: no allocation but the publish.
    #[inline]
    pub(crate) fn on_message(&mut self, proto: &ServiceProtocol, msg: Inbound<'_>, cx: &mut Cx<'_>) {
        match (self, proto, msg) {
            (ProtocolState::Rooms(r), ServiceProtocol::Rooms(cfg), Inbound::Text(text)) => {
                r.on_message(text, cfg, cx.space, cx.out)
            }
            // multiplex §5.2: binary messages are not part of the protocol; ignored.
            (ProtocolState::Rooms(_), _, Inbound::Binary(_)) => {}
            (ProtocolState::App(a), _, msg) => a.message(msg, cx),
            (ProtocolState::Channels(c), ServiceProtocol::Channels(specs), Inbound::Text(text)) => {
                c.on_message(specs, text, cx)
            }
            _ => {}
        }
    }

    /// The member has closed: handlers hear it once.
    pub(crate) fn on_close(&mut self, proto: &ServiceProtocol, reason: CloseReason, cx: &mut Cx<'_>) {
        match (self, proto) {
            (ProtocolState::App(a), _) => a.close(reason, cx),
            (ProtocolState::Channels(c), ServiceProtocol::Channels(specs)) => c.on_close(specs, reason, cx),
            _ => {}
        }
    }

    /// An operation from a [`ConnHandle`](crate::ConnHandle), for the member or one of
    /// its channels.
    pub(crate) fn on_handle(
        &mut self,
        proto: &ServiceProtocol,
        channel: Option<ChannelRef>,
        op: HandleOp,
        cx: &mut Cx<'_>,
    ) {
        match (self, proto, channel) {
            (ProtocolState::App(a), _, None) => a.on_handle(op, cx),
            (ProtocolState::Channels(c), ServiceProtocol::Channels(specs), Some(ch)) => {
                c.on_handle(specs, ch, op, cx)
            }
            _ => {}
        }
    }
}
