//! The router in-process (`oneshot`): every route, every error class, and
//! tenants kept apart route by route.

use axum::http::Method;
use serde_json::{json, Value};

use crate::common::*;

const NDJSON: &str = "application/x-ndjson";
const JSON: &str = "application/json";

#[tokio::test]
async fn ingest_single_array_and_ndjson_then_page_through() {
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest", "read"]);
    let one = f.call(post("/v1/events", &t, JSON, event("auth.login", "u1").as_bytes())).await;
    assert_eq!(one.status, 201, "{}", String::from_utf8_lossy(&one.body));
    assert_eq!(one.json()["receipts"][0]["seq"], 3, "after the tenant and key rows");
    let arr = format!("[{},{}]", event("auth.logout", "u1"), event("iam.role.grant", "u2"));
    let r = f.call(post("/v1/events", &t, JSON, arr.as_bytes())).await;
    assert_eq!(r.json()["count"], 2);
    let body = corpus("ws_a", 250);
    let r = f.call(post("/v1/events", &t, "application/x-ndjson; charset=utf-8", body.as_bytes())).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["receipts"].as_array().unwrap().len(), 250);
    assert_eq!(f.engine.head("ws_a").unwrap().seq, 255);

    // Walk every row with a cursor: each seq exactly once, in order.
    let mut seqs = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let uri = match &cursor {
            Some(c) => format!("/v1/events?limit=40&cursor={c}"),
            None => "/v1/events?limit=40".to_string(),
        };
        let page = f.call(get(&uri, &t)).await.json();
        seqs.extend(page["records"].as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seqs, (1..=255).collect::<Vec<_>>());

    let page = f.call(get("/v1/events?action_prefix=iam&order=desc&limit=1&explain=true", &t)).await.json();
    assert!(page["records"][0]["event"]["action"].as_str().unwrap().starts_with("iam"));
    assert!(page["explain"]["index"].is_string());
    let row = f.call(get("/v1/events/4", &t)).await.json();
    assert_eq!(row["event"]["action"], "auth.logout");
    f.call(get("/v1/events/9999", &t)).await.problem(404, "not-found");
    assert_eq!(f.call(get("/v1/events/0", &t)).await.problem(400, "invalid-parameter")["field"], "seq");
}

#[tokio::test]
async fn every_row_records_the_key_that_wrote_it() {
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest", "read"]);
    let id = &t[3..19];
    let mut e: Value = serde_json::from_str(&event("auth.login", "u1")).unwrap();
    e["key_ref"] = "their-key".into();
    let r = f.call(post("/v1/events", &t, JSON, e.to_string().as_bytes())).await;
    let seq = r.json()["receipts"][0]["seq"].as_u64().unwrap();
    let row = f.call(get(&format!("/v1/events/{seq}"), &t)).await.json();
    assert_eq!(row["event"]["key_ref"], id);
    assert_eq!(row["event"]["metadata"]["client_key_ref"], "their-key");
    let page = f.call(get(&format!("/v1/events?key_ref={id}"), &t)).await.json();
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    // The place for the client's value is taken: refused, naming it.
    e["metadata"] = json!({"client_key_ref": "x"});
    let p = f.call(post("/v1/events", &t, JSON, e.to_string().as_bytes())).await.problem(422, "invalid-batch");
    assert_eq!(p["errors"][0]["field"], "metadata.client_key_ref");
}

