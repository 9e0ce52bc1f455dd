//! Server configuration: the TOML schema, its defaults, and validation.
//!
//! Owns: every tunable the operator can set, with units in field names and the reason
//! for each default, plus `Config::validate`, which rejects nonsense at startup with an
//! error naming the field. Does not own: command-line parsing (see `main.rs`, which
//! applies flags on top of a `Config`) or backend probing (`io::probe`).

use crate::error::ConfigError;
use crate::io::probe::BackendChoice;
use serde::Deserialize;
use std::net::SocketAddr;

/// The configuration `ringcast serve` runs with when no `--config` is given.
///
/// ```
/// assert!(ringcast::config::DEFAULT_CONFIG_TOML.contains("prefix = \"/rooms\""));
/// ```
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default.toml");

/// Paths the server answers itself; a service prefix may not shadow them.
///
/// ```
/// let err = ringcast::Config::from_toml("[[service]]\nprefix = '/metrics'\nprotocol = 'echo'\n");
/// assert!(ringcast::config::RESERVED_PATHS.contains(&"/metrics") && err.is_err());
/// ```
pub const RESERVED_PATHS: [&str; 4] = ["/healthz", "/metrics", "/publish", DEMO_CLIENT_PATH];

/// Where the demo page's own browser client is served (with the demo page).
pub const DEMO_CLIENT_PATH: &str = "/ringcast-client.js";

/// Top-level configuration: what `ringcast serve` reads from TOML, and what an
/// [`App`](crate::App) starts from.
///
/// ```
/// let config = ringcast::Config::from_toml(
///     "listen = '127.0.0.1:9000'\nshards = 2\n[limits]\nsend_budget_bytes = 262144\n",
/// )?;
/// assert_eq!(config.limits.send_budget_bytes, 262144);
/// assert!(config.services.is_empty(), "Config::default() and files without [[service]] have none");
/// # Ok::<(), ringcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address every shard listens on (`SO_REUSEPORT`); port 0 picks a free port.
    pub listen: String,
    /// Event-loop threads; 0 = one per available core.
    pub shards: usize,
    /// `auto` probes io_uring and falls back to epoll; `RINGCAST_BACKEND` overrides.
    pub backend: BackendChoice,
    /// Pin shard N to core N mod cores (less cache traffic, steadier latency).
    pub pin_shards: bool,
    /// Per-connection and per-process limits (`[limits]`).
    pub limits: Limits,
    /// Kernel-interface tuning (`[io]`).
    pub io: IoTuning,
    /// The rooms chat page at `/` (`[demo]`).
    pub demo: DemoConfig,
    /// Origins, bearer tokens and per-IP limits (`[security]`); all off by default.
    pub security: SecurityConfig,
    /// TLS on the listener (`[tls]`); off unless both files are named.
    pub tls: TlsConfig,
    /// Services by URL prefix, in TOML as `[[service]]` tables.
    #[serde(rename = "service")]
    pub services: Vec<ServiceConfig>,
}

