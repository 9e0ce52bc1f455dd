//! Reaching connections and topics from outside a handler: [`ConnHandle`] and
//! [`Publisher`].
//!
//! Owns: turning a send, close or publish made on any thread into a message on the
//! owning shard's (or every shard's) bounded inbox, and reporting a full inbox as a
//! value instead of blocking. Does not own: what the shard does with it.

use super::handler::ConnectionId;
use crate::ids::ShardId;
use crate::pubsub::bus::{BusMsg, HandleOp, Remote, SendFail, Target};
use crate::pubsub::prepared::Prepared;
use crate::service::ServiceTable;
use bytes::Bytes;
use std::sync::Arc;

/// Why a [`ConnHandle`] call was not queued.
///
/// ```
/// # fn answer(handle: &ringcast::ConnHandle) {
/// match handle.send("done") {
///     Ok(()) => {}
///     Err(ringcast::HandleError::Backpressure) => { /* retry later, or drop it */ }
///     Err(e) => eprintln!("cannot answer: {e}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The owning shard's inbox is full (`limits.bus_capacity_batches`); try later.
    #[error("the connection's shard is overloaded (inbox full)")]
    Backpressure,
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
    /// The connection's transport carries text only.
    #[error("this connection's transport carries text only")]
    BinaryUnsupported,
}

impl From<SendFail> for HandleError {
    fn from(f: SendFail) -> Self {
        match f {
            SendFail::Full => HandleError::Backpressure,
            SendFail::Stopped => HandleError::Stopped,
        }
    }
}

/// A connection, reachable from any thread: `Send + Sync + Clone`.
///
/// Get one with [`Conn::handle`](crate::Conn::handle) and move it to a worker thread or
/// an async task. Calls never block: each queues a message for the connection's shard
/// and returns. Messages from one handle arrive in the order they were sent. A handle of
/// a connection that has closed is harmless: its messages are dropped.
///
/// ```no_run
/// # use ringcast::{Conn, Handler, Message};
/// struct Slow;
/// impl Handler for Slow {
///     type State = ();
///     fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
///         let handle = conn.handle();
///         let question = msg.as_text().unwrap_or_default().to_owned();
///         std::thread::spawn(move || {
///             let answer = question.to_uppercase(); // slow work, off the shard
///             let _ = handle.send(&answer);
///         });
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ConnHandle {
    remote: Arc<Remote>,
    shard: ShardId,
    target: Target,
    id: ConnectionId,
    text_only: bool,
}

impl ConnHandle {
    pub(crate) fn new(
        remote: Arc<Remote>,
        shard: ShardId,
        target: Target,
        id: ConnectionId,
        text_only: bool,
    ) -> ConnHandle {
        ConnHandle { remote, shard, target, id, text_only }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Send a text message.
    pub fn send(&self, text: &str) -> Result<(), HandleError> {
        self.op(HandleOp::Send { payload: Bytes::copy_from_slice(text.as_bytes()), binary: false })
    }

    /// Send a binary message (raw WebSocket only).
    pub fn send_binary(&self, data: &[u8]) -> Result<(), HandleError> {
        if self.text_only {
            return Err(HandleError::BinaryUnsupported);
        }
        self.op(HandleOp::Send { payload: Bytes::copy_from_slice(data), binary: true })
    }

    /// Close the connection (a channel's connection: the channel) with an application code.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), HandleError> {
        self.op(HandleOp::Close { code, reason: reason.to_string() })
    }

    fn op(&self, op: HandleOp) -> Result<(), HandleError> {
        Ok(self.remote.send(self.shard, BusMsg::ToMember { target: self.target, op })?)
    }
}

/// Why a publish was refused.
///
/// ```no_run
/// let server = ringcast::Server::start(ringcast::Config::embedded_default())?;
/// let err = server.publisher().publish("/nowhere", "t", "x").unwrap_err();
/// assert_eq!(err, ringcast::PublishError::UnknownService("/nowhere".into()));
/// # Ok::<(), ringcast::StartError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// No service has this prefix.
    #[error("no service at {0}")]
    UnknownService(String),
    /// The topic is longer than `limits.max_topic_bytes`.
    #[error("topic longer than {max_bytes} bytes")]
    TopicTooLong {
        /// The configured limit.
        max_bytes: usize,
    },
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// What happened to a publish.
///
/// ```no_run
/// # let publisher: ringcast::Publisher = unimplemented!();
/// if let Ok(ringcast::PublishStatus::Backpressured { shards_dropped }) = publisher.publish("/rooms", "t", "x") {
///     eprintln!("{shards_dropped} shards are overloaded; slowing down");
/// }
/// ```
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishStatus {
    /// Queued for every shard.
    Queued,
    /// Some shards' inboxes were full: their members miss this message. Slow down.
    Backpressured {
        /// Shards that did not get the message.
        shards_dropped: usize,
    },
}

/// Publishes to topics from any thread: `Send + Sync + Clone`.
///
/// Get one from [`Server::publisher`](crate::Server::publisher). A publish is encoded
/// once and queued for every shard; it never blocks.
///
/// ```no_run
/// let server = ringcast::App::new(ringcast::Config::embedded_default()).start()?;
/// let publisher = server.publisher();
/// std::thread::spawn(move || {
///     let status = publisher.publish("/rooms", "prices", "ACME 42.0");
///     println!("{status:?}");
/// });
/// # Ok::<(), ringcast::StartError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Publisher {
    remote: Arc<Remote>,
    services: Arc<ServiceTable>,
    max_topic_bytes: usize,
}

impl Publisher {
    pub(crate) fn new(remote: Arc<Remote>, services: Arc<ServiceTable>, max_topic_bytes: usize) -> Publisher {
        Publisher { remote, services, max_topic_bytes }
    }

    /// Publish `text` to `topic` in the topic space of the service at `service` (its
    /// prefix, e.g. `"/rooms"`). Members get it in their protocol's form: a rooms member
    /// `msg,<topic>,<text>`, a handler's subscriber the text alone.
    pub fn publish(&self, service: &str, topic: &str, text: &str) -> Result<PublishStatus, PublishError> {
        let svc =
            self.services.by_prefix(service).ok_or_else(|| PublishError::UnknownService(service.into()))?;
        if topic.len() > self.max_topic_bytes {
            return Err(PublishError::TopicTooLong { max_bytes: self.max_topic_bytes });
        }
        let topic = Bytes::copy_from_slice(topic.as_bytes());
        let p = Prepared::new(svc.space, topic.clone(), topic, Bytes::copy_from_slice(text.as_bytes()));
        let batch: Arc<[Arc<Prepared>]> = Arc::from(vec![p]);
        let mut dropped = 0;
        for shard in 0..self.remote.shards() {
            match self.remote.send(ShardId(shard as u16), BusMsg::Publish(batch.clone())) {
                Ok(()) => {}
                Err(SendFail::Full) => dropped += 1,
                Err(SendFail::Stopped) => return Err(PublishError::Stopped),
            }
        }
        Ok(if dropped == 0 {
            PublishStatus::Queued
        } else {
            PublishStatus::Backpressured { shards_dropped: dropped }
        })
    }
}
