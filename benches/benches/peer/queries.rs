//! First pages and a CSV export from one tenant whose rows span a year,
//! held by both systems.
//!
//! **The rows.** Tenant `ws_tenant000` gets the first `rows` events of its
//! corpus stream, in chunks of [`CHUNK`] recorded at the times
//! `query_store` gives them (spread evenly over 365 days from
//! 2026-01-01). annal's store is built in-process through the engine with
//! a `ManualClock` (`query_store::build`), so each row keeps the corpus's
//! own `key_ref` (over HTTP the server would stamp the writing key's id
//! instead); PostgreSQL gets the same events with the same `recorded_at`
//! through `COPY`, then `VACUUM ANALYZE`. annal's rows are redacted under
//! the default policy (masked emails, truncated IPs), PostgreSQL's are not;
//! no filter here reads a redacted field.
//!
//! **The shapes**, newest first, 100 rows: a day's window (the day of the
//! middle chunk), one actor over the year (the rarest actor that still fills
//! a page), an action prefix over 30 days around that day (the commonest
//! top-level segment there), one `key_ref` (chosen like the actor). Before
//! timing, each shape's page is fetched from both and their `recorded_at`
//! lists must be equal and non-empty. Then shapes and sides alternate for
//! `reps` rounds; each request is timed to its last byte.
//!
//! **The export** is the same 30 days as CSV: `GET /v1/export?format=csv`
//! against `COPY (SELECT …) TO STDOUT WITH CSV`, each read to the end; both
//! must hold as many rows as the corpus has in the window.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use annal_benches::query_store::{self, StoreSpec, CHUNK, DAY_NS, T0_NS};
use annal_engine::event::format_rfc3339_nanos;
use postgres::types::{ToSql, Type};
use postgres::Client;
use serde_json::Value;

use crate::annal::{self, Http, Server};
use crate::pg::Postgres;
use crate::row::{column_list, copy_line, fields, Chain};

/// Rows a page.
const PAGE: usize = 100;

/// One query shape, as each side asks it.
#[derive(Debug)]
struct Shape {
    name: &'static str,
    what: String,
    /// Path and query of `GET /v1/events`.
    annal: String,
    /// The SQL condition after `tenant = $1`; parameters from `$2`, all text.
    pg_where: String,
    pg_params: Vec<String>,
}

/// Timings of one shape.
#[derive(Debug)]
pub struct ShapeResult {
    /// Short name.
    pub name: &'static str,
    /// The filter, in words.
    pub what: String,
    /// Rows on the page.
    pub page_rows: usize,
    /// Size of annal's page (JSON), bytes.
    pub annal_page_bytes: usize,
    /// annal's request times.
    pub annal: Vec<Duration>,
    /// PostgreSQL's query times.
    pub pg: Vec<Duration>,
}

/// Timings of the export.
#[derive(Debug)]
pub struct ExportResult {
    /// Rows in the window.
    pub rows: usize,
    /// annal's CSV size, bytes.
    pub annal_bytes: usize,
    /// PostgreSQL's CSV size, bytes.
    pub pg_bytes: usize,
    /// annal's export times.
    pub annal: Vec<Duration>,
    /// PostgreSQL's `COPY TO` times.
    pub pg: Vec<Duration>,
}

/// Everything the query phase measured.
#[derive(Debug)]
pub struct QueryResults {
    /// Rows of the query tenant.
    pub rows: u64,
    /// One entry a shape.
    pub shapes: Vec<ShapeResult>,
    /// The 30-day CSV export.
    pub export: ExportResult,
}

/// The tenant, its events and their `recorded_at`, ns.
struct Corpus {
    tenant: String,
    events: Vec<Value>,
    instants: Vec<u64>,
    /// Midnight starting the day of the middle chunk.
    mid_day: u64,
}

