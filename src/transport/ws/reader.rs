//! Per-connection message assembler: turns the bytes a client sends into whole messages.
//!
//! Owns: frame sequencing (RFC 6455 §5.4 fragmentation, control frames between
//! fragments), unmasking payloads (§5.3), UTF-8 validation of text messages that fails
//! as soon as an invalid byte arrives (§8.1), close payload checks (§5.5.1, §7.4), the
//! message size limit, and the bytes of frames and messages that straddle reads.
//!
//! Does not own: reading the socket, answering pings or closes, or what a message means.
//! Header-only rules are in `codec::decode_header`; masking is in `mask`.
//!
//! Memory: a complete unfragmented frame inside the caller's buffer is unmasked in place
//! and handed out as a slice of it (no copy). Only a frame cut by the end of a read, or a
//! fragmented message, is copied: header bytes into an inline array, payload into one
//! `Vec` that is released as soon as the message (or control frame) is delivered, so an
//! idle reader holds no heap at all.

use super::codec::{decode_header, is_valid_close_code, FrameHeader, OpCode, MAX_HEADER_LEN};
use super::error::WsError;
use super::mask::apply_mask;

/// A complete message (or control frame) delivered by `MessageReader::feed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsMessage<'a> {
    /// Already validated as UTF-8.
    Text(&'a [u8]),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// `code` is `None` for an empty close payload; `reason` is validated UTF-8.
    Close {
        code: Option<u16>,
        reason: &'a [u8],
    },
}

/// Whether `feed` should keep delivering messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// The kind of a data message (RFC 6455 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataKind {
    Text,
    Binary,
}

/// Control frame opcodes (RFC 6455 §5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Control {
    Close,
    Ping,
    Pong,
}

/// What a frame does to the message being assembled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Text or Binary: starts a message.
    Start(DataKind),
    /// Continuation: extends the open message.
    Continue,
    Control(Control),
}

impl Role {
    const fn of(opcode: OpCode) -> Role {
        match opcode {
            OpCode::Text => Role::Start(DataKind::Text),
            OpCode::Binary => Role::Start(DataKind::Binary),
            OpCode::Continuation => Role::Continue,
            OpCode::Close => Role::Control(Control::Close),
            OpCode::Ping => Role::Control(Control::Ping),
            OpCode::Pong => Role::Control(Control::Pong),
        }
    }
}

/// The frame whose payload is being copied into `MessageReader::buf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// A data frame: its payload is appended to the open message.
    Data { fin: bool, kind: DataKind },
    /// A control frame of `len` bytes: its payload sits after the message bytes.
    Control { op: Control, len: u8 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Partial {
    target: Target,
    key: [u8; 4],
    /// Payload position modulo 4, where unmasking resumes.
    key_pos: u8,
    /// Payload bytes still to come.
    remaining: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Between frames, or inside a header cut by the end of a read (`len` bytes kept).
    Header { bytes: [u8; MAX_HEADER_LEN], len: u8 },
    /// Inside a payload that is copied into `buf`.
    Payload(Partial),
}

/// What `feed` does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Continue,
    NeedInput,
    Stop,
}

impl From<Flow> for Step {
    fn from(flow: Flow) -> Step {
        match flow {
            Flow::Continue => Step::Continue,
            Flow::Stop => Step::Stop,
        }
    }
}

/// Assembles a client's frames into messages; one per connection.
#[derive(Debug)]
pub struct MessageReader {
    /// The open message's unmasked bytes, then the payload of a partial control frame.
    /// Empty with no allocation when idle.
    buf: Vec<u8>,
    phase: Phase,
    /// Kind of the message whose fragments are being assembled.
    open: Option<DataKind>,
    /// Bytes at the end of `buf` that start a UTF-8 code point not yet complete (0-3).
    utf8_tail: u8,
}

const _: () = assert!(std::mem::size_of::<MessageReader>() <= 64);

impl Default for MessageReader {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageReader {
    pub const fn new() -> Self {
        MessageReader {
            buf: Vec::new(),
            phase: Phase::Header { bytes: [0; MAX_HEADER_LEN], len: 0 },
            open: None,
            utf8_tail: 0,
        }
    }

    /// Bytes of heap this reader currently holds (partial frame + fragments).
    pub fn buffered_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Feed bytes just read from the socket (mutable so payloads are unmasked in place).
    ///
    /// Calls `on_msg` once per complete message, in order. Stops early (returning `Ok`) if
    /// the callback returns `Flow::Stop`; the rest of `input` is then discarded. An
    /// incomplete frame at the end of `input` is copied into the reader's own buffer and
    /// completed by later calls. After an error the reader must not be fed again.
    pub fn feed<F: FnMut(WsMessage<'_>) -> Flow>(
        &mut self,
        input: &mut [u8],
        max_message_bytes: usize,
        mut on_msg: F,
    ) -> Result<(), WsError> {
        let mut pos = 0;
        loop {
            let step = match &mut self.phase {
                Phase::Header { bytes, len } => match take_header(bytes, len, input, &mut pos)? {
                    Some(header) => {
                        self.on_header(header, input, &mut pos, max_message_bytes, &mut on_msg)?
                    }
                    None => Step::NeedInput,
                },
                Phase::Payload(partial) => {
                    let partial = *partial;
                    self.on_payload(partial, input, &mut pos, &mut on_msg)?
                }
            };
            if step != Step::Continue {
                return Ok(());
            }
        }
    }

