//! `annal backup create|list|verify|restore`, `annal upgrade` and `annal
//! platform-key` as real processes.

use std::path::Path;

use crate::common::*;

fn ingest(data: &str, tenant: &str, n: usize) {
    let out = annal_with_input(
        &["ingest", "--data-dir", data, "--tenant", tenant, "--batch-size", "100"],
        corpus(tenant, n).as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn backups_are_made_listed_verified_and_restored_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let (data, backups) = (data_dir(d.path()), d.path().join("backups").display().to_string());
    ingest(&data, "ws_a", 500);
    ingest(&data, "ws_b", 300);
    let made: serde_json::Value =
        serde_json::from_str(annal_ok(&["backup", "create", "--data-dir", &data, "--backup-dir", &backups]).trim()).unwrap();
    assert_eq!(made["id"], 1);
    ingest(&data, "ws_a", 100);
    annal_ok(&["backup", "create", "--data-dir", &data, "--backup-dir", &backups, "--keep", "5"]);
    let listed = annal_ok(&["backup", "list", "--backup-dir", &backups]);
    assert_eq!(listed.lines().count(), 2, "{listed}");

    let out = annal(&["backup", "verify", "--backup-dir", &backups]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let chains: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(chains.len(), 2);
    assert!(chains.iter().all(|c| c["good"] == true), "{chains:?}");
    let a = chains.iter().find(|c| c["tenant"] == "ws_a").unwrap();
    // Every chain is checkpointed before the backup: its head is signed.
    assert_eq!(a["head_seq"], a["checkpoint_seq"]);
    assert!(a["head_seq"].as_u64().unwrap() > 500);
    // The public key the store signs with is the one every checkpoint must have.
    let pk: serde_json::Value =
        serde_json::from_str(annal_ok(&["checkpoint", "public-key", "--data-dir", &data]).trim()).unwrap();
    let pk = pk["public_key"].as_str().unwrap().to_string();
    assert!(annal(&["backup", "verify", "--backup-dir", &backups, "--public-key", &pk]).status.success());
    let other = "11".repeat(32);
    let out = annal(&["backup", "verify", "--backup-dir", &backups, "--public-key", &other]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("NOT GOOD"));

    // Restore the first backup: ws_a as it was then.
    let target = d.path().join("restored").display().to_string();
    annal_ok(&["backup", "restore", "--backup-dir", &backups, "--data-dir", &target, "--id", "1"]);
    let first_head = annal_ok(&["verify", "--data-dir", &target, "--tenant", "ws_a"]);
    let now_head = annal_ok(&["verify", "--data-dir", &data, "--tenant", "ws_a"]);
    assert!(first_head.contains("intact") && first_head != now_head, "{first_head} / {now_head}");
    // Never over a store.
    let out = annal(&["backup", "restore", "--backup-dir", &backups, "--data-dir", &data]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not empty"), "{}", text(&out.stderr));

    // A damaged file: verify fails and names it.
    let sst = crate::common::files_under(Path::new(&backups))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "sst"))
        .max_by_key(|f| f.metadata().unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&sst).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&sst, bytes).unwrap();
    let out = annal(&["backup", "verify", "--backup-dir", &backups]);
    assert_eq!(out.status.code(), Some(1));
    let name = sst.file_name().unwrap().to_string_lossy().into_owned();
    assert!(text(&out.stderr).contains(&name), "{}", text(&out.stderr));
}

#[test]
fn an_older_store_is_upgraded_only_after_a_backup_or_an_explicit_no() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/stores/format2");
    for entry in std::fs::read_dir(fixture).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, data.join(p.file_name().unwrap())).unwrap();
    }
    let data = data.display().to_string();
    // The fixture's checkpoints were signed by a key not kept with it:
    // these commands sign nothing, so they run without one.
    let run = |args: &[&str]| keyless(Path::new(NO_CONFIG), args, b"");
    let ok = |args: &[&str]| {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let out = run(&["verify", "--data-dir", &data]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("must be upgraded"), "{}", text(&out.stderr));
    let out = run(&["upgrade", "--data-dir", &data]);
    assert_ne!(out.status.code(), Some(0), "no choice, no upgrade");
    let backups = d.path().join("backups").display().to_string();
    ok(&["upgrade", "--data-dir", &data, "--backup-dir", &backups]);
    assert_eq!(ok(&["backup", "list", "--backup-dir", &backups]).lines().count(), 1);
    ok(&["verify", "--data-dir", &data]);
    // The backup is the store as it was, and verifies as such.
    ok(&["backup", "verify", "--backup-dir", &backups]);
}

#[test]
fn a_platform_key_is_made_offline_and_listed_without_its_secret() {
    let d = tempfile::tempdir().unwrap();
    let data = data_dir(d.path());
    let out = annal(&["platform-key", "create", "--data-dir", &data, "--label", "provisioning"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("ak_"));
    let listed = annal_ok(&["platform-key", "list", "--data-dir", &data]);
    let key: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(key["scopes"], serde_json::json!(["platform"]));
    assert!(!listed.contains(&token[20..]), "no secret listed");
    let id = key["id"].as_str().unwrap().to_string();
    let revoked: serde_json::Value =
        serde_json::from_str(annal_ok(&["platform-key", "revoke", "--data-dir", &data, &id]).trim()).unwrap();
    assert!(revoked["revoked_at"].is_string());
    let engine = annal_engine::Engine::builder(d.path().join("data")).create_if_missing(false).open().unwrap();
    assert!(matches!(engine.authenticate(&token), Err(annal_engine::Error::InvalidApiKey)));
}
