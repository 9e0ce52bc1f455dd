//! The shard's HTTP phase: requests before (or instead of) a WebSocket upgrade.
//!
//! Owns: buffering an incomplete request, routing a complete one to the built-in
//! endpoints (`/healthz`, `/metrics`, `/`, `POST /publish/<topic>`) or to its service's
//! front end, refusing bad requests with a clear status, and answering. Does not own:
//! request parsing (`http::request`), the front ends (`shard::sockjs`, `shard::ws`).

use super::conns::{Life, Phase};
use super::State;
use crate::error::HttpError;
use crate::http::request::{self, Complete, Request};
use crate::http::response;
use crate::http::route::{route, Route};
use crate::ids::{ConnId, ServiceId, ShardId};
use crate::metrics::{self, Counter};
use crate::pubsub::prepared::{Carrier, Prepared};
use crate::service::PUBLIC_SPACE;
use bytes::Bytes;

/// What to do after answering a request.
pub(super) enum Next {
    KeepAlive,
    Close,
    /// Switch to WebSocket with this carrier (Hixie-76: with the key numbers, key3 to come).
    Upgrade { service: ServiceId, carrier: Carrier, hixie: Option<[u8; 8]> },
    /// The request names a SockJS session owned by shard `owner`: move the socket there.
    Migrate { owner: ShardId },
    /// The response is held open (a SockJS receiver, or an answer from another shard):
    /// parse nothing more now.
    Held,
}

/// One complete request: parsed head, raw head bytes and body.
pub(super) struct Incoming<'a> {
    pub(super) req: &'a Request,
    pub(super) head: &'a [u8],
    pub(super) body: &'a [u8],
}

impl State {
    /// Append input to the connection's request buffer and answer complete requests.
    pub(super) fn on_http_data(&mut self, id: ConnId, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Phase::Http { buf, .. } = &mut conn.phase else { return };
        buf.extend_from_slice(data);
        let limits = request::Limits {
            max_head_bytes: self.ctx.config.limits.max_request_head_bytes,
            max_body_bytes: self.ctx.config.limits.max_request_body_bytes,
        };
        loop {
            let Some(conn) = self.conns.get_mut(id).filter(|c| c.is_open() && !c.is_holding()) else { return };
            if conn.queue.queued_bytes() > self.ctx.config.limits.send_budget_bytes {
                // Pipelined requests whose responses are not read: stop answering until
                // the client reads; its further input is bounded by `on_data`.
                conn.input_paused = true;
                self.conns.paused.push(id);
                return;
            }
            let Phase::Http { buf, pending } = &mut conn.phase else { return };
            let Complete { req, head_len, total_len: total, chunked_body } = match request::next_request(buf, pending, limits) {
                Ok(Some(complete)) => complete,
                Ok(None) => return, // head or body still arriving
                Err(e) => return self.reject_request(id, e),
            };
            let rest = buf.split_off(total);
            let request = std::mem::replace(buf, rest);
            conn.opened_ms = self.clock.now_ms; // the next request's handshake timer starts now
            self.counters.inc(Counter::HttpRequests);
            let body = chunked_body.as_deref().unwrap_or(&request[head_len..]);
            let incoming = Incoming { req: &req, head: &request[..head_len], body };
            match self.answer(id, &incoming) {
                Next::KeepAlive => continue,
                Next::Close => return self.close_after_response(id),
                Next::Upgrade { service, carrier, hixie } => {
                    return self.upgrade(id, service, carrier, hixie, &request[..head_len])
                }
                Next::Held => return,
                Next::Migrate { owner } => return self.start_migration(id, owner, request),
            }
        }
    }

    #[cold]
    fn reject_request(&mut self, id: ConnId, e: HttpError) {
        tracing::debug!(?id, error = %e, "bad HTTP request");
        self.counters.inc(Counter::HttpErrors);
        self.respond(id, response::text(e.status(), &format!("{e}\n"), true));
        self.close_after_response(id);
    }

    fn answer(&mut self, id: ConnId, inc: &Incoming<'_>) -> Next {
        let req = inc.req;
        let close = req.close;
        let route = route(&req.path, &self.ctx.services);
        if let Some((refusal, close)) = self.refuse_request(&route, req) {
            return self.reply(id, refusal, close);
        }
        let resp = match route {
            Route::Page(index) if req.method == "GET" || req.method == "HEAD" => {
                let page = self.ctx.services.page(index);
                let full = response::build(200, &[], Some(&page.content_type), &page.body, close);
                // HEAD: the same head (Content-Length included), no body.
                if req.method == "HEAD" {
                    full.slice(..full.len() - page.body.len())
                } else {
                    full
                }
            }
            Route::Page(_) => response::build(405, &[("Allow", "GET, HEAD")], None, b"", close),
            Route::Healthz => response::text(200, "ok\n", close),
            Route::Demo if self.demo_available() && req.method == "GET" => {
                let page = demo_page(&self.ctx.config.demo);
                response::build(200, &[], Some("text/html; charset=UTF-8"), page.as_bytes(), close)
            }
            Route::Demo => response::text(404, "Not found\n", close),
            Route::DemoClient if self.demo_available() && req.method == "GET" => {
                let js = DEMO_CLIENT_JS.as_bytes();
                response::build(200, &[], Some("text/javascript; charset=UTF-8"), js, close)
            }
            Route::DemoClient => response::text(404, "Not found\n", close),
            Route::Metrics => {
                let text = metrics::render(&self.ctx.stats);
                response::build(200, &[], Some("text/plain; version=0.0.4"), text.as_bytes(), close)
            }
            Route::Publish { topic } if req.method == "POST" => self.publish_http(topic, req, inc.body),
            Route::Publish { .. } => response::build(405, &[("Allow", "POST")], None, b"", close),
            Route::SockJs { service, rest } => return self.answer_sockjs(id, inc, service, rest),
            Route::RawWs { service } => return self.websocket_handshake(id, req, service, Carrier::Ws),
            Route::NotFound => response::text(404, "Not found\n", close),
        };
        self.reply(id, resp, close)
    }

