//! `consort cron`: next fire times, explanations, and the batch contract.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use consort_cron::{Cron, Zone, batch};
use jiff::Timestamp;

use crate::cli::CronCommand;

pub fn run(command: CronCommand) -> anyhow::Result<ExitCode> {
    match command {
        CronCommand::Next { expr, tz, after, count } => next(&expr, &tz, after.as_deref(), count as usize),
        CronCommand::Explain { expr } => {
            let cron = Cron::parse(&expr)?;
            println!("{}", cron.explain());
            Ok(ExitCode::SUCCESS)
        }
        CronCommand::Eval => eval(),
    }
}

fn next(expr: &str, tz: &str, after: Option<&str>, count: usize) -> anyhow::Result<ExitCode> {
    let cron = Cron::parse(expr)?;
    let zone = Zone::get(tz)?;
    let after = match after {
        None => Timestamp::now(),
        Some(text) => consort_server::parse_instant(text).ok_or_else(|| {
            anyhow!("--after `{text}` is not an instant; give RFC 3339 (2026-01-01T00:00:00Z) or Unix epoch seconds")
        })?,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} ({}): {}", cron, zone.name(), cron.explain())?;
    let mut shown = 0;
    for t in cron.upcoming(after, &zone).take(count) {
        let local = t.to_zoned_datetime(zone.time_zone().clone());
        writeln!(out, "  {}  {}", local.strftime("%Y-%m-%d %H:%M:%S %Z (%a)"), t)?;
        shown += 1;
    }
    if shown == 0 {
        writeln!(out, "  never fires after {after}")?;
    } else if shown < count {
        writeln!(out, "  (no further fire times up to year {})", consort_cron::MAX_YEAR)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads lines like `BufReader::read_line`, dropping only the line ending
/// (`\n` or `\r\n`, as Java's `readLine` does): the fields are never trimmed.
fn eval() -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.split(b'\n') {
        let mut line = line.context("reading stdin")?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let answer = batch::answer_line(&String::from_utf8_lossy(&line));
        out.write_all(answer.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
