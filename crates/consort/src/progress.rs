//! Progress of a long wait (a run, an application, a provisioning operation), on stderr so
//! stdout stays the answer: on a terminal one line rewritten in place with the time waited;
//! otherwise (a log, a pipe) one line per change of state.

use std::io::{IsTerminal, Write};
use std::time::Instant;

#[derive(Debug)]
pub struct Progress {
    what: String,
    started: Instant,
    last: Option<String>,
    terminal: bool,
}

impl Progress {
    /// `what` names the thing waited for, e.g. "run r-1".
    pub fn new(what: impl Into<String>) -> Progress {
        Progress { what: what.into(), started: Instant::now(), last: None, terminal: std::io::stderr().is_terminal() }
    }

    /// Reports the current state.
    pub fn state(&mut self, state: &str) {
        let changed = self.last.as_deref() != Some(state);
        let mut err = std::io::stderr().lock();
        // A closed stderr must not stop the wait; the lines are only a courtesy.
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{}: {state} ({})", self.what, elapsed(self.started));
            let _ = err.flush();
        } else if changed {
            let _ = writeln!(err, "{}: {state} after {}", self.what, elapsed(self.started));
        }
        if changed {
            self.last = Some(state.to_owned());
        }
    }

    /// Ends the in-place line (the caller prints the outcome on stdout).
    pub fn done(self) {
        if self.terminal && self.last.is_some() {
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn elapsed(started: Instant) -> String {
    let seconds = started.elapsed().as_secs();
    if seconds < 60 { format!("{seconds}s") } else { format!("{}m{:02}s", seconds / 60, seconds % 60) }
}
