//! The `ringcast` command: parse the command line, build a `Config`, run the server.

use clap::{Parser, Subcommand};
use ringcast::{exit_on_clap_error, App, Config, ServeArgs};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ringcast",
    version,
    about = "Pub/sub fan-out server: SockJS, websocket-multiplex rooms, WebSocket"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the embedded default configuration unless --config is given).
    Serve {
        #[command(flatten)]
        args: ServeArgs,
    },
    /// Validate a configuration file and exit (0 = valid, 2 = invalid).
    CheckConfig {
        /// TOML configuration file.
        file: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|e| exit_on_clap_error(e));
    match cli.command {
        Command::Serve { args } => App::new(args.config_or_exit(Config::embedded_default())).run(),
        Command::CheckConfig { file } => match Config::from_file(&file) {
            Ok(c) => {
                let n = c.services.len();
                println!("{file}: ok ({n} service{})", if n == 1 { "" } else { "s" });
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ringcast: {e}");
                ExitCode::from(2)
            }
        },
    }
}
