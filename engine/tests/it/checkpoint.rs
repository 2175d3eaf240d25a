//! Signed checkpoints: the key file, signing, storage and listing, the
//! every-N-rows/T-seconds policy, checkpoints across retention runs, and
//! verification against a checkpoint an auditor kept.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use annal_engine::checkpoint::{key_id, KEY_FILE};
use annal_engine::{
    Checkpoint, CheckpointPolicy, Connection, Engine, KeySource, ManualClock, Policy, RetentionAnchor, RunOptions,
    TrustedFailure, TrustedOutcome,
};

use crate::{event, T0};

const DAY: u64 = 86_400_000_000_000;

const SEED: [u8; 32] = [3; 32];

fn open(dir: &Path, clock: &Arc<ManualClock>) -> Engine {
    Engine::builder(dir).clock(clock.clone()).default_policy(Policy::off()).signing_key(KeySource::Seed(SEED)).open().unwrap()
}

fn append(engine: &Engine, tenant: &str, n: u64) {
    let events: Vec<_> = (0..n).map(event).collect();
    for c in events.chunks(500) {
        engine.append(tenant, c).unwrap();
    }
}

pub fn extends(engine: &Engine, cp: &Checkpoint) -> Connection {
    match engine.verify_trusted(cp, Some(&cp.public_key)).unwrap() {
        TrustedOutcome::Extends(r) => r.connection,
        TrustedOutcome::Failed(f) => panic!("expected to extend, failed: {f}"),
    }
}

pub fn fails(engine: &Engine, cp: &Checkpoint) -> TrustedFailure {
    match engine.verify_trusted(cp, None).unwrap() {
        TrustedOutcome::Extends(r) => panic!("tampering not detected: {r:?}"),
        TrustedOutcome::Failed(f) => f,
    }
}

#[test]
fn a_key_is_made_only_on_purpose_owner_only_and_refused_when_others_can_read_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    // Without a key the engine works, signs nothing, and writes no key anywhere.
    let engine = Engine::open(dir.path()).unwrap();
    engine.append("a", &[event(1)]).unwrap();
    assert_eq!(engine.checkpoint_public_key(), None);
    assert!(matches!(engine.checkpoint("a"), Err(annal_engine::Error::NoSigningKey)));
    drop(engine);
    assert!(crate::files_under(dir.path()).iter().all(|f| f.file_name().unwrap() != KEY_FILE));

    // Made on purpose: owner-only, never over an existing file.
    let path = keys.path().join("conf").join(KEY_FILE);
    let made = annal_engine::checkpoint::init_key_file(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let e = annal_engine::checkpoint::init_key_file(&path).unwrap_err().to_string();
    assert!(e.contains("exists"), "{e}");
    let by_file = || Engine::builder(dir.path()).signing_key(KeySource::File(path.clone())).open();
    let first = by_file().unwrap().checkpoint_public_key().unwrap();
    assert_eq!(first, (made.public_key(), made.key_id()));
    assert_eq!(first.1, key_id(&first.0));
    assert_eq!(by_file().unwrap().checkpoint_public_key(), Some(first), "the same key on every open");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = by_file().unwrap_err().to_string();
    assert!(e.contains("signing_key") && e.contains("0600"), "{e}");

    // By path: a missing file is an error, never generated.
    let other = tempfile::tempdir().unwrap();
    let missing = Engine::builder(other.path()).signing_key(KeySource::File(other.path().join("nope"))).open();
    assert!(missing.unwrap_err().to_string().contains("cannot read"));
    assert!(!other.path().join("nope").exists());
    // By seed (the environment variable's form).
    let seed = KeySource::seed_from_hex(&"2a".repeat(32)).unwrap();
    let e = Engine::builder(other.path()).signing_key(seed).open().unwrap();
    assert_ne!(e.checkpoint_public_key(), Some(first));
    assert!(!other.path().join(KEY_FILE).exists());
    assert!(KeySource::seed_from_hex("abc").is_err());
}

