//! The services a server runs, resolved once at startup and shared read-only by every
//! shard.
//!
//! Owns: [`Service`] (prefix, front-end kind, protocol, topic space, SockJS options and
//! session timing) and [`ServiceTable`] — building it from the configuration plus an
//! application's handlers, assigning topic spaces (one per service unless the config
//! names a shared one, one per multiplex channel), and looking services up by id or
//! prefix. Does not own: routing a request to a service (`http::route`) or serving it
//! (`shard`).

use crate::builtin;
use crate::config::{Config, FrontEndKind, ProtocolKind, ServiceConfig};
use crate::error::ConfigError;
use crate::ids::{ServiceId, SpaceId};
use crate::protocol::app::DynHandler;
use crate::protocol::channels::ChannelSpec;
use crate::protocol::multiplex::RoomsConfig;
use crate::protocol::ServiceProtocol;
use crate::session::Timing;
use crate::transport::sockjs::statics::ServiceOptions;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// The topic space `POST /publish/<topic>` publishes into.
pub(crate) const PUBLIC_SPACE: &str = "public";

/// How clients reach a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrontEnd {
    /// Every SockJS transport under the prefix, raw WebSocket at `<prefix>/websocket`.
    SockJs,
    /// A raw WebSocket at the prefix itself.
    RawWs,
}

/// An application's protocol for a service, as `App` registers it.
pub(crate) enum CustomProtocol {
    Handler(Arc<dyn DynHandler>),
    Channels(Vec<(String, Arc<dyn DynHandler>)>),
}

/// One running service.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) id: ServiceId,
    pub(crate) prefix: String,
    pub(crate) front: FrontEnd,
    pub(crate) protocol: ServiceProtocol,
    /// Where the service's topics live.
    pub(crate) space: SpaceId,
    /// What changes SockJS static responses.
    pub(crate) sockjs: ServiceOptions,
    pub(crate) timing: Timing,
}

/// A fixed page an application serves at an exact path (e.g. its own `/`).
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(crate) path: String,
    pub(crate) content_type: String,
    pub(crate) body: Bytes,
}

/// Every service of the server, and the application's pages.
#[derive(Debug)]
pub(crate) struct ServiceTable {
    services: Vec<Service>,
    named_spaces: HashMap<String, SpaceId>,
    pages: Vec<Page>,
}

impl ServiceTable {
    /// Resolve the configured services; `custom` holds the protocol of every service
    /// whose `protocol` is `Custom`, by prefix.
    pub(crate) fn build(config: &Config, mut custom: Vec<(String, CustomProtocol)>) -> Result<Self, ConfigError> {
        let mut spaces = Spaces::default();
        let mut services = Vec::with_capacity(config.services.len());
        for (i, s) in config.services.iter().enumerate() {
            let space = spaces.for_service(s);
            let mine = custom.iter().position(|(p, _)| *p == s.prefix).map(|at| custom.swap_remove(at).1);
            let protocol = protocol(config, s, mine, &mut spaces)
                .ok_or_else(|| ConfigError::Invalid(format!("service[{i}].protocol"), "no handler registered".into()))?;
            services.push(Service {
                id: ServiceId(i as u16),
                prefix: s.prefix.clone(),
                front: match s.kind {
                    FrontEndKind::Sockjs => FrontEnd::SockJs,
                    FrontEndKind::Websocket => FrontEnd::RawWs,
                },
                protocol,
                space,
                sockjs: ServiceOptions {
                    websocket: s.websocket,
                    cookie_needed: s.cookie_needed,
                    hixie76: s.hixie76,
                    sockjs_url: s.sockjs_url.clone(),
                },
                timing: Timing {
                    heartbeat_ms: s.heartbeat_delay_ms,
                    disconnect_ms: s.disconnect_delay_ms,
                    response_limit_bytes: s.response_limit_bytes,
                },
            });
        }
        if let Some((prefix, _)) = custom.first() {
            return Err(ConfigError::Invalid(prefix.clone(), "a handler for a service that is not declared".into()));
        }
        Ok(ServiceTable { services, named_spaces: spaces.named, pages: Vec::new() })
    }

    /// Serve these pages too (they take precedence over the built-in `/` demo).
    pub(crate) fn with_pages(mut self, pages: Vec<Page>) -> Self {
        self.pages = pages;
        self
    }

    /// The index of the page at exactly `path`.
    pub(crate) fn page_index(&self, path: &str) -> Option<usize> {
        self.pages.iter().position(|p| p.path == path)
    }

    pub(crate) fn page(&self, index: usize) -> &Page {
        &self.pages[index]
    }

    pub(crate) fn get(&self, id: ServiceId) -> &Service {
        &self.services[id.index()]
    }

    pub(crate) fn all(&self) -> &[Service] {
        &self.services
    }

