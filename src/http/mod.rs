//! HTTP/1.1, as far as a WebSocket and pub/sub server needs it.
//!
//! Owns: sans-IO parsing of request heads (`request`), incremental decoding of chunked
//! bodies (`chunked`), mapping paths to what serves
//! them (`route`), and building responses (`response`). Does not own: sockets, the
//! WebSocket handshake rules (`transport::ws::handshake`) or any session state.

pub mod chunked;
pub mod request;
pub mod response;
pub mod route;
