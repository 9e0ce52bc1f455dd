//! SockJS over HTTP/1.1 (spec §6, §7.2). `XhrStream` is the receiver a subscriber keeps open: a
//! `POST …/xhr_streaming` whose chunked response carries the 2048-byte `h` prelude and then one
//! frame per line (`o`, `h`, `a[...]`, `c[...]`). The server ends a response once it has carried
//! `response_limit` bytes; the stream then re-POSTs on the same keep-alive connection (or on a
//! new one if the server closed it between responses), and the server delivers what it queued
//! meanwhile on the next response. `XhrSend` is a short-lived connection carrying one
//! `POST …/xhr_send` (a subscriber's `sub` message) and waiting for its status.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::{Registry, Token};

use crate::conn::State;
use crate::http::{self, Body, Head};
use crate::socket::{ReadEnd, ReadStep, Socket};

/// The xhr_streaming prelude: this many `h` before its `\n` (§7.2).
const PRELUDE_BYTES: usize = 2048;
/// Longest frame line accepted.
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Where the receiving connection is.
enum Phase {
    /// TCP connect in progress (first connect or a reconnect); the POST is queued.
    Connecting,
    /// POST sent, waiting for (the rest of) a response head.
    Head,
    /// Inside a response body.
    Body(Body),
    Closed,
}

/// A subscriber's SockJS xhr_streaming receiver.
pub struct XhrStream {
    socket: Socket,
    addr: SocketAddr,
    /// The POST that opens each streaming response.
    request: Vec<u8>,
    send_path: String,
    phase: Phase,
    /// A partial response head carried to the next read.
    head_buf: Vec<u8>,
    lines: Lines,
    /// The current response's prelude line has not been read yet.
    in_prelude: bool,
    /// The current response said `Connection: close`.
    close_after: bool,
    /// A response head has been received (the transport is established).
    started: bool,
    /// Responses received to their end (each ended by `response_limit` or a close frame).
    pub responses: u64,
    /// New TCP connections made because the server closed one between responses.
    pub reconnects: u64,
}

impl XhrStream {
    /// Starts a connect and queues `POST path`; `path` ends in `/xhr_streaming`.
    pub fn start(addr: SocketAddr, host: &str, path: &str) -> io::Result<Self> {
        let mut request = Vec::with_capacity(256);
        http::write_post(&mut request, host, path, b"");
        let mut socket = Socket::connect(addr)?;
        socket.out().extend_from_slice(&request);
        Ok(Self {
            socket,
            addr,
            request,
            send_path: sibling_path(path, "xhr_send"),
            phase: Phase::Connecting,
            head_buf: Vec::new(),
            lines: Lines::default(),
            in_prelude: false,
            close_after: false,
            started: false,
            responses: 0,
            reconnects: 0,
        })
    }

    /// `…/<server>/<session>/xhr_send` of this session.
    pub fn send_path(&self) -> &str {
        &self.send_path
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.socket.register(registry, token)
    }

    pub fn close(&mut self, registry: &Registry) {
        if !matches!(self.phase, Phase::Closed) {
            self.socket.deregister(registry);
            self.phase = Phase::Closed;
        }
    }

