//! A store written by the previous build (store format 2), opened by this
//! one: `testdata/stores/format2/` is such a store, checked in as RocksDB
//! left it. It was made with the build of format 2 by
//!
//! ```sh
//! gen-corpus --count 1200 --out corpus
//! head -300 corpus/ws_acme.ndjson | annal ingest --data-dir store --tenant ws_acme --batch-size 100
//! head -200 corpus/ws_globex.ndjson | annal ingest --data-dir store --tenant ws_globex --batch-size 50
//! annal keys create --data-dir store --tenant ws_acme --scope read --label fixture
//! ```
//!
//! (one index entry per row and value; `ingest` also made a checkpoint of
//! each chain). The heads below are what that build reported.

use std::path::Path;

use annal_engine::{Backups, Cf, Engine, Error, KeySource, Order, Query, RawStore, Record, STORE_FORMAT_VERSION};

use crate::corpus_events;
use crate::query::{naive, walk};

/// Each tenant's last seq and head, as the format 2 build left them.
const HEADS: [(&str, u64, &str); 2] = [
    ("ws_acme", 301, "9445f846d2e4a4bab24bb275de2f61a5a39ef1bddba078e2a83a7d17f5a84989"),
    ("ws_globex", 176, "2a3365fd6d3d9c1a3d6a25157c3d1a790b28c60a252cb13344c21dacdfff1954"),
];

/// The fixture's checkpoints were signed by a key its build kept elsewhere;
/// opening it with another key would be refused as a key change, and these
/// tests sign nothing, so they open without one.
const NO_KEY: KeySource = KeySource::None;

fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/stores/format2");
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn format_version(dir: &Path) -> Vec<u8> {
    let raw = RawStore::open(dir).unwrap();
    raw.entries(Cf::Meta).unwrap().into_iter().find(|(k, _)| k == b"format_version").unwrap().1
}

/// Every query shape the indexes serve, each both ways, checked against a
/// filter over every row.
fn queries_agree_with_a_naive_filter(engine: &Engine, tenant: &str) {
    let all: Vec<Record> = engine.iter(tenant, 1).unwrap().map(Result::unwrap).collect();
    let e = &all[all.len() / 3].event;
    let mut queries = vec![
        Query { actor: Some(e.actor_id.clone()), ..Query::default() },
        Query { action: Some(e.action.clone()), ..Query::default() },
        Query { action_prefix: Some(e.action.split('.').next().unwrap().to_string()), ..Query::default() },
        Query { outcome: e.outcome, ..Query::default() },
        Query { session: e.session_id.clone(), ..Query::default() },
        Query { from: Some(all[40].recorded_at), to: Some(all[all.len() - 40].recorded_at), ..Query::default() },
    ];
    for q in queries.clone() {
        queries.push(Query { order: Order::Desc, ..q });
    }
    for q in &queries {
        assert_eq!(walk(engine, tenant, q, 7).0, naive(&all, q), "{tenant}: {q:?}");
    }
}