/// Per-connection and per-process limits (`[limits]`).
///
/// ```
/// let mut config = ringcast::Config::default();
/// config.limits.max_message_bytes = 1 << 20;
/// assert!(config.validate().is_ok());
/// config.limits.send_budget_bytes = 0;
/// assert!(config.validate().unwrap_err().to_string().contains("limits.send_budget_bytes"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest WebSocket message accepted (sum of fragments); larger closes with 1009.
    /// 64 KiB covers chat and market-data payloads with room to spare.
    pub max_message_bytes: usize,
    /// Bytes a connection may leave unsent after a flush (bytes the kernel would not
    /// take). Past it the consumer is too slow: it is closed (1008, counted) so it cannot
    /// hold memory or slow others. Within one tick a queue may briefly hold up to 4× this
    /// (a burst from a fast publisher) before it is flushed.
    /// 1 MiB ≈ 16 000 small frames, several seconds of a busy room.
    pub send_budget_bytes: usize,
    /// Largest HTTP request head (request line + headers).
    pub max_request_head_bytes: usize,
    /// Largest HTTP request body (`POST /publish/<topic>`).
    pub max_request_body_bytes: usize,
    /// Open connections per shard; further accepts are closed at once and counted.
    pub max_connections_per_shard: usize,
    /// A connection that has not finished its HTTP request head in this time is closed.
    pub handshake_timeout_ms: u64,
    /// Send a WebSocket ping after this much inbound silence; 0 disables pings.
    pub ping_interval_ms: u64,
    /// Close a WebSocket (1001) that has sent nothing, not even a pong, for this long.
    /// 0 disables. Must exceed `ping_interval_ms` so a live client can answer.
    pub idle_timeout_ms: u64,
    /// After the server sends a close frame, how long it waits for the peer to finish.
    pub close_linger_ms: u64,
    /// Topics one connection may hold open at once; further `sub`s are ignored.
    pub max_topics_per_conn: usize,
    /// Longest topic name; longer topics are treated as unknown (spec multiplex §2).
    pub max_topic_bytes: usize,
    /// Batches each cross-shard queue holds; a full queue drops the batch and counts it.
    pub bus_capacity_batches: usize,
    /// On SIGINT/SIGTERM, how long to let connections close cleanly before exiting.
    pub shutdown_grace_ms: u64,
}

/// Kernel-interface tuning (`[io]`); defaults suit most deployments.
///
/// ```
/// let config = ringcast::Config::from_toml("[io]\nsocket_send_buffer_bytes = 65536\n")?;
/// assert_eq!(config.io.socket_send_buffer_bytes, 65536);
/// # Ok::<(), ringcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IoTuning {
    /// io_uring submission queue size.
    pub ring_entries: u32,
    /// Size of each read buffer (io_uring provided buffers, epoll's shared buffer).
    pub read_buffer_bytes: usize,
    /// Provided read buffers per shard (io_uring); a power of two.
    pub read_buffer_count: u16,
    /// Bytes read from one connection per tick (epoll) before the shard moves on to
    /// flushes, timers and other connections; the rest is read next tick. A client
    /// that never stops sending cannot hold the shard. io_uring shares its provided
    /// buffers between connections and caps the completions handled per tick instead.
    pub read_budget_bytes: usize,
    /// `SO_SNDBUF` of every accepted connection, bytes; 0 leaves it to the kernel's
    /// autotuning (which lets one stalled loopback peer hold megabytes). A cap bounds the
    /// kernel memory each connection can pin; the kernel doubles the value.
    pub socket_send_buffer_bytes: usize,
}

/// The rooms chat page served at `/` (`[demo]`).
///
/// ```
/// let config = ringcast::Config::from_toml("[demo]\nenabled = false\n")?;
/// assert!(!config.demo.enabled);
/// # Ok::<(), ringcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Serve the page at `/` (404 when false).
    pub enabled: bool,
    /// The SockJS rooms service the page connects to.
    pub service: String,
    /// Empty (the default): the page uses ringcast's own client, served at
    /// `/ringcast-client.js` (WebSocket transport only; works offline). A URL: the page
    /// loads sockjs-client from it instead (every transport, and a transport menu).
    pub sockjs_client_url: String,
    /// websocket-multiplex client script URL, loaded with `sockjs_client_url` when that
    /// is set.
    pub multiplex_client_url: String,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            enabled: true,
            service: "/rooms".into(),
            sockjs_client_url: String::new(),
            multiplex_client_url:
                "https://cdn.jsdelivr.net/npm/websocket-multiplex@0.1.0/multiplex_client.js".into(),
        }
    }
}