#[test]
fn checkpoints_are_signed_stored_listed_and_linked() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    append(&engine, "t", 30);
    let c1 = engine.checkpoint("t").unwrap();
    assert_eq!((c1.seq, c1.prev_seq, c1.prev_head), (30, 0, annal_engine::chain::genesis("t")));
    assert_eq!(c1.head, engine.head("t").unwrap().head);
    assert!(c1.signature_valid());
    assert_eq!(engine.checkpoint("t").unwrap(), c1, "no new rows: the same checkpoint");
    append(&engine, "t", 20);
    let c2 = engine.checkpoint("t").unwrap();
    assert_eq!((c2.seq, c2.prev_seq, c2.prev_head), (50, 30, c1.head));
    assert_eq!(engine.latest_checkpoint("t").unwrap().as_ref(), Some(&c2));
    assert_eq!(engine.checkpoints("t", 0, u64::MAX, 10).unwrap(), vec![c1.clone(), c2.clone()]);
    assert_eq!(engine.checkpoints("t", 31, 50, 10).unwrap(), vec![c2.clone()]);

    // The JSON form round-trips; any changed field breaks the signature.
    let json = c2.to_json();
    let back = Checkpoint::from_json(&json).unwrap();
    assert_eq!(Checkpoint { made_at: c2.made_at, ..back.clone() }, c2);
    assert!(back.signature_valid());
    for (field, value) in
        [("seq", serde_json::json!(49)), ("tenant", "u".into()), ("recorded_at", 1.into()), ("prev_seq", 29.into())]
    {
        let mut j = json.clone();
        j[field] = value;
        assert!(!Checkpoint::from_json(&j).unwrap().signature_valid(), "{field}");
    }
    let mut j = json.clone();
    j["head"] = "zz".into();
    assert_eq!(Checkpoint::from_json(&j).unwrap_err().field, "head");
    j = json.clone();
    j.as_object_mut().unwrap().remove("signature");
    assert_eq!(Checkpoint::from_json(&j).unwrap_err().field, "signature");

    // Checkpoints survive a reopen, and a tenant's deletion removes them.
    drop(engine);
    let engine = open(dir.path(), &clock);
    assert_eq!(engine.latest_checkpoint("t").unwrap(), Some(c2));
    assert_eq!(extends(&engine, &c1), Connection::Row);
    let actor = annal_engine::Actor {
        kind: annal_engine::ActorType::User,
        id: "u_ops".into(),
        name: None,
        email: None,
        on_behalf_of: None,
    };
    engine.delete_tenant("t", "closed", actor).unwrap();
    append(&engine, "t", 1);
    assert_eq!(engine.latest_checkpoint("t").unwrap(), None);
}

