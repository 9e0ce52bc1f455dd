//! Parsing of the `--url` argument (`ws://HOST:PORT[/PATH]`, or `http://` for the same thing)
//! into what a connection needs: the socket address, the `Host` header and the request path.

use std::net::{SocketAddr, ToSocketAddrs};

/// A resolved `ws://` URL.
#[derive(Debug, Clone)]
pub struct WsUrl {
    /// The address every connection goes to (first resolution result).
    pub addr: SocketAddr,
    /// `HOST:PORT` as written, for the `Host` header.
    pub host_header: String,
    /// The path as written; empty when the URL had none (or just `/`).
    pub path: String,
}

/// Parses and resolves `ws://HOST[:PORT][/PATH]` (port 80 by default). `http://` means the same
/// (natural for the SockJS HTTP transports); `wss://` and `https://` are not supported.
pub fn parse(url: &str) -> Result<WsUrl, String> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("--url {url:?}: only ws:// and http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("--url {url:?}: no host"));
    }
    let with_port = if has_port(authority) { authority.to_string() } else { format!("{authority}:80") };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("--url {url:?}: cannot resolve {with_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("--url {url:?}: {with_port} resolves to nothing"))?;
    let path = if path == "/" { String::new() } else { path.to_string() };
    Ok(WsUrl { addr, host_header: authority.to_string(), path })
}

/// True when the authority ends in `:PORT` (IPv6 literals are bracketed: `[::1]:8080`).
fn has_port(authority: &str) -> bool {
    match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']') && authority[i + 1..].bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_path() {
        let u = parse("ws://127.0.0.1:8080/rooms/websocket").unwrap();
        assert_eq!(u.addr.port(), 8080);
        assert_eq!(u.host_header, "127.0.0.1:8080");
        assert_eq!(u.path, "/rooms/websocket");
    }

    #[test]
    fn bare_slash_means_no_path() {
        assert_eq!(parse("ws://127.0.0.1:9/").unwrap().path, "");
        assert_eq!(parse("ws://127.0.0.1:9").unwrap().path, "");
    }

    #[test]
    fn ipv6_and_default_port() {
        assert_eq!(parse("ws://[::1]:81/x").unwrap().addr.port(), 81);
        assert_eq!(parse("ws://127.0.0.1/x").unwrap().addr.port(), 80);
    }

    #[test]
    fn schemes() {
        assert!(parse("wss://127.0.0.1:1/").is_err());
        assert!(parse("https://127.0.0.1:1/").is_err());
        assert_eq!(parse("http://127.0.0.1:1/rooms").unwrap().path, "/rooms");
    }
}
