//! Encryption at rest, on real stores with a real keyring file: no seeded
//! value in any stored byte of an encrypted store (and many in the same
//! store unencrypted, so the search can fail), queries that answer alike,
//! verification with and without a key, a destroyed KEK, key rotation by
//! month, retention, idempotency, bundles, tampering.

use std::path::Path;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use annal_engine::keyring::{KeyProvider, KeyringFile};
use annal_engine::{BreakReason, Cf, Engine, Error, Event, ManualClock, Policy, Query, RawStore, Record, VerifyOutcome};
use annal_testdata::{corpus, seeded_pii, DEFAULT_CORPUS_SIZE, DEFAULT_SEED};

use crate::query::{naive, walk};
use crate::{corpus_events, T0};

/// A policy that keeps every value as sent: whatever reaches the disk in the
/// clear is then there to be found.
fn keep_everything() -> Policy {
    Policy { rules: Vec::new(), detectors: Vec::new() }
}

fn keyring(dir: &Path) -> Arc<KeyringFile> {
    let path = dir.join("keyring.json");
    match KeyringFile::open(&path) {
        Ok(k) => Arc::new(k),
        Err(_) => Arc::new(KeyringFile::init(&path, T0).unwrap().0),
    }
}

/// An engine over `store` with `ring` as its key provider (none: `None`).
fn open(store: &Path, ring: Option<Arc<KeyringFile>>, clock: &Arc<ManualClock>) -> Engine {
    let mut b = Engine::builder(store).compression(false).default_policy(keep_everything()).clock(clock.clone());
    if let Some(ring) = ring {
        b = b.key_provider(ring as Arc<dyn KeyProvider>);
    }
    b.open().unwrap()
}

fn ingest_corpus(engine: &Engine) {
    let mut per_tenant: std::collections::BTreeMap<String, Vec<Event>> = Default::default();
    for (tenant, v) in corpus(DEFAULT_SEED, DEFAULT_CORPUS_SIZE) {
        per_tenant.entry(tenant).or_default().push(Event::from_json_value(v).unwrap());
    }
    for (tenant, events) in &per_tenant {
        for chunk in events.chunks(500) {
            engine.append(tenant, chunk).unwrap();
        }
    }
}

/// Seeded values in every file under `dir` and every raw key and value.
fn scan(dir: &Path, needles: &[String]) -> Vec<String> {
    let finder = AhoCorasick::new(needles).unwrap();
    let mut hits = Vec::new();
    for path in crate::files_under(dir) {
        if path.file_name().is_some_and(|n| n == "keyring.json") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        hits.extend(finder.find_iter(&bytes).map(|m| format!("{} in {}", needles[m.pattern().as_usize()], path.display())));
    }
    let raw = RawStore::open(&dir.join("store")).unwrap();
    for cf in Cf::ALL {
        for (k, v) in raw.entries(cf).unwrap() {
            for m in finder.find_iter(&k).chain(finder.find_iter(&v)) {
                hits.push(format!("{} in {}", needles[m.pattern().as_usize()], cf.name()));
            }
        }
    }
    hits
}

#[test]
fn an_encrypted_store_holds_no_seeded_value_in_any_byte_and_the_same_store_unencrypted_holds_many() {
    let needles: Vec<String> = seeded_pii(DEFAULT_SEED, DEFAULT_CORPUS_SIZE).into_iter().filter(|v| v.len() >= 6).collect();
    assert!(needles.len() > 1000, "the corpus seeds {} values", needles.len());
    let clock = Arc::new(ManualClock::new(T0));
    let mut hits = Vec::new();
    for encrypted in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let ring = encrypted.then(|| keyring(dir.path()));
        {
            let engine = open(&store, ring.clone(), &clock);
            ingest_corpus(&engine);
            for t in engine.tenants() {
                let VerifyOutcome::Intact(r) = engine.verify(&t, ..).unwrap() else { panic!("{t}") };
                assert_eq!(r.content_unchecked, 0, "{t}: with its key every row's content is checked");
            }
        }
        // The WAL holds the rows now; after a flush, the SST files too.
        let in_wal = scan(dir.path(), &needles);
        RawStore::open(&store).unwrap().flush().unwrap();
        let in_ssts = scan(dir.path(), &needles);
        hits.push((in_wal.len(), in_ssts.len(), in_wal.into_iter().chain(in_ssts).take(5).collect::<Vec<_>>()));
    }
    let (encrypted, clear) = (&hits[0], &hits[1]);
    assert_eq!((encrypted.0, encrypted.1), (0, 0), "seeded values in the encrypted store: {:?}", encrypted.2);
    assert!(clear.0 > 1000 && clear.1 > 1000, "the same search finds them in the clear: {clear:?}");
}