    /// The connection's life in WebSocket terms: `Upgrading` until the first response head.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Closed => State::Closed,
            Phase::Connecting if !self.started => State::Connecting,
            _ if !self.started => State::Upgrading,
            _ => State::Open,
        }
    }

    /// On a writable event: completes the TCP connect if needed, then sends what is pending.
    pub fn on_writable(&mut self) -> io::Result<()> {
        if matches!(self.phase, Phase::Connecting) {
            if !self.socket.finish_connect()? {
                return Ok(());
            }
            self.phase = Phase::Head;
        }
        self.socket.flush()
    }

    pub fn has_pending_out(&self) -> bool {
        self.socket.has_pending_out()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }

    /// True when the server closed the connection between two responses: nothing is lost, and a
    /// new connection can carry the next POST (`reconnect`).
    pub fn resumable(&self) -> bool {
        matches!(self.phase, Phase::Head) && self.head_buf.is_empty() && self.responses > 0
    }

    /// Replaces the connection with a new one (same token) that re-POSTs xhr_streaming.
    pub fn reconnect(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.socket.deregister(registry);
        self.socket = Socket::connect(self.addr)?;
        self.socket.out().extend_from_slice(&self.request);
        self.socket.register(registry, token)?;
        self.phase = Phase::Connecting;
        self.reconnects += 1;
        Ok(())
    }

    /// Reads until the socket is drained, calling `on_frame(frame, receive_nanos)` for every SockJS
    /// frame (one line without its `\n`), and re-POSTs when a response ends.
    pub fn read_all(
        &mut self,
        scratch: &mut [u8],
        clock: Instant,
        on_frame: &mut dyn FnMut(&[u8], u64),
    ) -> Result<ReadEnd, String> {
        loop {
            let n = match self.socket.read_once(scratch)? {
                ReadStep::Data(n) => n,
                ReadStep::Drained => return Ok(ReadEnd::Drained),
                ReadStep::Closed => return Ok(ReadEnd::Closed),
            };
            let now_nanos = clock.elapsed().as_nanos() as u64;
            self.consume(&scratch[..n], now_nanos, on_frame)?;
            if n < scratch.len() {
                return Ok(ReadEnd::Drained);
            }
        }
    }

    /// Processes freshly read bytes: response heads and body bytes, possibly several responses.
    fn consume(
        &mut self,
        fresh: &[u8],
        now: u64,
        on_frame: &mut dyn FnMut(&[u8], u64),
    ) -> Result<(), String> {
        let mut at = 0;
        while at < fresh.len() {
            at += match self.phase {
                Phase::Head => self.take_head(&fresh[at..])?,
                Phase::Body(_) => self.take_body(&fresh[at..], now, on_frame)?,
                Phase::Connecting | Phase::Closed => {
                    return Err("xhr_streaming: data without a request".into())
                }
            };
        }
        Ok(())
    }

    /// Reads (part of) a response head from `buf`; returns the bytes used.
    fn take_head(&mut self, buf: &[u8]) -> Result<usize, String> {
        let carried = self.head_buf.len();
        let parsed = if carried == 0 {
            http::parse_head(buf)?
        } else {
            self.head_buf.extend_from_slice(buf);
            http::parse_head(&self.head_buf)?
        };
        let Some(head) = parsed else {
            if carried == 0 {
                self.head_buf.extend_from_slice(buf);
            }
            return Ok(buf.len());
        };
        self.head_buf.clear();
        self.start_response(head)?;
        Ok(head.len_bytes - carried)
    }

    fn start_response(&mut self, head: Head) -> Result<(), String> {
        if head.status != 200 {
            return Err(format!("xhr_streaming answered HTTP {}", head.status));
        }
        self.phase = Phase::Body(Body::new(head.framing));
        self.in_prelude = true;
        self.close_after = head.close;
        self.started = true;
        Ok(())
    }

    /// Passes body bytes of `buf` through the line splitter; returns the bytes used.
    fn take_body(
        &mut self,
        buf: &[u8],
        now: u64,
        on_frame: &mut dyn FnMut(&[u8], u64),
    ) -> Result<usize, String> {
        let Phase::Body(body) = &mut self.phase else { unreachable!("take_body outside a body") };
        let (lines, in_prelude) = (&mut self.lines, &mut self.in_prelude);
        let fed = body
            .feed(buf, &mut |data| lines.feed(data, &mut |line| on_line(line, in_prelude, now, on_frame)))?;
        if fed.done {
            self.end_response()?;
        }
        Ok(fed.used_bytes)
    }

    /// The server ended a response: ask for the next one (unless it is closing the connection).
    fn end_response(&mut self) -> Result<(), String> {
        if self.in_prelude || !self.lines.is_empty() {
            return Err("xhr_streaming response ended inside its prelude or a frame".into());
        }
        self.responses += 1;
        self.phase = Phase::Head;
        if !self.close_after {
            self.socket.out().extend_from_slice(&self.request);
        }
        Ok(())
    }
}

/// One line of a streaming body: the prelude (checked, skipped) or a frame.
fn on_line(
    line: &[u8],
    in_prelude: &mut bool,
    now: u64,
    on_frame: &mut dyn FnMut(&[u8], u64),
) -> Result<(), String> {
    if !std::mem::take(in_prelude) {
        on_frame(line, now);
        return Ok(());
    }
    if line.len() == PRELUDE_BYTES && line.iter().all(|&b| b == b'h') {
        Ok(())
    } else {
        Err(format!("xhr_streaming response starts with a {}-byte line, not the prelude", line.len()))
    }
}

/// `…/<server>/<session>/<transport>` with the last segment replaced.
fn sibling_path(path: &str, transport: &str) -> String {
    match path.rfind('/') {
        Some(i) => format!("{}/{transport}", &path[..i]),
        None => transport.to_string(),
    }
}

/// Splits a byte stream into `\n`-terminated lines, copying only an incomplete last line.
#[derive(Debug, Default)]
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    fn feed(
        &mut self,
        data: &[u8],
        on_line: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                on_line(&rest[..i])?;
            } else {
                self.partial.extend_from_slice(&rest[..i]);
                on_line(&self.partial)?;
                self.partial.clear();
            }
            rest = &rest[i + 1..];
        }
        if self.partial.len() + rest.len() > MAX_LINE_BYTES {
            return Err(format!("xhr_streaming frame longer than {MAX_LINE_BYTES} bytes"));
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.partial.is_empty()
    }
}

