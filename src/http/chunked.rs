//! Incremental decoding of a `Transfer-Encoding: chunked` request body (RFC 9112 §7.1).
//!
//! Owns: a small state machine that is fed the body's bytes as they arrive, in any
//! split, and looks at each byte once (O(body) whatever the read sizes), the caps on
//! chunk extensions and trailers, and the body-size limit. Chunk extensions and trailer
//! fields are checked for framing and skipped: ringcast acts on neither. Does not own:
//! the request head, or where the bytes are kept (the caller keeps the raw request).

use crate::error::HttpError;

/// Total bytes of chunk extensions (everything between a chunk size and its CRLF) in
/// one body. ringcast reads no extension, and each extension byte is held with the raw
/// request until the body is complete; a total cap, rather than one per chunk, also
/// bounds many small chunks that each carry a short extension.
pub const MAX_CHUNK_EXT_BYTES: usize = 4096;

/// Total bytes of the trailer section (every trailer line, CRLFs included). ringcast
/// reads no trailer field; this is half the default request-head limit, so endless
/// trailer lines are cut off after a few KiB.
pub const MAX_TRAILER_BYTES: usize = 4096;

/// Hex digits in a chunk size: 8 allows chunks of up to 4 GiB, far above any body limit.
const MAX_SIZE_DIGITS: u8 = 8;

/// Where the decoder is within the chunked framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Reading the hex digits of a chunk size.
    Size { value: usize, digits: u8 },
    /// After the digits: optional whitespace before a `;`.
    ExtStart { value: usize },
    /// After the `;`: extension bytes until CR.
    Ext { value: usize },
    /// CR of the size line seen; LF expected.
    SizeLf { value: usize },
    /// Chunk data still to come.
    Data { remaining: usize },
    /// CRLF after chunk data; `cr` once the CR is seen.
    DataEnd { cr: bool },
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart,
    /// Inside a non-empty trailer line.
    Trailer,
    /// CR seen at the end of a trailer line; `empty` if it ends the trailer section.
    TrailerLf { empty: bool },
    /// The body is complete.
    Done,
}

/// Decoder state for one chunked body, kept between reads.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    step: Step,
    body: Vec<u8>,
    max_body_bytes: usize,
    ext_bytes: usize,
    trailer_bytes: usize,
    /// Input bytes looked at so far (each at most once): the decoder's work.
    examined_bytes: u64,
}

impl ChunkedDecoder {
    /// A decoder for a body of at most `max_body_bytes` decoded bytes.
    pub fn new(max_body_bytes: usize) -> Self {
        ChunkedDecoder {
            step: Step::Size { value: 0, digits: 0 },
            body: Vec::new(),
            max_body_bytes,
            ext_bytes: 0,
            trailer_bytes: 0,
            examined_bytes: 0,
        }
    }

