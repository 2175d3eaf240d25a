//! Verification against damage and tampering: random stores verify; any
//! changed byte of a stored record or head is named by its seq; deliberate
//! edits by someone who recomputes checksums are caught by the hash chain.

use std::path::Path;

use annal_engine::record::{encode_event, StoredRecord};
use annal_engine::{BreakReason, Cf, Engine, RawStore, VerifyOutcome};
use proptest::prelude::*;

use crate::event;

/// Tenant numbers are assigned in order of first append, from 1.
fn key(tenant_number: u64, seq: u64) -> Vec<u8> {
    let mut k = tenant_number.to_be_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// A store with `n` rows in tenant `t` (number 1) and 5 in tenant `u` (number 2).
fn build(dir: &Path, n: u64) {
    let engine = Engine::open(dir).unwrap();
    let events: Vec<_> = (0..n).map(event).collect();
    for chunk in events.chunks(7) {
        engine.append("t", chunk).unwrap();
    }
    engine.append("u", &(0..5).map(event).collect::<Vec<_>>()).unwrap();
}

fn verify_t(dir: &Path) -> VerifyOutcome {
    let engine = Engine::open(dir).unwrap();
    assert!(engine.verify("u", ..).unwrap().is_intact(), "damage to t must not affect u");
    engine.verify("t", ..).unwrap()
}

fn broken_at(outcome: VerifyOutcome) -> (u64, BreakReason) {
    match outcome {
        VerifyOutcome::Broken(b) => (b.seq, b.reason),
        VerifyOutcome::Intact(r) => panic!("damage not detected: {r:?}"),
    }
}

fn rewrite(dir: &Path, seq: u64, f: impl FnOnce(&mut StoredRecord)) {
    let raw = RawStore::open(dir).unwrap();
    let k = key(1, seq);
    let (_, v) = raw.entries(Cf::Records).unwrap().into_iter().find(|(kk, _)| *kk == k).unwrap();
    let mut rec = StoredRecord::decode(&v).unwrap();
    f(&mut rec);
    raw.put(Cf::Records, &k, &rec.encode()).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_batches_verify(batches in prop::collection::vec((0..3usize, 1..25usize), 1..12)) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let mut expected = [0u64; 3];
        let mut i = 0;
        for (tenant, size) in batches {
            let events: Vec<_> = (0..size).map(|_| { i += 1; event(i) }).collect();
            let receipts = engine.append(&format!("t{tenant}"), &events).unwrap();
            for r in receipts {
                expected[tenant] += 1;
                prop_assert_eq!(r.seq, expected[tenant]);
            }
        }
        for t in engine.tenants() {
            prop_assert!(engine.verify(&t, ..).unwrap().is_intact());
        }
    }

    #[test]
    fn any_changed_byte_of_a_record_is_named(n in 2..40u64, pick in any::<u64>(), offset in any::<usize>(), xor in 1..=255u8) {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), n);
        let seq = 1 + pick % n;
        {
            let raw = RawStore::open(dir.path()).unwrap();
            let k = key(1, seq);
            let (_, mut v) = raw.entries(Cf::Records).unwrap().into_iter().find(|(kk, _)| *kk == k).unwrap();
            let at = offset % v.len();
            v[at] ^= xor;
            raw.put(Cf::Records, &k, &v).unwrap();
        }
        let (at, _) = broken_at(verify_t(dir.path()));
        prop_assert_eq!(at, seq);
    }

    #[test]
    fn any_changed_byte_of_a_head_entry_is_named(n in 1..30u64, offset in any::<usize>(), xor in 1..=255u8) {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), n);
        {
            let raw = RawStore::open(dir.path()).unwrap();
            let k = 1u64.to_be_bytes();
            let (_, mut v) = raw.entries(Cf::Heads).unwrap().into_iter().find(|(kk, _)| kk[..] == k[..]).unwrap();
            let at = offset % v.len();
            v[at] ^= xor;
            raw.put(Cf::Heads, &k, &v).unwrap();
        }
        let (at, _) = broken_at(verify_t(dir.path()));
        prop_assert_eq!(at, n);
    }
}

