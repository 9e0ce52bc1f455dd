//! ringcast: a pub/sub fan-out server for real-time web applications.
//!
//! One published message reaches tens of thousands of browsers with as little CPU per
//! delivery as the kernel allows, speaking the protocols existing front ends already
//! use: SockJS (every transport) and websocket-multiplex rooms and channels, over
//! io_uring or epoll. It is a server binary (`ringcast serve`) and this library, for
//! programs that add their own logic.
//!
//! # Embedding
//!
//! Build an [`App`] from a [`Config`], add services with their [`Handler`]s, start it,
//! and publish from anywhere with a [`Publisher`]:
//!
//! ```no_run
//! use ringcast::{App, Config, Conn, Handler, Message, RoomsOptions};
//!
//! /// sockjs-node's echo server.
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type State = ();
//!     fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
//!         if let Message::Text(text) = msg {
//!             conn.send(text);
//!         }
//!     }
//! }
//!
//! let mut app = App::new(Config::default());
//! app.sockjs("/echo", Echo); // every SockJS transport, raw WebSocket at /echo/websocket
//! app.rooms("/rooms", RoomsOptions::default()); // built-in websocket-multiplex rooms
//! let server = app.start()?;
//! let publisher = server.publisher(); // Send + Clone: use it from any thread
//! let status = publisher.publish("/rooms", "red", "price=42")?; // never blocks
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Handlers run on the shard thread that owns the connection, without locks, and must
//! not block; slow work goes to the application's own threads or runtime and answers
//! through a [`ConnHandle`]. See [`Handler`] for the rules.
//!
//! # Module map, in data-flow order
//!
//! ```text
//! accept ─▶ http::request ─▶ http::route ─▶ shard::{sockjs, ws} (front ends) ─▶ session ─▶ protocol ──Action──▶ shard
//! shard ─▶ pubsub::topics ─(other shards)▶ pubsub::bus ─▶ pubsub::prepared ─▶ send::queue ─▶ send::flush ─▶ io
//! ```
//!
//! | module | owns |
//! |---|---|
//! | `api` | the public surface: [`App`], [`Handler`], [`Conn`], [`ConnHandle`], [`Publisher`], [`ServeArgs`] |
//! | [`config`] | the TOML schema, defaults with units and reasons, `validate()` |
//! | `error` | typed errors per layer; close causes and their codes |
//! | `server` | listeners (`SO_REUSEPORT`), shard threads, pinning, signals, drain |
//! | `service` | the services resolved at startup: front-end kind, protocol, topic space |
//! | `shard` | the per-core event loop and its parts: connections, rooms and delivery, sessions, parked requests, timers; the front ends |
//! | `io` | the `Backend` enum over io_uring and epoll, and the startup probe |
//! | `http` | sans-IO request parsing, routing (by front-end kind), canned responses |
//! | `transport` | WebSocket handshake, frame codec, masking, message assembly; SockJS framing |
//! | `session` | HTTP-transport sessions as sans-IO state machines returning effects; the registry |
//! | `protocol` | per-member protocol state and its one dispatch: rooms, channels, application handlers |
//! | `builtin` | the `echo`, `close` and `multiplex_example` services, written on the public API |
//! | `pubsub` | topic table keyed by (space, name), `Prepared` (encode once per `Encoding`), the bus |
//! | `send` | per-connection send queues with a byte budget; the coalesced flush |
//! | `ids` | the ids every layer shares (connection, session, shard, service, space, member) |
//! | `idtable` | slab with generation-checked ids (connections, sessions) |
//! | `metrics` | counters and their Prometheus rendering |
//!
//! Dependencies point downward: codecs and parsers depend on nothing stateful,
//! protocols never touch `pubsub` or `shard`, and only `shard` combines I/O with state.
//! Everything but the re-exports below is private to the crate.

#![warn(missing_docs)]

/// Declares internal modules: crate-private, or public but hidden with the `internals`
/// feature (the benches and fuzz targets measure and fuzz the codecs directly).
macro_rules! internal_modules {
    ($($name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "internals")]
            #[doc(hidden)]
            #[allow(missing_docs)]
            pub mod $name;
            #[cfg(not(feature = "internals"))]
            #[allow(dead_code)]
            pub(crate) mod $name;
        )*
    };
}

internal_modules!(
    builtin, http, idtable, ids, io, protocol, pubsub, send, server, service, session, shard, transport
);

mod api;
pub mod config;
mod error;
mod metrics;
mod security;
mod tls;

pub use api::{
    exit_on_clap_error, App, ChannelsBuilder, CloseReason, Conn, ConnError, ConnHandle, ConnectionId,
    HandleError, Handler, Message, PublishError, PublishStatus, Publisher, RoomsOptions, ServeArgs,
    ServiceBuilder, Transport,
};
pub use config::Config;
/// Why a request is refused (the fuzz targets compare the HTTP decoders' errors).
#[cfg(feature = "internals")]
#[doc(hidden)]
pub use error::HttpError;
pub use error::{ConfigError, StartError};
pub use io::probe::{BackendChoice, Selection};
pub use io::BackendKind;
pub use metrics::Counter;
pub use server::Server;
pub use tls::TlsError;
