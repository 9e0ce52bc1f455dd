//! Starting and stopping the server: listeners, shard threads, pinning, signals.
//!
//! Owns: choosing the backend, binding one `SO_REUSEPORT` listener per shard, creating
//! the cross-shard bus and eventfds, spawning and pinning shard threads, and graceful
//! shutdown (SIGINT/SIGTERM → every shard closes its connections politely within
//! `limits.shutdown_grace_ms`). Does not own: anything a shard does.

use crate::api::Publisher;
use crate::config::Config;
use crate::error::StartError;
use crate::ids::ShardId;
use crate::io::probe::{self, Selection};
use crate::io::{Backend, BackendOptions};
use crate::metrics::{self, ShardStats};
use crate::pubsub::bus::{self, Remote};
use crate::service::{CustomProtocol, Page, ServiceTable};
use crate::shard::{Shard, ShardContext};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// Pending connections each listener queues before accepting.
const LISTEN_BACKLOG: i32 = 4096;

/// A running server. Dropping it stops it (as [`Server::stop`] does, ignoring errors).
pub struct Server {
    addr: SocketAddr,
    selection: Selection,
    shards: usize,
    shutdown: Arc<AtomicBool>,
    wake_fds: Arc<[OwnedFd]>,
    stats: Arc<[ShardStats]>,
    remote: Arc<Remote>,
    services: Arc<ServiceTable>,
    max_topic_bytes: usize,
    threads: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Validate `config`, pick the backend, bind, and start every shard. The services
    /// are those of the configuration; to add handlers, use [`App`](crate::App).
    ///
    /// ```no_run
    /// let server = ringcast::Server::start(ringcast::Config::embedded_default())?;
    /// println!("{}", server.startup_line());
    /// server.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(config: Config) -> Result<Server, StartError> {
        Server::start_with(config, Vec::new(), Vec::new())
    }

    pub(crate) fn start_with(
        config: Config,
        custom: Vec<(String, CustomProtocol)>,
        pages: Vec<Page>,
    ) -> Result<Server, StartError> {
        config.validate()?;
        let services = Arc::new(ServiceTable::build(&config, custom)?.with_pages(pages));
        ignore_sigpipe();
        let selection = probe::select(config.backend).map_err(StartError::Backend)?;
        let shards = config.shard_count();
        let requested = config.listen_addr()?;
        let (listeners, addr) = bind_all(requested, shards)?;
        let wake_fds: Arc<[OwnedFd]> = (0..shards)
            .map(|i| bus::eventfd().map_err(|source| StartError::Shard { shard: i, source }))
            .collect::<Result<Vec<_>, _>>()?
            .into();
        let stats: Arc<[ShardStats]> = (0..shards).map(|_| ShardStats::default()).collect();
        let shutdown = Arc::new(AtomicBool::new(false));
        let config = Arc::new(config);
        let (buses, remote) = bus::build(wake_fds.clone(), config.limits.bus_capacity_batches);
        let ctx = Arc::new(ShardContext {
            config: config.clone(),
            services: services.clone(),
            stats: stats.clone(),
            shutdown: shutdown.clone(),
            remote: remote.clone(),
            security: Arc::new(crate::security::Security::new(&config.security)),
        });
        let max_topic_bytes = config.limits.max_topic_bytes;
        let mut server = Server {
            addr,
            selection,
            shards,
            shutdown,
            wake_fds,
            stats,
            remote,
            services,
            max_topic_bytes,
            threads: Vec::new(),
        };
        let (ready_tx, ready_rx) = mpsc::channel();
        for (index, (listener, bus_end)) in listeners.into_iter().zip(buses).enumerate() {
            let spawn = ShardSpawn { index, listener, bus_end, ctx: ctx.clone(), ready: ready_tx.clone() };
            server.threads.push(spawn.start(server.selection.kind, &config)?);
        }
        for _ in 0..shards {
            let result: Result<(), StartError> = ready_rx.recv().unwrap_or(Ok(()));
            result?; // dropping `server` stops the shards already running
        }
        Ok(server)
    }

    /// The address the server listens on (with the actual port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend in use and why it was chosen.
    pub fn backend(&self) -> &Selection {
        &self.selection
    }

    /// Number of shards (event-loop threads).
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// A publisher for this server's topics, usable from any thread.
    pub fn publisher(&self) -> Publisher {
        Publisher::new(self.remote.clone(), self.services.clone(), self.max_topic_bytes)
    }

    /// Sum of a metric over all shards (published once per tick).
    pub fn metric(&self, c: metrics::Counter) -> u64 {
        metrics::total(&self.stats, c)
    }

    /// One shard's value of a metric.
    pub fn shard_metric(&self, shard: usize, c: metrics::Counter) -> u64 {
        self.stats[shard].load(c)
    }

    /// The Prometheus text of every metric, as `GET /metrics` serves it.
    pub fn metrics_text(&self) -> String {
        metrics::render(&self.stats)
    }

    /// The startup line: version, backend and why, shards, address.
    pub fn startup_line(&self) -> String {
        format!(
            "ringcast {} listening on {} | backend {} ({}) | {} shard{}",
            env!("CARGO_PKG_VERSION"),
            self.addr,
            self.selection.kind,
            self.selection.reason,
            self.shards,
            if self.shards == 1 { "" } else { "s" }
        )
    }

    /// Ask every shard to close its connections and stop; returns at once.
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.wake_fds.iter().for_each(bus::wake);
    }

    /// Shut down and wait for every shard to finish. Returns the first shard error.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.request_shutdown();
        self.join()
    }

    fn join(&mut self) -> std::io::Result<()> {
        let mut result = Ok(());
        for t in self.threads.drain(..) {
            match t.join() {
                Ok(Err(e)) if result.is_ok() => result = Err(e),
                Err(_) if result.is_ok() => result = Err(std::io::Error::other("shard thread panicked")),
                _ => {}
            }
        }
        result
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.request_shutdown();
            let _ = self.join();
        }
    }
}

