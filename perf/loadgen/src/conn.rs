//! One WebSocket client connection: a non-blocking socket, its WebSocket state (connecting,
//! upgrading, open, closed), and the bytes of a frame not yet complete. It answers pings itself
//! and hands every complete text message to its caller.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::{Registry, Token};

use crate::rng::Rng;
use crate::socket::{ReadEnd, ReadStep, Socket};
use crate::ws;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// TCP connect in progress.
    Connecting,
    /// Upgrade request sent, waiting for the 101 (HTTP transports: for the first response head).
    Upgrading,
    /// WebSocket open (HTTP transports: the first response has started).
    Open,
    /// Closed by the server (EOF, close frame) or after an error.
    Closed,
}

/// A WebSocket client connection.
pub struct Conn {
    socket: Socket,
    pub state: State,
    /// Bytes of an incomplete frame (or response head) carried to the next read.
    pending_in: Vec<u8>,
    /// A fragmented text message being assembled.
    fragments: Vec<u8>,
    in_fragmented: bool,
    expected_accept: String,
    mask_rng: Rng,
}

impl Conn {
    /// Starts a non-blocking connect and queues the upgrade request for `path`.
    pub fn start(addr: SocketAddr, host: &str, path: &str, rng: &mut Rng) -> io::Result<Self> {
        let mut socket = Socket::connect(addr)?;
        let key = ws::new_key(rng);
        ws::write_upgrade_request(socket.out(), host, path, &key);
        Ok(Self {
            socket,
            state: State::Connecting,
            pending_in: Vec::new(),
            fragments: Vec::new(),
            in_fragmented: false,
            expected_accept: ws::accept_for(&key),
            mask_rng: Rng::seeded(rng.next_u64()),
        })
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.socket.register(registry, token)
    }

    /// Drops the connection from the poll set and marks it closed.
    pub fn close(&mut self, registry: &Registry) {
        if self.state != State::Closed {
            self.socket.deregister(registry);
            self.state = State::Closed;
        }
    }

    /// On a writable event: completes the TCP connect if needed, then sends what is pending.
    pub fn on_writable(&mut self) -> io::Result<()> {
        if self.state == State::Connecting {
            if !self.socket.finish_connect()? {
                return Ok(());
            }
            self.state = State::Upgrading;
        }
        self.flush()
    }

    /// Queues one masked text frame (sent by the next `flush`).
    pub fn queue_text(&mut self, text: &[u8]) {
        let mask = self.mask_rng.next_u32().to_ne_bytes();
        ws::write_client_frame(self.socket.out(), ws::OP_TEXT, text, mask);
    }

    pub fn has_pending_out(&self) -> bool {
        self.socket.has_pending_out()
    }

