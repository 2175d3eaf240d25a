//! The tamper matrix (docs/SECURITY.md): every kind of tampering, done to a
//! real store on disk, and the documented check that detects it — chain
//! verification, or verification against the checkpoint an auditor kept.
//!
//! Each case starts from the same store: tenant `t` (number 1) with 60
//! rows, checkpoints at 40 and 60, the auditor keeping the one at 60.

use std::path::Path;

use annal_engine::chain::{leaf_hash, link_hash};
use annal_engine::record::{decode_event, encode_event, StoredRecord};
use annal_engine::{BreakReason, Cf, ChainHead, Checkpoint, Engine, RawStore, TrustedFailure, VerifyOutcome};

use crate::checkpoint::{extends, fails};
use crate::event;

fn key(seq: u64) -> Vec<u8> {
    [1u64.to_be_bytes(), seq.to_be_bytes()].concat()
}

fn append(engine: &Engine, from: u64, n: u64, tag: &str) {
    let events: Vec<_> = (from..from + n)
        .map(|i| {
            let mut e = event(i);
            e.session_id = Some(tag.into());
            e
        })
        .collect();
    engine.append("t", &events).unwrap();
}

/// The store at `dir`, signing with the tests' key.
fn open(dir: &Path) -> annal_engine::Result<Engine> {
    Engine::builder(dir).signing_key(crate::KEY).open()
}