#[test]
fn an_encrypted_tenant_answers_every_query_as_an_unencrypted_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let events = corpus_events("ws_acme", 600);
    let ring = keyring(dir.path());
    {
        // The same store: "plain" is made by an engine that encrypts no new
        // tenant, "sealed" by one that does.
        let engine = Engine::builder(&store)
            .default_policy(keep_everything())
            .clock(clock.clone())
            .key_provider(ring.clone())
            .encrypt_new_tenants(false)
            .open()
            .unwrap();
        for chunk in events.chunks(100) {
            engine.append("plain", chunk).unwrap();
            clock.advance(1_000_000_000);
        }
    }
    let engine = open(&store, Some(ring), &clock);
    clock.set(T0);
    for chunk in events.chunks(100) {
        engine.append("sealed", chunk).unwrap();
        clock.advance(1_000_000_000);
    }

    // The event size limit applies alike: to the format 2 encoding.
    for e in &events[..50] {
        assert_eq!(engine.prepare("sealed", e).unwrap().encoded_len(), engine.prepare("plain", e).unwrap().encoded_len());
    }
    let all: Vec<Record> = engine.iter("sealed", 1).unwrap().map(Result::unwrap).collect();
    let plain: Vec<Record> = engine.iter("plain", 1).unwrap().map(Result::unwrap).collect();
    assert_eq!(all.len(), 600);
    for (a, b) in all.iter().zip(&plain) {
        assert_eq!((a.seq, a.recorded_at, &a.event), (b.seq, b.recorded_at, &b.event));
        assert_ne!(a.leaf, b.leaf, "format 3 leaves cover a salted commitment");
    }
    let e = &all[123].event;
    let mut queries = vec![Query::default()];
    let mut q = |f: &dyn Fn(&mut Query)| {
        let mut x = Query::default();
        f(&mut x);
        queries.push(x);
    };
    q(&|x| x.actor = Some(e.actor_id.clone()));
    q(&|x| x.action = Some(e.action.clone()));
    q(&|x| x.action_prefix = Some(e.action.split('.').next().unwrap().to_string()));
    if let Some(t) = &e.target {
        let t = t.clone();
        q(&move |x| x.target = Some(annal_engine::TargetFilter { kind: t.kind.clone(), id: t.id.clone() }));
    }
    if let Some(s) = &e.session_id {
        let s = s.clone();
        q(&move |x| x.session = Some(s.clone()));
    }
    if let Some(k) = &e.key_ref {
        let k = k.clone();
        q(&move |x| x.key_ref = Some(k.clone()));
    }
    q(&|x| x.outcome = e.outcome);
    q(&|x| {
        x.from = Some(T0 + 2_000_000_000);
        x.to = Some(T0 + 4_000_000_000);
    });
    for query in &queries {
        let (sealed, pages) = walk(&engine, "sealed", query, 37);
        let (clear, _) = walk(&engine, "plain", query, 37);
        assert_eq!(sealed, naive(&all, query), "{query:?}");
        assert_eq!(sealed, clear, "{query:?}");
        assert!(!sealed.is_empty(), "{query:?} finds nothing");
        let explain = &pages[0].explain;
        if query != &Query::default() && query.from.is_none() {
            assert_ne!(explain.index, "chain", "{query:?} walked the chain instead of its index: {explain:?}");
        }
    }
    assert!(engine.check_index("sealed").unwrap().is_consistent());
    drop(engine);
    let raw = RawStore::open(&store).unwrap();
    let keys: Vec<_> = raw.entries(Cf::Tenants).unwrap().into_iter().filter(|(k, _)| k[0] == b'e').collect();
    assert_eq!(keys.len(), 2, "one tenant with a value key and a content key, the other with none");
}

