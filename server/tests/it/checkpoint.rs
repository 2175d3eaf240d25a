//! `annal checkpoint …` and `annal verify --trusted-checkpoint` end to end:
//! the real binary on a real store.

use std::path::{Path, PathBuf};
use std::process::Command;

use annal_engine::record::StoredRecord;
use annal_engine::{Cf, ChainHead, RawStore};

use crate::common::*;

/// A store in a temporary directory whose tenant `ws_a` holds `n` rows,
/// ingested by the binary; and its data directory.
fn ws_a_with(n: usize) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let out = annal_with_input(&["ingest", "--data-dir", dir.to_str().unwrap(), "--tenant", "ws_a"], &events(n));
    assert!(out.status.success(), "{}", text(&out.stderr));
    (d, dir)
}

fn events(n: usize) -> Vec<u8> {
    (0..n).map(|i| event("auth.login", &format!("u_{i}")) + "\n").collect::<String>().into_bytes()
}

#[test]
fn a_kept_checkpoint_verifies_until_the_tail_is_cut() {
    let (d, dir) = ws_a_with(30);
    let data = dir.to_str().unwrap();

    let key = annal(&["checkpoint", "public-key", "--data-dir", data]);
    let key: serde_json::Value = serde_json::from_slice(&key.stdout).unwrap();
    let public_key = key["public_key"].as_str().unwrap().to_string();
    assert_eq!(key["key_id"].as_str().unwrap().len(), 16);

    // Ingest made the first checkpoint (none existed); `make` adds one after more rows.
    let latest = annal(&["checkpoint", "latest", "--data-dir", data, "--tenant", "ws_a"]);
    assert!(latest.status.success(), "{}", text(&latest.stderr));
    let first: serde_json::Value = serde_json::from_slice(&latest.stdout).unwrap();
    assert_eq!(first["seq"], 30);
    assert!(annal_with_input(&["ingest", "--data-dir", data, "--tenant", "ws_a"], &events(10)).status.success());
    let made = annal(&["checkpoint", "make", "--data-dir", data, "--tenant", "ws_a"]);
    let kept: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!((kept["seq"].as_u64(), kept["prev_seq"].as_u64()), (Some(40), Some(30)));
    let listed = annal(&["checkpoint", "list", "--data-dir", data, "--tenant", "ws_a"]);
    assert_eq!(text(&listed.stdout).lines().count(), 2);
    let file = d.path().join("kept.json");
    std::fs::write(&file, kept.to_string()).unwrap();
    let file = file.to_str().unwrap();

    let ok = annal(&["verify", "--data-dir", data, "--trusted-checkpoint", file, "--public-key", &public_key]);
    assert_eq!(ok.status.code(), Some(0), "{}{}", text(&ok.stdout), text(&ok.stderr));
    assert!(text(&ok.stdout).contains("extends the trusted checkpoint at seq 40"));
    let wrong = annal(&["verify", "--data-dir", data, "--trusted-checkpoint", file, "--public-key", &"00".repeat(32)]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong.stdout).contains("key mismatch"));
    let bad = annal(&["verify", "--data-dir", data, "--trusted-checkpoint", file, "--public-key", "xyz"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("public_key"), "{}", text(&bad.stderr));

    // Cut off the last 5 rows and fix the head entry: the chain alone verifies, the kept checkpoint does not.
    {
        let raw = RawStore::open(&dir).unwrap();
        let key = |seq: u64| [1u64.to_be_bytes(), seq.to_be_bytes()].concat();
        let records = raw.entries(Cf::Records).unwrap();
        let r35 = StoredRecord::decode(&records.iter().find(|(k, _)| *k == key(35)).unwrap().1).unwrap();
        for seq in 36..=40 {
            raw.delete(Cf::Records, &key(seq)).unwrap();
        }
        let head = ChainHead { seq: 35, recorded_at: r35.recorded_at, head: r35.head };
        raw.put(Cf::Heads, &1u64.to_be_bytes(), &head.encode()).unwrap();
    }
    assert_eq!(annal(&["verify", "--data-dir", data]).status.code(), Some(0));
    let cut = annal(&["verify", "--data-dir", data, "--trusted-checkpoint", file]);
    assert_eq!(cut.status.code(), Some(2));
    assert!(text(&cut.stdout).contains("truncated: the chain ends at seq 35"), "{}", text(&cut.stdout));

    // A file that is not a checkpoint names the field.
    std::fs::write(d.path().join("bad.json"), r#"{"format":"annal.checkpoint.v1","tenant":"ws_a"}"#).unwrap();
    let out = annal(&["verify", "--data-dir", data, "--trusted-checkpoint", d.path().join("bad.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("seq"), "{}", text(&out.stderr));
}

#[test]
fn an_exported_bundle_verifies_offline_and_a_flipped_bit_is_named() {
    let (d, dir) = ws_a_with(50);
    let data = dir.to_str().unwrap();
    let export = |file: &Path, window: &[&str]| {
        let mut args = vec!["export", "--data-dir", data, "--tenant", "ws_a", "--bundle", file.to_str().unwrap()];
        args.extend_from_slice(window);
        annal(&args)
    };
    let file = d.path().join("w.bundle");
    let out = export(&file, &["--from-seq", "10", "--to-seq", "20"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("seq 10..=20 (11 rows)"), "{}", text(&out.stdout));
    // No data directory needed: the store is moved away first.
    std::fs::rename(&dir, d.path().join("elsewhere")).unwrap();
    let ok = annal(&["verify-bundle", file.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}{}", text(&ok.stdout), text(&ok.stderr));
    assert!(text(&ok.stdout).contains("bundle intact: seq 10..=20 (11 rows)"), "{}", text(&ok.stdout));

    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let bad = annal(&["verify-bundle", file.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stdout).contains("BROKEN at frame"), "{}", text(&bad.stdout));

    let missing = annal(&["verify-bundle", d.path().join("none").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("cannot open"));
    // A window by time that holds no row is refused, and no file is left behind.
    std::fs::rename(d.path().join("elsewhere"), &dir).unwrap();
    let empty = d.path().join("empty.bundle");
    let out = export(&empty, &["--to", "2000-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("window"), "{}", text(&out.stderr));
    assert!(!empty.exists() && !d.path().join("empty.partial").exists());
}

#[test]
fn the_key_comes_from_the_environment_or_a_file_and_a_readable_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    // A store no key has signed yet, so that any key may be the first.
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let out = keyless(&d.path().join("xdg"), &["ingest", "--data-dir", dir.to_str().unwrap(), "--tenant", "ws_a"], &events(3));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let data = dir.to_str().unwrap();
    let own: serde_json::Value =
        serde_json::from_slice(&annal(&["checkpoint", "public-key", "--data-dir", data]).stdout).unwrap();

    let seed = "11".repeat(32);
    let out = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["checkpoint", "public-key", "--data-dir", data])
        .env("ANNAL_SIGNING_KEY", &seed)
        .env_remove("ANNAL_SIGNING_KEY_FILE")
        .output()
        .unwrap();
    let from_env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(from_env["public_key"], own["public_key"]);

    let file = d.path().join("k.key");
    std::fs::write(&file, format!("{seed}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = annal(&["checkpoint", "public-key", "--data-dir", data, "--signing-key", file.to_str().unwrap()]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), from_env);

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = annal(&["checkpoint", "make", "--data-dir", data, "--signing-key", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("make it 0600"), "{}", text(&out.stderr));
}

#[test]
fn no_command_makes_a_key_and_those_that_sign_say_how_to_give_one() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let data = data.to_str().unwrap();
    let home = d.path().join("xdg");
    let run = |args: &[&str]| keyless(&home, args, b"");

    // Writing, reading and verifying need no key, and make none.
    let out = keyless(&home, &["ingest", "--data-dir", data, "--tenant", "ws_a"], &events(5));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no checkpoints made: no signing key"), "{}", text(&out.stderr));
    for args in [
        vec!["tenants", "create", "--data-dir", data, "ws_b"],
        vec!["keys", "create", "--data-dir", data, "--tenant", "ws_b", "--scope", "read"],
        vec!["retention", "run", "--data-dir", data],
        vec!["query", "--data-dir", data, "--tenant", "ws_a", "--all"],
        vec!["verify", "--data-dir", data],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    }
    // Signing does, and says how to give one.
    for args in [vec!["checkpoint", "make", "--data-dir", data], vec!["serve", "--data-dir", data, "--listen", "127.0.0.1:0"]] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains("annal checkpoint init-key PATH"), "{args:?}: {}", text(&out.stderr));
    }
    let key_files =
        |root: &Path| files_under(root).into_iter().filter(|f| f.file_name().unwrap() == "checkpoint-signing.key").count();
    assert_eq!(key_files(d.path()), 0, "no command made a key");

    // Made on purpose, at the default place (outside the data directory):
    // owner-only, never replaced, then found with nothing configured.
    let default = home.join("annal").join("checkpoint-signing.key");
    let out = run(&["checkpoint", "init-key", default.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(std::fs::metadata(&default).unwrap().permissions().mode() & 0o777, 0o600);
    let again = run(&["checkpoint", "init-key", default.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("never replaces a signing key"), "{}", text(&again.stderr));
    let out = run(&["checkpoint", "public-key", "--data-dir", data]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), made, "{}", text(&out.stderr));
    assert!(run(&["checkpoint", "make", "--data-dir", data]).status.success());

    // A key inside the data directory (as older versions left it) is refused, naming the way out.
    std::fs::copy(&default, Path::new(data).join("checkpoint-signing.key")).unwrap();
    let out = run(&["verify", "--data-dir", data]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("move it out"), "{}", text(&out.stderr));
}

#[test]
fn serve_takes_its_key_from_the_flag_then_the_environment_then_the_config_file() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let (good, readable) = (d.path().join("good.key"), d.path().join("readable.key"));
    for (f, mode) in [(&good, 0o600), (&readable, 0o644)] {
        std::fs::write(f, format!("{}\n", "42".repeat(32))).unwrap();
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let config = d.path().join("annal.toml");
    std::fs::write(&config, format!("listen = \"127.0.0.1:0\"\nsigning_key = \"{}\"\n", readable.display())).unwrap();
    let serve = |env_file: Option<&Path>, flag: Option<&Path>| {
        let mut c = annal_command();
        c.env_remove("ANNAL_SIGNING_KEY").args(["serve", "--data-dir", data.to_str().unwrap(), "--config"]).arg(&config);
        c.args(["--retention-interval-secs", "0"]);
        if let Some(f) = env_file {
            c.env("ANNAL_SIGNING_KEY_FILE", f);
        }
        if let Some(f) = flag {
            c.arg("--signing-key").arg(f);
        }
        let mut child = c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        (line.starts_with("annal listening"), text(&out.stderr))
    };
    // The file's key alone: used (and refused, being readable by others).
    let (listening, err) = serve(None, None);
    assert!(!listening && err.contains("make it 0600"), "{err}");
    // The environment beats the file.
    let (listening, err) = serve(Some(&good), None);
    assert!(listening, "{err}");
    // The flag beats the environment.
    let (listening, err) = serve(Some(&good), Some(&readable));
    assert!(!listening && err.contains("make it 0600"), "{err}");
}

#[test]
fn another_key_is_refused_naming_both_until_rotate_key_records_the_change() {
    use std::os::unix::fs::PermissionsExt;
    let (d, dir) = ws_a_with(5); // checkpointed by `ingest`, with the tests' key
    let data = dir.to_str().unwrap();
    let other = d.path().join("other.key");
    std::fs::write(&other, format!("{}\n", "77".repeat(32))).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let other = other.to_str().unwrap();
    let id = |args: &[&str]| -> String {
        let out = annal(args);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["key_id"].as_str().unwrap().to_string()
    };
    let tests_key = id(&["checkpoint", "public-key", "--data-dir", data]);

    let out = annal(&["checkpoint", "make", "--data-dir", data, "--signing-key", other]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&tests_key) && err.contains("rotate-key"), "{err}");

    let out = annal(&["checkpoint", "rotate-key", "--data-dir", data, "--signing-key", other]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rotated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rotated["tenant"], "ws_a");
    assert_eq!(rotated["seq"], 6, "the rotation row follows the 5 events");
    // The chain records it; the new key signs from then on, the old one is refused.
    // Read without a key (nothing to disagree with).
    let nowhere = d.path().join("xdg");
    let out =
        keyless(&nowhere, &["query", "--data-dir", data, "--tenant", "ws_a", "--action", "annal.checkpoint.key_rotated"], b"");
    assert!(text(&out.stdout).contains(&tests_key), "{}", text(&out.stderr));
    assert!(annal(&["checkpoint", "make", "--data-dir", data, "--signing-key", other]).status.success());
    assert_eq!(annal(&["verify", "--data-dir", data]).status.code(), Some(1));
}
