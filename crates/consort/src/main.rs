//! The `consort` binary: argument parsing and wiring only; the work lives in the library crates.
//!
//! Exit codes: 0 success, 1 the command failed (the error and its causes are
//! printed to stderr), 2 the command line itself is wrong.

mod cli;
mod cmd;
mod malloc;
mod paths;
mod progress;
mod telemetry;

use std::process::ExitCode;

use clap::FromArgMatches;

fn main() -> ExitCode {
    malloc::limit_arenas();
    let matches = cli::command().get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