    /// Writes as much pending output as the socket takes.
    pub fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }

    /// Reads until the socket is drained, calling `on_text(message, receive_nanos)` for every
    /// complete text message. `scratch` is shared by all connections; a short read means the
    /// socket is empty (edge-triggered epoll reports any data that arrives later).
    pub fn read_all(
        &mut self,
        scratch: &mut [u8],
        clock: Instant,
        on_text: &mut dyn FnMut(&[u8], u64),
    ) -> Result<ReadEnd, String> {
        loop {
            let n = match self.socket.read_once(scratch)? {
                ReadStep::Data(n) => n,
                ReadStep::Drained => return Ok(ReadEnd::Drained),
                ReadStep::Closed => return Ok(ReadEnd::Closed),
            };
            let now_nanos = clock.elapsed().as_nanos() as u64;
            self.consume(&scratch[..n], now_nanos, on_text)?;
            if self.state == State::Closed {
                return Ok(ReadEnd::Closed);
            }
            if n < scratch.len() {
                return Ok(ReadEnd::Drained);
            }
        }
    }

    /// Processes freshly read bytes together with any carried-over partial frame.
    fn consume(&mut self, fresh: &[u8], now: u64, on_text: &mut dyn FnMut(&[u8], u64)) -> Result<(), String> {
        if self.pending_in.is_empty() {
            let used = self.process(fresh, now, on_text)?;
            self.pending_in.extend_from_slice(&fresh[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.pending_in);
            buf.extend_from_slice(fresh);
            let used = self.process(&buf, now, on_text)?;
            buf.drain(..used);
            self.pending_in = buf;
        }
        Ok(())
    }

    /// Handles the upgrade response and every complete frame in `buf`; returns the bytes used.
    fn process(
        &mut self,
        buf: &[u8],
        now: u64,
        on_text: &mut dyn FnMut(&[u8], u64),
    ) -> Result<usize, String> {
        let mut at = 0;
        if self.state == State::Upgrading {
            match ws::parse_upgrade_response(buf, &self.expected_accept)? {
                None => return Ok(0),
                Some(head) => {
                    at = head;
                    self.state = State::Open;
                }
            }
        }
        while self.state == State::Open {
            let Some((frame, len)) = ws::decode_frame(&buf[at..])? else { break };
            at += len;
            self.on_frame(frame, now, on_text)?;
        }
        Ok(at)
    }

    fn on_frame(
        &mut self,
        f: ws::Frame<'_>,
        now: u64,
        on_text: &mut dyn FnMut(&[u8], u64),
    ) -> Result<(), String> {
        match f.opcode {
            ws::OP_TEXT | ws::OP_BINARY if self.in_fragmented => {
                return Err("data frame inside a fragmented message".into())
            }
            ws::OP_TEXT if f.fin => on_text(f.payload, now),
            ws::OP_TEXT => {
                self.in_fragmented = true;
                self.fragments.extend_from_slice(f.payload);
            }
            ws::OP_CONTINUATION if !self.in_fragmented => return Err("continuation without a start".into()),
            ws::OP_CONTINUATION => {
                self.fragments.extend_from_slice(f.payload);
                if f.fin {
                    on_text(&self.fragments, now);
                    self.fragments.clear();
                    self.in_fragmented = false;
                }
            }
            ws::OP_PING => {
                let mask = self.mask_rng.next_u32().to_ne_bytes();
                ws::write_client_frame(self.socket.out(), ws::OP_PONG, f.payload, mask);
            }
            ws::OP_PONG => {}
            ws::OP_CLOSE => self.state = State::Closed,
            ws::OP_BINARY => return Err("binary frame from the server".into()),
            op => return Err(format!("frame with unknown opcode {op}")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::time::Duration;

    /// A blocking fake server: reads the upgrade request, answers 101, returns the socket.
    fn accept_upgrade(listener: &std::net::TcpListener) -> std::net::TcpStream {
        let (server, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(server.try_clone().unwrap());
        let mut key = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(k) = line.strip_prefix("Sec-WebSocket-Key: ") {
                key = k.trim().to_string();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut s = server;
        let accept = ws::accept_for(&key);
        write!(s, "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").unwrap();
        s
    }

    #[test]
    fn upgrades_answers_pings_and_assembles_fragments() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut rng = Rng::seeded(5);
        let mut conn = Conn::start(listener.local_addr().unwrap(), "h", "/p", &mut rng).unwrap();
        while conn.state == State::Connecting {
            conn.on_writable().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut server = accept_upgrade(&listener);
        server.write_all(&[0x89, 0x02, b'h', b'i', 0x01, 0x02, b'a', b'b', 0x80, 0x01, b'c']).unwrap();
        let mut texts = Vec::new();
        let mut scratch = vec![0u8; 4096];
        for _ in 0..1000 {
            conn.read_all(&mut scratch, Instant::now(), &mut |t, _| texts.push(t.to_vec())).unwrap();
            if !texts.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(conn.state, State::Open);
        assert_eq!(texts, vec![b"abc".to_vec()]);
        conn.flush().unwrap();
        let mut pong = [0u8; 8];
        server.read_exact(&mut pong).unwrap();
        assert_eq!(&pong[..2], &[0x8A, 0x82]);
        let unmasked = [pong[6] ^ pong[2], pong[7] ^ pong[3]];
        assert_eq!(&unmasked, b"hi");
    }
}