#[test]
fn verification_needs_no_key_and_a_destroyed_kek_makes_only_its_tenants_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let ring = keyring(dir.path());
    let old_kek = ring.current_kek().unwrap();
    {
        let engine = open(&store, Some(ring.clone()), &clock);
        engine.append("ws_a", &corpus_events("ws_a", 200)).unwrap();
    }
    // A new KEK; the next tenant's keys are wrapped under it.
    ring.add_key(T0).unwrap();
    {
        let engine = open(&store, Some(ring.clone()), &clock);
        engine.append("ws_b", &corpus_events("ws_b", 200)).unwrap();
    }

    // Without any key: every chain verifies, no content can be checked, and
    // rows read as an error naming the cause.
    let keyless = open(&store, None, &clock);
    for t in ["ws_a", "ws_b"] {
        let VerifyOutcome::Intact(r) = keyless.verify(t, ..).unwrap() else { panic!("{t}") };
        assert_eq!((r.count, r.content_unchecked), (200, 200), "{t}");
        let e = keyless.get(t, 5).unwrap_err();
        assert!(matches!(&e, Error::Keyring(m) if m.contains("opened without a key provider")), "{e}");
        assert!(matches!(keyless.append(t, &corpus_events(t, 1)), Err(Error::Keyring(_))), "{t}: written in the clear?");
    }
    drop(keyless);

    ring.destroy_key(&old_kek, T0).unwrap();
    let engine = open(&store, Some(ring), &clock);
    let e = engine.get("ws_a", 5).unwrap_err();
    assert!(matches!(&e, Error::Keyring(m) if m.contains(&format!("KEK {old_kek} was destroyed"))), "{e}");
    assert!(matches!(engine.query("ws_a", &Query::default(), 10, None), Err(Error::Keyring(_))));
    assert!(matches!(engine.append("ws_a", &corpus_events("ws_a", 1)), Err(Error::Keyring(_))));
    assert_eq!(engine.get("ws_b", 5).unwrap().unwrap().seq, 5, "another tenant reads on");
    engine.append("ws_b", &corpus_events("ws_b", 1)).unwrap();
    let VerifyOutcome::Intact(a) = engine.verify("ws_a", ..).unwrap() else { panic!() };
    assert_eq!((a.count, a.content_unchecked), (200, 200));
    let VerifyOutcome::Intact(b) = engine.verify("ws_b", ..).unwrap() else { panic!() };
    assert_eq!((b.count, b.content_unchecked), (201, 0));
}

#[test]
fn changed_sealed_content_fails_verification_with_the_key_and_reads_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let ring = keyring(dir.path());
    {
        let engine = open(&store, Some(ring.clone()), &clock);
        engine.append("ws_a", &corpus_events("ws_a", 50)).unwrap();
    }
    // Flip one byte near the end of row 20's value (inside the sealed
    // content, before the CRC), and fix the CRC: only the hashes and the
    // cipher's tag can tell.
    let raw = RawStore::open(&store).unwrap();
    let (key, mut value) = raw.entries(Cf::Records).unwrap().into_iter().nth(19).unwrap();
    let n = value.len();
    value[n - 10] ^= 1;
    let crc = crc32fast::hash(&value[..n - 4]);
    value[n - 4..].copy_from_slice(&crc.to_be_bytes());
    raw.put(Cf::Records, &key, &value).unwrap();
    drop(raw);
    let engine = open(&store, Some(ring), &clock);
    let VerifyOutcome::Broken(b) = engine.verify("ws_a", ..).unwrap() else { panic!("a changed row verified") };
    assert_eq!((b.seq, b.reason), (20, BreakReason::ContentMismatch));
    assert!(matches!(engine.get("ws_a", 20), Err(Error::Corrupt(_))));
    drop(engine);
    // Without the key, the chain still verifies: the change is in content
    // only a key holder can check.
    let keyless = open(&store, None, &Arc::new(ManualClock::new(T0)));
    assert!(keyless.verify("ws_a", ..).unwrap().is_intact());
}

