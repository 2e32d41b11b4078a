//! How far a load has got: a progress bar on standard error when it is a terminal (lines,
//! lines a second, rejects, bytes of the file), else a log line every 10 seconds.

use std::{
    cell::RefCell,
    io::IsTerminal,
    rc::Rc,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

use super::source::Tally;
use crate::db::import_runs::Counts;

/// How often a load that has no terminal logs how far it got.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The progress of one file's load.
pub struct Progress {
    name: String,
    bar: Option<ProgressBar>,
    tally: Rc<RefCell<Tally>>,
    started: Instant,
    logged: Instant,
}

impl Progress {
    /// Shows the progress of `name`, of `size` bytes when known, read as `tally` counts.
    pub fn new(name: &str, size: Option<u64>, tally: Rc<RefCell<Tally>>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(size.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.to_owned());
            bar
        });
        let now = Instant::now();
        Self {
            name: name.to_owned(),
            bar,
            tally,
            started: now,
            logged: now,
        }
    }

    /// Shows `counts`, after a batch committed, and why the load waited after it if it
    /// did (`throttled`).
    pub fn update(&mut self, counts: &Counts, throttled: Option<&str>) {
        let rate = counts.read as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let throttled = throttled.map_or_else(String::new, |why| format!(", throttled ({why})"));
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.tally.borrow().bytes);
                bar.set_message(format!(
                    "{} lines, {rate:.0} lines/s, {} rejected{throttled}",
                    counts.read, counts.rejected
                ));
            }
            None if self.logged.elapsed() >= LOG_EVERY => {
                self.logged = Instant::now();
                log::info!(
                    "{}: {} lines read, committed up to line {}, {rate:.0} lines/s, {} \
                     rejected{throttled}",
                    self.name,
                    counts.read,
                    counts.committed_line,
                    counts.rejected
                );
            }
            None => {}
        }
    }

    /// Clears the bar at the end of the load, and logs how far it got.
    pub fn finish(&self, counts: &Counts) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        log::info!(
            "{}: {} lines read, committed up to line {}",
            self.name,
            counts.read,
            counts.committed_line
        );
    }
}
