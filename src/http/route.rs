//! Which part of ringcast serves a request path.
//!
//! Owns: the mapping from a path to a [`Route`]: the built-in paths (`/healthz`,
//! `/metrics`, `/publish/<topic>`, `/`) first, then the services by prefix, resolved to
//! their front-end kind (SockJS, raw WebSocket). Does not own: what a route then does.

use crate::ids::ServiceId;
use crate::service::{FrontEnd, ServiceTable};

/// What answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// A page the application registered at this exact path (its index).
    Page(usize),
    Healthz,
    Metrics,
    /// `/`: the rooms chat demo page.
    Demo,
    /// `/ringcast-client.js`: the demo page's browser client.
    DemoClient,
    /// `/publish/<topic>`: publish the body to a topic.
    Publish { topic: &'a str },
    /// A path under a SockJS service; `rest` is what follows the prefix ("" or
    /// starting with '/').
    SockJs { service: ServiceId, rest: &'a str },
    /// A raw-WebSocket service's path (the prefix itself, or with one trailing slash).
    RawWs { service: ServiceId },
    NotFound,
}

/// Route `path` against the built-in endpoints and the services.
pub(crate) fn route<'a>(path: &'a str, services: &ServiceTable) -> Route<'a> {
    if let Some(index) = services.page_index(path) {
        return Route::Page(index);
    }
    match path {
        "/healthz" => return Route::Healthz,
        "/metrics" => return Route::Metrics,
        "/" => return Route::Demo,
        crate::config::DEMO_CLIENT_PATH => return Route::DemoClient,
        _ => {}
    }
    if let Some(topic) = path.strip_prefix("/publish/") {
        return if topic.is_empty() { Route::NotFound } else { Route::Publish { topic } };
    }
    for s in services.all() {
        let Some(rest) = path.strip_prefix(s.prefix.as_str()) else { continue };
        match s.front {
            FrontEnd::SockJs if rest.is_empty() || rest.starts_with('/') => {
                return Route::SockJs { service: s.id, rest };
            }
            FrontEnd::RawWs if rest.is_empty() || rest == "/" => return Route::RawWs { service: s.id },
            _ => {}
        }
    }
    Route::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn routes_builtins_and_services_by_kind() {
        let text = "[[service]]\nprefix='/echo'\nprotocol='echo'\n\
                    [[service]]\nprefix='/off'\nprotocol='echo'\nwebsocket=false\n\
                    [[service]]\nprefix='/broker'\nkind='websocket'\nprotocol='echo'\n";
        let s = ServiceTable::build(&Config::from_toml(text).unwrap(), Vec::new()).unwrap();
        let (echo, off, broker) = (ServiceId(0), ServiceId(1), ServiceId(2));
        assert_eq!(route("/healthz", &s), Route::Healthz);
        assert_eq!(route("/metrics", &s), Route::Metrics);
        assert_eq!(route("/publish/red", &s), Route::Publish { topic: "red" });
        assert_eq!(route("/publish/", &s), Route::NotFound);
        assert_eq!(route("/echo/websocket", &s), Route::SockJs { service: echo, rest: "/websocket" });
        assert_eq!(route("/echo", &s), Route::SockJs { service: echo, rest: "" });
        assert_eq!(route("/off/info", &s), Route::SockJs { service: off, rest: "/info" });
        assert_eq!(route("/echox/websocket", &s), Route::NotFound);
        assert_eq!(route("/broker", &s), Route::RawWs { service: broker });
        assert_eq!(route("/broker/", &s), Route::RawWs { service: broker });
        assert_eq!(route("/broker/info", &s), Route::NotFound);
        assert_eq!(route("/nope", &s), Route::NotFound);
    }
}
