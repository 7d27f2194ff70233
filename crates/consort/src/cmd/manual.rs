//! `consort completions` and `consort man`: generated from the command line's own definition
//! ([`crate::cli::command`]), so they cannot disagree with `--help`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut command = crate::cli::command();
    // Into a buffer first: clap_complete panics when its writer fails (`| head` closes the pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "consort", &mut script);
    std::io::stdout().write_all(&script).context("writing the completion script to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// consort.1 and one page per command (consort-jobs-list.1, …), as `man` expects them.
pub fn pages(dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create --out {}; give a writable directory", dir.display()))?;
    let written = write_pages(crate::cli::command(), dir)?;
    eprintln!("wrote {written} manual pages to {}; read one with `man -l {}/consort.1`", dir.display(), dir.display());
    Ok(ExitCode::SUCCESS)
}

fn write_pages(command: clap::Command, dir: &Path) -> anyhow::Result<usize> {
    // Building names each subcommand after its parents (consort-jobs-list), as git's pages are.
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut written = 0;
    let mut stack = vec![command];
    while let Some(command) = stack.pop() {
        let name = command.get_display_name().unwrap_or_else(|| command.get_name()).to_owned();
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone()).render(&mut page).context("rendering a manual page")?;
        // clap_mangen puts the text after the help (our examples) under EXTRA.
        let page = String::from_utf8_lossy(&page).replace(".SH EXTRA\nExamples:\n", ".SH EXAMPLES\n");
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
        stack.extend(command.get_subcommands().filter(|c| c.get_name() != "help").cloned());
    }
    Ok(written)
}
