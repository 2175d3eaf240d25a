//! The checkpoint daemon: a thread that applies a [`CheckpointPolicy`],
//! for a server to start with the engine and stop before closing it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{Checkpoint, CheckpointPolicy};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// How often the daemon looks at the heads: a tenant reaching
/// `every_rows` gets its checkpoint within this long.
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct Control {
    stop: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

/// A background thread calling [`Engine::checkpoint_due`] four times a
/// second; each checkpoint made or failure goes to `on_checkpoint`.
/// [`CheckpointDaemon::stop`] (or dropping it) ends it promptly.
#[derive(Debug)]
pub struct CheckpointDaemon {
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
}

impl CheckpointDaemon {
    /// Starts the daemon on `engine` with `policy`.
    pub fn start(
        engine: Engine,
        policy: CheckpointPolicy,
        mut on_checkpoint: impl FnMut(std::result::Result<Checkpoint, (String, Error)>) + Send + 'static,
    ) -> Result<CheckpointDaemon> {
        let control = Arc::new(Control::default());
        let c = Arc::clone(&control);
        let thread = std::thread::Builder::new().name("annal-checkpoint".into()).spawn(move || loop {
            if c.stop.load(Ordering::SeqCst) {
                return;
            }
            let (made, failed) = engine.checkpoint_due(&policy);
            made.into_iter().for_each(|cp| on_checkpoint(Ok(cp)));
            failed.into_iter().for_each(|f| on_checkpoint(Err(f)));
            let mut guard = c.lock.lock();
            if c.stop.load(Ordering::SeqCst) {
                return;
            }
            let _ = c.wake.wait_for(&mut guard, POLL);
        })?;
        Ok(CheckpointDaemon { control, thread: Some(thread) })
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

impl Drop for CheckpointDaemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}