    pub(crate) fn by_prefix(&self, prefix: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.prefix == prefix)
    }

    /// A space some service named in `topic_space`.
    pub(crate) fn named_space(&self, name: &str) -> Option<SpaceId> {
        self.named_spaces.get(name).copied()
    }
}

/// Hands out topic spaces.
#[derive(Default)]
struct Spaces {
    next: u16,
    named: HashMap<String, SpaceId>,
}

impl Spaces {
    fn fresh(&mut self) -> SpaceId {
        self.next += 1;
        SpaceId(self.next - 1)
    }

    fn for_service(&mut self, s: &ServiceConfig) -> SpaceId {
        match &s.topic_space {
            None => self.fresh(),
            Some(name) => match self.named.get(name) {
                Some(&space) => space,
                None => {
                    let space = self.fresh();
                    self.named.insert(name.clone(), space);
                    space
                }
            },
        }
    }
}

/// The protocol of one configured service; `None` when a custom one is missing.
fn protocol(
    config: &Config,
    s: &ServiceConfig,
    custom: Option<CustomProtocol>,
    spaces: &mut Spaces,
) -> Option<ServiceProtocol> {
    let handler = |h: Arc<dyn DynHandler>| Some(ServiceProtocol::Handler(h));
    match (s.protocol, custom) {
        (ProtocolKind::Rooms, _) => Some(ServiceProtocol::Rooms(RoomsConfig {
            allow: s.rooms.as_ref().map(|r| r.iter().map(|n| Bytes::copy_from_slice(n.as_bytes())).collect()),
            max_topic_bytes: config.limits.max_topic_bytes,
            max_topics: config.limits.max_topics_per_conn,
        })),
        (ProtocolKind::Echo, _) => handler(Arc::new(builtin::Echo)),
        (ProtocolKind::Close, _) => handler(Arc::new(builtin::GoAway)),
        (ProtocolKind::MultiplexExample, _) => {
            let list = builtin::EXAMPLE_CHANNELS.iter().map(|c| (c.name.to_string(), Arc::new(*c) as _)).collect();
            Some(channels(list, spaces))
        }
        (ProtocolKind::Custom, Some(CustomProtocol::Handler(h))) => handler(h),
        (ProtocolKind::Custom, Some(CustomProtocol::Channels(list))) => Some(channels(list, spaces)),
        (ProtocolKind::Custom, None) => None,
    }
}

fn channels(list: Vec<(String, Arc<dyn DynHandler>)>, spaces: &mut Spaces) -> ServiceProtocol {
    ServiceProtocol::Channels(
        list.into_iter()
            .map(|(name, handler)| ChannelSpec { name: Bytes::from(name), space: spaces.fresh(), handler })
            .collect(),
    )
}

impl std::fmt::Debug for ChannelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSpec").field("name", &self.name).field("space", &self.space).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_has_its_own_space_unless_it_names_one() {
        let text = "[[service]]\nprefix='/a'\nprotocol='rooms'\n\
                    [[service]]\nprefix='/b'\nprotocol='rooms'\n\
                    [[service]]\nprefix='/c'\nprotocol='rooms'\ntopic_space='public'\n\
                    [[service]]\nprefix='/d'\nprotocol='echo'\ntopic_space='public'\n\
                    [[service]]\nprefix='/m'\nprotocol='multiplex_example'\n";
        let t = ServiceTable::build(&Config::from_toml(text).unwrap(), Vec::new()).unwrap();
        let space = |p: &str| t.by_prefix(p).unwrap().space;
        assert_ne!(space("/a"), space("/b"));
        assert_eq!(space("/c"), space("/d"));
        assert_eq!(t.named_space(PUBLIC_SPACE), Some(space("/c")));
        let ServiceProtocol::Channels(chans) = &t.by_prefix("/m").unwrap().protocol else { panic!() };
        let mut all: Vec<SpaceId> = chans.iter().map(|c| c.space).collect();
        all.extend(["/a", "/b", "/c", "/m"].map(space));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 7, "every channel has a space of its own");
    }

    #[test]
    fn custom_services_need_their_handler() {
        let mut config = Config::default();
        config.services.push(ServiceConfig::new("/x", FrontEndKind::Websocket, ProtocolKind::Custom));
        let err = ServiceTable::build(&config, Vec::new()).unwrap_err().to_string();
        assert!(err.contains("service[0].protocol"), "{err}");
        let ok = ServiceTable::build(&config, vec![("/x".into(), CustomProtocol::Handler(Arc::new(builtin::Echo)))]);
        assert_eq!(ok.unwrap().get(ServiceId(0)).front, FrontEnd::RawWs);
        let stray = vec![("/y".into(), CustomProtocol::Handler(Arc::new(builtin::Echo) as Arc<dyn DynHandler>))];
        assert!(ServiceTable::build(&Config::default(), stray).is_err());
    }
}
