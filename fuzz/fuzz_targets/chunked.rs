//! Fuzz target for `http::chunked::ChunkedDecoder` and `http::request::next_request`.
//!
//! Owns: the properties checked on arbitrary chunked bodies — no panic; decoding the body
//! fed in random splits gives exactly what decoding it in one call gives (the body, the
//! bytes used, or the same error); the decoder never examines more bytes than it was fed;
//! and a whole request (head + body) read in random splits completes with that body.
//!
//! Does not own: the request head rules (`http_request`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringcast::http::chunked::{decode_chunked, ChunkedDecoder};
use ringcast::http::request::{next_request, Limits};

const MAX_BODY_BYTES: usize = 4096;
const HEAD: &[u8] = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";

/// Read sizes from a small xorshift seeded by the input's first two bytes: mostly tiny
/// reads, sometimes large ones.
struct Splits(u32);

impl Splits {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        if self.0 & 0x300 == 0 {
            (self.0 >> 12) as usize % 512
        } else {
            (self.0 >> 12) as usize % 8 + 1
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, body @ ..] = data else { return };
    let seed = u32::from(*a) << 8 | u32::from(*b) | 0x1_0000;
    let whole = decode_chunked(body, MAX_BODY_BYTES);
    if let Ok(Some((decoded, used))) = &whole {
        assert!(*used <= body.len() && decoded.len() <= MAX_BODY_BYTES);
    }
    assert_eq!(decode_in_splits(body, &mut Splits(seed)), whole, "split decoding differs");
    check_request(body, &whole, &mut Splits(seed));
});

/// Feed `body` to one decoder in random reads; the result in `decode_chunked`'s shape.
fn decode_in_splits(
    body: &[u8],
    splits: &mut Splits,
) -> Result<Option<(Vec<u8>, usize)>, ringcast::HttpError> {
    let mut decoder = ChunkedDecoder::new(MAX_BODY_BYTES);
    let (mut at, mut used) = (0, 0);
    while at < body.len() && !decoder.is_done() {
        let end = body.len().min(at + splits.next());
        let n = decoder.feed(&body[at..end])?;
        assert!(n <= end - at);
        assert!(decoder.is_done() || n == end - at, "bytes left over before the end");
        used += n;
        at = end;
    }
    assert!(decoder.examined_bytes() <= body.len() as u64);
    Ok(decoder.is_done().then(|| (decoder.into_body(), used)))
}

/// The same body after a chunked request head, through `next_request` in random reads.
fn check_request(
    body: &[u8],
    whole: &Result<Option<(Vec<u8>, usize)>, ringcast::HttpError>,
    splits: &mut Splits,
) {
    let limits = Limits { max_head_bytes: 8192, max_body_bytes: MAX_BODY_BYTES };
    let raw = [HEAD, body].concat();
    let (mut buf, mut pending) = (Vec::new(), None);
    let mut at = 0;
    loop {
        let end = raw.len().min(at + splits.next());
        buf.extend_from_slice(&raw[at..end]);
        at = end;
        match next_request(&buf, &mut pending, limits) {
            Ok(Some(done)) => {
                let Ok(Some((decoded, used))) = whole else { panic!("completed, whole: {whole:?}") };
                assert_eq!(done.chunked_body.as_ref(), Some(decoded));
                assert_eq!(done.total_len, HEAD.len() + used);
                return;
            }
            Ok(None) if at == raw.len() => return assert_eq!(whole, &Ok(None)),
            Ok(None) => {}
            Err(e) => return assert_eq!(whole, &Err(e)),
        }
    }
}
