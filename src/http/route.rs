//! Which part of ringcast serves a request path.
//!
//! Owns: the mapping from (method, path) to a [`Route`]. Services are matched by
//! prefix; the built-in paths (`/healthz`, `/metrics`, `/publish/<topic>`) come first.
//! Does not own: what a route then does.

use crate::config::ServiceConfig;

/// What answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Healthz,
    Metrics,
    /// `POST /publish/<topic>`: publish the body to a rooms topic.
    Publish {
        topic: &'a str,
    },
    /// `<prefix>/websocket` of service `service` (index into the config's services).
    WebSocket {
        service: usize,
    },
    NotFound,
}

/// Route `path` against the built-in endpoints and the configured services.
pub fn route<'a>(path: &'a str, services: &[ServiceConfig]) -> Route<'a> {
    match path {
        "/healthz" => return Route::Healthz,
        "/metrics" => return Route::Metrics,
        _ => {}
    }
    if let Some(topic) = path.strip_prefix("/publish/") {
        return if topic.is_empty() { Route::NotFound } else { Route::Publish { topic } };
    }
    for (i, s) in services.iter().enumerate() {
        if let Some(rest) = path.strip_prefix(s.prefix.as_str()) {
            if rest == "/websocket" || rest == "/websocket/" {
                return if s.websocket { Route::WebSocket { service: i } } else { Route::NotFound };
            }
        }
    }
    Route::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProtocolKind;

    fn svc(prefix: &str, websocket: bool) -> ServiceConfig {
        ServiceConfig { prefix: prefix.into(), protocol: ProtocolKind::Echo, websocket, rooms: None }
    }

    #[test]
    fn routes_builtins_and_services() {
        let s = [svc("/echo", true), svc("/off", false)];
        assert_eq!(route("/healthz", &s), Route::Healthz);
        assert_eq!(route("/metrics", &s), Route::Metrics);
        assert_eq!(route("/publish/red", &s), Route::Publish { topic: "red" });
        assert_eq!(route("/publish/", &s), Route::NotFound);
        assert_eq!(route("/echo/websocket", &s), Route::WebSocket { service: 0 });
        assert_eq!(route("/off/websocket", &s), Route::NotFound);
        assert_eq!(route("/echox/websocket", &s), Route::NotFound);
        assert_eq!(route("/nope", &s), Route::NotFound);
    }
}
