//! Startup choice of the I/O backend, and the io_uring probe behind it.
//!
//! Owns: parsing the requested backend (`auto`, `uring`/`io_uring`, `epoll`), the
//! `RINGCAST_BACKEND` override, probing whether io_uring offers everything the uring
//! backend uses (a ring, the opcodes, provided-buffer rings, multishot recv), and the
//! human reason printed in the startup line. Does not own: creating the backends
//! (`io::Backend::new`) or reporting a failed choice (the caller exits with the reason).

use super::uring::BufRing;
use super::BackendKind;
use io_uring::types::{CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, IoUring, Probe};
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::str::FromStr;
use std::time::Duration;

/// Environment variable that overrides the configured backend.
pub const BACKEND_ENV: &str = "RINGCAST_BACKEND";
/// Where the kernel says whether io_uring is allowed (0 = yes, 1 = group only, 2 = no).
const DISABLED_SYSCTL: &str = "/proc/sys/kernel/io_uring_disabled";
/// Submission entries of the throwaway probe ring.
const PROBE_RING_ENTRIES: u32 = 8;
/// Provided buffers in the probe's buffer ring, and their size in bytes.
const PROBE_BUFFERS: u16 = 2;
const PROBE_BUFFER_BYTES: u32 = 64;
/// Longest the probe waits for its test recv to complete, in milliseconds.
const PROBE_WAIT_MS: u64 = 1000;
/// Opcodes the uring backend submits, with names for the reason text.
const REQUIRED_OPCODES: [(u8, &str); 6] = [
    (opcode::AcceptMulti::CODE, "accept"),
    (opcode::RecvMulti::CODE, "recv"),
    (opcode::Send::CODE, "send"),
    (opcode::SendMsg::CODE, "sendmsg"),
    (opcode::Read::CODE, "read"),
    (opcode::AsyncCancel::CODE, "async_cancel"),
];

/// The backend asked for in the configuration, on the command line or in the environment.
///
/// ```
/// use ringcast::BackendChoice;
/// assert_eq!("io_uring".parse::<BackendChoice>(), Ok(BackendChoice::Uring));
/// assert_eq!(BackendChoice::Epoll.to_string(), "epoll");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// io_uring when the probe passes, epoll otherwise.
    Auto,
    /// io_uring or fail.
    #[serde(alias = "io_uring")]
    Uring,
    /// epoll, no probe.
    Epoll,
}

impl FromStr for BackendChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<BackendChoice, String> {
        let s = s.trim();
        let choices =
            [("auto", Self::Auto), ("uring", Self::Uring), ("io_uring", Self::Uring), ("epoll", Self::Epoll)];
        choices
            .iter()
            .find(|(name, _)| s.eq_ignore_ascii_case(name))
            .map(|&(_, choice)| choice)
            .ok_or_else(|| format!("unknown backend {s:?} (expected auto, uring, io_uring or epoll)"))
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Uring => "io_uring",
            BackendChoice::Epoll => "epoll",
        })
    }
}

/// Why a backend was chosen, printed in the startup line, e.g. "auto: io_uring
/// available" or "auto: io_uring unavailable (kernel.io_uring_disabled=2), using epoll"
/// or "forced by RINGCAST_BACKEND".
///
/// ```no_run
/// let server = ringcast::Server::start(ringcast::Config::embedded_default())?;
/// let selection = server.backend();
/// println!("{} because {}", selection.kind, selection.reason);
/// # Ok::<(), ringcast::StartError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The backend every shard uses.
    pub kind: BackendKind,
    /// Why, in words.
    pub reason: String,
}

/// Probe io_uring: create a tiny ring, check that the kernel knows every opcode the
/// backend submits, register a tiny provided-buffer ring and run one multishot recv on
/// a socketpair with it. `Err` is a human reason ("ENOSYS: kernel without io_uring",
/// "kernel.io_uring_disabled=2", "no provided buffer rings ...", ...).
pub fn probe_uring() -> Result<(), String> {
    let disabled = read_disabled_sysctl();
    if disabled == Some(2) {
        return Err("kernel.io_uring_disabled=2".to_string());
    }
    let mut ring = IoUring::new(PROBE_RING_ENTRIES).map_err(|e| setup_failure(&e, disabled))?;
    check_opcodes(&ring)?;
    check_multishot_recv(&mut ring)
}

/// Resolve the requested backend. `RINGCAST_BACKEND` (auto|uring|io_uring|epoll)
/// overrides `requested`; `Auto` probes and falls back to epoll with the reason; a
/// forced io_uring that is unavailable is `Err(reason)`; `Epoll` needs no probe.
pub fn select(requested: BackendChoice) -> Result<Selection, String> {
    let env = std::env::var(BACKEND_ENV).ok();
    match env_choice(env.as_deref())? {
        Some(choice) => resolve(choice, Origin::Env, probe_uring),
        None => resolve(requested, Origin::Config, probe_uring),
    }
}

