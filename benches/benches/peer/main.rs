//! annal against its peer (issue 13): the PostgreSQL `audit_log` table a
//! platform team would build instead, both real, in the same run.
//!
//! - **Ingest** ([`ingest`]): the same seeded corpus events from the same
//!   client shape, N threads with one tenant and one connection each, in
//!   batches of 1, 64 and 1024, every batch durable before it is
//!   acknowledged. annal: `POST /v1/events` to `annal serve` running in its
//!   own process with its defaults ([`annal`]). PostgreSQL: `INSERT` or
//!   `COPY` into a table with four indexes, the client computing the SHA-256
//!   chain ([`pg`], [`row`]). Rounds of the two alternate.
//! - **First pages and export** ([`queries`]): a tenant whose rows span a
//!   year, four query shapes and a 30-day CSV export, interleaved.
//!
//! Printed at the end: events/s per side and their ratio per batch size,
//! request latency p50/p99, the annal server's peak RSS, each shape's p50
//! and ratio, export rows/s and ratio, against the goals.
//!
//! Run: `cargo bench -p annal-benches --bench peer` (needs PostgreSQL:
//! `scripts/setup.sh` installs Debian's package). Sizes, read under
//! `--bench` only:
//!
//! | variable | default | what |
//! |---|---|---|
//! | `ANNAL_PEER_EVENTS` | 200000 | events a round, over all clients |
//! | `ANNAL_PEER_CLIENTS` | 4 | client threads (= tenants, connections) |
//! | `ANNAL_PEER_ROUNDS` | 3 | rounds of each side per batch size |
//! | `ANNAL_PEER_QUERY_ROWS` | 50000 | rows of the query tenant |
//! | `ANNAL_PEER_QUERY_REPS` | 200 | timed requests per query shape and side |
//! | `ANNAL_PEER_EXPORT_REPS` | 20 | timed exports per side |
//! | `ANNAL_PEER_PG_BIN` | newest `/usr/lib/postgresql/*/bin` | where `initdb` and `postgres` are |
//! | `ANNAL_PEER_BATCHES` | `1,64,1024` | batch sizes to run ingest at (`none`: skip ingest) |
//! | `ANNAL_PEER_QUERIES` | `1` | `0` skips first pages and the export |
//!
//! Under `cargo test` (no `--bench` flag) it runs once at smoke sizes (400
//! events, a 600-row query tenant, one round), which still starts both
//! systems and checks that they stored and return the same rows.

mod annal;
mod ingest;
mod pg;
mod queries;
mod report;
mod row;

use std::time::Instant;

/// How much to run.
#[derive(Debug, Clone)]
struct Sizes {
    events: usize,
    clients: usize,
    rounds: usize,
    query_rows: u64,
    query_reps: usize,
    export_reps: usize,
}

impl Sizes {
    /// The full run's sizes, each overridable by its variable.
    fn from_env() -> Sizes {
        fn var(name: &str, default: usize) -> usize {
            match std::env::var(name) {
                Ok(v) => match v.replace('_', "").parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => panic!("{name} must be a positive whole number"),
                },
                Err(_) => default,
            }
        }
        Sizes {
            events: var("ANNAL_PEER_EVENTS", 200_000),
            clients: var("ANNAL_PEER_CLIENTS", 4),
            rounds: var("ANNAL_PEER_ROUNDS", 3),
            query_rows: var("ANNAL_PEER_QUERY_ROWS", 50_000) as u64,
            query_reps: var("ANNAL_PEER_QUERY_REPS", 200),
            export_reps: var("ANNAL_PEER_EXPORT_REPS", 20),
        }
    }

    /// Seconds of work that still start both systems and check both stores.
    fn smoke() -> Sizes {
        Sizes { events: 400, clients: 4, rounds: 1, query_rows: 600, query_reps: 3, export_reps: 2 }
    }
}

/// The batch sizes to ingest at: `ANNAL_PEER_BATCHES` under `--bench`, else all.
fn batch_sizes(full: bool) -> Vec<usize> {
    let spec = if full { std::env::var("ANNAL_PEER_BATCHES").unwrap_or_default() } else { String::new() };
    match spec.as_str() {
        "" => vec![1, 64, 1024],
        "none" => Vec::new(),
        list => list
            .split(',')
            .map(|b| {
                b.trim().parse().ok().filter(|&b: &usize| b > 0).expect("ANNAL_PEER_BATCHES: positive numbers, comma-separated")
            })
            .collect(),
    }
}

fn main() {
    // Executed again as the server: run it and nothing else.
    if let Some(dir) = std::env::var_os(annal::SERVE_ENV) {
        annal::serve_child(dir.into());
    }
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full { Sizes::from_env() } else { Sizes::smoke() };
    assert!(sizes.events >= sizes.clients, "at least one event a client");
    row::self_check();
    let started = Instant::now();
    let pg = pg::Postgres::start();
    eprintln!("peer bench: {sizes:?}; {}", pg.version);
    let work = ingest::Workload::new(sizes.events, sizes.clients);
    let batches = ingest::run(&pg, &work, &batch_sizes(full), sizes.rounds);
    let queries = (!full || std::env::var("ANNAL_PEER_QUERIES").map_or(true, |v| v != "0"))
        .then(|| queries::run(&pg, sizes.query_rows, sizes.query_reps, sizes.export_reps));
    let version = pg.version.clone();
    drop(pg);
    println!("annal vs {version} ({:.0} s in all)", started.elapsed().as_secs_f64());
    report::print_ingest(&batches, work.total(), sizes.clients, work.mean_line_bytes());
    if let Some(q) = &queries {
        report::print_queries(q);
    }
}
