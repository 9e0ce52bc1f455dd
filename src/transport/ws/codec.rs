//! Frame-level codec (RFC 6455 §5.2): decoding client frame headers and encoding server
//! (unmasked) and client (masked) frames.
//!
//! Owns: the header bit layout, the per-frame rules that can be checked from the header
//! alone (RSV bits, opcodes, control frame limits, masking, minimal length encoding), the
//! close frame payload layout (§5.5.1) and which close codes may appear on the wire (§7.4).
//!
//! Does not own: rules that span frames (fragmentation, UTF-8 across fragments, message
//! size) or payload delivery — those live in `reader`. No I/O, no buffering.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::WsError;
use super::mask::apply_mask;

/// RFC 6455 §5.5: the largest payload of a control frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// RFC 6455 §5.5.1: room left for the reason after the 2-byte status code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;
/// The longest header: 2 + 8 (64-bit length) + 4 (masking key).
pub const MAX_HEADER_LEN: usize = 14;

const FIN_BIT: u8 = 0x80;
const RSV_BITS: u8 = 0x70;
const OPCODE_BITS: u8 = 0x0F;
const MASK_BIT: u8 = 0x80;
const LEN7_BITS: u8 = 0x7F;
const LEN_U16: u8 = 126;
const LEN_U64: u8 = 127;

/// Frame opcodes defined by RFC 6455 §5.2 (the others are reserved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    /// The opcode for the low 4 bits of the first header byte; `None` if reserved.
    pub const fn from_bits(bits: u8) -> Option<OpCode> {
        match bits {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// The 4-bit wire value.
    pub const fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// RFC 6455 §5.5: opcodes with the high bit set are control frames.
    pub const fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub opcode: OpCode,
    /// The masking key; always `Some` from `decode_header` (clients must mask).
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// Bytes of header before the payload (2 to 14).
    pub header_len: usize,
}

/// Decode the header of a client frame. `Ok(None)` = need more bytes (nothing allocated).
///
/// Enforces: RSV1-3 zero, known opcodes (§5.2), control frames <= 125 bytes and FIN set
/// (§5.5), mask bit set (§5.1, server side), minimal length encoding with the 64-bit MSB
/// clear (§5.2). Every rule that the first two bytes decide is checked as soon as those two
/// bytes are present.
pub fn decode_header(buf: &[u8]) -> Result<Option<FrameHeader>, WsError> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    let (fin, opcode) = check_first_byte(b0)?;
    let len7 = b1 & LEN7_BITS;
    if opcode.is_control() {
        check_control(fin, len7)?;
    }
    if b1 & MASK_BIT == 0 {
        return Err(WsError::UnmaskedClientFrame);
    }
    let ext = match len7 {
        LEN_U16 => 2,
        LEN_U64 => 8,
        _ => 0,
    };
    let header_len = 2 + ext + 4;
    let Some(header) = buf.get(..header_len) else { return Ok(None) };
    let payload_len = match len7 {
        LEN_U16 | LEN_U64 => decode_ext_len(&header[2..2 + ext])?,
        n => u64::from(n),
    };
    let key = &header[2 + ext..];
    let mask = Some([key[0], key[1], key[2], key[3]]);
    Ok(Some(FrameHeader { fin, opcode, mask, payload_len, header_len }))
}

/// RFC 6455 §5.2: FIN, RSV1-3 (must be 0, no extension is negotiated) and the opcode.
fn check_first_byte(b0: u8) -> Result<(bool, OpCode), WsError> {
    if b0 & RSV_BITS != 0 {
        return Err(WsError::ReservedBitsSet);
    }
    let bits = b0 & OPCODE_BITS;
    let opcode = OpCode::from_bits(bits).ok_or(WsError::ReservedOpcode(bits))?;
    Ok((b0 & FIN_BIT != 0, opcode))
}

/// RFC 6455 §5.5: control frames are not fragmented and carry at most 125 bytes, so their
/// length always fits the 7-bit field.
fn check_control(fin: bool, len7: u8) -> Result<(), WsError> {
    if !fin {
        return Err(WsError::FragmentedControlFrame);
    }
    if usize::from(len7) > MAX_CONTROL_PAYLOAD {
        return Err(WsError::ControlFrameTooLong);
    }
    Ok(())
}

/// RFC 6455 §5.2: a 16- or 64-bit big-endian extended length, which must be the minimal
/// encoding and (64-bit) have its most significant bit clear.
fn decode_ext_len(bytes: &[u8]) -> Result<u64, WsError> {
    let len = bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    let smallest = if bytes.len() == 2 { u64::from(LEN_U16) } else { 0x1_0000 };
    if len >> 63 != 0 {
        return Err(WsError::PayloadLengthMsbSet);
    }
    if len < smallest {
        return Err(WsError::NonMinimalLength);
    }
    Ok(len)
}

