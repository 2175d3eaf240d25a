//! Redaction on write: no seeded personal data in any stored byte, searches
//! by pseudonym, policy changes as rows of the chain.

use std::path::Path;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use annal_engine::{
    Actor, ActorType, Cf, Engine, Error, Event, ManualClock, Policy, Query, RawStore, Rule, Strategy, POLICY_ACTION,
};
use annal_testdata::{corpus, seeded_pii, DEFAULT_CORPUS_SIZE, DEFAULT_SEED};
use serde_json::json;

use crate::T0;

/// The corpus's free-text `metadata.note` carries third parties' names, which
/// no detector can recognise; the workspace's policy drops it, as an operator
/// must for free text where names occur. Everything else is the default.
fn corpus_policy() -> Policy {
    let mut p = Policy::default();
    p.rules.push(Rule { path: "metadata.note".into(), strategy: Strategy::Drop });
    p
}

/// Appends the whole default corpus (12,000 events over 6 workspaces) into an
/// uncompressed store, so every stored byte is visible in the files.
fn ingest_corpus(dir: &Path, policy: Policy) {
    let engine = Engine::builder(dir).compression(false).default_policy(policy).open().unwrap();
    let mut per_tenant: std::collections::BTreeMap<String, Vec<Event>> = Default::default();
    for (tenant, v) in corpus(DEFAULT_SEED, DEFAULT_CORPUS_SIZE) {
        per_tenant.entry(tenant).or_default().push(Event::from_json_value(v).unwrap());
    }
    for (tenant, events) in &per_tenant {
        for chunk in events.chunks(500) {
            engine.append(tenant, chunk).unwrap();
        }
        assert!(engine.verify(tenant, ..).unwrap().is_intact());
    }
}

/// Seeded values found in `haystack`. IPv4 addresses count only as whole
/// tokens (not inside a longer run of digits and dots, like a version).
fn found(finder: &AhoCorasick, needles: &[String], haystack: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for m in finder.find_overlapping_iter(haystack) {
        let needle = &needles[m.pattern().as_usize()];
        if needle.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            let digitish = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_digit() || *b == b'.');
            if digitish(m.start().checked_sub(1).and_then(|i| haystack.get(i))) || digitish(haystack.get(m.end())) {
                continue;
            }
        }
        out.push(needle.clone());
    }
    out.sort();
    out.dedup();
    out
}

/// Rows live first in the WAL and, once flushed, in SST files: scans the
/// store as left by the engine (the WAL holding the rows), then flushes every
/// memtable and scans again (the SSTs holding them). The seeded values found.
fn scan_store(dir: &Path, needles: &[String]) -> Vec<String> {
    let (mut hits, _, wal_bytes) = scan_files(dir, needles);
    assert!(wal_bytes > 1 << 20, "the WAL should hold the rows: {wal_bytes} bytes");
    RawStore::open(dir).unwrap().flush().unwrap();
    let (more, ssts, _) = scan_files(dir, needles);
    assert!(ssts >= 3, "expected SST files after the flush, found {ssts}");
    hits.extend(more);
    hits
}

/// Every byte of every file under `dir`, and every key and value of every
/// column family read raw through the storage layer: the seeded values
/// found, the number of SST files and the bytes of WAL files.
fn scan_files(dir: &Path, needles: &[String]) -> (Vec<String>, usize, u64) {
    let finder = AhoCorasick::new(needles).unwrap();
    let mut hits = Vec::new();
    let (mut ssts, mut wal_bytes) = (0, 0);
    for path in crate::files_under(dir) {
        let bytes = std::fs::read(&path).unwrap();
        match path.extension().and_then(|e| e.to_str()) {
            Some("sst") => ssts += 1,
            Some("log") => wal_bytes += bytes.len() as u64,
            _ => {}
        }
        for h in found(&finder, needles, &bytes) {
            hits.push(format!("{h} in {}", path.display()));
        }
    }
    let raw = RawStore::open(dir).unwrap();
    for cf in Cf::ALL {
        for (k, v) in raw.entries(cf).unwrap() {
            for h in found(&finder, needles, &k).into_iter().chain(found(&finder, needles, &v)) {
                hits.push(format!("{h} in {} column family", cf.name()));
            }
        }
    }
    (hits, ssts, wal_bytes)
}

