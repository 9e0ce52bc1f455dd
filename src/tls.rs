//! TLS in the process, with rustls: `wss://` and `https://` on the listener when `[tls]`
//! names a certificate chain and a key.
//!
//! Owns: loading (and, on SIGHUP, reloading) the certificate and key files into a
//! rustls server configuration; each connection's TLS state ([`TlsConn`]): turning the
//! bytes read into plaintext for the parsers, and sealing the plaintext a connection
//! has queued into TLS records just before its write. Does not own: sockets, queues or
//! the protocols (they see plaintext, as without TLS).
//!
//! Cost: encode-once stops at the TLS layer. A published frame is still encoded once,
//! but each connection encrypts its own copy (one record per flush, so a batch of
//! frames is sealed in one pass). kTLS offload would move that into the kernel; the
//! kernels this was measured on lack the `tls` module, so it is not used.

use crate::send::queue::SendQueue;
use bytes::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why the TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or parsed as PEM.
    #[error("tls: cannot read {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The certificate file holds no certificate.
    #[error("tls: no certificate in {0}")]
    NoCertificate(PathBuf),
    /// rustls refused the chain or the key (for example, a key that does not match).
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server side of TLS for every shard: the current configuration, replaced as a
/// whole on reload (connections keep the one they started with).
#[derive(Debug)]
pub(crate) struct TlsAcceptor {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl TlsAcceptor {
    /// Load the PEM certificate chain and private key.
    pub(crate) fn load(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsError> {
        let config = server_config(cert_file, key_file)?;
        Ok(TlsAcceptor {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current: RwLock::new(Arc::new(config)),
        })
    }

    /// Read the files again (SIGHUP). On error the previous configuration stays.
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(server_config(&self.cert_file, &self.key_file)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// TLS state for a new connection.
    pub(crate) fn accept(&self) -> Result<TlsConn, TlsError> {
        let config = self.current.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut conn = rustls::ServerConnection::new(config)?;
        // The connection's send queue bounds what waits (send budget); no second cap.
        conn.set_buffer_limit(None);
        Ok(TlsConn { conn, plain: Vec::new() })
    }
}

fn server_config(cert_file: &Path, key_file: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let file_error = |path: &Path, e: &dyn std::fmt::Display| TlsError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| file_error(cert_file, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert_file, &e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert_file.to_path_buf()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| file_error(key_file, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// One connection's TLS state.
pub(crate) struct TlsConn {
    conn: rustls::ServerConnection,
    /// Plaintext of the last read, lent to the parsers.
    plain: Vec<u8>,
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn").field("handshaking", &self.conn.is_handshaking()).finish()
    }
}

impl TlsConn {
    /// Take bytes read from the socket; returns the plaintext they carried (maybe none,
    /// during the handshake). The buffer is lent: give it back with [`TlsConn::restore`].
    pub(crate) fn decrypt(&mut self, mut data: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let mut plain = std::mem::take(&mut self.plain);
        plain.clear();
        while !data.is_empty() {
            // Reading from a slice cannot fail; rustls refuses more only when its own
            // buffer is full, and it is emptied below before the next read.
            if self.conn.read_tls(&mut data).is_err() {
                return Err(rustls::Error::General("TLS input buffer full".into()));
            }
            let state = self.conn.process_new_packets()?;
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = plain.len();
                plain.resize(start + n, 0);
                let _ = self.conn.reader().read_exact(&mut plain[start..]);
            }
        }
        Ok(plain)
    }

    /// Give the plaintext buffer back for the next read (keeps its capacity).
    pub(crate) fn restore(&mut self, plain: Vec<u8>) {
        self.plain = plain;
    }

    /// TLS records wait to be written (handshake messages, alerts).
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Replace the plaintext queued after the last sealed bytes by its TLS records.
    pub(crate) fn seal(&mut self, queue: &mut SendQueue) {
        queue.seal_pending(|segments| {
            for segment in segments {
                // Unbounded buffer: a write takes everything.
                let _ = self.conn.writer().write_all(segment);
            }
            self.records()
        });
    }

    /// `bytes` sealed at once, for a last word written straight to the socket.
    pub(crate) fn seal_now(&mut self, bytes: &[u8]) -> Vec<u8> {
        let _ = self.conn.writer().write_all(bytes);
        self.conn.send_close_notify();
        self.records().to_vec()
    }

    fn records(&mut self) -> Bytes {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        Bytes::from(out)
    }
}
