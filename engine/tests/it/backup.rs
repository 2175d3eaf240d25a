//! Backups (`annal_engine::backup`): taken while appends go on, verified by
//! restoring, restored without bringing deleted workspaces back, and
//! surviving SIGKILL while being made or restored.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use annal_engine::checkpoint::KEY_FILE;
use annal_engine::{
    Actor, ActorType, Backups, Engine, Error, KeySource, LedgerKind, ManualClock, Retention, Scheduled, Tier, PLATFORM_TENANT,
};

use crate::kill::{print_acks, run_and_kill, Moments};
use crate::{event, files_under, T0};

const SEED: KeySource = KeySource::Seed([9; 32]);

fn open(p: &Path) -> annal_engine::Result<Engine> {
    Engine::builder(p).signing_key(SEED).open()
}

fn admin() -> Actor {
    Actor { kind: ActorType::User, id: "ops".into(), name: None, email: None, on_behalf_of: None }
}

fn fill(engine: &Engine, tenant: &str, rows: u64) {
    for chunk in (0..rows).collect::<Vec<_>>().chunks(100) {
        engine.append(tenant, &chunk.iter().map(|i| event(*i)).collect::<Vec<_>>()).unwrap();
    }
}

#[test]
fn a_backup_taken_under_load_restores_every_row_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let backups_dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).unwrap();
    for t in ["a", "b", "c", "d"] {
        fill(&engine, t, 300);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = ["a", "b", "c", "d"]
        .into_iter()
        .map(|t| {
            let (engine, stop) = (engine.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    engine.append(t, &[event(i), event(i + 1)]).unwrap();
                    i += 2;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    // Every row durable before the backup starts.
    let before: Vec<_> = ["a", "b", "c", "d"].iter().map(|t| (*t, engine.head(t).unwrap())).collect();
    let backups = Backups::new(backups_dir.path());
    let made = backups.create(&engine, None).unwrap();
    assert!(made.unchecked.is_empty(), "{:?}", made.unchecked);
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    writers.into_iter().for_each(|w| w.join().unwrap());

    let check = backups.verify(None, Some(&engine.checkpoint_public_key().unwrap().0), &open).unwrap();
    assert!(check.is_good(), "{:?}", check.chains);
    assert_eq!(check.backup, made.backup);
    let target = tempfile::tempdir().unwrap();
    let restored_dir = target.path().join("store");
    backups.restore(None, &restored_dir, &open).unwrap();
    let restored = open(&restored_dir).unwrap();
    for (t, head) in before {
        let c = check.chains.iter().find(|c| c.tenant == t).unwrap();
        assert!(c.head_seq >= head.seq && c.checkpoint_seq.unwrap() >= head.seq, "{t}: {c:?} vs {head:?}");
        let row = restored.get(t, head.seq).unwrap().expect("an acknowledged row is in the backup");
        assert_eq!(row.head, head.head, "{t}");
        assert!(restored.verify(t, ..).unwrap().is_intact());
    }
    // The restore is recorded in the restored store's platform chain.
    let last = restored.get(PLATFORM_TENANT, restored.head(PLATFORM_TENANT).unwrap().seq).unwrap().unwrap();
    assert_eq!(last.event.action, "annal.backup.restored");
}

#[test]
fn backups_are_incremental_and_never_hold_the_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let backups_dir = tempfile::tempdir().unwrap();
    // A key file kept beside the data directory, as an operator might.
    let key_file = dir.path().join(KEY_FILE);
    annal_engine::checkpoint::init_key_file(&key_file).unwrap();
    let engine = Engine::builder(dir.path().join("store")).signing_key(KeySource::File(key_file)).open().unwrap();
    fill(&engine, "a", 3000);
    let backups = Backups::new(backups_dir.path());
    let first = backups.create(&engine, None).unwrap().backup;
    let size_after_first = dir_bytes(backups_dir.path());
    fill(&engine, "a", 100);
    let second = backups.create(&engine, None).unwrap().backup;
    let grown = dir_bytes(backups_dir.path()) - size_after_first;
    assert_eq!((first.id, second.id), (1, 2));
    // The second backup is (in its own bytes) the whole store, but what it
    // added to the directory is only the files written since the first.
    assert!(grown < second.bytes / 2, "grew {grown} for a backup of {} bytes", second.bytes);
    for f in files_under(backups_dir.path()) {
        assert_ne!(f.file_name().unwrap(), KEY_FILE, "{}", f.display());
    }
    // Keeping one deletes the older backup.
    backups.create(&engine, Some(1)).unwrap();
    assert_eq!(backups.list().unwrap().iter().map(|b| b.id).collect::<Vec<_>>(), [3]);
}

fn dir_bytes(dir: &Path) -> u64 {
    files_under(dir).iter().map(|f| f.metadata().unwrap().len()).sum()
}

#[test]
fn a_damaged_file_in_a_backup_fails_its_verification_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let backups_dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).unwrap();
    fill(&engine, "a", 2000);
    let backups = Backups::new(backups_dir.path());
    backups.create(&engine, None).unwrap();
    assert!(backups.verify(None, None, &open).unwrap().is_good());
    // Flip one byte in the middle of the largest SST file of the backup.
    let sst = files_under(backups_dir.path())
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "sst"))
        .max_by_key(|f| f.metadata().unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&sst).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&sst, bytes).unwrap();
    let err = backups.verify(None, None, &open).unwrap_err().to_string();
    let name = sst.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&name), "the error names the damaged file {name}: {err}");
    // A missing file is named too.
    std::fs::remove_file(&sst).unwrap();
    let err = backups.verify(None, None, &open).unwrap_err().to_string();
    assert!(err.contains(&name), "the error names the missing file {name}: {err}");
}

