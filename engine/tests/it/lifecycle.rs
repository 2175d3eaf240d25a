//! Workspaces created and deleted by a platform: platform keys, creation
//! with a first key, deletion after a grace period that can be cancelled,
//! each step a row of the platform chain.

use std::sync::Arc;
use std::time::Duration;

use annal_engine::{Actor, ActorType, Clock, Engine, Error, KeySource, ManualClock, Scheduled, Scopes, PLATFORM_TENANT};

use crate::{event, T0};

const DAY_NS: u64 = 86_400 * 1_000_000_000;
const GRACE: Duration = Duration::from_secs(30 * 86_400);

fn platform() -> Actor {
    Actor { kind: ActorType::ApiKey, id: "pk".into(), name: None, email: None, on_behalf_of: None }
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Engine {
    Engine::builder(dir).clock(clock.clone()).signing_key(KeySource::Seed([3; 32])).open().unwrap()
}

fn platform_actions(engine: &Engine) -> Vec<String> {
    engine.iter(PLATFORM_TENANT, 1).unwrap().map(|r| r.unwrap().event.action).collect()
}

#[test]
fn platform_keys_belong_to_no_tenant_and_tenant_keys_never_get_their_scope() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    let (key, token) = engine.create_platform_key("provisioning", platform()).unwrap();
    let live = engine.authenticate(&token).unwrap();
    assert_eq!((live.tenant.as_str(), live.scopes), (PLATFORM_TENANT, Scopes::PLATFORM));
    assert_eq!(live.id, key.id);
    assert!(!live.scopes.contains(Scopes::READ) && !live.scopes.contains(Scopes::INGEST));
    assert_eq!(engine.platform_keys().unwrap().len(), 1);
    assert_eq!(platform_actions(&engine), ["annal.key.created"]);
    engine.append("acme", &[event(1)]).unwrap();
    let e = engine.create_api_key("acme", Scopes::PLATFORM.union(Scopes::READ), "x", platform()).unwrap_err();
    assert!(matches!(&e, Error::InvalidApiKeyRequest(f) if f.field == "scopes"), "{e}");
    let e = engine.create_tenant("globex", Scopes::PLATFORM, "x", platform()).unwrap_err();
    assert!(matches!(&e, Error::InvalidApiKeyRequest(f) if f.field == "scopes"), "{e}");
    assert_eq!(Scopes::from_names(&["platform"]).unwrap(), Scopes::PLATFORM);
}

#[test]
fn a_created_workspace_starts_with_its_admin_key_and_is_recorded() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    let (key, token) = engine.create_tenant("acme", Scopes::ADMIN, "first admin", platform()).unwrap();
    assert_eq!(engine.authenticate(&token).unwrap().tenant, "acme");
    assert_eq!(key.scopes, Scopes::ADMIN);
    // The tenant's chain begins with its key's row; the platform's records the creation.
    assert_eq!(engine.get("acme", 1).unwrap().unwrap().event.action, "annal.key.created");
    assert_eq!(platform_actions(&engine), ["annal.tenant.created"]);
    assert!(matches!(engine.create_tenant("acme", Scopes::ADMIN, "again", platform()), Err(Error::TenantExists)));
    assert!(matches!(engine.create_tenant("annal.x", Scopes::ADMIN, "", platform()), Err(Error::InvalidTenant(_))));
    assert_eq!(engine.tenant_infos().unwrap().iter().map(|t| t.tenant.as_str()).collect::<Vec<_>>(), ["acme"]);
}