    /// Decode the next bytes of the body. Returns how many were used: all of `input`
    /// until the body is complete, then only those up to its end (the rest is the next
    /// request). An error leaves the decoder unusable (the connection is refused).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, HttpError> {
        let mut at = 0;
        while at < input.len() && self.step != Step::Done {
            at += self.advance(&input[at..])?;
        }
        self.examined_bytes += at as u64;
        Ok(at)
    }

    /// Whether the final chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// The decoded body (complete once [`ChunkedDecoder::is_done`]).
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Input bytes looked at so far; never more than the bytes fed.
    pub fn examined_bytes(&self) -> u64 {
        self.examined_bytes
    }

    /// One step on non-empty `input`; returns the bytes used (at least one).
    fn advance(&mut self, input: &[u8]) -> Result<usize, HttpError> {
        match self.step {
            Step::Data { remaining } => return Ok(self.data(input, remaining)),
            Step::Ext { value } => return self.ext(input, value),
            Step::Trailer => return self.trailer(input),
            _ => {}
        }
        self.step = self.byte(input[0])?;
        Ok(1)
    }

    /// The framing steps that look at a single byte.
    fn byte(&mut self, b: u8) -> Result<Step, HttpError> {
        Ok(match (self.step, b) {
            (Step::Size { value, digits }, _) if b.is_ascii_hexdigit() => self.digit(value, digits, b)?,
            (Step::Size { digits: 0, .. }, _) => return Err(HttpError::Malformed),
            (Step::Size { value, .. } | Step::ExtStart { value }, b'\r') => Step::SizeLf { value },
            (Step::Size { value, .. } | Step::ExtStart { value }, b' ' | b'\t') => {
                self.count_ext(1)?;
                Step::ExtStart { value }
            }
            (Step::Size { value, .. } | Step::ExtStart { value }, b';') => {
                self.count_ext(1)?;
                Step::Ext { value }
            }
            (Step::SizeLf { value }, b'\n') => self.chunk_start(value)?,
            (Step::DataEnd { cr: false }, b'\r') => Step::DataEnd { cr: true },
            (Step::DataEnd { cr: true }, b'\n') => Step::Size { value: 0, digits: 0 },
            (Step::TrailerStart, b'\r') => self.trailer_cr(true)?,
            (Step::TrailerStart, b'\n') => return Err(HttpError::Malformed),
            (Step::TrailerStart, _) => {
                self.count_trailer(1)?;
                Step::Trailer
            }
            (Step::TrailerLf { empty: true }, b'\n') => Step::Done,
            (Step::TrailerLf { empty: false }, b'\n') => {
                self.count_trailer(1)?;
                Step::TrailerStart
            }
            _ => return Err(HttpError::Malformed),
        })
    }

    fn digit(&mut self, value: usize, digits: u8, b: u8) -> Result<Step, HttpError> {
        if digits == MAX_SIZE_DIGITS {
            return Err(HttpError::Malformed);
        }
        let d = (b as char).to_digit(16).unwrap_or(0) as usize;
        Ok(Step::Size { value: value << 4 | d, digits: digits + 1 })
    }

    /// The size line is complete: a chunk of `size` bytes, or the last chunk.
    fn chunk_start(&mut self, size: usize) -> Result<Step, HttpError> {
        if size == 0 {
            return Ok(Step::TrailerStart);
        }
        if size > self.max_body_bytes.saturating_sub(self.body.len()) {
            return Err(HttpError::BodyTooLarge);
        }
        self.body.reserve(size);
        Ok(Step::Data { remaining: size })
    }

    fn data(&mut self, input: &[u8], remaining: usize) -> usize {
        let n = remaining.min(input.len());
        self.body.extend_from_slice(&input[..n]);
        self.step = if n == remaining { Step::DataEnd { cr: false } } else { Step::Data { remaining: remaining - n } };
        n
    }

    /// Extension bytes up to (not including) the CR that ends the size line.
    fn ext(&mut self, input: &[u8], value: usize) -> Result<usize, HttpError> {
        let end = input.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(input.len());
        self.count_ext(end)?;
        if end == input.len() {
            return Ok(end);
        }
        if input[end] == b'\n' {
            return Err(HttpError::Malformed); // a bare LF
        }
        self.step = Step::SizeLf { value };
        Ok(end + 1)
    }

    /// Trailer-line bytes up to and including the CR that ends the line.
    fn trailer(&mut self, input: &[u8]) -> Result<usize, HttpError> {
        let end = input.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(input.len());
        self.count_trailer(end)?;
        if end == input.len() {
            return Ok(end);
        }
        if input[end] == b'\n' {
            return Err(HttpError::Malformed); // a bare LF
        }
        self.step = self.trailer_cr(false)?;
        Ok(end + 1)
    }

    fn trailer_cr(&mut self, empty: bool) -> Result<Step, HttpError> {
        self.count_trailer(1)?;
        Ok(Step::TrailerLf { empty })
    }

    fn count_ext(&mut self, n: usize) -> Result<(), HttpError> {
        self.ext_bytes += n;
        if self.ext_bytes > MAX_CHUNK_EXT_BYTES {
            return Err(HttpError::ChunkExtensionsTooLarge);
        }
        Ok(())
    }

    fn count_trailer(&mut self, n: usize) -> Result<(), HttpError> {
        self.trailer_bytes += n;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(HttpError::TrailersTooLarge);
        }
        Ok(())
    }
}

