//! The HTTP/1.1 client pieces of SockJS's HTTP transports, sans I/O: POST requests, response
//! heads, and a push decoder for response bodies framed by `Content-Length` or
//! `Transfer-Encoding: chunked` that hands out body bytes as they arrive.

/// Largest server response head accepted.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 16 * 1024;
/// Most hex digits accepted in a chunk size (2^60 bytes is plenty).
const MAX_CHUNK_SIZE_DIGITS: u8 = 15;

/// Appends a keep-alive `POST` with a `text/plain` body (SockJS accepts JSON sends as text/plain).
pub fn write_post(out: &mut Vec<u8>, host: &str, path: &str, body: &[u8]) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain;charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
}

/// The offset of the `\r\n\r\n` that ends a head, if it is in `buf`.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes of the head, final empty line included.
    pub len_bytes: usize,
    pub framing: Framing,
    /// `Connection: close`: the server ends the connection after this response.
    pub close: bool,
}

/// Parses the response head at the start of `buf`: `Ok(None)` while it is incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = find_head_end(buf) else {
        if buf.len() > MAX_RESPONSE_HEAD_BYTES {
            return Err("HTTP response head too large".into());
        }
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = parse_status(status_line)?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    for (name, value) in lines.filter_map(|l| l.split_once(':')) {
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<u64>().map_err(|_| format!("bad Content-Length {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.to_ascii_lowercase().contains("close");
        }
    }
    let framing = framing(status, chunked, length).ok_or_else(|| {
        format!(
            "{status_line:?} without Content-Length or chunked encoding (read-until-close is not supported)"
        )
    })?;
    Ok(Some(Head { status, len_bytes: end + 4, framing, close }))
}

fn parse_status(line: &str) -> Result<u16, String> {
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next().unwrap_or("");
    let code = parts.next().and_then(|c| c.parse().ok());
    match code {
        Some(code) if version.starts_with("HTTP/1.") => Ok(code),
        _ => Err(format!("bad HTTP status line {line:?}")),
    }
}

fn framing(status: u16, chunked: bool, length: Option<u64>) -> Option<Framing> {
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Some(Framing::Length(0));
    }
    if chunked {
        return Some(Framing::Chunked);
    }
    length.map(Framing::Length)
}

/// What `Body::feed` did with its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Input bytes that belonged to this body; the rest starts the next response.
    pub used_bytes: usize,
    /// The body is complete.
    pub done: bool,
}

/// A response body being received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Length { left_bytes: u64 },
    Chunked(Dechunker),
}

impl Body {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Length(n) => Body::Length { left_bytes: n },
            Framing::Chunked => Body::Chunked(Dechunker::default()),
        }
    }

    /// Consumes body bytes from `buf`, passing the payload bytes to `on_data`.
    pub fn feed(
        &mut self,
        buf: &[u8],
        on_data: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<Fed, String> {
        match self {
            Body::Length { left_bytes } => {
                let n = buf.len().min(usize::try_from(*left_bytes).unwrap_or(usize::MAX));
                if n > 0 {
                    on_data(&buf[..n])?;
                }
                *left_bytes -= n as u64;
                Ok(Fed { used_bytes: n, done: *left_bytes == 0 })
            }
            Body::Chunked(d) => d.feed(buf, on_data),
        }
    }
}

/// Where the chunked decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkState {
    /// Hex digits of a chunk size.
    #[default]
    Size,
    /// Chunk extensions or whitespace after the size, up to `\r`.
    SizeTail,
    /// The `\n` that ends the size line.
    SizeLf,
    /// Chunk data.
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (after the last chunk); `\r` there ends the body.
    TrailerStart,
    TrailerLine,
    EndLf,
    Done,
}

/// A push decoder for `Transfer-Encoding: chunked`; keeps no copy of the data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dechunker {
    state: ChunkState,
    /// The chunk size being read, then the data bytes left in the chunk.
    size_bytes: u64,
    digits: u8,
}

