//! Fuzz target for SockJS URL routing (`transport::sockjs::routes`) and the query-string
//! helpers a SockJS request goes through (`http::request::query_param`, the JSONP
//! `callback` check).
//!
//! Owns: the properties checked on arbitrary paths — no panic; a session route's server
//! and session ids are non-empty and contain no `/` or `.`, and the path is exactly
//! `/<server>/<session>/<transport>` with at most one trailing `/`; the greeting is only
//! `` or `/`; every matched route allows some method and refuses `PATCH`; `NotFound`
//! allows none; an accepted JSONP callback is non-empty.
//!
//! Does not own: finding the service by prefix (`http::route`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringcast::http::request::query_param;
use ringcast::transport::sockjs::routes::{
    allowed_methods, method_allowed, preflight_methods, route, SockjsRoute, Transport,
};
use ringcast::transport::sockjs::statics::callback;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, query) = text.split_once('?').unwrap_or((&text, ""));
    let r = route(path);
    let _ = preflight_methods(&r);
    for method in ["GET", "POST", "OPTIONS", "HEAD"] {
        let _ = method_allowed(&r, method);
    }
    assert!(!method_allowed(&r, "PATCH"));
    match r {
        SockjsRoute::Greeting => assert!(path.is_empty() || path == "/"),
        SockjsRoute::Session { server, session, transport } => {
            for id in [server, session] {
                assert!(!id.is_empty() && !id.contains(['/', '.']), "{id:?}");
            }
            let trimmed = path.strip_suffix('/').unwrap_or(path);
            let name = trimmed.rsplit('/').next().unwrap_or("");
            assert_eq!(Transport::from_segment(name), Some(transport));
            assert_eq!(trimmed, format!("/{server}/{session}/{name}"));
        }
        SockjsRoute::NotFound => assert!(allowed_methods(&r).is_empty()),
        _ => assert!(!allowed_methods(&r).is_empty()),
    }
    let _ = query_param(query, "c");
    if let Ok(cb) = callback(query) {
        assert!(!cb.is_empty());
    }
});
