//! Access control shared by every shard: the Origin policy, bearer-token checks and the
//! per-IP connection count.
//!
//! Owns: deciding whether a request's `Origin` may use the services
//! (`security.allowed_origins`), whether an `Authorization` header carries the right
//! bearer token (compared in constant time), the process-wide table of open connections
//! per client IP (touched only when a connection is accepted or freed, never on the
//! data path), the count of SockJS sessions in total and per client IP (touched only
//! when a session is created or destroyed), and the once-per-interval throttle of
//! refusal log lines. Does not own:
//! the responses or counters (`shard::guard`), or the configuration (`config`).

use crate::config::SecurityConfig;
use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// At most one refusal log line per kind per this interval (a peer can repeat them).
const LOG_INTERVAL_MS: u64 = 10_000;

/// The security policy and the state every shard shares.
pub(crate) struct Security {
    /// Allowed origins, lowercase; `None` = any.
    origins: Option<Vec<String>>,
    publish_token: Option<Vec<u8>>,
    metrics_token: Option<Vec<u8>>,
    peers: Option<PeerTable>,
    sessions: Option<SessionCount>,
    epoch: Instant,
    next_log_ms: [AtomicU64; LogKind::COUNT],
}

/// Throttled log lines.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LogKind {
    Origin = 0,
    Auth = 1,
    PerIp = 2,
    Sessions = 3,
}

impl LogKind {
    const COUNT: usize = 4;
}

/// What a bearer-token check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// No token configured, or the right one.
    Ok,
    /// No `Authorization: Bearer` header.
    Missing,
    /// A bearer token, but not the configured one.
    Wrong,
}

