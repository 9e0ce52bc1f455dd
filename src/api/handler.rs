//! The application's side of a connection: the [`Handler`] trait and the [`Conn`]
//! context every callback gets.
//!
//! Owns: what a handler may do with its connection (send, close, subscribe, publish,
//! state, request data, a [`ConnHandle`] for later) and how each call becomes an
//! `Action` for the shard. Does not own: carrying the actions out (`shard`) or the
//! protocol that framed the message (`protocol`).

use super::handle::ConnHandle;
use super::info::ConnInfo;
use crate::ids::{Member, ShardId, SpaceId};
use crate::protocol::Action;
use crate::pubsub::bus::{ChannelRef, Remote, Target};
use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Server-side logic for the connections of a service.
///
/// One handler value serves every connection of its service, on every shard; each
/// connection gets its own [`Handler::State`]. The same handler serves every transport
/// of a SockJS service (WebSocket, xhr-streaming, polling, …) and the raw WebSocket:
/// the application sees a connection, not a transport.
///
/// # Rules
///
/// * Callbacks run on the shard thread that owns the connection, without locks, one at a
///   time per connection. **They must not block**: every other connection of that shard
///   waits meanwhile. Hand slow work (a database, a file, a remote call) to a thread or
///   an async runtime of your own and answer later through [`Conn::handle`].
/// * What a callback asks for (`send`, `publish`, `close`, …) happens when it returns,
///   in the order it was asked.
/// * A callback that panics closes only its own connection (WebSocket close 1011,
///   SockJS `c[1011,"Internal error"]`); the panic is logged and counted in
///   `ringcast_handler_panics_total`, and the shard carries on.
///
/// # Example
///
/// ```
/// use ringcast::{Conn, Handler, Message};
///
/// /// Writes every message back, and counts them.
/// struct Echo;
///
/// impl Handler for Echo {
///     type State = u64;
///
///     fn on_message(&self, conn: &mut Conn<'_, u64>, msg: Message<'_>) {
///         *conn.state_mut() += 1;
///         match msg {
///             Message::Text(text) => conn.send(text),
///             Message::Binary(data) => {
///                 let _ = conn.send_binary(data); // SockJS carries text only
///             }
///         }
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Per-connection state: created with `Default` when the connection opens, dropped
    /// after [`Handler::on_close`]. Use `()` for none.
    type State: Default + 'static;

    /// The connection is open (for SockJS: the session has opened).
    fn on_open(&self, conn: &mut Conn<'_, Self::State>) {
        let _ = conn;
    }

    /// One message from the client.
    fn on_message(&self, conn: &mut Conn<'_, Self::State>, msg: Message<'_>);

    /// The connection has closed. Sends are dropped by now; publishing still works.
    fn on_close(&self, conn: &mut Conn<'_, Self::State>, reason: CloseReason) {
        let _ = (conn, reason);
    }
}

/// One message from a client.
///
/// ```
/// # use ringcast::Message;
/// fn describe(msg: Message<'_>) -> String {
///     match msg {
///         Message::Text(t) => format!("text {t}"),
///         Message::Binary(b) => format!("{} bytes", b.len()),
///     }
/// }
/// assert_eq!(describe(Message::Binary(&[1, 2])), "2 bytes");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (always valid UTF-8).
    Text(&'a str),
    /// A binary message (raw WebSocket only; SockJS carries text).
    Binary(&'a [u8]),
}

impl<'a> Message<'a> {
    /// The text, if this is a text message.
    ///
    /// ```
    /// assert_eq!(ringcast::Message::Text("hi").as_text(), Some("hi"));
    /// assert_eq!(ringcast::Message::Binary(b"hi").as_text(), None);
    /// ```
    pub fn as_text(&self) -> Option<&'a str> {
        match self {
            Message::Text(t) => Some(t),
            Message::Binary(_) => None,
        }
    }
}