    /// A header is complete: check it against the message state, then deliver the frame
    /// in place if it is whole and unfragmented, else start copying its payload.
    fn on_header<F: FnMut(WsMessage<'_>) -> Flow>(
        &mut self,
        header: FrameHeader,
        input: &mut [u8],
        pos: &mut usize,
        max_message_bytes: usize,
        on_msg: &mut F,
    ) -> Result<Step, WsError> {
        let role = Role::of(header.opcode);
        self.check_sequence(role, header.payload_len, max_message_bytes)?;
        let key = header.mask.ok_or(WsError::UnmaskedClientFrame)?;
        let available = input.len() - *pos;
        let in_place = usize::try_from(header.payload_len).ok().filter(|&len| len <= available);
        match (role, in_place) {
            (Role::Start(kind), Some(len)) if header.fin => {
                let payload = unmask_in_place(input, pos, len, key);
                Ok(on_msg(data_message(kind, payload)?).into())
            }
            (Role::Control(op), Some(len)) => {
                let payload = unmask_in_place(input, pos, len, key);
                Ok(on_msg(control_message(op, payload)?).into())
            }
            _ => self.begin_payload(role, header, key),
        }
    }

    /// RFC 6455 §5.4 fragmentation rules and the message size limit, checked from the
    /// header before any payload is buffered.
    fn check_sequence(&self, role: Role, payload_len: u64, max_message_bytes: usize) -> Result<(), WsError> {
        match (role, self.open) {
            (Role::Start(_), Some(_)) => return Err(WsError::ExpectedContinuation),
            (Role::Continue, None) => return Err(WsError::UnexpectedContinuation),
            (Role::Control(_), _) => return Ok(()),
            _ => {}
        }
        let total = (self.buf.len() as u64).saturating_add(payload_len);
        if total > max_message_bytes as u64 {
            return Err(WsError::MessageTooBig);
        }
        Ok(())
    }

    /// Enter the payload phase for a frame whose payload is copied into `buf`.
    fn begin_payload(&mut self, role: Role, header: FrameHeader, key: [u8; 4]) -> Result<Step, WsError> {
        let fin = header.fin;
        let target = match role {
            Role::Start(kind) => {
                self.open = Some(kind);
                self.utf8_tail = 0;
                Target::Data { fin, kind }
            }
            Role::Continue => Target::Data { fin, kind: self.open.ok_or(WsError::UnexpectedContinuation)? },
            // A control frame's length is at most 125 (checked by decode_header).
            Role::Control(op) => Target::Control { op, len: header.payload_len as u8 },
        };
        let partial = Partial { target, key, key_pos: 0, remaining: header.payload_len };
        self.phase = Phase::Payload(partial);
        Ok(Step::Continue)
    }

    /// Copy (and unmask, and for text validate) as much of the current payload as `input`
    /// holds; deliver the frame or message once it is complete.
    fn on_payload<F: FnMut(WsMessage<'_>) -> Flow>(
        &mut self,
        mut partial: Partial,
        input: &mut [u8],
        pos: &mut usize,
        on_msg: &mut F,
    ) -> Result<Step, WsError> {
        let available = input.len() - *pos;
        let n = usize::try_from(partial.remaining).map_or(available, |r| r.min(available));
        let chunk = &mut input[*pos..*pos + n];
        *pos += n;
        apply_mask(chunk, partial.key, usize::from(partial.key_pos));
        let start = self.buf.len();
        self.buf.extend_from_slice(chunk);
        if let Target::Data { kind: DataKind::Text, .. } = partial.target {
            self.validate_new_text(start)?;
        }
        partial.remaining -= n as u64;
        if partial.remaining > 0 {
            partial.key_pos = ((usize::from(partial.key_pos) + n) % 4) as u8;
            self.phase = Phase::Payload(partial);
            return Ok(Step::NeedInput);
        }
        self.phase = Phase::Header { bytes: [0; MAX_HEADER_LEN], len: 0 };
        match partial.target {
            Target::Data { fin: false, .. } => Ok(Step::Continue),
            Target::Data { fin: true, kind } => self.finish_message(kind, on_msg),
            Target::Control { op, len } => self.finish_control(op, len, on_msg),
        }
    }

    /// RFC 6455 §8.1, fail fast: validate the text bytes appended at `start`, together
    /// with the incomplete code point carried from the previous chunk.
    fn validate_new_text(&mut self, start: usize) -> Result<(), WsError> {
        let from = start - usize::from(self.utf8_tail);
        self.utf8_tail = utf8_incomplete_tail(&self.buf[from..])?;
        Ok(())
    }

    /// The last fragment arrived: hand out the assembled message and release the buffer.
    fn finish_message<F: FnMut(WsMessage<'_>) -> Flow>(
        &mut self,
        kind: DataKind,
        on_msg: &mut F,
    ) -> Result<Step, WsError> {
        let buf = std::mem::take(&mut self.buf);
        let tail = std::mem::replace(&mut self.utf8_tail, 0);
        self.open = None;
        if kind == DataKind::Text && tail != 0 {
            return Err(WsError::InvalidUtf8);
        }
        let msg = match kind {
            DataKind::Text => WsMessage::Text(&buf),
            DataKind::Binary => WsMessage::Binary(&buf),
        };
        Ok(on_msg(msg).into())
    }

