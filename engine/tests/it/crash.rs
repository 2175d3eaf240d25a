//! Crash consistency: a child process appends in a loop and is killed with
//! SIGKILL at a random moment, again and again. After each kill the store is
//! reopened: every acknowledged row must be there with the head it was
//! acknowledged with, seqs must have no gap, and every chain must verify.
//!
//! The child is this same test binary, re-run with `ANNAL_CRASH_CHILD` set so
//! that only [`crash_child`] does anything.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use annal_engine::{Engine, Hash};

use crate::event;

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
                    let receipts = engine.append(tenant, &batch).unwrap();
                    let mut line = String::new();
                    for r in receipts {
                        line.push_str(&format!("{tenant} {} {}\n", r.seq, r.head));
                    }
                    // One write per batch so lines are not interleaved mid-line.
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    out.write_all(line.as_bytes()).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_row() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged: HashMap<(String, u64), Hash> = HashMap::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash::crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read acknowledgements on a thread so the child never blocks on a full pipe.
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split(' ');
                if let (Some(t), Some(s), Some(h)) = (parts.next(), parts.next(), parts.next()) {
                    if let (Ok(s), Some(h)) = (s.parse::<u64>(), Hash::from_hex(h)) {
                        acks.push((t.to_string(), s, h));
                    }
                }
            }
            acks
        });
        // Kill at a pseudo-random moment 150..350 ms after start (start-up included).
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(150 + rng % 200));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        for (t, s, h) in reader.join().unwrap() {
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
