//! SIGTERM and SIGINT during a load (systemd stopping a unit, Ctrl-C, a cron wrapper's
//! timeout): a stop like any other. The load ends at the next record it reads, rolling back
//! the batch under way (with `--atomic`, the whole file), records the run as stopped, puts
//! the rejects found before it in place and leaves no temporary file: exit status 3. A
//! second signal ends the process at once, also with status 3, for a load that waits in
//! one statement (`signal-hook` does both).

use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use signal_hook::{
    consts::{SIGINT, SIGTERM},
    flag, low_level,
};

/// The exit status a second signal ends the process with: the load's "stopped".
const STOPPED: i32 = 3;

/// Whether a stopping signal came, and which.
pub struct Interrupt {
    caught: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Catches SIGTERM and SIGINT from now on, for the rest of the process.
    pub fn catch() -> io::Result<Self> {
        let caught = Arc::new(AtomicBool::new(false));
        let which = Arc::new(AtomicUsize::new(0));
        for signal in [SIGTERM, SIGINT] {
            // Registered first, so that it sees the flag as the earlier signal left it.
            flag::register_conditional_shutdown(signal, STOPPED, caught.clone())?;
            // Which one, before the flag says one came.
            let number = usize::try_from(signal).unwrap_or_default();
            flag::register_usize(signal, which.clone(), number)?;
            flag::register(signal, caught.clone())?;
        }
        Ok(Self { caught, which })
    }

    /// The name of the signal that came (`SIGTERM`), if one did.
    pub fn caught(&self) -> Option<&'static str> {
        if !self.caught.load(Ordering::Relaxed) {
            return None;
        }
        let number = i32::try_from(self.which.load(Ordering::Relaxed)).unwrap_or_default();
        Some(low_level::signal_name(number).unwrap_or("a signal"))
    }
}