    /// A control frame copied after the open message's bytes is complete: deliver it,
    /// then drop it from `buf` (and free `buf` if nothing else is in it).
    fn finish_control<F: FnMut(WsMessage<'_>) -> Flow>(
        &mut self,
        op: Control,
        len: u8,
        on_msg: &mut F,
    ) -> Result<Step, WsError> {
        let start = self.buf.len() - usize::from(len);
        let flow = on_msg(control_message(op, &self.buf[start..])?);
        self.buf.truncate(start);
        if self.buf.is_empty() {
            self.buf = Vec::new();
        }
        Ok(flow.into())
    }
}

/// Unmask the `len` payload bytes at `pos` where they lie and step over them.
fn unmask_in_place<'a>(input: &'a mut [u8], pos: &mut usize, len: usize, key: [u8; 4]) -> &'a [u8] {
    let payload = &mut input[*pos..*pos + len];
    *pos += len;
    apply_mask(payload, key, 0);
    payload
}

/// Take the next header from `input` at `pos`, completing one kept in `stash` by earlier
/// calls. `Ok(None)`: `input` ended inside the header, whose bytes are now in `stash`.
fn take_header(
    stash: &mut [u8; MAX_HEADER_LEN],
    stash_len: &mut u8,
    input: &[u8],
    pos: &mut usize,
) -> Result<Option<FrameHeader>, WsError> {
    if *stash_len != 0 {
        return complete_stashed_header(stash, stash_len, input, pos);
    }
    let rest = &input[*pos..];
    match decode_header(rest)? {
        Some(header) => {
            *pos += header.header_len;
            Ok(Some(header))
        }
        None => {
            stash_header(stash, stash_len, rest);
            *pos = input.len();
            Ok(None)
        }
    }
}

/// Keep the start of a header cut by the end of a read (fewer than 14 bytes).
#[cold]
fn stash_header(stash: &mut [u8; MAX_HEADER_LEN], stash_len: &mut u8, rest: &[u8]) {
    let n = rest.len().min(MAX_HEADER_LEN);
    stash[..n].copy_from_slice(&rest[..n]);
    *stash_len = n as u8;
}

/// Top up a stashed header from `input` and try again.
#[cold]
fn complete_stashed_header(
    stash: &mut [u8; MAX_HEADER_LEN],
    stash_len: &mut u8,
    input: &[u8],
    pos: &mut usize,
) -> Result<Option<FrameHeader>, WsError> {
    let have = usize::from(*stash_len);
    let rest = &input[*pos..];
    let take = (MAX_HEADER_LEN - have).min(rest.len());
    stash[have..have + take].copy_from_slice(&rest[..take]);
    match decode_header(&stash[..have + take])? {
        Some(header) => {
            // The stash alone was too short, so the header ends inside `rest`.
            *pos += header.header_len.saturating_sub(have);
            *stash_len = 0;
            Ok(Some(header))
        }
        None => {
            *pos += take;
            *stash_len = (have + take) as u8;
            Ok(None)
        }
    }
}

/// Incremental UTF-8 validation step (RFC 6455 §8.1). `bytes` is the carried incomplete
/// code point followed by newly arrived bytes. Returns how many trailing bytes start a code
/// point that is not complete yet (0-3; they are revalidated with the next chunk), or
/// `InvalidUtf8` as soon as any byte makes the sequence invalid.
fn utf8_incomplete_tail(bytes: &[u8]) -> Result<u8, WsError> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(0),
        Err(e) if e.error_len().is_none() => Ok((bytes.len() - e.valid_up_to()) as u8),
        Err(_) => Err(WsError::InvalidUtf8),
    }
}

/// A whole data message found in one frame.
fn data_message(kind: DataKind, payload: &[u8]) -> Result<WsMessage<'_>, WsError> {
    match kind {
        DataKind::Text => match std::str::from_utf8(payload) {
            Ok(_) => Ok(WsMessage::Text(payload)),
            Err(_) => Err(WsError::InvalidUtf8),
        },
        DataKind::Binary => Ok(WsMessage::Binary(payload)),
    }
}

/// A whole control frame.
fn control_message(op: Control, payload: &[u8]) -> Result<WsMessage<'_>, WsError> {
    match op {
        Control::Close => parse_close(payload),
        Control::Ping => Ok(WsMessage::Ping(payload)),
        Control::Pong => Ok(WsMessage::Pong(payload)),
    }
}

