//! `ringcast-loadgen`: the entry point. Parses the command line, raises and checks the
//! file-descriptor limit, runs the chosen mode, fills in the report and prints it; the exit
//! status is 0 for a clean run, 1 for a failed one, 2 for a run that could not start.

mod bench;
mod cli;
mod client;
mod conn;
mod dialect;
mod http;
mod payload;
mod report;
mod rng;
mod soak;
mod socket;
mod sys;
mod track;
mod url;
mod ws;
mod xhr;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use bench::{Bench, LoadOutcome, Setup};
use cli::{Args, Mode};
use report::{Latency, Report, SATURATED_CPU_FRACTION};

/// File descriptors kept free for stdio, epoll and /proc reads.
const FD_MARGIN: usize = 32;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = preflight(&args) {
        eprintln!("ringcast-loadgen: {e}");
        return ExitCode::from(2);
    }
    if args.mode == Mode::Soak {
        return match url::parse(&args.url) {
            Ok(url) => soak::main(&args, url),
            Err(e) => {
                eprintln!("ringcast-loadgen: {e}");
                ExitCode::from(2)
            }
        };
    }
    let report = run(&args).unwrap_or_else(|e| {
        let mut failed = Report::new(&args);
        failed.error = Some(e);
        failed
    });
    print(&args, &report);
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print(args: &Args, report: &Report) {
    if args.json {
        println!("{}", report.to_json());
        eprintln!("{}", report.summary());
    } else {
        println!("{}", report.summary());
    }
}

/// Argument checks and the file-descriptor limit, before any connection is made.
fn preflight(args: &Args) -> Result<(), String> {
    args.validate()?;
    let soft = sys::raise_nofile_limit().map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    // xhr-streaming: up to --connect-batch short-lived xhr_send connections during setup.
    let setup_extra = if args.dialect.over_http() { args.connect_batch } else { 0 };
    let needed = args.connections() + setup_extra + FD_MARGIN;
    if needed as u64 > soft {
        let max = (soft as usize).saturating_sub(FD_MARGIN + setup_extra + 1);
        return Err(format!(
            "{} connections need about {needed} file descriptors but RLIMIT_NOFILE is {soft} \
             (already raised to the hard limit): use --subscribers {max} or fewer, or raise the hard limit",
            args.connections()
        ));
    }
    Ok(())
}

fn run(args: &Args) -> Result<Report, String> {
    let url = url::parse(&args.url)?;
    let mut report = Report::new(args);
    match args.mode {
        Mode::Load => run_load(args, url, &mut report)?,
        Mode::Idle => run_idle(args, url, &mut report)?,
        Mode::Soak => unreachable!("soak runs from main"),
    }
    Ok(report)
}

fn run_load(args: &Args, url: url::WsUrl, report: &mut Report) -> Result<(), String> {
    let mut bench = Bench::new(args, url)?;
    let setup = bench.connect_all()?;
    set_connect(report, args, setup);
    bench.barrier()?;
    let outcome = bench.load()?;
    report.latency_us = Some(Latency::from_histogram(&bench.tracker.window.latency_us));
    fill_load(report, &outcome);
    report.ok = report.error.is_none() && (args.allow_loss || !report.has_delivery_errors());
    if !report.ok && report.error.is_none() {
        report.error = Some(delivery_error(report, &outcome));
    }
    Ok(())
}

fn set_connect(report: &mut Report, args: &Args, setup: Setup) {
    report.connect_secs = Some(setup.connect_secs);
    report.connects_per_sec = Some(args.connections() as f64 / setup.connect_secs.max(1e-9));
}

fn fill_load(report: &mut Report, o: &LoadOutcome) {
    let secs = o.measured_secs.max(1e-9);
    report.measured_secs = Some(o.measured_secs);
    report.broadcasts_completed = Some(o.completed);
    report.deliveries = Some(o.deliveries);
    report.deliveries_per_sec = Some(o.deliveries as f64 / secs);
    report.set_totals(&o.totals);
    report.server_cpu_secs = o.server_cpu_secs;
    report.server_cpu_util = o.server_cpu_secs.map(|c| c / secs);
    if o.deliveries > 0 {
        report.server_cpu_us_per_delivery = o.server_cpu_secs.map(|c| c * 1e6 / o.deliveries as f64);
        report.deliveries_per_server_cpu_sec =
            o.server_cpu_secs.filter(|&c| c > 0.0).map(|c| o.deliveries as f64 / c);
    }
    let own_util = o.own_cpu_secs / secs;
    report.loadgen_cpu_util = Some(own_util);
    report.loadgen_saturated = own_util > SATURATED_CPU_FRACTION;
    report.net_backlog_drops = Some(o.machine.backlog_drops);
    report.tcp_retrans_segs = Some(o.machine.tcp_retrans_segs);
    report.cpu_pressure_pct = Some(o.machine.cpu_pressure_us as f64 / 1e4 / secs);
    report.error = o.failure.clone();
    report.xhr_responses_ended = o.xhr_responses_ended;
    report.xhr_reconnects = o.xhr_reconnects;
}

fn delivery_error(r: &Report, o: &LoadOutcome) -> String {
    let mut msg = format!(
        "delivery errors: lost {} duplicated {} out-of-order {} invalid {} disconnected {} \
         ({} subscribers affected, at most {} lost by one)",
        r.lost,
        r.duplicated,
        r.out_of_order,
        r.invalid,
        r.disconnected,
        r.subscribers_with_errors,
        r.max_lost_per_subscriber
    );
    if let Some(d) = &o.first_disconnect {
        msg.push_str(&format!("; first disconnect: {d}"));
    }
    msg
}

fn run_idle(args: &Args, url: url::WsUrl, report: &mut Report) -> Result<(), String> {
    let pid = args.server_pid.expect("validated: idle mode has a server pid");
    let rss = |pid| sys::vm_rss_kib(pid).map_err(|e| format!("server pid {pid}: {e}"));
    let before_kib = rss(pid)?;
    let mut bench = Bench::new(args, url)?;
    let setup = bench.connect_all()?;
    set_connect(report, args, setup);
    bench.barrier()?;
    bench.settle(Duration::from_millis(args.settle_ms))?;
    let after_kib = rss(pid)?;
    report.server_rss_before_kib = Some(before_kib);
    report.server_rss_after_kib = Some(after_kib);
    let delta_bytes = (after_kib as f64 - before_kib as f64) * 1024.0;
    report.server_rss_per_conn_bytes = Some(delta_bytes / args.connections() as f64);
    report.ok = true;
    Ok(())
}