/// Access control (`[security]`). Every option is off by default; the default config
/// listens on 127.0.0.1 only.
///
/// ```
/// let config = ringcast::Config::from_toml(
///     "[security]\nallowed_origins = ['https://app.example.com']\nmax_connections_per_ip = 64\n",
/// )?;
/// assert_eq!(config.security.max_connections_per_ip, 64);
/// assert!(ringcast::Config::from_toml("[security]\nallowed_origins = ['https://a.com/']\n").is_err());
/// # Ok::<(), ringcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Browser origins (`scheme://host[:port]`, exact, case-insensitive; `"null"` for
    /// sandboxed pages; `"*"` for any) allowed to use the services and `/publish`.
    /// Empty = any. When set, a request with another `Origin` header is refused with
    /// 403 (WebSocket upgrades included); requests without `Origin` (non-browser
    /// clients) and same-origin requests (`Origin` naming the request's `Host`) pass.
    pub allowed_origins: Vec<String>,
    /// Bearer token `POST /publish` requires (`Authorization: Bearer <token>`); empty =
    /// none. The `RINGCAST_PUBLISH_TOKEN` environment variable, when set, replaces it.
    pub publish_token: String,
    /// Bearer token `GET /metrics` requires; empty = none. `RINGCAST_METRICS_TOKEN`,
    /// when set, replaces it.
    pub metrics_token: String,
    /// Open connections one client IP may hold, over all shards; 0 = no limit. Further
    /// connections from that IP get a 503 and are closed at accept.
    pub max_connections_per_ip: u32,
    /// SockJS HTTP-transport sessions open at once, over all shards; 0 = no limit.
    /// Past it, a request that would create a session gets 503.
    pub max_sessions: u32,
    /// SockJS HTTP-transport sessions one client IP may have open, over all shards;
    /// 0 = no limit. Past it, that IP's requests creating a session get 503.
    pub max_sessions_per_ip: u32,
}

/// TLS in the process (`[tls]`): with both files named, the listener speaks only TLS
/// (`wss://`, `https://`). SIGHUP reads the files again; connections keep the
/// certificate they started with.
///
/// ```
/// let config = ringcast::Config::from_toml("[tls]\ncert_file = 'cert.pem'\nkey_file = 'key.pem'\n")?;
/// assert!(config.tls.enabled());
/// assert!(ringcast::Config::from_toml("[tls]\ncert_file = 'cert.pem'\n").is_err());
/// # Ok::<(), ringcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
}

impl TlsConfig {
    /// Both files are named.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty() && !self.key_file.is_empty()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.cert_file.is_empty() != self.key_file.is_empty() {
            return Err(invalid("tls", "name both cert_file and key_file, or neither"));
        }
        Ok(())
    }
}

/// Environment variable that sets [`SecurityConfig::publish_token`].
pub const PUBLISH_TOKEN_ENV: &str = "RINGCAST_PUBLISH_TOKEN";
/// Environment variable that sets [`SecurityConfig::metrics_token`].
pub const METRICS_TOKEN_ENV: &str = "RINGCAST_METRICS_TOKEN";

/// Shortest bearer token accepted: shorter ones can be guessed.
const MIN_TOKEN_BYTES: usize = 16;

impl SecurityConfig {
    /// Take the tokens from `RINGCAST_PUBLISH_TOKEN` and `RINGCAST_METRICS_TOKEN` when
    /// they are set (non-empty): the environment wins over the file, so secrets need
    /// not be written in it. `ringcast serve` does this; embedding applications may.
    pub fn apply_env(&mut self) {
        self.apply_vars(|name| std::env::var(name).ok());
    }

