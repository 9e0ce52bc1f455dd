//! The shard's side of access control (`[security]`): refusing requests and
//! connections the policy does not allow, with the status, the counter and a
//! throttled log line.
//!
//! Owns: the Origin check of service and `/publish` requests (403), the bearer-token
//! check of `/publish` and `/metrics` (401 with `WWW-Authenticate: Bearer`), counting a
//! connection's client IP at accept (503 and close when over
//! `security.max_connections_per_ip`) and uncounting it before its socket closes, and
//! counting SockJS sessions as they are created and destroyed (503 when over
//! `security.max_sessions` or `max_sessions_per_ip`). Does not own: the policy itself
//! (`security`).

use super::State;
use crate::http::request::Request;
use crate::http::response;
use crate::http::route::Route;
use crate::ids::{ConnId, ServiceId};
use crate::metrics::Counter;
use crate::security::{LogKind, TokenCheck};
use bytes::Bytes;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Written to a connection refused at accept, before it is closed.
const PER_IP_REFUSAL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=UTF-8\r\nConnection: close\r\nContent-Length: 30\r\n\r\ntoo many connections from you\n";

impl State {
    /// The refusal for a request the security policy does not allow, if any, and
    /// whether the connection closes after it.
    pub(super) fn refuse_request(&mut self, route: &Route<'_>, req: &Request) -> Option<(Bytes, bool)> {
        let security = &self.ctx.security;
        let token = match route {
            Route::Metrics => security.check_metrics(req.authorization.as_deref()),
            Route::Publish { .. } | Route::SockJs { .. } | Route::RawWs { .. } => {
                if !security.origin_allowed(req.origin.as_deref(), req.host.as_deref()) {
                    return Some(self.refuse_origin(req));
                }
                match route {
                    Route::Publish { .. } => security.check_publish(req.authorization.as_deref()),
                    _ => TokenCheck::Ok,
                }
            }
            _ => TokenCheck::Ok,
        };
        match token {
            TokenCheck::Ok => None,
            refused => Some(self.refuse_token(req, refused)),
        }
    }

    #[cold]
    fn refuse_origin(&mut self, req: &Request) -> (Bytes, bool) {
        self.counters.inc(Counter::OriginRefused);
        if self.ctx.security.should_log(LogKind::Origin) {
            let origin = String::from_utf8_lossy(req.origin.as_deref().unwrap_or_default());
            tracing::info!(%origin, path = %req.path, "refused a request from an origin not in security.allowed_origins (403; logged once per 10 s)");
        }
        // An upgrade that is refused ends the connection, as other refused handshakes do.
        let close = req.close || req.upgrade.is_some();
        (response::text(403, "Origin not allowed\n", close), close)
    }

    #[cold]
    fn refuse_token(&mut self, req: &Request, check: TokenCheck) -> (Bytes, bool) {
        self.counters.inc(Counter::AuthRefused);
        if self.ctx.security.should_log(LogKind::Auth) {
            tracing::info!(path = %req.path, ?check, "refused a request without the right bearer token (401; logged once per 10 s)");
        }
        let challenge = match check {
            TokenCheck::Wrong => "Bearer realm=\"ringcast\", error=\"invalid_token\"",
            _ => "Bearer realm=\"ringcast\"",
        };
        let headers = [("WWW-Authenticate", challenge)];
        let resp = response::build(401, &headers, Some("text/plain; charset=UTF-8"), b"bearer token required\n", req.close);
        (resp, req.close)
    }

    /// Count a just-accepted socket against its client IP; `None` (after a best-effort
    /// 503, the socket closed) when that IP already holds its limit.
    pub(super) fn admit_peer(&mut self, fd: OwnedFd) -> Option<OwnedFd> {
        let Some(peers) = self.ctx.security.peers() else { return Some(fd) };
        let ip = match socket2::SockRef::from(&fd).peer_addr().ok().and_then(|a| a.as_socket()) {
            Some(addr) => addr.ip(),
            None => return Some(fd), // not connected any more: its first read ends it
        };
        if peers.admit(fd.as_raw_fd(), ip) {
            return Some(fd);
        }
        self.counters.inc(Counter::ClosedPerIpLimit);
        if self.ctx.security.should_log(LogKind::PerIp) {
            tracing::warn!(%ip, "refused a connection: its IP is at security.max_connections_per_ip (logged once per 10 s)");
        }
        crate::io::send_now(fd.as_raw_fd(), PER_IP_REFUSAL);
        None // dropping the fd closes it
    }

    /// Socket `fd` is about to be closed: give its IP's slot back.
    pub(super) fn release_peer(&self, fd: RawFd) {
        if let Some(peers) = self.ctx.security.peers() {
            peers.release(fd);
        }
    }

    /// Count a SockJS session about to be created for connection `id`'s request; `None`
    /// when it may be, else the 503 to answer (nothing created, counted, logged).
    pub(super) fn admit_session(&mut self, id: ConnId, service: ServiceId, key: &[u8], close: bool) -> Option<Bytes> {
        let count = self.ctx.security.sessions()?;
        let ip = self.conns.get(id).and_then(|c| {
            let addr = socket2::SockRef::from(&c.fd).peer_addr().ok()?.as_socket()?;
            Some(addr.ip())
        });
        if count.admit(service.0, key, ip) {
            return None;
        }
        self.counters.inc(Counter::SockjsSessionsRefused);
        if self.ctx.security.should_log(LogKind::Sessions) {
            tracing::warn!(?ip, "refused a SockJS session: security.max_sessions or max_sessions_per_ip reached (503; logged once per 10 s)");
        }
        Some(response::text(503, "too many sessions\n", close))
    }

    /// SockJS session `key` of `service` was destroyed: give its slot back.
    pub(super) fn release_session(&self, service: ServiceId, key: &[u8]) {
        if let Some(count) = self.ctx.security.sessions() {
            count.release(service.0, key);
        }
    }
}
