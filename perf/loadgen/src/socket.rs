//! The non-blocking TCP client socket under every connection type: the connect in progress,
//! the bytes the kernel has not taken yet, one `read` at a time, and the abortive close
//! (`SO_LINGER 0`, so runs leave no TIME_WAIT sockets behind) when it is dropped.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::sys;

/// How a read pass over a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Nothing more to read for now.
    Drained,
    /// The server closed the connection.
    Closed,
}

/// The result of one `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStep {
    /// This many bytes are at the start of the scratch buffer.
    Data(usize),
    /// The socket is empty.
    Drained,
    /// EOF or reset.
    Closed,
}

/// A client socket.
pub struct Socket {
    stream: TcpStream,
    connected: bool,
    /// Bytes the socket has not accepted yet.
    pending_out: Vec<u8>,
}

impl Socket {
    /// Starts a non-blocking connect.
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self { stream: TcpStream::connect(addr)?, connected: false, pending_out: Vec::with_capacity(256) })
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.stream, token, Interest::READABLE | Interest::WRITABLE)
    }

    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }

    /// On a writable event: true once the connect has completed (now or earlier).
    pub fn finish_connect(&mut self) -> io::Result<bool> {
        if self.connected {
            return Ok(true);
        }
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
            Err(e) => return Err(e),
        }
        self.stream.set_nodelay(true)?;
        self.connected = true;
        Ok(true)
    }

    /// The output queue: bytes appended here go out with the next `flush`.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.pending_out
    }

    pub fn has_pending_out(&self) -> bool {
        !self.pending_out.is_empty()
    }

    /// Writes as much pending output as the socket takes (nothing before the connect completes).
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.connected {
            return Ok(());
        }
        let mut sent = 0;
        while sent < self.pending_out.len() {
            match self.stream.write(&self.pending_out[sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pending_out.drain(..sent);
        Ok(())
    }

    /// One `read` into `scratch`.
    pub fn read_once(&mut self, scratch: &mut [u8]) -> Result<ReadStep, String> {
        loop {
            return match self.stream.read(scratch) {
                Ok(0) => Ok(ReadStep::Closed),
                Ok(n) => Ok(ReadStep::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadStep::Drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(ReadStep::Closed),
                Err(e) => Err(format!("read: {e}")),
            };
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        sys::set_linger_zero(&self.stream);
    }
}