#[test]
fn a_scheduled_deletion_closes_the_workspace_at_once_and_purges_it_after_the_grace_period() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    let (_, token) = engine.create_tenant("acme", Scopes::INGEST.union(Scopes::READ), "svc", platform()).unwrap();
    engine.append("acme", &[event(1), event(2)]).unwrap();
    engine.append("other", &[event(3)]).unwrap();
    let Scheduled::Pending(pending, _) = engine.schedule_tenant_deletion("acme", "churned", GRACE, platform()).unwrap() else {
        panic!("not scheduled")
    };
    assert_eq!(pending.purge_after, clock.now_ns() + 30 * DAY_NS);
    // Closed at once: keys, reads and appends.
    assert!(matches!(engine.authenticate(&token), Err(Error::InvalidApiKey)));
    assert!(matches!(engine.head("acme"), Err(Error::TenantClosing)));
    assert!(matches!(engine.append("acme", &[event(4)]), Err(Error::TenantClosing)));
    assert!(!engine.tenants().contains(&"acme".to_string()));
    assert_eq!(engine.tenant_info("acme").unwrap().deletion, Some(pending.clone()));
    // Scheduling again keeps the first schedule.
    assert!(matches!(
        engine.schedule_tenant_deletion("acme", "again", GRACE, platform()).unwrap(),
        Scheduled::AlreadyPending(p) if p == pending
    ));
    // A restart keeps it closed.
    drop(engine);
    let engine = open(dir.path(), &clock);
    assert!(matches!(engine.authenticate(&token), Err(Error::InvalidApiKey)));
    assert!(matches!(engine.head("acme"), Err(Error::TenantClosing)));
    // Not due yet: nothing purged.
    clock.advance(29 * DAY_NS);
    assert!(engine.purge_due_deletions().0.is_empty());
    clock.advance(DAY_NS);
    let (purged, failed) = engine.purge_due_deletions();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].1.deletion_id, pending.id_hex());
    assert!(matches!(engine.head("acme"), Err(Error::UnknownTenant)));
    assert!(engine.tenant_infos().unwrap().iter().all(|t| t.tenant != "acme"));
    assert_eq!(engine.head("other").unwrap().seq, 1);
    assert_eq!(platform_actions(&engine), ["annal.tenant.created", "annal.tenant.deletion_scheduled", "annal.tenant.deleted"]);
    assert!(engine.verify(PLATFORM_TENANT, ..).unwrap().is_intact());
}

#[test]
fn a_cancelled_deletion_gives_the_workspace_back_whole() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    let (_, token) = engine.create_tenant("acme", Scopes::INGEST, "svc", platform()).unwrap();
    engine.append("acme", &[event(1)]).unwrap();
    engine.schedule_tenant_deletion("acme", "churned", GRACE, platform()).unwrap();
    engine.cancel_tenant_deletion("acme", platform()).unwrap();
    assert!(matches!(engine.cancel_tenant_deletion("acme", platform()), Err(Error::NoPendingDeletion)));
    assert_eq!(engine.authenticate(&token).unwrap().tenant, "acme");
    assert_eq!(engine.append("acme", &[event(2)]).unwrap()[0].seq, 3);
    clock.advance(31 * DAY_NS);
    assert!(engine.purge_due_deletions().0.is_empty());
    assert!(engine.verify("acme", ..).unwrap().is_intact());
    assert_eq!(
        platform_actions(&engine),
        ["annal.tenant.created", "annal.tenant.deletion_scheduled", "annal.tenant.deletion_cancelled"]
    );
}

#[test]
fn a_legal_hold_refuses_the_schedule_and_a_zero_grace_deletes_at_once() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    engine.append("held", &[event(1)]).unwrap();
    engine.place_hold("held", "litigation", platform()).unwrap();
    assert!(matches!(engine.schedule_tenant_deletion("held", "x", GRACE, platform()), Err(Error::OnHold { .. })));
    assert_eq!(engine.head("held").unwrap().seq, 2);
    engine.append("now", &[event(1)]).unwrap();
    assert!(matches!(engine.schedule_tenant_deletion("now", "x", Duration::ZERO, platform()).unwrap(), Scheduled::Deleted(_)));
    assert!(matches!(engine.head("now"), Err(Error::UnknownTenant)));
    assert!(matches!(engine.cancel_tenant_deletion("nobody", platform()), Err(Error::UnknownTenant)));
}

#[test]
fn the_retention_daemon_purges_what_is_due_before_its_run() {
    let (dir, clock) = (tempfile::tempdir().unwrap(), Arc::new(ManualClock::new(T0)));
    let engine = open(dir.path(), &clock);
    engine.append("acme", &[event(1)]).unwrap();
    engine.schedule_tenant_deletion("acme", "churned", GRACE, platform()).unwrap();
    clock.advance(30 * DAY_NS);
    let (tx, rx) = std::sync::mpsc::channel();
    let daemon = annal_engine::RetentionDaemon::start(
        engine.clone(),
        Duration::from_secs(3600),
        |_| {},
        move |purged, failed| {
            let _ = tx.send((purged.into_iter().map(|(t, _)| t).collect::<Vec<_>>(), failed.len()));
        },
    )
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), (vec!["acme".to_string()], 0));
    daemon.stop();
    assert!(matches!(engine.head("acme"), Err(Error::UnknownTenant)));
}