#[tokio::test]
async fn bad_requests_get_problems_naming_the_field_and_store_nothing() {
    let f = Fixture::with(Config { max_body_bytes: 4096, max_batch_events: 5, ..config() });
    let t = f.key("ws_a", &["ingest", "read"]);
    let head = f.engine.head("ws_a").unwrap();

    f.call(post("/v1/events", &t, "text/plain", b"x")).await.problem(415, "unsupported-media-type");
    let p = f.call(post("/v1/events", &t, JSON, b"{\"action\":")).await.problem(422, "malformed-json");
    assert!(p["detail"].as_str().unwrap().contains("line 1"), "{p}");
    let big = vec![b' '; 5000];
    f.call(post("/v1/events", &t, JSON, &big)).await.problem(413, "body-too-large");
    let six: String = (0..6).map(|_| event("a.b", "u") + "\n").collect();
    f.call(post("/v1/events", &t, NDJSON, six.as_bytes())).await.problem(413, "batch-too-large");
    f.call(post("/v1/events", &t, NDJSON, b"\n\n")).await.problem(422, "empty-batch");
    let mixed = format!(
        "{}\n{{\"action\":\"a.b\",\"actor\":{{\"type\":\"robot\",\"id\":\"u\"}}}}\n{}\n",
        event("a.b", "u"),
        event("annal.key.created", "u")
    );
    let p = f.call(post("/v1/events", &t, NDJSON, mixed.as_bytes())).await.problem(422, "invalid-batch");
    let errs: Vec<(u64, String)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["field"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(errs, [(1, "actor.type".to_string()), (2, "action".to_string())]);
    let p = f.call(post("/v1/events", &t, JSON, br#"{"action":"a.b","actor":{"type":"user","id":"u"},"colour":1}"#)).await;
    assert_eq!(p.problem(422, "invalid-batch")["field"], "colour");

    assert_eq!(f.call(get("/v1/events?colour=red", &t)).await.problem(400, "invalid-parameter")["field"], "colour");
    assert_eq!(f.call(get("/v1/events?from=yesterday", &t)).await.problem(400, "invalid-query")["field"], "from");
    assert_eq!(f.call(get("/v1/events?limit=0", &t)).await.problem(400, "invalid-query")["field"], "limit");
    assert_eq!(f.call(get("/v1/events?limit=x", &t)).await.problem(400, "invalid-parameter")["field"], "limit");
    assert_eq!(f.call(get("/v1/events?cursor=zz", &t)).await.problem(400, "invalid-cursor")["field"], "cursor");
    assert_eq!(f.call(get("/v1/events?actor=a&actor=b", &t)).await.problem(400, "invalid-parameter")["field"], "actor");
    assert_eq!(f.call(get("/v1/export?format=xlsx", &t)).await.problem(400, "invalid-parameter")["field"], "format");
    assert_eq!(f.call(get("/v1/verify?from_seq=x", &t)).await.problem(400, "invalid-parameter")["field"], "from_seq");
    assert_eq!(f.call(get("/v1/verify?from_seq=5&to_seq=2", &t)).await.problem(400, "invalid-parameter")["field"], "to_seq");
    f.call(get("/v2/nothing", &t)).await.problem(404, "not-found");
    let del = Req { method: Method::DELETE, ..get("/v1/events", &t) };
    f.call(del).await.problem(405, "method-not-allowed");

    assert_eq!(f.engine.head("ws_a").unwrap(), head, "nothing was stored");
    let metrics = String::from_utf8(f.call(Req { token: None, ..get("/metrics", "") }).await.body.to_vec()).unwrap();
    assert!(metrics.contains("annal_rejects_total{reason=\"invalid-batch\"} 2"), "{metrics}");
}

#[tokio::test]
async fn authentication_scopes_and_rate_limits() {
    let f = Fixture::with(Config { rate_limit_per_sec: 1.0, rate_limit_burst: 3.0, ..config() });
    let reader = f.key("ws_a", &["read"]);
    let ingester = f.key("ws_a", &["ingest"]);
    let admin = f.key("ws_a", &["admin"]);

    let p = f.call(Req { token: None, ..get("/v1/events", "") }).await;
    assert_eq!(p.problem(401, "unauthorized")["field"], "Authorization");
    assert!(p.headers.contains_key("www-authenticate"));
    f.call(get("/v1/events", "ak_nonsense")).await.problem(401, "unauthorized");
    let wrong_secret = format!("{}{}", &reader[..20], "0".repeat(64));
    f.call(get("/v1/events", &wrong_secret)).await.problem(401, "unauthorized");
    let basic = Req { token: None, headers: &[("authorization", "Basic dTpw")], ..get("/v1/events", "") };
    f.call(basic).await.problem(401, "unauthorized");

    f.call(post("/v1/events", &reader, JSON, event("a.b", "u").as_bytes())).await.problem(403, "insufficient-scope");
    f.call(get("/v1/events", &ingester)).await.problem(403, "insufficient-scope");
    f.call(get("/v1/export", &ingester)).await.problem(403, "insufficient-scope");
    f.call(get("/v1/verify", &ingester)).await.problem(403, "insufficient-scope");
    f.call(get("/v1/keys", &reader)).await.problem(403, "insufficient-scope");
    f.call(get("/v1/redaction", &reader)).await.problem(403, "insufficient-scope");
    f.call(get("/v1/events", &admin)).await.problem(403, "insufficient-scope");

    // The reader has spent 3 requests of its burst of 3 (403s count too).
    for _ in 0..3 {
        let _ = f.call(get("/v1/events", &reader)).await;
    }
    let p = f.call(get("/v1/events", &reader)).await;
    p.problem(429, "rate-limited");
    assert_eq!(p.headers["retry-after"], "1");
}

#[tokio::test]
async fn idempotency_key_header_replays_a_single_event() {
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest"]);
    let e = event("billing.charge", "u1");
    let req = || Req { headers: &[("idempotency-key", "charge-77")], ..post("/v1/events", &t, JSON, e.as_bytes()) };
    let first = f.call(req()).await;
    assert_eq!(first.status, 201);
    let again = f.call(req()).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["receipts"][0]["seq"], first.json()["receipts"][0]["seq"]);
    assert_eq!(again.json()["receipts"][0]["replayed"], true);
    let other = event("billing.refund", "u1");
    let conflict = Req { headers: &[("idempotency-key", "charge-77")], ..post("/v1/events", &t, JSON, other.as_bytes()) };
    assert_eq!(f.call(conflict).await.problem(409, "idempotency-conflict")["field"], "idempotency_key");
    let two = format!("[{e},{e}]");
    let batch = Req { headers: &[("idempotency-key", "k")], ..post("/v1/events", &t, JSON, two.as_bytes()) };
    assert_eq!(f.call(batch).await.problem(400, "invalid-parameter")["field"], "Idempotency-Key");
}

#[tokio::test]
async fn keys_over_http_are_recorded_in_the_chain_and_revocation_is_immediate() {
    let f = Fixture::new();
    let admin = f.key("ws_a", &["admin", "read"]);
    let admin_id = &admin[3..19];
    let r = f.call(post("/v1/keys", &admin, JSON, br#"{"scopes":["ingest"],"label":"billing"}"#)).await;
    assert_eq!(r.status, 201);
    let created = r.json();
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(f.call(post("/v1/events", &token, JSON, event("a.b", "u").as_bytes())).await.status, 201);

    let list = f.call(get("/v1/keys", &admin)).await;
    assert!(!String::from_utf8_lossy(&list.body).contains(&token[20..]), "no secret is ever listed");
    assert_eq!(list.json()["keys"].as_array().unwrap().len(), 2);

    let uri = format!("/v1/keys/{id}");
    let del = Req { method: Method::DELETE, ..get(&uri, &admin) };
    let r = f.call(del).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["revoked_at"].is_string());
    f.call(post("/v1/events", &token, JSON, event("a.b", "u").as_bytes())).await.problem(401, "unauthorized");
    let del = Req { method: Method::DELETE, ..get("/v1/keys/0000000000000000", &admin) };
    f.call(del).await.problem(404, "not-found");

    let rows = f.call(get("/v1/events?action_prefix=annal.key", &admin)).await.json();
    let rows = rows["records"].as_array().unwrap();
    let by_http: Vec<&Value> = rows.iter().filter(|r| r["event"]["actor"]["id"] == admin_id).collect();
    assert_eq!(by_http.len(), 2);
    assert_eq!(by_http[0]["event"]["action"], "annal.key.created");
    assert_eq!(by_http[0]["event"]["actor"]["type"], "api_key");
    assert_eq!(by_http[1]["event"]["action"], "annal.key.revoked");
    assert_eq!(by_http[1]["event"]["metadata"]["key_id"], id.as_str());

    let p = f.call(post("/v1/keys", &admin, JSON, br#"{"scopes":["root"]}"#)).await;
    assert_eq!(p.problem(422, "invalid-key-request")["field"], "scopes");
    // A body of the wrong shape is an invalid body, whichever route takes it.
    let p = f.call(post("/v1/keys", &admin, JSON, br#"{"scopes":["read"],"colour":1}"#)).await;
    assert_eq!(p.problem(422, "invalid-body")["field"], "colour");
    f.call(post("/v1/keys", &admin, JSON, b"scopes=read")).await.problem(422, "malformed-json");
}

#[tokio::test]
async fn redaction_policy_over_http() {
    let f = Fixture::new();
    let admin = f.key("ws_a", &["admin", "ingest", "read"]);
    let got = f.call(get("/v1/redaction", &admin)).await.json();
    assert_eq!(got["version"], 1);
    let put = |body: &'static [u8]| Req { method: Method::PUT, ..post("/v1/redaction", &admin, JSON, body) };
    let r = f.call(put(br#"{"rules":[{"path":"actor.id","strategy":"pseudonymize"}]}"#)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["version"], 2);
    let seq = r.json()["seq"].as_u64().unwrap();
    assert_eq!(f.call(get(&format!("/v1/events/{seq}"), &admin)).await.json()["event"]["action"], "annal.policy.set");
    f.call(post("/v1/events", &admin, JSON, event("a.b", "alice").as_bytes())).await;
    let page = f.call(get("/v1/events?actor=alice", &admin)).await.json();
    let stored = page["records"][0]["event"]["actor"]["id"].as_str().unwrap();
    assert!(stored.starts_with("pii_"), "{stored}");
    let p = f.call(put(br#"{"rules":[{"path":"actor.id","strategy":"explode"}]}"#)).await;
    p.problem(422, "invalid-policy");
    f.call(put(b"nope")).await.problem(422, "invalid-policy");
}

#[tokio::test]
async fn export_csv_and_ndjson_with_formula_cells_neutralised() {
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest", "read"]);
    let tricky = json!({"action": "doc.share", "actor": {"type": "user", "id": "u1", "name": "=HYPERLINK(\"x\")"},
                        "target": {"type": "doc", "id": "d1", "name": "+1, \"quoted\", next"}});
    f.call(post("/v1/events", &t, JSON, tricky.to_string().as_bytes())).await;
    f.call(post("/v1/events", &t, NDJSON, corpus("ws_a", 300).as_bytes())).await;

    let r = f.call(get("/v1/export?format=csv", &t)).await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let cd = r.headers["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment; filename=\"annal-ws_a-") && cd.ends_with(".csv\""), "{cd}");
    let mut rd = csv::Reader::from_reader(&r.body[..]);
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, annal_server::http::export_columns());
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 303);
    let share = &rows[2];
    assert_eq!(&share[5], "'=HYPERLINK(\"x\")");
    assert_eq!(&share[12], "'+1, \"quoted\", next");
    assert!(r.body.windows(2).filter(|w| w == b"\r\n").count() >= 304, "RFC 4180 line ends");
    for row in &rows {
        for cell in row.iter() {
            assert!(!matches!(cell.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')), "{cell}");
        }
    }

    let r = f.call(get("/v1/export?format=ndjson&action_prefix=annal", &t)).await;
    let lines: Vec<Value> = std::str::from_utf8(&r.body).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The tenant's creation, its key, and the CSV export just made.
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["event"]["action"], "annal.log.exported");
    assert_eq!(lines[2]["event"]["metadata"]["rows"], 303);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
}

#[tokio::test]
async fn verify_reports_count_and_head() {
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest", "read"]);
    f.call(post("/v1/events", &t, NDJSON, corpus("ws_a", 40).as_bytes())).await;
    let v = f.call(get("/v1/verify", &t)).await.json();
    assert_eq!(v["intact"], true);
    assert_eq!(v["count"], 42);
    assert_eq!(v["head"], f.engine.head("ws_a").unwrap().head.to_hex());
    let v = f.call(get("/v1/verify?from_seq=10&to_seq=19", &t)).await.json();
    assert_eq!((v["count"].as_u64(), v["first_seq"].as_u64(), v["last_seq"].as_u64()), (Some(10), Some(10), Some(19)));
}

/// `since=checkpoint` verifies only the rows after the latest signed
/// checkpoint and says which one; without a checkpoint, the whole chain.
#[tokio::test]
async fn verify_since_the_latest_checkpoint() {
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest", "read"]);
    f.call(post("/v1/events", &t, NDJSON, corpus("ws_a", 40).as_bytes())).await;
    let v = f.call(get("/v1/verify?since=checkpoint", &t)).await.json();
    assert_eq!((v["intact"].as_bool(), v["count"].as_u64()), (Some(true), Some(42)), "{v}");
    assert!(v["since_checkpoint"].is_null(), "{v}");
    let cp = f.call(Req { method: axum::http::Method::POST, ..get("/v1/checkpoints", &t) }).await.json();
    f.call(post("/v1/events", &t, NDJSON, corpus("ws_a", 10).as_bytes())).await;
    let v = f.call(get("/v1/verify?since=checkpoint", &t)).await.json();
    // (The same seed's first events again: those with an idempotency key are not appended twice.)
    let head = f.engine.head("ws_a").unwrap().seq;
    assert!(head > 42);
    assert_eq!(
        (v["intact"].as_bool(), v["count"].as_u64(), v["first_seq"].as_u64()),
        (Some(true), Some(head - 42), Some(43)),
        "{v}"
    );
    assert_eq!((&v["since_checkpoint"]["seq"], &v["since_checkpoint"]["head"]), (&cp["seq"], &cp["head"]), "{v}");
    assert_eq!(v["head"], f.engine.head("ws_a").unwrap().head.to_hex());
    assert_eq!(f.call(get("/v1/verify?since=yesterday", &t)).await.problem(400, "invalid-parameter")["field"], "since");
    let r = f.call(get("/v1/verify?since=checkpoint&from_seq=3", &t)).await;
    assert_eq!(r.problem(400, "invalid-parameter")["field"], "since");
}

/// A key of tenant A reaches nothing of tenant B, route by route.
#[tokio::test]
async fn tenants_are_kept_apart_on_every_route() {
    let f = Fixture::new();
    let a = f.key("ws_a", &["ingest", "read", "admin"]);
    let b = f.key("ws_b", &["ingest", "read", "admin"]);
    let b_other = f.key("ws_b", &["read"]);
    let b_other_id = b_other[3..19].to_string();
    f.call(post("/v1/events", &b, NDJSON, corpus("ws_b", 50).as_bytes())).await;
    f.call(post("/v1/events", &a, JSON, event("a.only", "ua").as_bytes())).await;
    let b_head = f.engine.head("ws_b").unwrap();
    let b_actor = f.engine.get("ws_b", 10).unwrap().unwrap().event.actor_id;

    // Reads: A sees its own 3 rows only, whatever it asks.
    let page = f.call(get("/v1/events?limit=1000", &a)).await.json();
    assert_eq!(page["records"].as_array().unwrap().len(), 3);
    assert_eq!(f.call(get(&format!("/v1/events?actor={b_actor}"), &a)).await.json()["records"], json!([]));
    assert_eq!(f.call(get(&format!("/v1/events?key_ref={}", &b[3..19]), &a)).await.json()["records"], json!([]));
    f.call(get("/v1/events/40", &a)).await.problem(404, "not-found");
    let export = f.call(get("/v1/export?format=ndjson", &a)).await;
    assert_eq!(std::str::from_utf8(&export.body).unwrap().lines().count(), 3);
    assert!(!String::from_utf8_lossy(&export.body).contains("ws_b"));
    // The export is now a fourth row of A's chain, and of A's only.
    let v = f.call(get("/v1/verify", &a)).await.json();
    assert_eq!(v["count"], 4);
    assert_eq!(f.engine.head("ws_b").unwrap(), b_head);
    assert_ne!(v["head"], b_head.head.to_hex());
    // A cursor of B's walk is refused for A.
    let b_page = f.call(get("/v1/events?limit=5", &b)).await.json();
    let b_cursor = b_page["next_cursor"].as_str().unwrap();
    f.call(get(&format!("/v1/events?cursor={b_cursor}"), &a)).await.problem(400, "invalid-cursor");

    // Keys: A neither lists nor revokes B's.
    let keys = f.call(get("/v1/keys", &a)).await.json();
    assert!(keys["keys"].as_array().unwrap().iter().all(|k| k["id"] != b_other_id.as_str()));
    let uri = format!("/v1/keys/{b_other_id}");
    let del = Req { method: Method::DELETE, ..get(&uri, &a) };
    f.call(del).await.problem(404, "not-found");
    assert_eq!(f.call(get("/v1/events?limit=1", &b_other)).await.status, 200, "B's key still works");

    // Redaction: A's change leaves B's policy alone.
    let put = Req { method: Method::PUT, ..post("/v1/redaction", &a, JSON, br#"{"rules":[]}"#) };
    assert_eq!(f.call(put).await.status, 200);
    assert_eq!(f.call(get("/v1/redaction", &b)).await.json()["version"], 1);

    // Writes: A's appends land in A's chain only.
    f.call(post("/v1/events", &a, JSON, event("a.more", "ua").as_bytes())).await;
    assert_eq!(f.engine.head("ws_b").unwrap(), b_head);
    // No route takes a tenant: a tenant parameter is refused, not obeyed.
    f.call(get("/v1/events?tenant=ws_b", &a)).await.problem(400, "invalid-parameter");
}

#[tokio::test]
async fn the_router_serves_exactly_the_routes_openapi_describes() {
    use annal_server::http::routes::{Verb, ROUTES};
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest", "read", "admin"]);
    let doc = f.call(Req { token: None, ..get("/openapi.json", "") }).await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: std::collections::BTreeSet<&str> = ROUTES.iter().map(|r| r.path).collect();
    assert_eq!(doc["paths"].as_object().unwrap().len(), paths.len());
    // Every method of every path: the described ones are served, the others refused.
    for path in paths {
        let uri = path.replace("{seq}", "1").replace("{id}", "0000000000000000");
        for verb in Verb::ALL {
            let method: Method = verb.as_str().parse().unwrap();
            let res = f.call(Req { method, content_type: Some(JSON), ..get(&uri, &t) }).await;
            let described = &doc["paths"][path][verb.openapi()];
            if ROUTES.iter().any(|r| r.path == path && r.method == verb) {
                assert_ne!(res.status, 405, "{} {path} not served", verb.as_str());
                if res.status == 404 {
                    assert_ne!(res.json()["detail"], "no such route; GET /openapi.json lists them", "{} {path}", verb.as_str());
                }
                assert!(described["responses"].is_object(), "{} {path} undescribed", verb.as_str());
            } else {
                res.problem(405, "method-not-allowed");
                assert!(described.is_null(), "{} {path} described but not served", verb.as_str());
            }
        }
    }
    // The scope a route documents is the one its handler asks for.
    let scopes = ["ingest", "read", "admin"];
    for r in ROUTES {
        let uri = r.path.replace("{seq}", "1").replace("{id}", "0000000000000000");
        let method: Method = r.method.as_str().parse().unwrap();
        let Some(scope) = r.doc.scope else {
            let res = f.call(Req { method, token: None, ..get(&uri, "") }).await;
            assert_ne!(res.status, 401, "{} {} needs no key", r.method.as_str(), r.path);
            continue;
        };
        // Platform routes take platform keys only; tenant routes refuse them.
        let (only, without) = if scope == "platform" {
            (f.platform_key(), f.key("ws_a", &scopes))
        } else {
            let others: Vec<&str> = scopes.into_iter().filter(|s| *s != scope).collect();
            (f.key("ws_a", &[scope]), f.key("ws_a", &others))
        };
        let res = f.call(Req { method: method.clone(), content_type: Some(JSON), ..get(&uri, &only) }).await;
        assert_ne!(res.status, 403, "{} {} with `{scope}`", r.method.as_str(), r.path);
        f.call(Req { method: method.clone(), content_type: Some(JSON), ..get(&uri, &without) })
            .await
            .problem(403, "insufficient-scope");
        if scope != "platform" {
            let platform = f.platform_key();
            f.call(Req { method, content_type: Some(JSON), ..get(&uri, &platform) }).await.problem(403, "insufficient-scope");
        }
    }
    // Every reference resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(doc["components"]["schemas"][name].is_object(), "{r}");
    }
    let body = &doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(body, "#/components/schemas/EventOrBatch");
}

#[tokio::test]
async fn readyz_answers_503_once_draining_and_metrics_count_appends() {
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest"]);
    f.call(post("/v1/events", &t, NDJSON, corpus("ws_a", 30).as_bytes())).await;
    let m = String::from_utf8(f.call(Req { token: None, ..get("/metrics", "") }).await.body.to_vec()).unwrap();
    assert!(m.contains("annal_appended_events_total 30"), "{m}");
    assert!(m.contains("annal_append_duration_seconds_count 1"), "{m}");
    assert!(m.contains("annal_http_responses_total{status=\"201\"} 1"), "{m}");
    f.state.draining.store(true, std::sync::atomic::Ordering::SeqCst);
    f.call(Req { token: None, ..get("/readyz", "") }).await.problem(503, "draining");
    assert_eq!(f.call(Req { token: None, ..get("/healthz", "") }).await.status, 200);
}

#[tokio::test]
async fn verify_names_the_first_bad_seq_of_a_tampered_chain() {
    let events: Vec<annal_engine::Event> =
        (0..20).map(|i| annal_engine::Event::new("a.b", annal_engine::ActorType::User, format!("u{i}"))).collect();
    // Flip one byte inside the stored event of seq 9.
    let (f, token) = tampered(&events, 8, |v| {
        let at = v.len() - 10;
        v[at] ^= 0x01;
    });
    let v = f.call(get("/v1/verify", &token)).await.json();
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["first_bad_seq"], 9, "{v}");
    assert_eq!(v["count"], 8);
    assert!(v["reason"].as_str().unwrap().len() > 5);
}

mod no_input_makes_a_500 {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};

    fn pieces() -> impl Strategy<Value = Vec<u8>> {
        let fragments = prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"action\"",
            "\"actor\"",
            "\"type\"",
            "\"user\"",
            "\"id\"",
            "\"x\"",
            "\"a.b\"",
            "\"metadata\"",
            "\"diff\"",
            "\"target\"",
            "\"ip\"",
            "\"key_ref\"",
            "\"idempotency_key\"",
            "null",
            "1e999",
            "-0",
            "\"\\u0000\"",
            "\"\\ud800\"",
            "\n",
            " ",
            "\u{feff}",
            "true",
            "\"annal.x\"",
            "\"=1\"",
            "\"occurred_at\"",
            "\"2026-13-01\"",
            "\"scopes\"",
            "\"rules\"",
            "\"path\"",
            "\"strategy\"",
        ]);
        prop::collection::vec(
            prop_oneof![fragments.prop_map(|s| s.as_bytes().to_vec()), any::<u8>().prop_map(|b| vec![b])],
            0..60,
        )
        .prop_map(|v| v.concat())
    }

    /// Generated bodies and query strings on every route that takes them:
    /// always a 2xx or a 4xx problem, never a 5xx. One store for all cases.
    #[test]
    fn bodies_and_query_strings() {
        let f = Fixture::new();
        let t = f.key("ws_fuzz", &["ingest", "read", "admin"]);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let strategy = (pieces(), any::<bool>(), "[a-z_=&%0-9.:;+ -]{0,40}", 0usize..6);
        let mut runner = TestRunner::new(RunnerConfig { cases: 300, ..RunnerConfig::default() });
        runner
            .run(&strategy, |(body, ndjson, query, route)| {
                let query = query.replace(' ', "+");
                let res = rt.block_on(async {
                    match route {
                        0 => {
                            f.call(post(
                                "/v1/events",
                                &t,
                                if ndjson { "application/x-ndjson" } else { "application/json" },
                                &body,
                            ))
                            .await
                        }
                        1 => f.call(post("/v1/keys", &t, "application/json", &body)).await,
                        2 => f.call(Req { method: Method::PUT, ..post("/v1/redaction", &t, "application/json", &body) }).await,
                        3 => f.call(get(&format!("/v1/events?{query}"), &t)).await,
                        4 => f.call(get(&format!("/v1/export?{query}"), &t)).await,
                        _ => f.call(get(&format!("/v1/verify?{query}"), &t)).await,
                    }
                });
                prop_assert!(res.status.as_u16() < 500, "{} {}", res.status, String::from_utf8_lossy(&res.body));
                if !res.status.is_success() {
                    prop_assert_eq!(&res.headers["content-type"], "application/problem+json");
                }
                Ok(())
            })
            .unwrap();
    }
}

#[tokio::test]
async fn retention_and_legal_hold_over_http_are_recorded_and_kept_per_tenant() {
    let f = Fixture::new();
    let admin = f.key("ws_a", &["admin", "read"]);
    let reader = f.key("ws_a", &["read", "ingest"]);
    let b = f.key("ws_b", &["admin"]);
    let got = f.call(get("/v1/retention", &admin)).await.json();
    assert_eq!((got["tier"].as_str(), got["days"].as_u64()), (Some("default"), Some(400)));
    assert_eq!((got["legal_hold"].is_null(), got["anchor"].is_null()), (true, true));

    let set = |body: &'static [u8]| Req { method: Method::PUT, ..post("/v1/retention", &admin, JSON, body) };
    let r = f.call(set(br#"{"tier":"business"}"#)).await.json();
    assert_eq!((r["tier"].as_str(), r["days"].as_u64()), (Some("business"), Some(1095)));
    let row = f.call(get(&format!("/v1/events/{}", r["seq"]), &admin)).await.json();
    assert_eq!(row["event"]["action"], "annal.retention.set");
    // The row names the key that made the change.
    assert_eq!(row["event"]["actor"]["id"].as_str(), Some(&admin[3..19]));
    let r = f.call(set(br#"{"days":500}"#)).await.json();
    assert_eq!((r["tier"].as_str(), r["days"].as_u64()), (Some("custom"), Some(500)));

    // Bad settings name the field and change nothing.
    for (body, field) in [
        (&br#"{"days":30}"#[..], "days"),
        (br#"{"tier":"gold"}"#, "tier"),
        (br#"{"tier":"free","days":90}"#, "days"),
        (br#"{}"#, "tier"),
        (br#"{"weeks":3}"#, "weeks"),
        (br#"{"days":"many"}"#, "days"),
    ] {
        let p = f.call(set(body)).await;
        let v =
            p.problem(422, if field == "weeks" || body == br#"{"days":"many"}"# { "invalid-body" } else { "invalid-retention" });
        assert_eq!(v["field"], field, "{}", String::from_utf8_lossy(body));
        assert!(!v["detail"].as_str().unwrap().contains("many"), "a value is never quoted back: {v}");
    }
    assert_eq!(f.call(get("/v1/retention", &admin)).await.json()["days"], 500);

    // Only admin keys.
    f.call(get("/v1/retention", &reader)).await.problem(403, "insufficient-scope");
    f.call(Req { method: Method::DELETE, ..get("/v1/legal-hold", &reader) }).await.problem(403, "insufficient-scope");

    // A hold, its reason checked, then released; each a row.
    let hold = |body: &'static [u8]| Req { method: Method::PUT, ..post("/v1/legal-hold", &admin, JSON, body) };
    f.call(hold(br#"{"reason":""}"#)).await.problem(422, "invalid-retention");
    f.call(hold(br#"{"why":"x"}"#)).await.problem(422, "invalid-body");
    let r = f.call(hold(br#"{"reason":"litigation 2026-17"}"#)).await.json();
    assert_eq!(f.call(get(&format!("/v1/events/{}", r["seq"]), &admin)).await.json()["event"]["action"], "annal.retention.hold");
    let got = f.call(get("/v1/retention", &admin)).await.json();
    assert_eq!(got["legal_hold"]["reason"], "litigation 2026-17");

    // Tenant B sees none of it, and cannot lift A's hold.
    let got_b = f.call(get("/v1/retention", &b)).await.json();
    assert_eq!((got_b["days"].as_u64(), got_b["legal_hold"].is_null()), (Some(400), true));
    f.call(Req { method: Method::DELETE, ..get("/v1/legal-hold", &b) }).await.problem(409, "no-legal-hold");
    assert_eq!(f.call(get("/v1/retention", &admin)).await.json()["legal_hold"]["reason"], "litigation 2026-17");

    let r = f.call(Req { method: Method::DELETE, ..get("/v1/legal-hold", &admin) }).await.json();
    assert_eq!(
        f.call(get(&format!("/v1/events/{}", r["seq"]), &admin)).await.json()["event"]["action"],
        "annal.retention.released"
    );
    f.call(Req { method: Method::DELETE, ..get("/v1/legal-hold", &admin) }).await.problem(409, "no-legal-hold");
    assert!(f.engine.verify("ws_a", ..).unwrap().is_intact());
}

#[tokio::test]
async fn checkpoints_trusted_verification_and_bundles_over_http() {
    let f = Fixture::new();
    let a = f.key("ws_a", &["ingest", "read"]);
    let b = f.key("ws_b", &["ingest", "read"]);
    assert_eq!(f.call(post("/v1/events", &a, NDJSON, corpus("ws_a", 300).as_bytes())).await.status, 201);
    f.call(post("/v1/events", &b, NDJSON, corpus("ws_b", 20).as_bytes())).await;

    let pk = f.call(get("/v1/checkpoints/public-key", &a)).await.json();
    assert_eq!(pk["algorithm"], "ed25519");
    assert_eq!(pk["public_key"].as_str().unwrap().len(), 64);
    f.call(get("/v1/checkpoints/latest", &a)).await.problem(404, "not-found");
    let made = f.call(Req { method: Method::POST, ..get("/v1/checkpoints", &a) }).await;
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let made = made.json();
    assert_eq!(made["seq"], f.engine.head("ws_a").unwrap().seq);
    let latest = f.call(get("/v1/checkpoints/latest", &a)).await.json();
    assert_eq!(latest, made);
    let list = f.call(get("/v1/checkpoints?from_seq=1&limit=10", &a)).await.json();
    assert_eq!(list["checkpoints"].as_array().unwrap().len(), 1);
    f.call(get("/v1/checkpoints?limit=0", &a)).await.problem(400, "invalid-parameter");
    // B has none of A's.
    f.call(get("/v1/checkpoints/latest", &b)).await.problem(404, "not-found");
    assert_eq!(f.call(get("/v1/checkpoints", &b)).await.json()["checkpoints"], json!([]));

    // The kept checkpoint verifies against the store, after more rows too.
    f.call(post("/v1/events", &a, JSON, event("a.b", "u1").as_bytes())).await;
    let enc = |v: &Value| url_encode(&v.to_string());
    let v = f.call(get(&format!("/v1/verify?trusted={}", enc(&latest)), &a)).await.json();
    assert_eq!((v["extends"].as_bool(), v["connection"]["by"].as_str()), (Some(true), Some("row")), "{v}");
    let with_key = format!("/v1/verify?trusted={}&public_key={}", enc(&latest), pk["public_key"].as_str().unwrap());
    assert_eq!(f.call(get(&with_key, &a)).await.json()["extends"], true);
    // A forged head fails, with the reason; a checkpoint of another tenant
    // or a malformed one is refused naming the field.
    let mut forged = latest.clone();
    forged["head"] = json!("00".repeat(32));
    let v = f.call(get(&format!("/v1/verify?trusted={}", enc(&forged)), &a)).await.json();
    assert_eq!(v["extends"], false);
    assert!(v["reason"].as_str().unwrap().starts_with("bad signature"), "{v}");
    let p = f.call(get(&format!("/v1/verify?trusted={}", enc(&latest)), &b)).await.problem(400, "invalid-parameter");
    assert_eq!(p["field"], "trusted.tenant");
    assert!(!p["detail"].as_str().unwrap().contains("ws_a"));
    let p = f.call(get("/v1/verify?trusted=%7B%7D", &a)).await.problem(400, "invalid-parameter");
    assert!(p["field"].as_str().unwrap().starts_with("trusted"), "{p}");
    f.call(get(&format!("/v1/verify?trusted={}&from_seq=1", enc(&latest)), &a)).await.problem(400, "invalid-parameter");

    // A bundle of a window, checked offline by the engine's verifier.
    let bundle = f.call(get("/v1/export?format=bundle&from_seq=10&to_seq=120", &a)).await;
    assert_eq!(bundle.status, 200);
    assert_eq!(bundle.headers["content-type"], "application/vnd.annal.bundle");
    assert!(bundle.headers["content-disposition"].to_str().unwrap().ends_with(".bundle\""));
    let report = annal_engine::checkpoint::verify_bundle(&bundle.body[..], None).unwrap();
    assert_eq!((report.from_seq, report.to_seq, report.rows), (10, 120, 111));
    let mut flipped = bundle.body.to_vec();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    assert!(annal_engine::checkpoint::verify_bundle(&flipped[..], None).is_err());
    f.call(get("/v1/export?format=bundle&from_seq=9000", &a)).await.problem(400, "invalid-query");
    f.call(get("/v1/export?format=bundle&to_seq=5&from_seq=9", &a)).await.problem(400, "invalid-parameter");
    f.call(get("/v1/export?format=bundle&actor=x", &a)).await.problem(400, "invalid-parameter");
    // B's bundle holds B's rows only: all of them up to the row that then
    // recorded the bundle's export.
    let bb = f.call(get("/v1/export?format=bundle", &b)).await;
    let rb = annal_engine::checkpoint::verify_bundle(&bb.body[..], None).unwrap();
    let b_head = f.engine.head("ws_b").unwrap().seq;
    assert_eq!((rb.tenant.as_str(), rb.to_seq), ("ws_b", b_head - 1), "{rb:?}");
    let recorded = f.engine.get("ws_b", b_head).unwrap().unwrap();
    assert_eq!(recorded.event.action, "annal.log.exported");
    assert!(recorded.event.metadata.unwrap().contains(&format!("\"rows\":{}", rb.rows)));
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn a_tenant_holds_at_most_its_bound_of_live_keys() {
    let f = Fixture::new();
    let admin = f.key("ws_a", &["admin"]);
    let max = annal_engine::apikeys::MAX_LIVE_KEYS_PER_TENANT;
    let mut last = String::new();
    for _ in 1..max {
        let r = f.call(post("/v1/keys", &admin, JSON, br#"{"scopes":["ingest"],"label":"many"}"#)).await;
        assert_eq!(r.status, 201);
        last = r.json()["id"].as_str().unwrap().to_string();
    }
    let p = f.call(post("/v1/keys", &admin, JSON, br#"{"scopes":["ingest"],"label":"one more"}"#)).await;
    p.problem(409, "too-many-keys");
    // A revoked key makes room.
    let uri = format!("/v1/keys/{last}");
    assert_eq!(f.call(Req { method: Method::DELETE, ..get(&uri, &admin) }).await.status, 200);
    let r = f.call(post("/v1/keys", &admin, JSON, br#"{"scopes":["ingest"],"label":"again"}"#)).await;
    assert_eq!(r.status, 201);
}