/// Who asked for a backend, for the reason text.
#[derive(Clone, Copy)]
enum Origin {
    Env,
    Config,
}

impl Origin {
    fn forced(self) -> String {
        match self {
            Origin::Env => format!("forced by {BACKEND_ENV}"),
            Origin::Config => "requested in configuration".to_string(),
        }
    }
}

/// The choice named by the environment variable's value, if it names one.
fn env_choice(value: Option<&str>) -> Result<Option<BackendChoice>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => value.parse().map(Some).map_err(|e| format!("{BACKEND_ENV}: {e}")),
    }
}

fn resolve(
    choice: BackendChoice,
    origin: Origin,
    probe: impl FnOnce() -> Result<(), String>,
) -> Result<Selection, String> {
    match choice {
        BackendChoice::Auto => Ok(match probe() {
            Ok(()) => Selection { kind: BackendKind::Uring, reason: "auto: io_uring available".to_string() },
            Err(why) => Selection {
                kind: BackendKind::Epoll,
                reason: format!("auto: io_uring unavailable ({why}), using epoll"),
            },
        }),
        BackendChoice::Uring => match probe() {
            Ok(()) => Ok(Selection { kind: BackendKind::Uring, reason: origin.forced() }),
            Err(why) => Err(format!("io_uring {} but unavailable: {why}", origin.forced())),
        },
        BackendChoice::Epoll => Ok(Selection { kind: BackendKind::Epoll, reason: origin.forced() }),
    }
}

/// `kernel.io_uring_disabled`, when the kernel has that sysctl.
fn read_disabled_sysctl() -> Option<u8> {
    std::fs::read_to_string(DISABLED_SYSCTL).ok()?.trim().parse().ok()
}

#[cold]
fn setup_failure(e: &std::io::Error, disabled: Option<u8>) -> String {
    match (e.raw_os_error(), disabled) {
        (Some(libc::ENOSYS), _) => "ENOSYS: kernel without io_uring".to_string(),
        (Some(libc::EPERM), Some(1)) => {
            "EPERM: kernel.io_uring_disabled=1 and this user is not in kernel.io_uring_group".to_string()
        }
        (Some(libc::EPERM), _) => "EPERM: blocked by seccomp or io_uring_disabled".to_string(),
        (Some(libc::ENOMEM), _) => "ENOMEM: locked-memory limit too low for a ring".to_string(),
        _ => format!("io_uring_setup failed: {e}"),
    }
}

fn check_opcodes(ring: &IoUring) -> Result<(), String> {
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("no opcode probe (kernel older than 5.6): {e}"))?;
    match REQUIRED_OPCODES.iter().find(|(code, _)| !probe.is_supported(*code)) {
        Some((_, name)) => Err(format!("io_uring lacks the {name} opcode")),
        None => Ok(()),
    }
}

/// Register a tiny buffer ring and run one multishot recv from it on a socketpair.
fn check_multishot_recv(ring: &mut IoUring) -> Result<(), String> {
    let bufs = BufRing::new(PROBE_BUFFERS, PROBE_BUFFER_BYTES).map_err(|e| format!("probe buffers: {e}"))?;
    // SAFETY: `bufs` outlives the registration: it is unregistered below, after all
    // requests are cancelled, before `bufs` drops.
    unsafe { ring.submitter().register_buf_ring_with_flags(bufs.addr(), bufs.entries(), 0, 0) }
        .map_err(|e| format!("no provided buffer rings (kernel older than 5.19): {e}"))?;
    let outcome =
        socketpair().map_err(|e| format!("probe socketpair: {e}")).and_then(|(a, b)| recv_once(ring, &a, &b));
    let submitter = ring.submitter();
    let timeout = Timespec::from(Duration::from_millis(PROBE_WAIT_MS));
    let _ = submitter.register_sync_cancel(Some(timeout), CancelBuilder::any());
    let _ = submitter.unregister_buf_ring(0);
    outcome
}

