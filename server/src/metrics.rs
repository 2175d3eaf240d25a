//! Prometheus metrics, in the text exposition format, without a metrics
//! library: a few counters and fixed-bucket histograms of atomics.
//!
//! No metric has a tenant or key label: `/metrics` is unauthenticated, and
//! label values would tell a scraper which tenants exist.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// A histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum of observations, in millionths of the unit.
    sum_micro: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micro: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micro.fetch_add((v * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

const SECONDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const SIZES: &[f64] = &[1.0, 10.0, 100.0, 1000.0, 10_000.0];

/// Everything the server counts.
#[derive(Debug)]
pub struct Metrics {
    /// Events appended (acknowledged).
    pub appended_events: AtomicU64,
    /// Events per accepted `POST /v1/events`.
    pub batch_size: Histogram,
    /// Time from handing a batch to the engine until it is durable (the
    /// group commit's WAL write and fsync included).
    pub append_seconds: Histogram,
    /// Time to answer one page of `GET /v1/events`.
    pub query_seconds: Histogram,
    /// Rows streamed by exports.
    pub exported_rows: AtomicU64,
    /// Client connections open now.
    pub open_connections: AtomicU64,
    /// Requests answered, by status class.
    requests: Mutex<BTreeMap<u16, u64>>,
    /// Requests refused, by problem slug.
    rejects: Mutex<BTreeMap<&'static str, u64>>,
    /// The last backup's and verification's outcome.
    pub backup: BackupStatus,
}

/// When the last backup and the last verification ran and how they ended,
/// for `/metrics` and `GET /v1/admin/backups`.
#[derive(Debug, Default)]
pub struct BackupStatus(Mutex<BackupState>);

#[derive(Debug, Default, Clone)]
struct BackupState {
    /// (unix seconds, succeeded, backup id, bytes) of the last attempt.
    backup: Option<(u64, bool, Option<u32>, u64)>,
    /// Unix seconds of the last successful backup.
    last_good: Option<u64>,
    /// (unix seconds, backup good) of the last verification.
    verify: Option<(u64, bool)>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl BackupStatus {
    /// Records a backup attempt.
    pub fn record_backup<E>(&self, r: Result<&annal_engine::BackupInfo, E>) {
        let now = unix_now();
        let mut s = self.0.lock();
        s.backup = Some(match r {
            Ok(b) => {
                s.last_good = Some(now);
                (now, true, Some(b.id), b.bytes)
            }
            Err(_) => (now, false, None, 0),
        });
    }

    /// Records a verification: whether the backup restored and verified.
    pub fn record_verify(&self, good: bool) {
        self.0.lock().verify = Some((unix_now(), good));
    }

    /// As JSON: `{last_backup: {at, ok, id, bytes}, last_verification: {at, ok}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let s = self.0.lock().clone();
        let at = |secs: u64| annal_engine::event::format_rfc3339_nanos(i64::try_from(secs).unwrap_or(0) * 1_000_000_000);
        serde_json::json!({
            "last_backup": s.backup.map(|(t, ok, id, bytes)| serde_json::json!({"at": at(t), "ok": ok, "id": id, "bytes": bytes})),
            "last_verification": s.verify.map(|(t, ok)| serde_json::json!({"at": at(t), "ok": ok})),
        })
    }

    fn render(&self, out: &mut String) {
        let s = self.0.lock().clone();
        let now = unix_now();
        let gauge = |out: &mut String, name: &str, help: &str, v: Option<u64>| {
            if let Some(v) = v {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
            }
        };
        gauge(out, "annal_backup_last_run_timestamp_seconds", "When the last backup ran (Unix time).", s.backup.map(|b| b.0));
        gauge(out, "annal_backup_last_run_success", "1 if the last backup succeeded.", s.backup.map(|b| u64::from(b.1)));
        gauge(
            out,
            "annal_backup_last_success_age_seconds",
            "Seconds since the last successful backup.",
            s.last_good.map(|t| now.saturating_sub(t)),
        );
        gauge(out, "annal_backup_last_bytes", "Bytes of the last successful backup.", s.backup.filter(|b| b.1).map(|b| b.3));
        gauge(out, "annal_backup_last_verify_timestamp_seconds", "When the last verification ran.", s.verify.map(|v| v.0));
        gauge(
            out,
            "annal_backup_last_verify_success",
            "1 if the last backup verified restored and verified whole.",
            s.verify.map(|v| u64::from(v.1)),
        );
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            appended_events: AtomicU64::new(0),
            batch_size: Histogram::new(SIZES),
            append_seconds: Histogram::new(SECONDS),
            query_seconds: Histogram::new(SECONDS),
            exported_rows: AtomicU64::new(0),
            open_connections: AtomicU64::new(0),
            requests: Mutex::new(BTreeMap::new()),
            rejects: Mutex::new(BTreeMap::new()),
            backup: BackupStatus::default(),
        }
    }
}

impl Metrics {
    /// Counts one answered request, and its problem if it was refused.
    pub fn record_response(&self, status: u16, problem: Option<&'static str>) {
        *self.requests.lock().entry(status).or_insert(0) += 1;
        if let Some(slug) = problem {
            *self.rejects.lock().entry(slug).or_insert(0) += 1;
        }
    }

    /// Records an acknowledged append.
    pub fn record_append(&self, events: usize, took: Duration) {
        self.appended_events.fetch_add(events as u64, Ordering::Relaxed);
        self.batch_size.observe(events as f64);
        self.append_seconds.observe(took.as_secs_f64());
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut out,
            "annal_appended_events_total",
            "Events appended and acknowledged.",
            self.appended_events.load(Ordering::Relaxed),
        );
        counter(&mut out, "annal_exported_rows_total", "Rows streamed by exports.", self.exported_rows.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP annal_open_connections Client connections open now.\n# TYPE annal_open_connections gauge\n\
             annal_open_connections {}",
            self.open_connections.load(Ordering::Relaxed)
        );
        self.batch_size.render(&mut out, "annal_append_batch_events", "Events per accepted POST /v1/events.");
        self.append_seconds.render(
            &mut out,
            "annal_append_duration_seconds",
            "Time until a batch is durable, WAL write and fsync included.",
        );
        self.query_seconds.render(&mut out, "annal_query_duration_seconds", "Time to answer one page of GET /v1/events.");
        let _ =
            writeln!(out, "# HELP annal_http_responses_total Responses by status.\n# TYPE annal_http_responses_total counter");
        for (status, n) in self.requests.lock().iter() {
            let _ = writeln!(out, "annal_http_responses_total{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP annal_rejects_total Requests refused, by reason.\n# TYPE annal_rejects_total counter");
        for (reason, n) in self.rejects.lock().iter() {
            let _ = writeln!(out, "annal_rejects_total{{reason=\"{reason}\"}} {n}");
        }
        self.backup.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.record_append(5, Duration::from_millis(2));
        m.record_append(5000, Duration::from_millis(40));
        m.record_response(422, Some("invalid-event"));
        let text = m.render();
        assert!(text.contains("annal_appended_events_total 5005"), "{text}");
        assert!(text.contains("annal_append_batch_events_bucket{le=\"10\"} 1"), "{text}");
        assert!(text.contains("annal_append_batch_events_bucket{le=\"10000\"} 2"), "{text}");
        assert!(text.contains("annal_rejects_total{reason=\"invalid-event\"} 1"), "{text}");
    }
}