/// Why a connection closed.
///
/// ```
/// # use ringcast::{CloseReason, Conn, Handler, Message};
/// struct Audit;
/// impl Handler for Audit {
///     type State = ();
///     fn on_message(&self, _: &mut Conn<'_, ()>, _: Message<'_>) {}
///     fn on_close(&self, conn: &mut Conn<'_, ()>, reason: CloseReason) {
///         if reason == CloseReason::SlowConsumer {
///             eprintln!("{} could not keep up", conn.id());
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed it, or went away.
    Client,
    /// The application closed it ([`Conn::close`] or [`ConnHandle::close`]).
    Application,
    /// No traffic (or no SockJS receiver) for longer than the configured timeouts.
    Timeout,
    /// The client broke the protocol (a malformed frame, bad framing).
    ProtocolError,
    /// The client did not read fast enough: its queue passed `limits.send_budget_bytes`.
    SlowConsumer,
    /// The server is shutting down.
    Shutdown,
    /// A handler callback panicked.
    HandlerPanic,
}

/// How a connection reached the server.
///
/// ```
/// use ringcast::Transport;
/// assert!(Transport::WebSocket.carries_binary());
/// assert!(!Transport::SockjsXhrStreaming.carries_binary());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// A raw WebSocket.
    WebSocket,
    /// SockJS over a WebSocket.
    SockjsWebSocket,
    /// SockJS xhr-streaming.
    SockjsXhrStreaming,
    /// SockJS xhr-polling.
    SockjsXhrPolling,
    /// SockJS EventSource.
    SockjsEventSource,
    /// SockJS htmlfile (iframe).
    SockjsHtmlFile,
    /// SockJS JSONP polling.
    SockjsJsonpPolling,
}

impl Transport {
    /// Whether the transport carries binary messages (only a raw WebSocket does).
    pub fn carries_binary(self) -> bool {
        self == Transport::WebSocket
    }
}

/// A connection's identity, unique in the server while the connection lives.
///
/// ```
/// # use ringcast::{Conn, ConnectionId, Handler, Message};
/// # use std::{collections::HashSet, sync::Mutex};
/// /// Keeps the ids of open connections.
/// struct Presence(Mutex<HashSet<ConnectionId>>);
/// impl Handler for Presence {
///     type State = ();
///     fn on_open(&self, conn: &mut Conn<'_, ()>) {
///         self.0.lock().unwrap().insert(conn.id());
///     }
///     fn on_message(&self, _: &mut Conn<'_, ()>, _: Message<'_>) {}
/// }
/// ```
///
/// It names the shard, the connection or session, and the multiplex channel for a
/// channel's connection. `Display` gives a short stable text form for logs and maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    shard: u16,
    session: bool,
    slot: u32,
    generation: u32,
    channel: Option<(u16, u32)>,
}

impl ConnectionId {
    pub(crate) fn new(shard: ShardId, member: Member, channel: Option<ChannelRef>) -> ConnectionId {
        let (session, id) = match member {
            Member::Conn(c) => (false, c.0),
            Member::Session(s) => (true, s.0),
        };
        ConnectionId {
            shard: shard.0,
            session,
            slot: id.slot,
            generation: id.generation,
            channel: channel.map(|c| (c.index, c.generation)),
        }
    }
}

impl fmt::Display for ConnectionId {
    /// `<shard>-<c|s><slot>.<generation>[/<channel>.<generation>]`, e.g. `1-c17.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.session { 's' } else { 'c' };
        write!(f, "{}-{kind}{}.{}", self.shard, self.slot, self.generation)?;
        if let Some((index, generation)) = self.channel {
            write!(f, "/{index}.{generation}")?;
        }
        Ok(())
    }
}

/// A request a [`Conn`] cannot carry out.
///
/// ```
/// # use ringcast::{Conn, ConnError, Handler, Message};
/// struct Join;
/// impl Handler for Join {
///     type State = ();
///     fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
///         let room = msg.as_text().unwrap_or_default();
///         if let Err(ConnError::TopicTooLong { max_bytes }) = conn.subscribe(room) {
///             conn.send(&format!("room names have at most {max_bytes} bytes"));
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    /// The topic is longer than `limits.max_topic_bytes`.
    #[error("topic longer than {max_bytes} bytes")]
    TopicTooLong {
        /// The configured limit.
        max_bytes: usize,
    },
    /// The transport carries text only (SockJS, multiplex channels).
    #[error("this connection's transport carries text only")]
    BinaryUnsupported,
}

