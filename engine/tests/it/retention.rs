//! Retention: tiers, holds, anchored deletion in batches, verification from
//! the anchor, bytes really gone, tenant deletion; a property test against a
//! model of what must be kept.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use annal_engine::retention::{HOLD_ACTION, MAX_DAYS, PURGED_ACTION, RELEASED_ACTION, SET_ACTION, TENANT_DELETED_ACTION};
use annal_engine::{
    Actor, ActorType, BreakReason, Cf, Engine, Error, Event, ManualClock, Policy, Query, RawStore, Retention, RunOptions, Scopes,
    Tier, VerifyOutcome, PLATFORM_TENANT,
};
use proptest::prelude::*;

use crate::{event, T0};

const DAY: u64 = 86_400 * 1_000_000_000;

fn operator() -> Actor {
    Actor { kind: ActorType::User, id: "u_ops".into(), name: None, email: None, on_behalf_of: None }
}

fn open(dir: &Path, clock: &Arc<ManualClock>) -> Engine {
    Engine::builder(dir)
        .clock(clock.clone())
        .default_policy(Policy::off())
        .compression(false)
        .signing_key(crate::KEY)
        .open()
        .unwrap()
}

/// Appends `n` events to `tenant` at the clock's current time; returns their seqs.
fn append_n(engine: &Engine, tenant: &str, n: u64, tag: &str) -> Vec<u64> {
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let mut e = event(i);
            e.metadata = Some(serde_json::json!({ "tag": format!("{tag}-{i:05}") }).as_object().unwrap().clone());
            e
        })
        .collect();
    events.chunks(1000).flat_map(|c| engine.append(tenant, c).unwrap()).map(|r| r.seq).collect()
}

fn seqs(engine: &Engine, tenant: &str) -> Vec<u64> {
    engine.iter(tenant, 1).unwrap().map(|r| r.unwrap().seq).collect()
}

fn intact(engine: &Engine, tenant: &str) {
    let v = engine.verify(tenant, ..).unwrap();
    assert!(v.is_intact(), "{tenant}: {v:?}");
    let check = engine.check_index(tenant).unwrap();
    assert!(check.is_consistent(), "{tenant}: {check:?}");
}

/// The bytes of anchors, policies and holds against testdata/golden/retention.json,
/// which was computed from docs/FORMAT.md without annal's code.
#[test]
fn retention_values_match_the_golden_vectors() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden/retention.json");
    let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let unhex = |s: &serde_json::Value| {
        let s = s.as_str().unwrap();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>()
    };
    let a = &g["anchor"];
    let n = |k: &str| a[k].as_u64().unwrap();
    let anchor = annal_engine::RetentionAnchor {
        seq: n("seq"),
        recorded_at: n("recorded_at"),
        head: annal_engine::Hash::from_hex(a["head"].as_str().unwrap()).unwrap(),
        rows_deleted: n("rows_deleted"),
        retention_days: n("retention_days") as u32,
        cutoff: n("cutoff"),
        deleted_at: n("deleted_at"),
        announced_seq: n("announced_seq"),
    };
    assert_eq!(anchor.encode(), unhex(&a["bytes"]));
    assert_eq!(annal_engine::RetentionAnchor::decode(&unhex(&a["bytes"])).unwrap(), anchor);
    for p in g["retention_policies"].as_array().unwrap() {
        let days = p["days"].as_u64().unwrap() as u32;
        let r = match p["tier"].as_str().unwrap() {
            "custom" => Retention::days_checked(days).unwrap(),
            t => Retention::Tier(Tier::parse(t).unwrap()),
        };
        assert_eq!(r.days(), days);
        assert_eq!(r.encode(p["set_at"].as_u64().unwrap()), unhex(&p["bytes"]), "{p}");
        assert_eq!(Retention::decode(&unhex(&p["bytes"])).unwrap(), r);
    }
    let h = &g["legal_hold"];
    let hold = annal_engine::LegalHold { reason: h["reason"].as_str().unwrap().into(), since: h["since"].as_u64().unwrap() };
    assert_eq!(hold.encode(), unhex(&h["bytes"]));
    assert_eq!(annal_engine::LegalHold::decode(&unhex(&h["bytes"])).unwrap(), hold);
    // The keys, as the store holds them: the tenants family of a fresh store.
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    {
        let engine = open(dir.path(), &clock);
        for i in 0..7 {
            engine.append(&format!("t{i}"), &[event(0)]).unwrap();
        }
        engine.set_retention("t6", Retention::Tier(Tier::Free), operator()).unwrap();
        engine.place_hold("t6", "x", operator()).unwrap();
        engine.set_retention("t5", Retention::Tier(Tier::Free), operator()).unwrap();
        clock.advance(100 * DAY);
        engine.run_retention(&RunOptions::default()).unwrap();
    }
    let keys: Vec<Vec<u8>> =
        RawStore::open(dir.path()).unwrap().entries(Cf::Tenants).unwrap().into_iter().map(|(k, _)| k).collect();
    assert!(keys.contains(&unhex(&g["keys"]["retention_policy_of_tenant_7"])));
    assert!(keys.contains(&unhex(&g["keys"]["legal_hold_of_tenant_7"])));
    assert!(!keys.contains(&unhex(&g["keys"]["anchor_of_tenant_7"])), "held: nothing deleted");
    assert!(keys.contains(&[&[b'a'][..], &6u64.to_be_bytes()].concat()), "t5 (number 6) is on the free tier");
    assert!(!keys.contains(&[&[b'a'][..], &1u64.to_be_bytes()].concat()), "t0 is on the default tier");
}

