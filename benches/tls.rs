//! What TLS adds per delivery: sealing a connection's queued frames into TLS records
//! (one record per flush for the small frames the queue copies together, as
//! `tls::TlsConn::seal` does) with the same rustls
//! configuration as the server (ring provider, TLS 1.3, AES-128-GCM or ChaCha20 as
//! negotiated). No sockets: a client and a server connection finish their handshake in
//! memory, then the server side seals 1 or 8 frames of 64 B, 1 frame of 1 KiB.
//! Compare with `engine/tick` (µs per delivery without TLS).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rustls::pki_types::ServerName;
use std::io::Write;
use std::sync::Arc;

fn pair() -> rustls::ServerConnection {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    while server.is_handshaking() || client.is_handshaking() {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        server.read_tls(&mut wire.as_slice()).unwrap();
        server.process_new_packets().unwrap();
        let mut wire = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut wire).unwrap();
        }
        client.read_tls(&mut wire.as_slice()).unwrap();
        client.process_new_packets().unwrap();
    }
    server.set_buffer_limit(None);
    server
}

fn bench_seal(c: &mut Criterion) {
    let mut group = c.benchmark_group("tls_seal");
    let mut server = pair();
    let mut out = Vec::with_capacity(64 * 1024);
    for (frames, frame_bytes) in [(1usize, 64usize), (8, 64), (1, 1024)] {
        // The send queue copies small frames together, so a flush seals them in one write.
        let batch = vec![b'x'; frames * frame_bytes];
        group.throughput(Throughput::Elements(frames as u64));
        let id = BenchmarkId::new(format!("{frames}x{frame_bytes}B"), "per flush");
        group.bench_function(id, |b| {
            b.iter(|| {
                server.writer().write_all(black_box(&batch)).unwrap();
                out.clear();
                while server.wants_write() {
                    server.write_tls(&mut out).unwrap();
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_seal);
criterion_main!(benches);