/// What a callback's `Conn` is bound to: everything but the typed state.
pub(crate) struct ConnCore<'a> {
    pub(crate) shard: ShardId,
    pub(crate) member: Member,
    pub(crate) info: &'a ConnInfo,
    pub(crate) out: &'a mut Vec<Action>,
    pub(crate) remote: &'a Arc<Remote>,
    /// The topic space of `subscribe`/`publish`: the service's, or the channel's.
    pub(crate) space: SpaceId,
    /// A multiplex channel's connection: its name (messages go out as `msg,<name>,…`)
    /// and identity.
    pub(crate) channel: Option<(&'a Bytes, ChannelRef)>,
    pub(crate) max_topic_bytes: usize,
    /// Set by `close` on a channel's connection: the channel protocol acts on it after
    /// the callback returns.
    pub(crate) close_channel: &'a mut bool,
}

impl ConnCore<'_> {
    fn text_only(&self) -> bool {
        self.channel.is_some() || !self.info.transport.carries_binary()
    }

    fn check_topic(&self, topic: &str) -> Result<(), ConnError> {
        if topic.len() > self.max_topic_bytes {
            return Err(ConnError::TopicTooLong { max_bytes: self.max_topic_bytes });
        }
        Ok(())
    }

    fn label(&self, topic: &str) -> Bytes {
        match self.channel {
            Some((name, _)) => name.clone(),
            None => Bytes::copy_from_slice(topic.as_bytes()),
        }
    }
}

/// A connection, as a [`Handler`] callback sees it. `S` is the handler's state type.
///
/// ```
/// # use ringcast::{Conn, Handler, Message};
/// /// A room per `?room=` query parameter; every message goes to the room's others.
/// struct Rooms;
/// impl Handler for Rooms {
///     type State = String; // the room
///     fn on_open(&self, conn: &mut Conn<'_, String>) {
///         let room = conn.query_param("room").unwrap_or_else(|| "lobby".into());
///         let _ = conn.subscribe(&room);
///         *conn.state_mut() = room;
///     }
///     fn on_message(&self, conn: &mut Conn<'_, String>, msg: Message<'_>) {
///         let room = conn.state().clone();
///         let _ = conn.broadcast(&room, msg.as_text().unwrap_or_default());
///     }
/// }
/// ```
pub struct Conn<'a, S> {
    core: ConnCore<'a>,
    state: &'a mut S,
}

