//! Crash consistency: a child process appends in a loop and is killed with
//! SIGKILL at a random moment, again and again. After each kill the store is
//! reopened: every acknowledged row must be there with the head it was
//! acknowledged with, seqs must have no gap, and every chain must verify.
//!
//! The child is this same test binary, re-run with `ANNAL_CRASH_CHILD` set so
//! that only [`crash_child`] does anything.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use annal_engine::{Engine, Hash};

use crate::event;
use crate::kill::{print_acks, run_and_kill, Moments};

const CHILD_ENV: &str = "ANNAL_CRASH_CHILD";
const KILLS: usize = 24;

/// Appends forever from 3 threads to 2 tenants, printing `tenant seq head`
/// for each acknowledged row. Does nothing unless run as the child.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let engine = Engine::open(&dir).unwrap();
    std::thread::scope(|s| {
        for w in 0..3u64 {
            let engine = engine.clone();
            s.spawn(move || {
                let tenant = if w == 0 { "crash_a" } else { "crash_b" };
                let mut i = 0u64;
                loop {
                    i += 1;
                    let size = 1 + (i * 7 + w) % 40;
                    let batch: Vec<_> = (0..size).map(|j| event(w << 40 | i << 8 | j)).collect();
                    print_acks(tenant, &engine.append(tenant, &batch).unwrap());
                }
            });
        }
    });
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged: HashMap<(String, u64), Hash> = HashMap::new();
    let mut moments = Moments::new(0x9e37_79b9_7f4a_7c15);
    for round in 0..KILLS {
        // Killed 150..350 ms after start (start-up included).
        for (t, s, h) in run_and_kill("crash::crash_child", CHILD_ENV, dir.path(), moments.next(150, 200)) {
            acknowledged.insert((t, s), h);
        }

        let started = Instant::now();
        let engine = Engine::open(dir.path()).unwrap();
        for ((t, s), h) in &acknowledged {
            let row = engine.get(t, *s).unwrap().unwrap_or_else(|| panic!("round {round}: acknowledged {t}#{s} lost"));
            assert_eq!(row.head, *h, "round {round}: {t}#{s} changed");
        }
        for t in engine.tenants() {
            assert!(engine.verify(&t, ..).unwrap().is_intact(), "round {round}: {t} does not verify");
            // Index entries land in the record's batch: never one without the other.
            let check = engine.check_index(&t).unwrap();
            assert!(check.is_consistent(), "round {round}: {t} index: {check:?}");
        }
        drop(engine);
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    assert!(acknowledged.len() > KILLS, "the child acknowledged too few rows to mean anything: {}", acknowledged.len());
}
