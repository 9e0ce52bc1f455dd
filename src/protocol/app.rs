//! Application handlers as a protocol: calling a [`Handler`] safely.
//!
//! Owns: type erasure of handlers ([`DynHandler`]), a handler connection's state
//! ([`AppConn`]: the handler, its typed state, the opening request), building the
//! [`ConnCore`] each callback's `Conn` wraps, and catching a callback's panic, which
//! becomes a 1011 close of that connection only. Does not own the public API types.

use super::{Action, Cx};
use crate::api::{CloseReason, Conn, ConnCore, ConnInfo, Handler, Message};
use crate::pubsub::bus::{ChannelRef, HandleOp};
use bytes::Bytes;
use std::any::Any;
use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// WebSocket close code and reason for a handler that panicked (RFC 6455 §7.4.1: 1011,
/// "the server encountered an unexpected condition").
pub(crate) const PANIC_CLOSE: (u16, &str) = (1011, "Internal error");

/// A [`Handler`] with its state type erased, so one service table holds any handler.
pub(crate) trait DynHandler: Send + Sync + 'static {
    fn new_state(&self) -> Box<dyn Any>;
    fn open(&self, state: &mut dyn Any, core: ConnCore<'_>);
    fn message(&self, state: &mut dyn Any, core: ConnCore<'_>, msg: Message<'_>);
    fn close(&self, state: &mut dyn Any, core: ConnCore<'_>, reason: CloseReason);
}

impl<H: Handler> DynHandler for H {
    fn new_state(&self) -> Box<dyn Any> {
        Box::new(H::State::default())
    }

    fn open(&self, state: &mut dyn Any, core: ConnCore<'_>) {
        self.on_open(&mut Conn::new(core, typed::<H>(state)));
    }

    fn message(&self, state: &mut dyn Any, core: ConnCore<'_>, msg: Message<'_>) {
        self.on_message(&mut Conn::new(core, typed::<H>(state)), msg);
    }

    fn close(&self, state: &mut dyn Any, core: ConnCore<'_>, reason: CloseReason) {
        self.on_close(&mut Conn::new(core, typed::<H>(state)), reason);
    }
}

/// The state `new_state` made for this handler type.
fn typed<H: Handler>(state: &mut dyn Any) -> &mut H::State {
    state.downcast_mut::<H::State>().expect("a handler's state is the type its new_state made")
}

/// Run one callback; false if it panicked (logged here; the caller closes).
pub(crate) fn guarded(who: &dyn std::fmt::Display, call: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(()) => true,
        Err(payload) => {
            let what = crate::server::panic_message(&*payload);
            tracing::error!(connection = %who, panic = %what, "handler panicked; closing its connection");
            false
        }
    }
}

/// After a panic: count it and close the whole connection with 1011.
pub(crate) fn close_after_panic(out: &mut Vec<Action>) {
    out.push(Action::HandlerPanicked);
    out.push(Action::Close { code: PANIC_CLOSE.0, reason: Cow::Borrowed(PANIC_CLOSE.1) });
}

/// A connection of a handler service.
pub(crate) struct AppConn {
    handler: Arc<dyn DynHandler>,
    state: Box<dyn Any>,
    info: Box<ConnInfo>,
    /// `on_close` has run (or the connection is closing after a panic): no more calls.
    done: bool,
}

impl std::fmt::Debug for AppConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConn").field("path", &self.info.path).field("done", &self.done).finish()
    }
}

impl AppConn {
    pub(crate) fn new(handler: &Arc<dyn DynHandler>, info: ConnInfo) -> AppConn {
        AppConn { handler: handler.clone(), state: handler.new_state(), info: Box::new(info), done: false }
    }

    pub(crate) fn open(&mut self, cx: &mut Cx<'_>) {
        self.call(cx, |h, state, core| h.open(state, core));
    }

    pub(crate) fn message(&mut self, msg: super::Inbound<'_>, cx: &mut Cx<'_>) {
        let msg = match msg {
            super::Inbound::Text(t) => match std::str::from_utf8(t) {
                Ok(text) => Message::Text(text),
                Err(_) => return, // transports validate UTF-8; never reached
            },
            super::Inbound::Binary(b) => Message::Binary(b),
        };
        self.call(cx, |h, state, core| h.message(state, core, msg));
    }

    pub(crate) fn close(&mut self, reason: CloseReason, cx: &mut Cx<'_>) {
        if self.done {
            return;
        }
        self.call(cx, |h, state, core| h.close(state, core, reason));
        self.done = true;
    }

    pub(crate) fn on_handle(&mut self, op: HandleOp, cx: &mut Cx<'_>) {
        if self.done {
            return;
        }
        cx.out.push(match op {
            HandleOp::Send { payload, binary } => Action::Send { payload, binary },
            HandleOp::Close { code, reason } => Action::Close { code, reason: Cow::Owned(reason) },
        });
    }

    fn call(&mut self, cx: &mut Cx<'_>, f: impl FnOnce(&dyn DynHandler, &mut dyn Any, ConnCore<'_>)) {
        if self.done {
            return;
        }
        let id = crate::api::ConnectionId::new(cx.shard, cx.member, None);
        let mut unused = false;
        let core = core(cx, &self.info, None, cx.space, &mut unused);
        let (handler, state) = (&*self.handler, &mut *self.state);
        if !guarded(&id, || f(handler, state, core)) {
            self.done = true;
            close_after_panic(cx.out);
        }
    }
}

/// The `ConnCore` of one callback for the member of `cx`.
pub(crate) fn core<'a>(
    cx: &'a mut Cx<'_>,
    info: &'a ConnInfo,
    channel: Option<(&'a Bytes, ChannelRef)>,
    space: crate::ids::SpaceId,
    close_channel: &'a mut bool,
) -> ConnCore<'a> {
    ConnCore {
        shard: cx.shard,
        member: cx.member,
        info,
        out: cx.out,
        remote: cx.remote,
        space,
        channel,
        max_topic_bytes: cx.max_topic_bytes,
        close_channel,
    }
}