#[test]
fn a_run_deletes_exactly_the_expired_prefix_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    engine.set_retention("free", Retention::Tier(Tier::Free), operator()).unwrap();
    append_n(&engine, "free", 3000, "old");
    append_n(&engine, "dflt", 3000, "old");
    clock.advance(89 * DAY);
    let young = append_n(&engine, "free", 10, "young");
    clock.advance(2 * DAY); // day 91: the first rows are 91 days old, the young ones 2.

    // A dry run counts and changes nothing; looking ahead is for dry runs only.
    let dry = engine.run_retention(&RunOptions { dry_run: true, ..RunOptions::default() }).unwrap();
    assert_eq!(dry.rows, 3001, "the set row and 3000 events");
    assert_eq!(seqs(&engine, "free").len(), 3011);
    let ahead = Some(T0 + 500 * DAY);
    match engine.run_retention(&RunOptions { now: ahead, ..RunOptions::default() }) {
        Err(Error::InvalidRetention(fe)) => assert_eq!(fe.field, "now"),
        other => panic!("{other:?}"),
    }
    let look = engine.run_retention(&RunOptions { now: ahead, dry_run: true, ..RunOptions::default() }).unwrap();
    assert_eq!(look.tenants.iter().map(|t| t.rows).collect::<Vec<_>>(), vec![3000, 3011]);

    let report = engine.run_retention(&RunOptions { batch_rows: 500, ..RunOptions::default() }).unwrap();
    let free = report.tenants.iter().find(|t| t.tenant == "free").unwrap();
    assert_eq!((free.rows, free.batches), (3001, 7));
    assert_eq!(report.tenants.iter().find(|t| t.tenant == "dflt").unwrap().rows, 0);
    let anchor = free.anchor.unwrap();
    assert_eq!((anchor.seq, anchor.rows_deleted, anchor.announced_seq, anchor.retention_days), (3001, 3001, 3001, 90));

    // What remains: the young rows and the purged row, which carries the anchor.
    let purged = free.purged.unwrap();
    assert_eq!(seqs(&engine, "free"), [young.clone(), vec![purged.seq]].concat());
    let row = engine.get("free", purged.seq).unwrap().unwrap();
    assert_eq!(row.event.action, PURGED_ACTION);
    let m: serde_json::Value = serde_json::from_str(row.event.metadata.as_deref().unwrap()).unwrap();
    assert_eq!((m["from_seq"].as_u64(), m["through_seq"].as_u64(), m["rows"].as_u64()), (Some(1), Some(3001), Some(3001)));
    assert_eq!(m["head"], anchor.head.to_hex());
    assert_eq!(m["tier"], "free");
    for s in [1, 2, 3000, 3001] {
        assert!(engine.get("free", s).unwrap().is_none());
    }
    intact(&engine, "free");
    intact(&engine, "dflt");
    match engine.verify("free", ..).unwrap() {
        VerifyOutcome::Intact(r) => {
            assert_eq!((r.first_seq, r.count), (3002, 11));
            assert_eq!(r.anchor, Some(anchor));
        }
        other => panic!("{other:?}"),
    }
    // Ranges inside and across the deleted prefix.
    assert!(engine.verify("free", 5..=10).unwrap().is_intact());
    assert!(engine.verify("free", 2000..=3005).unwrap().is_intact());

    // Queries over what remains: every index, no error for deleted rows.
    let all = engine.query("free", &Query::default(), 1000, None).unwrap();
    assert_eq!(all.records.len(), 11);
    let by_actor = engine.query("free", &Query { actor: Some("u_1".into()), ..Query::default() }, 1000, None).unwrap();
    assert_eq!(by_actor.records.len(), 2, "{:?}", by_actor.explain);
    let window = Query { from: Some(T0), to: Some(T0 + 90 * DAY), ..Query::default() };
    assert_eq!(engine.query("free", &window, 1000, None).unwrap().records.len(), 10);

    // A second run finds nothing to do.
    let again = engine.run_retention(&RunOptions::default()).unwrap();
    assert_eq!(again.rows, 0);
    assert!(again.tenants.iter().all(|t| t.purged.is_none()));

    // Reopened, the chain goes on from its head.
    drop(engine);
    let engine = open(dir.path(), &clock);
    intact(&engine, "free");
    let r = engine.append("free", &[event(1)]).unwrap();
    assert_eq!(r[0].seq, purged.seq + 1);
    intact(&engine, "free");
}

