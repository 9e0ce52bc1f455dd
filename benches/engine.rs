//! Engine micro-benchmarks (no sockets): WebSocket frame encode/decode, masking, the
//! topic table's publish walk, and one whole fan-out tick (publish → per-subscriber
//! queues → one coalesced write each into a mock writer).
//!
//! Run: `cargo bench --bench engine`. Besides criterion's means, the tick bench prints
//! an hdrhistogram summary (p50/p99/p999 per tick and ns per delivery).

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;
use ringcast::ids::SpaceId;
use ringcast::pubsub::prepared::{Encoding, Prepared};
use ringcast::pubsub::topics::TopicTable;
use ringcast::send::queue::{SendQueue, SendStatus};
use ringcast::transport::ws::codec::{self, OpCode};
use ringcast::transport::ws::mask;
use ringcast::transport::ws::reader::{Flow, MessageReader, WsMessage};
use std::time::Instant;

const SUBSCRIBERS: usize = 10_000;
const BUDGET_BYTES: usize = 1 << 20;

fn bench_codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_codec");
    for size in [64usize, 4096] {
        let payload = vec![b'x'; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("encode_server_frame", size), &payload, |b, p| {
            b.iter(|| codec::frame(OpCode::Text, black_box(p)))
        });
        let wire = codec::client_frame(OpCode::Text, &payload, [1, 2, 3, 4]);
        g.bench_with_input(BenchmarkId::new("decode_client_message", size), &wire, |b, w| {
            let mut reader = MessageReader::new();
            let mut buf = w.clone();
            b.iter(|| {
                buf.copy_from_slice(w);
                let mut n = 0;
                reader
                    .feed(&mut buf, 1 << 20, |m| {
                        if let WsMessage::Text(t) = m {
                            n += t.len();
                        }
                        Flow::Continue
                    })
                    .unwrap();
                black_box(n)
            })
        });
    }
    g.finish();
}

fn bench_mask(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_mask");
    for size in [64usize, 4096, 65536] {
        let mut buf = vec![7u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("fast", size), |b| {
            b.iter(|| mask::apply_mask(black_box(&mut buf), [1, 2, 3, 4], 1))
        });
        g.bench_function(BenchmarkId::new("reference", size), |b| {
            b.iter(|| mask::apply_mask_reference(black_box(&mut buf), [1, 2, 3, 4], 1))
        });
    }
    g.finish();
}

/// A topic with `n` members, each with its own send queue (the shard's shape).
struct Room {
    table: TopicTable<u32>,
    queues: Vec<SendQueue>,
}

impl Room {
    fn new(n: usize) -> Room {
        let mut table = TopicTable::new();
        let topic = Bytes::from_static(b"bench");
        for i in 0..n as u32 {
            table.subscribe(SpaceId(0), &topic, i);
        }
        Room { table, queues: (0..n).map(|_| SendQueue::new()).collect() }
    }

    /// Publish one message: encode once, queue to every member. Returns deliveries.
    fn publish(&mut self, seq: u64) -> usize {
        let topic = Bytes::from_static(b"bench");
        let p = Prepared::new(SpaceId(0), topic.clone(), topic, Bytes::from(format!("{seq:020}")));
        let tid = self.table.lookup(SpaceId(0), b"bench").unwrap();
        let (frame, _) = p.encoding(Encoding::MuxWs);
        let mut n = 0;
        for m in self.table.members(tid) {
            if self.queues[m as usize].push(frame, BUDGET_BYTES) == SendStatus::Queued {
                n += 1;
            }
        }
        n
    }

    /// Flush every queue into a mock writer that accepts everything: one write each.
    fn flush(&mut self) -> usize {
        let mut bytes = 0;
        for q in self.queues.iter_mut() {
            if let Some(iov) = q.start_write() {
                let n: usize = iov.iter().map(|v| v.iov_len).sum();
                bytes += n;
                let _ = q.written(n);
            }
        }
        bytes
    }
}

fn bench_topics(c: &mut Criterion) {
    let mut g = c.benchmark_group("topic_table");
    g.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    let mut room = Room::new(SUBSCRIBERS);
    let mut seq = 0;
    g.bench_function("publish_and_drain_10k_subscribers", |b| {
        b.iter(|| {
            seq += 1;
            let n = room.publish(seq);
            black_box(room.flush());
            n
        })
    });
    g.finish();
}

/// One tick at fan-out width W: W publishes queued to 10 000 subscribers, then one
/// coalesced write per subscriber.
fn bench_tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout_tick");
    for width in [1usize, 16] {
        g.throughput(Throughput::Elements((SUBSCRIBERS * width) as u64));
        let mut room = Room::new(SUBSCRIBERS);
        let mut seq = 0;
        g.bench_function(BenchmarkId::new("10k_subscribers_w", width), |b| {
            b.iter(|| {
                for _ in 0..width {
                    seq += 1;
                    room.publish(seq);
                }
                black_box(room.flush())
            })
        });
        // Only in real bench runs (`cargo bench` passes --bench), not `cargo test`'s smoke run.
        if std::env::args().any(|a| a == "--bench") {
            latency_summary(&mut room, width);
        }
    }
    g.finish();
}

/// Per-tick latency distribution with hdrhistogram (criterion reports means).
fn latency_summary(room: &mut Room, width: usize) {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut seq = 1_000_000;
    for _ in 0..2000 {
        let start = Instant::now();
        for _ in 0..width {
            seq += 1;
            room.publish(seq);
        }
        black_box(room.flush());
        hist.record(start.elapsed().as_nanos() as u64).unwrap();
    }
    let deliveries = (SUBSCRIBERS * width) as f64;
    let q = |p: f64| hist.value_at_quantile(p);
    println!(
        "fanout_tick W={width} ({} deliveries/tick): p50 {:.1} µs ({:.1} ns/delivery), p99 {:.1} µs ({:.1} ns/delivery), p999 {:.1} µs, max {:.1} µs",
        SUBSCRIBERS * width,
        q(0.5) as f64 / 1e3,
        q(0.5) as f64 / deliveries,
        q(0.99) as f64 / 1e3,
        q(0.99) as f64 / deliveries,
        q(0.999) as f64 / 1e3,
        hist.max() as f64 / 1e3,
    );
}

criterion_group!(benches, bench_codec, bench_mask, bench_topics, bench_tick);
criterion_main!(benches);
