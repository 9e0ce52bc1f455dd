//! SockJS URL routing under one service prefix (spec §2, §3.2).
//!
//! Owns: mapping the raw (still percent-encoded) path after the service prefix to a
//! [`SockjsRoute`], and the methods each route allows (`Allow:` of a 405, §2) and announces
//! in a preflight (`Access-Control-Allow-Methods`, §4.2).
//!
//! Does not own: finding the service (the caller strips its prefix), the query string,
//! whether the service enables WebSocket (a disabled `/websocket` route is the caller's 404,
//! §2), or anything a route then does.

/// A session transport: the last path segment of `/<server>/<session>/<transport>` (§2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Xhr,
    XhrSend,
    XhrStreaming,
    EventSource,
    HtmlFile,
    Jsonp,
    JsonpSend,
    WebSocket,
}

impl Transport {
    /// §2: the transport named by a path segment (case-sensitive).
    pub fn from_segment(name: &str) -> Option<Transport> {
        Some(match name {
            "xhr" => Transport::Xhr,
            "xhr_send" => Transport::XhrSend,
            "xhr_streaming" => Transport::XhrStreaming,
            "eventsource" => Transport::EventSource,
            "htmlfile" => Transport::HtmlFile,
            "jsonp" => Transport::Jsonp,
            "jsonp_send" => Transport::JsonpSend,
            "websocket" => Transport::WebSocket,
            _ => return None,
        })
    }

    /// §6.1: receiving transports create sessions and carry frames; the others do not.
    pub fn is_receiving(self) -> bool {
        matches!(
            self,
            Transport::Xhr
                | Transport::XhrStreaming
                | Transport::EventSource
                | Transport::HtmlFile
                | Transport::Jsonp
        )
    }
}

/// What serves a path under a SockJS service prefix (§2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockjsRoute<'a> {
    /// `` or `/` (§3.1).
    Greeting,
    /// `/iframe<V>.html`, V in `[0-9a-z._-]*` (§3.2).
    Iframe,
    /// `/info` (§3.3).
    Info,
    /// `/websocket` (§8.2).
    RawWebSocket,
    /// `/<server>/<session>/<transport>`; `server` is never interpreted (§11).
    Session {
        server: &'a str,
        session: &'a str,
        transport: Transport,
    },
    /// `/chunking_test` (legacy, 0.1 clients): recognised for 405/Allow only.
    ChunkingTest,
    NotFound,
}

/// Route `rest`, the path after the service prefix ("" or starting with `/`).
///
/// §2: "Every route below also accepts one trailing `/`"; the greeting is exactly `` or `/`
/// (so `//` is 404, checklist 2). O(len(rest)), no allocation.
pub fn route(rest: &str) -> SockjsRoute<'_> {
    if rest.is_empty() || rest == "/" {
        return SockjsRoute::Greeting;
    }
    let path = rest.strip_suffix('/').unwrap_or(rest);
    let Some(path) = path.strip_prefix('/') else { return SockjsRoute::NotFound };
    let mut segments = path.split('/');
    match (segments.next(), segments.next(), segments.next(), segments.next()) {
        (Some(one), None, None, None) => single_segment(one),
        (Some(server), Some(session), Some(name), None) => session_route(server, session, name),
        _ => SockjsRoute::NotFound,
    }
}

fn single_segment(seg: &str) -> SockjsRoute<'_> {
    match seg {
        "info" => SockjsRoute::Info,
        "websocket" => SockjsRoute::RawWebSocket,
        "chunking_test" => SockjsRoute::ChunkingTest,
        _ if is_iframe_name(seg) => SockjsRoute::Iframe,
        _ => SockjsRoute::NotFound,
    }
}

/// §3.2: `iframe` + zero or more of `[0-9a-z._-]` + `.html`, case-sensitive.
fn is_iframe_name(seg: &str) -> bool {
    seg.strip_prefix("iframe")
        .and_then(|s| s.strip_suffix(".html"))
        .is_some_and(|v| v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'.' | b'_' | b'-')))
}