    fn apply_vars(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(t) = var(PUBLISH_TOKEN_ENV).filter(|t| !t.is_empty()) {
            self.publish_token = t;
        }
        if let Some(t) = var(METRICS_TOKEN_ENV).filter(|t| !t.is_empty()) {
            self.metrics_token = t;
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (i, o) in self.allowed_origins.iter().enumerate() {
            if !valid_origin(o) {
                return Err(ConfigError::Invalid(
                    format!("security.allowed_origins[{i}]"),
                    format!("{o:?} is not an origin: write scheme://host[:port] (no path, no trailing '/'), \"null\" or \"*\""),
                ));
            }
        }
        for (name, token) in
            [("security.publish_token", &self.publish_token), ("security.metrics_token", &self.metrics_token)]
        {
            if token.is_empty() {
                continue;
            }
            if token.len() < MIN_TOKEN_BYTES || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid(
                    name,
                    "at least 16 printable ASCII characters without spaces (or empty for none)",
                ));
            }
        }
        Ok(())
    }
}

/// `scheme://host[:port]`, `null` or `*`.
fn valid_origin(o: &str) -> bool {
    if o == "*" || o == "null" {
        return true;
    }
    let Some((scheme, authority)) = o.split_once("://") else { return false };
    let scheme_ok =
        !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let authority_ok =
        !authority.is_empty() && !authority.bytes().any(|b| b"/?#@ ".contains(&b) || b.is_ascii_control());
    scheme_ok && authority_ok
}

/// What a service speaks.
///
/// ```
/// use ringcast::config::ProtocolKind;
/// let c = ringcast::Config::from_toml("[[service]]\nprefix = '/echo'\nprotocol = 'echo'\n")?;
/// assert_eq!(c.services[0].protocol, ProtocolKind::Echo);
/// # Ok::<(), ringcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolKind {
    /// websocket-multiplex rooms (pub/sub), spec `multiplex.md` §4.
    Rooms,
    /// Plain websocket-multiplex with the reference example's channels `ann`, `bob`,
    /// `carl` (spec `multiplex.md` §6 items 1–7, 18).
    MultiplexExample,
    /// Echo every message back (conformance and protocol tests).
    Echo,
    /// Close every connection at once with 3000 "Go away!" (SockJS protocol tests).
    Close,
    /// An application's handler, registered through [`App`](crate::App) (not in files).
    #[serde(skip)]
    Custom,
}

/// How clients reach a service: its front end.
///
/// ```
/// use ringcast::config::FrontEndKind;
/// let c = ringcast::Config::from_toml("[[service]]\nprefix = '/b'\nkind = 'websocket'\nprotocol = 'echo'\n")?;
/// assert_eq!(c.services[0].kind, FrontEndKind::Websocket);
/// # Ok::<(), ringcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontEndKind {
    /// SockJS at `<prefix>` (every transport), and a raw WebSocket at `<prefix>/websocket`.
    #[default]
    Sockjs,
    /// A raw WebSocket at `<prefix>` itself (e.g. `/broker`); nothing else under it.
    Websocket,
}

/// One service, mounted at a URL prefix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// URL prefix, e.g. `/rooms`.
    pub prefix: String,
    /// The front end: `sockjs` (default) or `websocket`.
    #[serde(default)]
    pub kind: FrontEndKind,
    /// What the service speaks.
    pub protocol: ProtocolKind,
    /// The topic space this service's topics live in. Absent: a space of its own, so
    /// two services never share a topic by accident. Services naming the same space
    /// share its topics (a room `news` of one is the room `news` of the other);
    /// `POST /publish/<topic>` publishes into the space named `public`.
    #[serde(default)]
    pub topic_space: Option<String>,
    /// SockJS: serve `<prefix>/websocket` and the session WebSocket transport.
    #[serde(default = "yes")]
    pub websocket: bool,
    /// Rooms: the allowed room names; absent = any room (dynamic rooms).
    #[serde(default)]
    pub rooms: Option<Vec<String>>,
    /// SockJS: idle time on an attached receiver before an `h` frame (spec sockjs §1).
    #[serde(default = "default_heartbeat_delay_ms")]
    pub heartbeat_delay_ms: u64,
    /// SockJS: how long a session lives with no receiver attached.
    #[serde(default = "default_disconnect_delay_ms")]
    pub disconnect_delay_ms: u64,
    /// SockJS: frame bytes a streaming response carries before the server ends it.
    #[serde(default = "default_response_limit_bytes")]
    pub response_limit_bytes: usize,
    /// SockJS: set the `JSESSIONID` cookie and report `cookie_needed` in /info.
    #[serde(default)]
    pub cookie_needed: bool,
    /// SockJS: also accept Hixie-76 (pre-RFC 6455) WebSockets on the session WebSocket
    /// transport (spec sockjs §8.3). Off by default: the protocol has no masking, so
    /// proxies that do not understand it can be confused by what clients send.
    #[serde(default)]
    pub hixie76: bool,
    /// SockJS: the client script the iframe page loads (must start with `/` or `http`).
    #[serde(default = "default_sockjs_url")]
    pub sockjs_url: String,
}

