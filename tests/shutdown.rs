//! Shutting down with writes in flight: 1000 subscribers that stopped reading each have
//! a write the kernel holds (io_uring) or a full socket (epoll) when the server stops.
//! The server must neither free a buffer the kernel still reads (checked by the send
//! queues' own count, and by AddressSanitizer in `scripts/asan.sh`) nor hang.

mod common;

use common::WsClient;
use ringcast::{BackendChoice, Counter};
use std::time::{Duration, Instant};

const READERS: usize = 1000;
const MESSAGES: usize = 48;

/// The leak count is process-wide: the two backends' runs take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A WebSocket client with a 4 KiB receive buffer that never reads.
fn stalled_reader(addr: std::net::SocketAddr) -> WsClient {
    let mut c = WsClient::connect_tcp_small_window(addr, 4096).handshake("/rooms/websocket");
    c.send_text("sub,flood");
    c
}

fn shutdown_with_writes_in_flight_frees_nothing_the_kernel_holds(b: BackendChoice) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Budgets large enough that nobody is closed as a slow consumer before the stop, and
    // a grace period shorter than the linger, so that the shards exit with every reader
    // still closing and its write still in flight.
    // Small kernel send buffers (8 KiB), so that ~400 KB per reader leave a write in
    // flight (io_uring) or a full socket (epoll) for every one of them.
    let limits = "[limits]\nsend_budget_bytes = 16777216\nmax_message_bytes = 1048576\n\
                  shutdown_grace_ms = 300\nclose_linger_ms = 5000\n[io]\nsocket_send_buffer_bytes = 4096\n";
    let server = common::start_with(b, 2, limits);
    let addr = server.local_addr();
    let readers: Vec<WsClient> = (0..READERS).map(|_| stalled_reader(addr)).collect();
    let mut publisher = WsClient::connect(addr, "/rooms/websocket");
    publisher.send_text("sub,flood");
    assert!(common::eventually(Duration::from_secs(20), || {
        server.metric(Counter::Subscriptions) == READERS as u64 + 1
    }));
    let drain = common::drain_thread(&publisher.stream);
    let body = "z".repeat(8192);
    for i in 0..MESSAGES {
        publisher.send_text(&format!("msg,flood,{i}{body}"));
    }
    let want = ((READERS + 1) * MESSAGES) as u64;
    assert!(
        common::eventually(Duration::from_secs(30), || server.metric(Counter::Deliveries) >= want),
        "deliveries {} of {want}",
        server.metric(Counter::Deliveries)
    );
    // ~400 KB per reader against ~12 KiB of socket buffers: every reader's socket is full.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.metric(Counter::ClosedBackpressure), 0);
    let leaked_before = ringcast::send::queue::writes_leaked();
    let started = Instant::now();
    server.stop().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "stop took {:?}", started.elapsed());
    assert_eq!(ringcast::send::queue::writes_leaked(), leaked_before, "a queue was dropped in flight");
    drop(readers);
    drop(publisher);
    drain.join().unwrap();
}
both_backends!(shutdown_with_writes_in_flight_frees_nothing_the_kernel_holds);
