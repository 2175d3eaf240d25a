//! One background thread that does a piece of work every interval, for the
//! daemons a server starts beside the engine (retention, checkpoints) and
//! stops before closing it.
//!
//! The work runs right after the thread starts, then once per interval.
//! [`Periodic::stop`] (or dropping it) ends the thread promptly: a sleeping
//! thread wakes at once; running work sees the stop flag it is handed and
//! may end early (a retention run stops after its current batch).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::Result;

/// What the thread and its owner share.
#[derive(Debug, Default)]
struct Control {
    stop: AtomicBool,
    /// Guards nothing but the wait; `stop` is the state.
    lock: Mutex<()>,
    wake: Condvar,
}

/// A named thread calling its work every interval until stopped.
#[derive(Debug)]
pub(crate) struct Periodic {
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
}

impl Periodic {
    /// Starts thread `name`, calling `work` now and then every `interval`.
    /// `work` gets the stop flag, to end a long piece of work early. With
    /// `nice`, the thread runs at that lower priority ([`lower_priority`]).
    pub fn start(
        name: &str,
        interval: Duration,
        nice: Option<i32>,
        mut work: impl FnMut(&AtomicBool) + Send + 'static,
    ) -> Result<Periodic> {
        let control = Arc::new(Control::default());
        let c = Arc::clone(&control);
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || loop {
            if let Some(n) = nice {
                lower_priority(n);
            }
            if c.stop.load(Ordering::SeqCst) {
                return;
            }
            work(&c.stop);
            let mut guard = c.lock.lock();
            // Checked under the lock the stopper takes to notify: a stop
            // between the work and this wait is never missed.
            if c.stop.load(Ordering::SeqCst) {
                return;
            }
            // Spurious wake-ups only shorten one interval.
            let _ = c.wake.wait_for(&mut guard, interval);
        })?;
        Ok(Periodic { control, thread: Some(thread) })
    }

    /// Asks the thread to stop and waits until it has.
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

impl Drop for Periodic {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Lowers the calling thread's scheduling priority to `nice` (Linux: 0 is
/// normal, 19 the lowest), for background work that must leave the cores
/// to appends when they want them. Only ever lowers it: a thread already
/// below (a niced process) keeps its priority. Best effort: where the
/// platform refuses, the work goes on at normal priority.
pub(crate) fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        // On Linux, PRIO_PROCESS with a thread id names that thread alone.
        let tid = Some(rustix::thread::gettid());
        if rustix::process::getpriority_process(tid).is_ok_and(|now| now < nice) {
            let _ = rustix::process::setpriority_process(tid, nice);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn works_at_once_then_stops_promptly_from_a_long_sleep() {
        let runs = Arc::new(AtomicU64::new(0));
        let r = Arc::clone(&runs);
        let p = Periodic::start("annal-test", Duration::from_secs(3600), None, move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        while runs.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let t = std::time::Instant::now();
        p.stop();
        // An hour's interval: a stop that waited for it would never return here.
        assert!(t.elapsed() < Duration::from_secs(60));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn long_work_ends_early_on_the_stop_flag() {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = Periodic::start("annal-test", Duration::from_secs(3600), None, move |stop| {
            let _ = tx.send(());
            // Work that would never end on its own.
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .unwrap();
        rx.recv().unwrap();
        // Returns only because the work saw the flag and ended.
        p.stop();
    }
}
