//! Typed errors, one enum per layer, named for their cause.
//!
//! Owns: configuration and startup errors, HTTP request errors. The WebSocket codec's
//! errors live beside it (`transport::ws::error`) and are re-exported here. Each
//! connection-level error says whether the peer, the server or backpressure caused it;
//! that picks the close code and the log level.

pub(crate) use crate::transport::ws::error::WsError;
pub(crate) use crate::transport::ws::handshake::HandshakeError;

/// A configuration that cannot be used. Printed as one line naming the field.
///
/// ```
/// let err = ringcast::Config::from_toml("shards = 5000").unwrap_err();
/// assert_eq!(err.to_string(), "config: shards: at most 1024");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read: (path, reason).
    #[error("cannot read config file {0}: {1}")]
    Read(String, String),
    /// Not valid TOML, or an unknown field: the parser's message.
    #[error("config: {0}")]
    Parse(String),
    /// A value that cannot work: (field, what it must be).
    #[error("config: {0}: {1}")]
    Invalid(String, String),
}

/// The server could not start.
///
/// ```
/// let mut config = ringcast::Config::default();
/// config.listen = "127.0.0.1:0".into();
/// config.limits.max_topic_bytes = 0;
/// let err = ringcast::Server::start(config).err().expect("an invalid config");
/// assert!(matches!(err, ringcast::StartError::Config(_)));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The requested I/O backend is not available (e.g. io_uring forced but blocked).
    #[error("backend: {0}")]
    Backend(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The `[tls]` certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A shard's thread or backend could not start.
    #[error("cannot start shard {shard}: {source}")]
    Shard {
        /// The shard's index.
        shard: usize,
        /// Why.
        source: std::io::Error,
    },
}

/// A malformed or unacceptable HTTP request (the peer's fault). Maps to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Not HTTP/1.x framing (head or chunked body).
    #[error("malformed request (head or chunked framing)")]
    Malformed,
    /// A head over `limits.max_request_head_bytes` (431).
    #[error("request head over the size limit")]
    HeadTooLarge,
    /// A body over `limits.max_request_body_bytes` (413).
    #[error("request body over the size limit")]
    BodyTooLarge,
    /// A Content-Length that is not a decimal number.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// RFC 9112 §6.3: two Content-Length values that differ (request smuggling).
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// RFC 9112 §6.1: Content-Length together with Transfer-Encoding (request smuggling).
    #[error("Content-Length together with Transfer-Encoding")]
    LengthWithTransferEncoding,
    /// RFC 9112 §6.1: a Transfer-Encoding other than exactly `chunked`, or one in HTTP/1.0.
    #[error("unsupported Transfer-Encoding (only chunked is accepted)")]
    BadTransferEncoding,
    /// Chunk extensions over `http::chunked::MAX_CHUNK_EXT_BYTES` in one body.
    #[error("chunk extensions over the size limit")]
    ChunkExtensionsTooLarge,
    /// A trailer section over `http::chunked::MAX_TRAILER_BYTES`.
    #[error("trailer section over the size limit")]
    TrailersTooLarge,
}

impl HttpError {
    /// The status code answered for this error.
    pub fn status(self) -> u16 {
        match self {
            HttpError::Malformed
            | HttpError::BadContentLength
            | HttpError::ConflictingContentLength
            | HttpError::LengthWithTransferEncoding
            | HttpError::BadTransferEncoding
            | HttpError::ChunkExtensionsTooLarge
            | HttpError::TrailersTooLarge => 400,
            HttpError::HeadTooLarge => 431,
            HttpError::BodyTooLarge => 413,
        }
    }
}

/// Why the server is closing a connection: picks the close code, log level and counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// The peer broke the WebSocket protocol (1002/1007/1009 from the codec).
    Protocol(WsError),
    /// The peer asked to close (echo its code).
    PeerClose(u16),
    /// The peer sent a binary message where text is required (1003).
    UnsupportedData,
    /// Send queue over `send_budget_bytes` (1008).
    Backpressure,
    /// No traffic for `idle_timeout_ms` (1001).
    Idle,
    /// The server is shutting down (1001).
    Shutdown,
    /// The service closes (application code, e.g. 3000).
    Application(u16),
    /// A SockJS WebSocket client sent a message that is not JSON (sockjs §8.1: 3000).
    BrokenFraming,
}

impl CloseCause {
    /// The WebSocket close code sent for this cause.
    pub fn close_code(self) -> u16 {
        match self {
            CloseCause::Protocol(e) => e.close_code(),
            CloseCause::PeerClose(code) => code,
            CloseCause::UnsupportedData => 1003,
            CloseCause::Backpressure => 1008,
            CloseCause::Idle | CloseCause::Shutdown => 1001,
            CloseCause::Application(code) => code,
            CloseCause::BrokenFraming => 3000,
        }
    }
}
