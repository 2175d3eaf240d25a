//! Durable ingest on both sides, driven by the same client shape.
//!
//! N client threads, one tenant each, each with its own connection made
//! before the clock starts, send their tenant's events in batches of B; a
//! batch is acknowledged only once it is durable. The round's rate is all
//! events over the time from the threads' common start to the last one's
//! end; every request's latency is kept.
//!
//! - **annal**: one `POST /v1/events` (NDJSON, the client serialises each
//!   event) a batch to a fresh store served by `annal serve` in its own
//!   process; 201 comes after the WAL sync.
//! - **PostgreSQL**: a freshly created `audit_log`; batch 1 is one prepared
//!   `INSERT` (autocommit), larger batches one `COPY … FROM STDIN` (one
//!   transaction). The client links each event into its tenant's SHA-256
//!   chain over the canonical JSON, as the writing service would.
//!
//! After each round the rows are counted in each store (annal's from the
//! tenants' heads once the server stopped, PostgreSQL's with `count(*)`).

use std::io::Write;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use bytes::Bytes;
use postgres::types::{ToSql, Type};
use postgres::{Client, Statement};
use serde_json::Value;

use crate::annal::{self, Http, Server};
use crate::pg::Postgres;
use crate::row::{column_list, copy_line, fields, Chain, EVENT_COLUMNS};

/// The events each client sends: client `c` writes tenant `ws_peer{c}`,
/// whose events are the first of its stream in the seeded corpus.
#[derive(Debug)]
pub struct Workload {
    /// One tenant a client.
    pub tenants: Vec<String>,
    /// Each client's events, in order.
    pub events: Vec<Vec<Value>>,
}

impl Workload {
    /// `total` events (rounded down to a multiple of `clients`) over `clients` tenants.
    pub fn new(total: usize, clients: usize) -> Workload {
        let tenants: Vec<String> = (0..clients).map(|c| format!("ws_peer{c}")).collect();
        let per = total / clients;
        let events = tenants.iter().map(|t| annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, t, per)).collect();
        Workload { tenants, events }
    }

    /// Events a round.
    pub fn total(&self) -> usize {
        self.events.iter().map(Vec::len).sum()
    }

    /// Mean size of an event as an NDJSON line, bytes.
    pub fn mean_line_bytes(&self) -> f64 {
        let bytes: usize = self.events.iter().flatten().map(|e| e.to_string().len() + 1).sum();
        bytes as f64 / self.total().max(1) as f64
    }
}

/// One round of one side.
#[derive(Debug, Clone)]
pub struct Round {
    /// Events written.
    pub events: usize,
    /// From the common start to the last client's end.
    pub secs: f64,
    /// Every request's latency.
    pub latencies: Vec<Duration>,
    /// annal only: the server's peak RSS (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// annal only: CPU seconds the server process used during the round.
    pub server_cpu_secs: f64,
}

impl Round {
    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }
}

/// Every round of both sides at one batch size.
#[derive(Debug)]
pub struct BatchRounds {
    /// Events a request.
    pub batch: usize,
    /// annal's rounds.
    pub annal: Vec<Round>,
    /// PostgreSQL's rounds.
    pub pg: Vec<Round>,
}

/// Runs `rounds` rounds of each side per batch size, alternating which side
/// goes first, so load from elsewhere on the machine falls on both alike.
pub fn run(pg: &Postgres, work: &Workload, batches: &[usize], rounds: usize) -> Vec<BatchRounds> {
    let mut out = Vec::new();
    for &batch in batches {
        let mut b = BatchRounds { batch, annal: Vec::new(), pg: Vec::new() };
        for r in 0..rounds {
            for annal_side in [r % 2 == 0, r % 2 != 0] {
                let round = if annal_side { annal_round(work, batch) } else { pg_round(pg, work, batch) };
                eprintln!(
                    "  ingest batch {batch:>4}, round {}/{rounds}, {:<10}: {:>9.0} events/s ({:.1} s)",
                    r + 1,
                    if annal_side { "annal" } else { "PostgreSQL" },
                    round.rate(),
                    round.secs
                );
                if annal_side { &mut b.annal } else { &mut b.pg }.push(round);
            }
        }
        out.push(b);
    }
    out
}

/// What each client does with one batch.
trait Writer: Send {
    fn write(&mut self, batch: &[Value]);
}