impl Security {
    pub(crate) fn new(config: &SecurityConfig) -> Security {
        let any = config.allowed_origins.is_empty() || config.allowed_origins.iter().any(|o| o == "*");
        let token = |t: &str| (!t.is_empty()).then(|| t.as_bytes().to_vec());
        Security {
            origins: (!any).then(|| config.allowed_origins.iter().map(|o| o.to_ascii_lowercase()).collect()),
            publish_token: token(&config.publish_token),
            metrics_token: token(&config.metrics_token),
            peers: (config.max_connections_per_ip > 0).then(|| PeerTable::new(config.max_connections_per_ip)),
            sessions: (config.max_sessions > 0 || config.max_sessions_per_ip > 0)
                .then(|| SessionCount::new(config.max_sessions, config.max_sessions_per_ip)),
            epoch: Instant::now(),
            next_log_ms: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// May a request with this `Origin` and `Host` use the services? Always when no
    /// list is configured, when there is no `Origin` (not a browser), when the origin
    /// names the request's own host, or when it is listed.
    pub(crate) fn origin_allowed(&self, origin: Option<&[u8]>, host: Option<&[u8]>) -> bool {
        let Some(list) = &self.origins else { return true };
        let Some(origin) = origin.filter(|o| !o.is_empty()) else { return true };
        if list.iter().any(|o| o.as_bytes().eq_ignore_ascii_case(origin)) {
            return true;
        }
        let authority = origin.strip_prefix(b"http://").or_else(|| origin.strip_prefix(b"https://"));
        matches!((authority, host), (Some(a), Some(h)) if !a.is_empty() && a.eq_ignore_ascii_case(h.trim_ascii()))
    }

    pub(crate) fn check_publish(&self, authorization: Option<&[u8]>) -> TokenCheck {
        check_bearer(self.publish_token.as_deref(), authorization)
    }

    pub(crate) fn check_metrics(&self, authorization: Option<&[u8]>) -> TokenCheck {
        check_bearer(self.metrics_token.as_deref(), authorization)
    }

    /// The per-IP table, if `security.max_connections_per_ip` is set.
    pub(crate) fn peers(&self) -> Option<&PeerTable> {
        self.peers.as_ref()
    }

    /// The session count, if `security.max_sessions` or `max_sessions_per_ip` is set.
    pub(crate) fn sessions(&self) -> Option<&SessionCount> {
        self.sessions.as_ref()
    }

    /// True at most once per [`LOG_INTERVAL_MS`] per kind, over every shard.
    pub(crate) fn should_log(&self, kind: LogKind) -> bool {
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        let slot = &self.next_log_ms[kind as usize];
        let next = slot.load(Ordering::Relaxed);
        now_ms >= next
            && slot
                .compare_exchange(next, now_ms + LOG_INTERVAL_MS, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

fn check_bearer(expected: Option<&[u8]>, authorization: Option<&[u8]>) -> TokenCheck {
    let Some(expected) = expected else { return TokenCheck::Ok };
    let Some(given) = authorization.and_then(bearer_token) else { return TokenCheck::Missing };
    if constant_time_eq(expected, given) {
        TokenCheck::Ok
    } else {
        TokenCheck::Wrong
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii()).filter(|t| !t.is_empty())
}

/// Compare without an early exit: the time taken depends on `expected`'s length only,
/// never on where a guess first differs.
fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != given.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= e ^ given.get(i).copied().unwrap_or(!e);
    }
    std::hint::black_box(diff) == 0
}

/// Open connections per client IP, over every shard, and the IP of each counted socket
/// (a socket keeps its fd number when it moves between shards).
pub(crate) struct PeerTable {
    max_per_ip: u32,
    inner: Mutex<PeerInner>,
}

#[derive(Default)]
struct PeerInner {
    by_ip: HashMap<IpAddr, u32>,
    by_fd: HashMap<RawFd, IpAddr>,
}

impl PeerTable {
    fn new(max_per_ip: u32) -> PeerTable {
        PeerTable { max_per_ip, inner: Mutex::new(PeerInner::default()) }
    }

    /// Count socket `fd` from `ip`; false (nothing counted) if `ip` is at its limit.
    pub(crate) fn admit(&self, fd: RawFd, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // A stale entry for this fd number (its socket was freed without a release)
        // is dropped first, so a missed release can never leak a slot for good.
        inner.forget(fd);
        let open = inner.by_ip.entry(ip).or_insert(0);
        if *open >= self.max_per_ip {
            if *open == 0 {
                inner.by_ip.remove(&ip);
            }
            return false;
        }
        *open += 1;
        inner.by_fd.insert(fd, ip);
        true
    }

    /// Socket `fd` is about to be closed: uncount it (no-op if it was not counted).
    pub(crate) fn release(&self, fd: RawFd) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).forget(fd);
    }
}

impl PeerInner {
    fn forget(&mut self, fd: RawFd) {
        let Some(ip) = self.by_fd.remove(&fd) else { return };
        if let Some(open) = self.by_ip.get_mut(&ip) {
            *open -= 1;
            if *open == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }
}

/// A session, as the session count knows it: its service and client-chosen key.
type SessionKey = (u16, Box<[u8]>);

/// SockJS sessions open in total and per client IP, over every shard.
pub(crate) struct SessionCount {
    max_total: u32,
    max_per_ip: u32,
    inner: Mutex<SessionInner>,
}

#[derive(Default)]
struct SessionInner {
    total: u32,
    by_ip: HashMap<IpAddr, u32>,
    /// Each counted session and its client's IP (None: unknown, counted in the total only).
    by_key: HashMap<SessionKey, Option<IpAddr>>,
}

impl SessionCount {
    fn new(max_total: u32, max_per_ip: u32) -> SessionCount {
        SessionCount { max_total, max_per_ip, inner: Mutex::new(SessionInner::default()) }
    }

    /// Count a new session `key` of service `service` from `ip`; false (nothing counted)
    /// when the total or that IP is at its limit. A limit of 0 is no limit.
    pub(crate) fn admit(&self, service: u16, key: &[u8], ip: Option<IpAddr>) -> bool {
        let ip = ip.map(|ip| ip.to_canonical());
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let session = (service, Box::from(key));
        inner.forget(&session);
        let per_ip = ip.map_or(0, |ip| inner.by_ip.get(&ip).copied().unwrap_or(0));
        let over_total = self.max_total > 0 && inner.total >= self.max_total;
        let over_ip = self.max_per_ip > 0 && ip.is_some() && per_ip >= self.max_per_ip;
        if over_total || over_ip {
            return false;
        }
        inner.total += 1;
        if let Some(ip) = ip {
            *inner.by_ip.entry(ip).or_insert(0) += 1;
        }
        inner.by_key.insert(session, ip);
        true
    }

