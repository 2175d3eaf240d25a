//! Erasure of one person inside a verifiable chain, on real encrypted
//! stores: the fields go, the rows and the chain stay, bundles from before
//! and after verify, no old copy of an erased row is left in any file, and
//! (a property test) for random chains and subjects nothing else changes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use annal_engine::keyring::KeyringFile;
use annal_engine::{
    Actor, ActorType, Cf, Engine, Error, Event, ManualClock, Policy, Query, RawStore, Record, VerifyOutcome,
    SUBJECT_ERASED_ACTION,
};
use proptest::prelude::*;
use serde_json::json;

use crate::T0;

fn admin() -> Actor {
    Actor { kind: ActorType::User, id: "u_admin".into(), name: None, email: None, on_behalf_of: None }
}

fn open(store: &Path, ring: &Arc<KeyringFile>, clock: &Arc<ManualClock>) -> Engine {
    Engine::builder(store)
        .default_policy(Policy { rules: Vec::new(), detectors: Vec::new() })
        .clock(clock.clone())
        .key_provider(ring.clone())
        .signing_key(crate::KEY)
        .open()
        .unwrap()
}

/// Event `i`: its actor, the one it acts for and its user target drawn from
/// `people` by the bits of `pick`.
fn event(i: usize, actor: &str, on_behalf_of: Option<&str>, target: Option<&str>) -> Event {
    let mut v = json!({
        "action": "recruitment.offer.send",
        "actor": {"type": "user", "id": actor, "name": format!("Name of {actor}"), "email": format!("{actor}@acme.com")},
        "session_id": format!("sess-{actor}-{}", i % 3),
        "ip": "203.0.113.7",
        "user_agent": "curl/8",
        "metadata": {"i": i},
        "idempotency_key": format!("idem-{i}"),
    });
    if let Some(o) = on_behalf_of {
        v["actor"]["on_behalf_of"] = o.into();
    }
    if let Some(t) = target {
        v["target"] = json!({"type": "user", "id": t, "name": format!("Name of {t}")});
    }
    Event::from_json_value(v).unwrap()
}

fn rows(engine: &Engine, tenant: &str) -> Vec<Record> {
    engine.iter(tenant, 1).unwrap().map(Result::unwrap).collect()
}

#[test]
fn an_erased_person_leaves_every_row_and_file_while_the_chain_and_old_bundles_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let ring = Arc::new(KeyringFile::init(&dir.path().join("keyring.json"), T0).unwrap().0);
    let clock = Arc::new(ManualClock::new(T0));
    let events: Vec<Event> = (0..60)
        .map(|i| match i % 4 {
            0 => event(i, "u_sam", None, None),
            1 => event(i, "agent_7", Some("u_sam"), None),
            2 => event(i, "u_ann", None, Some("u_sam")),
            _ => event(i, "u_ann", None, None),
        })
        .collect();
    {
        let engine = open(&store, &ring, &clock);
        engine.append("ws_a", &events).unwrap();
    }
    // Reopened: the rows are in SST files, as a store's rows are.
    let engine = open(&store, &ring, &clock);
    let checkpoint = engine.checkpoint("ws_a").unwrap();
    let mut before_bundle = Vec::new();
    engine.write_bundle("ws_a", 2, 20, &mut before_bundle).unwrap();
    let before = rows(&engine, "ws_a");
    // The stored bytes of row 2 (u_sam as actor): a window of its sealed content.
    let raw_before = {
        drop(engine);
        let raw = RawStore::open(&store).unwrap();
        let v = raw.entries(Cf::Records).unwrap().into_iter().nth(1).unwrap().1;
        v[v.len() - 40..v.len() - 8].to_vec()
    };
    assert!(!crate::files_with(&store, &raw_before).is_empty(), "the test must find the old bytes before");

    let engine = open(&store, &ring, &clock);
    assert!(matches!(engine.erase_subject("ws_a", "", admin()), Err(Error::InvalidEncryption(fe)) if fe.field == "subject"));
    let erasure = engine.erase_subject("ws_a", "u_sam", admin()).unwrap();
    assert_eq!(erasure.rows, 45, "15 rows by, 15 for and 15 about u_sam");
    assert!(!erasure.pseudonym.contains("u_sam") && erasure.pseudonym.len() == 32);
    let after = rows(&engine, "ws_a");
    assert_eq!(after.len(), before.len() + 1);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((a.seq, a.leaf, a.head, a.recorded_at), (b.seq, b.leaf, b.head, b.recorded_at), "seq {}", a.seq);
        let text = a.to_json().to_string();
        assert!(!text.contains("u_sam"), "seq {}: {text}", a.seq);
        let erased: Vec<&str> = a.event.redactions.iter().filter(|r| r.how == "erased").map(|r| r.path.as_str()).collect();
        match (a.seq - 1) % 4 {
            0 => {
                assert_eq!((a.event.actor_id.as_str(), &a.event.ip, &a.event.session_id), ("", &None, &None));
                assert_eq!(erased, ["actor.id", "actor.name", "actor.email", "session_id", "ip", "user_agent"]);
                assert_eq!(a.event.metadata, b.event.metadata, "the rest of the row stays");
            }
            1 => assert_eq!((a.event.on_behalf_of.as_deref(), erased.as_slice()), (None, &["actor.on_behalf_of"][..])),
            2 => assert_eq!((a.event.target.is_none(), erased.as_slice()), (true, &["target"][..])),
            _ => assert_eq!(a.event, b.event, "a row not naming u_sam is unchanged"),
        }
    }
    let last = after.last().unwrap();
    assert_eq!(last.event.action, SUBJECT_ERASED_ACTION);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(last.event.metadata.as_deref().unwrap()).unwrap()["subject"],
        erasure.pseudonym
    );

    // Queries no longer find the person; the index holds exactly what the rows say.
    let by_sam = Query { actor: Some("u_sam".into()), ..Query::default() };
    assert!(engine.query("ws_a", &by_sam, 100, None).unwrap().records.is_empty());
    let by_ann = Query { actor: Some("u_ann".into()), ..Query::default() };
    assert_eq!(engine.query("ws_a", &by_ann, 100, None).unwrap().records.len(), 30);
    assert!(engine.check_index("ws_a").unwrap().is_consistent());
    // The chain, its checkpoint from before, and bundles from before and after verify.
    let VerifyOutcome::Intact(r) = engine.verify("ws_a", ..).unwrap() else { panic!("the chain broke") };
    assert_eq!(r.content_unchecked, 0, "every erased row's content still matches its commitment");
    let trusted = engine.verify_trusted(&checkpoint, None).unwrap();
    assert!(matches!(trusted, annal_engine::TrustedOutcome::Extends(_)), "{trusted:?}");
    assert!(annal_engine::checkpoint::verify_bundle(&before_bundle[..], None).is_ok());
    engine.checkpoint("ws_a").unwrap();
    let mut after_bundle = Vec::new();
    engine.write_bundle("ws_a", 2, 20, &mut after_bundle).unwrap();
    assert!(annal_engine::checkpoint::verify_bundle(&after_bundle[..], None).is_ok());
    assert!(!after_bundle.windows(5).any(|w| w == b"u_sam"), "an erased value in a bundle made after");
    let (ok, text) = crate::bundle::python(&after_bundle, None);
    assert!(ok, "{text}");
    // Its idempotency keys went with the erased values; the others stay.
    let again = engine.append("ws_a", &[events[0].clone()]).unwrap();
    assert!(!again[0].replayed, "a replay of an erased row's key");
    assert!(engine.append("ws_a", &[events[3].clone()]).unwrap()[0].replayed);
    // Erasing again finds nothing more to do.
    assert_eq!(engine.erase_subject("ws_a", "u_sam", admin()).unwrap().rows, 1, "only the row appended since");
    drop(engine);
    assert!(crate::files_with(&store, &raw_before).is_empty(), "an old copy of an erased row is left in a file");
}

