//! Action names, counts per bucket and the row an export leaves: each held
//! to a naive reading of every row of the chain.

use std::collections::BTreeSet;

use annal_engine::{Actor, ActorType, Bucket, Error, Event, ExportRecord, Outcome, Query, EXPORTED_ACTION};

use super::{store, T0};

const HOUR: u64 = 3_600_000_000_000;

/// 24 rows an hour over three days plus a few hours, actions and outcomes
/// varied, so buckets and filters have something to tell apart.
fn fill(engine: &annal_engine::Engine, clock: &annal_engine::ManualClock) -> Vec<(u64, Event)> {
    let actions = ["iam.role.grant", "iam.role.revoke", "iam.login", "docs.file.share", "docs.file", "billing.charge"];
    let mut out = Vec::new();
    for i in 0..80u64 {
        let at = T0 + 1_800_000_000_000 + i * HOUR;
        clock.set(at);
        let batch: Vec<Event> = (0..(i % 5))
            .map(|j| {
                let mut e = Event::new(actions[((i + j) % 6) as usize], ActorType::User, format!("u_{}", (i + j) % 3));
                e.outcome = match (i + j) % 4 {
                    0 => Some(Outcome::Success),
                    1 => Some(Outcome::Failure),
                    2 => Some(Outcome::Denied),
                    _ => None,
                };
                e
            })
            .collect();
        if batch.is_empty() {
            continue;
        }
        for (r, e) in engine.append("ws_a", &batch).unwrap().iter().zip(batch) {
            out.push((r.recorded_at, e));
        }
    }
    out
}

#[test]
fn action_names_are_every_distinct_action_once_sorted_and_bounded() {
    let (_d, engine, clock) = store();
    let rows = fill(&engine, &clock);
    engine.append("ws_b", &[Event::new("other.tenant", ActorType::User, "x")]).unwrap();
    let all: BTreeSet<String> = rows.iter().map(|(_, e)| e.action.clone()).collect();
    let (names, complete) = engine.action_names("ws_a", "", 1000).unwrap();
    assert!(complete);
    assert_eq!(names, all.iter().cloned().collect::<Vec<_>>());
    let (docs, complete) = engine.action_names("ws_a", "docs.", 1000).unwrap();
    assert!(complete);
    assert_eq!(docs, ["docs.file", "docs.file.share"]);
    let (iam, _) = engine.action_names("ws_a", "iam", 1000).unwrap();
    assert_eq!(iam, ["iam.login", "iam.role.grant", "iam.role.revoke"]);
    let (two, complete) = engine.action_names("ws_a", "", 2).unwrap();
    assert!(!complete);
    assert_eq!(two, all.iter().take(2).cloned().collect::<Vec<_>>());
    // `docs.file` and `docs.file.share` share a prefix of bytes: the seek
    // past one name must not skip the other.
    assert!(names.contains(&"docs.file".to_string()) && names.contains(&"docs.file.share".to_string()));
    assert!(matches!(engine.action_names("ws_nobody", "", 10), Err(Error::UnknownTenant)));
}

#[test]
fn a_histogram_counts_each_row_of_the_window_once_in_its_bucket() {
    let (_d, engine, clock) = store();
    let rows = fill(&engine, &clock);
    for (bucket, from, to, filters) in [
        (Bucket::Hour, T0, T0 + 80 * HOUR, vec![]),
        (Bucket::Day, T0 + 5 * HOUR, T0 + 70 * HOUR, vec![]),
        (Bucket::Hour, T0 + 10 * HOUR + 7, T0 + 20 * HOUR, vec![("action_prefix", "iam")]),
        (Bucket::Day, T0, T0 + 90 * HOUR, vec![("actor", "u_1"), ("outcome", "failure")]),
    ] {
        let mut q = Query { from: Some(from), to: Some(to), ..Query::default() };
        for (k, v) in &filters {
            q.set(k, v).unwrap();
        }
        let h = engine.histogram("ws_a", &q, bucket, u64::MAX).unwrap();
        let width = bucket.ns();
        assert_eq!(h.start, from - from % width);
        assert!(h.complete);
        let mut want = vec![annal_engine::Counts::default(); h.buckets.len()];
        let mut total = 0;
        for (at, e) in &rows {
            let keep = *at >= from
                && *at < to
                && filters.iter().all(|(k, v)| match *k {
                    "action_prefix" => e.action.starts_with(&format!("{v}.")),
                    "actor" => e.actor.id == *v,
                    "outcome" => e.outcome.map(|o| o.as_str()) == Some(*v),
                    _ => unreachable!(),
                });
            if keep {
                total += 1;
                let b = &mut want[((at - h.start) / width) as usize];
                match e.outcome {
                    Some(Outcome::Success) => b.success += 1,
                    Some(Outcome::Failure) => b.failure += 1,
                    Some(Outcome::Denied) => b.denied += 1,
                    None => b.none += 1,
                }
            }
        }
        assert_eq!(h.buckets, want, "{bucket:?} {filters:?}");
        assert_eq!(h.rows, total);
        assert_eq!(h.buckets.iter().map(|b| b.total()).sum::<u64>(), total);
    }
}

