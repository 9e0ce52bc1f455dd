//! The result of a run: one flat record with the parameters and every measured number, printed
//! as a JSON line and as a one-line human summary.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cli::{Args, Mode};
use crate::dialect::Dialect;
use crate::track::Totals;

/// Own CPU above this fraction of a core over the window marks the run a lower bound.
pub const SATURATED_CPU_FRACTION: f64 = 0.9;

/// Delivery latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub samples: u64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            samples: h.len(),
        }
    }
}

/// Everything a run reports. Fields that a mode does not measure are null.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub label: String,
    pub mode: Mode,
    pub dialect: Dialect,
    pub url: String,
    pub topic: String,
    pub subscribers: usize,
    pub window: usize,
    pub payload_bytes: usize,
    pub warmup_secs: f64,
    pub secs: f64,
    pub connections: usize,
    pub connect_secs: Option<f64>,
    pub connects_per_sec: Option<f64>,
    pub measured_secs: Option<f64>,
    pub broadcasts_completed: Option<u64>,
    pub deliveries: Option<u64>,
    pub deliveries_per_sec: Option<f64>,
    pub latency_us: Option<Latency>,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub invalid: u64,
    pub max_lost_per_subscriber: u64,
    pub subscribers_with_errors: u64,
    pub disconnected: u64,
    pub publisher_copies: u64,
    pub server_pid: Option<u32>,
    pub server_cpu_secs: Option<f64>,
    /// Server CPU over the window as a fraction of one core (2 shards can reach 2.0).
    pub server_cpu_util: Option<f64>,
    pub server_cpu_us_per_delivery: Option<f64>,
    pub deliveries_per_server_cpu_sec: Option<f64>,
    /// Own CPU over the window as a fraction of one core.
    pub loadgen_cpu_util: Option<f64>,
    /// Own CPU > 90% of a core: the numbers are a lower bound of what the server can do.
    pub loadgen_saturated: bool,
    /// Machine-wide packets dropped at a full CPU input backlog during the window (each one stalls
    /// a loopback TCP stream until its retransmit, 200 ms or more).
    pub net_backlog_drops: Option<u64>,
    /// Machine-wide TCP retransmitted segments during the window.
    pub tcp_retrans_segs: Option<u64>,
    /// Share of the window (%) during which some task on the machine waited for a CPU (Linux PSI):
    /// high values mean other work competed with the server or the load generator.
    pub cpu_pressure_pct: Option<f64>,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_after_kib: Option<u64>,
    pub server_rss_per_conn_bytes: Option<f64>,
    /// `xhr-streaming`: streaming responses the server ended (at `response_limit`, or with a close
    /// frame), summed over subscribers, whole run; each was followed by a new POST.
    pub xhr_responses_ended: Option<u64>,
    /// `xhr-streaming`: new connections made because the server closed one between responses.
    pub xhr_reconnects: Option<u64>,
    pub ok: bool,
    pub error: Option<String>,
}

impl Report {
    /// A report with the run's parameters and nothing measured yet.
    pub fn new(args: &Args) -> Self {
        Self {
            tool: "ringcast-loadgen",
            label: args.label.clone(),
            mode: args.mode,
            dialect: args.dialect,
            url: args.url.clone(),
            topic: args.topic.clone(),
            subscribers: args.subscribers,
            window: args.window,
            payload_bytes: args.payload_bytes,
            warmup_secs: args.warmup_secs,
            secs: args.secs,
            connections: args.connections(),
            connect_secs: None,
            connects_per_sec: None,
            measured_secs: None,
            broadcasts_completed: None,
            deliveries: None,
            deliveries_per_sec: None,
            latency_us: None,
            lost: 0,
            duplicated: 0,
            out_of_order: 0,
            invalid: 0,
            max_lost_per_subscriber: 0,
            subscribers_with_errors: 0,
            disconnected: 0,
            publisher_copies: 0,
            server_pid: args.server_pid,
            server_cpu_secs: None,
            server_cpu_util: None,
            server_cpu_us_per_delivery: None,
            deliveries_per_server_cpu_sec: None,
            loadgen_cpu_util: None,
            loadgen_saturated: false,
            net_backlog_drops: None,
            tcp_retrans_segs: None,
            cpu_pressure_pct: None,
            server_rss_before_kib: None,
            server_rss_after_kib: None,
            server_rss_per_conn_bytes: None,
            xhr_responses_ended: None,
            xhr_reconnects: None,
            ok: false,
            error: None,
        }
    }