#[test]
fn holds_keep_everything_until_released_and_changes_are_rows() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    append_n(&engine, "t", 100, "x");
    let set = engine.set_retention("t", Retention::days_checked(120).unwrap(), operator()).unwrap();
    let hold = engine.place_hold("t", "litigation 2026-17", operator()).unwrap();
    assert_eq!(engine.retention("t").unwrap().hold.unwrap().reason, "litigation 2026-17");
    assert_eq!(engine.get("t", set.seq).unwrap().unwrap().event.action, SET_ACTION);
    assert_eq!(engine.get("t", hold.seq).unwrap().unwrap().event.action, HOLD_ACTION);
    clock.advance(MAX_DAYS as u64 * DAY);
    let report = engine.run_retention(&RunOptions::default()).unwrap();
    assert_eq!(report.rows, 0);
    assert!(report.tenants[0].hold.is_some());
    assert_eq!(seqs(&engine, "t").len(), 102);
    assert!(matches!(engine.delete_tenant("t", "closed", operator()), Err(Error::OnHold { .. })));

    let released = engine.release_hold("t", operator()).unwrap();
    assert!(matches!(engine.release_hold("t", operator()), Err(Error::NoHold)));
    let report = engine.run_retention(&RunOptions::default()).unwrap();
    assert_eq!(report.rows, 102, "all but the release row");
    let actions: Vec<String> = engine.iter("t", 1).unwrap().map(|r| r.unwrap().event.action).collect();
    assert_eq!(actions, [RELEASED_ACTION, PURGED_ACTION]);
    assert_eq!((set.seq, hold.seq, released.seq), (101, 102, 103));
    intact(&engine, "t");

    // Bad settings name their field and change nothing.
    for (r, field) in [
        (Retention::days_checked(89).map(|_| ()), "days"),
        (engine.place_hold("t", " ", operator()).map(|_| ()), "reason"),
        (engine.place_hold("t", "a\nb", operator()).map(|_| ()), "reason"),
        (engine.set_retention("t", Retention::Days(3000), operator()).map(|_| ()), "days"),
    ] {
        match r {
            Err(Error::InvalidRetention(fe)) => assert_eq!(fe.field, field),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seqs(&engine, "t").len(), 2);
    // The events name the change.
    drop(engine);
    let engine = open(dir.path(), &clock);
    assert_eq!(engine.retention("t").unwrap().retention, Retention::Days(120));
}