/// Builds both stores, checks the pages and the export agree, then times them.
pub fn run(pg: &Postgres, rows: u64, reps: usize, export_reps: usize) -> QueryResults {
    let spec = StoreSpec { events: rows, tenants: 1, seed: annal_testdata::DEFAULT_SEED, span_days: 365 };
    let tenant = spec.tenant(0);
    let events = annal_testdata::events_for_tenant(spec.seed, &tenant, spec.per_tenant() as usize);
    let instants: Vec<u64> = (0..events.len() as u64).map(|i| spec.instant(0, i / CHUNK)).collect();
    let mid = instants[instants.len() / 2];
    let corpus = Corpus { tenant, events, instants, mid_day: T0_NS + (mid - T0_NS) / DAY_NS * DAY_NS };

    let dir = tempfile::Builder::new().prefix("annal-peer-query-").tempdir().expect("create a temporary directory");
    let db = dir.path().join("db");
    eprintln!("  building the annal query store ({} rows) and loading PostgreSQL", corpus.events.len());
    query_store::build(&spec, &db, false);
    // The key's row is recorded a day after the year, outside every window.
    let tokens = annal::prepare_store(&db, std::slice::from_ref(&corpus.tenant), Some(T0_NS + 366 * DAY_NS));
    // No retention daemon: these rows are dated 2026 and must not age out
    // by the real clock during a run.
    let server = Server::start(&db, &dir.path().join("serve.log"), false);
    let mut http = Http::connect(server.addr, &tokens[0]);
    let mut client = pg.connect();
    load_pg(pg, &mut client, &corpus);

    let shapes = shapes(&corpus);
    let results = time_pages(&mut http, &mut client, &corpus.tenant, &shapes, reps);
    let export = time_export(&mut http, &mut client, &corpus, export_reps);
    drop(http);
    server.stop();
    QueryResults { rows: corpus.events.len() as u64, shapes: results, export }
}

/// `audit_log` with the corpus rows at their `recorded_at`, chained as a
/// writer would have chained them, analysed and checkpointed.
fn load_pg(pg: &Postgres, client: &mut Client, corpus: &Corpus) {
    pg.recreate_table(client);
    let copy = format!("COPY audit_log ({}) FROM STDIN", column_list(true));
    let mut chain = Chain::default();
    let mut buf = Vec::new();
    for (events, instants) in corpus.events.chunks(10_000).zip(corpus.instants.chunks(10_000)) {
        buf.clear();
        for (event, &ns) in events.iter().zip(instants) {
            let link = chain.link(event);
            copy_line(&mut buf, &corpus.tenant, &link, Some(&pg_time(ns)), &fields(event));
        }
        let mut w = client.copy_in(&copy).expect("COPY");
        std::io::Write::write_all(&mut w, &buf).expect("COPY data");
        w.finish().expect("COPY commit");
    }
    // Separate statements: VACUUM cannot run inside the implicit
    // transaction of a multi-statement query.
    client.batch_execute("VACUUM ANALYZE audit_log").expect("VACUUM ANALYZE");
    client.batch_execute("CHECKPOINT").expect("CHECKPOINT");
}

/// A time for PostgreSQL, whose timestamps hold whole microseconds.
fn pg_time(ns: u64) -> String {
    format_rfc3339_nanos(i64::try_from(ns / 1000 * 1000).expect("a 2026 time"))
}

/// Of the values with at least a page of rows (or, if none has, the
/// commonest), the one with the fewest rows: the most selective filter that
/// still fills a page. Ties go to the smallest value.
fn selective<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let most = counts.values().copied().max().expect("the corpus has such values");
    let needed = most.min(PAGE);
    let (v, _) = counts.iter().filter(|(_, &n)| n >= needed).min_by_key(|(_, &n)| n).expect("one value qualifies");
    v.to_string()
}