fn is_name(v: &str) -> bool {
    !v.contains('@') && !v.bytes().any(|b| b.is_ascii_digit()) && !v.contains(':')
}

#[test]
fn no_seeded_personal_data_reaches_disk() {
    let needles = seeded_pii(DEFAULT_SEED, DEFAULT_CORPUS_SIZE);
    assert!(needles.len() > 1000, "the corpus seeds {} values", needles.len());
    let dir = tempfile::tempdir().unwrap();
    ingest_corpus(dir.path(), corpus_policy());
    let hits = scan_store(dir.path(), &needles);
    assert!(hits.is_empty(), "{} raw values on disk, e.g. {:?}", hits.len(), &hits[..hits.len().min(5)]);

    // What leaves the store (exports, query pages) holds no raw value either.
    let engine = Engine::open(dir.path()).unwrap();
    let finder = AhoCorasick::new(&needles).unwrap();
    for tenant in engine.tenants() {
        let mut text = String::new();
        for row in engine.query_stream(&tenant, &Query::default()).unwrap() {
            text.push_str(&row.unwrap().to_json().to_string());
        }
        assert!(found(&finder, &needles, text.as_bytes()).is_empty(), "{tenant}: raw value in an export");
    }
}

#[test]
fn detectors_catch_contact_data_in_free_text_under_the_default_policy() {
    // No rule for the notes: their names stay (no detector knows names), but
    // every email address, phone number and IP address in them is caught.
    let needles: Vec<String> = seeded_pii(DEFAULT_SEED, DEFAULT_CORPUS_SIZE).into_iter().filter(|v| !is_name(v)).collect();
    assert!(needles.len() > 500);
    let dir = tempfile::tempdir().unwrap();
    ingest_corpus(dir.path(), Policy::default());
    let hits = scan_store(dir.path(), &needles);
    assert!(hits.is_empty(), "{} raw values on disk, e.g. {:?}", hits.len(), &hits[..hits.len().min(5)]);
}

#[test]
fn error_messages_never_echo_personal_data() {
    let (_d, engine, _c) = crate::store();
    let bad = [
        json!({"action":"auth.login","actor":{"type":"user","id":"u_1","email":"not an email sam@acme.com"}}),
        json!({"action":"auth.login","actor":{"type":"person","id":"sam@acme.com"}}),
        json!({"action":"auth.login","actor":{"type":"user","id":"u_1"},"ip":"sam@acme.com"}),
        json!({"action":"auth.login","actor":{"type":"user","id":"u_1"},"session_id":7, "x":"sam@acme.com"}),
    ];
    for v in bad {
        let err = match Event::from_json_value(v.clone()) {
            Err(fe) => fe.to_string(),
            Ok(e) => engine.append("t", &[e]).unwrap_err().to_string(),
        };
        assert!(!err.contains("sam@acme.com") && !err.contains("sam"), "{v}: {err}");
    }
}

fn policy_with(rules: &[(&str, Strategy)]) -> Policy {
    let mut p = Policy::default();
    for (path, s) in rules.iter().rev() {
        p.rules.insert(0, Rule { path: (*path).into(), strategy: *s });
    }
    p
}

fn admin() -> Actor {
    Actor { kind: ActorType::User, id: "u_admin".into(), name: None, email: Some("root@acme.com".into()), on_behalf_of: None }
}

