//! The public surface: what a Rust program writes to run ringcast with its own logic.
//!
//! Owns: [`App`] (services and their handlers, then [`App::start`]), the service
//! builders, the [`Handler`] trait and its [`Conn`] context, [`ConnHandle`] and
//! [`Publisher`] for reaching connections and topics from any thread, and the command
//! line every ringcast program takes ([`ServeArgs`]). Does not own: anything a shard
//! does with what the application asks for.

mod handle;
mod handler;
mod info;
mod serve;

pub use handle::{ConnHandle, HandleError, PublishError, PublishStatus, Publisher};
pub use handler::{CloseReason, Conn, ConnError, ConnectionId, Handler, Message, Transport};
pub use serve::{exit_on_clap_error, ServeArgs};

pub(crate) use handler::ConnCore;
pub(crate) use info::ConnInfo;

use crate::config::{Config, FrontEndKind, ProtocolKind, ServiceConfig};
use crate::error::StartError;
use crate::protocol::app::DynHandler;
use crate::server::Server;
use crate::service::{CustomProtocol, Page};
use std::sync::Arc;

/// A ringcast server under construction: a configuration plus the services an
/// application adds with their handlers.
///
/// ```no_run
/// use ringcast::{App, Config, Conn, Handler, Message, RoomsOptions};
///
/// struct Echo;
/// impl Handler for Echo {
///     type State = ();
///     fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
///         if let Message::Text(text) = msg {
///             conn.send(text);
///         }
///     }
/// }
///
/// let mut app = App::new(Config::default());
/// app.sockjs("/echo", Echo); // SockJS at /echo, raw WebSocket at /echo/websocket
/// app.rooms("/rooms", RoomsOptions::default());
/// let server = app.start()?;
/// let status = server.publisher().publish("/rooms", "red", "price=42");
/// # Ok::<(), ringcast::StartError>(())
/// ```
pub struct App {
    config: Config,
    custom: Vec<(String, CustomProtocol)>,
    pages: Vec<Page>,
}

impl App {
    /// An app with `config`'s settings and services (e.g. [`Config::default`], which has
    /// none, or [`Config::embedded_default`], which has `/rooms`).
    pub fn new(config: Config) -> App {
        App { config, custom: Vec::new(), pages: Vec::new() }
    }

    /// An app configured from the command line ([`ServeArgs`]) on top of `Config::default()`;
    /// prints a one-line error and exits with status 2 on a bad flag or config file.
    pub fn from_args() -> App {
        App::new(ServeArgs::parse_args().config_or_exit(Config::default()))
    }

    /// The configuration, to change limits or settings before starting.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// A SockJS service at `prefix` served by `handler`: every SockJS transport, and a
    /// raw WebSocket at `<prefix>/websocket`, all reaching the same handler.
    pub fn sockjs<H: Handler>(&mut self, prefix: &str, handler: H) -> ServiceBuilder<'_> {
        self.custom.push((prefix.to_string(), CustomProtocol::Handler(Arc::new(handler))));
        self.add(prefix, FrontEndKind::Sockjs, ProtocolKind::Custom)
    }

    /// A raw-WebSocket service at `prefix` itself (e.g. `/broker`) served by `handler`.
    pub fn websocket<H: Handler>(&mut self, prefix: &str, handler: H) -> ServiceBuilder<'_> {
        self.custom.push((prefix.to_string(), CustomProtocol::Handler(Arc::new(handler))));
        self.add(prefix, FrontEndKind::Websocket, ProtocolKind::Custom)
    }

    /// The built-in websocket-multiplex rooms (pub/sub) over SockJS at `prefix`, raw
    /// WebSocket at `<prefix>/websocket`.
    pub fn rooms(&mut self, prefix: &str, options: RoomsOptions) -> ServiceBuilder<'_> {
        let builder = self.add(prefix, FrontEndKind::Sockjs, ProtocolKind::Rooms);
        builder.service.rooms = options.allow;
        builder
    }

    /// websocket-multiplex channels over SockJS at `prefix`, each served by a handler
    /// (sockjs-rooms' `registerChannel`). Register channels on the returned builder.
    pub fn channels(&mut self, prefix: &str) -> ChannelsBuilder<'_> {
        self.custom.push((prefix.to_string(), CustomProtocol::Channels(Vec::new())));
        self.add(prefix, FrontEndKind::Sockjs, ProtocolKind::Custom);
        let (custom, service) = (self.custom.len() - 1, self.config.services.len() - 1);
        ChannelsBuilder { app: self, custom, service }
    }

    /// Serve a fixed page (answering GET) at exactly `path`, e.g. an application's own
    /// `/` (which then replaces the built-in demo page).
    ///
    /// ```
    /// let mut app = ringcast::App::new(ringcast::Config::default());
    /// app.page("/", "text/html; charset=UTF-8", "<h1>hello</h1>");
    /// ```
    pub fn page(&mut self, path: &str, content_type: &str, body: impl Into<bytes::Bytes>) -> &mut Self {
        let page = Page { path: path.to_string(), content_type: content_type.to_string(), body: body.into() };
        self.pages.retain(|p| p.path != path);
        self.pages.push(page);
        self
    }

    /// Validate everything, bind, and start every shard.
    pub fn start(self) -> Result<Server, StartError> {
        Server::start_with(self.config, self.custom, self.pages)
    }

    fn add(&mut self, prefix: &str, kind: FrontEndKind, protocol: ProtocolKind) -> ServiceBuilder<'_> {
        self.config.services.push(ServiceConfig::new(prefix, kind, protocol));
        ServiceBuilder { service: self.config.services.last_mut().expect("just pushed") }
    }
}

