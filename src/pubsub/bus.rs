//! Bounded queues between shards, batched per tick, and the senders other threads use.
//!
//! Owns: each shard's inbox and its senders to every other shard, the per-tick batch
//! of outgoing publishes, request/reply messages between shards, the [`Remote`] that
//! application threads use to reach a shard (publishers, connection handles), and
//! waking a shard through its eventfd. A full queue drops the message and is counted:
//! a shard never blocks on another. Does not own: what a shard does with a message.

use super::prepared::Prepared;
use crate::ids::{Member, ServiceId, ShardId};
use crate::tls::TlsConn;
use bytes::Bytes;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

/// A message to a shard.
#[derive(Debug)]
pub(crate) enum BusMsg {
    /// Publishes made on the sending shard during one tick (or by one `Publisher` call),
    /// in publish order.
    Publish(Arc<[Arc<Prepared>]>),
    /// A connection moved to the shard that owns the SockJS session its request names:
    /// the socket, the bytes already read from it (the request, unparsed, in
    /// plaintext) and its TLS state.
    Adopt { fd: OwnedFd, input: Vec<u8>, tls: Option<Box<TlsConn>> },
    /// An operation on one member of this shard, from a `ConnHandle`.
    ToMember { target: Target, op: HandleOp },
    /// A request whose answer `from` waits for (its waiter is parked under `id`).
    Request { from: ShardId, id: u64, body: Request },
    /// The answer to request `id` of the receiving shard.
    Reply { id: u64, body: Reply },
}

/// Who a `ConnHandle` operation is for: a member, or one channel of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) member: Member,
    pub(crate) channel: Option<ChannelRef>,
}

/// One open channel of a multiplex connection: its index in the service, and the
/// generation that tells this opening from a later one of the same channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelRef {
    pub(crate) index: u16,
    pub(crate) generation: u32,
}

/// What a `ConnHandle` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HandleOp {
    /// Send one message (`binary` only where the transport carries binary).
    Send { payload: Bytes, binary: bool },
    /// Close the connection (or the channel) with an application code.
    Close { code: u16, reason: String },
}

/// A question one shard asks another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// sockjs §6.7: deliver these messages to session `key` of `service`, owned by the
    /// receiving shard (an xhr_send/jsonp_send that arrived elsewhere).
    SockjsSend { service: ServiceId, key: Bytes, messages: Vec<String> },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The messages were handed to the session (or dropped because it is closing,
    /// which the client is told as success, sockjs §6.6).
    SockjsDelivered,
    /// No such session (404).
    SockjsUnknownSession,
}

/// Why a message could not be queued for a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendFail {
    /// The shard's inbox is full.
    Full,
    /// The shard has stopped.
    Stopped,
}

/// The senders application threads use to reach shards.
#[derive(Debug)]
pub(crate) struct Remote {
    peers: Vec<Sender<BusMsg>>,
    wake_fds: Arc<[OwnedFd]>,
}

impl Remote {
    /// Number of shards.
    pub(crate) fn shards(&self) -> usize {
        self.peers.len()
    }

    /// Queue `msg` for `shard` and wake it. Never blocks.
    pub(crate) fn send(&self, shard: ShardId, msg: BusMsg) -> Result<(), SendFail> {
        let Some(peer) = self.peers.get(shard.index()) else { return Err(SendFail::Stopped) };
        match peer.try_send(msg) {
            Ok(()) => {
                wake(&self.wake_fds[shard.index()]);
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(SendFail::Full),
            Err(TrySendError::Disconnected(_)) => Err(SendFail::Stopped),
        }
    }
}

/// One shard's end of the bus.
pub(crate) struct BusEnd {
    shard: usize,
    inbox: Receiver<BusMsg>,
    peers: Vec<Sender<BusMsg>>,
    /// Every shard's eventfd, indexed by shard.
    wake_fds: Arc<[OwnedFd]>,
    /// Publishes made this tick, sent at the end of the tick.
    outgoing: Vec<Arc<Prepared>>,
    /// Shards sent a message this tick that have not been woken yet.
    to_wake: Vec<bool>,
}

/// Build the bus for `wake_fds.len()` shards, each queue holding `capacity` messages:
/// one end per shard, and the [`Remote`] for everyone else.
pub(crate) fn build(wake_fds: Arc<[OwnedFd]>, capacity: usize) -> (Vec<BusEnd>, Arc<Remote>) {
    let n = wake_fds.len();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| bounded(capacity)).unzip();
    let remote = Arc::new(Remote { peers: senders.clone(), wake_fds: wake_fds.clone() });
    let ends = receivers
        .into_iter()
        .enumerate()
        .map(|(shard, inbox)| BusEnd {
            shard,
            inbox,
            peers: senders.clone(),
            wake_fds: wake_fds.clone(),
            outgoing: Vec::new(),
            to_wake: vec![false; n],
        })
        .collect();
    (ends, remote)
}