#[test]
fn an_edited_event_with_a_recomputed_checksum_fails_its_leaf() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 10);
    rewrite(dir.path(), 4, |r| {
        let mut ev = annal_engine::record::decode_event(&r.event).unwrap();
        ev.actor_id = "someone_else".into();
        r.event = encode_event(&ev);
    });
    assert_eq!(broken_at(verify_t(dir.path())), (4, BreakReason::LeafMismatch));
}

#[test]
fn an_edited_event_with_a_recomputed_leaf_breaks_the_link() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 10);
    rewrite(dir.path(), 6, |r| {
        let mut ev = annal_engine::record::decode_event(&r.event).unwrap();
        ev.outcome = Some(annal_engine::Outcome::Success);
        r.event = encode_event(&ev);
        r.leaf = annal_engine::chain::leaf_hash(&r.event);
    });
    assert_eq!(broken_at(verify_t(dir.path())), (6, BreakReason::LinkMismatch));
}

#[test]
fn a_changed_recorded_at_breaks_the_link() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 10);
    rewrite(dir.path(), 3, |r| r.recorded_at += 1);
    assert_eq!(broken_at(verify_t(dir.path())).0, 3);
}

#[test]
fn a_deleted_middle_record_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 10);
    RawStore::open(dir.path()).unwrap().delete(Cf::Records, &key(1, 5)).unwrap();
    assert_eq!(broken_at(verify_t(dir.path())), (5, BreakReason::Gap { found: 6 }));
}

#[test]
fn swapped_records_break_the_link_at_the_first() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 10);
    {
        let raw = RawStore::open(dir.path()).unwrap();
        let all = raw.entries(Cf::Records).unwrap();
        let get = |s| all.iter().find(|(k, _)| *k == key(1, s)).unwrap().1.clone();
        let (a, b) = (get(3), get(7));
        raw.put(Cf::Records, &key(1, 3), &b).unwrap();
        raw.put(Cf::Records, &key(1, 7), &a).unwrap();
    }
    assert_eq!(broken_at(verify_t(dir.path())), (3, BreakReason::LinkMismatch));
}

#[test]
fn a_forged_record_inserted_in_the_middle_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 10);
    // Shift rows 6..=10 up by one and forge a row 6 that links correctly to
    // row 5: row 7 (the old 6) then no longer links.
    {
        let raw = RawStore::open(dir.path()).unwrap();
        let all = raw.entries(Cf::Records).unwrap();
        let get = |s| StoredRecord::decode(&all.iter().find(|(k, _)| *k == key(1, s)).unwrap().1).unwrap();
        for s in (6..=10).rev() {
            raw.put(Cf::Records, &key(1, s + 1), &get(s).encode()).unwrap();
        }
        let prev = get(5);
        let forged_event = encode_event(&event(999).validate(&Default::default()).unwrap());
        let leaf = annal_engine::chain::leaf_hash(&forged_event);
        let head = annal_engine::chain::link_hash(&prev.head, 6, prev.recorded_at, &leaf);
        raw.put(
            Cf::Records,
            &key(1, 6),
            &StoredRecord { recorded_at: prev.recorded_at, leaf, head, event: forged_event }.encode(),
        )
        .unwrap();
    }
    assert_eq!(broken_at(verify_t(dir.path())), (7, BreakReason::LinkMismatch));
}

#[test]
fn a_cut_off_tail_is_caught_by_the_head_entry() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 10);
    {
        let raw = RawStore::open(dir.path()).unwrap();
        raw.delete(Cf::Records, &key(1, 10)).unwrap();
        raw.delete(Cf::Records, &key(1, 9)).unwrap();
    }
    assert_eq!(broken_at(verify_t(dir.path())), (9, BreakReason::MissingTail { head_seq: 10 }));
    // The engine refuses to append to a damaged chain rather than reuse seq 9.
    let engine = Engine::open(dir.path()).unwrap();
    assert!(matches!(engine.append("t", &[event(1)]), Err(annal_engine::Error::Corrupt(_))));
    assert!(engine.append("u", &[event(1)]).is_ok(), "other tenants keep working");
}