#[test]
fn searching_by_a_raw_value_finds_the_pseudonymized_rows() {
    let (_d, engine, _c) = crate::store();
    let policy = policy_with(&[
        ("actor.email", Strategy::Pseudonymize),
        ("metadata.invitee", Strategy::Pseudonymize),
        ("target.id", Strategy::Pseudonymize),
    ]);
    engine.set_policy("ws", &policy, admin()).unwrap();
    let invite = |who: &str, invitee: &str| {
        Event::from_json_value(json!({
            "action": "iam.user.invite",
            "actor": {"type": "user", "id": format!("u_{who}"), "email": format!("{who}@acme.com")},
            "target": {"type": "user", "id": invitee},
            "metadata": {"invitee": invitee, "role": "viewer"},
        }))
        .unwrap()
    };
    engine
        .append("ws", &[invite("sam", "sue@partner.io"), invite("ann", "bob@partner.io"), invite("sam", "bob@partner.io")])
        .unwrap();
    let seqs = |q: Query| engine.query("ws", &q, 100, None).unwrap().records.iter().map(|r| r.seq).collect::<Vec<_>>();
    // Seq 1 is the policy change; the invites are 2, 3, 4.
    assert_eq!(seqs(Query { pseudonym: Some("bob@partner.io".into()), ..Query::default() }), [3, 4]);
    assert_eq!(seqs(Query { pseudonym: Some("sam@acme.com".into()), ..Query::default() }), [2, 4]);
    let p = engine.query("ws", &Query { pseudonym: Some("sue@partner.io".into()), ..Query::default() }, 100, None).unwrap();
    assert_eq!(p.explain.index, "pseudonym");
    assert_eq!(p.explain.examined, 1);
    // A filter on a pseudonymized field takes the raw value too.
    let target = annal_engine::TargetFilter { kind: "user".into(), id: "bob@partner.io".into() };
    assert_eq!(seqs(Query { target: Some(target), ..Query::default() }), [3, 4]);
    // The stored rows hold tokens, and list what was done to them.
    let row = engine.get("ws", 3).unwrap().unwrap();
    let token = engine.pseudonym("ws", "bob@partner.io").unwrap();
    assert_eq!(row.event.target.as_ref().unwrap().id, token);
    assert!(row.event.metadata.as_deref().unwrap().contains(&token));
    let how: Vec<(&str, &str)> = row.event.redactions.iter().map(|r| (r.path.as_str(), r.how.as_str())).collect();
    assert_eq!(how, [("actor.email", "pseudonymize"), ("target.id", "pseudonymize"), ("metadata.invitee", "pseudonymize")]);
    assert_eq!(row.event.policy_version, 2);
    // Another tenant's secret gives other tokens.
    assert_ne!(engine.pseudonym("other", "bob@partner.io").unwrap(), token);
}