#[test]
fn verification_starts_at_the_anchor_and_a_prefix_gone_without_one_is_broken() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    {
        let engine = open(dir.path(), &clock);
        engine.set_retention("t", Retention::Tier(Tier::Free), operator()).unwrap();
        append_n(&engine, "t", 50, "old");
        append_n(&engine, "u", 50, "old");
        clock.advance(100 * DAY);
        append_n(&engine, "t", 5, "new");
        append_n(&engine, "u", 5, "new");
        engine.run_retention(&RunOptions::default()).unwrap();
        intact(&engine, "t");
    }
    let anchor_key = |n: u64| [&[b'a'][..], &n.to_be_bytes()].concat();
    let raw = RawStore::open(dir.path()).unwrap();
    let saved = raw.entries(Cf::Tenants).unwrap().into_iter().find(|(k, _)| *k == anchor_key(1)).unwrap().1;

    // Without its anchor, t's first row is a gap after genesis.
    raw.delete(Cf::Tenants, &anchor_key(1)).unwrap();
    drop(raw);
    let verdict = |dir: &Path| Engine::open(dir).unwrap().verify("t", ..).unwrap();
    match verdict(dir.path()) {
        VerifyOutcome::Broken(b) => assert_eq!((b.seq, b.reason), (1, BreakReason::Gap { found: 52 })),
        other => panic!("{other:?}"),
    }
    // An anchor naming another head: the first remaining row does not link.
    let raw = RawStore::open(dir.path()).unwrap();
    let mut forged = saved.clone();
    let mut a = annal_engine::RetentionAnchor::decode(&forged).unwrap();
    a.head = annal_engine::Hash([1; 32]);
    forged = a.encode();
    raw.put(Cf::Tenants, &anchor_key(1), &forged).unwrap();
    drop(raw);
    match verdict(dir.path()) {
        VerifyOutcome::Broken(b) => assert_eq!((b.seq, b.reason), (52, BreakReason::LinkMismatch)),
        other => panic!("{other:?}"),
    }
    // With the true anchor back, rows gone after it are a gap.
    let raw = RawStore::open(dir.path()).unwrap();
    raw.put(Cf::Tenants, &anchor_key(1), &saved).unwrap();
    drop(raw);
    assert!(verdict(dir.path()).is_intact());
    let raw = RawStore::open(dir.path()).unwrap();
    raw.delete(Cf::Records, &crate_key(1, 52)).unwrap();
    drop(raw);
    match verdict(dir.path()) {
        VerifyOutcome::Broken(b) => assert_eq!((b.seq, b.reason), (52, BreakReason::Gap { found: 53 })),
        other => panic!("{other:?}"),
    }
    // u (number 2) was never touched.
    assert!(Engine::open(dir.path()).unwrap().verify("u", ..).unwrap().is_intact());
}

fn crate_key(n: u64, seq: u64) -> Vec<u8> {
    [n.to_be_bytes(), seq.to_be_bytes()].concat()
}

/// Bytes of the SST files in `dir`.
fn sst_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn deleted_rows_leave_every_file_and_their_idempotency_keys_go() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    engine.set_retention("t", Retention::Tier(Tier::Free), operator()).unwrap();
    let mut old = event(1);
    old.idempotency_key = Some("idem-old".into());
    engine.append("t", &[old.clone()]).unwrap();
    append_n(&engine, "t", 2000, "gonemarker");
    clock.advance(91 * DAY);
    append_n(&engine, "t", 20, "keptmarker");
    drop(engine);
    // Reopening flushes the WAL into (uncompressed) SST files, as a
    // long-running store has its rows.
    let engine = open(dir.path(), &clock);
    assert!(!crate::files_with(dir.path(), b"gonemarker-01999").is_empty());
    let before = sst_bytes(dir.path());
    engine.run_retention(&RunOptions::default()).unwrap();
    drop(engine);
    let after = sst_bytes(dir.path());
    assert!(after * 5 < before, "the space comes back: {before} bytes of SST files before, {after} after");
    for i in [0, 1000, 1999] {
        let needle = format!("gonemarker-{i:05}");
        let hits = crate::files_with(dir.path(), needle.as_bytes());
        assert!(hits.is_empty(), "{needle} still in {hits:?}");
    }
    assert!(!crate::files_with(dir.path(), b"keptmarker-00019").is_empty(), "the kept rows are readable in the files");
    let raw = RawStore::open(dir.path()).unwrap();
    assert!(raw.entries(Cf::Idempotency).unwrap().is_empty());
    let records = raw.entries(Cf::Records).unwrap();
    assert_eq!(records.len(), 21, "20 kept rows and the purged row");
    drop(raw);
    // The key may be used again: a new row, not a replay of a deleted one.
    let engine = open(dir.path(), &clock);
    let r = engine.append("t", &[old]).unwrap();
    assert!(!r[0].replayed);
}