/// Decode a whole chunked body at the start of `buf` in one call: the body and the bytes
/// used, `Ok(None)` while incomplete.
pub fn decode_chunked(buf: &[u8], max_body_bytes: usize) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut decoder = ChunkedDecoder::new(max_body_bytes);
    let used = decoder.feed(buf)?;
    Ok(decoder.is_done().then(|| (decoder.into_body(), used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";

    #[test]
    fn decodes_whole_and_cut_anywhere() {
        for cut in 0..BODY.len() - 4 {
            assert_eq!(decode_chunked(&BODY[..cut], 100), Ok(None), "cut at {cut}");
        }
        assert_eq!(decode_chunked(BODY, 100), Ok(Some((b"Wikipedia".to_vec(), BODY.len() - 4))));
        assert_eq!(decode_chunked(b"0\r\n\r\n", 100), Ok(Some((vec![], 5))));
        assert_eq!(decode_chunked(b"A \t; a=\"b\"\r\n0123456789\r\n0\r\n\r\n", 100).unwrap().unwrap().0.len(), 10);
    }

    #[test]
    fn any_split_gives_the_same_body() {
        for split in 1..BODY.len() {
            let mut d = ChunkedDecoder::new(100);
            let used = d.feed(&BODY[..split]).unwrap() + d.feed(&BODY[split..]).unwrap();
            assert!(d.is_done());
            assert_eq!(used, BODY.len() - 4);
            assert_eq!(d.into_body(), b"Wikipedia");
        }
    }

    #[test]
    fn bad_framing_is_malformed() {
        for bad in [
            &b"zz\r\n"[..],
            b"\r\n",
            b" 4\r\n",
            b"4\nWiki",
            b"4\r\nWikiXX",
            b"4 x\r\n",
            b"123456789\r\n",
            b"4;a\nb\r\n",
            b"0\r\nX\nY\r\n\r\n",
            b"0\r\n\n",
            b"0\r\n\rX",
        ] {
            assert_eq!(decode_chunked(bad, 1 << 20), Err(HttpError::Malformed), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(decode_chunked(b"ff\r\n", 10), Err(HttpError::BodyTooLarge));
        assert_eq!(decode_chunked(b"5\r\nhello\r\n6\r\n", 10), Err(HttpError::BodyTooLarge));
        let ext = format!("1;{}\r\n", "e".repeat(MAX_CHUNK_EXT_BYTES));
        assert_eq!(decode_chunked(ext.as_bytes(), 10), Err(HttpError::ChunkExtensionsTooLarge));
        let ok_ext = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_EXT_BYTES - 1));
        assert!(decode_chunked(ok_ext.as_bytes(), 10).unwrap().is_some());
        let trailers = format!("0\r\n{}", "X-A: 1\r\n".repeat(MAX_TRAILER_BYTES / 8 + 1));
        assert_eq!(decode_chunked(trailers.as_bytes(), 10), Err(HttpError::TrailersTooLarge));
    }

    #[test]
    fn byte_by_byte_work_is_linear() {
        let mut raw = Vec::new();
        for i in 0..20_000 {
            raw.extend_from_slice(format!("{:x}\r\n{}\r\n", i % 50 + 1, "x".repeat(i % 50 + 1)).as_bytes());
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        let mut d = ChunkedDecoder::new(usize::MAX);
        for b in raw.chunks(1) {
            d.feed(b).unwrap();
        }
        assert!(d.is_done());
        assert_eq!(d.examined_bytes(), raw.len() as u64, "each byte examined once");
    }
}
