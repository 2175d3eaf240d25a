//! Configuration of `annal serve`: defaults, an optional TOML file,
//! `ANNAL_*` environment variables and flags, in rising precedence.
//!
//! [`Config`] is the merged result. The file uses the same names as the
//! flags with `_` for `-` (`max_body_bytes = 1048576`); an unknown key in it
//! is an error naming the key, so a typo is never silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use annal_engine::Durability;
use serde::Deserialize;

/// Threads of the server runtime's blocking pool: where exports stream,
/// verifications run and reads and large appends leave the async workers
/// (`http/reply.rs`).
pub const BLOCKING_THREADS: usize = 512;

/// How many of [`BLOCKING_THREADS`] reads of every kind together may hold:
/// `max_exports + max_verifications + max_reads` must not pass it, so at
/// least 64 threads are always left for appends, which are never refused
/// for want of one.
pub const READ_THREADS: usize = BLOCKING_THREADS - 64;

/// Everything `annal serve` can be told. Every field states its default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data directory; default `./annal-data`.
    pub data_dir: PathBuf,
    /// Address to listen on; default `127.0.0.1:7878`. Port 0 picks a free one.
    pub listen: SocketAddr,
    /// `sync` (fsync before any 201, default) or `buffered`.
    pub durability: DurabilityName,
    /// Largest request body, in bytes; default 16 MiB.
    pub max_body_bytes: usize,
    /// Bytes of request bodies the server holds at once, over all requests
    /// (each counted at its `Content-Length`, or at `max_body_bytes` when it
    /// has none, from before it is read until it is parsed and handed to the
    /// engine); default 256 MiB. A body that does not fit waits up to a
    /// second for room, then is refused with 503 and `Retry-After`, before
    /// a byte of it is read, so memory stays bounded whatever many clients
    /// send at once.
    pub max_body_bytes_in_flight: usize,
    /// The same, for one tenant's requests; default 64 MiB, so that one
    /// tenant's bodies cannot take the whole budget.
    pub max_body_bytes_in_flight_per_tenant: usize,
    /// Bytes a second one tenant's request bodies are read at, over all
    /// its requests, after a burst of `max_body_bytes`; default 64 MiB. A
    /// tenant that sends faster is read more slowly (its clients wait, TCP
    /// holding the rest), never refused: one tenant's uploads cannot take
    /// the server's CPU from the others' appends. 64 MiB a second is some
    /// 140,000 events of 470 bytes, close to what a server of two cores
    /// appends over all its tenants (docs/BENCHMARKS.md); raise it on
    /// larger machines. 0 turns it off.
    pub tenant_body_bytes_per_sec: u64,
    /// Connections open at once; default 4,096. One more is answered 503
    /// and closed.
    pub max_connections: usize,
    /// Requests of one tenant being served at once (from the key's check to
    /// the answer's start); default 256. One more is answered 429
    /// `concurrency-limited`, so one tenant cannot hold every worker.
    pub max_requests_in_flight_per_tenant: usize,
    /// Most events in one `POST /v1/events`; default 10,000.
    pub max_batch_events: usize,
    /// Largest event (canonical encoding), in bytes; default 64 KiB.
    pub max_event_bytes: usize,
    /// Time a client has to send a request's headers, in ms; default 10,000.
    pub header_read_timeout_ms: u64,
    /// Time a client has to send a whole request (headers and body), in ms;
    /// default 60,000.
    pub request_timeout_ms: u64,
    /// Sustained requests per second each API key may make; default 200.
    /// 0 turns rate limiting off.
    pub rate_limit_per_sec: f64,
    /// Failed authentications one client address may make a minute (and at
    /// once); default 30. Past it, every request from the address gets 429
    /// until its bucket refills, a valid token too: checking a token would
    /// tell a guesser whether it was right. 0 turns this off.
    pub auth_failures_per_minute: u32,
    /// Requests a key may make in a burst above the sustained rate; default 400.
    pub rate_limit_burst: f64,
    /// Requests a key may make in one UTC minute; default 0 (no cap). A key
    /// created with a `per_minute` limit of its own has that instead.
    pub key_requests_per_minute: u64,
    /// Requests a key may make in one UTC calendar month; default 0 (no
    /// cap). A key's own `per_month` limit replaces it.
    pub key_requests_per_month: u64,
    /// Sustained requests a second over all of one tenant's keys together;
    /// default 1,000. Minting keys does not multiply it. 0 turns it off.
    pub tenant_rate_limit_per_sec: f64,
    /// The tenant's burst above its sustained rate; default 2,000.
    pub tenant_rate_limit_burst: f64,
    /// Requests one tenant's keys may make together in one UTC minute;
    /// default 0 (no cap).
    pub tenant_requests_per_minute: u64,
    /// Requests one tenant's keys may make together in one UTC calendar
    /// month; default 0 (no cap).
    pub tenant_requests_per_month: u64,
    /// Seconds between saves of the month request counts to the store (and
    /// one at shutdown); default 10. A crash loses at most this long's
    /// counts.
    pub usage_flush_secs: u64,
    /// Exports streaming at once, over all tenants; default 64
    /// (`admission.rs` says why exports are bounded at all).
    pub max_exports: usize,
    /// Exports of one tenant streaming at once; default 4.
    pub max_exports_per_tenant: usize,
    /// Verifications (`GET /v1/verify`, `POST /v1/checkpoints`) running at
    /// once, over all tenants; default 8.
    pub max_verifications: usize,
    /// Verifications of one tenant running at once; default 1.
    pub max_verifications_per_tenant: usize,
    /// Reads (a page of `GET /v1/events`, one row, the overview, action
    /// names, checkpoints, the redaction policy, the retention) running at
    /// once, over all tenants; default 256.
    /// With `max_exports` and `max_verifications` it is what reads may take
    /// of the server's blocking threads; their sum may be at most
    /// [`READ_THREADS`], so the rest of the pool is always there for
    /// appends (`admission.rs`).
    pub max_reads: usize,
    /// Reads of one tenant running at once; default 32.
    pub max_reads_per_tenant: usize,
    /// An export whose client has read nothing for this long, in ms, is
    /// ended (its connection reset) and its thread freed; default 30,000.
    pub export_stall_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests, in ms; default 30,000.
    pub shutdown_grace_ms: u64,
    /// Rows one `GET /v1/histogram` counts before it stops and answers
    /// `complete: false`; default 1,000,000 (about a second of reading).
    pub histogram_max_rows: u64,
    /// Serve the audit console at `/console`; default on.
    pub console: bool,
    /// Who may embed the console in a frame: the CSP `frame-ancestors`
    /// source list, e.g. `https://app.example.com`; default `'none'`
    /// (nobody). Sources are separated by spaces; `;`, `,`, quotes other
    /// than `'self'`/`'none'` and control characters are refused.
    pub console_frame_ancestors: String,
    /// Log filter (`tracing` env-filter syntax); default `info`.
    pub log: String,
    /// `text` (default) or `json`: one JSON object per line.
    pub log_format: LogFormat,
    /// Seconds between retention runs (docs/RETENTION.md), the first at
    /// start; default 3,600 (hourly). 0 runs none: retention is then left to
    /// `annal retention run` (e.g. from cron).
    pub retention_interval_secs: u64,
    /// A checkpoint of a tenant once this many rows were appended since its
    /// last one (docs/SECURITY.md); default 10,000. 0 with
    /// `checkpoint_every_secs = 0` makes none automatically.
    pub checkpoint_every_rows: u64,
    /// A checkpoint of a tenant once this many seconds passed since its last
    /// one, if rows were appended; default 60.
    pub checkpoint_every_secs: u64,
    /// The checkpoint signing key: a file holding the hex Ed25519 seed
    /// (owner-only), outside the data directory, made once by `annal
    /// checkpoint init-key PATH`. `ANNAL_SIGNING_KEY_FILE` and
    /// `ANNAL_SIGNING_KEY` (the hex seed) override this setting, and
    /// `--signing-key` overrides them; with none of them, the default file
    /// `~/.config/annal/checkpoint-signing.key` if it exists. The server
    /// does not start without a key, and never makes one.
    pub signing_key: Option<PathBuf>,
    /// Sign with the configured key although another key signed the
    /// chains' latest checkpoints, recording the change in each chain
    /// (`annal.checkpoint.key_rotated`); default off: such a start is
    /// refused, naming both key ids. Only as a flag (`--rotate-signing-key`):
    /// a rotation is an act, not a standing setting.
    #[serde(skip)]
    pub rotate_signing_key: bool,
    /// `--signing-key`, kept apart from the file's `signing_key` because
    /// the environment comes between them; never read from the file.
    #[serde(skip)]
    pub signing_key_flag: Option<PathBuf>,
    /// The backup directory (docs/OPERATIONS.md, "Backups"): where the
    /// server's scheduled backups, `POST /v1/admin/backups` and the backup
    /// before a format upgrade go, and where the deletion ledger is kept.
    /// Default none: no backups are taken, and a store of an older format
    /// is refused unless `no_backup` is set.
    pub backup_dir: Option<PathBuf>,
    /// Seconds between scheduled backups, the first at start; default
    /// 86,400 (daily) when `backup_dir` is set. 0 takes none on a schedule.
    pub backup_every_secs: u64,
    /// Backups kept in `backup_dir`, the newest; default 10.
    pub backup_keep: usize,
    /// Verify each scheduled backup by restoring it (a full chain
    /// verification of every tenant) right after it is made; default on.
    pub backup_verify: bool,
    /// Upgrade a store of an older format without a backup first; default
    /// off (`--no-backup`).
    pub no_backup: bool,
    /// Seconds between a workspace's deletion (`DELETE /v1/tenants/{id}`)
    /// and the purge of its content, during which the deletion can be
    /// cancelled; default 2,592,000 (30 days). 0 purges at once.
    pub tenant_deletion_grace_secs: u64,
    /// The keyring file of key-encryption keys (docs/OPERATIONS.md,
    /// "Encryption keys"), outside the data directory, made once by `annal
    /// keyring init PATH`: every tenant created from then on is encrypted
    /// at rest under data keys its current KEK wraps, and the store's
    /// encrypted tenants are read through it. `ANNAL_KEYRING` overrides
    /// this setting and `--keyring` overrides that. Default none.
    pub keyring: Option<PathBuf>,
    /// Instead of a keyring file, an external key command (a program and
    /// its arguments), run as `PROGRAM ARGS… wrap|unwrap KEK` with one line
    /// of base64 in and out: how a KMS or Vault's transit engine holds the
    /// KEKs. `ANNAL_KEYRING_COMMAND` (space-separated) is used when this is
    /// not set. Default none.
    pub keyring_command: Option<Vec<String>>,
    /// The KEK the key command wraps new data keys under (a name it
    /// understands: a KMS key ARN or alias, a Vault transit key);
    /// `ANNAL_KEYRING_KEK` when not set.
    pub keyring_kek: Option<String>,
    /// Seconds an unwrapped data key is used before the key provider is
    /// asked again; default 60. A KEK destroyed or revoked at its provider
    /// stops its tenants' reads and appends within this time.
    pub key_cache_ttl_secs: u64,
    /// `--keyring`, kept apart from the file's `keyring` because the
    /// environment comes between them; never read from the file.
    #[serde(skip)]
    pub keyring_flag: Option<PathBuf>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable `key=value` lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// [`Durability`] by name, for the file and the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DurabilityName {
    /// See [`Durability::Sync`].
    #[default]
    Sync,
    /// See [`Durability::Buffered`].
    Buffered,
}

