//! The append path: seqs, receipts, atomic batches, idempotency, concurrency, reopen.

use std::sync::Arc;
use std::time::Duration;

use annal_engine::{Engine, Error, EventRecord, ManualClock, Policy, VerifyOutcome};

use crate::{corpus_events, event, store, T0};

#[test]
fn seqs_start_at_one_per_tenant_and_have_no_gaps() {
    let (_d, engine, _c) = store();
    let a = engine.append("ws_a", &[event(1), event(2)]).unwrap();
    let b = engine.append("ws_b", &[event(3)]).unwrap();
    let a2 = engine.append("ws_a", &[event(4)]).unwrap();
    assert_eq!(a.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(b[0].seq, 1);
    assert_eq!(a2[0].seq, 3);
    assert_eq!(engine.tenants(), ["ws_a", "ws_b"]);
    let rows: Vec<_> = engine.iter("ws_a", 1).unwrap().map(Result::unwrap).collect();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(rows[2].head, a2[0].head);
    assert_eq!(engine.head("ws_a").unwrap().head, a2[0].head);
    assert!(engine.verify("ws_a", ..).unwrap().is_intact());
}

#[test]
fn corpus_round_trips_through_the_store() {
    // Redaction off: every field must come back exactly as validated.
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder(dir.path()).default_policy(Policy::off()).open().unwrap();
    let events = corpus_events("ws_acme", 500);
    for chunk in events.chunks(64) {
        engine.append("ws_acme", chunk).unwrap();
    }
    for (i, row) in engine.iter("ws_acme", 1).unwrap().enumerate() {
        let row = row.unwrap();
        assert_eq!(row.seq, i as u64 + 1);
        let expected = EventRecord { policy_version: 1, ..events[i].validate(engine.limits()).unwrap() };
        assert_eq!(row.event, expected);
    }
    match engine.verify("ws_acme", ..).unwrap() {
        VerifyOutcome::Intact(r) => assert_eq!((r.first_seq, r.last_seq, r.count), (1, 500, 500)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn recorded_at_never_decreases_even_when_the_clock_steps_back() {
    let (_d, engine, clock) = store();
    let a = engine.append("t", &[event(1)]).unwrap()[0];
    clock.set(T0 - 1_000_000_000);
    let b = engine.append("t", &[event(2)]).unwrap()[0];
    assert_eq!(a.recorded_at, T0);
    assert_eq!(b.recorded_at, T0, "clock went back; recorded_at must not");
    assert!(engine.verify("t", ..).unwrap().is_intact());
}

#[test]
fn an_invalid_event_rejects_the_whole_batch_and_writes_nothing() {
    let (_d, engine, _c) = store();
    engine.append("t", &[event(0)]).unwrap();
    let mut bad = event(2);
    bad.ip = Some("not-an-ip".into());
    let mut bad2 = event(3);
    bad2.action = "no spaces allowed".into();
    match engine.append("t", &[event(1), bad, event(4), bad2]) {
        Err(Error::InvalidBatch(errs)) => {
            assert_eq!(errs.iter().map(|(i, e)| (*i, e.field.as_str())).collect::<Vec<_>>(), [(1, "ip"), (3, "action")]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(engine.head("t").unwrap().seq, 1);
}

#[test]
fn bad_calls_get_clear_errors() {
    let (_d, engine, _c) = store();
    assert!(matches!(engine.append("", &[event(1)]), Err(Error::InvalidTenant(_))));
    assert!(matches!(engine.append("a/b", &[event(1)]), Err(Error::InvalidTenant(_))));
    assert!(matches!(engine.append(&"x".repeat(129), &[event(1)]), Err(Error::InvalidTenant(_))));
    assert!(matches!(engine.append("t", &[]), Err(Error::EmptyBatch)));
    let many = vec![event(1); 10_001];
    assert!(matches!(engine.append("t", &many), Err(Error::BatchTooLarge { got: 10_001, max: 10_000 })));
    let mut huge = event(1);
    huge.metadata = Some(serde_json::json!({ "blob": "x".repeat(70_000) }).as_object().unwrap().clone());
    match engine.append("t", &[huge]) {
        Err(Error::InvalidBatch(errs)) => assert!(errs[0].1.message.contains("limit"), "{}", errs[0].1),
        other => panic!("{other:?}"),
    }
    assert!(matches!(engine.get("nobody", 1), Err(Error::UnknownTenant)));
    assert!(matches!(engine.verify("nobody", ..), Err(Error::UnknownTenant)));
    assert!(matches!(engine.get("t", 1), Err(Error::UnknownTenant)), "nothing was written, not even the tenant");
    assert!(matches!(
        Engine::builder(_d.path().join("x")).queue_depth(0).open(),
        Err(Error::InvalidOption { option: "queue_depth", .. })
    ));
}

#[test]
fn idempotency_key_returns_the_original_receipt_and_writes_nothing() {
    let (_d, engine, clock) = store();
    let mut e = event(1);
    e.idempotency_key = Some("req-1".into());
    let first = engine.append("t", &[e.clone()]).unwrap()[0];
    clock.advance(1_000);
    let again = engine.append("t", &[event(2), e.clone()]).unwrap();
    assert!(!first.replayed);
    assert!(again[1].replayed);
    assert_eq!((again[1].seq, again[1].head, again[1].recorded_at), (first.seq, first.head, first.recorded_at));
    assert_eq!(engine.head("t").unwrap().seq, 2, "only event(2) was written");

    // Same key, different content: a conflict naming the index; nothing written.
    let mut other = event(3);
    other.idempotency_key = Some("req-1".into());
    assert!(matches!(engine.append("t", &[event(4), other]), Err(Error::IdempotencyConflict { index: 1, first_seq: Some(1) })));
    assert_eq!(engine.head("t").unwrap().seq, 2);

    // Twice in one batch: the second is a replay of the first.
    let mut k2 = event(5);
    k2.idempotency_key = Some("req-2".into());
    let r = engine.append("t", &[k2.clone(), k2]).unwrap();
    assert_eq!(r[0].seq, r[1].seq);
    assert!(r[1].replayed);

    // Keys are per tenant.
    assert!(!engine.append("u", &[e.clone()]).unwrap()[0].replayed);

    // After the window the key is forgotten.
    clock.advance(24 * 3600 * 1_000_000_000 + 1);
    let later = engine.append("t", &[e]).unwrap()[0];
    assert!(!later.replayed);
    assert_ne!(later.seq, first.seq);
}

#[test]
fn concurrent_appends_with_one_idempotency_key_write_one_row() {
    let (_d, engine, _c) = store();
    let mut e = event(9);
    e.idempotency_key = Some("same".into());
    let receipts: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8).map(|_| s.spawn(|| engine.append("t", &[e.clone()]).unwrap()[0])).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(receipts.iter().all(|r| r.seq == 1 && r.head == receipts[0].head), "{receipts:?}");
    assert_eq!(receipts.iter().filter(|r| !r.replayed).count(), 1);
    assert_eq!(engine.head("t").unwrap().seq, 1);
}

/// Runs `writer(w)` for `w` in `0..threads`, all at once; returns every
/// seq they returned, sorted.
fn seqs_from_threads(threads: u64, writer: impl Fn(u64) -> Vec<u64> + Sync) -> Vec<u64> {
    let writer = &writer;
    let mut seqs: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads).map(|w| s.spawn(move || writer(w))).collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    seqs.sort_unstable();
    seqs
}

#[test]
fn concurrent_writers_get_contiguous_seqs_and_a_valid_chain() {
    let (_d, engine, _c) = store();
    let seqs = seqs_from_threads(8, |w| {
        let mut mine = Vec::new();
        for i in 0..50 {
            let batch: Vec<_> = (0..(1 + i % 5)).map(|j| event(w * 1000 + i * 10 + j)).collect();
            mine.extend(engine.append("shared", &batch).unwrap().into_iter().map(|r| r.seq));
        }
        mine
    });
    let n = seqs.len() as u64;
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
    assert!(engine.verify("shared", ..).unwrap().is_intact());
}

/// While none is in flight, a group of at most 64 events, or one with no
/// request arriving behind it, is written by the writer itself; a larger
/// one with the next arriving is handed to the committer. Mixed sizes from
/// many threads take both ways in turn (about sixty hand-overs in a run of
/// this test), and the chain must come out whole and in order either way.
#[test]
fn small_and_large_groups_written_by_either_thread_keep_one_ordered_chain() {
    let (_d, engine, _c) = store();
    let seqs = seqs_from_threads(6, |w| {
        let mut mine = Vec::new();
        for i in 0..24u64 {
            let n = [1, 100, 3, 65, 64, 2][((w + i) % 6) as usize];
            let batch: Vec<_> = (0..n).map(|j| event(w * 100_000 + i * 1000 + j)).collect();
            let tenant = if i % 3 == 0 { "other" } else { "shared" };
            let receipts = engine.append(tenant, &batch).unwrap();
            // A request's rows are contiguous in its chain.
            assert!(receipts.windows(2).all(|p| p[1].seq == p[0].seq + 1));
            if tenant == "shared" {
                mine.extend(receipts.into_iter().map(|r| r.seq));
            }
        }
        mine
    });
    let n = seqs.len() as u64;
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
    for t in ["shared", "other"] {
        assert!(engine.verify(t, ..).unwrap().is_intact());
    }
}

#[test]
fn reopen_recovers_heads_and_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut idem = event(1);
    idem.idempotency_key = Some("k".into());
    let before = {
        let engine = Engine::builder(dir.path()).clock(clock.clone()).open().unwrap();
        engine.append("a", &[idem.clone(), event(2)]).unwrap();
        engine.append("b", &[event(3)]).unwrap();
        engine.head("a").unwrap()
    };
    let engine = Engine::builder(dir.path()).clock(clock.clone()).open().unwrap();
    assert_eq!(engine.tenants(), ["a", "b"]);
    assert_eq!(engine.head("a").unwrap(), before);
    assert_eq!(engine.append("a", &[event(4)]).unwrap()[0].seq, 3);
    assert!(engine.append("a", &[idem]).unwrap()[0].replayed, "idempotency survives a restart");
    let c = engine.append("c", &[event(5)]).unwrap();
    assert_eq!(c[0].seq, 1);
    for t in ["a", "b", "c"] {
        assert!(engine.verify(t, ..).unwrap().is_intact());
    }
}

#[test]
fn partial_ranges_verify_from_the_row_before() {
    let (_d, engine, _c) = store();
    let events: Vec<_> = (0..100).map(event).collect();
    engine.append("t", &events).unwrap();
    match engine.verify("t", 40..=60).unwrap() {
        VerifyOutcome::Intact(r) => assert_eq!((r.first_seq, r.last_seq, r.count), (40, 60, 21)),
        other => panic!("{other:?}"),
    }
    match engine.verify("t", 90..).unwrap() {
        VerifyOutcome::Intact(r) => {
            assert_eq!((r.first_seq, r.last_seq, r.count, r.head), (90, 100, 11, engine.head("t").unwrap().head))
        }
        other => panic!("{other:?}"),
    }
    match engine.verify("t", 200..).unwrap() {
        VerifyOutcome::Intact(r) => assert_eq!(r.count, 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn buffered_durability_appends_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::builder(dir.path()).durability(annal_engine::Durability::Buffered).open().unwrap();
        engine.append("t", &[event(1), event(2)]).unwrap();
    }
    let engine = Engine::builder(dir.path()).idempotency_window(Duration::from_secs(1)).open().unwrap();
    assert_eq!(engine.head("t").unwrap().seq, 2);
}

#[test]
fn system_events_are_chained_readable_and_only_in_the_reserved_namespace() {
    use annal_engine::{Actor, ActorType};
    let (_d, engine, _c) = store();
    engine.append("t", &[event(1)]).unwrap();
    let actor = Actor { kind: ActorType::ApiKey, id: "key_1".into(), name: None, email: None, on_behalf_of: None };
    let mut meta = serde_json::Map::new();
    meta.insert("contact".into(), "ops@acme.com".into());
    let r = engine.append_system("t", "annal.key.created", actor.clone(), meta.clone()).unwrap();
    assert_eq!(r.seq, 2);
    let row = engine.get("t", 2).unwrap().unwrap();
    assert_eq!(row.event.action, "annal.key.created");
    // annal wrote the metadata itself: no detector rewrites it.
    assert_eq!(row.event.metadata.as_deref(), Some(r#"{"contact":"ops@acme.com"}"#));
    assert!(engine.verify("t", ..).unwrap().is_intact());
    match engine.append_system("t", "iam.role.grant", actor, meta) {
        Err(Error::InvalidEvent(fe)) => assert_eq!(fe.field, "action"),
        other => panic!("{other:?}"),
    }
    assert_eq!(engine.head("t").unwrap().seq, 2);
}

#[test]
fn append_then_calls_back_once_the_rows_are_durable_and_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let engine = Engine::open(dir.path()).unwrap();
        let done = |tx: std::sync::mpsc::Sender<_>| move |r| tx.send(r).unwrap();
        engine.append_then("t", &[event(1), event(2)], done(tx.clone())).unwrap();
        let first = rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
        assert_eq!(first.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        // An invalid batch is refused at once; its callback never runs.
        let mut bad = event(3);
        bad.actor.id.clear();
        assert!(matches!(engine.append_then("t", &[event(3), bad], done(tx.clone())), Err(Error::InvalidBatch(_))));
        assert!(matches!(engine.append_then("annal.platform", &[event(3)], done(tx.clone())), Err(Error::InvalidTenant(_))));
        engine.append_then("t", &[event(4)], done(tx.clone())).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap()[0].seq, 3);
    }
    // Acknowledged means durable: the rows are there after a reopen.
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.head("t").unwrap().seq, 3);
    assert!(rx.try_recv().is_err(), "one answer per accepted batch");

    // A full queue is an error, not a wait: submit far faster than one
    // fsync at a time can write, into a queue of one.
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder(dir.path()).queue_depth(1).open().unwrap();
    let (accepted, mut busy) = (Arc::new(std::sync::atomic::AtomicU64::new(0)), 0u64);
    let mut handed = 0u64;
    while busy == 0 && handed < 100_000 {
        let a = Arc::clone(&accepted);
        match engine.append_then("t", &[event(handed)], move |r| {
            r.unwrap();
            a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }) {
            Ok(()) => handed += 1,
            Err(Error::Busy) => busy += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(busy, 1, "no Busy after {handed} appends into a queue of one");
    drop(engine);
    // Every append that was handed over was written and answered.
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), handed);
}