/// Arm a multishot recv on `a`, send one byte from `b`, and check the completion.
fn recv_once(ring: &mut IoUring, a: &OwnedFd, b: &OwnedFd) -> Result<(), String> {
    let recv = opcode::RecvMulti::new(Fd(a.as_raw_fd()), 0).build().user_data(1);
    // SAFETY: the recv uses only the registered buffer ring, which outlives it.
    unsafe { ring.submission().push(&recv) }.map_err(|_| "probe ring full".to_string())?;
    // SAFETY: sends one byte from a live static buffer on a socket we own.
    let sent = unsafe { libc::send(b.as_raw_fd(), b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
    if sent != 1 {
        return Err(format!("probe send: {}", std::io::Error::last_os_error()));
    }
    let timeout = Timespec::from(Duration::from_millis(PROBE_WAIT_MS));
    ring.submitter()
        .submit_with_args(1, &SubmitArgs::new().timespec(&timeout))
        .map_err(|e| format!("io_uring_enter with timeout failed: {e}"))?;
    match ring.completion().next() {
        Some(cqe) if cqe.result() == 1 && cqueue::more(cqe.flags()) => Ok(()),
        Some(cqe) if cqe.result() == -libc::EINVAL => {
            Err("no multishot recv (kernel older than 6.0)".to_string())
        }
        Some(cqe) => Err(format!("multishot recv probe failed (result {})", cqe.result())),
        None => Err("multishot recv probe timed out".to_string()),
    }
}

fn socketpair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    let kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two fds socketpair writes.
    if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Result<(), String> {
        Ok(())
    }

    fn unavailable() -> Result<(), String> {
        Err("kernel.io_uring_disabled=2".to_string())
    }

    #[test]
    fn parses_choices() {
        assert_eq!("auto".parse(), Ok(BackendChoice::Auto));
        assert_eq!("uring".parse(), Ok(BackendChoice::Uring));
        assert_eq!(" IO_URING ".parse(), Ok(BackendChoice::Uring));
        assert_eq!("epoll".parse(), Ok(BackendChoice::Epoll));
        assert!("kqueue".parse::<BackendChoice>().is_err());
    }

    #[test]
    fn env_value_overrides_only_when_set() {
        assert_eq!(env_choice(None), Ok(None));
        assert_eq!(env_choice(Some("  ")), Ok(None));
        assert_eq!(env_choice(Some("io_uring")), Ok(Some(BackendChoice::Uring)));
        assert!(env_choice(Some("poll")).unwrap_err().starts_with(BACKEND_ENV));
    }

    #[test]
    fn auto_falls_back_to_epoll_with_reason() {
        let sel = resolve(BackendChoice::Auto, Origin::Config, unavailable).unwrap();
        assert_eq!(sel.kind, BackendKind::Epoll);
        assert_eq!(sel.reason, "auto: io_uring unavailable (kernel.io_uring_disabled=2), using epoll");
        let sel = resolve(BackendChoice::Auto, Origin::Config, ok).unwrap();
        assert_eq!(sel, Selection { kind: BackendKind::Uring, reason: "auto: io_uring available".into() });
    }

    #[test]
    fn forced_uring_fails_when_unavailable() {
        let err = resolve(BackendChoice::Uring, Origin::Env, unavailable).unwrap_err();
        assert!(err.contains("forced by RINGCAST_BACKEND") && err.contains("io_uring_disabled=2"), "{err}");
        let sel = resolve(BackendChoice::Uring, Origin::Env, ok).unwrap();
        assert_eq!(sel.reason, "forced by RINGCAST_BACKEND");
    }

    #[test]
    fn epoll_needs_no_probe() {
        let sel = resolve(BackendChoice::Epoll, Origin::Config, || panic!("probed")).unwrap();
        assert_eq!(sel.kind, BackendKind::Epoll);
    }

    #[test]
    fn deserializes_lowercase_and_alias() {
        #[derive(serde::Deserialize)]
        struct Wrap {
            b: BackendChoice,
        }
        let de = |s: &str| {
            let v = serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(std::iter::once((
                "b", s,
            )));
            <Wrap as serde::Deserialize>::deserialize(v).map(|w| w.b)
        };
        assert_eq!(de("epoll").unwrap(), BackendChoice::Epoll);
        assert_eq!(de("io_uring").unwrap(), BackendChoice::Uring);
    }

    #[test]
    fn explains_setup_failures() {
        let err = std::io::Error::from_raw_os_error;
        assert_eq!(setup_failure(&err(libc::ENOSYS), None), "ENOSYS: kernel without io_uring");
        assert_eq!(
            setup_failure(&err(libc::EPERM), Some(0)),
            "EPERM: blocked by seccomp or io_uring_disabled"
        );
        assert!(setup_failure(&err(libc::EPERM), Some(1)).contains("io_uring_group"));
        assert!(setup_failure(&err(libc::EINVAL), None).starts_with("io_uring_setup failed"));
    }

    /// Where the sysctl allows io_uring the probe must pass: a wrongly failing probe
    /// would quietly put every shard on epoll and skip the io_uring tests.
    #[test]
    fn probe_matches_sysctl() {
        let result = probe_uring();
        println!("probe_uring() = {result:?}");
        println!("resolve(Auto) = {:?}", resolve(BackendChoice::Auto, Origin::Config, probe_uring));
        match read_disabled_sysctl() {
            Some(0) => assert_eq!(result, Ok(())),
            Some(2) => assert_eq!(result, Err("kernel.io_uring_disabled=2".to_string())),
            _ => {}
        }
    }
}