impl BusEnd {
    /// Number of shards on the bus.
    pub fn shards(&self) -> usize {
        self.peers.len()
    }

    /// This end's shard.
    pub fn shard(&self) -> ShardId {
        ShardId(self.shard as u16)
    }

    /// Queue a publish for every other shard (sent by [`BusEnd::flush`]).
    pub fn publish(&mut self, p: Arc<Prepared>) {
        if self.peers.len() > 1 {
            self.outgoing.push(p);
        }
    }

    /// Move a connection to shard `to` (woken at the end of the tick). On a full queue
    /// the socket comes back as `Err` so the caller can answer it itself.
    pub fn adopt(&mut self, to: ShardId, fd: OwnedFd, input: Vec<u8>, tls: Option<Box<TlsConn>>) -> Result<(), OwnedFd> {
        match self.peers[to.index()].try_send(BusMsg::Adopt { fd, input, tls }) {
            Ok(()) => {
                self.to_wake[to.index()] = true;
                Ok(())
            }
            Err(
                TrySendError::Full(BusMsg::Adopt { fd, .. })
                | TrySendError::Disconnected(BusMsg::Adopt { fd, .. }),
            ) => Err(fd),
            Err(_) => unreachable!("only Adopt was sent"),
        }
    }

    /// Send a request or a reply to shard `to` now (woken at the end of the tick).
    pub fn send(&mut self, to: ShardId, msg: BusMsg) -> Result<(), SendFail> {
        match self.peers[to.index()].try_send(msg) {
            Ok(()) => {
                self.to_wake[to.index()] = true;
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(SendFail::Full),
            Err(TrySendError::Disconnected(_)) => Err(SendFail::Stopped),
        }
    }

    /// Send this tick's batch to every other shard and wake every shard that got a
    /// message. Returns how many shards' queues were full (their batch was dropped).
    pub fn flush(&mut self) -> usize {
        for (i, wake_needed) in self.to_wake.iter_mut().enumerate() {
            if std::mem::take(wake_needed) && (self.outgoing.is_empty() || i == self.shard) {
                wake(&self.wake_fds[i]);
            }
        }
        if self.outgoing.is_empty() {
            return 0;
        }
        let batch: Arc<[Arc<Prepared>]> = self.outgoing.drain(..).collect();
        let mut full = 0;
        for (i, peer) in self.peers.iter().enumerate() {
            if i == self.shard {
                continue;
            }
            match peer.try_send(BusMsg::Publish(batch.clone())) {
                Ok(()) => wake(&self.wake_fds[i]),
                Err(TrySendError::Full(_)) => full += 1,
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        full
    }

    /// Next message from other shards, if any.
    pub fn try_recv(&self) -> Option<BusMsg> {
        self.inbox.try_recv().ok()
    }

    /// This shard's own eventfd (its backend waits on it).
    pub fn own_wake_fd(&self) -> std::os::fd::RawFd {
        self.wake_fds[self.shard].as_raw_fd()
    }

}

/// Increment an eventfd so its shard wakes.
pub(crate) fn wake(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writing 8 bytes to an eventfd we hold open.
    unsafe {
        libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8);
    }
}

/// A new non-blocking eventfd.
pub(crate) fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: eventfd returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and owned by nobody else.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}
