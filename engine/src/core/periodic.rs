//! The retention daemon: a thread that runs retention on an interval, for a
//! server to start with the engine and stop before closing it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::run::{run, RunOptions, RunReport};
use crate::engine::Engine;
use crate::error::Result;

/// How often the daemon runs retention unless told otherwise: hourly.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// What the thread and its owner share.
#[derive(Debug, Default)]
struct Control {
    stop: AtomicBool,
    /// Guards nothing but the wait; `stop` is the state.
    lock: Mutex<()>,
    wake: Condvar,
}

/// A background thread running [`Engine::run_retention`] every interval,
/// the first time right after it starts. [`RetentionDaemon::stop`] (or
/// dropping it) ends it promptly: a sleeping daemon wakes at once, and a
/// running one stops after its current deletion batch (the next run
/// finishes the work).
#[derive(Debug)]
pub struct RetentionDaemon {
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
}

impl RetentionDaemon {
    /// Starts the daemon on `engine`, running every `interval`, with
    /// default [`RunOptions`]; each run's result goes to `on_run` (to log it).
    pub fn start(
        engine: Engine,
        interval: Duration,
        mut on_run: impl FnMut(Result<RunReport>) + Send + 'static,
    ) -> Result<RetentionDaemon> {
        let control = Arc::new(Control::default());
        let c = Arc::clone(&control);
        let thread = std::thread::Builder::new().name("annal-retention".into()).spawn(move || loop {
            if c.stop.load(Ordering::SeqCst) {
                return;
            }
            let result = run(&engine, &RunOptions::default(), Some(&c.stop));
            on_run(result);
            let mut guard = c.lock.lock();
            if c.stop.load(Ordering::SeqCst) {
                return;
            }
            // Spurious wake-ups only shorten one interval.
            let _ = c.wake.wait_for(&mut guard, interval);
        })?;
        Ok(RetentionDaemon { control, thread: Some(thread) })
    }

    /// Asks the daemon to stop and waits until it has.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let _guard = self.control.lock.lock();
            self.control.stop.store(true, Ordering::SeqCst);
            self.control.wake.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RetentionDaemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}