#[test]
fn an_unencrypted_tenant_cannot_erase() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder(dir.path()).open().unwrap();
    engine.append("ws_p", &[event(0, "u_sam", None, None)]).unwrap();
    assert!(matches!(engine.erase_subject("ws_p", "u_sam", admin()), Err(Error::NotEncrypted)));
}

fn check_random_erasure(picks: &[(u8, u8, u8)], subject: u8) -> Result<(), TestCaseError> {
    const PEOPLE: [&str; 4] = ["u_a", "u_b", "u_c", "u_d"];
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let ring = Arc::new(KeyringFile::init(&dir.path().join("keyring.json"), T0).unwrap().0);
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(&store, &ring, &clock);
    let person = |p: u8| PEOPLE[usize::from(p) % 4];
    let opt = |p: u8| (p >= 4).then(|| PEOPLE[usize::from(p) % 4]);
    let events: Vec<Event> = picks.iter().enumerate().map(|(i, &(a, o, t))| event(i, person(a), opt(o), opt(t))).collect();
    for chunk in events.chunks(7) {
        engine.append("ws", chunk).unwrap();
        clock.advance(1_000_000_000);
    }
    let before: BTreeMap<u64, Record> = rows(&engine, "ws").into_iter().map(|r| (r.seq, r)).collect();
    let s = person(subject);
    engine.erase_subject("ws", s, admin()).unwrap();
    for r in rows(&engine, "ws").iter().filter(|r| r.event.action != SUBJECT_ERASED_ACTION) {
        let b = &before[&r.seq];
        let named = b.event.actor_id == s
            || b.event.on_behalf_of.as_deref() == Some(s)
            || b.event.target.as_ref().is_some_and(|t| t.id == s);
        prop_assert!(!r.to_json().to_string().contains(&format!("\"{s}\"")), "seq {} still names {s}", r.seq);
        prop_assert!(!r.to_json().to_string().contains(&format!("{s}@")), "seq {} still has {s}'s email", r.seq);
        if !named {
            prop_assert_eq!(&r.event, &b.event);
        }
        prop_assert_eq!((r.leaf, r.head), (b.leaf, b.head));
    }
    prop_assert!(engine.verify("ws", ..).unwrap().is_intact());
    prop_assert!(engine.check_index("ws").unwrap().is_consistent());
    for other in PEOPLE.iter().filter(|p| **p != s) {
        let q = Query { actor: Some(other.to_string()), ..Query::default() };
        let found = engine.query("ws", &q, 100, None).unwrap().records.len();
        prop_assert_eq!(found, before.values().filter(|r| r.event.actor_id == *other).count(), "{}", other);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// For random chains and random subjects: after the erasure no row
    /// names the subject, every other row reads unchanged, the chain
    /// verifies and the index holds exactly what the rows say.
    #[test]
    fn erasure_removes_the_subject_and_nothing_else(
        picks in proptest::collection::vec((0u8..4, 0u8..8, 0u8..8), 1..40),
        subject in 0u8..4,
    ) {
        check_random_erasure(&picks, subject)?;
    }
}