impl Dechunker {
    /// Consumes bytes up to the end of the body, passing chunk data to `on_data`.
    pub fn feed(
        &mut self,
        buf: &[u8],
        on_data: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<Fed, String> {
        let mut at = 0;
        while at < buf.len() && self.state != ChunkState::Done {
            if self.state == ChunkState::Data {
                let n = (buf.len() - at).min(usize::try_from(self.size_bytes).unwrap_or(usize::MAX));
                on_data(&buf[at..at + n])?;
                at += n;
                self.size_bytes -= n as u64;
                if self.size_bytes == 0 {
                    self.state = ChunkState::DataCr;
                }
            } else {
                self.step(buf[at])?;
                at += 1;
            }
        }
        Ok(Fed { used_bytes: at, done: self.state == ChunkState::Done })
    }

    /// One byte of framing (everything but chunk data).
    fn step(&mut self, b: u8) -> Result<(), String> {
        use ChunkState::*;
        self.state = match (self.state, b) {
            (Size, _) if (b as char).is_ascii_hexdigit() => return self.size_digit(b),
            (Size, _) if self.digits == 0 => return Err(format!("chunk size starts with byte {b:#04x}")),
            (Size | SizeTail, b'\r') => SizeLf,
            (Size | SizeTail, _) => SizeTail,
            (SizeLf, b'\n') => self.after_size_line(),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size,
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart | TrailerLine, b'\n') => TrailerStart,
            (TrailerStart | TrailerLine, _) => TrailerLine,
            (EndLf, b'\n') => Done,
            (s, _) => return Err(format!("bad chunked encoding: byte {b:#04x} in state {s:?}")),
        };
        Ok(())
    }

    fn size_digit(&mut self, b: u8) -> Result<(), String> {
        if self.digits >= MAX_CHUNK_SIZE_DIGITS {
            return Err("chunk size too large".into());
        }
        let value = (b as char).to_digit(16).expect("checked hex digit");
        self.size_bytes = self.size_bytes * 16 + u64::from(value);
        self.digits += 1;
        Ok(())
    }

    fn after_size_line(&mut self) -> ChunkState {
        self.digits = 0;
        if self.size_bytes == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the data and the bytes used.
    fn dechunk(input: &[u8], step: usize) -> (Vec<u8>, usize, bool) {
        let mut d = Dechunker::default();
        let (mut data, mut used, mut done) = (Vec::new(), 0, false);
        for piece in input.chunks(step) {
            let fed = d
                .feed(piece, &mut |b| {
                    data.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            used += fed.used_bytes;
            done = fed.done;
            if done {
                break;
            }
        }
        (data, used, done)
    }

    #[test]
    fn dechunks_in_any_split() {
        let body = b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, 100] {
            let (data, used, done) = dechunk(body, step);
            assert_eq!(data, b"hello 0123456789", "step {step}");
            assert!(done);
            assert_eq!(used, body.len() - b"NEXT".len());
        }
    }

    #[test]
    fn dechunk_trailers_and_errors() {
        let (data, _, done) = dechunk(b"2\r\nab\r\n0\r\nX-T: 1\r\n\r\n", 4);
        assert_eq!((data.as_slice(), done), (&b"ab"[..], true));
        let mut d = Dechunker::default();
        assert!(d.feed(b"zz\r\n", &mut |_| Ok(())).is_err());
        let mut d = Dechunker::default();
        assert!(d.feed(b"1\r\naXY", &mut |_| Ok(())).is_err());
    }

    #[test]
    fn parses_heads() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n801\r\n").unwrap().unwrap();
        assert_eq!((h.status, h.len_bytes, h.framing, h.close), (200, 47, Framing::Chunked, false));
        let h = parse_head(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.framing, h.close), (Framing::Length(0), true));
        let h = parse_head(b"HTTP/1.1 404 Not Found\r\ncontent-length: 26\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.framing, Framing::Length(26));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn length_body_stops_at_its_end() {
        let mut b = Body::new(Framing::Length(3));
        let mut seen = Vec::new();
        let fed = b
            .feed(b"abcdef", &mut |d| {
                seen.extend_from_slice(d);
                Ok(())
            })
            .unwrap();
        assert_eq!((fed, seen.as_slice()), (Fed { used_bytes: 3, done: true }, &b"abc"[..]));
    }

    #[test]
    fn post_request() {
        let mut out = Vec::new();
        write_post(&mut out, "h:1", "/a/b", b"[\"x\"]");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("POST /a/b HTTP/1.1\r\nHost: h:1\r\n"));
        assert!(text.ends_with("Content-Length: 5\r\n\r\n[\"x\"]"));
    }
}
