//! websocket-multiplex channels served by handlers (spec `multiplex.md` §3): what
//! sockjs-rooms' `registerChannel('red').on('connection', …)` and websocket-multiplex's
//! `multiplexer.registerChannel` give a Node server.
//!
//! Owns: a connection's open channels (each with its handler state), mapping `sub` /
//! `msg` / `uns` to the channel handler's `on_open` / `on_message` / `on_close`, and a
//! handler's writes and closes to `msg,<channel>,…` / `uns,<channel>`. Unregistered or
//! out-of-state messages are ignored (§1: no error replies). Each channel has its own
//! topic space, so a channel's `subscribe`/`publish` reach only that channel's members.

use super::app::{close_after_panic, core, guarded, DynHandler};
use super::multiplex::parse;
use super::{Action, Cx};
use crate::api::{CloseReason, ConnInfo, ConnectionId, Message};
use crate::ids::SpaceId;
use crate::pubsub::bus::{ChannelRef, HandleOp};
use bytes::Bytes;
use std::any::Any;
use std::sync::Arc;

/// A registered channel of a service.
pub(crate) struct ChannelSpec {
    /// The topic name on the wire (`sub,<name>`).
    pub(crate) name: Bytes,
    /// The channel's own topic space.
    pub(crate) space: SpaceId,
    pub(crate) handler: Arc<dyn DynHandler>,
}

/// A connection of a channels service.
pub(crate) struct ChannelsConn {
    info: Box<ConnInfo>,
    open: Vec<OpenChannel>,
    /// Tells openings of one channel apart, so a stale handle misses a reopened channel.
    next_generation: u32,
}

struct OpenChannel {
    index: u16,
    generation: u32,
    state: Box<dyn Any>,
}

/// What a callback asked of its channel.
enum Call<'m> {
    Open,
    Message(Message<'m>),
}

impl std::fmt::Debug for ChannelsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelsConn").field("open", &self.open.len()).finish()
    }
}

impl ChannelsConn {
    pub(crate) fn new(info: ConnInfo) -> ChannelsConn {
        ChannelsConn { info: Box::new(info), open: Vec::new(), next_generation: 0 }
    }

    /// One multiplex message from the client (§3 table).
    pub(crate) fn on_message(&mut self, specs: &[ChannelSpec], msg: &[u8], cx: &mut Cx<'_>) {
        let p = parse(msg);
        let Some(topic) = p.topic else { return };
        let Some(index) = specs.iter().position(|s| s.name == topic) else { return };
        let open = self.open.iter().position(|c| c.index as usize == index);
        match (p.kind, open) {
            (b"sub", None) => {
                let state = specs[index].handler.new_state();
                self.next_generation = self.next_generation.wrapping_add(1);
                self.open.push(OpenChannel { index: index as u16, generation: self.next_generation, state });
                self.call(specs, self.open.len() - 1, Call::Open, cx);
            }
            (b"msg", Some(at)) => {
                let Ok(text) = std::str::from_utf8(p.payload) else { return };
                self.call(specs, at, Call::Message(Message::Text(text)), cx);
            }
            (b"uns", Some(at)) => {
                let channel = self.open.swap_remove(at);
                cx.out.push(Action::LeaveSpace { space: specs[index].space });
                self.call_closed(specs, channel, CloseReason::Client, cx);
            }
            _ => {}
        }
    }

    /// The physical connection closed: every open channel closes.
    pub(crate) fn on_close(&mut self, specs: &[ChannelSpec], reason: CloseReason, cx: &mut Cx<'_>) {
        for channel in std::mem::take(&mut self.open) {
            self.call_closed(specs, channel, reason, cx);
        }
    }

    /// A handle's send or close for one channel, if that opening is still open.
    pub(crate) fn on_handle(&mut self, specs: &[ChannelSpec], ch: ChannelRef, op: HandleOp, cx: &mut Cx<'_>) {
        let Some(at) = self.open.iter().position(|c| c.index == ch.index && c.generation == ch.generation) else {
            return;
        };
        let name = &specs[ch.index as usize].name;
        match op {
            HandleOp::Send { payload, .. } => {
                let payload = Bytes::from([&b"msg,"[..], name, b",", &payload].concat());
                cx.out.push(Action::Send { payload, binary: false });
            }
            HandleOp::Close { .. } => self.server_close(specs, at, cx),
        }
    }

    /// Call the handler of open channel `at`; act on a `close` it asked for.
    fn call(&mut self, specs: &[ChannelSpec], at: usize, call: Call<'_>, cx: &mut Cx<'_>) {
        let channel = &mut self.open[at];
        let spec = &specs[channel.index as usize];
        let chref = ChannelRef { index: channel.index, generation: channel.generation };
        let id = ConnectionId::new(cx.shard, cx.member, Some(chref));
        let mut close = false;
        let core = core(cx, &self.info, Some((&spec.name, chref)), spec.space, &mut close);
        let (handler, state) = (&*spec.handler, &mut *channel.state);
        let ok = guarded(&id, || match call {
            Call::Open => handler.open(state, core),
            Call::Message(m) => handler.message(state, core, m),
        });
        if !ok {
            close_after_panic(cx.out);
        } else if close {
            self.server_close(specs, at, cx);
        }
    }

    /// The server (a handler) closes channel `at`: `uns,<name>` to the client (§3).
    fn server_close(&mut self, specs: &[ChannelSpec], at: usize, cx: &mut Cx<'_>) {
        let channel = self.open.swap_remove(at);
        let spec = &specs[channel.index as usize];
        cx.out.push(Action::Send { payload: Bytes::from([&b"uns,"[..], &spec.name].concat()), binary: false });
        cx.out.push(Action::LeaveSpace { space: spec.space });
        self.call_closed(specs, channel, CloseReason::Application, cx);
    }

    /// `on_close` of a channel already removed from the open list.
    fn call_closed(&mut self, specs: &[ChannelSpec], mut channel: OpenChannel, reason: CloseReason, cx: &mut Cx<'_>) {
        let spec = &specs[channel.index as usize];
        let chref = ChannelRef { index: channel.index, generation: channel.generation };
        let id = ConnectionId::new(cx.shard, cx.member, Some(chref));
        let mut close = false; // closing a closed channel is a no-op
        let core = core(cx, &self.info, Some((&spec.name, chref)), spec.space, &mut close);
        let (handler, state) = (&*spec.handler, &mut *channel.state);
        if !guarded(&id, || handler.close(state, core, reason)) {
            close_after_panic(cx.out);
        }
    }
}
