//! Queries: complete cursor walks against a naive filter, tenant isolation,
//! paging while appends go on and across restarts, bad queries, the planner.

use std::collections::HashSet;
use std::ops::ControlFlow;

use annal_engine::{ActorType, Cf, Engine, Error, Event, Order, Outcome, Page, Query, RawStore, Record, Target, TargetFilter};
use proptest::prelude::*;

use crate::{store, T0};

const ACTORS: [&str; 4] = ["u_0", "u_1", "u_10", "svc_a"];
const ACTIONS: [&str; 7] =
    ["auth.login", "iam.role.grant", "iam.role.revoke", "iam.user.invite", "iam", "iamx.login", "billing.invoice.pay"];
const PREFIXES: [&str; 7] = ["iam", "iam.", "iam.role", "auth", "iamx", "billing.invoice.pay", "iam.role.grant.x"];
const TARGET_TYPES: [&str; 2] = ["user", "invoice"];
const IDS: [&str; 3] = ["a", "b", "a b"];
const OUTCOMES: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Denied];
const SECOND: u64 = 1_000_000_000;

/// Indices into the pools above; `None` leaves the field out.
#[derive(Debug, Clone)]
struct EventSpec {
    tenant: usize,
    actor: usize,
    on_behalf_of: Option<usize>,
    action: usize,
    target: Option<(usize, usize)>,
    session: Option<usize>,
    key_ref: Option<usize>,
    outcome: Option<usize>,
    /// Seconds the clock moves before this event (0: same instant).
    step: u64,
    /// Whether this event starts a new append (else it joins the previous batch).
    new_batch: bool,
}

fn event_spec() -> impl Strategy<Value = EventSpec> {
    (
        (0..2usize, 0..4usize, prop::option::of(0..3usize), 0..7usize, prop::option::of((0..2usize, 0..3usize))),
        (prop::option::of(0..3usize), prop::option::of(0..3usize), prop::option::of(0..3usize), 0..3u64, any::<bool>()),
    )
        .prop_map(|((tenant, actor, on_behalf_of, action, target), (session, key_ref, outcome, step, new_batch))| {
            EventSpec { tenant, actor, on_behalf_of, action, target, session, key_ref, outcome, step, new_batch }
        })
}

fn build(s: &EventSpec) -> Event {
    let mut e = Event::new(ACTIONS[s.action], ActorType::User, ACTORS[s.actor]);
    e.actor.on_behalf_of = s.on_behalf_of.map(|i| ACTORS[i].to_string());
    e.target = s.target.map(|(k, i)| Target { kind: TARGET_TYPES[k].into(), id: IDS[i].into(), name: None });
    e.session_id = s.session.map(|i| format!("s_{}", IDS[i]));
    e.key_ref = s.key_ref.map(|i| format!("key_{}", IDS[i]));
    e.outcome = s.outcome.map(|i| OUTCOMES[i]);
    e
}

#[derive(Debug, Clone)]
struct QuerySpec {
    tenant: usize,
    /// Seconds after T0.
    from: Option<u64>,
    len: Option<u64>,
    actor: Option<usize>,
    on_behalf_of: Option<usize>,
    action: Option<usize>,
    prefix: Option<usize>,
    target: Option<(usize, usize)>,
    session: Option<usize>,
    key_ref: Option<usize>,
    outcome: Option<usize>,
    desc: bool,
    page: usize,
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    let some = |n: usize| prop::option::weighted(0.3, 0..n);
    (
        (0..2usize, prop::option::of(0..200u64), prop::option::of(1..200u64), some(4), some(3), some(7), some(7)),
        (prop::option::weighted(0.3, (0..2usize, 0..3usize)), some(3), some(3), some(3), any::<bool>(), 1..9usize),
    )
        .prop_map(
            |((tenant, from, len, actor, on_behalf_of, action, prefix), (target, session, key_ref, outcome, desc, page))| {
                QuerySpec {
                    tenant,
                    from,
                    len,
                    actor,
                    on_behalf_of,
                    action,
                    prefix,
                    target,
                    session,
                    key_ref,
                    outcome,
                    desc,
                    page,
                }
            },
        )
}