#[test]
fn a_histogram_stops_at_its_row_bound_and_refuses_an_open_or_huge_window() {
    let (_d, engine, clock) = store();
    let rows = fill(&engine, &clock);
    let q = Query { from: Some(T0), to: Some(T0 + 100 * HOUR), ..Query::default() };
    let h = engine.histogram("ws_a", &q, Bucket::Hour, 10).unwrap();
    assert!(!h.complete);
    assert_eq!(h.rows, 10);
    let h = engine.histogram("ws_a", &q, Bucket::Hour, rows.len() as u64).unwrap();
    assert!(h.complete, "exactly as many rows as the bound is complete");
    let open = Query { from: Some(T0), ..Query::default() };
    match engine.histogram("ws_a", &open, Bucket::Day, 10) {
        Err(Error::InvalidQuery(f)) => assert_eq!(f.field, "to"),
        other => panic!("{other:?}"),
    }
    let decade = Query { from: Some(T0), to: Some(T0 + 24 * 3653 * HOUR), ..Query::default() };
    match engine.histogram("ws_a", &decade, Bucket::Hour, 10) {
        Err(Error::InvalidQuery(f)) => assert_eq!(f.field, "bucket"),
        other => panic!("{other:?}"),
    }
    assert!(engine.histogram("ws_a", &decade, Bucket::Day, 10).is_err(), "3,653 days is over the bound too");
}

#[test]
fn an_export_is_a_row_of_the_chain_it_read_with_typed_values_redacted() {
    let (_d, engine, clock) = store();
    fill(&engine, &clock);
    let head = engine.head("ws_a").unwrap().seq;
    let filter = vec![("actor".to_string(), "jane.doe@acme.com".to_string()), ("action_prefix".to_string(), "iam".to_string())];
    let by = Actor { kind: ActorType::ApiKey, id: "a057b9fb0ac8a2f2".into(), name: None, email: None, on_behalf_of: None };
    let r = engine.record_export("ws_a", by, &ExportRecord { format: "csv", filter: &filter, rows: 42, complete: true }).unwrap();
    assert_eq!(r.seq, head + 1);
    let row = engine.get("ws_a", r.seq).unwrap().unwrap();
    assert_eq!(row.event.action, EXPORTED_ACTION);
    assert_eq!(row.event.actor_id, "a057b9fb0ac8a2f2");
    let meta: serde_json::Value = serde_json::from_str(row.event.metadata.as_deref().unwrap()).unwrap();
    assert_eq!(meta["format"], "csv");
    assert_eq!(meta["rows"], 42);
    assert_eq!(meta["complete"], true);
    assert_eq!(meta["filter"]["action_prefix"], "iam");
    let actor = meta["filter"]["actor"].as_str().unwrap();
    assert!(!actor.contains("jane.doe"), "an email typed into a filter is masked like any free text: {actor}");
    assert!(engine.verify("ws_a", ..).unwrap().is_intact());
    assert!(engine
        .record_export(
            "annal.platform",
            Actor { kind: ActorType::System, id: "x".into(), name: None, email: None, on_behalf_of: None },
            &ExportRecord { format: "csv", filter: &[], rows: 0, complete: true }
        )
        .is_err());
}
