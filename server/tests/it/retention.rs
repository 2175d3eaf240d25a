//! `annal retention`: the binary end to end (settings, holds, dry runs and
//! errors) and, in-process over a manual clock, runs that delete.

use std::sync::Arc;

use annal_engine::retention::PURGED_ACTION;
use annal_engine::{ActorType, Engine, Event, ManualClock};
use annal_server::cli::retention::{self, RunArgs};

use crate::common::*;

const DAY: u64 = 86_400 * 1_000_000_000;
/// 2026-01-01T00:00:00Z.
const T0: u64 = 1_767_225_600_000_000_000;

fn events(n: u64) -> Vec<Event> {
    (0..n).map(|i| Event::new("auth.login", ActorType::User, format!("u_{i}"))).collect()
}

#[test]
fn set_hold_release_and_dry_runs_through_the_binary() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let dir = dir.to_str().unwrap();
    let out = annal(&["retention", "set", "--data-dir", dir, "--tenant", "ws_a", "--tier", "free", "--actor", "u_ops"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ws_a: retention free (90 days), recorded as seq 1"), "{}", text(&out.stdout));
    let out = annal(&["retention", "set", "--data-dir", dir, "--tenant", "ws_b", "--days", "120"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Rows recorded now are not due now, but a dry run can look ahead.
    let out = annal(&["retention", "run", "--data-dir", dir, "--dry-run", "--now", "2099-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("ws_a: free (90 days)") && s.contains("would delete 1 rows"), "{s}");
    assert!(s.contains("ws_b: custom (120 days)"), "{s}");
    // Deleting by a future date is refused, naming the option.
    let out = annal(&["retention", "run", "--data-dir", dir, "--now", "2099-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("now"), "{}", text(&out.stderr));

    let out = annal(&["retention", "hold", "--data-dir", dir, "--tenant", "ws_a", "--reason", "case 7"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = annal(&["retention", "run", "--data-dir", dir, "--dry-run", "--now", "2099-01-01T00:00:00Z"]);
    assert!(text(&out.stdout).contains("ws_a: free (90 days): on legal hold since"), "{}", text(&out.stdout));
    let out = annal(&["retention", "run", "--data-dir", dir]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("deleted 0 rows of 2 tenant(s)"), "{}", text(&out.stdout));
    let out = annal(&["retention", "release", "--data-dir", dir, "--tenant", "ws_a"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = annal(&["retention", "release", "--data-dir", dir, "--tenant", "ws_a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no legal hold"), "{}", text(&out.stderr));

    // Mistakes get errors naming what is wrong, and change nothing.
    for (args, needle) in [
        (vec!["retention", "set", "--data-dir", dir, "--tenant", "ws_a", "--tier", "gold"], "tier"),
        (vec!["retention", "set", "--data-dir", dir, "--tenant", "ws_a", "--days", "30"], "days"),
        (vec!["retention", "hold", "--data-dir", dir, "--tenant", "ws_a", "--reason", ""], "reason"),
        (vec!["retention", "set", "--data-dir", dir, "--tenant", "annal.platform", "--days", "100"], "reserved"),
        (vec!["retention", "run", "--data-dir", dir, "--now", "yesterday"], "--now"),
        (vec!["retention", "run", "--data-dir", "/nonexistent/annal"], "no annal store"),
    ] {
        let out = annal(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stdout));
        assert!(text(&out.stderr).contains(needle), "{args:?}: {}", text(&out.stderr));
    }
    let out = annal(&["retention", "set", "--data-dir", dir, "--tenant", "ws_a", "--tier", "free", "--days", "100"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses both");
    let out = annal(&["verify", "--data-dir", dir]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("ws_a: intact, 3 rows"), "{}", text(&out.stdout));
}

#[test]
fn a_run_deletes_reports_and_verify_says_where_the_chain_starts() {
    let d = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine =
        Engine::builder(d.path()).clock(clock.clone()).signing_key(annal_engine::KeySource::Seed(TEST_SEED)).open().unwrap();
    let mut out = Vec::new();
    retention::set(&engine, "ws_a", Some("free"), None, "u_ops", &mut out).unwrap();
    engine.append("ws_a", &events(500)).unwrap();
    engine.append("ws_b", &events(10)).unwrap();
    clock.advance(91 * DAY);
    engine.append("ws_a", &events(5)).unwrap();

    let mut out = Vec::new();
    let code = retention::run(&engine, &RunArgs { batch_rows: Some(100), ..RunArgs::default() }, &mut out).unwrap();
    let s = text(&out);
    assert_eq!(code, 0, "{s}");
    assert!(s.contains("ws_a: free (90 days), cutoff 2026-01-02T00:00:00Z: deleted 501 rows in 6 batches"), "{s}");
    assert!(s.contains("chain now starts after seq 501, recorded as seq 507, checkpoint at seq 507"), "{s}");
    assert!(s.contains("ws_b: default (400 days)") && s.contains("deleted 0 rows"), "{s}");
    assert!(s.contains("deleted 501 rows of 2 tenant(s)"), "{s}");
    assert_eq!(engine.get("ws_a", 507).unwrap().unwrap().event.action, PURGED_ACTION);

    let mut out = Vec::new();
    let code = annal_server::cli::verify::run(&engine, Some("ws_a"), &mut out, &mut Vec::new()).unwrap();
    assert_eq!(code, 0);
    let s = text(&out);
    assert!(s.contains("ws_a: intact, 6 rows (seq 502..=507)"), "{s}");
    assert!(s.contains("seq 1..=501 deleted by retention"), "{s}");
}

#[test]
fn tenant_delete_needs_confirmation_and_records_the_deletion() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let dir = dir.to_str().unwrap();
    for t in ["ws_gone", "ws_stays"] {
        let out = annal(&["retention", "set", "--data-dir", dir, "--tenant", t, "--tier", "starter"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let delete = |confirm: &str| {
        annal(&["tenant", "delete", "--data-dir", dir, "--tenant", "ws_gone", "--confirm", confirm, "--reason", "account closed"])
    };
    let out = delete("ws_gon");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--confirm"), "{}", text(&out.stderr));
    let out = annal(&["retention", "hold", "--data-dir", dir, "--tenant", "ws_gone", "--reason", "audit"]);
    assert_eq!(out.status.code(), Some(0));
    let out = delete("ws_gone");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("legal hold"), "{}", text(&out.stderr));
    annal(&["retention", "release", "--data-dir", dir, "--tenant", "ws_gone"]);
    let out = delete("ws_gone");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("ws_gone: deleted, final seq 3") && s.contains("recorded as seq 1 of annal.platform"), "{s}");
    let out = annal(&["verify", "--data-dir", dir]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(s.contains("annal.platform: intact, 1 rows") && s.contains("ws_stays: intact") && !s.contains("ws_gone"), "{s}");
    let out = annal(&["query", "--data-dir", dir, "--tenant", "annal.platform"]);
    assert!(text(&out.stdout).contains("annal.tenant.deleted"), "{}", text(&out.stdout));
    let out = delete("ws_gone");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown tenant"), "{}", text(&out.stderr));
}
