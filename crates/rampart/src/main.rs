//! The `rampart` command: starts a node, and (as the issues land) manages certificates, the
//! keystore and users. It parses arguments and reports errors; the work happens in the library
//! crates, which is where it is tested.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rampart_node::{StartOptions, exit};

const START_HELP: &str = "\
Exit codes:
  0   stopped cleanly (SIGTERM or SIGINT)
  1   failed while starting or running (the message says why)
  2   invalid command line
  77  refused to run as root
  78  invalid configuration, or bootstrap checks failed in production mode

On a first start with no xpack.security.* settings and an empty data directory, the node
generates a CA and certificates into config/certs/, turns on TLS, and prints the elastic
user's password (or takes ELASTIC_PASSWORD) with a ready curl command.";

#[derive(Debug, Parser)]
#[command(
    name = "rampart",
    version,
    about = "Rampart: an Elasticsearch-compatible search and document store, secure by default"
)]
struct Cli {
    /// The node's home directory, holding config/, data/ and logs/.
    #[arg(
        long,
        global = true,
        env = "RAMPART_HOME",
        default_value = "rampart-home"
    )]
    home: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a node and serve until SIGTERM or SIGINT.
    #[command(after_help = START_HELP)]
    Start {
        /// Override a setting for this start, as in Elasticsearch: -E http.port=9201
        #[arg(short = 'E', value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Start { settings } => {
            match rampart_node::start(StartOptions {
                home: cli.home,
                overrides: settings,
            }) {
                Ok(()) => ExitCode::from(exit::OK),
                Err(e) => {
                    // Once logging runs, the log reaches both stderr and the log file.
                    if tracing::dispatcher::has_been_set() {
                        tracing::error!("{}", e.message);
                    } else {
                        eprintln!("rampart: {}", e.message);
                    }
                    ExitCode::from(e.exit_code)
                }
            }
        }
    }
}