impl ServiceConfig {
    /// A service at `prefix` of front end `kind` speaking `protocol`, with every option
    /// at its default.
    ///
    /// ```
    /// use ringcast::config::{FrontEndKind, ProtocolKind, ServiceConfig};
    /// let s = ServiceConfig::new("/rooms", FrontEndKind::Sockjs, ProtocolKind::Rooms);
    /// assert_eq!(s.heartbeat_delay_ms, 25_000);
    /// ```
    pub fn new(prefix: &str, kind: FrontEndKind, protocol: ProtocolKind) -> ServiceConfig {
        ServiceConfig {
            prefix: prefix.to_string(),
            kind,
            protocol,
            topic_space: None,
            websocket: true,
            rooms: None,
            heartbeat_delay_ms: default_heartbeat_delay_ms(),
            disconnect_delay_ms: default_disconnect_delay_ms(),
            response_limit_bytes: default_response_limit_bytes(),
            cookie_needed: false,
            hixie76: false,
            sockjs_url: default_sockjs_url(),
        }
    }
}

fn yes() -> bool {
    true
}

/// sockjs-node's default: 25 s keeps proxies from closing idle responses.
fn default_heartbeat_delay_ms() -> u64 {
    25_000
}

/// sockjs-node's default: 5 s covers a polling client's gap between requests.
fn default_disconnect_delay_ms() -> u64 {
    5_000
}

/// sockjs-node's default: 128 KiB before a streaming response is recycled.
fn default_response_limit_bytes() -> usize {
    128 * 1024
}

/// The sockjs-client build the iframe page loads by default (its public CDN).
///
/// ```
/// assert!(ringcast::config::default_sockjs_url().starts_with("https://"));
/// ```
pub fn default_sockjs_url() -> String {
    "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            shards: 0,
            backend: BackendChoice::Auto,
            pin_shards: true,
            limits: Limits::default(),
            io: IoTuning::default(),
            demo: DemoConfig::default(),
            security: SecurityConfig::default(),
            tls: TlsConfig::default(),
            services: Vec::new(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            send_budget_bytes: 1024 * 1024,
            max_request_head_bytes: 8 * 1024,
            max_request_body_bytes: 64 * 1024,
            max_connections_per_shard: 100_000,
            handshake_timeout_ms: 10_000,
            ping_interval_ms: 25_000,
            idle_timeout_ms: 60_000,
            close_linger_ms: 2_000,
            max_topics_per_conn: 256,
            max_topic_bytes: 256,
            bus_capacity_batches: 4096,
            shutdown_grace_ms: 5_000,
        }
    }
}

impl Default for IoTuning {
    fn default() -> Self {
        IoTuning {
            ring_entries: 4096,
            read_buffer_bytes: 16 * 1024,
            read_buffer_count: 1024,
            read_budget_bytes: 64 * 1024,
            socket_send_buffer_bytes: 0,
        }
    }
}

impl Config {
    /// The embedded default configuration.
    pub fn embedded_default() -> Config {
        Config::from_toml(DEFAULT_CONFIG_TOML).expect("embedded default config is valid")
    }