    pub fn set_totals(&mut self, t: &Totals) {
        self.lost = t.lost;
        self.duplicated = t.duplicated;
        self.out_of_order = t.out_of_order;
        self.invalid = t.invalid;
        self.max_lost_per_subscriber = t.max_lost_per_subscriber;
        self.subscribers_with_errors = t.subscribers_with_errors;
        self.disconnected = t.disconnected;
        self.publisher_copies = t.publisher_copies;
    }

    /// Loss, duplication, reordering, garbage or disconnects.
    pub fn has_delivery_errors(&self) -> bool {
        self.lost + self.duplicated + self.out_of_order + self.invalid + self.disconnected > 0
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }

    /// The one-line human summary.
    pub fn summary(&self) -> String {
        let shape = match self.mode {
            Mode::Load => format!(" W={} {}B", self.window, self.payload_bytes),
            Mode::Idle | Mode::Soak => String::new(),
        };
        let head = format!(
            "{}{:?} {} N={}{shape}:",
            label_prefix(&self.label),
            self.mode,
            dialect_name(self.dialect),
            self.subscribers,
        );
        let body = match self.mode {
            _ if self.connect_secs.is_none() => String::new(),
            Mode::Load => self.load_summary(),
            Mode::Idle => self.idle_summary(),
            Mode::Soak => String::new(), // the soak prints its own line
        };
        let status = match (&self.error, self.ok) {
            (Some(e), _) => format!(" | FAILED: {e}"),
            (None, false) => " | FAILED".to_string(),
            (None, true) => String::new(),
        };
        format!("{head}{body}{status}")
    }

    fn load_summary(&self) -> String {
        let lat = self.latency_us.clone().unwrap_or_default();
        let saturated = if self.loadgen_saturated { " | LOADGEN SATURATED (lower bound)" } else { "" };
        let retrans = match self.tcp_retrans_segs {
            Some(n) if n > 0 => {
                format!(" | TCP retransmits {n} (backlog drops {})", self.net_backlog_drops.unwrap_or(0))
            }
            _ => String::new(),
        };
        let xhr = match (self.xhr_responses_ended, self.xhr_reconnects) {
            (Some(ended), Some(reconnects)) => {
                format!(" | xhr responses ended {ended}, reconnects {reconnects}")
            }
            _ => String::new(),
        };
        format!(
            " {} deliveries/s | server {} µs/delivery ({} core) | latency µs p50 {} p90 {} p99 {} p999 {} max {} \
             | lost {} dup {} ooo {} | connect {}/s | loadgen {} core | CPU pressure {}%{saturated}{retrans}{xhr}",
            num(self.deliveries_per_sec, 0),
            num(self.server_cpu_us_per_delivery, 3),
            num(self.server_cpu_util, 2),
            lat.p50,
            lat.p90,
            lat.p99,
            lat.p999,
            lat.max,
            self.lost,
            self.duplicated,
            self.out_of_order,
            num(self.connects_per_sec, 0),
            num(self.loadgen_cpu_util, 2),
            num(self.cpu_pressure_pct, 0),
        )
    }

    fn idle_summary(&self) -> String {
        format!(
            " {} connections | server RSS {} -> {} KiB = {} bytes/connection | connect {}/s",
            self.connections,
            self.server_rss_before_kib.map_or("?".into(), |v| v.to_string()),
            self.server_rss_after_kib.map_or("?".into(), |v| v.to_string()),
            num(self.server_rss_per_conn_bytes, 0),
            num(self.connects_per_sec, 0),
        )
    }
}

fn label_prefix(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!("[{label}] ")
    }
}

fn dialect_name(d: Dialect) -> String {
    serde_json::to_value(d).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "?".to_string(), |x| format!("{x:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn json_has_parameters_and_nulls() {
        let args = Args::parse_from(["x", "--subscribers", "3", "--label", "t"]);
        let mut r = Report::new(&args);
        r.ok = true;
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["subscribers"], 3);
        assert_eq!(v["dialect"], "rooms");
        assert_eq!(v["mode"], "load");
        assert!(v["deliveries_per_sec"].is_null());
        assert!(r.summary().starts_with("[t] Load rooms N=3 W=16 64B:"));
    }

    #[test]
    fn latency_from_histogram() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for v in 1..=1000 {
            h.record(v).unwrap();
        }
        let l = Latency::from_histogram(&h);
        assert_eq!((l.p50, l.max, l.samples), (500, 1000, 1000));
    }
}