/// §2: "`<server>` and `<session>`: each one or more characters, none of them `/` or `.`."
fn session_route<'a>(server: &'a str, session: &'a str, name: &str) -> SockjsRoute<'a> {
    let id_ok = |s: &str| !s.is_empty() && !s.contains('.');
    match Transport::from_segment(name) {
        Some(transport) if id_ok(server) && id_ok(session) => {
            SockjsRoute::Session { server, session, transport }
        }
        _ => SockjsRoute::NotFound,
    }
}

/// The `Allow:` value of a 405 for a matched route, as sockjs-node writes it (§2);
/// empty for [`SockjsRoute::NotFound`].
pub fn allowed_methods(r: &SockjsRoute<'_>) -> &'static str {
    match r {
        SockjsRoute::Greeting | SockjsRoute::Iframe | SockjsRoute::RawWebSocket => "GET",
        SockjsRoute::Info => "OPTIONS, GET",
        SockjsRoute::ChunkingTest => "POST, OPTIONS",
        SockjsRoute::Session { transport, .. } => match transport {
            Transport::Xhr | Transport::XhrSend | Transport::XhrStreaming => "POST, OPTIONS",
            Transport::JsonpSend => "POST",
            Transport::EventSource | Transport::HtmlFile | Transport::Jsonp | Transport::WebSocket => "GET",
        },
        SockjsRoute::NotFound => "",
    }
}

/// `Access-Control-Allow-Methods` of a preflight (§4.2): `OPTIONS, GET` for /info,
/// `OPTIONS, POST` for the xhr routes; `None` where OPTIONS is not allowed.
pub fn preflight_methods(r: &SockjsRoute<'_>) -> Option<&'static str> {
    match allowed_methods(r) {
        "OPTIONS, GET" => Some("OPTIONS, GET"),
        "POST, OPTIONS" => Some("OPTIONS, POST"),
        _ => None,
    }
}

/// Whether `method` (case-sensitive, as HTTP methods are) is allowed on `r`.
pub fn method_allowed(r: &SockjsRoute<'_>, method: &str) -> bool {
    allowed_methods(r).split(", ").any(|m| m == method)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SockjsRoute::*;

    fn session(rest: &str) -> Option<(&str, &str, Transport)> {
        match route(rest) {
            Session { server, session, transport } => Some((server, session, transport)),
            _ => None,
        }
    }

    /// Checklist 1, 2.
    #[test]
    fn spec_3_1_greeting_paths() {
        assert_eq!(route(""), Greeting);
        assert_eq!(route("/"), Greeting);
        for p in ["/a", "/a.html", "//", "///", "/a/a", "/a/a/", "a"] {
            assert_eq!(route(p), NotFound, "{p}");
        }
    }

    /// Checklist 4–6.
    #[test]
    fn spec_3_2_iframe_names() {
        for p in [
            "/iframe.html",
            "/iframe-a.html",
            "/iframe-.html",
            "/iframe-0.1.2.html",
            "/iframe-0.1.2abc-dirty.2144.html",
            "/iframe_x.html",
            "/iframe.html/",
        ] {
            assert_eq!(route(p), Iframe, "{p}");
        }
        for p in [
            "/iframe.htm",
            "/iframe",
            "/IFRAME.HTML",
            "/IFRAME",
            "/iframe.HTML",
            "/iframe.xml",
            "/iframe-/.html",
        ] {
            assert_eq!(route(p), NotFound, "{p}");
        }
        assert_eq!(route("/iframeAb.html"), NotFound);
        assert_eq!(route("/iframexhtml"), NotFound);
    }

    #[test]
    fn spec_2_static_routes_with_trailing_slash() {
        assert_eq!(route("/info"), Info);
        assert_eq!(route("/info/"), Info);
        assert_eq!(route("/info//"), NotFound);
        assert_eq!(route("/Info"), NotFound);
        assert_eq!(route("/websocket"), RawWebSocket);
        assert_eq!(route("/websocket/"), RawWebSocket);
        assert_eq!(route("/chunking_test"), ChunkingTest);
    }

    /// Checklist 16.
    #[test]
    fn spec_2_session_ids_accepted() {
        assert_eq!(session("/a/a1/xhr"), Some(("a", "a1", Transport::Xhr)));
        assert_eq!(session("/_/_1/xhr"), Some(("_", "_1", Transport::Xhr)));
        assert_eq!(session("/1/2/xhr"), Some(("1", "2", Transport::Xhr)));
        assert_eq!(
            session("/abcdefgh_i-j%20/abcdefg_i-j%20x/xhr"),
            Some(("abcdefgh_i-j%20", "abcdefg_i-j%20x", Transport::Xhr))
        );
        assert_eq!(session("/000/S/xhr/"), Some(("000", "S", Transport::Xhr)));
    }

    /// Checklist 17.
    #[test]
    fn spec_2_session_ids_rejected() {
        for p in [
            "//xhr",
            "/a./a/xhr",
            "/a/a./xhr",
            "/./././xhr",
            "/././xhr",
            "/xhr",
            "///xhr",
            "/a/b/c/xhr",
            "/a/b/xhr//",
        ] {
            assert_eq!(route(p), NotFound, "{p}");
        }
    }

    #[test]
    fn spec_2_transport_names() {
        let names = [
            ("xhr", Transport::Xhr),
            ("xhr_send", Transport::XhrSend),
            ("xhr_streaming", Transport::XhrStreaming),
            ("eventsource", Transport::EventSource),
            ("htmlfile", Transport::HtmlFile),
            ("jsonp", Transport::Jsonp),
            ("jsonp_send", Transport::JsonpSend),
            ("websocket", Transport::WebSocket),
        ];
        for (name, t) in names {
            assert_eq!(session(&format!("/0/s/{name}")), Some(("0", "s", t)));
        }
        assert_eq!(route("/0/s/XHR"), NotFound);
        assert_eq!(route("/0/s/unknown"), NotFound);
        assert_eq!(route("/0/s/info"), NotFound);
    }

    /// §2 Allow values; checklist 3, 15, 27, 64.
    #[test]
    fn spec_2_allow_values() {
        let s = |t| Session { server: "a", session: "b", transport: t };
        assert_eq!(allowed_methods(&Greeting), "GET");
        assert_eq!(allowed_methods(&Iframe), "GET");
        assert_eq!(allowed_methods(&Info), "OPTIONS, GET");
        assert_eq!(allowed_methods(&RawWebSocket), "GET");
        for t in [Transport::Xhr, Transport::XhrSend, Transport::XhrStreaming] {
            assert_eq!(allowed_methods(&s(t)), "POST, OPTIONS");
            assert_eq!(preflight_methods(&s(t)), Some("OPTIONS, POST"));
            assert!(method_allowed(&s(t), "OPTIONS") && method_allowed(&s(t), "POST"));
            assert!(!method_allowed(&s(t), "GET"));
        }
        for t in [Transport::EventSource, Transport::HtmlFile, Transport::Jsonp, Transport::WebSocket] {
            assert_eq!(allowed_methods(&s(t)), "GET");
            assert!(!method_allowed(&s(t), "POST") && !method_allowed(&s(t), "OPTIONS"));
        }
        assert_eq!(allowed_methods(&s(Transport::JsonpSend)), "POST");
        assert!(!method_allowed(&s(Transport::JsonpSend), "OPTIONS"));
        assert_eq!(preflight_methods(&Info), Some("OPTIONS, GET"));
        assert_eq!(preflight_methods(&Greeting), None);
        assert!(method_allowed(&Info, "OPTIONS") && method_allowed(&Info, "GET"));
        assert!(!method_allowed(&Greeting, "POST") && !method_allowed(&Greeting, "get"));
        assert!(!method_allowed(&NotFound, "GET"));
    }

    #[test]
    fn spec_6_1_receiving_transports() {
        assert!(Transport::Xhr.is_receiving() && Transport::Jsonp.is_receiving());
        assert!(!Transport::XhrSend.is_receiving() && !Transport::JsonpSend.is_receiving());
        assert!(!Transport::WebSocket.is_receiving());
    }
}