#[test]
fn a_chain_deleted_to_its_last_row_reopens_and_goes_on() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    engine.set_retention("t", Retention::Tier(Tier::Free), operator()).unwrap();
    append_n(&engine, "t", 30, "x");
    clock.advance(91 * DAY);
    engine.run_retention(&RunOptions::default()).unwrap();
    clock.advance(91 * DAY);
    // Now the purged row itself is due.
    let r = engine.run_retention(&RunOptions::default()).unwrap();
    assert_eq!(r.rows, 1);
    assert_eq!(seqs(&engine, "t"), vec![33]);
    drop(engine);
    // A run that deleted the last row and died before recording it: the
    // chain has no row at all, the anchor names its head.
    let raw = RawStore::open(dir.path()).unwrap();
    let (k, v) = raw.entries(Cf::Records).unwrap().pop().unwrap();
    let last = annal_engine::record::StoredRecord::decode(&v).unwrap();
    let anchor_key = [&[b'a'][..], &1u64.to_be_bytes()].concat();
    let old = raw.entries(Cf::Tenants).unwrap().into_iter().find(|(k, _)| *k == anchor_key).unwrap().1;
    let mut a = annal_engine::RetentionAnchor::decode(&old).unwrap();
    (a.seq, a.recorded_at, a.head, a.rows_deleted) = (33, last.recorded_at, last.head, 33);
    raw.put(Cf::Tenants, &anchor_key, &a.encode()).unwrap();
    raw.delete(Cf::Records, &k).unwrap();
    for key in annal_engine::index::entry_keys(1, &annal_engine::Record::from_stored(33, &v).unwrap()) {
        raw.delete(Cf::Index, &key).unwrap();
    }
    drop(raw);
    let engine = open(dir.path(), &clock);
    intact(&engine, "t");
    assert!(seqs(&engine, "t").is_empty());
    // The next run records it.
    let r = engine.run_retention(&RunOptions::default()).unwrap();
    let p = r.tenants[0].purged.unwrap();
    assert_eq!((r.rows, p.seq), (0, 34));
    let m: serde_json::Value =
        serde_json::from_str(engine.get("t", 34).unwrap().unwrap().event.metadata.as_deref().unwrap()).unwrap();
    assert_eq!((m["from_seq"].as_u64(), m["through_seq"].as_u64()), (Some(33), Some(33)));
    assert_eq!(engine.append("t", &[event(0)]).unwrap()[0].seq, 35);
    intact(&engine, "t");
}

#[test]
fn deleting_a_tenant_removes_every_key_and_is_recorded_in_the_platform_chain() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    engine.set_retention("gone", Retention::Tier(Tier::Free), operator()).unwrap();
    let mut e = event(3);
    e.idempotency_key = Some("k1".into());
    engine.append("gone", &[e]).unwrap();
    append_n(&engine, "gone", 500, "closedmarker");
    engine.place_hold("gone", "audit", operator()).unwrap();
    engine.release_hold("gone", operator()).unwrap();
    append_n(&engine, "stays", 10, "x");
    let limits = annal_engine::KeyLimits { per_minute: 5, ..Default::default() };
    let (gone_key, token) = engine.create_api_key_with_limits("gone", Scopes::INGEST, "ci", limits, operator()).unwrap();
    // A month's request counts, of the tenant and of its key.
    let usage = |key: Option<String>| annal_engine::Usage { tenant: "gone".into(), key, month: 675, requests: 9 };
    engine.save_usage(&[usage(None), usage(Some(gone_key.id.clone()))]).unwrap();
    assert_eq!(engine.usage(675).unwrap().len(), 2);
    assert_eq!(engine.api_key_limits("gone", &gone_key.id).unwrap(), limits);
    let (_, kept) = engine.create_api_key("stays", Scopes::READ, "ci", operator()).unwrap();
    let head = engine.head("gone").unwrap();

    // Clients can neither write the platform chain nor any `annal.` name.
    assert!(matches!(engine.append(PLATFORM_TENANT, &[event(0)]), Err(Error::InvalidTenant(_))));
    assert!(matches!(engine.append("annal.x", &[event(0)]), Err(Error::InvalidTenant(_))));
    assert!(matches!(engine.delete_tenant("nobody", "closed", operator()), Err(Error::UnknownTenant)));

    let d = engine.delete_tenant("gone", "account closed", operator()).unwrap();
    assert_eq!((d.final_head, d.rows_removed), (head, head.seq));
    assert!(!engine.tenants().contains(&"gone".to_string()));
    assert!(matches!(engine.get("gone", 1), Err(Error::UnknownTenant)));
    let row = engine.get(PLATFORM_TENANT, d.receipt.seq).unwrap().unwrap();
    assert_eq!(row.event.action, TENANT_DELETED_ACTION);
    let m: serde_json::Value = serde_json::from_str(row.event.metadata.as_deref().unwrap()).unwrap();
    assert_eq!((m["tenant"].as_str(), m["final_seq"].as_u64()), (Some("gone"), Some(head.seq)));
    assert_eq!(m["final_head"], head.head.to_hex());
    assert!(engine.verify(PLATFORM_TENANT, ..).unwrap().is_intact());
    // Retention never touches the platform chain.
    clock.advance(3000 * DAY);
    let r = engine.run_retention(&RunOptions::default()).unwrap();
    assert!(r.tenants.iter().all(|t| t.tenant != PLATFORM_TENANT));
    assert!(engine.get(PLATFORM_TENANT, 1).unwrap().is_some());
    // Its API keys went with it; other tenants' stay.
    assert!(engine.authenticate(&token).is_err());
    assert_eq!(engine.authenticate(&kept).unwrap().tenant, "stays");
    drop(engine);

    // Nothing keyed by the tenant's number (1) is left, in any family, nor in the files.
    let raw = RawStore::open(dir.path()).unwrap();
    let one = 1u64.to_be_bytes();
    for cf in Cf::ALL {
        for (k, v) in raw.entries(cf).unwrap() {
            let ours = k.starts_with(&one)
                || (cf == Cf::Tenants && (k.get(1..9) == Some(&one[..]) || k == b"ngone"))
                // An entry `t ‖ tenant ‖ id`, a key's limits `q ‖ tenant ‖ id`, a
                // month's usage `u ‖ tenant ‖ …`, or a lookup `i ‖ id` → `0x01 ‖ tenant ‖ crc`.
                || (cf == Cf::ApiKeys && (k.get(1..9) == Some(&one[..]) || (k[0] == b'i' && v.get(1..9) == Some(&one[..]))));
            assert!(!ours, "{} still holds {k:?}", cf.name());
        }
    }
    drop(raw);
    assert!(crate::files_with(dir.path(), b"closedmarker-00007").is_empty());

    // The name may be used again: a new chain from seq 1.
    let engine = open(dir.path(), &clock);
    assert_eq!(engine.append("gone", &[event(0)]).unwrap()[0].seq, 1);
    intact(&engine, "gone");
    intact(&engine, "stays");
    assert_eq!(engine.retention("gone").unwrap().retention, Retention::default());
}

