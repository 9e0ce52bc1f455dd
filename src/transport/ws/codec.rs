//! STUB
use bytes::{BufMut, Bytes, BytesMut};
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}
pub fn header_len(n: usize) -> usize {
    if n < 126 {
        2
    } else if n < 65536 {
        4
    } else {
        10
    }
}
pub fn encode_header(out: &mut BytesMut, fin: bool, opcode: OpCode, len: usize) {
    let op = match opcode {
        OpCode::Continuation => 0,
        OpCode::Text => 1,
        OpCode::Binary => 2,
        OpCode::Close => 8,
        OpCode::Ping => 9,
        OpCode::Pong => 10,
    };
    out.put_u8(if fin { 0x80 } else { 0 } | op);
    if len < 126 {
        out.put_u8(len as u8)
    } else if len < 65536 {
        out.put_u8(126);
        out.put_u16(len as u16)
    } else {
        out.put_u8(127);
        out.put_u64(len as u64)
    }
}
pub fn frame(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    encode_header(&mut b, true, opcode, payload.len());
    b.put_slice(payload);
    b.freeze()
}
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    frame(OpCode::Close, &p)
}
