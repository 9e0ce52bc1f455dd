//! Transports: how application messages are framed on a connection.
//!
//! Owns: the WebSocket protocol (`ws`: handshake, frame codec, masking, message
//! assembly) and SockJS framing, payload decoding, routes and static responses
//! (`sockjs`). Engine.IO joins here. Does not own: sockets,
//! application protocols, or delivery.

pub mod sockjs;
pub mod ws;