    /// Parse and validate TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Parse(one_line(&e.to_string())))?;
        config.validate()?;
        Ok(config)
    }

    /// Read, parse and validate a TOML file.
    pub fn from_file(path: &str) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_string(), e.to_string()))?;
        Config::from_toml(&text)
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| invalid("listen", "expected IP:PORT, e.g. 127.0.0.1:8080"))
    }

    /// Shards to run: the configured count, or one per available core.
    pub fn shard_count(&self) -> usize {
        if self.shards == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            self.shards
        }
    }

    /// Reject configurations that cannot work, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.shards > 1024 {
            return Err(invalid("shards", "at most 1024"));
        }
        self.limits.validate()?;
        self.io.validate()?;
        self.security.validate()?;
        self.tls.validate()?;
        self.validate_services()
    }

    fn validate_services(&self) -> Result<(), ConfigError> {
        let mut seen: Vec<&str> = Vec::new();
        for (i, s) in self.services.iter().enumerate() {
            let field = format!("service[{i}].prefix");
            let p = s.prefix.as_str();
            if !p.starts_with('/') || p.len() < 2 || p.ends_with('/') {
                return Err(ConfigError::Invalid(
                    field,
                    "must start with '/', not end with '/', e.g. /rooms".into(),
                ));
            }
            if RESERVED_PATHS.iter().any(|r| p == *r || p.starts_with(&format!("{r}/"))) {
                return Err(ConfigError::Invalid(field, format!("{p} is reserved for the server")));
            }
            if seen.contains(&p) {
                return Err(ConfigError::Invalid(field, format!("{p} is declared twice")));
            }
            seen.push(p);
            if s.kind == FrontEndKind::Websocket && !s.websocket {
                return Err(ConfigError::Invalid(
                    format!("service[{i}].websocket"),
                    "a kind = \"websocket\" service cannot turn WebSocket off".into(),
                ));
            }
            if s.topic_space.as_deref().is_some_and(|n| n.is_empty() || n.len() > 64) {
                return Err(ConfigError::Invalid(
                    format!("service[{i}].topic_space"),
                    "a name of 1 to 64 bytes".into(),
                ));
            }
            if !(s.sockjs_url.starts_with('/') || s.sockjs_url.starts_with("http")) {
                return Err(ConfigError::Invalid(
                    format!("service[{i}].sockjs_url"),
                    "must start with / or http".into(),
                ));
            }
            let timers = [
                ("heartbeat_delay_ms", s.heartbeat_delay_ms),
                ("disconnect_delay_ms", s.disconnect_delay_ms),
            ];
            if let Some((name, _)) = timers.iter().find(|(_, v)| *v == 0) {
                return Err(ConfigError::Invalid(
                    format!("service[{i}].{name}"),
                    "must be greater than 0".into(),
                ));
            }
            if s.response_limit_bytes < 1024 {
                return Err(ConfigError::Invalid(
                    format!("service[{i}].response_limit_bytes"),
                    "at least 1024".into(),
                ));
            }
            if let Some(rooms) = &s.rooms {
                if rooms
                    .iter()
                    .any(|r| r.is_empty() || r.contains(',') || r.len() > self.limits.max_topic_bytes)
                {
                    let msg = "room names must be non-empty, without ',', within limits.max_topic_bytes";
                    return Err(ConfigError::Invalid(format!("service[{i}].rooms"), msg.into()));
                }
            }
        }
        Ok(())
    }
}

