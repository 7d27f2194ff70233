//! One module per top-level command.

mod artifact;
mod auth;
mod cleanroom;
mod config;
mod cron;
mod import;
mod ledger;
mod manual;
mod oidc;
mod provision;
mod remote;
mod sandbox;
mod serve;
mod spark;
mod tokens;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Cron(command) => cron::run(command),
        Command::Jobs(args) => remote::jobs(args),
        Command::Triggers(args) => remote::triggers(args),
        Command::Runs(args) => remote::runs(args),
        Command::Tokens(args) => tokens::tokens(args),
        Command::Audit(args) => tokens::audit(args),
        Command::Provision(args) => provision::run(args),
        Command::Cleanroom(args) => cleanroom::run(args),
        Command::Member(command) => cleanroom::member(command),
        Command::Ledger(args) => ledger::run(args),
        Command::Spark(command) => spark::run(command),
        Command::Import(command) => import::run(command),
        Command::Artifact(command) => artifact::run(command),
        Command::Config(command) => config::run(command),
        Command::Completions { shell } => manual::completions(shell),
        Command::Man { out } => manual::pages(&out),
    }
}
