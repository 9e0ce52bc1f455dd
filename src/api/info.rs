//! What an application may know of the request that opened a connection.
//!
//! Owns: [`ConnInfo`] — remote address, path, query, headers and transport — built once
//! per connection of an application service (the built-in rooms do not keep it, so an
//! idle rooms connection stays small), and lookups of query parameters and cookies.
//! Does not own: HTTP parsing rules (`http::request`).

use super::handler::Transport;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Headers kept per connection; the request parser refuses more.
const MAX_HEADERS: usize = 48;

/// The opening request of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnInfo {
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) transport: Transport,
}

impl ConnInfo {
    /// From a complete request head (`head`, as read) on socket `fd`.
    pub(crate) fn from_request(head: &[u8], fd: RawFd, transport: Transport) -> ConnInfo {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut storage);
        let _ = req.parse(head); // complete and valid: it was parsed before
        let target = req.path.unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = req
            .headers
            .iter()
            .take_while(|h| !h.name.is_empty())
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
            .collect();
        ConnInfo {
            remote: peer_addr(fd),
            path: path.to_string(),
            query: query.to_string(),
            headers,
            transport,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        crate::http::request::query_param(&self.query, name)
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name).then_some(v)
            })
    }
}

/// The peer address of a connected socket.
fn peer_addr(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: a zeroed sockaddr_storage is valid to pass to getpeername with its size.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `storage`.
    let rc = unsafe { libc::getpeername(fd, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len) };
    if rc != 0 {
        return None;
    }
    // SAFETY: the kernel filled `storage` with `len` bytes of a socket address.
    let addr = unsafe { socket2::SockAddr::new(storage, len) };
    addr.as_socket()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_path_query_headers_and_cookies() {
        let head = b"GET /chat/websocket?nick=al%20ice&x HTTP/1.1\r\nHost: h\r\nCookie: a=1; sid=xyz\r\nX-Token: t\r\n\r\n";
        let info = ConnInfo::from_request(head, -1, Transport::WebSocket);
        assert_eq!(info.path, "/chat/websocket");
        assert_eq!(info.query, "nick=al%20ice&x");
        assert_eq!(info.query_param("nick").as_deref(), Some("al ice"));
        assert_eq!(info.query_param("x").as_deref(), Some(""));
        assert_eq!(info.query_param("y"), None);
        assert_eq!(info.header("x-token"), Some("t"));
        assert_eq!(info.cookie("sid"), Some("xyz"));
        assert_eq!(info.cookie("b"), None);
        assert_eq!(info.remote, None);
    }
}
