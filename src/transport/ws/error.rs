//! WebSocket protocol errors raised while reading a client's frames.
//!
//! Owns: the list of ways a peer can break RFC 6455 on the receive side, and the close
//! status code (RFC 6455 §7.4.1) the server answers each with.
//!
//! Does not own: handshake errors (`handshake::HandshakeError`), I/O errors, or the
//! decision to close (the connection layer sends the close frame and logs).

/// A protocol violation by the peer. `Copy`, so the hot path returns it without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// RFC 6455 §5.1: a client MUST mask every frame it sends to the server.
    #[error("client frame is not masked (RFC 6455 §5.1)")]
    UnmaskedClientFrame,
    /// RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension was negotiated (none is).
    #[error("reserved bits RSV1-3 set without a negotiated extension (RFC 6455 §5.2)")]
    ReservedBitsSet,
    /// RFC 6455 §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    #[error("reserved opcode {0:#x} (RFC 6455 §5.2)")]
    ReservedOpcode(u8),
    /// RFC 6455 §5.5: control frames carry at most 125 payload bytes.
    #[error("control frame payload longer than 125 bytes (RFC 6455 §5.5)")]
    ControlFrameTooLong,
    /// RFC 6455 §5.5: control frames MUST NOT be fragmented.
    #[error("fragmented control frame (RFC 6455 §5.5)")]
    FragmentedControlFrame,
    /// RFC 6455 §5.4: a continuation frame arrived with no fragmented message open.
    #[error("continuation frame without a message to continue (RFC 6455 §5.4)")]
    UnexpectedContinuation,
    /// RFC 6455 §5.4: a new text or binary frame arrived inside a fragmented message.
    #[error("new data frame inside a fragmented message, expected continuation (RFC 6455 §5.4)")]
    ExpectedContinuation,
    /// RFC 6455 §8.1: text messages and close reasons MUST be valid UTF-8.
    #[error("invalid UTF-8 in a text message or close reason (RFC 6455 §8.1)")]
    InvalidUtf8,
    /// The message is larger than the configured `max_message_bytes` (RFC 6455 §7.4.1, 1009).
    #[error("message exceeds the configured maximum size (RFC 6455 §7.4.1)")]
    MessageTooBig,
    /// RFC 6455 §5.5.1: a close payload is empty or at least 2 bytes (the status code).
    #[error("close frame payload of 1 byte (RFC 6455 §5.5.1)")]
    InvalidClosePayload,
    /// RFC 6455 §7.4: the close status code is not one a peer may send.
    #[error("close status code {0} is not valid on the wire (RFC 6455 §7.4)")]
    InvalidCloseCode(u16),
    /// RFC 6455 §5.2: the payload length MUST use the minimal number of bytes.
    #[error("payload length not minimally encoded (RFC 6455 §5.2)")]
    NonMinimalLength,
    /// RFC 6455 §5.2: the most significant bit of a 64-bit payload length MUST be 0.
    #[error("64-bit payload length has its most significant bit set (RFC 6455 §5.2)")]
    PayloadLengthMsbSet,
}

impl WsError {
    /// The close status code to send back (RFC 6455 §7.4.1): 1007 for invalid UTF-8
    /// (text or close reason), 1009 for a message that is too big, 1002 for every other
    /// protocol error.
    pub fn close_code(self) -> u16 {
        match self {
            WsError::InvalidUtf8 => 1007,
            WsError::MessageTooBig => 1009,
            WsError::UnmaskedClientFrame
            | WsError::ReservedBitsSet
            | WsError::ReservedOpcode(_)
            | WsError::ControlFrameTooLong
            | WsError::FragmentedControlFrame
            | WsError::UnexpectedContinuation
            | WsError::ExpectedContinuation
            | WsError::InvalidClosePayload
            | WsError::InvalidCloseCode(_)
            | WsError::NonMinimalLength
            | WsError::PayloadLengthMsbSet => 1002,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WsError;

    #[test]
    fn rfc6455_7_4_1_close_codes_for_errors() {
        assert_eq!(WsError::InvalidUtf8.close_code(), 1007);
        assert_eq!(WsError::MessageTooBig.close_code(), 1009);
        for e in [
            WsError::UnmaskedClientFrame,
            WsError::ReservedBitsSet,
            WsError::ReservedOpcode(3),
            WsError::ControlFrameTooLong,
            WsError::FragmentedControlFrame,
            WsError::UnexpectedContinuation,
            WsError::ExpectedContinuation,
            WsError::InvalidClosePayload,
            WsError::InvalidCloseCode(1005),
            WsError::NonMinimalLength,
            WsError::PayloadLengthMsbSet,
        ] {
            assert_eq!(e.close_code(), 1002, "{e}");
        }
    }

    #[test]
    fn error_messages_name_the_cause() {
        assert_eq!(WsError::ReservedOpcode(0xB).to_string(), "reserved opcode 0xb (RFC 6455 §5.2)");
        assert!(WsError::InvalidCloseCode(1005).to_string().contains("1005"));
    }
}
