//! The one SIGKILL harness of the crash tests: a child process — this same
//! test binary, re-run with an environment variable naming a store so that
//! only its child test does anything — appends (and whatever else the test
//! wants), printing `tenant seq head` for every acknowledged row, and is
//! killed with SIGKILL at a pseudo-random moment. The parent then reopens
//! the store and checks every acknowledged row against it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use annal_engine::{Hash, Receipt};

/// A row the child acknowledged: tenant, seq and the head it was acknowledged with.
pub type Ack = (String, u64, Hash);

/// Prints one line per receipt, for the parent to read; one write per
/// call, so lines of concurrent appenders never interleave mid-line.
pub fn print_acks(tenant: &str, receipts: &[Receipt]) {
    let line: String = receipts.iter().map(|r| format!("{tenant} {} {}\n", r.seq, r.head)).collect();
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).unwrap();
    out.flush().unwrap();
}

/// Pseudo-random kill moments, the same every run (xorshift).
#[derive(Debug)]
pub struct Moments(u64);

impl Moments {
    pub fn new(seed: u64) -> Moments {
        Moments(seed)
    }

    /// `base` plus up to `spread` ms.
    pub fn next(&mut self, base_ms: u64, spread_ms: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(base_ms + self.0 % spread_ms)
    }
}

/// Runs the test `child` (its full path, e.g. `crash::crash_child`) of this
/// binary with `env` set to `store`, kills it with SIGKILL after `after`,
/// and returns every row it acknowledged before.
pub fn run_and_kill(child: &str, env: &str, store: &Path, after: Duration) -> Vec<Ack> {
    let exe = std::env::current_exe().unwrap();
    let mut process = Command::new(&exe)
        .args(["--exact", child, "--nocapture", "--test-threads=1"])
        .env(env, store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = process.stdout.take().unwrap();
    // Read acknowledgements on a thread so the child never blocks on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let p: Vec<&str> = line.split(' ').collect();
            if let [t, s, h] = p[..] {
                if let (Ok(s), Some(h)) = (s.parse::<u64>(), Hash::from_hex(h)) {
                    acks.push((t.to_string(), s, h));
                }
            }
        }
        acks
    });
    std::thread::sleep(after);
    process.kill().unwrap(); // SIGKILL on Unix
    process.wait().unwrap();
    reader.join().unwrap()
}