#[test]
fn a_restore_deletes_again_a_workspace_deleted_after_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let backups_dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).unwrap();
    fill(&engine, "gone", 50);
    fill(&engine, "kept", 50);
    fill(&engine, "early", 10);
    let backups = Backups::new(backups_dir.path());
    // Deleted before the backup: the backup holds the deletion itself.
    engine.delete_tenant("early", "closed account", admin()).unwrap();
    backups.create(&engine, None).unwrap();
    let deletion = engine.delete_tenant("gone", "closed account", admin()).unwrap();
    // The server brings the ledger up to date after each deletion step.
    assert_eq!(backups.sync_ledger(&engine).unwrap(), 1);
    assert_eq!(backups.ledger().entries().unwrap().len(), 2, "the backup added the earlier deletion");

    let target = tempfile::tempdir().unwrap();
    let restored_dir = target.path().join("store");
    let report = backups.restore(None, &restored_dir, &open).unwrap();
    assert_eq!(report.deletions_reapplied, [(LedgerKind::Deleted, "gone".to_string(), deletion.receipt.seq)]);
    let restored = open(&restored_dir).unwrap();
    assert_eq!(restored.tenants(), ["annal.platform", "kept"]);
    assert!(matches!(restored.head("gone"), Err(Error::UnknownTenant)));
    // The re-deletion is a row of the platform chain naming the original.
    let rows: Vec<_> = restored.iter(PLATFORM_TENANT, 1).unwrap().map(Result::unwrap).collect();
    let redo = rows.iter().find(|r| r.event.metadata.as_deref().is_some_and(|m| m.contains("reapplied_from"))).unwrap();
    let meta: serde_json::Value = serde_json::from_str(redo.event.metadata.as_deref().unwrap()).unwrap();
    assert_eq!(meta["tenant"], "gone");
    assert_eq!(meta["deletion_id"], deletion.deletion_id.as_str());
    assert_eq!(meta["reapplied_from"], deletion.receipt.seq);
    assert!(restored.verify(PLATFORM_TENANT, ..).unwrap().is_intact());
    drop(restored);

    // A backup of the restored store, restored again, does not delete twice.
    let second_backups = tempfile::tempdir().unwrap();
    std::fs::copy(
        backups.dir().join(annal_engine::backup::LEDGER_FILE),
        second_backups.path().join(annal_engine::backup::LEDGER_FILE),
    )
    .unwrap();
    let second = Backups::new(second_backups.path());
    let restored = open(&restored_dir).unwrap();
    fill(&restored, "gone", 5); // a new workspace under the old name
    second.create(&restored, None).unwrap();
    drop(restored);
    let again = target.path().join("again");
    assert!(second.restore(None, &again, &open).unwrap().deletions_reapplied.is_empty());
    assert_eq!(open(&again).unwrap().head("gone").unwrap().seq, 5);
}

