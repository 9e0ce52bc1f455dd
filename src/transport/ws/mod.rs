//! RFC 6455 WebSocket protocol, sans-IO.
//!
//! Owns: the opening handshake rules (`handshake`), frame headers and server frame
//! encoding (`codec`), payload masking (`mask`), message assembly with fragmentation,
//! UTF-8 and close-payload validation (`reader`), and the protocol errors with their close
//! codes (`error`); plus the pre-RFC Hixie-76 handshake and framing (`hixie76`), which
//! SockJS services may enable.
//!
//! Does not own: sockets, timers, HTTP request parsing, send queues, or what a message
//! means to the application. Nothing here performs I/O or logs; callers feed bytes in and
//! get messages, frames or errors out.

pub mod codec;
pub mod error;
pub mod handshake;
pub mod hixie76;
pub mod mask;
pub mod reader;

#[cfg(test)]
mod tests {
    //! End to end against tungstenite's client over an in-memory stream: the handshake,
    //! server frames read by the client, and client frames read by `MessageReader`.

    use super::codec::{self, OpCode};
    use super::handshake::{self, HandshakeHeaders};
    use super::reader::{Flow, MessageReader, WsMessage};
    use std::io::{self, Cursor, Read, Write};
    use tungstenite::handshake::HandshakeError;
    use tungstenite::Message;

    /// The client reads `inbound` (`WouldBlock` once drained) and writes to `outbound`.
    #[derive(Debug, Default)]
    struct Pipe {
        inbound: Cursor<Vec<u8>>,
        outbound: Vec<u8>,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.inbound.read(buf)? {
                0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.outbound.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn header<'a>(request: &'a str, name: &str) -> Option<&'a [u8]> {
        request.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().as_bytes())
        })
    }

    #[test]
    fn tungstenite_client_round_trip() {
        let Err(HandshakeError::Interrupted(mut mid)) =
            tungstenite::client("ws://localhost/echo", Pipe::default())
        else {
            panic!("the client should wait for the 101 response");
        };
        let pipe = mid.get_mut().get_mut();
        let request = String::from_utf8(std::mem::take(&mut pipe.outbound)).expect("ASCII request");
        let accept = handshake::validate(&HandshakeHeaders {
            method: request.split(' ').next().unwrap_or_default(),
            upgrade: header(&request, "Upgrade"),
            connection: header(&request, "Connection"),
            version: header(&request, "Sec-WebSocket-Version"),
            key: header(&request, "Sec-WebSocket-Key"),
        })
        .expect("tungstenite's request is a valid upgrade");
        pipe.inbound.get_mut().extend_from_slice(&handshake::response_101(&accept));
        let (mut ws, response) = mid.handshake().expect("tungstenite accepts our 101");
        assert_eq!(response.status(), 101);

        // Client to server.
        ws.send(Message::Text("hi ✓".into())).expect("send text");
        ws.send(Message::Binary(vec![5; 300])).expect("send binary");

        // Server to client.
        let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        for frame in [
            codec::frame(OpCode::Text, "héllo".as_bytes()),
            codec::frame(OpCode::Binary, &big),
            codec::frame(OpCode::Ping, b"p"),
            codec::close_frame(4001, "bye ✓"),
        ] {
            ws.get_mut().inbound.get_mut().extend_from_slice(&frame);
        }
        assert_eq!(ws.read().expect("text"), Message::Text("héllo".into()));
        assert_eq!(ws.read().expect("binary"), Message::Binary(big));
        assert_eq!(ws.read().expect("ping"), Message::Ping(b"p".to_vec()));
        let Message::Close(Some(close)) = ws.read().expect("close") else { panic!("expected a close frame") };
        assert_eq!((u16::from(close.code), close.reason.as_ref()), (4001, "bye ✓"));
        let _ = ws.flush(); // sends the pong and the close reply

        let mut outbound = std::mem::take(&mut ws.get_mut().outbound);
        let mut got = Vec::new();
        let result = MessageReader::new().feed(&mut outbound, 1 << 20, |m| {
            got.push(match m {
                WsMessage::Text(t) => format!("text {}", String::from_utf8_lossy(t)),
                WsMessage::Binary(b) => format!("binary {}", b.len()),
                WsMessage::Pong(p) => format!("pong {}", String::from_utf8_lossy(p)),
                WsMessage::Close { code, .. } => format!("close {code:?}"),
                WsMessage::Ping(_) => "ping".to_owned(),
            });
            Flow::Continue
        });
        assert_eq!(result, Ok(()));
        assert_eq!(got, ["text hi ✓", "binary 300", "pong p", "close Some(4001)"]);
    }
}