#[test]
fn content_keys_rotate_with_the_month_and_rows_under_every_key_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let ring = keyring(dir.path());
    let engine = open(&store, Some(ring.clone()), &clock);
    let events = corpus_events("ws_a", 90);
    for (month, chunk) in events.chunks(30).enumerate() {
        clock.set(T0 + month as u64 * 32 * 86_400 * 1_000_000_000);
        engine.append("ws_a", chunk).unwrap();
    }
    // Idempotency keys still replay (they are stored as keyed hashes).
    let mut e = events[0].clone();
    e.idempotency_key = Some("order-42".into());
    let first = engine.append("ws_a", &[e.clone()]).unwrap()[0];
    let again = engine.append("ws_a", &[e]).unwrap()[0];
    assert!(again.replayed && again.seq == first.seq);
    drop(engine);
    let raw = RawStore::open(&store).unwrap();
    let keys = raw.entries(Cf::Tenants).unwrap().into_iter().filter(|(k, _)| k[0] == b'e').count();
    assert_eq!(keys, 4, "a value key and a content key for each of three months");
    let idem = raw.entries(Cf::Idempotency).unwrap();
    assert!(idem.iter().all(|(k, _)| !k.windows(8).any(|w| w == b"order-42")), "the idempotency key is in the clear");
    drop(raw);
    let engine = open(&store, Some(ring), &clock);
    let rows: Vec<Record> = engine.iter("ws_a", 1).unwrap().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 91);
    for (r, e) in rows.iter().zip(&events) {
        assert_eq!(r.event.actor_id, e.actor.id);
    }
    assert_eq!(walk(&engine, "ws_a", &Query::default(), 50).0.len(), 91);
}

#[test]
fn retention_and_deletion_work_on_an_encrypted_tenant() {
    use annal_engine::{Actor, ActorType, Retention, RunOptions, Tier};
    let operator = Actor { kind: ActorType::User, id: "u_ops".into(), name: None, email: None, on_behalf_of: None };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let ring = keyring(dir.path());
    let engine = Engine::builder(&store)
        .default_policy(keep_everything())
        .clock(clock.clone())
        .key_provider(ring.clone())
        .signing_key(crate::KEY)
        .open()
        .unwrap();
    engine.set_retention("ws_a", Retention::Tier(Tier::Free), operator.clone()).unwrap();
    let events = corpus_events("ws_a", 100);
    let mut idem = events[3].clone();
    idem.idempotency_key = Some("k-1".into());
    engine.append("ws_a", &[idem]).unwrap();
    engine.append("ws_a", &events[..50]).unwrap();
    clock.advance(100 * 86_400 * 1_000_000_000);
    engine.append("ws_a", &events[50..]).unwrap();
    let report = engine.run_retention(&RunOptions::default()).unwrap();
    let run = report.tenants.iter().find(|t| t.tenant == "ws_a").unwrap();
    // The policy row, the idempotent row and 50 more were due.
    assert_eq!(run.rows, 52, "{report:?}");
    let VerifyOutcome::Intact(r) = engine.verify("ws_a", ..).unwrap() else { panic!("broken after retention") };
    assert_eq!(r.content_unchecked, 0);
    assert!(engine.check_index("ws_a").unwrap().is_consistent());
    engine.delete_tenant("ws_a", "closed", operator).unwrap();
    drop(engine);
    let raw = RawStore::open(&store).unwrap();
    assert!(raw.entries(Cf::Idempotency).unwrap().is_empty(), "an idempotency entry of a deleted row is left");
    assert!(raw.entries(Cf::Tenants).unwrap().iter().all(|(k, _)| k[0] != b'e'), "a deleted tenant's keys are left");
}