#[test]
fn a_restore_refuses_a_directory_that_holds_anything() {
    let dir = tempfile::tempdir().unwrap();
    let backups_dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).unwrap();
    fill(&engine, "a", 10);
    let backups = Backups::new(backups_dir.path());
    backups.create(&engine, None).unwrap();
    let before = files_under(dir.path());
    let err = backups.restore(None, dir.path(), &open).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(files_under(dir.path()), before);
    assert!(engine.verify("a", ..).unwrap().is_intact());
    assert!(matches!(backups.restore(Some(7), &dir.path().join("x"), &open), Err(Error::Backup(m)) if m.contains("no backup 7")));
}

#[test]
fn a_restored_backup_serves_no_row_past_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    let backups_dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::builder(dir.path()).clock(clock.clone()).signing_key(SEED).open().unwrap();
    engine.set_retention("a", Retention::Tier(Tier::Free), admin()).unwrap();
    fill(&engine, "a", 20);
    clock.advance(60 * 86_400 * 1_000_000_000);
    fill(&engine, "a", 20);
    let backups = Backups::new(backups_dir.path());
    backups.create(&engine, None).unwrap();
    drop(engine);
    // Restored 40 days later: the first rows are 100 days old.
    clock.advance(40 * 86_400 * 1_000_000_000);
    let target = tempfile::tempdir().unwrap();
    let restored_dir = target.path().join("store");
    let at = |p: &Path| Engine::builder(p).clock(clock.clone()).signing_key(SEED).open();
    let report = backups.restore(None, &restored_dir, &at).unwrap();
    assert!(report.retention.rows >= 20, "{:?}", report.retention);
    let restored = at(&restored_dir).unwrap();
    assert!(restored.get("a", 2).unwrap().is_none());
    assert!(restored.get("a", 30).unwrap().is_some());
    assert!(restored.verify("a", ..).unwrap().is_intact());
}

const BACKUP_CHILD_ENV: &str = "ANNAL_BACKUP_CRASH_STORE";

/// The child of the SIGKILL test: appends and takes backups, over and over.
#[test]
fn backup_crash_child() {
    let Some(store) = std::env::var_os(BACKUP_CHILD_ENV) else { return };
    let store = PathBuf::from(store);
    let engine = open(&store.join("data")).unwrap();
    let backups = Backups::new(store.join("backups"));
    let restore_too = store.join("restore").exists();
    for round in 0u64.. {
        let receipts = engine.append("a", &(0..200).map(|i| event(round * 200 + i)).collect::<Vec<_>>()).unwrap();
        print_acks("a", &receipts);
        if restore_too {
            let _ = backups.restore(None, &store.join("restore").join(format!("r{round}")), &open);
        } else {
            backups.create(&engine, None).unwrap();
        }
    }
}

