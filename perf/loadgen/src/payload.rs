//! The benchmark payload: `<seq>:<sent nanos>:` padded with `x` to the configured size, and the
//! barrier probe `P<k>:<sent nanos>:`. Plain ASCII, so no dialect ever has to escape it.

use std::io::Write;

/// Smallest `--payload-bytes` accepted: room for two 20-digit numbers would need more, but real
/// runs stay far below that; shorter payloads simply come out longer than asked.
pub const MIN_PAYLOAD_BYTES: usize = 16;

/// What a received payload turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// A measured broadcast.
    Data { seq: u64, sent_nanos: u64 },
    /// A barrier probe (ignored once the barrier has passed).
    Probe,
    /// Anything else.
    Invalid,
}

/// Appends a data payload of at least `size` bytes to `out`.
pub fn write_data(out: &mut Vec<u8>, seq: u64, sent_nanos: u64, size: usize) {
    let start = out.len();
    let _ = write!(out, "{seq}:{sent_nanos}:");
    pad(out, start, size);
}

/// Appends a probe payload of at least `size` bytes to `out`.
pub fn write_probe(out: &mut Vec<u8>, k: u64, sent_nanos: u64, size: usize) {
    let start = out.len();
    let _ = write!(out, "P{k}:{sent_nanos}:");
    pad(out, start, size);
}

fn pad(out: &mut Vec<u8>, start: usize, size: usize) {
    let written = out.len() - start;
    if written < size {
        out.resize(start + size, b'x');
    }
}

/// Classifies a received payload.
pub fn parse(p: &[u8]) -> Payload {
    if p.first() == Some(&b'P') {
        return Payload::Probe;
    }
    let Some((seq, rest)) = parse_number(p) else { return Payload::Invalid };
    match parse_number(rest) {
        Some((sent_nanos, _)) => Payload::Data { seq, sent_nanos },
        None => Payload::Invalid,
    }
}

/// Parses `<digits>:` at the start of `p`; returns the number and what follows the colon.
fn parse_number(p: &[u8]) -> Option<(u64, &[u8])> {
    let colon = p.iter().position(|&b| b == b':')?;
    if colon == 0 || colon > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in &p[..colon] {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((n, &p[colon + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trip_and_size() {
        let mut out = b"prefix".to_vec();
        write_data(&mut out, 42, 123_456, 64);
        assert_eq!(out.len(), 6 + 64);
        assert_eq!(parse(&out[6..]), Payload::Data { seq: 42, sent_nanos: 123_456 });
        assert!(out[6..].ends_with(b"xxx"));
    }

    #[test]
    fn long_numbers_exceed_small_sizes() {
        let mut out = Vec::new();
        write_data(&mut out, u64::MAX, u64::MAX, 4);
        assert!(out.len() > 4);
        assert_eq!(parse(&out), Payload::Data { seq: u64::MAX, sent_nanos: u64::MAX });
    }

    #[test]
    fn probes_and_garbage() {
        let mut out = Vec::new();
        write_probe(&mut out, 3, 9, 32);
        assert_eq!(parse(&out), Payload::Probe);
        assert_eq!(parse(b"hello"), Payload::Invalid);
        assert_eq!(parse(b"1:x:"), Payload::Invalid);
        assert_eq!(parse(b":1:"), Payload::Invalid);
    }
}