/// Everything one shard thread needs.
struct ShardSpawn {
    index: usize,
    listener: OwnedFd,
    bus_end: bus::BusEnd,
    ctx: Arc<ShardContext>,
    ready: mpsc::Sender<Result<(), StartError>>,
}

impl ShardSpawn {
    fn start(
        self,
        kind: crate::io::BackendKind,
        config: &Config,
    ) -> Result<JoinHandle<std::io::Result<()>>, StartError> {
        let opts = BackendOptions {
            ring_entries: config.io.ring_entries,
            read_buffer_bytes: config.io.read_buffer_bytes,
            read_buffer_count: config.io.read_buffer_count,
            read_budget_bytes: config.io.read_budget_bytes,
        };
        let pin = config.pin_shards;
        let index = self.index;
        std::thread::Builder::new()
            .name(format!("ringcast-shard-{index}"))
            .spawn(move || {
                if pin {
                    pin_to_core(index);
                }
                // The backend is created on its own thread (io_uring SINGLE_ISSUER).
                let wake_raw = self.bus_end.own_wake_fd();
                match Backend::new(kind, self.listener, wake_raw, &opts) {
                    Ok(io) => {
                        let _ = self.ready.send(Ok(()));
                        let shard = ShardId(index as u16);
                        abort_on_panic(index, || Shard::new(shard, io, self.bus_end, self.ctx).run())
                    }
                    Err(source) => {
                        let _ = self.ready.send(Err(StartError::Shard { shard: index, source }));
                        Ok(())
                    }
                }
            })
            .map_err(|source| StartError::Shard { shard: index, source })
    }
}