#[test]
fn sigkill_while_backing_up_or_restoring_leaves_the_backups_and_the_store_usable() {
    let mut moments = Moments::new(0x5eed_bac0);
    for (round, restore) in [false, false, false, true, true, true].into_iter().enumerate() {
        let root = tempfile::tempdir().unwrap();
        if restore {
            // Something to restore from.
            let engine = open(&root.path().join("data")).unwrap();
            fill(&engine, "a", 1000);
            Backups::new(root.path().join("backups")).create(&engine, None).unwrap();
            std::fs::create_dir(root.path().join("restore")).unwrap();
        }
        let after = moments.next(300, 700);
        let acks = run_and_kill("backup::backup_crash_child", BACKUP_CHILD_ENV, root.path(), after);
        let backups = Backups::new(root.path().join("backups"));
        // Every backup listed verifies; the store has every acknowledged row.
        for b in backups.list().unwrap() {
            let check = backups.verify(Some(b.id), None, &open).unwrap();
            assert!(check.is_good(), "round {round}, backup {}: {:?}", b.id, check.chains);
        }
        let engine = open(&root.path().join("data")).unwrap();
        for (t, seq, head) in &acks {
            assert_eq!(engine.get(t, *seq).unwrap().map(|r| r.head), Some(*head), "round {round}");
        }
        assert!(engine.verify("a", ..).unwrap().is_intact());
        // A new backup can be made and restored, into a new directory or
        // where a killed restore was writing.
        backups.create(&engine, None).unwrap();
        let target = root.path().join("after");
        backups.restore(None, &target, &open).unwrap();
        assert_eq!(open(&target).unwrap().head("a").unwrap().seq, engine.head("a").unwrap().seq);
        if restore {
            for entry in std::fs::read_dir(root.path().join("restore")).unwrap() {
                let p = entry.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue; // the killed restore's scratch copy
                }
                // A restore that finished is a whole store.
                assert!(open(&p).unwrap().verify("a", ..).unwrap().is_intact(), "{name}");
            }
        }
    }
}

#[test]
fn a_restore_schedules_again_a_deletion_scheduled_after_the_backup_and_cancels_a_cancelled_one() {
    let dir = tempfile::tempdir().unwrap();
    let backups_dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let at = |p: &Path| Engine::builder(p).clock(clock.clone()).signing_key(SEED).open();
    let engine = at(dir.path()).unwrap();
    for t in ["closing", "reprieved"] {
        fill(&engine, t, 10);
    }
    let backups = Backups::new(backups_dir.path());
    backups.create(&engine, None).unwrap();
    let grace = Duration::from_secs(30 * 86_400);
    let Scheduled::Pending(pending, _) = engine.schedule_tenant_deletion("closing", "churned", grace, admin()).unwrap() else {
        panic!("not scheduled")
    };
    engine.schedule_tenant_deletion("reprieved", "churned", grace, admin()).unwrap();
    engine.cancel_tenant_deletion("reprieved", admin()).unwrap();
    assert_eq!(backups.sync_ledger(&engine).unwrap(), 3);
    drop(engine);

    let target = tempfile::tempdir().unwrap();
    let restored_dir = target.path().join("store");
    let report = backups.restore(None, &restored_dir, &at).unwrap();
    let kinds: Vec<_> = report.deletions_reapplied.iter().map(|(k, t, _)| (*k, t.as_str())).collect();
    assert_eq!(
        kinds,
        [(LedgerKind::Scheduled, "closing"), (LedgerKind::Scheduled, "reprieved"), (LedgerKind::Cancelled, "reprieved")]
    );
    let restored = at(&restored_dir).unwrap();
    // The same schedule: the same id, the purge as first due.
    let info = restored.tenant_info("closing").unwrap();
    assert_eq!(info.deletion.as_ref().map(|d| (d.deletion_id, d.purge_after)), Some((pending.deletion_id, pending.purge_after)));
    assert!(matches!(restored.head("closing"), Err(Error::TenantClosing)));
    assert_eq!(restored.head("reprieved").unwrap().seq, 10);
    clock.advance(31 * 86_400 * 1_000_000_000);
    let (purged, failed) = restored.purge_due_deletions();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(purged.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["closing"]);
    assert!(matches!(restored.head("closing"), Err(Error::UnknownTenant)));
}

#[test]
fn the_backup_daemon_backs_up_at_start_and_verifies_what_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let backups_dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).unwrap();
    fill(&engine, "a", 200);
    let (tx, rx) = std::sync::mpsc::channel();
    let daemon = annal_engine::BackupDaemon::start(
        engine.clone(),
        Backups::new(backups_dir.path()),
        Duration::from_secs(3600),
        2,
        true,
        move |o| {
            let _ = tx.send(o);
        },
    )
    .unwrap();
    let o = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    daemon.stop();
    assert_eq!(o.created.unwrap().backup.id, 1);
    let check = o.verified.unwrap().unwrap();
    assert!(check.is_good(), "{:?}", check.chains);
    assert_eq!(check.chains.iter().find(|c| c.tenant == "a").unwrap().checkpoint_seq, Some(200));
}
