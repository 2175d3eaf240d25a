//! The table printed at the end, with the ratios against issue 13's goals.

use std::time::Duration;

use crate::ingest::{BatchRounds, Round};
use crate::queries::QueryResults;

/// The `p`-th percentile (0–100) by nearest rank; zero for no samples.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// The median of `xs`; zero for none.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rates(rounds: &[Round]) -> (f64, f64, f64) {
    let r: Vec<f64> = rounds.iter().map(Round::rate).collect();
    let min = r.iter().copied().fold(f64::INFINITY, f64::min);
    let max = r.iter().copied().fold(0.0, f64::max);
    (median(&r), min, max)
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "not met"
    }
}

/// Prints the ingest table, batch-1 latencies and the server's peak RSS.
pub fn print_ingest(batches: &[BatchRounds], events: usize, clients: usize, mean_line_bytes: f64) {
    println!();
    println!(
        "Ingest: {events} events a round ({mean_line_bytes:.0} bytes of NDJSON each), {clients} clients, one tenant each, \
         every batch durable; median of {} rounds [min – max]",
        batches.first().map_or(0, |b| b.annal.len())
    );
    println!("| batch | annal events/s | PostgreSQL events/s | annal / PostgreSQL | goal |");
    println!("|---|---|---|---|---|");
    for b in batches {
        let (a, amin, amax) = rates(&b.annal);
        let (p, pmin, pmax) = rates(&b.pg);
        let goal = if b.batch == 1 { 1.5 } else { 3.0 };
        println!(
            "| {} | {a:.0} [{amin:.0} – {amax:.0}] | {p:.0} [{pmin:.0} – {pmax:.0}] | **{:.2}** | ≥ {goal}: {} |",
            b.batch,
            a / p,
            verdict(a / p >= goal)
        );
    }
    println!();
    println!("| batch | annal p50 / p99 ms a request | PostgreSQL p50 / p99 ms | annal serve peak RSS (VmHWM) | annal serve CPU µs an event |");
    println!("|---|---|---|---|---|");
    for b in batches {
        let lat = |rounds: &[Round]| rounds.iter().flat_map(|r| r.latencies.iter().copied()).collect::<Vec<_>>();
        let (a, p) = (lat(&b.annal), lat(&b.pg));
        let rss = b.annal.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
        let cpu = b.annal.iter().map(|r| r.server_cpu_secs).sum::<f64>() * 1e6
            / b.annal.iter().map(|r| r.events).sum::<usize>().max(1) as f64;
        println!(
            "| {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.0} MiB | {cpu:.1} |",
            b.batch,
            ms(percentile(&a, 50.0)),
            ms(percentile(&a, 99.0)),
            ms(percentile(&p, 50.0)),
            ms(percentile(&p, 99.0)),
            rss as f64 / 1024.0
        );
    }
    if let Some(b) = batches.iter().find(|b| b.batch == 1) {
        let lat = |rounds: &[Round]| rounds.iter().flat_map(|r| r.latencies.iter().copied()).collect::<Vec<_>>();
        let (a, p) = (percentile(&lat(&b.annal), 50.0), percentile(&lat(&b.pg), 50.0));
        println!("batch 1 p50: annal {:.2} ms, PostgreSQL {:.2} ms: no worse: {}", ms(a), ms(p), verdict(a <= p));
    }
}

/// Prints the first-page and export tables.
pub fn print_queries(q: &QueryResults) {
    println!();
    println!("First page of 100 rows, newest first, tenant of {} rows over a year; p50 over {} requests each", q.rows, {
        q.shapes.first().map_or(0, |s| s.annal.len())
    });
    println!("| shape | filter | rows | annal page KB | annal p50 ms | PostgreSQL p50 ms | annal / PostgreSQL | goal ≤ 0.5 |");
    println!("|---|---|---|---|---|---|---|---|");
    for s in &q.shapes {
        let (a, p) = (ms(percentile(&s.annal, 50.0)), ms(percentile(&s.pg, 50.0)));
        println!(
            "| {} | {} | {} | {:.0} | {a:.2} | {p:.2} | **{:.2}** | {} |",
            s.name,
            s.what,
            s.page_rows,
            s.annal_page_bytes as f64 / 1e3,
            a / p,
            verdict(a / p <= 0.5)
        );
    }
    let e = &q.export;
    let (a, p) = (percentile(&e.annal, 50.0), percentile(&e.pg, 50.0));
    let (ar, pr) = (e.rows as f64 / a.as_secs_f64(), e.rows as f64 / p.as_secs_f64());
    println!();
    println!("30-day CSV export, {} rows, median of {} each", e.rows, e.annal.len());
    println!("| side | ms | rows/s | MB |");
    println!("|---|---|---|---|");
    println!("| annal GET /v1/export?format=csv | {:.1} | {ar:.0} | {:.1} |", ms(a), e.annal_bytes as f64 / 1e6);
    println!("| PostgreSQL COPY (SELECT …) TO STDOUT CSV | {:.1} | {pr:.0} | {:.1} |", ms(p), e.pg_bytes as f64 / 1e6);
    println!("annal / PostgreSQL: **{:.2}** (goal ≥ 2: {})", ar / pr, verdict(ar / pr >= 2.0));
}