/// Run a shard's loop; if it panics, take the whole process down with a clear line.
///
/// A process running without one of its shards would silently stop serving that
/// shard's connections and sessions (and the bus would fill up): a supervisor's
/// restart is better than that. Application handlers' panics never get here; they
/// are caught around each call and close only their connection.
fn abort_on_panic(index: usize, run: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<()> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(result) => result,
        Err(payload) => {
            let what = panic_message(&*payload);
            tracing::error!(shard = index, panic = %what, "shard thread panicked; aborting the process");
            eprintln!("ringcast: shard {index} panicked ({what}); aborting the process");
            std::process::abort()
        }
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Bind one listener per shard to the same address with `SO_REUSEPORT`; the kernel
/// spreads new connections across them. Port 0 is resolved by the first bind.
fn bind_all(requested: SocketAddr, shards: usize) -> Result<(Vec<OwnedFd>, SocketAddr), StartError> {
    if requested.port() != 0 {
        ensure_port_is_free(requested)?;
    }
    let mut addr = requested;
    let mut listeners = Vec::with_capacity(shards);
    for _ in 0..shards {
        let socket = bind_one(addr).map_err(|source| StartError::Bind { addr: addr.to_string(), source })?;
        if addr.port() == 0 {
            let local = socket.local_addr().ok().and_then(|a| a.as_socket());
            addr = local.unwrap_or(addr);
        }
        listeners.push(OwnedFd::from(socket));
    }
    Ok((listeners, addr))
}

/// Refuse to share a port with another process. With `SO_REUSEPORT` a second server on the
/// same address would bind silently and the kernel would split new connections between
/// the two; a bind without it fails while anyone listens there (`SO_REUSEADDR` still
/// lets it past sockets in TIME_WAIT).
fn ensure_port_is_free(addr: SocketAddr) -> Result<(), StartError> {
    let probe = || -> std::io::Result<()> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())
    };
    probe().map_err(|source| {
        let source = if source.kind() == std::io::ErrorKind::AddrInUse {
            std::io::Error::new(source.kind(), "address in use: another process (perhaps another ringcast) listens there")
        } else {
            source
        };
        StartError::Bind { addr: addr.to_string(), source }
    })
}

fn bind_one(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket)
}

/// Pin the calling thread to core `index` modulo the cores it may run on.
fn pin_to_core(index: usize) {
    // SAFETY: sched_getaffinity/setaffinity on the calling thread with a zeroed set.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return;
        }
        let cores: Vec<usize> =
            (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &allowed)).collect();
        if cores.is_empty() {
            return;
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cores[index % cores.len()], &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Writes to a closed peer return EPIPE instead of killing the process.
fn ignore_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_IGN.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// The signals a server takes over: SIGINT and SIGTERM (drain and exit), SIGHUP (logged;
/// nothing to reload yet, and it must not kill the process as its default action does).
fn handled_signals() -> libc::sigset_t {
    // SAFETY: building a signal set on the stack.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Block the handled signals in this thread and all threads it spawns later, so that
/// [`wait_for_signal`] receives them. Call before `Server::start`.
pub(crate) fn block_shutdown_signals() {
    let set = handled_signals();
    // SAFETY: changing this thread's signal mask with a valid set.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Wait for SIGINT or SIGTERM and return its name; SIGHUP is logged and waited past.
pub(crate) fn wait_for_signal() -> &'static str {
    let set = handled_signals();
    loop {
        let mut sig = 0;
        // SAFETY: sigwait on a set of signals this thread has blocked.
        unsafe { libc::sigwait(&set, &mut sig) };
        match sig {
            libc::SIGINT => return "SIGINT",
            libc::SIGTERM => return "SIGTERM",
            _ => tracing::info!("SIGHUP received: nothing to reload (ignored)"),
        }
    }
}

/// After the first SIGINT/SIGTERM: a second one exits at once, without waiting for the
/// drain (status 1, with one line on stderr).
pub(crate) fn exit_on_second_signal() {
    std::thread::Builder::new()
        .name("ringcast-signals".into())
        .spawn(|| {
            let signal = wait_for_signal();
            eprintln!("ringcast: second {signal}: exiting without waiting for connections to close");
            std::process::exit(1);
        })
        .expect("spawn the signal thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set in the child process of `shard_panic_aborts_the_process`.
    const CHILD_ENV: &str = "RINGCAST_TEST_SHARD_PANIC_CHILD";

    /// Runs only as the child: a shard body that panics must abort the process.
    #[test]
    fn shard_panic_child() {
        if std::env::var_os(CHILD_ENV).is_some() {
            let _ = abort_on_panic(3, || panic!("boom in a shard"));
            unreachable!("abort_on_panic returned after a panic");
        }
    }

    #[test]
    fn shard_panic_aborts_the_process() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "server::tests::shard_panic_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .output()
            .expect("re-run the test binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "status {:?}, stderr:\n{stderr}", out.status);
        assert!(
            stderr.contains("ringcast: shard 3 panicked (boom in a shard); aborting the process"),
            "{stderr}"
        );
    }

    #[test]
    fn a_shard_that_returns_is_not_aborted() {
        assert!(abort_on_panic(0, || Ok(())).is_ok());
        assert!(abort_on_panic(0, || Err(std::io::Error::other("x"))).is_err());
    }
}