#[test]
fn a_bundle_of_an_encrypted_tenant_carries_its_rows_opened_and_verifies_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::builder(&store)
        .default_policy(keep_everything())
        .clock(clock.clone())
        .key_provider(keyring(dir.path()))
        .signing_key(crate::KEY)
        .open()
        .unwrap();
    let events = corpus_events("ws_a", 60);
    engine.append("ws_a", &events[..30]).unwrap();
    engine.checkpoint("ws_a").unwrap();
    engine.append("ws_a", &events[30..]).unwrap();
    engine.checkpoint("ws_a").unwrap();
    let mut bundle = Vec::new();
    engine.write_bundle("ws_a", 35, 45, &mut bundle).unwrap();
    let report = annal_engine::checkpoint::verify_bundle(&bundle[..], None).unwrap();
    assert_eq!(report.rows, 11);
    let (ok, text) = crate::bundle::python(&bundle, None);
    assert!(ok, "{text}");
    // The rows are in it to be read: an actor's id, in the clear.
    let id = &events[35].actor.id;
    assert!(bundle.windows(id.len()).any(|w| w == id.as_bytes()), "the bundle's rows are not readable");
    // One changed byte of a row's content: both verifiers name the frame.
    let at = bundle.windows(id.len()).position(|w| w == id.as_bytes()).unwrap();
    let mut bad = bundle.clone();
    bad[at] ^= 0x01;
    // Fix the frame's CRC, so that only the commitment can tell.
    refresh_frame_crc(&mut bad, at);
    assert!(annal_engine::checkpoint::verify_bundle(&bad[..], None).is_err());
    let (ok, text) = crate::bundle::python(&bad, None);
    assert!(!ok && text.contains("content does not match"), "{text}");
}

/// Recomputes the CRC of the bundle frame holding byte `at` (frames are
/// `kind ‖ u32be(len) ‖ payload ‖ crc32(kind ‖ len ‖ payload)` after the
/// 14-byte magic; docs/FORMAT.md, "Export bundles").
fn refresh_frame_crc(bundle: &mut [u8], at: usize) {
    let mut i = 14;
    loop {
        let len = u32::from_be_bytes(bundle[i + 1..i + 5].try_into().unwrap()) as usize;
        let end = i + 5 + len;
        if at < end {
            let crc = crc32fast::hash(&bundle[i..end]);
            bundle[end..end + 4].copy_from_slice(&crc.to_be_bytes());
            // The record value's own CRC, inside the payload (after the seq).
            let value = &mut bundle[i + 5 + 8..end];
            let n = value.len();
            let crc = crc32fast::hash(&value[..n - 4]);
            value[n - 4..].copy_from_slice(&crc.to_be_bytes());
            let crc = crc32fast::hash(&bundle[i..end]);
            bundle[end..end + 4].copy_from_slice(&crc.to_be_bytes());
            return;
        }
        i = end + 4;
    }
}

#[test]
fn rewrapping_under_a_new_kek_lets_the_old_one_be_destroyed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let ring = keyring(dir.path());
    let old = ring.current_kek().unwrap();
    {
        let engine = open(&store, Some(ring.clone()), &clock);
        engine.append("ws_a", &corpus_events("ws_a", 40)).unwrap();
        engine.append("ws_b", &corpus_events("ws_b", 40)).unwrap();
        let new = ring.add_key(T0).unwrap();
        let done = engine.rewrap_keys(None).unwrap();
        assert_eq!(done, vec![("ws_a".to_string(), 2), ("ws_b".to_string(), 2)]);
        assert_ne!(old, new);
    }
    ring.destroy_key(&old, T0).unwrap();
    let engine = open(&store, Some(ring), &clock);
    for t in ["ws_a", "ws_b"] {
        assert_eq!(engine.iter(t, 1).unwrap().count(), 40, "{t}");
        let VerifyOutcome::Intact(r) = engine.verify(t, ..).unwrap() else { panic!("{t}") };
        assert_eq!(r.content_unchecked, 0);
    }
}