fn to_query(s: &QuerySpec) -> Query {
    let from = s.from.map(|f| T0 + f * SECOND);
    Query {
        from,
        to: s.len.map(|l| from.unwrap_or(T0) + l * SECOND),
        actor: s.actor.map(|i| ACTORS[i].into()),
        on_behalf_of: s.on_behalf_of.map(|i| ACTORS[i].into()),
        action: s.action.map(|i| ACTIONS[i].into()),
        action_prefix: s.prefix.map(|i| PREFIXES[i].into()),
        target: s.target.map(|(k, i)| TargetFilter { kind: TARGET_TYPES[k].into(), id: IDS[i].into() }),
        session: s.session.map(|i| format!("s_{}", IDS[i])),
        key_ref: s.key_ref.map(|i| format!("key_{}", IDS[i])),
        outcome: s.outcome.map(|i| OUTCOMES[i]),
        pseudonym: None,
        order: if s.desc { Order::Desc } else { Order::Asc },
    }
}

/// The reference answer, written independently of the engine's matcher.
pub fn naive(all: &[Record], q: &Query) -> Vec<u64> {
    let mut out: Vec<u64> = all
        .iter()
        .filter(|r| {
            let e = &r.event;
            let prefix_ok = match &q.action_prefix {
                None => true,
                Some(p) => {
                    let p = p.trim_end_matches('.');
                    e.action == p || e.action.starts_with(&format!("{p}."))
                }
            };
            q.from.is_none_or(|f| r.recorded_at >= f)
                && q.to.is_none_or(|t| r.recorded_at < t)
                && q.actor.as_ref().is_none_or(|a| &e.actor_id == a)
                && q.on_behalf_of.as_ref().is_none_or(|a| e.on_behalf_of.as_ref() == Some(a))
                && q.action.as_ref().is_none_or(|a| &e.action == a)
                && prefix_ok
                && q.target.as_ref().is_none_or(|t| e.target.as_ref().is_some_and(|x| x.kind == t.kind && x.id == t.id))
                && q.session.as_ref().is_none_or(|s| e.session_id.as_ref() == Some(s))
                && q.key_ref.as_ref().is_none_or(|k| e.key_ref.as_ref() == Some(k))
                && q.outcome.is_none_or(|o| e.outcome == Some(o))
        })
        .map(|r| r.seq)
        .collect();
    if q.order == Order::Desc {
        out.reverse();
    }
    out
}

/// Walks `q` page by page through cursors; returns every seq and the pages.
pub fn walk(engine: &Engine, tenant: &str, q: &Query, limit: usize) -> (Vec<u64>, Vec<Page>) {
    let mut seqs = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let page = engine.query(tenant, q, limit, cursor.as_deref()).unwrap();
        assert!(page.records.len() <= limit);
        seqs.extend(page.records.iter().map(|r| r.seq));
        cursor = page.cursor.clone();
        let complete = page.complete;
        pages.push(page);
        if complete {
            return (seqs, pages);
        }
    }
    panic!("walk did not end");
}