/// One `POST …/xhr_send` on its own connection.
pub struct XhrSend {
    socket: Socket,
    head_buf: Vec<u8>,
}

impl XhrSend {
    /// Starts a connect and queues the POST of `body` (a JSON array of messages) to `path`.
    pub fn start(addr: SocketAddr, host: &str, path: &str, body: &[u8]) -> io::Result<Self> {
        let mut socket = Socket::connect(addr)?;
        http::write_post(socket.out(), host, path, body);
        Ok(Self { socket, head_buf: Vec::new() })
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.socket.register(registry, token)
    }

    pub fn close(&mut self, registry: &Registry) {
        self.socket.deregister(registry);
    }

    pub fn on_writable(&mut self) -> io::Result<()> {
        if self.socket.finish_connect()? {
            self.socket.flush()?;
        }
        Ok(())
    }

    /// Reads the answer: `Ok(None)` until its head is complete, then its status code.
    pub fn read_status(&mut self, scratch: &mut [u8]) -> Result<Option<u16>, String> {
        loop {
            match self.socket.read_once(scratch)? {
                ReadStep::Data(n) => self.head_buf.extend_from_slice(&scratch[..n]),
                ReadStep::Drained => return Ok(None),
                ReadStep::Closed => return Err("xhr_send: connection closed before the answer".into()),
            }
            if let Some(head) = http::parse_head(&self.head_buf)? {
                return Ok(Some(head.status));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    fn lines_of(pieces: &[&[u8]]) -> Vec<String> {
        let mut l = Lines::default();
        let mut out = Vec::new();
        for p in pieces {
            l.feed(p, &mut |line| {
                out.push(String::from_utf8_lossy(line).into_owned());
                Ok(())
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn splits_lines_across_pieces() {
        assert_eq!(lines_of(&[b"o\na[\"x", b"y\"]\n", b"h\n"]), ["o", "a[\"xy\"]", "h"]);
        assert_eq!(lines_of(&[b"a", b"b", b"\n"]), ["ab"]);
    }

    #[test]
    fn sibling_paths() {
        assert_eq!(sibling_path("/rooms/000/abc/xhr_streaming", "xhr_send"), "/rooms/000/abc/xhr_send");
    }

    fn chunk(out: &mut Vec<u8>, data: &[u8]) {
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }

    /// A response of the fake server: head, prelude, the frames, and the last chunk.
    fn response(frames: &[&str]) -> Vec<u8> {
        let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let mut prelude = vec![b'h'; PRELUDE_BYTES];
        prelude.push(b'\n');
        chunk(&mut out, &prelude);
        for f in frames {
            chunk(&mut out, format!("{f}\n").as_bytes());
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    /// Reads one request (head and empty body) from the fake server's side.
    fn read_request(server: &mut std::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while http::find_head_end(&buf).is_none() {
            server.read_exact(&mut byte).unwrap();
            buf.push(byte[0]);
        }
        String::from_utf8(buf).unwrap()
    }

    /// Drives the stream until it has read `responses` complete responses (and flushed the re-POST).
    fn pump(stream: &mut XhrStream, frames: &mut Vec<String>, responses: u64) {
        let mut scratch = vec![0u8; 64];
        for _ in 0..2000 {
            stream.on_writable().unwrap();
            stream
                .read_all(&mut scratch, Instant::now(), &mut |f, _| {
                    frames.push(String::from_utf8_lossy(f).into_owned())
                })
                .unwrap();
            if stream.responses >= responses {
                stream.flush().unwrap();
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("only {} of {responses} responses", stream.responses);
    }

    #[test]
    fn streams_and_reposts_when_a_response_ends() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let path = "/rooms/000/abcdefgh/xhr_streaming";
        let mut stream = XhrStream::start(listener.local_addr().unwrap(), "h", path).unwrap();
        assert_eq!(stream.send_path(), "/rooms/000/abcdefgh/xhr_send");
        stream.on_writable().unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut frames = Vec::new();
        pump(&mut stream, &mut frames, 0);
        assert!(read_request(&mut server).starts_with(&format!("POST {path} HTTP/1.1\r\n")));
        server.write_all(&response(&["o", "a[\"1\"]"])).unwrap();
        pump(&mut stream, &mut frames, 1);
        assert_eq!(stream.state(), State::Open);
        assert!(read_request(&mut server).starts_with("POST "));
        server.write_all(&response(&["a[\"2\",\"3\"]", "c[3000,\"Go away!\"]"])).unwrap();
        pump(&mut stream, &mut frames, 2);
        assert_eq!(frames, ["o", "a[\"1\"]", "a[\"2\",\"3\"]", "c[3000,\"Go away!\"]"]);
        assert_eq!(stream.responses, 2);
        assert!(stream.resumable());
    }
}
