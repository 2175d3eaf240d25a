//! Golden vectors: every hashed and stored byte, pinned in
//! testdata/golden/chain.json. A dependency bump (bincode, blake3, serde_json,
//! time) or a code change that alters any of these bytes fails here, instead
//! of silently writing rows that old rows' verifiers disagree with.
//!
//! To add vectors (never to change existing ones): run with `ANNAL_BLESS=1`,
//! review the diff, commit it.

use std::sync::Arc;

use annal_engine::record::encode_event;
use annal_engine::{chain, Cf, Engine, Event, Limits, ManualClock, RawStore};
use serde_json::{json, Value};

fn golden_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden/chain.json")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The inputs: every field, unicode, nesting, both IP families, odd numbers.
fn inputs() -> (String, Vec<(u64, Value)>) {
    let t = 1_767_225_600_000_000_000u64;
    let rows = vec![
        (t, json!({"action":"auth.login","actor":{"type":"user","id":"u_1"}})),
        (
            t + 1_500,
            json!({
                "action":"recruitment.offer.send",
                "actor":{"type":"ai","id":"agent_recruiter","name":"Recruiter Bot","email":"bot@acme.com","on_behalf_of":"u_1"},
                "occurred_at":"2026-01-01T01:00:00.25+01:00",
                "session_id":"sess_9f2",
                "target":{"type":"offer","id":"off_77","name":"Senior Engineer — Zürich"},
                "outcome":"success",
                "ip":"2001:DB8::1",
                "user_agent":"Mozilla/5.0 (X11; Linux x86_64)",
                "input_hash":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "output_hash":"sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbf9f6f9a3e7b1f",
                "key_ref":"key_7f3a9c",
                "diff":{"status":{"to":"sent","from":"draft"},"salary":[120000, 1.5e3, -0.0, 0.1]},
                "metadata":{"z":null,"a":true,"note":"line\nbreak \"quoted\" \u{1}"},
                "idempotency_key":"offer-77-send"
            }),
        ),
        (
            t + 1_500,
            json!({"action":"iam.role.grant","actor":{"type":"api_key","id":"key_7f3a9c"},"outcome":"denied","ip":"203.0.113.7","diff":"plain string diff"}),
        ),
        (
            t + 2_000_000_000,
            json!({"action":"billing.invoice.pay","actor":{"type":"system","id":"job_billing"},"target":{"type":"invoice","id":"inv_1"},"metadata":{}}),
        ),
        (
            t + 3_000_000_000,
            json!({"action":"svc.sync","actor":{"type":"service","id":"svc_sync","on_behalf_of":"u_2"},"occurred_at":"1970-01-01T00:00:00Z"}),
        ),
    ];
    ("ws_golden".into(), rows)
}

fn compute() -> Value {
    let (tenant, rows) = inputs();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut out_rows = Vec::new();
    {
        let engine = Engine::builder(dir.path()).clock(clock.clone()).open().unwrap();
        for (at, ev) in &rows {
            clock.set(*at);
            let event = Event::from_json_value(ev.clone()).unwrap();
            let encoded = encode_event(&event.validate(&Limits::default()).unwrap());
            let r = engine.append(&tenant, &[event]).unwrap()[0];
            out_rows.push(json!({
                "event": ev,
                "recorded_at": r.recorded_at,
                "seq": r.seq,
                "encoded_event": hex(&encoded),
                "leaf": r.leaf.to_hex(),
                "head": r.head.to_hex(),
            }));
        }
    }
    let raw = RawStore::open(dir.path()).unwrap();
    let records = raw.entries(Cf::Records).unwrap();
    for (row, (k, v)) in out_rows.iter_mut().zip(records) {
        row["record_key"] = json!(hex(&k));
        row["record_value"] = json!(hex(&v));
    }
    // Index keys per row, in key order (they end in the row's seq).
    let index = raw.entries(Cf::Index).unwrap();
    for row in out_rows.iter_mut() {
        let seq = row["seq"].as_u64().unwrap().to_be_bytes();
        let keys: Vec<String> = index.iter().filter(|(k, _)| k.ends_with(&seq)).map(|(k, _)| hex(k)).collect();
        assert!(index.iter().filter(|(k, _)| k.ends_with(&seq)).all(|(_, v)| v.is_empty()));
        row["index_keys"] = json!(keys);
    }
    let heads = raw.entries(Cf::Heads).unwrap();
    json!({
        "about": "Golden vectors for annal's record format v1. See docs/FORMAT.md. Never edit existing entries.",
        "tenant": tenant,
        "genesis": chain::genesis(&tenant).to_hex(),
        "rows": out_rows,
        "head_key": hex(&heads[0].0),
        "head_value": hex(&heads[0].1),
    })
}

#[test]
fn stored_and_hashed_bytes_match_the_golden_vectors() {
    let actual = compute();
    if std::env::var_os("ANNAL_BLESS").is_some() {
        std::fs::write(golden_path(), serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
        return;
    }
    let text = std::fs::read_to_string(golden_path()).expect("testdata/golden/chain.json (bless with ANNAL_BLESS=1)");
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(actual["genesis"], expected["genesis"], "genesis head changed");
    let (a, e) = (actual["rows"].as_array().unwrap(), expected["rows"].as_array().unwrap());
    assert_eq!(a.len(), e.len());
    for (i, (a, e)) in a.iter().zip(e).enumerate() {
        for field in ["encoded_event", "leaf", "seq", "recorded_at", "head", "record_key", "record_value", "index_keys"] {
            assert_eq!(a[field], e[field], "row {i}: {field} changed");
        }
    }
    assert_eq!(actual["head_value"], expected["head_value"]);
    assert_eq!(actual, expected);
}

#[test]
fn golden_rows_verify_from_their_bytes_alone() {
    // Recompute leaf and head from the pinned bytes with the spec's formulas,
    // independently of the engine's append path.
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(golden_path()).unwrap()).unwrap();
    let unhex = |s: &str| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>();
    let mut head = chain::genesis(golden["tenant"].as_str().unwrap());
    for row in golden["rows"].as_array().unwrap() {
        let leaf = chain::leaf_hash(&unhex(row["encoded_event"].as_str().unwrap()));
        assert_eq!(leaf.to_hex(), row["leaf"].as_str().unwrap());
        head = chain::link_hash(&head, row["seq"].as_u64().unwrap(), row["recorded_at"].as_u64().unwrap(), &leaf);
        assert_eq!(head.to_hex(), row["head"].as_str().unwrap());
    }
}