#[test]
fn policy_changes_are_rows_of_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::builder(dir.path()).clock(clock.clone()).open().unwrap();
    let login = Event::from_json_value(json!({
        "action": "auth.login", "actor": {"type": "user", "id": "u_1", "email": "sam@acme.com"}, "ip": "203.0.113.7"
    }))
    .unwrap();
    let first = engine.append("ws", std::slice::from_ref(&login)).unwrap()[0];
    let row = engine.get("ws", first.seq).unwrap().unwrap();
    assert_eq!((row.event.actor_email.as_deref(), row.event.ip.as_deref()), (Some("s***@acme.com"), Some("203.0.113.0")));
    assert_eq!(row.event.policy_version, 1);

    // Prepared under version 1, appended after the change: refused, not
    // written under a policy that no longer holds.
    let stale = engine.prepare("ws", &login).unwrap();
    let keep_ip = policy_with(&[("ip", Strategy::Keep)]);
    let (receipt, version) = engine.set_policy("ws", &keep_ip, admin()).unwrap();
    assert_eq!((receipt.seq, version), (2, 2));
    assert!(matches!(engine.append_prepared("ws", vec![stale]), Err(Error::PolicyChanged { prepared: 1, current: 2 })));
    // append() prepares again by itself.
    let third = engine.append("ws", std::slice::from_ref(&login)).unwrap()[0];
    assert_eq!(third.seq, 3);
    assert_eq!(engine.get("ws", 3).unwrap().unwrap().event.ip.as_deref(), Some("203.0.113.7"));

    let change = engine.get("ws", 2).unwrap().unwrap();
    assert_eq!(change.event.action, POLICY_ACTION);
    assert_eq!(change.event.actor_email.as_deref(), Some("r***@acme.com"), "the announcement's actor is redacted too");
    let md: serde_json::Value = serde_json::from_str(change.event.metadata.as_deref().unwrap()).unwrap();
    assert_eq!(md["version"], 2);
    assert_eq!(Policy::from_json_slice(md["policy"].to_string().as_bytes()).unwrap(), keep_ip);
    assert!(engine.verify("ws", ..).unwrap().is_intact());

    // Bad policies are refused with the rule named; nothing is written.
    let bad = Policy { rules: vec![Rule { path: "actor.id".into(), strategy: Strategy::Drop }], detectors: vec![] };
    match engine.set_policy("ws", &bad, admin()) {
        Err(Error::InvalidPolicy(fe)) => assert_eq!(fe.field, "rules[0].strategy"),
        other => panic!("{other:?}"),
    }
    assert_eq!(engine.head("ws").unwrap().seq, 3);
    // The reserved namespace stays closed to callers.
    assert!(engine.append("ws", &[Event::new(POLICY_ACTION, ActorType::User, "u_1")]).is_err());

    // After a restart: same version, same secret (same tokens).
    let token = engine.pseudonym("ws", "x@y.io").unwrap();
    drop(engine);
    let engine = Engine::open(dir.path()).unwrap();
    assert_eq!(engine.policy("ws").unwrap(), (2, keep_ip));
    assert_eq!(engine.pseudonym("ws", "x@y.io").unwrap(), token);
    // Prepared for one tenant, appended to another: refused.
    let p = engine.prepare("ws", &login).unwrap();
    assert!(matches!(engine.append_prepared("other", vec![p]), Err(Error::WrongTenant)));
}

#[test]
fn admin_free_text_is_redacted_before_it_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder(dir.path()).compression(false).open().unwrap();
    let (email, phone, other) = ("jane.doe@acme.com", "+1 415 555 0132", "legal.ops@acme.com");
    engine.append("acme", &[Event::new("auth.login", ActorType::User, "u1")]).unwrap();
    let hold = engine.place_hold("acme", &format!("Doe v. Acme, {email} {phone}"), admin()).unwrap();
    let (key, _) = engine.create_api_key("acme", annal_engine::Scopes::READ, &format!("export for {other}"), admin()).unwrap();
    let (first, _) = engine.create_tenant("globex", annal_engine::Scopes::ADMIN, &format!("owner {other}"), admin()).unwrap();
    engine
        .schedule_tenant_deletion("globex", &format!("asked by {email}"), std::time::Duration::from_secs(3600), admin())
        .unwrap();

    // What is read back is the redacted text, in the settings and the rows.
    let reason = engine.retention("acme").unwrap().hold.unwrap().reason;
    assert_eq!(reason, "Doe v. Acme, [email:j***@acme.com] [phone]", "the hold's reason");
    let row = engine.get("acme", hold.seq).unwrap().unwrap();
    let metadata: serde_json::Value = serde_json::from_str(&row.event.metadata.unwrap()).unwrap();
    assert_eq!(metadata["reason"], reason.as_str());
    assert_eq!(key.label, "export for [email:l***@acme.com]");
    assert_eq!(first.label, "owner [email:l***@acme.com]");
    // No stored byte holds a raw value: not in the WAL, not in the SSTs.
    let needles = [email, phone, other].map(String::from);
    drop(engine);
    let (in_wal, _, _) = scan_files(dir.path(), &needles);
    RawStore::open(dir.path()).unwrap().flush().unwrap();
    let (in_ssts, _, _) = scan_files(dir.path(), &needles);
    assert!(in_wal.is_empty() && in_ssts.is_empty(), "{in_wal:?} {in_ssts:?}");
}