/// RFC 6455 §5.5.1: empty, or a 2-byte status code valid on the wire (§7.4) followed by a
/// UTF-8 reason.
#[cold]
fn parse_close(payload: &[u8]) -> Result<WsMessage<'_>, WsError> {
    let [hi, lo, reason @ ..] = payload else {
        return match payload.len() {
            0 => Ok(WsMessage::Close { code: None, reason: &[] }),
            _ => Err(WsError::InvalidClosePayload),
        };
    };
    let code = u16::from_be_bytes([*hi, *lo]);
    if !is_valid_close_code(code) {
        return Err(WsError::InvalidCloseCode(code));
    }
    if std::str::from_utf8(reason).is_err() {
        return Err(WsError::InvalidUtf8);
    }
    Ok(WsMessage::Close { code: Some(code), reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ws::codec::{client_fragment, client_frame};
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use tungstenite::protocol::frame::{coding, Frame};

    const KEY: [u8; 4] = [0xA1, 0xB2, 0xC3, 0xD4];
    const MAX: usize = 16 << 20;

    /// An owned copy of a delivered message.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Msg {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<u16>, String),
    }

    fn own(m: WsMessage<'_>) -> Msg {
        let text = |b: &[u8]| std::str::from_utf8(b).expect("reader validated UTF-8").to_owned();
        match m {
            WsMessage::Text(t) => Msg::Text(text(t)),
            WsMessage::Binary(b) => Msg::Binary(b.to_vec()),
            WsMessage::Ping(p) => Msg::Ping(p.to_vec()),
            WsMessage::Pong(p) => Msg::Pong(p.to_vec()),
            WsMessage::Close { code, reason } => Msg::Close(code, text(reason)),
        }
    }

    /// Feed `bytes` split into chunks of `sizes` (cycled), stopping at the first error.
    fn feed_chunked(
        reader: &mut MessageReader,
        bytes: &mut [u8],
        sizes: &[usize],
        max: usize,
    ) -> (Vec<Msg>, Result<(), WsError>) {
        let mut got = Vec::new();
        let mut rest = bytes;
        let mut sizes = sizes.iter().copied().cycle();
        while !rest.is_empty() {
            let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
            let (chunk, tail) = rest.split_at_mut(n);
            rest = tail;
            if let Err(e) = reader.feed(chunk, max, |m| {
                got.push(own(m));
                Flow::Continue
            }) {
                return (got, Err(e));
            }
        }
        (got, Ok(()))
    }

    /// Feed a copy of `bytes` to a fresh reader, in one call and byte by byte, and check
    /// both give the same outcome; return it.
    fn run(bytes: &[u8], max: usize) -> (Vec<Msg>, Result<(), WsError>) {
        let whole = feed_chunked(&mut MessageReader::new(), &mut bytes.to_vec(), &[usize::MAX], max);
        let bytewise = feed_chunked(&mut MessageReader::new(), &mut bytes.to_vec(), &[1], max);
        assert_eq!(whole, bytewise, "outcome depends on chunking");
        whole
    }

    fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
        frames.concat()
    }

    /// Exhaustive over `WsError`, so a new variant must be added to the crafted cases.
    fn variant_name(e: WsError) -> &'static str {
        match e {
            WsError::UnmaskedClientFrame => "UnmaskedClientFrame",
            WsError::ReservedBitsSet => "ReservedBitsSet",
            WsError::ReservedOpcode(_) => "ReservedOpcode",
            WsError::ControlFrameTooLong => "ControlFrameTooLong",
            WsError::FragmentedControlFrame => "FragmentedControlFrame",
            WsError::UnexpectedContinuation => "UnexpectedContinuation",
            WsError::ExpectedContinuation => "ExpectedContinuation",
            WsError::InvalidUtf8 => "InvalidUtf8",
            WsError::MessageTooBig => "MessageTooBig",
            WsError::InvalidClosePayload => "InvalidClosePayload",
            WsError::InvalidCloseCode(_) => "InvalidCloseCode",
            WsError::NonMinimalLength => "NonMinimalLength",
            WsError::PayloadLengthMsbSet => "PayloadLengthMsbSet",
        }
    }
    const VARIANTS: usize = 13;

    fn with_first_byte(mut frame: Vec<u8>, b0: u8) -> Vec<u8> {
        frame[0] = b0;
        frame
    }

    #[test]
    fn every_ws_error_variant_from_crafted_frames() {
        let mut ping_126 = vec![0x89, 0xFE, 0x00, 126];
        ping_126.extend_from_slice(&KEY);
        ping_126.extend_from_slice(&[0; 126]);
        let mut non_minimal = vec![0x82, 0xFE, 0x00, 0x05];
        non_minimal.extend_from_slice(&KEY);
        non_minimal.extend_from_slice(&[0; 5]);
        let mut msb = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
        msb.extend_from_slice(&KEY);
        let cases: Vec<(Vec<u8>, WsError)> = vec![
            (vec![0x81, 0x01, b'a'], WsError::UnmaskedClientFrame),
            (with_first_byte(client_frame(OpCode::Text, b"a", KEY), 0xC1), WsError::ReservedBitsSet),
            (with_first_byte(client_frame(OpCode::Text, b"a", KEY), 0x83), WsError::ReservedOpcode(3)),
            (with_first_byte(client_frame(OpCode::Ping, b"", KEY), 0x8B), WsError::ReservedOpcode(0xB)),
            (ping_126, WsError::ControlFrameTooLong),
            (client_fragment(false, OpCode::Ping, b"", KEY), WsError::FragmentedControlFrame),
            (client_frame(OpCode::Continuation, b"x", KEY), WsError::UnexpectedContinuation),
            (
                concat(&[
                    client_fragment(false, OpCode::Text, b"a", KEY),
                    client_frame(OpCode::Binary, b"b", KEY),
                ]),
                WsError::ExpectedContinuation,
            ),
            (client_frame(OpCode::Text, b"ok\xff", KEY), WsError::InvalidUtf8),
            (client_frame(OpCode::Binary, &[0; 11], KEY), WsError::MessageTooBig),
            (client_frame(OpCode::Close, &[3], KEY), WsError::InvalidClosePayload),
            (client_frame(OpCode::Close, &1005u16.to_be_bytes(), KEY), WsError::InvalidCloseCode(1005)),
            (non_minimal, WsError::NonMinimalLength),
            (msb, WsError::PayloadLengthMsbSet),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (bytes, expected) in cases {
            assert_eq!(run(&bytes, 10), (vec![], Err(expected)), "{expected}");
            seen.insert(variant_name(expected));
        }
        assert_eq!(seen.len(), VARIANTS);
    }

    #[test]
    fn rfc6455_5_2_rsv_bits_must_be_zero() {
        for rsv in [0x40, 0x20, 0x10] {
            let bytes = with_first_byte(client_frame(OpCode::Binary, b"x", KEY), 0x82 | rsv);
            assert_eq!(run(&bytes, MAX).1, Err(WsError::ReservedBitsSet));
        }
    }

    #[test]
    fn rfc6455_5_4_continuation_without_start_is_rejected() {
        let bytes = concat(&[
            client_frame(OpCode::Text, b"done", KEY),
            client_fragment(false, OpCode::Continuation, b"x", KEY),
        ]);
        assert_eq!(run(&bytes, MAX), (vec![Msg::Text("done".into())], Err(WsError::UnexpectedContinuation)));
    }

    #[test]
    fn rfc6455_5_4_new_data_frame_inside_fragmented_message_is_rejected() {
        for second in [OpCode::Text, OpCode::Binary] {
            let bytes = concat(&[
                client_fragment(false, OpCode::Binary, b"a", KEY),
                client_fragment(true, second, b"b", KEY),
            ]);
            assert_eq!(run(&bytes, MAX), (vec![], Err(WsError::ExpectedContinuation)));
        }
    }

    #[test]
    fn rfc6455_5_4_control_frames_between_fragments_are_delivered_immediately() {
        let bytes = concat(&[
            client_fragment(false, OpCode::Text, "fra".as_bytes(), KEY),
            client_frame(OpCode::Ping, b"p1", KEY),
            client_fragment(false, OpCode::Continuation, "gmé".as_bytes(), KEY),
            client_frame(OpCode::Pong, b"p2", KEY),
            client_frame(OpCode::Close, &[0x03, 0xE8, b'b'], KEY),
            client_fragment(true, OpCode::Continuation, "nts".as_bytes(), KEY),
        ]);
        let expected = vec![
            Msg::Ping(b"p1".to_vec()),
            Msg::Pong(b"p2".to_vec()),
            Msg::Close(Some(1000), "b".into()),
            Msg::Text("fragménts".into()),
        ];
        assert_eq!(run(&bytes, MAX), (expected, Ok(())));
    }

    #[test]
    fn rfc6455_5_4_empty_frames_and_messages() {
        let bytes = concat(&[
            client_frame(OpCode::Text, b"", KEY),
            client_fragment(false, OpCode::Binary, b"", KEY),
            client_fragment(false, OpCode::Continuation, b"", KEY),
            client_frame(OpCode::Continuation, b"", KEY),
            client_frame(OpCode::Ping, b"", KEY),
            client_frame(OpCode::Close, b"", KEY),
        ]);
        let expected = vec![
            Msg::Text(String::new()),
            Msg::Binary(vec![]),
            Msg::Ping(vec![]),
            Msg::Close(None, "".into()),
        ];
        assert_eq!(run(&bytes, MAX), (expected, Ok(())));
    }

    #[test]
    fn rfc6455_5_5_1_close_payload_rules() {
        let close = |payload: &[u8]| run(&client_frame(OpCode::Close, payload, KEY), MAX);
        assert_eq!(close(b""), (vec![Msg::Close(None, String::new())], Ok(())));
        assert_eq!(close(b"\x03\xe8"), (vec![Msg::Close(Some(1000), String::new())], Ok(())));
        assert_eq!(close(b"\x0f\xa0h\xc3\xa9llo"), (vec![Msg::Close(Some(4000), "héllo".into())], Ok(())));
        assert_eq!(close(b"\x03"), (vec![], Err(WsError::InvalidClosePayload)));
        assert_eq!(close(b"\x03\xe8\xce\xba\xe1"), (vec![], Err(WsError::InvalidUtf8)));
        for code in [0u16, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2999, 5000] {
            assert_eq!(close(&code.to_be_bytes()), (vec![], Err(WsError::InvalidCloseCode(code))), "{code}");
        }
        for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999] {
            assert_eq!(close(&code.to_be_bytes()).1, Ok(()), "{code}");
        }
    }

    #[test]
    fn rfc6455_8_1_invalid_utf8_fails_fast_before_frame_completes() {
        let payload = b"\xff\xfe\xfdthe rest of a long frame that has not arrived yet";
        let mut bytes = client_frame(OpCode::Text, payload, KEY);
        let header = 6;
        let mut reader = MessageReader::new();
        let result = reader.feed(&mut bytes[..header + 3], MAX, |_| Flow::Continue);
        assert_eq!(result, Err(WsError::InvalidUtf8));
        // Even the first invalid byte alone is enough.
        let mut bytes = client_frame(OpCode::Text, payload, KEY);
        let mut reader = MessageReader::new();
        assert_eq!(reader.feed(&mut bytes[..header], MAX, |_| Flow::Continue), Ok(()));
        assert_eq!(
            reader.feed(&mut bytes[header..header + 1], MAX, |_| Flow::Continue),
            Err(WsError::InvalidUtf8)
        );
    }

    #[test]
    fn rfc6455_8_1_invalid_utf8_in_later_fragment_fails_fast() {
        // Autobahn 6.4.1: a valid first fragment, then a fragment whose code point
        // F4 90 80 80 (> U+10FFFF) is invalid from its second byte on.
        let first = client_fragment(false, OpCode::Text, "κόσμε".as_bytes(), KEY);
        let mut second = client_fragment(false, OpCode::Continuation, b"\xf4\x90\x80\x80", KEY);
        let mut reader = MessageReader::new();
        assert_eq!(reader.feed(&mut first.clone(), MAX, |_| Flow::Continue), Ok(()));
        assert_eq!(reader.feed(&mut second[..7], MAX, |_| Flow::Continue), Ok(()));
        assert_eq!(reader.feed(&mut second[7..8], MAX, |_| Flow::Continue), Err(WsError::InvalidUtf8));
    }

    #[test]
    fn rfc6455_8_1_code_point_split_across_fragments_is_valid() {
        let euro = "€".as_bytes(); // e2 82 ac
        let bytes = concat(&[
            client_fragment(false, OpCode::Text, &euro[..1], KEY),
            client_frame(OpCode::Ping, b"", KEY),
            client_fragment(false, OpCode::Continuation, &euro[1..2], KEY),
            client_fragment(true, OpCode::Continuation, &euro[2..], KEY),
        ]);
        assert_eq!(run(&bytes, MAX), (vec![Msg::Ping(vec![]), Msg::Text("€".into())], Ok(())));
    }

    #[test]
    fn rfc6455_8_1_truncated_code_point_at_message_end_is_invalid() {
        let euro = "€".as_bytes();
        assert_eq!(
            run(&client_frame(OpCode::Text, &euro[..2], KEY), MAX),
            (vec![], Err(WsError::InvalidUtf8))
        );
        let bytes = concat(&[
            client_fragment(false, OpCode::Text, b"ok", KEY),
            client_fragment(true, OpCode::Continuation, &euro[..2], KEY),
        ]);
        assert_eq!(run(&bytes, MAX), (vec![], Err(WsError::InvalidUtf8)));
    }

    #[test]
    fn utf8_incomplete_tail_tracks_partial_code_points() {
        assert_eq!(utf8_incomplete_tail(b"abc"), Ok(0));
        assert_eq!(utf8_incomplete_tail(b"ab\xe2"), Ok(1));
        assert_eq!(utf8_incomplete_tail(b"\xe2\x82"), Ok(2));
        assert_eq!(utf8_incomplete_tail(b"\xf0\x9f\x98"), Ok(3));
        assert_eq!(utf8_incomplete_tail(b"\xe2\x82\xac"), Ok(0));
        assert_eq!(utf8_incomplete_tail(b"\xe2("), Err(WsError::InvalidUtf8));
        assert_eq!(utf8_incomplete_tail(b"\xc0"), Err(WsError::InvalidUtf8));
        assert_eq!(utf8_incomplete_tail(b"\xed\xa0"), Err(WsError::InvalidUtf8));
        // surrogate
    }

    #[test]
    fn message_too_big_is_detected_from_the_header() {
        let bytes = client_frame(OpCode::Binary, &[7; 1000], KEY);
        let mut reader = MessageReader::new();
        // Only the 4-byte header and key have arrived.
        assert_eq!(
            reader.feed(&mut bytes[..8].to_vec(), 999, |_| Flow::Continue),
            Err(WsError::MessageTooBig)
        );
        assert_eq!(reader.buffered_bytes(), 0);
        assert_eq!(run(&bytes, 1000), (vec![Msg::Binary(vec![7; 1000])], Ok(())));
    }

    #[test]
    fn message_too_big_counts_all_fragments() {
        let bytes = concat(&[
            client_fragment(false, OpCode::Text, b"12345", KEY),
            client_fragment(false, OpCode::Continuation, b"12345", KEY),
            client_frame(OpCode::Ping, &[0; 100], KEY),
            client_fragment(true, OpCode::Continuation, b"1", KEY),
        ]);
        let ping = Msg::Ping(vec![0; 100]);
        assert_eq!(run(&bytes, 10), (vec![ping.clone()], Err(WsError::MessageTooBig)));
        assert_eq!(run(&bytes, 11), (vec![ping, Msg::Text("12345123451".into())], Ok(())));
    }

    #[test]
    fn unfragmented_frame_is_delivered_in_place() {
        let mut bytes = concat(&[
            client_frame(OpCode::Binary, b"hello world", KEY),
            client_frame(OpCode::Text, &[b'x'; 300], KEY),
            client_frame(OpCode::Ping, b"ping", KEY),
        ]);
        let range = bytes.as_ptr_range();
        let mut reader = MessageReader::new();
        let mut count = 0;
        let result = reader.feed(&mut bytes, MAX, |m| {
            let (WsMessage::Binary(p) | WsMessage::Text(p) | WsMessage::Ping(p)) = m else { panic!("{m:?}") };
            assert!(range.contains(&p.as_ptr()), "payload was copied");
            count += 1;
            Flow::Continue
        });
        assert_eq!((result, count), (Ok(()), 3));
        assert_eq!(reader.buffered_bytes(), 0);
    }

    #[test]
    fn idle_reader_holds_no_heap() {
        let mut reader = MessageReader::new();
        assert_eq!(reader.buffered_bytes(), 0);
        let mut bytes = concat(&[
            client_fragment(false, OpCode::Text, b"abc", KEY),
            client_frame(OpCode::Ping, b"xyz", KEY),
            client_frame(OpCode::Continuation, b"def", KEY),
        ]);
        let (got, result) = feed_chunked(&mut reader, &mut bytes, &[1], MAX);
        assert_eq!((got.len(), result), (2, Ok(())));
        assert_eq!(reader.buffered_bytes(), 0);
        // A partial payload is held on the heap, and released once delivered.
        let mut frame = client_frame(OpCode::Binary, &[1; 200], KEY);
        let (head, tail) = frame.split_at_mut(100);
        assert_eq!(reader.feed(head, MAX, |_| Flow::Continue), Ok(()));
        assert!(reader.buffered_bytes() >= 92, "92 payload bytes held");
        assert_eq!(reader.feed(tail, MAX, |_| Flow::Continue), Ok(()));
        assert_eq!(reader.buffered_bytes(), 0);
        // A partial control frame outside any message too.
        let mut ping = client_frame(OpCode::Ping, b"0123456789", KEY);
        let (head, tail) = ping.split_at_mut(9);
        assert_eq!(reader.feed(head, MAX, |_| Flow::Continue), Ok(()));
        assert!(reader.buffered_bytes() > 0);
        assert_eq!(reader.feed(tail, MAX, |_| Flow::Continue), Ok(()));
        assert_eq!(reader.buffered_bytes(), 0);
    }

    #[test]
    fn header_split_across_feeds_is_kept_inline() {
        let mut frame = client_frame(OpCode::Binary, &[9; 70_000], KEY);
        let mut reader = MessageReader::new();
        for i in 0..13 {
            assert_eq!(reader.feed(&mut frame[i..i + 1], MAX, |_| Flow::Continue), Ok(()));
            assert_eq!(reader.buffered_bytes(), 0, "after {} header bytes", i + 1);
        }
        let mut got = Vec::new();
        let result = reader.feed(&mut frame[13..], MAX, |m| {
            got.push(own(m));
            Flow::Continue
        });
        assert_eq!((got, result), (vec![Msg::Binary(vec![9; 70_000])], Ok(())));
    }

    #[test]
    fn reader_is_small() {
        let size = std::mem::size_of::<MessageReader>();
        assert!(size <= 64, "MessageReader is {size} bytes");
        assert_eq!(size, 56);
    }

    #[test]
    fn flow_stop_stops_delivery() {
        let mut bytes = concat(&[
            client_frame(OpCode::Text, b"one", KEY),
            client_frame(OpCode::Close, b"\x03\xe8", KEY),
            client_frame(OpCode::Text, b"never", KEY),
        ]);
        let mut got = Vec::new();
        let result = MessageReader::new().feed(&mut bytes, MAX, |m| {
            let stop = matches!(m, WsMessage::Close { .. });
            got.push(own(m));
            if stop {
                Flow::Stop
            } else {
                Flow::Continue
            }
        });
        assert_eq!(result, Ok(()));
        assert_eq!(got, vec![Msg::Text("one".into()), Msg::Close(Some(1000), String::new())]);
    }

    /// 1 MiB of text mixing 1- to 4-byte code points, so chunks split code points.
    fn one_mib_text() -> String {
        let pattern = "aé€😀ßκόσμε";
        let mut s = String::with_capacity((1 << 20) + pattern.len());
        while s.len() < 1 << 20 {
            s.push_str(pattern);
        }
        s
    }

    #[test]
    fn one_mib_message_fed_one_byte_at_a_time() {
        let text = one_mib_text();
        let mut bytes = client_frame(OpCode::Text, text.as_bytes(), KEY);
        let mut reader = MessageReader::new();
        let (got, result) = feed_chunked(&mut reader, &mut bytes, &[1], MAX);
        assert_eq!(result, Ok(()));
        assert!(got == vec![Msg::Text(text)], "1 MiB message mismatch");
        assert_eq!(reader.buffered_bytes(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn one_mib_message_fed_in_random_chunks(
            sizes in vec(1usize..100_000, 1..40),
            frags in vec(any::<Index>(), 0..5),
        ) {
            let text = one_mib_text();
            let mut cuts: Vec<usize> = frags.iter().map(|i| i.index(text.len() + 1)).collect();
            cuts.sort_unstable();
            let bounds: Vec<usize> = std::iter::once(0).chain(cuts).chain(std::iter::once(text.len())).collect();
            let last = bounds.len() - 2;
            let mut bytes: Vec<u8> = bounds
                .windows(2)
                .enumerate()
                .flat_map(|(i, w)| {
                    let op = if i == 0 { OpCode::Text } else { OpCode::Continuation };
                    client_fragment(i == last, op, &text.as_bytes()[w[0]..w[1]], KEY)
                })
                .collect();
            let mut reader = MessageReader::new();
            let (got, result) = feed_chunked(&mut reader, &mut bytes, &sizes, MAX);
            prop_assert_eq!(result, Ok(()));
            prop_assert!(got == vec![Msg::Text(text)], "1 MiB message mismatch");
            prop_assert_eq!(reader.buffered_bytes(), 0);
        }
    }

    // ---- tungstenite as the oracle for client frames -----------------------------------

    #[derive(Debug, Clone)]
    enum Planned {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
    }

    /// A message, where to cut it into fragments, a ping to put between fragments, a key.
    type Plan = (Planned, Vec<Index>, Option<Vec<u8>>, [u8; 4]);

    fn planned() -> impl Strategy<Value = Plan> {
        let text = vec(any::<char>(), 0..80).prop_map(|c| Planned::Text(c.into_iter().collect()));
        let small = vec(any::<u8>(), 0..300).prop_map(Planned::Binary);
        let big = (126usize..70_000, any::<u8>())
            .prop_map(|(n, seed)| Planned::Binary((0..n).map(|i| (i as u8).wrapping_mul(seed)).collect()));
        let ping = vec(any::<u8>(), 0..=125).prop_map(Planned::Ping);
        let item = prop_oneof![4 => text, 3 => small, 1 => big, 2 => ping];
        (item, vec(any::<Index>(), 0..4), proptest::option::of(vec(any::<u8>(), 0..20)), any::<[u8; 4]>())
    }

    /// A masked client frame, encoded by tungstenite.
    fn tungstenite_frame(opcode: coding::OpCode, fin: bool, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut frame = match opcode {
            coding::OpCode::Data(_) => Frame::message(payload.to_vec(), opcode, fin),
            coding::OpCode::Control(_) => Frame::ping(payload.to_vec()),
        };
        frame.header_mut().mask = Some(key);
        let mut out = Vec::new();
        frame.format(&mut out).expect("writing to a Vec");
        out
    }

    /// Encode the plan with tungstenite; return the bytes and the messages they carry.
    fn encode(plan: &[Plan]) -> (Vec<u8>, Vec<Msg>) {
        let ping_op = coding::OpCode::Control(coding::Control::Ping);
        let (mut out, mut expected) = (Vec::new(), Vec::new());
        for (item, cuts, between, key) in plan {
            let (first_op, payload, msg) = match item {
                Planned::Ping(p) => {
                    out.extend(tungstenite_frame(ping_op, true, p, *key));
                    expected.push(Msg::Ping(p.clone()));
                    continue;
                }
                Planned::Text(s) => (coding::Data::Text, s.as_bytes(), Msg::Text(s.clone())),
                Planned::Binary(b) => (coding::Data::Binary, &b[..], Msg::Binary(b.clone())),
            };
            let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
            bounds.push(0);
            bounds.push(payload.len());
            bounds.sort_unstable();
            let last = bounds.len() - 2;
            for (i, w) in bounds.windows(2).enumerate() {
                let op = if i == 0 { first_op } else { coding::Data::Continue };
                out.extend(tungstenite_frame(
                    coding::OpCode::Data(op),
                    i == last,
                    &payload[w[0]..w[1]],
                    *key,
                ));
                if let (Some(p), false) = (between, i == last) {
                    out.extend(tungstenite_frame(ping_op, true, p, *key));
                    expected.push(Msg::Ping(p.clone()));
                }
            }
            expected.push(msg);
        }
        (out, expected)
    }

    proptest! {
        #[test]
        fn decoder_matches_tungstenite_encoded_messages(
            plan in vec(planned(), 0..8),
            sizes in vec(1usize..200, 1..20),
        ) {
            let (bytes, expected) = encode(&plan);
            let mut reader = MessageReader::new();
            let (got, result) = feed_chunked(&mut reader, &mut bytes.clone(), &sizes, MAX);
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(&got, &expected);
            prop_assert_eq!(reader.buffered_bytes(), 0);
            let (got, result) = feed_chunked(&mut MessageReader::new(), &mut bytes.clone(), &[usize::MAX], MAX);
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn chunking_never_changes_the_outcome(
            plan in vec(planned(), 1..6),
            corrupt in (any::<Index>(), any::<u8>()),
            sizes in vec(1usize..40, 1..10),
            max in prop_oneof![Just(MAX), 0usize..400],
        ) {
            let (mut bytes, _) = encode(&plan);
            if !bytes.is_empty() {
                let i = corrupt.0.index(bytes.len());
                bytes[i] ^= corrupt.1;
            }
            let whole = feed_chunked(&mut MessageReader::new(), &mut bytes.clone(), &[usize::MAX], max);
            let chunked = feed_chunked(&mut MessageReader::new(), &mut bytes.clone(), &sizes, max);
            prop_assert_eq!(whole, chunked);
        }
    }
}