fn populate(engine: &Engine, clock: &annal_engine::ManualClock, specs: &[EventSpec]) {
    let mut batch: Vec<Event> = Vec::new();
    let mut batch_tenant = 0;
    for s in specs {
        if (s.new_batch || s.tenant != batch_tenant) && !batch.is_empty() {
            engine.append(&format!("ws_{batch_tenant}"), &batch).unwrap();
            batch.clear();
        }
        if batch.is_empty() {
            // The clock moves between appends only: a batch shares one instant.
            clock.advance(s.step * SECOND);
        }
        batch_tenant = s.tenant;
        batch.push(build(s));
    }
    if !batch.is_empty() {
        engine.append(&format!("ws_{batch_tenant}"), &batch).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The heart of the query contract: for random stores and random filter
    /// combinations, windows, orders and page sizes, a full cursor walk
    /// returns exactly what a naive filter over every row returns, in order,
    /// without duplicates.
    #[test]
    fn cursor_walks_equal_a_naive_filter(
        specs in prop::collection::vec(event_spec(), 1..250),
        queries in prop::collection::vec(query_spec(), 24),
    ) {
        let (_d, engine, clock) = store();
        populate(&engine, &clock, &specs);
        for q in &queries {
            let tenant = format!("ws_{}", q.tenant);
            if !engine.tenants().contains(&tenant) {
                continue;
            }
            let all: Vec<Record> = engine.iter(&tenant, 1).unwrap().map(Result::unwrap).collect();
            let query = to_query(q);
            let expect = naive(&all, &query);
            let (got, pages) = walk(&engine, &tenant, &query, q.page);
            prop_assert_eq!(&got, &expect, "query {:?}", query);
            let unique: HashSet<_> = got.iter().collect();
            prop_assert_eq!(unique.len(), got.len());
            // Pages lent row by row (`query_visit`, what the server writes
            // its answers from) are the same pages, cursor for cursor.
            let mut cursor: Option<String> = None;
            for page in &pages {
                let mut lent = Vec::new();
                let info = engine
                    .query_visit(&tenant, &query, q.page, cursor.as_deref(), |r| { lent.push(r.to_owned()); ControlFlow::Continue(()) })
                    .unwrap();
                prop_assert_eq!(&lent, &page.records);
                prop_assert_eq!(&info.cursor, &page.cursor);
                prop_assert_eq!(info.complete, page.complete);
                prop_assert_eq!(info.explain.returned, page.records.len() as u64);
                cursor = info.cursor;
            }
            // The export stream gives the same rows.
            let streamed: Vec<u64> = engine.query_stream(&tenant, &query).unwrap().map(|r| r.unwrap().seq).collect();
            prop_assert_eq!(&streamed, &expect);
            // So does the borrowed scan, row for row, field for field.
            let mut scanned = Vec::new();
            let stats = engine.scan(&tenant, &query, |r| { scanned.push(r.to_owned()); ControlFlow::Continue(()) }).unwrap();
            prop_assert_eq!(scanned.iter().map(|r| r.seq).collect::<Vec<_>>(), expect.clone());
            prop_assert_eq!(stats.returned, expect.len() as u64);
            for r in &scanned {
                prop_assert_eq!(r, &all[r.seq as usize - 1]);
            }
            // A window never makes the walk read rows outside it.
            let in_window = all.iter().filter(|r| query.from.is_none_or(|f| r.recorded_at >= f) && query.to.is_none_or(|t| r.recorded_at < t)).count() as u64;
            let examined: u64 = pages.iter().map(|p| p.explain.examined).sum();
            prop_assert!(examined <= in_window, "examined {} of {} in window", examined, in_window);
        }
        for t in engine.tenants() {
            prop_assert!(engine.check_index(&t).unwrap().is_consistent());
        }
    }
}

fn simple(action: &str, actor: &str) -> Event {
    Event::new(action, ActorType::User, actor)
}

#[test]
fn no_query_reaches_another_tenants_rows() {
    let (d, engine, _c) = store();
    // Same actors, actions and keys in both tenants; numbers 1 and 2 sit side by side.
    for t in ["ws_a", "ws_b"] {
        let mut e = simple("iam.role.grant", "u_1");
        e.key_ref = Some("key_shared".into());
        e.session_id = Some("s_1".into());
        engine.append(t, &[e.clone(), e]).unwrap();
    }
    let q = Query { key_ref: Some("key_shared".into()), ..Query::default() };
    let a = engine.query("ws_a", &q, 100, None).unwrap();
    let b = engine.query("ws_b", &q, 100, None).unwrap();
    assert_eq!(a.records.len(), 2);
    assert_eq!(b.records.len(), 2);
    let a_all: Vec<Record> = engine.iter("ws_a", 1).unwrap().map(Result::unwrap).collect();
    assert_eq!(a.records, a_all);
    // A cursor from one tenant is refused by the other.
    let partial = engine.query("ws_a", &q, 1, None).unwrap();
    match engine.query("ws_b", &q, 1, partial.cursor.as_deref()) {
        Err(Error::InvalidCursor(m)) => assert!(m.contains("another tenant"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Unknown tenants are an error, not an empty answer from someone else's rows.
    assert!(matches!(engine.query("ws_c", &q, 10, None), Err(Error::UnknownTenant)));
    drop(engine);
    // On disk, every index key starts with its tenant's number: tenant 1's
    // entries are exactly those for ws_a's rows.
    let raw = RawStore::open(d.path()).unwrap();
    let entries = raw.entries(Cf::Index).unwrap();
    let per_tenant = |n: u64| entries.iter().filter(|(k, _)| k[..8] == n.to_be_bytes()).count();
    assert_eq!(per_tenant(1) + per_tenant(2), entries.len());
    assert_eq!(per_tenant(1), per_tenant(2));
}

#[test]
fn bad_queries_get_errors_naming_the_field() {
    let (_d, engine, _c) = store();
    engine.append("t", &[simple("auth.login", "u_1"), simple("auth.login", "u_2")]).unwrap();
    let field = |q: &Query, limit: usize| match engine.query("t", q, limit, None) {
        Err(Error::InvalidQuery(fe)) => fe.field,
        other => panic!("{q:?}: {other:?}"),
    };
    assert_eq!(field(&Query { from: Some(T0 + 5), to: Some(T0 + 5), ..Query::default() }, 10), "to");
    assert_eq!(field(&Query { from: Some(T0 + 6), to: Some(T0 + 5), ..Query::default() }, 10), "to");
    assert_eq!(field(&Query::default(), 0), "limit");
    assert_eq!(field(&Query::default(), 1001), "limit");
    assert_eq!(field(&Query { action_prefix: Some("iam..".into()), ..Query::default() }, 10), "action_prefix");
    assert_eq!(field(&Query { action: Some("iam.*".into()), ..Query::default() }, 10), "action");
    assert_eq!(field(&Query { actor: Some(String::new()), ..Query::default() }, 10), "actor");
    assert_eq!(field(&Query { session: Some("a\u{0}b".into()), ..Query::default() }, 10), "session");
    assert_eq!(
        field(&Query { target: Some(TargetFilter { kind: "user".into(), id: " x".into() }), ..Query::default() }, 10),
        "target.id"
    );
    match Query::default().set("colour", "red") {
        Err(Error::InvalidQuery(fe)) => assert!(fe.field == "colour" && fe.message.contains("actor"), "{fe}"),
        other => panic!("{other:?}"),
    }
    // Cursors: garbage, and one from another query (filters or order changed).
    for garbage in ["", "not-a-cursor", &"0".repeat(50), &"g".repeat(50)] {
        assert!(matches!(engine.query("t", &Query::default(), 1, Some(garbage)), Err(Error::InvalidCursor(_))), "{garbage}");
    }
    let first = engine.query("t", &Query::default(), 1, None).unwrap();
    let c = first.cursor.as_deref();
    for other in [
        Query { actor: Some("u_1".into()), ..Query::default() },
        Query { order: Order::Desc, ..Query::default() },
        Query { from: Some(T0), ..Query::default() },
    ] {
        match engine.query("t", &other, 1, c) {
            Err(Error::InvalidCursor(m)) => assert!(m.contains("another query"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    // The page size may change between pages; the query may not.
    let rest = engine.query("t", &Query::default(), 5, c).unwrap();
    assert_eq!(rest.records.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
    assert!(rest.complete);
}

#[test]
fn ascending_walks_meet_new_rows_only_at_their_end() {
    let (_d, engine, clock) = store();
    let mut expected = Vec::new();
    for i in 0..20 {
        clock.advance(SECOND);
        expected.extend(engine.append("t", &[simple("auth.login", &format!("u_{}", i % 2))]).unwrap().iter().map(|r| r.seq));
    }
    let q = Query { actor: Some("u_0".into()), ..Query::default() };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut appended = 0;
    loop {
        let page = engine.query("t", &q, 3, cursor.as_deref()).unwrap();
        seen.extend(page.records.iter().map(|r| r.seq));
        cursor = page.cursor.clone();
        if page.complete {
            break;
        }
        // Rows for the same actor arrive between pages.
        if appended < 4 {
            clock.advance(SECOND);
            engine.append("t", &[simple("auth.login", "u_0"), simple("auth.login", "u_1")]).unwrap();
            appended += 1;
        }
    }
    let all: Vec<Record> = engine.iter("t", 1).unwrap().map(Result::unwrap).collect();
    assert_eq!(seen, naive(&all, &q), "every u_0 row, old and new, once, in order");
    // A descending walk started before the appends never sees them.
    let first = engine.query("t", &Query { order: Order::Desc, ..q.clone() }, 2, None).unwrap();
    let top = first.records[0].seq;
    engine.append("t", &[simple("auth.login", "u_0")]).unwrap();
    let (rest, _) = {
        let mut seqs = Vec::new();
        let mut cursor = first.cursor.clone();
        loop {
            let p = engine.query("t", &Query { order: Order::Desc, ..q.clone() }, 2, cursor.as_deref()).unwrap();
            seqs.extend(p.records.iter().map(|r| r.seq));
            cursor = p.cursor.clone();
            if p.complete {
                break (seqs, cursor);
            }
        }
    };
    assert!(rest.iter().all(|&s| s < top), "descending walk went back up: {rest:?}");
}

#[test]
fn cursors_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let q = Query { action_prefix: Some("iam".into()), ..Query::default() };
    let (first, cursor) = {
        let engine = Engine::open(dir.path()).unwrap();
        let events: Vec<Event> =
            (0..30).map(|i| simple(if i % 3 == 0 { "auth.login" } else { "iam.role.grant" }, "u_1")).collect();
        engine.append("t", &events).unwrap();
        let p = engine.query("t", &q, 7, None).unwrap();
        (p.records.iter().map(|r| r.seq).collect::<Vec<_>>(), p.cursor.unwrap())
    };
    let engine = Engine::open(dir.path()).unwrap();
    let p = engine.query("t", &q, 100, Some(&cursor)).unwrap();
    let all: Vec<u64> = first.into_iter().chain(p.records.iter().map(|r| r.seq)).collect();
    assert_eq!(all, (1..=30).filter(|s| (s - 1) % 3 != 0).collect::<Vec<_>>());
    assert!(p.complete);
}

#[test]
fn the_planner_picks_the_narrowest_index_and_explains_it() {
    let (_d, engine, clock) = store();
    // 3,000 rows over 3,000 seconds: one rare key, two actors, mostly logins.
    for chunk in 0..30u64 {
        clock.advance(100 * SECOND);
        let events: Vec<Event> = (0..100u64)
            .map(|i| {
                let n = chunk * 100 + i;
                let mut e = simple(
                    if n % 10 == 0 { "iam.role.grant" } else { "auth.login" },
                    if n % 2 == 0 { "u_even" } else { "u_odd" },
                );
                if n % 1000 == 7 {
                    e.key_ref = Some("key_rare".into());
                }
                e.outcome = Some(Outcome::Success);
                e
            })
            .collect();
        engine.append("t", &events).unwrap();
    }
    let explain = |q: &Query| engine.query("t", q, 100, None).unwrap();

    let rare = explain(&Query { key_ref: Some("key_rare".into()), outcome: Some(Outcome::Success), ..Query::default() });
    assert_eq!(rare.explain.index, "key_ref");
    assert_eq!((rare.explain.examined, rare.explain.returned), (3, 3));

    let prefix = explain(&Query { action_prefix: Some("iam".into()), actor: Some("u_even".into()), ..Query::default() });
    assert_eq!(prefix.explain.index, "action_prefix", "{:?}", prefix.explain);
    assert_eq!(prefix.records.len(), 100);
    assert!(prefix.explain.examined <= 101, "{:?}", prefix.explain);

    // A window alone: the chain, read only inside the window (rows of one
    // append share an instant, so this window holds exactly 2 appends).
    let window = explain(&Query { from: Some(T0 + 500 * SECOND), to: Some(T0 + 700 * SECOND), ..Query::default() });
    assert_eq!(window.explain.index, "chain");
    assert_eq!(window.explain.seq_range, (401, 601));
    // Two appends of 100 lie in the window; the page stops at its limit.
    assert_eq!((window.explain.examined, window.complete), (100, false));

    // A common filter inside a narrow window: the window bounds the index scan.
    let narrow = explain(&Query {
        from: Some(T0 + 500 * SECOND),
        to: Some(T0 + 600 * SECOND),
        actor: Some("u_odd".into()),
        ..Query::default()
    });
    assert_eq!(narrow.records.len(), 50);
    assert!(narrow.explain.examined <= 100, "{:?}", narrow.explain);
    assert!(narrow.complete);
    let json = narrow.explain.to_json();
    assert_eq!(json["returned"], 50);
}

#[test]
fn a_version_1_store_is_indexed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(dir.path()).unwrap();
        let mut e = simple("iam.role.grant", "u_1");
        e.session_id = Some("s_1".into());
        engine.append("t", &[e.clone(), simple("auth.login", "u_2"), e]).unwrap();
    }
    {
        // Make it what a version 1 build left behind: rows, no index.
        let raw = RawStore::open(dir.path()).unwrap();
        for (k, _) in raw.entries(Cf::Index).unwrap() {
            raw.delete(Cf::Index, &k).unwrap();
        }
        raw.put(Cf::Meta, b"format_version", &1u32.to_be_bytes()).unwrap();
    }
    let engine = Engine::builder(dir.path()).upgrade_without_backup().open().unwrap();
    assert!(engine.check_index("t").unwrap().is_consistent());
    let p = engine.query("t", &Query { session: Some("s_1".into()), ..Query::default() }, 10, None).unwrap();
    assert_eq!(p.records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 3]);
    drop(engine);
    let raw = RawStore::open(dir.path()).unwrap();
    let version = raw.entries(Cf::Meta).unwrap().into_iter().find(|(k, _)| k == b"format_version").unwrap().1;
    assert_eq!(version, annal_engine::STORE_FORMAT_VERSION.to_be_bytes());
}

#[test]
fn a_missing_index_entry_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(dir.path()).unwrap();
        // Two appends, so that no posting holds both rows.
        engine.append("t", &[simple("auth.login", "u_1")]).unwrap();
        engine.append("t", &[simple("auth.login", "u_2")]).unwrap();
        assert!(engine.check_index("t").unwrap().is_consistent());
    }
    {
        let raw = RawStore::open(dir.path()).unwrap();
        let entries = raw.entries(Cf::Index).unwrap();
        // The last key of the tenant: an entry of seq 2.
        raw.delete(Cf::Index, &entries.last().unwrap().0).unwrap();
    }
    let engine = Engine::open(dir.path()).unwrap();
    let check = engine.check_index("t").unwrap();
    assert!(!check.is_consistent());
    assert_eq!(check.missing, [2]);
}

#[test]
fn a_scan_longer_than_one_plan_returns_every_row_once_and_can_stop() {
    let (_d, engine, clock) = store();
    // More rows than one plan of a scan covers (4,096), a third of them matching.
    let events: Vec<Event> =
        (0..9_000).map(|i| simple(if i % 3 == 0 { "iam.role.grant" } else { "auth.login" }, "u_1")).collect();
    for chunk in events.chunks(1_000) {
        clock.advance(1_000_000);
        engine.append("t", chunk).unwrap();
    }
    for order in [Order::Asc, Order::Desc] {
        let q = Query { action_prefix: Some("iam".into()), order, ..Query::default() };
        let mut seqs = Vec::new();
        let stats = engine
            .scan("t", &q, |r| {
                assert_eq!(r.event.action, "iam.role.grant");
                seqs.push(r.seq);
                ControlFlow::Continue(())
            })
            .unwrap();
        let mut expect: Vec<u64> = (0..9_000u64).filter(|i| i % 3 == 0).map(|i| i + 1).collect();
        if order == Order::Desc {
            expect.reverse();
        }
        assert_eq!(seqs, expect);
        assert_eq!((stats.returned, stats.stopped), (3_000, false));
        let all = engine.scan("t", &Query { order, ..Query::default() }, |_| ControlFlow::Continue(())).unwrap();
        assert_eq!((all.examined, all.returned), (9_000, 9_000));
    }
    let mut seen = 0;
    let stats = engine
        .scan("t", &Query::default(), |_| {
            seen += 1;
            if seen == 5_000 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!((seen, stats.returned, stats.stopped), (5_000, 5_000, true));
}