/// The store every case starts from; returns the auditor's checkpoint (seq 60).
fn build(dir: &Path) -> Checkpoint {
    let engine = open(dir).unwrap();
    append(&engine, 0, 40, "a");
    engine.checkpoint("t").unwrap();
    append(&engine, 40, 20, "a");
    engine.append("u", &[event(0)]).unwrap();
    engine.checkpoint("t").unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn record(raw: &RawStore, seq: u64) -> Vec<u8> {
    raw.entries(Cf::Records).unwrap().into_iter().find(|(k, _)| *k == key(seq)).unwrap().1
}

fn broken(engine: &Engine) -> (u64, BreakReason) {
    match engine.verify("t", ..).unwrap() {
        VerifyOutcome::Broken(b) => (b.seq, b.reason),
        VerifyOutcome::Intact(r) => panic!("chain verification missed it: {r:?}"),
    }
}

/// Rewrites rows `from..=to` with other content, recomputing every leaf,
/// link and the head entry, as someone with write access but no signing key can.
fn rewrite_from(raw: &RawStore, from: u64, to: u64) {
    let mut prev = StoredRecord::decode(&record(raw, from - 1)).unwrap().head;
    let mut last = None;
    for seq in from..=to {
        let mut rec = StoredRecord::decode(&record(raw, seq)).unwrap();
        let mut ev = decode_event(&rec.event).unwrap();
        ev.actor_id = "u_forged".into();
        rec.event = encode_event(&ev);
        rec.leaf = leaf_hash(&rec.event);
        rec.head = link_hash(&prev, seq, rec.recorded_at, &rec.leaf);
        prev = rec.head;
        raw.put(Cf::Records, &key(seq), &rec.encode()).unwrap();
        last = Some(ChainHead { seq, recorded_at: rec.recorded_at, head: rec.head });
    }
    raw.put(Cf::Heads, &1u64.to_be_bytes(), &last.unwrap().encode()).unwrap();
}

#[test]
fn every_kind_of_tampering_is_detected_by_its_documented_check() {
    let root = tempfile::tempdir().unwrap();
    let pristine = root.path().join("pristine");
    let kept = build(&pristine);
    assert_eq!(kept.seq, 60);
    let case = |name: &str| {
        let dir = root.path().join(name);
        copy_dir(&pristine, &dir);
        dir
    };
    let mut matrix = Vec::new();

    // 1. A flipped byte in a stored record: its CRC (chain verification).
    let dir = case("flip");
    {
        let raw = RawStore::open(&dir).unwrap();
        let mut v = record(&raw, 30);
        let mid = v.len() / 2;
        v[mid] ^= 0x04;
        raw.put(Cf::Records, &key(30), &v).unwrap();
    }
    let e = open(&dir).unwrap();
    assert!(matches!(broken(&e), (30, BreakReason::Undecodable(_))));
    assert!(matches!(fails(&e, &kept), TrustedFailure::ChainBroken(_)));
    matrix.push("flipped byte");

    // 2. A deleted middle record: a gap.
    let dir = case("delete");
    RawStore::open(&dir).unwrap().delete(Cf::Records, &key(30)).unwrap();
    let e = open(&dir).unwrap();
    assert_eq!(broken(&e), (30, BreakReason::Gap { found: 31 }));
    matrix.push("deleted middle record");

    // 3. Two records swapped: the link binds each to its seq.
    let dir = case("swap");
    {
        let raw = RawStore::open(&dir).unwrap();
        let (a, b) = (record(&raw, 30), record(&raw, 31));
        raw.put(Cf::Records, &key(30), &b).unwrap();
        raw.put(Cf::Records, &key(31), &a).unwrap();
    }
    let e = open(&dir).unwrap();
    assert_eq!(broken(&e), (30, BreakReason::LinkMismatch));
    matrix.push("two records swapped");

    // 4. A forged record inserted at seq 30 (correct leaf and link from
    //    row 29), the rest moved up by one: row 31 no longer links.
    let dir = case("insert");
    {
        let raw = RawStore::open(&dir).unwrap();
        for seq in (30..=60).rev() {
            raw.put(Cf::Records, &key(seq + 1), &record(&raw, seq)).unwrap();
        }
        let prev = StoredRecord::decode(&record(&raw, 29)).unwrap();
        let mut forged = StoredRecord::decode(&record(&raw, 30)).unwrap();
        let mut ev = decode_event(&forged.event).unwrap();
        ev.action = "iam.role.revoke".into();
        forged.event = encode_event(&ev);
        forged.leaf = leaf_hash(&forged.event);
        forged.head = link_hash(&prev.head, 30, forged.recorded_at, &forged.leaf);
        raw.put(Cf::Records, &key(30), &forged.encode()).unwrap();
    }
    let e = open(&dir).unwrap();
    assert_eq!(broken(&e), (31, BreakReason::LinkMismatch));
    matrix.push("forged record inserted");

    // 5. The tail truncated, head entry rewritten to match: the chain alone
    //    verifies; the kept checkpoint does not.
    let dir = case("truncate");
    {
        let raw = RawStore::open(&dir).unwrap();
        let r50 = StoredRecord::decode(&record(&raw, 50)).unwrap();
        for seq in 51..=60 {
            raw.delete(Cf::Records, &key(seq)).unwrap();
        }
        raw.put(Cf::Heads, &1u64.to_be_bytes(), &ChainHead { seq: 50, recorded_at: r50.recorded_at, head: r50.head }.encode())
            .unwrap();
    }
    let e = open(&dir).unwrap();
    assert!(e.verify("t", ..).unwrap().is_intact(), "the chain alone cannot see it");
    assert_eq!(fails(&e, &kept), TrustedFailure::Truncated { head_seq: 50, trusted_seq: 60 });
    matrix.push("tail truncated");

    // 6. Rewritten from seq 45 without the signing key, every hash
    //    recomputed: the store's own checkpoint at 60 no longer matches, and
    //    with the stored checkpoints gone too, the kept one does not.
    let dir = case("rewrite");
    rewrite_from(&RawStore::open(&dir).unwrap(), 45, 60);
    let e = open(&dir).unwrap();
    assert!(e.verify("t", ..).unwrap().is_intact(), "the chain alone cannot see it");
    assert_eq!(fails(&e, &kept), TrustedFailure::Rewritten { seq: 60 });
    assert!(e.checkpoint("t").is_err() || e.latest_checkpoint("t").unwrap().unwrap().seq == 60, "never signs over a rewrite");
    drop(e);
    RawStore::open(&dir).unwrap().delete(Cf::Checkpoints, &key(60)).unwrap();
    let e = open(&dir).unwrap();
    assert_eq!(fails(&e, &kept), TrustedFailure::Rewritten { seq: 60 });
    matrix.push("rewritten from a point");

    // 7. The data directory rolled back to an older copy (taken at seq 40).
    let old = root.path().join("old");
    {
        let e = open(&old).unwrap();
        append(&e, 0, 40, "a");
        e.checkpoint("t").unwrap();
    }
    let young = root.path().join("young");
    copy_dir(&old, &young);
    let kept_young = {
        let e = open(&young).unwrap();
        append(&e, 40, 20, "a");
        e.checkpoint("t").unwrap()
    };
    let e = open(&old).unwrap();
    assert!(e.verify("t", ..).unwrap().is_intact());
    assert_eq!(fails(&e, &kept_young), TrustedFailure::RolledBack { head_seq: 40, trusted_seq: 60 });
    drop(e);
    matrix.push("rolled back");

    // 8. A fork: two copies diverge after the checkpoint at 40, both go on
    //    with the same key; the auditor of one checks the other.
    let fork = root.path().join("fork");
    copy_dir(&old, &fork);
    {
        let e = open(&fork).unwrap();
        append(&e, 100, 20, "b");
        e.checkpoint("t").unwrap();
    }
    let e = open(&fork).unwrap();
    assert!(e.verify("t", ..).unwrap().is_intact());
    assert_eq!(fails(&e, &kept_young), TrustedFailure::Forked { seq: 60 });
    assert_eq!(extends(&open(&young).unwrap(), &kept_young), annal_engine::Connection::Row);
    matrix.push("fork");

    // And the kept checkpoint itself, altered: its signature.
    let mut forged = kept.clone();
    forged.head.0[0] ^= 1;
    assert_eq!(fails(&open(&pristine).unwrap(), &forged), TrustedFailure::BadSignature);
    assert_eq!(extends(&open(&pristine).unwrap(), &kept), annal_engine::Connection::Row);
    assert_eq!(matrix.len(), 8);
}