impl Limits {
    fn validate(&self) -> Result<(), ConfigError> {
        let positive: [(&str, u64); 10] = [
            ("limits.max_message_bytes", self.max_message_bytes as u64),
            ("limits.send_budget_bytes", self.send_budget_bytes as u64),
            ("limits.max_request_head_bytes", self.max_request_head_bytes as u64),
            ("limits.max_request_body_bytes", self.max_request_body_bytes as u64),
            ("limits.max_connections_per_shard", self.max_connections_per_shard as u64),
            ("limits.handshake_timeout_ms", self.handshake_timeout_ms),
            ("limits.close_linger_ms", self.close_linger_ms),
            ("limits.max_topics_per_conn", self.max_topics_per_conn as u64),
            ("limits.max_topic_bytes", self.max_topic_bytes as u64),
            ("limits.bus_capacity_batches", self.bus_capacity_batches as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(invalid(name, "must be greater than 0"));
        }
        if self.max_message_bytes > 256 * 1024 * 1024 {
            return Err(invalid("limits.max_message_bytes", "at most 256 MiB"));
        }
        if self.send_budget_bytes < 4096 {
            return Err(invalid("limits.send_budget_bytes", "at least 4096"));
        }
        if self.max_request_head_bytes < 512 {
            return Err(invalid("limits.max_request_head_bytes", "at least 512"));
        }
        if self.idle_timeout_ms != 0
            && self.ping_interval_ms != 0
            && self.idle_timeout_ms <= self.ping_interval_ms
        {
            return Err(invalid("limits.idle_timeout_ms", "must exceed limits.ping_interval_ms (or be 0)"));
        }
        if self.max_connections_per_shard > 1 << 24 {
            return Err(invalid("limits.max_connections_per_shard", "at most 16777216"));
        }
        Ok(())
    }
}

impl Limits {
    /// Input an HTTP connection may buffer while it cannot be parsed (its response is
    /// held, or not being read): one complete request.
    pub fn max_request_bytes(&self) -> usize {
        self.max_request_head_bytes + self.max_request_body_bytes
    }

    /// Hard per-connection queue bound within a tick: 4 × `send_budget_bytes`.
    pub fn queue_cap_bytes(&self) -> usize {
        self.send_budget_bytes.saturating_mul(4)
    }
}

impl IoTuning {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(64..=32768).contains(&self.ring_entries) {
            return Err(invalid("io.ring_entries", "between 64 and 32768"));
        }
        if !(1024..=1 << 20).contains(&self.read_buffer_bytes) {
            return Err(invalid("io.read_buffer_bytes", "between 1024 and 1048576"));
        }
        if !self.read_buffer_count.is_power_of_two() || self.read_buffer_count < 8 {
            return Err(invalid("io.read_buffer_count", "a power of two, at least 8"));
        }
        if self.read_budget_bytes < self.read_buffer_bytes {
            return Err(invalid("io.read_budget_bytes", "at least io.read_buffer_bytes"));
        }
        if self.socket_send_buffer_bytes != 0 && !(1024..=1 << 30).contains(&self.socket_send_buffer_bytes) {
            return Err(invalid(
                "io.socket_send_buffer_bytes",
                "0 (kernel autotuning) or between 1024 and 1073741824",
            ));
        }
        Ok(())
    }
}

fn invalid(field: &str, msg: &str) -> ConfigError {
    ConfigError::Invalid(field.to_string(), msg.to_string())
}