/// Runs one writer a tenant, all released at once; returns the elapsed
/// seconds and every request's latency.
fn drive<W: Writer>(writers: Vec<W>, work: &Workload, batch: usize) -> (f64, Vec<Duration>) {
    let start_line = Barrier::new(writers.len() + 1);
    std::thread::scope(|s| {
        let clients: Vec<_> = writers
            .into_iter()
            .zip(&work.events)
            .map(|(mut w, events)| {
                let start_line = &start_line;
                s.spawn(move || {
                    let mut latencies = Vec::with_capacity(events.len().div_ceil(batch));
                    start_line.wait();
                    for chunk in events.chunks(batch) {
                        let t = Instant::now();
                        w.write(chunk);
                        latencies.push(t.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        let latencies: Vec<Duration> = clients.into_iter().flat_map(|c| c.join().expect("client thread")).collect();
        (start.elapsed().as_secs_f64(), latencies)
    })
}

struct AnnalWriter {
    http: Http,
}

impl Writer for AnnalWriter {
    fn write(&mut self, batch: &[Value]) {
        let mut body = Vec::with_capacity(batch.len() * 512);
        for e in batch {
            serde_json::to_writer(&mut body, e).expect("writing to a Vec");
            body.push(b'\n');
        }
        let (status, answer) = self.http.request(hyper::Method::POST, "/v1/events", "application/x-ndjson", Bytes::from(body));
        assert_eq!(status, 201, "POST /v1/events: {}", String::from_utf8_lossy(&answer));
    }
}

/// One annal round: a new store, a new server process, the clients.
fn annal_round(work: &Workload, batch: usize) -> Round {
    let dir = tempfile::Builder::new().prefix("annal-peer-store-").tempdir().expect("create a temporary directory");
    let store = dir.path().join("db");
    let tokens = annal::prepare_store(&store, &work.tenants, None);
    let before = annal::head_seqs(&store, &work.tenants);
    let server = Server::start(&store, &dir.path().join("serve.log"), true);
    let writers = tokens.iter().map(|t| AnnalWriter { http: Http::connect(server.addr, t) }).collect();
    let cpu_before = server.cpu_secs();
    let (secs, latencies) = drive(writers, work, batch);
    let server_cpu_secs = server.cpu_secs() - cpu_before;
    let peak_rss_kib = server.peak_rss_kib();
    server.stop();
    let after = annal::head_seqs(&store, &work.tenants);
    for (i, t) in work.tenants.iter().enumerate() {
        assert_eq!(after[i] - before[i], work.events[i].len() as u64, "rows annal stored for {t}");
    }
    Round { events: work.total(), secs, latencies, peak_rss_kib, server_cpu_secs }
}

struct PgWriter {
    client: Client,
    tenant: String,
    chain: Chain,
    batch: usize,
    insert: Statement,
    copy: Statement,
    buf: Vec<u8>,
}

impl PgWriter {
    fn new(mut client: Client, tenant: &str, batch: usize) -> PgWriter {
        // Event columns arrive as text and are cast where their type is not.
        let placeholders: Vec<String> = ["$1".to_string(), "$2".to_string()]
            .into_iter()
            .chain(EVENT_COLUMNS.iter().enumerate().map(|(i, c)| {
                let cast = match crate::row::sql_type(c) {
                    "timestamptz" => "::timestamptz",
                    "inet" => "::inet",
                    "jsonb" => "::jsonb",
                    _ => "",
                };
                format!("${}{cast}", i + 3)
            }))
            .chain(["$23".to_string(), "$24".to_string()])
            .collect();
        let mut types = vec![Type::TEXT, Type::INT8];
        types.extend([Type::TEXT; 20]);
        types.extend([Type::BYTEA, Type::BYTEA]);
        let insert_sql = format!("INSERT INTO audit_log ({}) VALUES ({})", column_list(false), placeholders.join(", "));
        let insert = client.prepare_typed(&insert_sql, &types).expect("prepare the INSERT");
        let copy = client.prepare(&format!("COPY audit_log ({}) FROM STDIN", column_list(false))).expect("prepare the COPY");
        PgWriter { client, tenant: tenant.to_string(), chain: Chain::default(), batch, insert, copy, buf: Vec::new() }
    }
}

impl Writer for PgWriter {
    fn write(&mut self, batch: &[Value]) {
        if self.batch == 1 {
            let event = &batch[0];
            let link = self.chain.link(event);
            let f = fields(event);
            let values: Vec<Option<&str>> = f.iter().map(|v| v.as_deref()).collect();
            let (prev, hash) = (&link.prev[..], &link.hash[..]);
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.tenant, &link.seq];
            params.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
            params.extend([&prev as &(dyn ToSql + Sync), &hash]);
            self.client.execute(&self.insert, &params).expect("INSERT");
            return;
        }
        self.buf.clear();
        for event in batch {
            let link = self.chain.link(event);
            copy_line(&mut self.buf, &self.tenant, &link, None, &fields(event));
        }
        let mut w = self.client.copy_in(&self.copy).expect("COPY");
        w.write_all(&self.buf).expect("COPY data");
        w.finish().expect("COPY commit");
    }
}

/// One PostgreSQL round: a new table, the clients, then the count.
fn pg_round(pg: &Postgres, work: &Workload, batch: usize) -> Round {
    let mut admin = pg.connect();
    pg.recreate_table(&mut admin);
    let writers = work.tenants.iter().map(|t| PgWriter::new(pg.connect(), t, batch)).collect();
    let (secs, latencies) = drive(writers, work, batch);
    for (i, t) in work.tenants.iter().enumerate() {
        let row = admin.query_one("SELECT count(*), max(seq) FROM audit_log WHERE tenant = $1", &[t]).expect("count rows");
        let (count, max_seq): (i64, Option<i64>) = (row.get(0), row.get(1));
        let expected = work.events[i].len() as i64;
        assert_eq!((count, max_seq.unwrap_or(0)), (expected, expected), "rows and last seq PostgreSQL stored for {t}");
    }
    Round { events: work.total(), secs, latencies, peak_rss_kib: 0, server_cpu_secs: 0.0 }
}