    /// Session `key` of `service` is gone: uncount it (no-op if it was not counted).
    pub(crate) fn release(&self, service: u16, key: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.forget(&(service, Box::from(key)));
    }
}

impl SessionInner {
    fn forget(&mut self, session: &SessionKey) {
        let Some(ip) = self.by_key.remove(session) else { return };
        self.total -= 1;
        let Some(ip) = ip else { return };
        if let Some(open) = self.by_ip.get_mut(&ip) {
            *open -= 1;
            if *open == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(origins: &[&str]) -> Security {
        let config = SecurityConfig {
            allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
            publish_token: "publish-token-0123456789".into(),
            max_connections_per_ip: 2,
            ..SecurityConfig::default()
        };
        Security::new(&config)
    }

    #[test]
    fn origins_listed_absent_or_same_host_pass() {
        let s = security(&["https://app.example.com"]);
        let host = Some(&b"ringcast.example.com:8080"[..]);
        assert!(s.origin_allowed(Some(b"https://APP.example.com"), host));
        assert!(s.origin_allowed(None, host), "non-browser clients send no Origin");
        assert!(s.origin_allowed(Some(b"http://ringcast.example.com:8080"), host), "same origin");
        assert!(!s.origin_allowed(Some(b"https://evil.example.com"), host));
        assert!(!s.origin_allowed(Some(b"https://app.example.com:444"), host));
        assert!(!s.origin_allowed(Some(b"null"), host));
        assert!(!s.origin_allowed(Some(b"http://"), Some(b"")));
        assert!(security(&[]).origin_allowed(Some(b"https://evil.example.com"), host));
        assert!(security(&["*"]).origin_allowed(Some(b"null"), host));
        assert!(security(&["null"]).origin_allowed(Some(b"null"), host));
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let s = security(&[]);
        assert_eq!(s.check_publish(None), TokenCheck::Missing);
        assert_eq!(s.check_publish(Some(b"Basic cHVibGlzaA==")), TokenCheck::Missing);
        assert_eq!(s.check_publish(Some(b"Bearer ")), TokenCheck::Missing);
        assert_eq!(s.check_publish(Some(b"Bearer publish-token-012345678")), TokenCheck::Wrong);
        assert_eq!(s.check_publish(Some(b"Bearer publish-token-01234567890")), TokenCheck::Wrong);
        assert_eq!(s.check_publish(Some(b"bearer  publish-token-0123456789 ")), TokenCheck::Ok);
        assert_eq!(s.check_metrics(None), TokenCheck::Ok, "no metrics token configured");
    }

    #[test]
    fn per_ip_table_counts_and_releases() {
        let s = security(&[]);
        let peers = s.peers().expect("limit set");
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(peers.admit(10, a) && peers.admit(11, mapped));
        assert!(!peers.admit(12, a), "third from the same IP");
        assert!(peers.admit(12, "10.0.0.2".parse().unwrap()));
        peers.release(10);
        peers.release(10);
        assert!(peers.admit(13, a));
        assert!(peers.admit(11, a), "a reused fd number replaces its stale entry");
        assert!(!peers.admit(14, a));
    }

    #[test]
    fn sessions_count_in_total_and_per_ip() {
        let count = SessionCount::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(count.admit(0, b"s1", Some(a)) && count.admit(1, b"s1", Some(a)));
        assert!(!count.admit(0, b"s2", Some(a)), "third session of one IP");
        assert!(count.admit(0, b"s3", Some(b)));
        assert!(!count.admit(0, b"s4", None), "fourth in total");
        count.release(0, b"s1");
        count.release(0, b"s1");
        assert!(count.admit(0, b"s5", Some(a)));
        assert!(!count.admit(0, b"s6", Some(b)), "total full again");
        let per_ip_only = SessionCount::new(0, 1);
        assert!(per_ip_only.admit(0, b"x", Some(a)) && per_ip_only.admit(0, b"y", None));
        assert!(!per_ip_only.admit(0, b"z", Some(a)));
    }

    #[test]
    fn log_lines_are_throttled() {
        let s = security(&[]);
        assert!(s.should_log(LogKind::Origin));
        assert!(!s.should_log(LogKind::Origin));
        assert!(s.should_log(LogKind::PerIp));
    }
}
