//! The command line every ringcast program takes, and running until a signal.
//!
//! Owns: [`ServeArgs`] (`--config`, `--listen`, `--shards`, `--backend`, the flags of
//! `ringcast serve` and of every example), applying them to a [`Config`], and
//! [`App::run`]: start, print the startup line, wait for SIGINT/SIGTERM, drain.

use super::App;
use crate::config::Config;
use crate::error::ConfigError;
use crate::io::probe::BackendChoice;
use std::process::ExitCode;

/// The flags of `ringcast serve`, shared by every program built on ringcast.
///
/// ```
/// use clap::Parser;
/// use ringcast::{Config, ServeArgs};
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     serve: ServeArgs,
/// }
///
/// let cli = Cli::parse_from(["prog", "--listen", "127.0.0.1:9000", "--shards", "2"]);
/// let config = cli.serve.config(Config::default()).unwrap();
/// assert_eq!((config.listen.as_str(), config.shards), ("127.0.0.1:9000", 2));
/// ```
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (instead of the program's built-in configuration).
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Listen address, e.g. 127.0.0.1:8080 (overrides the config).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Event-loop threads; 0 = one per core (overrides the config).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// I/O backend (overrides the config; RINGCAST_BACKEND overrides both).
    #[arg(long, value_name = "auto|uring|epoll")]
    pub backend: Option<BackendChoice>,
}

/// A program's command line when it takes only the serve flags.
#[derive(clap::Parser)]
#[command(version, about = "A ringcast server")]
struct OnlyServeArgs {
    #[command(flatten)]
    serve: ServeArgs,
}

impl ServeArgs {
    /// Parse the process's arguments; on a bad flag print one line (`ringcast: …`) and
    /// exit with status 2. `--help` and `--version` print and exit 0.
    pub fn parse_args() -> ServeArgs {
        match <OnlyServeArgs as clap::Parser>::try_parse() {
            Ok(args) => args.serve,
            Err(e) => exit_on_clap_error(e),
        }
    }

    /// The configuration: the `--config` file if given, else `default`, with the flags
    /// and the token environment variables (`RINGCAST_PUBLISH_TOKEN`,
    /// `RINGCAST_METRICS_TOKEN`) applied on top, validated.
    pub fn config(&self, default: Config) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => default,
        };
        if let Some(l) = &self.listen {
            config.listen = l.clone();
        }
        if let Some(n) = self.shards {
            config.shards = n;
        }
        if let Some(b) = self.backend {
            config.backend = b;
        }
        config.security.apply_env();
        config.validate()?;
        Ok(config)
    }

    /// [`ServeArgs::config`], or print `ringcast: <error>` and exit with status 2.
    pub fn config_or_exit(&self, default: Config) -> Config {
        self.config(default).unwrap_or_else(|e| {
            eprintln!("ringcast: {e}");
            std::process::exit(2)
        })
    }
}

impl App {
    /// Run until SIGINT or SIGTERM: start, print the startup line (`ringcast <version>
    /// listening on <addr> | backend … | N shards`), wait, then close every connection
    /// politely within `limits.shutdown_grace_ms`. Exit status 0, or 2 (with one line
    /// on stderr) if the server could not start.
    pub fn run(self) -> ExitCode {
        self.run_with(|_| {})
    }

    /// [`App::run`], calling `started` with the running server first (after the
    /// startup line): to start publishing threads, say.
    ///
    /// ```no_run
    /// # use ringcast::{App, Config, RoomsOptions};
    /// let mut app = App::new(Config::default());
    /// app.rooms("/rooms", RoomsOptions::default());
    /// app.run_with(|server| {
    ///     let publisher = server.publisher();
    ///     std::thread::spawn(move || loop {
    ///         let _ = publisher.publish("/rooms", "clock", "tick");
    ///         std::thread::sleep(std::time::Duration::from_secs(1));
    ///     });
    /// });
    /// ```
    pub fn run_with(self, started: impl FnOnce(&crate::Server)) -> ExitCode {
        init_logging();
        crate::server::block_shutdown_signals();
        let server = match self.start() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ringcast: {e}");
                return ExitCode::from(2);
            }
        };
        println!("{}", server.startup_line());
        started(&server);
        let signal = crate::server::wait_for_signal();
        tracing::info!(signal, "shutting down: closing connections (a second signal exits at once)");
        crate::server::exit_on_second_signal();
        if let Err(e) = server.stop() {
            tracing::error!(error = %e, "shard failed during shutdown");
        }
        ExitCode::SUCCESS
    }
}

/// Help and version go to stdout with status 0; a usage error is one line on stderr with
/// status 2 (clap's own rendering runs to several lines).
///
/// ```no_run
/// use clap::Parser;
/// #[derive(Parser)]
/// struct Cli { #[arg(long)] n: u32 }
/// let cli = Cli::try_parse().unwrap_or_else(|e| ringcast::exit_on_clap_error(e));
/// ```
pub fn exit_on_clap_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    eprintln!("ringcast: {} (try --help)", first.trim_start_matches("error: "));
    std::process::exit(2)
}

/// Logs go to stderr; `RUST_LOG` sets the filter (default `info`). A program that set
/// up its own subscriber keeps it.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}
