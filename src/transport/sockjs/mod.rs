//! SockJS protocol 0.3.3 (sockjs-node 0.3.24 wire behaviour), sans-IO.
//!
//! Owns the pure parts of the protocol, specified in `shared/spec/sockjs.md`:
//!
//! | module | owns |
//! |---|---|
//! | [`routes`] | the path under a service prefix → [`routes::SockjsRoute`], allowed methods (§2) |
//! | [`framing`] | server→client frames `o h a[...] c[...]`, SockJS JSON escaping, per-transport wrapping (§5, §7) |
//! | [`receive`] | client→server payloads of xhr_send, jsonp_send and the SockJS WebSocket (§5.3, §6.7, §8.1) |
//! | [`statics`] | complete HTTP responses for everything that is not a session body: greeting, iframe, info, preflight, 404/405/500, transport response heads, send acknowledgements, CORS and JSESSIONID headers (§3, §4, §10) |
//!
//! Does not own: sockets, timers, the session table and its state machine (§6), the WebSocket
//! handshake and codec (`transport::ws`), or which service a prefix belongs to.
//!
//! A request flows as: strip the service prefix → [`routes::route`] → 405 via
//! [`routes::method_allowed`] / [`statics::method_not_allowed`] → either a complete response
//! from [`statics`] or, for a session route, [`receive`] (sends) or a receiver that writes
//! [`statics::transport_head`], [`framing::prelude`] and frames wrapped by [`framing::wrap_into`]
//! (each in a chunk, [`statics::chunk_into`]) and ends with [`statics::LAST_CHUNK`].

pub mod framing;
pub mod receive;
pub mod routes;
pub mod statics;