fn shapes(c: &Corpus) -> Vec<Shape> {
    let window = |from: u64, to: u64| (format!("from={from}&to={to}"), vec![pg_time(from), pg_time(to)]);
    let page = |q: &str| format!("/v1/events?order=desc&limit={PAGE}&{q}");
    let (day_from, day_to) = (c.mid_day, c.mid_day + DAY_NS);
    let (month_from, month_to) = (c.mid_day - 15 * DAY_NS, c.mid_day + 15 * DAY_NS);
    let (year_from, year_to) = (T0_NS, T0_NS + 365 * DAY_NS);

    let actor = selective(c.events.iter().filter_map(|e| e["actor"]["id"].as_str()));
    let key_ref = selective(c.events.iter().filter_map(|e| e["key_ref"].as_str()));
    let in_month = |i: &usize| (month_from..month_to).contains(&c.instants[*i]);
    let mut segments: BTreeMap<&str, usize> = BTreeMap::new();
    for i in (0..c.events.len()).filter(in_month) {
        let action = c.events[i]["action"].as_str().unwrap_or_default();
        *segments.entry(action.split('.').next().unwrap_or_default()).or_default() += 1;
    }
    let prefix = segments.iter().max_by_key(|(s, &n)| (n, std::cmp::Reverse(*s))).map(|(s, _)| s.to_string());
    let prefix = prefix.expect("the month has rows");
    // Written into the SQL text so the planner sees a constant prefix (a
    // parameter would hide it from the text_pattern_ops index).
    assert!(prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "a plain action segment");

    let (day_q, day_p) = window(day_from, day_to);
    let (year_q, year_p) = window(year_from, year_to);
    let (month_q, month_p) = window(month_from, month_to);
    vec![
        Shape {
            name: "day",
            what: format!("a day's window ({})", &pg_time(day_from)[..10]),
            annal: page(&day_q),
            pg_where: "recorded_at >= $2::timestamptz AND recorded_at < $3::timestamptz".into(),
            pg_params: day_p,
        },
        Shape {
            name: "actor",
            what: format!("actor {actor} over the year"),
            annal: page(&format!("actor={actor}&{year_q}")),
            pg_where: "actor_id = $2 AND recorded_at >= $3::timestamptz AND recorded_at < $4::timestamptz".into(),
            pg_params: [vec![actor.clone()], year_p].concat(),
        },
        Shape {
            name: "action prefix",
            what: format!("action {prefix}.* over 30 days"),
            annal: page(&format!("action_prefix={prefix}&{month_q}")),
            pg_where: format!("action LIKE '{prefix}.%' AND recorded_at >= $2::timestamptz AND recorded_at < $3::timestamptz"),
            pg_params: month_p,
        },
        Shape {
            name: "key_ref",
            what: format!("key_ref {key_ref}"),
            annal: page(&format!("key_ref={key_ref}")),
            pg_where: "key_ref = $2".into(),
            pg_params: vec![key_ref.clone()],
        },
    ]
}

/// Checks every shape's page agrees, then times them interleaved.
fn time_pages(http: &mut Http, client: &mut Client, tenant: &str, shapes: &[Shape], reps: usize) -> Vec<ShapeResult> {
    let mut prepared = Vec::new();
    let mut results = Vec::new();
    for s in shapes {
        let params: Vec<String> = std::iter::once(tenant.to_string()).chain(s.pg_params.iter().cloned()).collect();
        let types = vec![Type::TEXT; params.len()];
        let tail = format!("FROM audit_log WHERE tenant = $1 AND {} ORDER BY recorded_at DESC LIMIT {PAGE}", s.pg_where);
        let stmt = client.prepare_typed(&format!("SELECT * {tail}"), &types).expect("prepare the query");
        let check = format!("SELECT (extract(epoch FROM recorded_at) * 1000000)::int8 {tail}");
        let (page_rows, annal_page_bytes) = check_page(http, client, s, &check, &params);
        prepared.push((stmt, params));
        results.push(ShapeResult {
            name: s.name,
            what: s.what.clone(),
            page_rows,
            annal_page_bytes,
            annal: Vec::new(),
            pg: Vec::new(),
        });
    }
    // Three untimed rounds warm both caches and connections.
    for rep in 0..reps + 3 {
        for (i, s) in shapes.iter().enumerate() {
            let (stmt, params) = &prepared[i];
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            for annal_side in [(rep + i) % 2 == 0, (rep + i) % 2 != 0] {
                let t = Instant::now();
                if annal_side {
                    http.get(&s.annal);
                } else {
                    let rows = client.query(stmt, &refs).expect("query");
                    assert_eq!(rows.len(), results[i].page_rows, "{}: PostgreSQL's page", s.name);
                }
                let took = t.elapsed();
                if rep >= 3 {
                    if annal_side { &mut results[i].annal } else { &mut results[i].pg }.push(took);
                }
            }
        }
    }
    results
}