#[test]
fn the_daemon_runs_at_start_and_stops_promptly() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    engine.set_retention("t", Retention::Tier(Tier::Free), operator()).unwrap();
    append_n(&engine, "t", 100, "x");
    clock.advance(91 * DAY);
    let (tx, rx) = std::sync::mpsc::channel();
    let daemon = annal_engine::RetentionDaemon::start(
        engine.clone(),
        std::time::Duration::from_secs(3600),
        move |r| {
            let _ = tx.send(r.map(|r| r.rows));
        },
        |_, _| {},
    )
    .unwrap();
    assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap().unwrap(), 101);
    let started = std::time::Instant::now();
    daemon.stop();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "stop waited for the interval");
    assert_eq!(seqs(&engine, "t"), vec![102]);
}

#[test]
fn verification_beside_a_run_sees_no_damage() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    engine.set_retention("t", Retention::Tier(Tier::Free), operator()).unwrap();
    append_n(&engine, "t", 70_000, "x");
    clock.advance(91 * DAY);
    append_n(&engine, "t", 10, "y");
    let done = std::sync::atomic::AtomicBool::new(false);
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            let opts = RunOptions { batch_rows: 1000, idle_ratio: 0.0, compact: false, ..RunOptions::default() };
            engine.run_retention(&opts).unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        // The walk pauses after 65,536 rows until the run has deleted past
        // where it stands: the rows ahead of it vanish under it.
        let mut paused = false;
        engine
            .verify_with_progress("t", .., &mut |n| {
                if n >= 65_536 && !paused {
                    paused = true;
                    let started = std::time::Instant::now();
                    while !done.load(std::sync::atomic::Ordering::SeqCst)
                        && started.elapsed() < std::time::Duration::from_secs(60)
                    {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                }
            })
            .unwrap()
    });
    match outcome {
        VerifyOutcome::Intact(r) => assert_eq!((r.first_seq, r.count), (70_002, 11)),
        other => panic!("{other:?}"),
    }
    intact(&engine, "t");
}

