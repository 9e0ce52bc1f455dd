//! ringcast: a pub/sub fan-out server for real-time web applications.
//!
//! One published message reaches tens of thousands of WebSocket clients with as little
//! CPU per delivery as the kernel allows, speaking protocols existing clients already
//! use (websocket-multiplex rooms today). It is a library (this crate) and a server
//! binary (`ringcast serve`).
//!
//! # Module map, in data-flow order
//!
//! ```text
//! accept ─▶ http::request ─▶ transport::ws ─▶ protocol ──Action──▶ shard
//! shard ─▶ pubsub::topics ─(other shards)▶ pubsub::bus ─▶ pubsub::prepared ─▶ send::queue ─▶ send::flush ─▶ io
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the TOML schema, defaults with units and reasons, `validate()` |
//! | [`error`] | typed errors per layer; close causes and their codes |
//! | [`server`] | listeners (`SO_REUSEPORT`), shard threads, pinning, signals, drain |
//! | [`shard`] | the per-core event loop, connection table, timers |
//! | [`io`] | the `Backend` enum over io_uring and epoll, and the startup probe |
//! | [`http`] | sans-IO request parsing, routing, canned responses |
//! | [`transport`] | WebSocket handshake, frame codec, masking, message assembly; SockJS framing |
//! | [`protocol`] | per-connection protocol state machines returning `Action`s |
//! | [`session`] | SockJS HTTP-transport sessions: state machine, registry, owner shard |
//! | [`pubsub`] | topic table, `Prepared` (encode once), cross-shard bus |
//! | [`send`] | per-connection send queues with a byte budget; the coalesced flush |
//! | [`idtable`] | slab with generation-checked ids (connections, sessions) |
//! | [`metrics`] | counters and their Prometheus rendering |
//!
//! Dependencies point downward: codecs and parsers depend on nothing stateful,
//! protocols never touch `pubsub` or `shard`, and only `shard` combines I/O with state.
//!
//! # Embedding
//!
//! ```no_run
//! let config = ringcast::config::Config::embedded_default();
//! let server = ringcast::server::Server::start(config).expect("start");
//! println!("{}", server.startup_line());
//! server.stop().expect("clean shutdown");
//! ```

pub mod config;
pub mod error;
pub mod http;
pub mod idtable;
pub mod io;
pub mod metrics;
pub mod protocol;
pub mod pubsub;
pub mod send;
pub mod server;
pub mod session;
pub mod shard;
pub mod transport;

pub use config::Config;
pub use server::Server;
