//! A full disk under `annal serve`, on a small filesystem the test mounts
//! itself (a tmpfs with a size cap; skipped, saying so, where mounting is
//! not allowed): the write that finds the disk full is answered 507,
//! `/readyz` answers 503, the server drains and exits with
//! `EXIT_WRITE_FAILED`; once space is freed every acknowledged row is there,
//! the chain verifies, and a restarted server takes appends again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use annal_engine::Engine;
use annal_server::cli::EXIT_WRITE_FAILED;

use crate::common::*;

/// A tmpfs mounted at a path, unmounted (lazily: a killed server may still
/// hold files) when dropped, the test failing or not.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status().unwrap();
        assert!(ok.success(), "remount of {}", self.0.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A child process killed when dropped, so a failing test leaves no server.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `n` events of about 4 KB each whose `metadata.note` is random words
/// (neither compressible much nor anything a detector takes for personal
/// data), each marked by its actor id.
fn bulky(batch: usize, n: usize, rng: &mut u64) -> (String, Vec<String>) {
    let mut body = String::new();
    let mut markers = Vec::new();
    for i in 0..n {
        let mut note = String::with_capacity(4200);
        while note.len() < 4000 {
            for _ in 0..6 {
                // xorshift64: a word of random lowercase letters.
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                note.push(char::from(b'a' + (*rng % 26) as u8));
            }
            note.push(' ');
        }
        let marker = format!("b{batch}e{i}");
        body.push_str(
            &serde_json::json!({
                "action": "disk.fill", "actor": {"type": "system", "id": marker}, "metadata": {"note": note}
            })
            .to_string(),
        );
        body.push('\n');
        markers.push(marker);
    }
    (body, markers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_answered_507_and_loses_no_acknowledged_row() {
    let d = tempfile::tempdir().unwrap();
    let at = d.path().join("small");
    std::fs::create_dir(&at).unwrap();
    let Some(mount) = Mount::tmpfs(&at, "48m") else {
        eprintln!("skipped: cannot mount a tmpfs here (mounting needs root); the disk-full test did not run");
        return;
    };
    let dir = at.join("data").display().to_string();
    let token = tenant_with_key(&dir, "ws_full", "ingest,read");
    let quiet = ["--retention-interval-secs", "0", "--checkpoint-every-rows", "0", "--checkpoint-every-secs", "0"];
    let (child, addr) = spawn_server(&dir, &quiet);
    let mut server = Server(child);
    let client = HttpClient::new(addr);

    // Fill the disk: every 201's rows are recorded, until a refusal.
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let refusal = 'fill: {
        for batch in 0..10_000 {
            let (body, markers) = bulky(batch, 16, &mut rng);
            let r = client.send(post("/v1/events", &token, "application/x-ndjson", body.as_bytes())).await.unwrap();
            if r.status != 201 {
                break 'fill r;
            }
            for (rc, m) in r.json()["receipts"].as_array().unwrap().iter().zip(markers) {
                acked.push((rc["seq"].as_u64().unwrap(), m));
            }
        }
        panic!("48 MiB took 160,000 events of 4 KB without filling");
    };
    assert!(!acked.is_empty(), "the disk filled before the first batch");
    refusal.problem(507, "insufficient-storage");
    // Not ready from the refusal on, and reads still answer meanwhile.
    let ready = client.send(get("/readyz", "")).await.unwrap();
    assert_eq!(ready.status, 503, "{}", String::from_utf8_lossy(&ready.body));
    let read = client.send(get(&format!("/v1/events/{}", acked[0].0), &token)).await.unwrap();
    assert_eq!(read.status, 200);

    // The server drains and exits with its own status for a supervisor.
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "annal serve did not exit after the failed write");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(i32::from(EXIT_WRITE_FAILED)));

    // Space freed: every acknowledged row is there, and the chain verifies.
    mount.resize("256m");
    {
        let engine = Engine::builder(&dir).create_if_missing(false).open().unwrap();
        for (seq, marker) in &acked {
            let row = engine.get("ws_full", *seq).unwrap().unwrap_or_else(|| panic!("acknowledged row {seq} is missing"));
            assert_eq!(&row.event.actor_id, marker, "seq {seq}");
        }
        assert!(engine.verify("ws_full", ..).unwrap().is_intact());
    }
    // A restarted server takes appends again.
    let (child, addr) = spawn_server(&dir, &quiet);
    let _server = Server(child);
    let (body, _) = bulky(u32::MAX as usize, 4, &mut rng);
    let r = HttpClient::new(addr).send(post("/v1/events", &token, "application/x-ndjson", body.as_bytes())).await.unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}