#[test]
fn a_tenant_brings_its_own_kek_and_losing_it_shreds_that_tenant_alone() {
    use annal_engine::cipher::WrappedKey;
    use annal_engine::keyring::KeyCommand;
    use annal_engine::{Actor, ActorType, KEK_SET_ACTION};
    let admin = Actor { kind: ActorType::User, id: "u_admin".into(), name: None, email: None, on_behalf_of: None };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("kms");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("annal"), [1u8; 32]).unwrap();
    std::fs::write(keys.join("customer_a"), [2u8; 32]).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/key_command.py");
    let argv = vec!["python3".into(), script.display().to_string(), keys.display().to_string()];
    let kms = Arc::new(KeyCommand::new(argv, "annal").unwrap());
    let store = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::builder(&store)
        .clock(clock.clone())
        .key_provider(kms)
        .key_cache_ttl(std::time::Duration::from_millis(300))
        .open()
        .unwrap();
    engine.append("ws_a", &corpus_events("ws_a", 30)).unwrap();
    engine.append("ws_b", &corpus_events("ws_b", 30)).unwrap();

    // Refused, changing nothing: a reference that is not one, a KEK the
    // KMS does not have, a tenant that is not encrypted.
    let e = engine.set_tenant_kek("ws_a", Some("no spaces"), admin.clone()).unwrap_err();
    assert!(matches!(&e, Error::InvalidEncryption(fe) if fe.field == "kek"), "{e}");
    assert!(matches!(engine.set_tenant_kek("ws_a", Some("customer_x"), admin.clone()), Err(Error::Keyring(_))));
    assert_eq!(engine.encryption("ws_a").unwrap().own_kek, None);
    let plain = Engine::builder(dir.path().join("plain")).open().unwrap();
    plain.append("ws_p", &corpus_events("ws_p", 1)).unwrap();
    assert!(matches!(plain.set_tenant_kek("ws_p", Some("k"), admin.clone()), Err(Error::NotEncrypted)));

    let receipt = engine.set_tenant_kek("ws_a", Some("customer_a"), admin.clone()).unwrap();
    let row = engine.get("ws_a", receipt.seq).unwrap().unwrap();
    assert_eq!(row.event.action, KEK_SET_ACTION);
    let status = engine.encryption("ws_a").unwrap();
    assert_eq!((status.encrypted, status.own_kek.as_deref(), status.data_keys), (true, Some("customer_a"), 2));
    // A new month's content key goes under the tenant's KEK too.
    clock.advance(40 * 86_400 * 1_000_000_000);
    engine.append("ws_a", &corpus_events("ws_a", 5)).unwrap();
    assert_eq!(engine.encryption("ws_a").unwrap().data_keys, 3);
    drop(engine);
    let raw = RawStore::open(&store).unwrap();
    let wrapped: Vec<(u64, String)> = raw
        .entries(Cf::Tenants)
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k[0] == b'e')
        .map(|(k, v)| (u64::from_be_bytes(k[1..9].try_into().unwrap()), WrappedKey::decode(&v).unwrap().kek))
        .collect();
    drop(raw);
    let a_number = wrapped.iter().find(|(_, kek)| kek == "customer_a").map(|(n, _)| *n).unwrap();
    for (n, kek) in &wrapped {
        assert_eq!(kek, if *n == a_number { "customer_a" } else { "annal" }, "{wrapped:?}");
    }

    // The customer revokes its key: its workspace alone goes dark, within
    // the key cache's time, in an engine already running.
    let kms = Arc::new(
        KeyCommand::new(vec!["python3".into(), script.display().to_string(), keys.display().to_string()], "annal").unwrap(),
    );
    let engine = Engine::builder(&store)
        .clock(clock)
        .key_provider(kms)
        .key_cache_ttl(std::time::Duration::from_millis(300))
        .open()
        .unwrap();
    assert_eq!(engine.get("ws_a", 3).unwrap().unwrap().seq, 3);
    std::fs::remove_file(keys.join("customer_a")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let e = engine.get("ws_a", 3).unwrap_err();
    assert!(matches!(&e, Error::Keyring(m) if m.contains("no key customer_a")), "{e}");
    assert_eq!(engine.get("ws_b", 3).unwrap().unwrap().seq, 3);
    let VerifyOutcome::Intact(r) = engine.verify("ws_a", ..).unwrap() else { panic!("ws_a's chain broke") };
    assert_eq!((r.count, r.content_unchecked), (36, 36), "every row verified, none of their content readable");
}
