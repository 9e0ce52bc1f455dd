//! Transports: how application messages are framed on a connection.
//!
//! Owns: the WebSocket protocol (`ws`: handshake, frame codec, masking, message
//! assembly). SockJS and Engine.IO framings join here. Does not own: sockets,
//! application protocols, or delivery.

pub mod ws;
