//! The `ringcast` command: parse the command line, build a `Config`, run the server.

use clap::{Parser, Subcommand};
use ringcast::config::Config;
use ringcast::io::probe::BackendChoice;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "ringcast", version, about = "Pub/sub fan-out server: WebSocket, websocket-multiplex rooms")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the embedded default configuration unless --config is given).
    Serve {
        /// TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<String>,
        /// Listen address, e.g. 127.0.0.1:8080 (overrides the config).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Event-loop threads; 0 = one per core (overrides the config).
        #[arg(long, value_name = "N")]
        shards: Option<usize>,
        /// I/O backend (overrides the config; RINGCAST_BACKEND overrides both).
        #[arg(long, value_name = "auto|uring|epoll")]
        backend: Option<BackendChoice>,
    },
    /// Validate a configuration file and exit (0 = valid, 2 = invalid).
    CheckConfig {
        /// TOML configuration file.
        file: String,
    },
}

fn main() -> ExitCode {
    init_logging();
    match Cli::parse().command {
        Command::Serve { config, listen, shards, backend } => serve(config, listen, shards, backend),
        Command::CheckConfig { file } => match Config::from_file(&file) {
            Ok(c) => {
                println!(
                    "{file}: ok ({} service{})",
                    c.services.len(),
                    if c.services.len() == 1 { "" } else { "s" }
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
    }
}

fn serve(
    file: Option<String>,
    listen: Option<String>,
    shards: Option<usize>,
    backend: Option<BackendChoice>,
) -> ExitCode {
    let config = match file {
        Some(path) => Config::from_file(&path),
        None => Ok(Config::embedded_default()),
    };
    let mut config = match config {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some(n) = shards {
        config.shards = n;
    }
    if let Some(b) = backend {
        config.backend = b;
    }
    if let Err(e) = config.validate() {
        return fail(&e.to_string());
    }
    match ringcast::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// One line on stderr, exit status 2 (the same status clap uses for bad flags).
fn fail(msg: &str) -> ExitCode {
    eprintln!("ringcast: {msg}");
    ExitCode::from(2)
}

/// Logs go to stderr; `RUST_LOG` sets the filter (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
}