impl From<DurabilityName> for Durability {
    fn from(d: DurabilityName) -> Durability {
        match d {
            DurabilityName::Sync => Durability::Sync,
            DurabilityName::Buffered => Durability::Buffered,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./annal-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            durability: DurabilityName::Sync,
            max_body_bytes: 16 << 20,
            max_body_bytes_in_flight: 256 << 20,
            max_body_bytes_in_flight_per_tenant: 64 << 20,
            tenant_body_bytes_per_sec: 64 << 20,
            max_connections: 4096,
            max_requests_in_flight_per_tenant: 256,
            max_batch_events: 10_000,
            max_event_bytes: 64 << 10,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            rate_limit_per_sec: 200.0,
            rate_limit_burst: 400.0,
            auth_failures_per_minute: 30,
            key_requests_per_minute: 0,
            key_requests_per_month: 0,
            tenant_rate_limit_per_sec: 1000.0,
            tenant_rate_limit_burst: 2000.0,
            tenant_requests_per_minute: 0,
            tenant_requests_per_month: 0,
            usage_flush_secs: 10,
            max_exports: 64,
            max_exports_per_tenant: 4,
            max_verifications: 8,
            max_verifications_per_tenant: 1,
            max_reads: 256,
            max_reads_per_tenant: 32,
            export_stall_timeout_ms: 30_000,
            shutdown_grace_ms: 30_000,
            histogram_max_rows: 1_000_000,
            console: true,
            console_frame_ancestors: "'none'".into(),
            log: "info".into(),
            log_format: LogFormat::Text,
            retention_interval_secs: 3600,
            checkpoint_every_rows: 10_000,
            checkpoint_every_secs: 60,
            signing_key: None,
            signing_key_flag: None,
            rotate_signing_key: false,
            backup_dir: None,
            backup_every_secs: 86_400,
            backup_keep: 10,
            backup_verify: true,
            no_backup: false,
            tenant_deletion_grace_secs: 30 * 86_400,
            keyring: None,
            keyring_command: None,
            keyring_kek: None,
            key_cache_ttl_secs: 60,
            keyring_flag: None,
        }
    }
}