/// TOML errors span lines; the CLI prints one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid_and_serves_rooms() {
        let c = Config::embedded_default();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert!(c.services.iter().any(|s| s.prefix == "/rooms" && s.protocol == ProtocolKind::Rooms));
        assert_eq!(c.services[0].topic_space.as_deref(), Some("public"));
        assert_eq!(c.services[0].kind, FrontEndKind::Sockjs);
    }

    #[test]
    fn unknown_field_is_named() {
        let err = Config::from_toml("[limits]\nmax_mesage_bytes = 3\n").unwrap_err().to_string();
        assert!(err.contains("max_mesage_bytes"), "{err}");
    }

    #[test]
    fn zero_budget_is_rejected_with_field_name() {
        let err = Config::from_toml("[limits]\nsend_budget_bytes = 0\n").unwrap_err().to_string();
        assert!(err.contains("limits.send_budget_bytes"), "{err}");
    }

    #[test]
    fn bad_prefix_and_duplicates_are_rejected() {
        let dup = "[[service]]\nprefix='/a'\nprotocol='echo'\n[[service]]\nprefix='/a'\nprotocol='rooms'\n";
        assert!(Config::from_toml(dup).unwrap_err().to_string().contains("twice"));
        let bad = "[[service]]\nprefix='a/'\nprotocol='echo'\n";
        assert!(Config::from_toml(bad).unwrap_err().to_string().contains("service[0].prefix"));
        let reserved = "[[service]]\nprefix='/metrics'\nprotocol='echo'\n";
        assert!(Config::from_toml(reserved).unwrap_err().to_string().contains("reserved"));
    }

    #[test]
    fn front_end_kind_and_topic_space_are_checked() {
        let ws = "[[service]]\nprefix='/b'\nkind='websocket'\nprotocol='echo'\n";
        assert_eq!(Config::from_toml(ws).unwrap().services[0].kind, FrontEndKind::Websocket);
        let off = format!("{ws}websocket = false\n");
        assert!(Config::from_toml(&off).unwrap_err().to_string().contains("service[0].websocket"));
        let bad = "[[service]]\nprefix='/b'\nkind='engine'\nprotocol='echo'\n";
        assert!(Config::from_toml(bad).unwrap_err().to_string().contains("engine"));
        let empty = "[[service]]\nprefix='/b'\nprotocol='rooms'\ntopic_space=''\n";
        assert!(Config::from_toml(empty).unwrap_err().to_string().contains("topic_space"));
        let custom = "[[service]]\nprefix='/b'\nprotocol='custom'\n";
        assert!(Config::from_toml(custom).is_err(), "custom protocols come from code only");
    }

    #[test]
    fn idle_timeout_must_exceed_ping_interval() {
        let t = "[limits]\nping_interval_ms = 1000\nidle_timeout_ms = 500\n";
        assert!(Config::from_toml(t).unwrap_err().to_string().contains("idle_timeout_ms"));
    }

    #[test]
    fn security_options_are_checked() {
        let ok = "[security]\nallowed_origins = ['https://app.example.com', 'http://127.0.0.1:8080', 'null', '*']\n";
        assert_eq!(Config::from_toml(ok).unwrap().security.allowed_origins.len(), 4);
        for bad in ["'app.example.com'", "'https://a.com/'", "'https://a.com/x'", "''", "'https://'"] {
            let t = format!("[security]\nallowed_origins = [{bad}]\n");
            let err = Config::from_toml(&t).unwrap_err().to_string();
            assert!(err.contains("security.allowed_origins[0]"), "{bad}: {err}");
        }
        let short = "[security]\npublish_token = 'abc'\n";
        assert!(Config::from_toml(short).unwrap_err().to_string().contains("security.publish_token"));
        let spaced = "[security]\nmetrics_token = 'abcdefgh abcdefgh'\n";
        assert!(Config::from_toml(spaced).unwrap_err().to_string().contains("security.metrics_token"));
        assert!(Config::default().security.allowed_origins.is_empty());
    }

    #[test]
    fn environment_tokens_replace_the_file() {
        let mut s =
            SecurityConfig { publish_token: "from-the-file-0123".into(), ..SecurityConfig::default() };
        s.apply_vars(|name| (name == METRICS_TOKEN_ENV).then(|| "from-the-env-0123".to_string()));
        assert_eq!(
            (s.publish_token.as_str(), s.metrics_token.as_str()),
            ("from-the-file-0123", "from-the-env-0123")
        );
        s.apply_vars(|name| (name == PUBLISH_TOKEN_ENV).then(String::new));
        assert_eq!(s.publish_token, "from-the-file-0123", "an empty variable changes nothing");
    }

    #[test]
    fn bad_listen_is_rejected() {
        assert!(Config::from_toml("listen = 'nope'").unwrap_err().to_string().contains("listen"));
    }
}
