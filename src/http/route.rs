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
    /// `/`: the rooms chat demo page.
    Demo,
    /// `POST /publish/<topic>`: publish the body to a rooms topic.
    Publish {
        topic: &'a str,
    },
    /// A path under service `service` (index into the config's services); `rest` is
    /// what follows the prefix ("" or starting with '/').
    Service {
        service: usize,
        rest: &'a str,
    },
    NotFound,
}

/// Route `path` against the built-in endpoints and the configured services.
pub fn route<'a>(path: &'a str, services: &[ServiceConfig]) -> Route<'a> {
    match path {
        "/healthz" => return Route::Healthz,
        "/metrics" => return Route::Metrics,
        "/" => return Route::Demo,
        _ => {}
    }
    if let Some(topic) = path.strip_prefix("/publish/") {
        return if topic.is_empty() { Route::NotFound } else { Route::Publish { topic } };
    }
    for (i, s) in services.iter().enumerate() {
        if let Some(rest) = path.strip_prefix(s.prefix.as_str()) {
            if rest.is_empty() || rest.starts_with('/') {
                return Route::Service { service: i, rest };
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
        let text = format!("prefix = '{prefix}'\nprotocol = 'echo'\nwebsocket = {websocket}\n");
        let mut s: ServiceConfig = toml::from_str(&text).unwrap();
        s.protocol = ProtocolKind::Echo;
        s
    }

    #[test]
    fn routes_builtins_and_services() {
        let s = [svc("/echo", true), svc("/off", false)];
        assert_eq!(route("/healthz", &s), Route::Healthz);
        assert_eq!(route("/metrics", &s), Route::Metrics);
        assert_eq!(route("/publish/red", &s), Route::Publish { topic: "red" });
        assert_eq!(route("/publish/", &s), Route::NotFound);
        assert_eq!(route("/echo/websocket", &s), Route::Service { service: 0, rest: "/websocket" });
        assert_eq!(route("/echo", &s), Route::Service { service: 0, rest: "" });
        assert_eq!(route("/off/info", &s), Route::Service { service: 1, rest: "/info" });
        assert_eq!(route("/echox/websocket", &s), Route::NotFound);
        assert_eq!(route("/nope", &s), Route::NotFound);
    }
}