/// Both sides' page of `shape` must list the same `recorded_at` times
/// (µs), newest first, and not be empty. Returns its length and the size
/// of annal's answer.
fn check_page(http: &mut Http, client: &mut Client, shape: &Shape, check_sql: &str, params: &[String]) -> (usize, usize) {
    let body = http.get(&shape.annal);
    let page: Value = serde_json::from_slice(&body).expect("a JSON page");
    let annal: Vec<i64> = page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["recorded_at_ns"].as_i64().expect("recorded_at_ns") / 1000)
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let stmt = client.prepare_typed(check_sql, &vec![Type::TEXT; params.len()]).expect("prepare the check");
    let pg: Vec<i64> = client.query(&stmt, &refs).expect("check query").iter().map(|r| r.get(0)).collect();
    assert!(!annal.is_empty(), "{}: annal's page is empty", shape.name);
    assert_eq!(annal, pg, "{}: annal's and PostgreSQL's pages differ", shape.name);
    (annal.len(), body.len())
}

/// Checks both CSV exports of the 30 days hold the corpus's rows, then
/// times them interleaved.
fn time_export(http: &mut Http, client: &mut Client, c: &Corpus, reps: usize) -> ExportResult {
    let (from, to) = (c.mid_day - 15 * DAY_NS, c.mid_day + 15 * DAY_NS);
    let expected = c.instants.iter().filter(|&&t| (from..to).contains(&t)).count();
    let path = format!("/v1/export?format=csv&from={from}&to={to}");
    let sql = format!(
        "COPY (SELECT * FROM audit_log WHERE tenant = '{}' AND recorded_at >= '{}' AND recorded_at < '{}' \
         ORDER BY recorded_at) TO STDOUT WITH CSV",
        c.tenant,
        pg_time(from),
        pg_time(to)
    );
    let copy = client.prepare(&sql).expect("prepare the COPY");
    let pg_export = |client: &mut Client| {
        let mut out = Vec::new();
        client.copy_out(&copy).expect("COPY TO").read_to_end(&mut out).expect("COPY data");
        out
    };
    let annal_csv = http.get(&path);
    let pg_csv = pg_export(client);
    let records = |csv: &[u8], header: bool| csv::ReaderBuilder::new().has_headers(header).from_reader(csv).records().count();
    assert!(expected > 0, "the export window has rows");
    assert_eq!(records(&annal_csv, true), expected, "rows in annal's CSV export");
    assert_eq!(records(&pg_csv, false), expected, "rows in PostgreSQL's COPY TO");
    let mut r =
        ExportResult { rows: expected, annal_bytes: annal_csv.len(), pg_bytes: pg_csv.len(), annal: Vec::new(), pg: Vec::new() };
    for rep in 0..reps {
        for annal_side in [rep % 2 == 0, rep % 2 != 0] {
            let t = Instant::now();
            let n = if annal_side { http.get(&path).len() } else { pg_export(client).len() };
            let took = t.elapsed();
            assert_eq!(n, if annal_side { r.annal_bytes } else { r.pg_bytes }, "export size changed");
            if annal_side { &mut r.annal } else { &mut r.pg }.push(took);
        }
    }
    r
}
