//! The `ringcast` binary: startup line, backend selection (flag, environment, auto),
//! one-line errors with exit status 2, `check-config`, and graceful SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ringcast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringcast"))
}

/// Start `ringcast serve` with `args`, return the child and its first stdout line.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = ringcast();
    cmd.arg("serve").args(["--listen", "127.0.0.1:0"]).args(args);
    cmd.env_remove("RINGCAST_BACKEND");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    (child, line)
}

/// SIGTERM, then the exit status within 10 s.
fn terminate(mut child: Child) -> std::process::ExitStatus {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    terminate_wait(&mut child)
}

fn address_of(line: &str) -> std::net::SocketAddr {
    line.split_whitespace().skip_while(|w| *w != "on").nth(1).unwrap().parse().unwrap()
}

#[test]
fn forced_epoll_startup_line_and_sigterm() {
    let (child, line) = serve(&["--backend", "epoll", "--shards", "2"], &[]);
    assert!(
        line.starts_with(&format!("ringcast {} listening on 127.0.0.1:", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    assert!(
        line.contains("backend epoll (requested in configuration)") && line.contains("| 2 shards"),
        "{line}"
    );
    let health = std::net::TcpStream::connect(address_of(&line));
    assert!(health.is_ok());
    assert!(terminate(child).success());
}

#[test]
fn forced_uring_startup_line() {
    let (child, line) = serve(&["--backend", "uring", "--shards", "1"], &[]);
    assert!(line.contains("backend io_uring") && line.contains("| 1 shard"), "{line}");
    assert!(terminate(child).success());
}

#[test]
fn environment_overrides_the_flag() {
    let (child, line) = serve(&["--backend", "uring", "--shards", "1"], &[("RINGCAST_BACKEND", "epoll")]);
    assert!(line.contains("backend epoll (forced by RINGCAST_BACKEND)"), "{line}");
    assert!(terminate(child).success());
}

#[test]
fn auto_states_what_it_chose_and_why() {
    let (child, line) = serve(&["--shards", "1"], &[]);
    assert!(line.contains("backend io_uring (auto:") || line.contains("backend epoll (auto:"), "{line}");
    assert!(terminate(child).success());
}

#[test]
fn bad_flag_exits_2() {
    for args in [
        &["serve", "--shards", "many"][..],
        &["serve", "--backend", "kqueue"],
        &["serve", "--nope"],
        &["bogus"],
    ] {
        let out = ringcast().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("ringcast: ") && err.trim().lines().count() == 1, "{args:?}: {err}");
    }
    let help = ringcast().args(["serve", "--help"]).output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--listen"));
    let out = ringcast().args(["serve", "--listen", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen") && err.trim().lines().count() == 1, "{err}");
}

#[test]
fn bad_config_names_the_field_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("ringcast-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[limits]\nsend_budget_bytes = 0\n").unwrap();
    for sub in [&["serve", "--config"][..], &["check-config"][..]] {
        let out = ringcast().args(sub).arg(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("limits.send_budget_bytes") && err.trim().lines().count() == 1, "{err}");
    }
    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "shardz = 2\n").unwrap();
    let out = ringcast().arg("check-config").arg(&typo).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shardz"));
    let out = ringcast().args(["check-config", "/nonexistent/ringcast.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A second SIGTERM during the drain exits at once; SIGHUP is logged and ignored.
#[test]
fn second_signal_forces_the_exit_and_sighup_is_ignored() {
    let mut cmd = ringcast();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--backend", "epoll"]).env("RUST_LOG", "info");
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let pid = child.id() as i32;
    // SAFETY: signals to our own child process.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP must not kill the server");
    // A client that never closes keeps the drain waiting for its linger (2 s).
    let _idle = std::net::TcpStream::connect(address_of(&line)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(pid, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the first SIGTERM drains");
    let second = Instant::now();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = terminate_wait(&mut child);
    assert!(second.elapsed() < Duration::from_millis(1000), "took {:?}", second.elapsed());
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("SIGHUP received") && err.contains("second SIGTERM"), "{err}");
}

/// The exit status within 10 s.
fn terminate_wait(child: &mut Child) -> std::process::ExitStatus {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < end, "server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_second_server_on_the_same_port_is_refused() {
    let (first, line) = serve(&["--backend", "epoll"], &[]);
    let addr = address_of(&line).to_string();
    let out = ringcast().args(["serve", "--backend", "epoll", "--listen", &addr]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("address in use") && err.trim().lines().count() == 1, "{err}");
    assert!(terminate(first).success());
}

#[test]
fn shipped_example_configs_are_valid() {
    for file in ["examples/echo.toml", "examples/production.toml", "src/default.toml"] {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let out = ringcast().args(["check-config", &path]).output().unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let readme = std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let production =
        std::fs::read_to_string(format!("{}/examples/production.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(
        readme.contains(&production),
        "README's production example differs from examples/production.toml"
    );
}

/// `GET /metrics` with an optional `Authorization` value; the status line.
fn metrics_status(addr: std::net::SocketAddr, authorization: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or("").to_string()
}

#[test]
fn tokens_come_from_the_environment() {
    let token = "from-the-environment-0123";
    for backend in ["epoll", "uring"] {
        let env = [("RINGCAST_METRICS_TOKEN", token), ("RINGCAST_PUBLISH_TOKEN", "")];
        let (child, line) = serve(&["--backend", backend, "--shards", "1"], &env);
        let addr = address_of(&line);
        assert_eq!(metrics_status(addr, None), "HTTP/1.1 401 Unauthorized", "{backend}");
        assert_eq!(metrics_status(addr, Some(&format!("Bearer {token}"))), "HTTP/1.1 200 OK", "{backend}");
        assert!(terminate(child).success());
    }
    let (child, line) = serve(&["--shards", "1"], &[("RINGCAST_METRICS_TOKEN", "short")]);
    assert!(line.is_empty(), "a too-short token must refuse to start: {line}");
    assert_eq!(terminate_wait(&mut { child }).code(), Some(2));
}

/// Out of file descriptors with a full accept queue, the server keeps retrying and
/// serves again once descriptors are free (both backends, in a child process whose fd
/// limit is 64).
#[test]
fn accept_recovers_after_running_out_of_file_descriptors() {
    for backend in ["epoll", "uring"] {
        let mut cmd = ringcast();
        cmd.arg("serve").args(["--listen", "127.0.0.1:0", "--shards", "1", "--backend", backend]);
        cmd.env_remove("RINGCAST_BACKEND");
        // SAFETY: setrlimit between fork and exec touches only the child.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 64, rlim_max: 64 };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let addr = address_of(&line);
        // More connections than the fd limit and the accept queue together.
        let flood: Vec<socket2::Socket> = (0..LISTEN_QUEUE_FILL)
            .map(|_| {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
                s.set_nonblocking(true).unwrap();
                let _ = s.connect(&addr.into());
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        drop(flood);
        let started = Instant::now();
        let healthy = loop {
            let ok =
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok_and(|mut s| {
                    use std::io::{Read, Write};
                    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    let mut out = String::new();
                    let _ = s.read_to_string(&mut out);
                    out.starts_with("HTTP/1.1 200")
                });
            if ok || started.elapsed() > Duration::from_secs(15) {
                break ok;
            }
        };
        assert!(
            healthy,
            "{backend}: /healthz still failing {:?} after the fds were freed",
            started.elapsed()
        );
        assert!(terminate(child).success());
    }
}

/// Connections opened at once to fill the fd limit (64) and the accept queue.
const LISTEN_QUEUE_FILL: usize = 4400;