impl Config {
    /// Reads a TOML file; fields it does not set keep their defaults.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        let c: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        c.check()?;
        Ok(c)
    }

    /// Rejects values the server cannot run with, naming the setting.
    pub fn check(&self) -> anyhow::Result<()> {
        let positive = [
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_batch_events", self.max_batch_events as u64),
            ("max_connections", self.max_connections as u64),
            ("max_requests_in_flight_per_tenant", self.max_requests_in_flight_per_tenant as u64),
            ("max_event_bytes", self.max_event_bytes as u64),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("max_exports", self.max_exports as u64),
            ("max_exports_per_tenant", self.max_exports_per_tenant as u64),
            ("max_verifications", self.max_verifications as u64),
            ("max_verifications_per_tenant", self.max_verifications_per_tenant as u64),
            ("max_reads", self.max_reads as u64),
            ("max_reads_per_tenant", self.max_reads_per_tenant as u64),
            ("export_stall_timeout_ms", self.export_stall_timeout_ms),
            ("histogram_max_rows", self.histogram_max_rows),
            ("usage_flush_secs", self.usage_flush_secs),
        ];
        for (name, v) in positive {
            if v == 0 {
                anyhow::bail!("{name} must be at least 1");
            }
        }
        let readers = self.max_exports.saturating_add(self.max_verifications).saturating_add(self.max_reads);
        if readers > READ_THREADS {
            anyhow::bail!(
                "max_exports + max_verifications + max_reads is {readers}, more than {READ_THREADS}: of the server's \
                 {BLOCKING_THREADS} blocking threads, {} are kept for appends",
                BLOCKING_THREADS - READ_THREADS
            );
        }
        if self.max_body_bytes_in_flight < self.max_body_bytes {
            anyhow::bail!("max_body_bytes_in_flight must be at least max_body_bytes");
        }
        if self.max_body_bytes_in_flight_per_tenant < self.max_body_bytes {
            anyhow::bail!("max_body_bytes_in_flight_per_tenant must be at least max_body_bytes");
        }
        if self.max_event_bytes > annal_engine::MAX_EVENT_BYTES_LIMIT {
            anyhow::bail!(
                "max_event_bytes must be at most {} (960 KiB): stored rows are read back only up to 1 MiB",
                annal_engine::MAX_EVENT_BYTES_LIMIT
            );
        }
        check_frame_ancestors(&self.console_frame_ancestors)?;
        if self.backup_keep == 0 {
            anyhow::bail!("backup_keep must be at least 1");
        }
        if !(self.rate_limit_per_sec >= 0.0 && self.rate_limit_per_sec.is_finite()) {
            anyhow::bail!("rate_limit_per_sec must be a finite number >= 0");
        }
        if !(self.rate_limit_burst >= 1.0 && self.rate_limit_burst.is_finite()) {
            anyhow::bail!("rate_limit_burst must be a finite number >= 1");
        }
        if !(self.tenant_rate_limit_per_sec >= 0.0 && self.tenant_rate_limit_per_sec.is_finite()) {
            anyhow::bail!("tenant_rate_limit_per_sec must be a finite number >= 0");
        }
        if !(self.tenant_rate_limit_burst >= 1.0 && self.tenant_rate_limit_burst.is_finite()) {
            anyhow::bail!("tenant_rate_limit_burst must be a finite number >= 1");
        }
        Ok(())
    }

    /// [`Config::header_read_timeout_ms`] as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// [`Config::request_timeout_ms`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// [`Config::tenant_deletion_grace_secs`] as a duration.
    pub fn tenant_deletion_grace(&self) -> Duration {
        Duration::from_secs(self.tenant_deletion_grace_secs)
    }

    /// [`Config::export_stall_timeout_ms`] as a duration.
    pub fn export_stall_timeout(&self) -> Duration {
        Duration::from_millis(self.export_stall_timeout_ms)
    }

    /// [`Config::shutdown_grace_ms`] as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// A CSP `frame-ancestors` source list the console's header can carry as
