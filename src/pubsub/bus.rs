//! Bounded queues between shards, batched per tick.
//!
//! Owns: each shard's inbox and its senders to every other shard, the per-tick batch
//! of outgoing publishes, and waking a peer through its eventfd. A full queue drops the
//! batch and is counted: a shard never blocks on another. Does not own: what a shard
//! does with a message it receives.

use super::prepared::Prepared;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

/// A message between shards.
#[derive(Debug)]
pub enum BusMsg {
    /// Publishes made on the sending shard during one tick, in publish order.
    Publish(Arc<[Arc<Prepared>]>),
    /// A connection moved to the shard that owns the SockJS session its request names:
    /// the socket and the bytes already read from it (the request, unparsed).
    Adopt { fd: OwnedFd, input: Vec<u8> },
}

/// One shard's end of the bus.
pub struct BusEnd {
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

/// Build the bus for `wake_fds.len()` shards, each queue holding `capacity` batches.
pub fn build(wake_fds: Arc<[OwnedFd]>, capacity: usize) -> Vec<BusEnd> {
    let n = wake_fds.len();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| bounded(capacity)).unzip();
    receivers
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
        .collect()
}

impl BusEnd {
    /// Number of shards on the bus.
    pub fn shards(&self) -> usize {
        self.peers.len()
    }

    /// Queue a publish for every other shard (sent by [`BusEnd::flush`]).
    pub fn publish(&mut self, p: Arc<Prepared>) {
        if self.peers.len() > 1 {
            self.outgoing.push(p);
        }
    }

    /// Move a connection to shard `to` (woken at the end of the tick). On a full queue
    /// the socket comes back as `Err` so the caller can answer it itself.
    pub fn adopt(&mut self, to: usize, fd: OwnedFd, input: Vec<u8>) -> Result<(), OwnedFd> {
        match self.peers[to].try_send(BusMsg::Adopt { fd, input }) {
            Ok(()) => {
                self.to_wake[to] = true;
                Ok(())
            }
            Err(
                TrySendError::Full(BusMsg::Adopt { fd, .. })
                | TrySendError::Disconnected(BusMsg::Adopt { fd, .. }),
            ) => Err(fd),
            Err(_) => unreachable!("only Adopt was sent"),
        }
    }

    /// Send this tick's batch to every other shard and wake every shard that got a
    /// message. Returns how many shards' queues were full (their batch was dropped).
    pub fn flush(&mut self) -> usize {
        for (i, wake_needed) in self.to_wake.iter_mut().enumerate() {
            if std::mem::take(wake_needed) && self.outgoing.is_empty() {
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

    /// Wake every shard (shutdown).
    pub fn wake_all(&self) {
        self.wake_fds.iter().for_each(wake);
    }
}

/// Increment an eventfd so its shard wakes.
pub fn wake(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writing 8 bytes to an eventfd we hold open.
    unsafe {
        libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8);
    }
}

/// A new non-blocking eventfd.
pub fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: eventfd returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and owned by nobody else.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}