/// Length of the header of an unmasked server frame carrying `payload_len` bytes (2, 4 or 10).
pub const fn header_len(payload_len: usize) -> usize {
    if payload_len < LEN_U16 as usize {
        2
    } else if payload_len <= 0xFFFF {
        4
    } else {
        10
    }
}

/// Append the header of an unmasked (server) frame to `out` (RFC 6455 §5.2, §5.1: a server
/// MUST NOT mask).
pub fn encode_header(out: &mut BytesMut, fin: bool, opcode: OpCode, payload_len: usize) {
    out.reserve(header_len(payload_len));
    put_header(out, fin, opcode, payload_len, 0);
}

/// First byte, length byte(s); `mask_bit` is `MASK_BIT` for client frames.
fn put_header(out: &mut impl BufMut, fin: bool, opcode: OpCode, payload_len: usize, mask_bit: u8) {
    out.put_u8(if fin { FIN_BIT } else { 0 } | opcode.bits());
    if payload_len < usize::from(LEN_U16) {
        out.put_u8(mask_bit | payload_len as u8);
    } else if payload_len <= 0xFFFF {
        out.put_u8(mask_bit | LEN_U16);
        out.put_u16(payload_len as u16);
    } else {
        out.put_u8(mask_bit | LEN_U64);
        out.put_u64(payload_len as u64);
    }
}

/// A complete unmasked server frame with FIN set.
pub fn frame(opcode: OpCode, payload: &[u8]) -> Bytes {
    debug_assert!(!opcode.is_control() || payload.len() <= MAX_CONTROL_PAYLOAD);
    let mut out = BytesMut::with_capacity(header_len(payload.len()) + payload.len());
    encode_header(&mut out, true, opcode, payload.len());
    out.put_slice(payload);
    out.freeze()
}

/// A close frame with status code and UTF-8 reason (RFC 6455 §5.5.1); the reason is
/// truncated at a char boundary to fit 123 bytes.
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let reason = truncate_at_char_boundary(reason, MAX_CLOSE_REASON);
    let payload_len = 2 + reason.len();
    let mut out = BytesMut::with_capacity(header_len(payload_len) + payload_len);
    encode_header(&mut out, true, OpCode::Close, payload_len);
    out.put_u16(code);
    out.put_slice(reason.as_bytes());
    out.freeze()
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a char boundary.
fn truncate_at_char_boundary(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Client-side encoder (masked, FIN set), used by tests and the load generator.
pub fn client_frame(opcode: OpCode, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    client_fragment(true, opcode, payload, mask)
}

/// Client-side encoder for one frame of a possibly fragmented message (RFC 6455 §5.4):
/// `fin` false for every frame but the last, `Continuation` for every frame but the first.
pub fn client_fragment(fin: bool, opcode: OpCode, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(payload.len()) + 4 + payload.len());
    put_header(&mut out, fin, opcode, payload.len(), MASK_BIT);
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask, 0);
    out
}