#[test]
fn a_daemon_stopped_mid_run_records_what_it_deleted_and_the_next_run_goes_on() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    engine.set_retention("t", Retention::Tier(Tier::Free), operator()).unwrap();
    append_n(&engine, "t", 20_000, "x");
    clock.advance(91 * DAY);
    let daemon =
        annal_engine::RetentionDaemon::start(engine.clone(), std::time::Duration::from_secs(3600), |_| {}, |_, _| {}).unwrap();
    let started = std::time::Instant::now();
    while engine.retention("t").unwrap().anchor.is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "no batch was written");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    daemon.stop();
    let a = engine.retention("t").unwrap().anchor.unwrap();
    assert!(a.seq < 20_001, "stopped before the end: {a:?}");
    assert_eq!(a.announced_seq, a.seq, "what was deleted is recorded");
    intact(&engine, "t");
    let r = engine.run_retention(&RunOptions::default()).unwrap();
    assert_eq!(r.rows, 20_001 - a.seq, "the rest (the purged row is young)");
    intact(&engine, "t");
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Op {
    Append { tenant: usize, rows: u64 },
    Advance { days: u64 },
    Set { tenant: usize, retention: Retention },
    Hold { tenant: usize },
    Release { tenant: usize },
    Run { batch_rows: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let retention = prop_oneof![
        proptest::sample::select(Tier::ALL.to_vec()).prop_map(Retention::Tier),
        (90u32..=2555).prop_map(Retention::Days),
    ];
    prop_oneof![
        4 => (0..3usize, 1..40u64).prop_map(|(tenant, rows)| Op::Append { tenant, rows }),
        4 => (0..800u64).prop_map(|days| Op::Advance { days }),
        2 => (0..3usize, retention).prop_map(|(tenant, retention)| Op::Set { tenant, retention }),
        1 => (0..3usize).prop_map(|tenant| Op::Hold { tenant }),
        1 => (0..3usize).prop_map(|tenant| Op::Release { tenant }),
        3 => (1..50usize).prop_map(|batch_rows| Op::Run { batch_rows }),
    ]
}

const TENANTS: [&str; 3] = ["p0", "p1", "p2"];

/// What each tenant's chain must hold: seq → recorded_at, its policy and hold.
#[derive(Default)]
struct Model {
    rows: [BTreeMap<u64, u64>; 3],
    retention: [Retention; 3],
    held: [bool; 3],
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random tiers, append times, holds, tier changes and runs: no row is
    /// deleted before its tenant's retention expires, every expired row is
    /// gone after one run, a second run deletes nothing, and every chain
    /// verifies from its anchor.
    #[test]
    fn retention_keeps_exactly_what_has_not_expired(ops in proptest::collection::vec(op(), 1..40)) {
        let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
        let engine = open(dir.path(), &clock);
        let mut m = Model::default();
        let now = || annal_engine::Clock::now_ns(&*clock);
        for op in ops {
            match op {
                Op::Append { tenant, rows } => {
                    let events: Vec<Event> = (0..rows).map(event).collect();
                    for r in engine.append(TENANTS[tenant], &events).unwrap() {
                        m.rows[tenant].insert(r.seq, r.recorded_at);
                    }
                }
                Op::Advance { days } => clock.advance(days * DAY + 1),
                Op::Set { tenant, retention } => {
                    let r = engine.set_retention(TENANTS[tenant], retention, operator()).unwrap();
                    m.rows[tenant].insert(r.seq, r.recorded_at);
                    m.retention[tenant] = retention;
                }
                Op::Hold { tenant } => {
                    let r = engine.place_hold(TENANTS[tenant], "case", operator()).unwrap();
                    m.rows[tenant].insert(r.seq, r.recorded_at);
                    m.held[tenant] = true;
                }
                Op::Release { tenant } => match engine.release_hold(TENANTS[tenant], operator()) {
                    Ok(r) => {
                        prop_assert!(m.held[tenant]);
                        m.rows[tenant].insert(r.seq, r.recorded_at);
                        m.held[tenant] = false;
                    }
                    Err(Error::NoHold) | Err(Error::UnknownTenant) => prop_assert!(!m.held[tenant]),
                    Err(e) => panic!("{e}"),
                },
                Op::Run { batch_rows } => {
                    let at = now();
                    // Compaction is covered elsewhere; it only costs time here.
                    let report = engine.run_retention(&RunOptions { batch_rows, compact: false, ..RunOptions::default() }).unwrap();
                    for t in &report.tenants {
                        let i = TENANTS.iter().position(|n| *n == t.tenant).unwrap();
                        prop_assert!(t.error.is_none(), "{:?}", t.error);
                        if !m.held[i] {
                            let cutoff = m.retention[i].cutoff(at);
                            m.rows[i].retain(|_, ra| *ra >= cutoff);
                        }
                        if let Some(p) = t.purged {
                            m.rows[i].insert(p.seq, p.recorded_at);
                        }
                    }
                    let again = engine.run_retention(&RunOptions::default()).unwrap();
                    prop_assert_eq!(again.rows, 0, "a second run deleted rows");
                    prop_assert!(again.tenants.iter().all(|t| t.purged.is_none()));
                }
            }
            for (i, t) in TENANTS.iter().enumerate() {
                if engine.tenants().iter().any(|n| n == t) {
                    let got: HashSet<u64> = seqs(&engine, t).into_iter().collect();
                    let want: HashSet<u64> = m.rows[i].keys().copied().collect();
                    prop_assert_eq!(&got, &want, "{}", t);
                    let v = engine.verify(t, ..).unwrap();
                    prop_assert!(v.is_intact(), "{}: {:?}", t, v);
                }
            }
        }
        for t in engine.tenants() {
            prop_assert!(engine.check_index(&t).unwrap().is_consistent());
        }
    }
}

const CRASH_CHILD_ENV: &str = "ANNAL_RETENTION_CRASH_CHILD";
/// Rows of each tenant the crash test's setup makes due, the set row included.
const CRASH_DUE: u64 = 12_001;
const CRASH_BATCH: usize = 64;

/// Runs retention in a loop in small batches while a thread appends,
/// printing `tenant seq head` per acknowledged row. Does nothing unless run
/// as the child of [`sigkill_during_a_run_leaves_every_batch_whole`].
#[test]
fn retention_crash_child() {
    let Ok(dir) = std::env::var(CRASH_CHILD_ENV) else { return };
    let clock = Arc::new(ManualClock::new(T0 + 200 * DAY));
    let engine = open(Path::new(&dir), &clock);
    std::thread::scope(|s| {
        let appender = engine.clone();
        s.spawn(move || {
            for i in 0u64.. {
                let tenant = if i % 2 == 0 { "a" } else { "b" };
                crate::kill::print_acks(tenant, &appender.append(tenant, &[event(i), event(i + 1)]).unwrap());
            }
        });
        loop {
            engine.run_retention(&RunOptions { batch_rows: CRASH_BATCH, ..RunOptions::default() }).unwrap();
        }
    });
}

#[test]
fn sigkill_during_a_run_leaves_every_batch_whole() {
    let dir = tempfile::tempdir().unwrap();
    {
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        for t in ["a", "b"] {
            engine.set_retention(t, Retention::Tier(Tier::Free), operator()).unwrap();
            append_n(&engine, t, CRASH_DUE - 1, "due");
        }
    }
    let clock = Arc::new(ManualClock::new(T0 + 200 * DAY));
    let mut acked: BTreeMap<(String, u64), annal_engine::Hash> = BTreeMap::new();
    let mut moments = crate::kill::Moments::new(0x2545_f491_4f6c_dd1d);
    let mut seen_partial = false;
    for round in 0..10 {
        let after = moments.next(100, 250);
        for (t, s, h) in crate::kill::run_and_kill("retention::retention_crash_child", CRASH_CHILD_ENV, dir.path(), after) {
            acked.insert((t, s), h);
        }

        let engine = open(dir.path(), &clock);
        for t in ["a", "b"] {
            intact(&engine, t);
            let status = engine.retention(t).unwrap();
            let floor = status.anchor.map_or(0, |a| a.seq);
            // Batches take 64 rows from seq 1 until the due rows run out:
            // an anchor anywhere else would be half a batch.
            assert!(floor.is_multiple_of(CRASH_BATCH as u64) || floor == CRASH_DUE, "round {round}: {t} anchor at {floor}");
            seen_partial |= floor > 0 && floor < CRASH_DUE;
            let first = engine.iter(t, 1).unwrap().next().map(|r| r.unwrap().seq);
            let head = engine.head(t).unwrap().seq;
            assert!(first.is_none_or(|f| f == floor + 1), "round {round}: {t} starts at {first:?}, anchor {floor}");
            for ((tt, s), h) in acked.range((t.to_string(), floor + 1)..(t.to_string(), u64::MAX)) {
                assert_eq!(tt, t);
                let row = engine.get(t, *s).unwrap().unwrap_or_else(|| panic!("round {round}: acknowledged {t}#{s} lost"));
                assert_eq!(row.head, *h);
            }
            assert!(head >= floor);
        }
    }
    // A run in the parent finishes the work and records it.
    let engine = open(dir.path(), &clock);
    engine.run_retention(&RunOptions::default()).unwrap();
    for t in ["a", "b"] {
        intact(&engine, t);
        let a = engine.retention(t).unwrap().anchor.unwrap();
        assert!(a.seq >= CRASH_DUE && a.announced_seq == a.seq, "{t}: {a:?}");
        assert_eq!(engine.iter(t, 1).unwrap().next().unwrap().unwrap().seq, a.seq + 1);
    }
    assert!(seen_partial, "no kill landed in the middle of a run");
}