#[test]
fn a_format_2_store_opens_as_format_5_with_every_row_head_and_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    assert_eq!(format_version(dir.path()), 2u32.to_be_bytes());
    // No upgrade without a backup, unless the caller says so.
    match Engine::builder(dir.path()).signing_key(NO_KEY).open() {
        Err(Error::UpgradeNeedsBackup { found: 2, current: 5 }) => {}
        other => panic!("an upgrade without a backup choice: {other:?}"),
    }
    assert_eq!(format_version(dir.path()), 2u32.to_be_bytes());
    let backups = tempfile::tempdir().unwrap();
    {
        let engine = Engine::builder(dir.path()).signing_key(NO_KEY).upgrade_backup_dir(backups.path()).open().unwrap();
        for (tenant, seq, head) in HEADS {
            let h = engine.head(tenant).unwrap();
            assert_eq!((h.seq, h.head.to_hex()), (seq, head.to_string()), "{tenant}");
            assert!(engine.verify(tenant, ..).unwrap().is_intact(), "{tenant}");
            assert!(engine.check_index(tenant).unwrap().is_consistent(), "{tenant}: {:?}", engine.check_index(tenant));
            queries_agree_with_a_naive_filter(&engine, tenant);
        }
        assert_eq!(engine.api_keys("ws_acme").unwrap().len(), 1);
        // Rows appended now get format 3 postings beside the format 2 entries
        // (the corpus's next 400 events: the first 300 are in the fixture).
        for chunk in corpus_events("ws_acme", 700)[300..].chunks(100) {
            engine.append("ws_acme", chunk).unwrap();
        }
        assert_eq!(engine.head("ws_acme").unwrap().seq, 701);
        assert!(engine.verify("ws_acme", ..).unwrap().is_intact());
        assert!(engine.check_index("ws_acme").unwrap().is_consistent());
        queries_agree_with_a_naive_filter(&engine, "ws_acme");
    }
    assert_eq!(format_version(dir.path()), STORE_FORMAT_VERSION.to_be_bytes());
    assert_eq!(STORE_FORMAT_VERSION, 5);
}

#[test]
fn the_backup_taken_before_an_upgrade_restores_the_old_store() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let backups = tempfile::tempdir().unwrap();
    drop(Engine::builder(dir.path()).signing_key(NO_KEY).upgrade_backup_dir(backups.path()).open().unwrap());
    let set = Backups::new(backups.path());
    assert_eq!(set.list().unwrap().len(), 1);
    let back = tempfile::tempdir().unwrap();
    let target = back.path().join("store");
    let open = |p: &Path| {
        // What the backup holds is the store before the upgrade.
        assert_eq!(format_version(p), 2u32.to_be_bytes());
        Engine::builder(p).signing_key(NO_KEY).upgrade_without_backup().open()
    };
    set.restore(None, &target, &open).unwrap();
    let engine = Engine::builder(&target).signing_key(NO_KEY).open().unwrap();
    for (tenant, seq, head) in HEADS {
        let h = engine.head(tenant).unwrap();
        assert_eq!((h.seq, h.head.to_hex()), (seq, head.to_string()), "{tenant}");
    }
}

#[test]
fn a_format_3_or_4_store_is_upgraded_to_5_after_its_backup_changing_no_other_byte() {
    for old in [3u32, 4] {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = Engine::builder(dir.path()).signing_key(NO_KEY).open().unwrap();
            for chunk in corpus_events("ws_acme", 300).chunks(100) {
                engine.append("ws_acme", chunk).unwrap();
            }
        }
        // What a format 3 or 4 build left: the same bytes (no tenant of an
        // engine without a key provider is encrypted), and its version.
        let raw = RawStore::open(dir.path()).unwrap();
        raw.put(Cf::Meta, b"format_version", &old.to_be_bytes()).unwrap();
        let before: Vec<_> =
            [Cf::Records, Cf::Index, Cf::Heads, Cf::Tenants].iter().map(|cf| raw.entries(*cf).unwrap()).collect();
        drop(raw);
        assert!(matches!(
            Engine::builder(dir.path()).signing_key(NO_KEY).open(),
            Err(Error::UpgradeNeedsBackup { found, current: 5 }) if found == old
        ));
        let backups = tempfile::tempdir().unwrap();
        drop(Engine::builder(dir.path()).signing_key(NO_KEY).upgrade_backup_dir(backups.path()).open().unwrap());
        assert_eq!(format_version(dir.path()), 5u32.to_be_bytes());
        let raw = RawStore::open(dir.path()).unwrap();
        let after: Vec<_> = [Cf::Records, Cf::Index, Cf::Heads, Cf::Tenants].iter().map(|cf| raw.entries(*cf).unwrap()).collect();
        assert_eq!(before, after);
        assert_eq!(Backups::new(backups.path()).list().unwrap().len(), 1);
    }
}
