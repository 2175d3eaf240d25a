//! Progress lines for long runs, at most one a second, on stderr.

use std::io::Write;
use std::time::{Duration, Instant};

/// Prints `label: N units` when at least a second has passed since the last line.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    last: Instant,
    label: String,
}

impl Progress {
    /// Starts the clock.
    pub fn new(label: impl Into<String>) -> Progress {
        let now = Instant::now();
        Progress { started: now, last: now, label: label.into() }
    }

    /// Seconds since start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Reports `done` if a second has passed since the last report.
    pub fn tick(&mut self, done: u64, unit: &str, err: &mut dyn Write) {
        if self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            let _ = writeln!(err, "{}: {done} {unit} ({:.0}/s)", self.label, done as f64 / secs);
        }
    }
}
