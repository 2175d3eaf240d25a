//! What redaction costs: append throughput with the default policy (emails
//! masked, IPs truncated, every detector scanning every string) against the
//! same appends with redaction off (`Policy::off()`), same run, same corpus.
//!
//! Four writer threads append batches of the seeded corpus (which carries
//! emails, IPs, phone numbers and free text in its fields and metadata) to
//! their own tenants with `Durability::Sync`, as `append.rs` does; a third
//! measurement with `Durability::Buffered` and batches of 1024 takes the
//! fsync out, so the CPU cost of redaction shows undiluted.
//!
//! Run: `cargo bench -p annal-benches --bench redaction`. The table at the
//! end gives events/s and the ratio default / off (goal: at least 0.75).

use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_benches::{corpus_events, Tally};
use annal_engine::{Durability, Engine, Event, Policy};
use criterion::{BenchmarkId, Criterion, Throughput};

const WRITERS: usize = 4;
/// Events each writer cycles through (see append.rs for why this few).
const EVENTS_PER_WRITER: usize = 1024;

fn bench(c: &mut Criterion, tally: &Tally) {
    let events: Vec<Arc<Vec<Event>>> =
        (0..WRITERS).map(|w| Arc::new(corpus_events(&format!("ws_bench_{w}"), EVENTS_PER_WRITER))).collect();
    for (batch, durability) in [(64usize, Durability::Sync), (1024, Durability::Sync), (1024, Durability::Buffered)] {
        let group_name = format!("redaction/batch={batch}/{durability:?}").to_lowercase();
        let mut group = c.benchmark_group(&group_name);
        group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));
        group.throughput(Throughput::Elements((WRITERS * batch) as u64));
        for (name, policy) in [("default", Policy::default()), ("off", Policy::off())] {
            let dir = tempfile::tempdir().expect("tempdir");
            let engine = Engine::builder(dir.path()).durability(durability).default_policy(policy).open().expect("open");
            group.bench_function(BenchmarkId::new(name, batch), |b| {
                let mut cursor = 0usize;
                b.iter_custom(|iters| {
                    let start = cursor;
                    cursor = (cursor + iters as usize * batch) % EVENTS_PER_WRITER;
                    let started = Instant::now();
                    std::thread::scope(|s| {
                        for (w, events) in events.iter().enumerate() {
                            let engine = engine.clone();
                            s.spawn(move || {
                                let tenant = format!("ws_bench_{w}");
                                for it in 0..iters as usize {
                                    // EVENTS_PER_WRITER is a multiple of every batch size: no wrap inside a batch.
                                    let at = (start + it * batch) % EVENTS_PER_WRITER;
                                    engine.append(&tenant, &events[at..at + batch]).expect("append");
                                }
                            });
                        }
                    });
                    let took = started.elapsed();
                    tally.add(&group_name, name, iters * (WRITERS * batch) as u64, 0, took);
                    took
                })
            });
        }
        group.finish();
    }
}

fn main() {
    let tally = Tally::default();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &tally);
    c.final_summary();
    tally.print_ratios("redaction", "default", "off", "ev", Some(0.75));
}