#[test]
fn the_policy_checkpoints_every_n_rows_or_t_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    let policy = CheckpointPolicy { every_rows: 100, every: Duration::from_secs(60) };
    append(&engine, "a", 10);
    let (made, failed) = engine.checkpoint_due(&policy);
    assert!(failed.is_empty());
    assert_eq!(made.iter().map(|c| (c.tenant.as_str(), c.seq)).collect::<Vec<_>>(), vec![("a", 10)], "first rows");
    append(&engine, "a", 99);
    assert!(engine.checkpoint_due(&policy).0.is_empty(), "99 rows, 0 s");
    append(&engine, "a", 1);
    assert_eq!(engine.checkpoint_due(&policy).0[0].seq, 110, "100 rows");
    append(&engine, "a", 5);
    clock.advance(59 * 1_000_000_000);
    assert!(engine.checkpoint_due(&policy).0.is_empty());
    clock.advance(1_000_000_000);
    assert_eq!(engine.checkpoint_due(&policy).0[0].seq, 115, "60 s");
    clock.advance(3600 * 1_000_000_000);
    assert!(engine.checkpoint_due(&policy).0.is_empty(), "no new rows, no checkpoint");

    // The daemon applies it on its own.
    append(&engine, "a", 100);
    let daemon = annal_engine::CheckpointDaemon::start(engine.clone(), policy, |_| {}).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while engine.latest_checkpoint("a").unwrap().unwrap().seq != 215 {
        assert!(std::time::Instant::now() < deadline, "the daemon made no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.stop();
}

#[test]
fn kept_checkpoints_of_rows_retention_deleted_still_connect() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    engine.set_retention("t", annal_engine::Retention::Tier(annal_engine::Tier::Free), operator()).unwrap();
    append(&engine, "t", 40);
    let kept_old = engine.checkpoint("t").unwrap(); // seq 41: the set row and 40 events
    append(&engine, "t", 40);
    let kept_mid = engine.checkpoint("t").unwrap(); // 81
    clock.advance(91 * DAY);
    append(&engine, "t", 5);
    let report = engine.run_retention(&RunOptions { batch_rows: 30, ..RunOptions::default() }).unwrap();
    let run = &report.tenants[0];
    let anchor: RetentionAnchor = run.anchor.unwrap();
    assert_eq!(anchor.seq, 81);
    let after = run.checkpoint.clone().expect("a checkpoint after the run");
    assert_eq!(after.seq, engine.head("t").unwrap().seq, "covers the purged row");

    assert_eq!(extends(&engine, &kept_mid), Connection::Anchor, "deleted up to exactly its seq");
    match extends(&engine, &kept_old) {
        Connection::Checkpoints { links } => assert!(links >= 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(extends(&engine, &after), Connection::Row);

    // A checkpoint of a deleted row the store has no link from cannot be connected.
    let key = annal_engine::checkpoint::SigningKeyPair::from_seed(&SEED);
    let stray = Checkpoint::sign(&key, "t", 20, annal_engine::Hash([7; 32]), T0, 0, annal_engine::chain::genesis("t"), 0);
    assert_eq!(fails(&engine, &stray), TrustedFailure::Unconnected { seq: 20 });
}

pub fn operator() -> annal_engine::Actor {
    annal_engine::Actor { kind: annal_engine::ActorType::User, id: "u_ops".into(), name: None, email: None, on_behalf_of: None }
}

/// The signed message, signatures, key id and stored values against
/// testdata/golden/checkpoint.json, computed from docs/FORMAT.md without annal's code.
#[test]
fn checkpoints_match_the_golden_vectors() {
    use annal_engine::checkpoint::{key::hex, SigningKeyPair};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden/checkpoint.json");
    let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let seed = annal_engine::checkpoint::key::from_hex::<32>("seed", g["seed"].as_str().unwrap()).unwrap();
    let key = SigningKeyPair::from_seed(&seed);
    assert_eq!(hex(&key.public_key()), g["public_key"].as_str().unwrap());
    assert_eq!(hex(&key.key_id()), g["key_id"].as_str().unwrap());
    let tenant = g["tenant"].as_str().unwrap();
    let vectors = g["checkpoints"].as_array().unwrap();
    assert_eq!(vectors[0]["prev_head"].as_str().unwrap(), annal_engine::chain::genesis(tenant).to_hex());
    for v in vectors {
        let h = |f: &str| annal_engine::Hash::from_hex(v[f].as_str().unwrap()).unwrap();
        let n = |f: &str| v[f].as_u64().unwrap();
        let cp =
            Checkpoint::sign(&key, tenant, n("seq"), h("head"), n("recorded_at"), n("prev_seq"), h("prev_head"), n("made_at"));
        assert_eq!(hex(&cp.message()), v["message"].as_str().unwrap());
        assert_eq!(hex(&cp.signature), v["signature"].as_str().unwrap(), "Ed25519 is deterministic");
        assert_eq!(hex(&cp.encode_value()), v["value"].as_str().unwrap());
        assert_eq!(cp.to_json(), v["json"]);
        let value = annal_engine::checkpoint::key::from_hex::<197>("value", v["value"].as_str().unwrap()).unwrap();
        assert_eq!(Checkpoint::decode_value(tenant, n("seq"), &value).unwrap(), cp);
        assert!(Checkpoint::from_json(&v["json"]).unwrap().signature_valid());
        assert_eq!(v["key"].as_str().unwrap(), format!("{:016x}{:016x}", g["tenant_number"].as_u64().unwrap(), n("seq")));
    }
}

#[test]
fn another_key_is_refused_until_rotated_on_purpose_and_the_rotation_is_a_row() {
    use annal_engine::checkpoint::key::hex;
    use annal_engine::checkpoint::KEY_ROTATED_ACTION;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let with = |seed: u8| {
        Engine::builder(dir.path()).clock(clock.clone()).default_policy(Policy::off()).signing_key(KeySource::Seed([seed; 32]))
    };
    let id = |seed: u8| annal_engine::checkpoint::SigningKeyPair::from_seed(&[seed; 32]).key_id();
    let a = with(1).open().unwrap();
    append(&a, "t", 10);
    let old = a.checkpoint("t").unwrap();
    append(&a, "u", 3); // never checkpointed: no key to disagree with
    drop(a);

    // Another key is refused, naming both.
    match with(2).open().map(drop) {
        Err(annal_engine::Error::SigningKeyMismatch { tenant, stored, given }) => {
            assert_eq!((tenant.as_str(), stored, given), ("t", hex(&id(1)), hex(&id(2))));
        }
        other => panic!("expected a key mismatch, got {other:?}"),
    }
    // Reading without a key checks nothing.
    drop(Engine::open(dir.path()).unwrap());

    // Rotated on purpose: a row naming both keys, then a checkpoint of the
    // new key linked to the old key's last one.
    let b = with(2).rotate_signing_key().open().unwrap();
    let head = b.head("t").unwrap();
    let row = b.get("t", head.seq).unwrap().unwrap();
    assert_eq!(row.event.action, KEY_ROTATED_ACTION);
    let meta: serde_json::Value = serde_json::from_str(row.event.metadata.as_deref().unwrap()).unwrap();
    assert_eq!((meta["previous_key_id"].as_str(), meta["key_id"].as_str()), (Some(&*hex(&id(1))), Some(&*hex(&id(2)))));
    assert_eq!(meta["previous_checkpoint_seq"], old.seq);
    let new = b.latest_checkpoint("t").unwrap().unwrap();
    assert_eq!((new.key_id, new.seq, new.prev_seq, new.prev_head), (id(2), head.seq, old.seq, old.head));
    assert!(b.verify("t", ..).unwrap().is_intact());
    // The old key's checkpoint still verifies, under the old public key.
    assert_eq!(extends(&b, &old), Connection::Row);
    assert_eq!(b.head("u").unwrap().seq, 3, "a chain without checkpoints gets no row");
    drop(b);

    // From then on the new key opens as it is, and the old one is refused.
    drop(with(2).open().unwrap());
    assert!(matches!(with(1).open().map(drop), Err(annal_engine::Error::SigningKeyMismatch { .. })));
}

/// Changes row `seq` of the store's first tenant in place, with the engine closed.
fn rewrite_row(dir: &Path, seq: u64, f: impl FnOnce(&mut annal_engine::record::StoredRecord)) {
    let raw = annal_engine::RawStore::open(dir).unwrap();
    let mut k = 1u64.to_be_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    let (_, v) = raw.entries(annal_engine::Cf::Records).unwrap().into_iter().find(|(kk, _)| *kk == k).unwrap();
    let mut rec = annal_engine::record::StoredRecord::decode(&v).unwrap();
    f(&mut rec);
    raw.put(annal_engine::Cf::Records, &k, &rec.encode()).unwrap();
}

/// A verification resumed from the latest checkpoint verifies the rows
/// after it, linked from the head it signed: damage after the checkpoint
/// is found, a row at its seq that no longer holds the signed head is
/// found, and damage before it is not (what a full verification is for);
/// without a checkpoint the whole chain is verified.
#[test]
fn a_verification_resumes_from_the_latest_checkpoint() {
    use annal_engine::{BreakReason, VerifyOutcome};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let broken = |o: VerifyOutcome| match o {
        VerifyOutcome::Broken(b) => (b.seq, b.reason),
        VerifyOutcome::Intact(r) => panic!("damage not found: {r:?}"),
    };
    {
        let engine = open(dir.path(), &clock);
        append(&engine, "t", 100);
        let (since, outcome) = engine.verify_since_checkpoint("t").unwrap();
        assert!(since.is_none(), "no checkpoint yet: the whole chain");
        let VerifyOutcome::Intact(r) = outcome else { panic!("intact") };
        assert_eq!((r.first_seq, r.count), (1, 100));
        let cp = engine.checkpoint("t").unwrap();
        assert_eq!(cp.seq, 100);
        append(&engine, "t", 50);
        let (since, outcome) = engine.verify_since_checkpoint("t").unwrap();
        assert_eq!(since.as_ref(), Some(&cp));
        let VerifyOutcome::Intact(r) = outcome else { panic!("intact") };
        assert_eq!((r.first_seq, r.last_seq, r.count), (101, 150, 50));
        assert_eq!(r.head, engine.head("t").unwrap().head);
    }
    let edit = |r: &mut annal_engine::record::StoredRecord| {
        let mut ev = annal_engine::record::decode_event(&r.event).unwrap();
        ev.actor_id = "someone_else".into();
        r.event = annal_engine::record::encode_event(&ev);
    };
    // A row after the checkpoint.
    rewrite_row(dir.path(), 120, edit);
    assert_eq!(broken(open(dir.path(), &clock).verify_since_checkpoint("t").unwrap().1), (120, BreakReason::LeafMismatch));
    // A row before it: the resumed verification does not read it again;
    // the full one names it.
    let other = tempfile::tempdir().unwrap();
    {
        let engine = open(other.path(), &clock);
        append(&engine, "t", 100);
        engine.checkpoint("t").unwrap();
        append(&engine, "t", 10);
    }
    rewrite_row(other.path(), 40, edit);
    {
        let engine = open(other.path(), &clock);
        assert!(engine.verify_since_checkpoint("t").unwrap().1.is_intact());
        assert_eq!(broken(engine.verify("t", ..).unwrap()), (40, BreakReason::LeafMismatch));
    }
    // The row at the checkpoint's seq with another head.
    rewrite_row(other.path(), 100, |r| r.head = annal_engine::chain::leaf_hash(b"another head"));
    assert_eq!(
        broken(open(other.path(), &clock).verify_since_checkpoint("t").unwrap().1),
        (100, BreakReason::CheckpointMismatch)
    );
}
