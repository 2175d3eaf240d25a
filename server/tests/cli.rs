//! The `annal` binary end to end: real process, real store, real exit codes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use annal_engine::{Cf, RawStore};

fn annal(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn corpus_ndjson(tenant: &str, n: usize) -> String {
    annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, tenant, n).iter().map(|v| v.to_string() + "\n").collect()
}

fn data_dir(d: &Path) -> String {
    d.join("data").display().to_string()
}

#[test]
fn ingest_then_verify_a_corpus() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let file = d.path().join("acme.ndjson");
    std::fs::write(&file, corpus_ndjson("ws_acme", 2500)).unwrap();
    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "ws_acme", "--batch-size", "300", file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("events into ws_acme"), "{summary}");
    assert!(summary.contains("0 rejected"), "{summary}");

    // The same corpus from stdin into a second tenant.
    let out =
        annal(&["ingest", "--data-dir", &dir, "--tenant", "ws_globex", "-"], Some(corpus_ndjson("ws_globex", 700).as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = annal(&["verify", "--data-dir", &dir], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report = text(&out.stdout);
    assert!(report.contains("ws_acme: intact"), "{report}");
    assert!(report.contains("ws_globex: intact, 700 rows"), "{report}");
}

#[test]
fn bad_lines_are_reported_by_number_and_field_and_the_rest_is_appended() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let input = concat!(
        "{\"action\":\"auth.login\",\"actor\":{\"type\":\"user\",\"id\":\"u1\"}}\n",
        "{\"action\":\"auth.login\",\"actor\":{\"type\":\"robot\",\"id\":\"secret@acme.com\"}}\n",
        "\n",
        "not json at all\n",
        "{\"action\":\"auth.login\",\"actor\":{\"type\":\"user\",\"id\":\"u2\"},\"ip\":\"999.1.1.1\"}\n",
        "{\"action\":\"auth.logout\",\"actor\":{\"type\":\"user\",\"id\":\"u1\"},\"idempotency_key\":\"k\"}\n",
        "{\"action\":\"auth.logout\",\"actor\":{\"type\":\"user\",\"id\":\"u9\"},\"idempotency_key\":\"k\"}\n",
    );
    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "t1"], Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(3), "rejects give exit 3: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("line 2: rejected: actor.type"), "{err}");
    assert!(err.contains("line 4: rejected: malformed JSON"), "{err}");
    assert!(err.contains("line 5: rejected: ip"), "{err}");
    assert!(err.contains("line 7: rejected: idempotency_key"), "{err}");
    assert!(!err.contains("secret@acme.com"), "errors must not echo values: {err}");
    assert!(text(&out.stdout).contains("ingested 2 of 6 events"), "{}", text(&out.stdout));
}

#[test]
fn verify_names_the_first_bad_seq_and_fails() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "ws_x"], Some(corpus_ndjson("ws_x", 50).as_bytes()));
    assert_eq!(out.status.code(), Some(0));
    {
        let raw = RawStore::open(Path::new(&dir)).unwrap();
        let (k, mut v) = raw.entries(Cf::Records).unwrap().into_iter().nth(16).unwrap();
        let last = v.len() - 10;
        v[last] ^= 0x40;
        raw.put(Cf::Records, &k, &v).unwrap();
    }
    let out = annal(&["verify", "--data-dir", &dir, "--tenant", "ws_x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("ws_x: BROKEN at seq 17"), "{}", text(&out.stdout));
}

#[test]
fn operator_mistakes_get_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nowhere").display().to_string();
    let out = annal(&["verify", "--data-dir", &missing], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no annal store in"), "{}", text(&out.stderr));
    assert!(!Path::new(&missing).exists(), "verify must not create a store");

    let dir = data_dir(d.path());
    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "bad tenant"], Some(b""));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("invalid tenant id"), "{}", text(&out.stderr));

    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "t", "/no/such/file"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot open /no/such/file"), "{}", text(&out.stderr));

    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "t", "--batch-size", "0"], None);
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");

    let out = annal(&["verify", "--data-dir", &dir, "--tenant", "never_written"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown tenant"), "{}", text(&out.stderr));
}