/// Options of a built-in rooms service.
///
/// ```
/// let options = ringcast::RoomsOptions::default().allow(["red", "blue"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct RoomsOptions {
    allow: Option<Vec<String>>,
}

impl RoomsOptions {
    /// Allow only these room names (a `sub` to another is ignored). Default: any room.
    pub fn allow<I: IntoIterator<Item = S>, S: Into<String>>(mut self, rooms: I) -> RoomsOptions {
        self.allow = Some(rooms.into_iter().map(Into::into).collect());
        self
    }
}

/// Options of a service being added; every setter returns the builder again.
///
/// ```
/// # use ringcast::{App, Config, RoomsOptions};
/// let mut app = App::new(Config::default());
/// app.rooms("/rooms", RoomsOptions::default()).topic_space("public").heartbeat_delay_ms(10_000);
/// ```
pub struct ServiceBuilder<'a> {
    service: &'a mut ServiceConfig,
}

impl ServiceBuilder<'_> {
    /// Put the service's topics in the shared space `name` (see the configuration's
    /// `topic_space`); `"public"` is the one `POST /publish/<topic>` reaches.
    pub fn topic_space(&mut self, name: &str) -> &mut Self {
        self.service.topic_space = Some(name.to_string());
        self
    }

    /// SockJS: serve the WebSocket transport and `<prefix>/websocket` (default true).
    pub fn websocket(&mut self, on: bool) -> &mut Self {
        self.service.websocket = on;
        self
    }

    /// SockJS: idle time before an `h` frame on an attached receiver (default 25 000).
    pub fn heartbeat_delay_ms(&mut self, ms: u64) -> &mut Self {
        self.service.heartbeat_delay_ms = ms;
        self
    }

    /// SockJS: how long a session lives without a receiver (default 5 000).
    pub fn disconnect_delay_ms(&mut self, ms: u64) -> &mut Self {
        self.service.disconnect_delay_ms = ms;
        self
    }

    /// SockJS: bytes a streaming response carries before it is recycled (default 128 KiB).
    pub fn response_limit_bytes(&mut self, bytes: usize) -> &mut Self {
        self.service.response_limit_bytes = bytes;
        self
    }

    /// SockJS: set the `JSESSIONID` cookie (default false).
    pub fn cookie_needed(&mut self, on: bool) -> &mut Self {
        self.service.cookie_needed = on;
        self
    }

    /// SockJS: also accept Hixie-76 WebSockets on the session WebSocket transport
    /// (default false: the protocol has no masking).
    pub fn hixie76(&mut self, on: bool) -> &mut Self {
        self.service.hixie76 = on;
        self
    }

    /// SockJS: the client script URL of the iframe page.
    pub fn sockjs_url(&mut self, url: &str) -> &mut Self {
        self.service.sockjs_url = url.to_string();
        self
    }
}

/// Channels of a websocket-multiplex service being added.
///
/// ```
/// # use ringcast::{App, Config, Conn, Handler, Message};
/// struct Red;
/// impl Handler for Red {
///     type State = ();
///     fn on_open(&self, conn: &mut Conn<'_, ()>) {
///         conn.send("Red is connected");
///     }
///     fn on_message(&self, conn: &mut Conn<'_, ()>, msg: Message<'_>) {
///         if let Message::Text(t) = msg {
///             conn.send(t);
///         }
///     }
/// }
/// let mut app = App::new(Config::default());
/// app.channels("/multiplex").channel("red", Red);
/// ```
pub struct ChannelsBuilder<'a> {
    app: &'a mut App,
    /// Where this service's channel list and configuration are in `app`.
    custom: usize,
    service: usize,
}

impl ChannelsBuilder<'_> {
    /// Serve channel `name` (the topic clients `sub` to) with `handler`.
    pub fn channel<H: Handler>(&mut self, name: &str, handler: H) -> &mut Self {
        let handler: Arc<dyn DynHandler> = Arc::new(handler);
        if let Some((_, CustomProtocol::Channels(list))) = self.app.custom.get_mut(self.custom) {
            list.push((name.to_string(), handler));
        }
        self
    }

    /// The service's options.
    pub fn options(&mut self) -> ServiceBuilder<'_> {
        ServiceBuilder { service: &mut self.app.config.services[self.service] }
    }
}