/// it is: it goes into a response header, so nothing in it may end the
/// directive (`;`), start another policy (`,`) or the header (control
/// characters).
fn check_frame_ancestors(v: &str) -> anyhow::Result<()> {
    let sources: Vec<&str> = v.split_ascii_whitespace().collect();
    if sources.is_empty() {
        anyhow::bail!("console_frame_ancestors must name at least one source (`'none'` for none)");
    }
    for s in sources {
        let keyword = matches!(s, "'none'" | "'self'");
        if !keyword && !s.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"')) {
            anyhow::bail!("console_frame_ancestors: `{s}` is not a CSP source (a scheme, host or `'self'`/`'none'`)");
        }
        if s == "'none'" && v.split_ascii_whitespace().count() > 1 {
            anyhow::bail!("console_frame_ancestors: `'none'` cannot be combined with other sources");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_names_unknown_keys() {
        let c = Config::from_toml("listen = \"127.0.0.1:0\"\nmax_body_bytes = 1024\ndurability = \"buffered\"\n").unwrap();
        assert_eq!(c.max_body_bytes, 1024);
        assert_eq!(c.durability, DurabilityName::Buffered);
        assert_eq!(c.max_batch_events, 10_000);
        let e = Config::from_toml("max_body_byte = 1").unwrap_err().to_string();
        assert!(e.contains("max_body_byte"), "{e}");
        let e = Config::from_toml("max_batch_events = 0").unwrap_err().to_string();
        assert!(e.contains("max_batch_events"), "{e}");
        // Bounds a running server depends on: rows it could never read back,
        // a body budget smaller than one body.
        let e = Config::from_toml("max_event_bytes = 2097152").unwrap_err().to_string();
        assert!(e.contains("max_event_bytes must be at most"), "{e}");
        let e = Config::from_toml("max_body_bytes_in_flight = 1024").unwrap_err().to_string();
        assert!(e.contains("max_body_bytes_in_flight"), "{e}");
    }

    #[test]
    fn frame_ancestors_cannot_smuggle_a_directive_into_the_header() {
        for fine in ["'none'", "'self'", "https://app.example.com", "'self' https://*.example.com https://b.example"] {
            Config::from_toml(&format!("console_frame_ancestors = \"{fine}\"")).unwrap();
        }
        for bad in ["", "https://a; script-src *", "https://a, default-src *", "'unsafe-inline'", "'none' https://a", "a\\u0007"]
        {
            let e = Config::from_toml(&format!("console_frame_ancestors = \"{bad}\"")).unwrap_err().to_string();
            assert!(e.contains("console_frame_ancestors"), "{bad}: {e}");
        }
    }
}