    /// Queue a complete response; count errors; keep the connection or close it.
    pub(super) fn reply(&mut self, id: ConnId, resp: Bytes, close: bool) -> Next {
        if resp.starts_with(b"HTTP/1.1 4") || resp.starts_with(b"HTTP/1.1 5") {
            self.counters.inc(Counter::HttpErrors);
        }
        self.respond(id, resp);
        if close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// The demo page needs its rooms service to exist.
    fn demo_available(&self) -> bool {
        let demo = &self.ctx.config.demo;
        demo.enabled && self.ctx.services.by_prefix(&demo.service).is_some()
    }

    /// Park the request's bytes (and anything after them) for the owner shard.
    fn start_migration(&mut self, id: ConnId, owner: ShardId, mut request: Vec<u8>) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        if let Phase::Http { buf, .. } = &mut conn.phase {
            request.extend_from_slice(buf);
            *buf = request;
        }
        conn.life = Life::Migrating { owner };
        self.conns.migrating.push((id, owner));
    }

    /// `POST /publish/<topic>[?service=<prefix>]`: the body goes to every member of the
    /// topic in the `public` topic space (or that service's space), each in its
    /// protocol's form (a rooms member gets `msg,<topic>,<body>`).
    fn publish_http(&mut self, topic: &str, req: &Request, body: &[u8]) -> Bytes {
        let close = req.close;
        if topic.contains(',') || topic.len() > self.ctx.config.limits.max_topic_bytes {
            self.counters.inc(Counter::PublishRejected);
            return response::text(400, "invalid topic\n", close);
        }
        if std::str::from_utf8(body).is_err() {
            // Members receive text frames; a non-UTF-8 text frame would make every raw
            // WebSocket client fail the connection with 1007.
            self.counters.inc(Counter::PublishRejected);
            return response::text(400, "body must be UTF-8 text\n", close);
        }
        let space = match request::query_param(&req.query, "service") {
            Some(prefix) => match self.ctx.services.by_prefix(&prefix) {
                Some(s) => s.space,
                None => return response::text(404, &format!("no service at {prefix}\n"), close),
            },
            None => match self.ctx.services.named_space(PUBLIC_SPACE) {
                Some(space) => space,
                None => {
                    let msg = "no topic space named \"public\": add ?service=<prefix>, or set topic_space = \"public\" on a service\n";
                    return response::text(404, msg, close);
                }
            },
        };
        let topic = Bytes::copy_from_slice(topic.as_bytes());
        self.publish(Prepared::new(space, topic.clone(), topic, Bytes::copy_from_slice(body)));
        response::build(204, &[], None, b"", close)
    }

    pub(super) fn respond(&mut self, id: ConnId, resp: Bytes) {
        self.conns.push_control(id, &resp);
    }

    pub(super) fn close_after_response(&mut self, id: ConnId) {
        let deadline_ms = self.clock.now_ms + self.ctx.config.limits.close_linger_ms;
        self.conns.close_after_response(id, deadline_ms);
    }

    /// Parse requests that arrived while a response was held (keep-alive reuse).
    pub(super) fn resume_http_conns(&mut self) {
        for id in std::mem::take(&mut self.conns.resume_http) {
            if self.conns.get(id).is_some_and(|c| c.is_open() && !c.is_holding()) {
                self.on_http_data(id, &[]);
            }
        }
    }
}

/// ringcast's own browser client, which the demo page loads by default (path
/// [`DEMO_CLIENT_PATH`](crate::config::DEMO_CLIENT_PATH)).
const DEMO_CLIENT_JS: &str = include_str!("../demo-client.js");

/// The demo page with its scripts and service filled in: ringcast's own client, or
/// sockjs-client and websocket-multiplex from the configured URLs.
fn demo_page(demo: &crate::config::DemoConfig) -> String {
    let scripts = if demo.sockjs_client_url.is_empty() {
        format!("<script src=\"{}\"></script>", crate::config::DEMO_CLIENT_PATH)
    } else {
        format!(
            "<script src=\"{}\"></script>\n<script src=\"{}\"></script>",
            html_attr(&demo.sockjs_client_url),
            html_attr(&demo.multiplex_client_url)
        )
    };
    include_str!("../demo.html")
        .replace("{{SCRIPTS}}", &scripts)
        .replace("{{PREFIX}}", &demo.service.replace(['\'', '\\', '<'], ""))
}

/// Escape a configured URL for an HTML attribute.
fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
}