impl<'a, S> Conn<'a, S> {
    pub(crate) fn new(core: ConnCore<'a>, state: &'a mut S) -> Conn<'a, S> {
        Conn { core, state }
    }

    /// This connection's id.
    pub fn id(&self) -> ConnectionId {
        ConnectionId::new(self.core.shard, self.core.member, self.core.channel.map(|(_, c)| c))
    }

    /// The connection's typed state.
    pub fn state(&self) -> &S {
        self.state
    }

    /// The connection's typed state, to change it.
    pub fn state_mut(&mut self) -> &mut S {
        self.state
    }

    /// The client's address (for SockJS HTTP transports, the one that opened the session).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.core.info.remote
    }

    /// The request path that opened the connection (e.g. `/echo/000/abc/websocket`).
    pub fn path(&self) -> &str {
        &self.core.info.path
    }

    /// The request's query string, without `?` (empty if none).
    pub fn query(&self) -> &str {
        &self.core.info.query
    }

    /// One query parameter, percent-decoded (the first if repeated).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.core.info.query_param(name)
    }

    /// A request header by case-insensitive name (the first if repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.core.info.header(name)
    }

    /// Every request header, in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.core.info.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// A cookie of the request by name.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.core.info.cookie(name)
    }

    /// How the client is connected.
    pub fn transport(&self) -> Transport {
        self.core.info.transport
    }

    /// For a multiplex channel's connection, the channel's name.
    pub fn channel(&self) -> Option<&str> {
        self.core.channel.map(|(name, _)| std::str::from_utf8(name).unwrap_or(""))
    }

    /// Send a text message to this client.
    pub fn send(&mut self, text: &str) {
        let payload = self.framed(text.as_bytes());
        self.core.out.push(Action::Send { payload, binary: false });
    }

    /// Send a binary message (raw WebSocket only).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), ConnError> {
        if self.core.text_only() {
            return Err(ConnError::BinaryUnsupported);
        }
        self.core.out.push(Action::Send { payload: Bytes::copy_from_slice(data), binary: true });
        Ok(())
    }

    /// Close the connection with an application `code` (WebSocket close frame, SockJS
    /// `c[code,"reason"]`). On a multiplex channel's connection this closes the channel
    /// only (`uns,<channel>`), and the physical connection stays open.
    pub fn close(&mut self, code: u16, reason: &str) {
        if self.core.channel.is_some() {
            *self.core.close_channel = true;
            return;
        }
        self.core.out.push(Action::Close { code, reason: Cow::Owned(reason.to_string()) });
    }

    /// Subscribe this connection to `topic` of its service's topic space: it receives
    /// every message published there from now on. Subscribing twice is a no-op.
    pub fn subscribe(&mut self, topic: &str) -> Result<(), ConnError> {
        self.core.check_topic(topic)?;
        let (space, topic) = (self.core.space, Bytes::copy_from_slice(topic.as_bytes()));
        self.core.out.push(Action::Subscribe { space, topic, framing: self.framing() });
        Ok(())
    }

    /// Leave `topic`.
    pub fn unsubscribe(&mut self, topic: &str) -> Result<(), ConnError> {
        self.core.check_topic(topic)?;
        let (space, topic) = (self.core.space, Bytes::copy_from_slice(topic.as_bytes()));
        self.core.out.push(Action::Unsubscribe { space, topic });
        Ok(())
    }

    /// Publish `text` to every member of `topic` in the cluster, this connection
    /// included if it is a member.
    pub fn publish(&mut self, topic: &str, text: &str) -> Result<(), ConnError> {
        self.publish_inner(topic, text, false)
    }

    /// Publish `text` to every member of `topic` except this connection.
    pub fn broadcast(&mut self, topic: &str, text: &str) -> Result<(), ConnError> {
        self.publish_inner(topic, text, true)
    }

    fn publish_inner(&mut self, topic: &str, text: &str, except_self: bool) -> Result<(), ConnError> {
        self.core.check_topic(topic)?;
        let label = self.core.label(topic);
        self.core.out.push(Action::Publish {
            space: self.core.space,
            topic: Bytes::copy_from_slice(topic.as_bytes()),
            label,
            payload: Bytes::copy_from_slice(text.as_bytes()),
            except_self,
        });
        Ok(())
    }

    /// A handle to this connection for later: `Send + Sync + Clone`, usable from any
    /// thread or async task after this callback has returned.
    pub fn handle(&self) -> ConnHandle {
        let target = Target { member: self.core.member, channel: self.core.channel.map(|(_, c)| c) };
        ConnHandle::new(self.core.remote.clone(), self.core.shard, target, self.id(), self.core.text_only())
    }

    fn framing(&self) -> crate::pubsub::prepared::Framing {
        match self.core.channel {
            Some(_) => crate::pubsub::prepared::Framing::Multiplex,
            None => crate::pubsub::prepared::Framing::Plain,
        }
    }

    /// The wire text of a message to this client: `msg,<channel>,<text>` on a channel.
    fn framed(&self, text: &[u8]) -> Bytes {
        match self.core.channel {
            Some((name, _)) => Bytes::from([&b"msg,"[..], name, b",", text].concat()),
            None => Bytes::copy_from_slice(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConnId, SessionId};
    use crate::idtable::Id;

    #[test]
    fn connection_ids_display_and_differ() {
        let a = ConnectionId::new(ShardId(1), Member::Conn(ConnId(Id { slot: 17, generation: 0 })), None);
        let b =
            ConnectionId::new(ShardId(1), Member::Session(SessionId(Id { slot: 17, generation: 0 })), None);
        let c = ConnectionId::new(
            ShardId(0),
            Member::Conn(ConnId(Id { slot: 2, generation: 3 })),
            Some(ChannelRef { index: 4, generation: 5 }),
        );
        assert_eq!(a.to_string(), "1-c17.0");
        assert_eq!(b.to_string(), "1-s17.0");
        assert_eq!(c.to_string(), "0-c2.3/4.5");
        assert_ne!(a, b);
    }
}
