//! A stop asked by a signal (SIGTERM: systemd stopping a unit, a cron wrapper's timeout;
//! SIGINT: Ctrl-C), from the start of the command: the load ends at the next record it reads,
//! or at once while it waits for its pace, as any stop does (exit status 3): the batch under
//! way rolled back (with `--atomic`, the whole file), the run recorded as stopped, the rejects
//! found before it in place, no temporary file left. A second signal ends the process at
//! once, as `kill -9` would, for a load that waits inside one statement.
use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use signal_hook::{
    consts::{SIGINT, SIGTERM},
    flag,
};

/// The exit status of a second signal: the load stopped, unfinished.
const STOPPED_AT_ONCE: i32 = 3;
/// How often a wait looks whether a stop was asked.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Whether a signal asked the import to stop, and which.
#[derive(Clone, Default)]
pub(super) struct Stop {
    /// The signal's number; 0 until one came.
    signal: Arc<AtomicUsize>,
}

impl Stop {
    /// A stop that SIGTERM and SIGINT ask for.
    pub fn on_signals() -> io::Result<Self> {
        let stop = Self::default();
        let asked = Arc::new(AtomicBool::new(false));
        for signal in [SIGTERM, SIGINT] {
            // Registered first, so that it sees the flag as the signal before left it.
            flag::register_conditional_shutdown(signal, STOPPED_AT_ONCE, Arc::clone(&asked))?;
            flag::register(signal, Arc::clone(&asked))?;
            flag::register_usize(signal, Arc::clone(&stop.signal), signal as usize)?;
        }
        Ok(stop)
    }

    /// The signal that asked to stop, by name, if one did.
    pub fn asked(&self) -> Option<&'static str> {
        match self.signal.load(Ordering::Relaxed) {
            0 => None,
            signal if signal == SIGINT as usize => Some("SIGINT"),
            _ => Some("SIGTERM"),
        }
    }

    /// Sleeps `duration`, or less when a stop is asked meanwhile; whether one was.
    pub fn sleep(&self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        loop {
            if self.asked().is_some() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            thread::sleep(left.min(LOOK_EVERY));
        }
    }
}