/// RFC 6455 §7.4.1/§7.4.2: may a peer send this close status code? 1000-1003, 1007-1011
/// and 3000-4999 (registered and private use). 1004-1006 and 1015 are reserved or must
/// never be sent; 1012-2999 are reserved for the protocol; <1000 is unused.
pub const fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use tungstenite::protocol::frame::{coding, FrameHeader as TFrameHeader};

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn masked(b0: u8, len_bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![b0];
        v.extend_from_slice(len_bytes);
        v[1] |= MASK_BIT;
        v.extend_from_slice(&KEY);
        v
    }

    #[test]
    fn rfc6455_5_7_masked_hello_header() {
        let bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let h = decode_header(&bytes).unwrap().unwrap();
        assert_eq!(
            h,
            FrameHeader { fin: true, opcode: OpCode::Text, mask: Some(KEY), payload_len: 5, header_len: 6 }
        );
        assert_eq!(client_frame(OpCode::Text, b"Hello", KEY), bytes);
    }

    #[test]
    fn rfc6455_5_7_unmasked_server_frames() {
        assert_eq!(&frame(OpCode::Text, b"Hello")[..], b"\x81\x05Hello");
        assert_eq!(&frame(OpCode::Ping, b"Hello")[..], b"\x89\x05Hello");
        let big = frame(OpCode::Binary, &[0; 256]);
        assert_eq!(&big[..4], &[0x82, 0x7E, 0x01, 0x00]);
        let huge = frame(OpCode::Binary, &[0; 65536]);
        assert_eq!(&huge[..10], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn header_len_matches_encoding() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
            let mut out = BytesMut::new();
            encode_header(&mut out, false, OpCode::Continuation, len);
            assert_eq!(out.len(), header_len(len), "len {len}");
            assert_eq!(out[0], 0x00);
        }
    }

    #[test]
    fn decode_header_needs_more_bytes() {
        let full = client_frame(OpCode::Binary, &[7; 70000], KEY);
        for cut in 0..14 {
            assert_eq!(decode_header(&full[..cut]), Ok(None), "cut {cut}");
        }
        let h = decode_header(&full[..14]).unwrap().unwrap();
        assert_eq!((h.payload_len, h.header_len), (70000, 14));
    }

    #[test]
    fn rfc6455_5_2_rsv_bits_must_be_zero() {
        for rsv in [0x40, 0x20, 0x10] {
            assert_eq!(decode_header(&masked(0x81 | rsv, &[0])), Err(WsError::ReservedBitsSet));
        }
    }

    #[test]
    fn rfc6455_5_2_reserved_opcodes_rejected() {
        for op in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(decode_header(&masked(0x80 | op, &[0])), Err(WsError::ReservedOpcode(op)));
        }
    }

    #[test]
    fn rfc6455_5_1_client_frames_must_be_masked() {
        assert_eq!(decode_header(&[0x81, 0x05]), Err(WsError::UnmaskedClientFrame));
    }

    #[test]
    fn rfc6455_5_5_control_frames_limits() {
        assert_eq!(decode_header(&masked(0x89, &[126, 0, 126])), Err(WsError::ControlFrameTooLong));
        assert_eq!(decode_header(&[0x89, 0xFE]), Err(WsError::ControlFrameTooLong));
        assert_eq!(decode_header(&masked(0x09, &[0])), Err(WsError::FragmentedControlFrame));
        assert!(decode_header(&masked(0x8A, &[125])).unwrap().is_some());
    }

    #[test]
    fn rfc6455_5_2_length_must_be_minimal() {
        assert_eq!(decode_header(&masked(0x82, &[126, 0, 125])), Err(WsError::NonMinimalLength));
        assert_eq!(
            decode_header(&masked(0x82, &[127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF])),
            Err(WsError::NonMinimalLength)
        );
        let h = decode_header(&masked(0x82, &[127, 0, 0, 0, 0, 0, 1, 0, 0])).unwrap().unwrap();
        assert_eq!(h.payload_len, 0x1_0000);
        assert_eq!(
            decode_header(&masked(0x82, &[127, 0x80, 0, 0, 0, 0, 0, 0, 0])),
            Err(WsError::PayloadLengthMsbSet)
        );
    }

    #[test]
    fn rfc6455_7_4_close_code_validity_table() {
        let valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
        let invalid = [0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
        for code in valid {
            assert!(is_valid_close_code(code), "{code} should be valid");
        }
        for code in invalid {
            assert!(!is_valid_close_code(code), "{code} should be invalid");
        }
        let count = (0..=u16::MAX).filter(|&c| is_valid_close_code(c)).count();
        assert_eq!(count, 4 + 5 + 2000);
    }

    #[test]
    fn close_frame_truncates_reason_at_char_boundary() {
        let reason = "é".repeat(100); // 200 bytes, 2 per char
        let f = close_frame(1001, &reason);
        assert_eq!(f[1] as usize, 2 + 122);
        assert_eq!(&f[2..4], &1001u16.to_be_bytes());
        assert!(std::str::from_utf8(&f[4..]).is_ok());
        let ascii = "a".repeat(200);
        assert_eq!(close_frame(1000, &ascii)[1] as usize, MAX_CONTROL_PAYLOAD);
        assert_eq!(&close_frame(1000, "")[..], &[0x88, 0x02, 0x03, 0xE8]);
    }

    fn tungstenite_parse(bytes: &[u8]) -> (TFrameHeader, Vec<u8>) {
        let mut cursor = Cursor::new(bytes);
        let (header, len) = TFrameHeader::parse(&mut cursor).unwrap().unwrap();
        let start = cursor.position() as usize;
        assert_eq!(start + len as usize, bytes.len(), "frame length");
        (header, bytes[start..].to_vec())
    }

    #[test]
    fn server_frames_parse_with_tungstenite() {
        for len in [0, 1, 125, 126, 65535, 65536, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let (h, p) = tungstenite_parse(&frame(OpCode::Binary, &payload));
            assert!(h.is_final && h.mask.is_none() && !h.rsv1 && !h.rsv2 && !h.rsv3);
            assert_eq!(h.opcode, coding::OpCode::Data(coding::Data::Binary));
            assert_eq!(p, payload);
        }
        let (h, p) = tungstenite_parse(&frame(OpCode::Pong, b"abc"));
        assert_eq!(h.opcode, coding::OpCode::Control(coding::Control::Pong));
        assert_eq!(p, b"abc");
        let (h, p) = tungstenite_parse(&close_frame(4000, "bye"));
        assert_eq!(h.opcode, coding::OpCode::Control(coding::Control::Close));
        assert_eq!(p, b"\x0f\xa0bye");
    }

    #[test]
    fn client_frames_parse_with_tungstenite() {
        let bytes = client_fragment(false, OpCode::Text, "héllo".as_bytes(), KEY);
        let (h, mut p) = tungstenite_parse(&bytes);
        assert!(!h.is_final);
        assert_eq!(h.mask, Some(KEY));
        apply_mask(&mut p, KEY, 0);
        assert_eq!(p, "héllo".as_bytes());
    }
}
