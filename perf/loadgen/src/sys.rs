//! What the load generator reads from and sets on the operating system: process CPU time and
//! resident memory from `/proc`, the clock-tick rate, the open-file limit, and abortive close.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;

/// Clock ticks per second (`getconf CLK_TCK`), the unit of `/proc/<pid>/stat` CPU times.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// `/proc/<pid>` for a server process, or `/proc/self`.
fn proc_dir(pid: Option<u32>) -> String {
    pid.map_or_else(|| "/proc/self".to_string(), |p| format!("/proc/{p}"))
}

/// CPU time (utime + stime of all threads) of a process in clock ticks.
pub fn cpu_ticks(pid: Option<u32>) -> io::Result<u64> {
    let path = format!("{}/stat", proc_dir(pid));
    let text = fs::read_to_string(&path)?;
    parse_stat_cpu_ticks(&text).ok_or_else(|| io::Error::other(format!("{path}: unexpected format")))
}

/// utime (field 14) + stime (field 15) from a `/proc/<pid>/stat` line. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted after the last `)`.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_ascii_whitespace();
    // after_comm starts at field 3 (state); utime is field 14, i.e. the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size (`VmRSS`) of a process in KiB.
pub fn vm_rss_kib(pid: u32) -> io::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path)?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("{path}: no VmRSS line")))
}

/// Machine-wide counters that explain stalls: loopback drops, retransmits, CPU contention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCounters {
    /// Packets dropped because a CPU's input backlog was full (`/proc/net/softnet_stat`, column 2;
    /// the limit is `net.core.netdev_max_backlog`). On loopback each drop costs a TCP retransmit.
    pub backlog_drops: u64,
    /// TCP segments retransmitted (`/proc/net/snmp`, Tcp RetransSegs).
    pub tcp_retrans_segs: u64,
    /// Time at least one task waited for a CPU, µs (`/proc/pressure/cpu`, `some` total).
    pub cpu_pressure_us: u64,
}

/// Reads the counters; a counter that cannot be read is zero.
pub fn machine_counters() -> MachineCounters {
    let backlog_drops = fs::read_to_string("/proc/net/softnet_stat").map_or(0, |t| parse_softnet_drops(&t));
    let tcp_retrans_segs =
        fs::read_to_string("/proc/net/snmp").ok().and_then(|t| parse_retrans(&t)).unwrap_or(0);
    let cpu_pressure_us =
        fs::read_to_string("/proc/pressure/cpu").ok().and_then(|t| parse_pressure(&t)).unwrap_or(0);
    MachineCounters { backlog_drops, tcp_retrans_segs, cpu_pressure_us }
}

/// `total=` of the `some` line of a PSI file.
fn parse_pressure(text: &str) -> Option<u64> {
    let some = text.lines().find(|l| l.starts_with("some "))?;
    some.split_ascii_whitespace().find_map(|f| f.strip_prefix("total="))?.parse().ok()
}

fn parse_softnet_drops(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_ascii_whitespace().nth(1))
        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
        .sum()
}

/// `RetransSegs` from the two `Tcp:` lines (names, then values).
fn parse_retrans(snmp: &str) -> Option<u64> {
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let col = names.split_ascii_whitespace().position(|n| n == "RetransSegs")?;
    values.split_ascii_whitespace().nth(col)?.parse().ok()
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid rlimit for the call to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: `raised` is a valid rlimit within the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Ok(lim.rlim_cur)
}

/// Makes the next close of `sock` send RST instead of FIN, so the load generator leaves no
/// TIME_WAIT sockets behind (10 000 of them per run would exhaust the ephemeral ports).
pub fn set_linger_zero(sock: &impl AsRawFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: valid fd and a correctly sized option value; failure is harmless.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_in_name() {
        let line = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 111 222 13 14 15";
        assert_eq!(parse_stat_cpu_ticks(line), Some(333));
    }

    #[test]
    fn net_counter_formats() {
        assert_eq!(parse_softnet_drops("0000ffff 000003e6 00000004\n00858a5b 00000024 0\n"), 0x3e6 + 0x24);
        let snmp = "Tcp: RtoAlgorithm RtoMin RetransSegs InErrs\nTcp: 1 200 19215 0\nUdp: x\n";
        assert_eq!(parse_retrans(snmp), Some(19215));
        let psi = "some avg10=47.58 avg60=41.88 avg300=30.05 total=479019282\nfull avg10=0.00 total=0\n";
        assert_eq!(parse_pressure(psi), Some(479_019_282));
    }

    #[test]
    fn reads_own_cpu_and_rss() {
        assert!(cpu_ticks(None).is_ok());
        assert!(vm_rss_kib(std::process::id()).unwrap() > 0);
    }
}
