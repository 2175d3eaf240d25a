//! `annal`: the command line. Parses arguments and maps results to exit
//! codes; the commands themselves live in `annal_server::cli`.

use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use annal_engine::query::DEFAULT_PAGE_SIZE;
use annal_engine::{Durability, Order};
use annal_server::cli::store::{NewStoreDir, StoreDir};
use annal_server::cli::{self, EXIT_ERROR};
use annal_server::config::{Config, DurabilityName, LogFormat};
use clap::{Parser, Subcommand, ValueEnum};

/// Decoding a row makes about fifteen small strings; glibc's allocator
/// serves that pattern, interleaved with RocksDB's block buffers, far more
/// slowly than mimalloc (docs/BENCHMARKS.md, "Where the time goes").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "annal", version, about = "Append-only, hash-chained audit-log store")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP ingest/export server until SIGTERM or SIGINT.
    ///
    /// Settings come from flags, then `ANNAL_*` environment variables, then
    /// the `--config` TOML file, then defaults (docs/OPERATIONS.md).
    Serve(Box<ServeArgs>),
    /// Tenants (workspaces): `annal tenants create NAME`.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// API keys, offline against the data directory (bootstraps the first admin key).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Append newline-delimited JSON events (one per line) to a tenant's chain.
    Ingest {
        #[command(flatten)]
        store: NewStoreDir,
        /// Tenant (workspace) id.
        #[arg(long)]
        tenant: String,
        /// Events per append (each append is all-or-nothing and one WAL sync).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=10_000))]
        batch_size: u16,
        /// `sync` (fsync before acknowledging, default) or `buffered`.
        #[arg(long, value_enum, default_value_t = DurabilityArg::Sync)]
        durability: DurabilityArg,
        /// Input file, or `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Verify every tenant's chain (or one): exit 0 when intact, 2 when broken.
    Verify {
        #[command(flatten)]
        store: StoreDir,
        /// Only this tenant.
        #[arg(long, conflicts_with = "trusted_checkpoint")]
        tenant: Option<String>,
        /// Prove the store still holds and extends the chain this kept
        /// checkpoint (JSON from `annal checkpoint latest`) signed.
        #[arg(long, value_name = "FILE")]
        trusted_checkpoint: Option<PathBuf>,
        /// With --trusted-checkpoint: the checkpoint must be signed by this public key (hex).
        #[arg(long, requires = "trusted_checkpoint")]
        public_key: Option<String>,
    },
    /// Signed checkpoints: the signing key, the latest, making one.
    #[command(subcommand)]
    Checkpoint(cli::checkpoint::Command),
    /// Export a window of a tenant's chain as a self-verifying bundle file.
    Export {
        #[command(flatten)]
        store: StoreDir,
        /// Tenant (workspace) id.
        #[arg(long)]
        tenant: String,
        /// The bundle file to write.
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
        /// First seq of the window (default: the first stored).
        #[arg(long)]
        from_seq: Option<u64>,
        /// Last seq of the window (default: the head).
        #[arg(long)]
        to_seq: Option<u64>,
        /// Rows recorded at or after this (RFC 3339 or ns since the epoch).
        #[arg(long)]
        from: Option<String>,
        /// Rows recorded before this (RFC 3339 or ns since the epoch).
        #[arg(long)]
        to: Option<String>,
    },
    /// Check a bundle offline, with no data directory: exit 0 intact, 2 broken (naming the first bad frame).
    VerifyBundle {
        /// The bundle file.
        file: PathBuf,
        /// The bundle must be signed by this public key (hex).
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print one tenant's rows as newline-delimited JSON, oldest first.
    ///
    /// Every filter given must match. A page that is not the last ends with
    /// `next cursor: C` on stderr; `--cursor C` with the same filters
    /// continues after it. Exit status: 0 on success (also when nothing
    /// matches); 1 when the query cannot run: no store, unknown tenant, or a
    /// bad window, filter, limit or cursor (the message names it); 2 for
    /// unknown or malformed options.
    // Boxed: its many options would make every `Command` as large as it.
    Query(Box<QueryArgs>),
    /// Retention: run it, set a tenant's tier, place or lift a legal hold.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Tenants: delete one whose workspace closed its account.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Backups: create, list, verify (by restoring), restore.
    #[command(subcommand)]
    Backup(cli::backup::Command),
    /// The keyring of key-encryption keys: create it, list, add, rewrap, destroy keys.
    #[command(subcommand)]
    Keyring(cli::keyring::Command),
    /// A person's data in a tenant's rows: erase it.
    #[command(subcommand)]
    Subjects(SubjectsCommand),
    /// Upgrade a store of an older format, after a backup (or, knowingly, without).
    Upgrade {
        #[command(flatten)]
        store: StoreDir,
        /// The backup directory the backup before the upgrade goes to.
        #[arg(long, env = "ANNAL_BACKUP_DIR", required_unless_present = "no_backup")]
        backup_dir: Option<PathBuf>,
        /// Upgrade without a backup.
        #[arg(long, conflicts_with = "backup_dir")]
        no_backup: bool,
    },
    /// Platform keys: the keys that create and delete workspaces and take
    /// backups over HTTP, and read no tenant's rows.
    #[command(subcommand)]
    PlatformKey(PlatformKeyCommand),
}

/// `annal platform-key …`.
#[derive(Subcommand, Debug)]
enum PlatformKeyCommand {
    /// Create a platform key; prints its token (shown only this once) on stdout.
    Create {
        #[command(flatten)]
        store: NewStoreDir,
        /// Free text to tell keys apart.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the platform keys (NDJSON, no secrets).
    List {
        #[command(flatten)]
        store: StoreDir,
    },
    /// Revoke a platform key.
    Revoke {
        #[command(flatten)]
        store: StoreDir,
        /// The key's id (16 hex digits).
        id: String,
    },
}

/// `annal tenant …`.
#[derive(Subcommand, Debug)]
enum TenantCommand {
    /// Delete every row, index entry and setting of a tenant, in one atomic
    /// write recorded in the platform chain `annal.platform` (final head and
    /// row count). Refused while the tenant is on legal hold.
    Delete {
        #[command(flatten)]
        store: StoreDir,
        /// Tenant (workspace) id.
        #[arg(long)]
        tenant: String,
        /// The tenant id again: nothing is deleted unless both agree.
        #[arg(long)]
        confirm: String,
        /// Why (recorded in the platform chain).
        #[arg(long)]
        reason: String,
        /// Who deletes it, as the platform chain records it.
        #[arg(long, env = "ANNAL_ACTOR", default_value = "operator")]
        actor: String,
        /// The backup directory, whose deletion ledger records the deletion
        /// (so that no restore brings the tenant back).
        #[arg(long, env = "ANNAL_BACKUP_DIR")]
        backup_dir: Option<PathBuf>,
    },
}

/// `annal subjects …`: one person's data in a tenant's rows.
#[derive(Subcommand, Debug)]
enum SubjectsCommand {
    /// Erase a person (an id the tenant's events name as actor, on-behalf-of
    /// or user target) from every row that names them; the rows stay and
    /// the chain still verifies; recorded in the chain by pseudonym only.
    /// The tenant must be encrypted (give its --keyring). Prints one JSON line.
    Erase {
        #[command(flatten)]
        store: StoreDir,
        /// Tenant (workspace) id.
        #[arg(long)]
        tenant: String,
        /// The person's id.
        subject: String,
        /// Who erases, as the chain records it.
        #[arg(long, env = "ANNAL_ACTOR", default_value = "operator")]
        actor: String,
    },
}

/// `annal retention …`. Every change is recorded in the tenant's chain.
#[derive(Subcommand, Debug)]
enum RetentionCommand {
    /// Delete every tenant's rows older than its retention (tenants on hold
    /// excepted), record each deletion in the chain, reclaim the space.
    Run {
        #[command(flatten)]
        store: StoreDir,
        /// Count what would be deleted; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Age rows against this time (RFC 3339 or ns since the epoch)
        /// instead of now; a later time only with --dry-run.
        #[arg(long)]
        now: Option<String>,
        /// Rows per deletion batch (each one atomic write).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_rows: Option<u32>,
    },
    /// Set a tenant's retention: a tier, or a number of days (90 to 2555).
    Set {
        #[command(flatten)]
        store: NewStoreDir,
        /// Tenant (workspace) id.
        #[arg(long)]
        tenant: String,
        /// free (90 days), starter (365), default (400), business (1095), enterprise (2555).
        #[arg(long, conflicts_with = "days", required_unless_present = "days")]
        tier: Option<String>,
        /// A custom retention in days, 90 to 2555.
        #[arg(long)]
        days: Option<u32>,
        /// Who makes the change, as the chain records it.
        #[arg(long, env = "ANNAL_ACTOR", default_value = "operator")]
        actor: String,
    },
    /// Place a legal hold: nothing of the tenant is deleted until released.
    Hold {
        #[command(flatten)]
        store: NewStoreDir,
        /// Tenant (workspace) id.
        #[arg(long)]
        tenant: String,
        /// Why (recorded in the chain).
        #[arg(long)]
        reason: String,
        /// Who places it, as the chain records it.
        #[arg(long, env = "ANNAL_ACTOR", default_value = "operator")]
        actor: String,
    },
    /// Lift a tenant's legal hold.
    Release {
        #[command(flatten)]
        store: StoreDir,
        /// Tenant (workspace) id.
        #[arg(long)]
        tenant: String,
        /// Who lifts it, as the chain records it.
        #[arg(long, env = "ANNAL_ACTOR", default_value = "operator")]
        actor: String,
    },
}

/// The options of `annal serve`; unset ones fall back to the file, then the defaults.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "ANNAL_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ./annal-data].
    #[arg(long, env = "ANNAL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7878].
    #[arg(long, env = "ANNAL_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// `sync` (fsync before answering 201, default) or `buffered`.
    #[arg(long, env = "ANNAL_DURABILITY", value_enum)]
    durability: Option<DurabilityArg>,
    /// Largest request body in bytes [default: 16 MiB].
    #[arg(long, env = "ANNAL_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Most events per request [default: 10000].
    #[arg(long, env = "ANNAL_MAX_BATCH_EVENTS")]
    max_batch_events: Option<usize>,
    /// Largest event in bytes [default: 65536].
    #[arg(long, env = "ANNAL_MAX_EVENT_BYTES")]
    max_event_bytes: Option<usize>,
    /// Time to send request headers, ms [default: 10000].
    #[arg(long, env = "ANNAL_HEADER_READ_TIMEOUT_MS")]
    header_read_timeout_ms: Option<u64>,
    /// Time to send a whole request, ms [default: 60000].
    #[arg(long, env = "ANNAL_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// Sustained requests per second per api key, 0 for no limit [default: 200].
    #[arg(long, env = "ANNAL_RATE_LIMIT_PER_SEC")]
    rate_limit_per_sec: Option<f64>,
    /// Bytes of request bodies held at once, all requests [default: 268435456].
    #[arg(long, env = "ANNAL_MAX_BODY_BYTES_IN_FLIGHT")]
    max_body_bytes_in_flight: Option<usize>,
    /// Bytes of one tenant's request bodies held at once [default: 67108864].
    #[arg(long, env = "ANNAL_MAX_BODY_BYTES_IN_FLIGHT_PER_TENANT")]
    max_body_bytes_in_flight_per_tenant: Option<usize>,
    /// Connections open at once [default: 4096].
    #[arg(long, env = "ANNAL_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Failed authentications a client address may make a minute, then 429; 0 for no limit [default: 30].
    #[arg(long, env = "ANNAL_AUTH_FAILURES_PER_MINUTE")]
    auth_failures_per_minute: Option<u32>,
    /// Burst of requests per api key [default: 400].
    #[arg(long, env = "ANNAL_RATE_LIMIT_BURST")]
    rate_limit_burst: Option<f64>,
    /// Requests a key may make in a UTC minute, unless it has its own limit; 0 for no cap [default: 0].
    #[arg(long, env = "ANNAL_KEY_REQUESTS_PER_MINUTE")]
    key_requests_per_minute: Option<u64>,
    /// Requests a key may make in a UTC month, unless it has its own limit; 0 for no cap [default: 0].
    #[arg(long, env = "ANNAL_KEY_REQUESTS_PER_MONTH")]
    key_requests_per_month: Option<u64>,
    /// Sustained requests per second over all of a tenant's keys; 0 for no limit [default: 1000].
    #[arg(long, env = "ANNAL_TENANT_RATE_LIMIT_PER_SEC")]
    tenant_rate_limit_per_sec: Option<f64>,
    /// Burst of a tenant's requests [default: 2000].
    #[arg(long, env = "ANNAL_TENANT_RATE_LIMIT_BURST")]
    tenant_rate_limit_burst: Option<f64>,
    /// Requests a tenant's keys may make together in a UTC minute; 0 for no cap [default: 0].
    #[arg(long, env = "ANNAL_TENANT_REQUESTS_PER_MINUTE")]
    tenant_requests_per_minute: Option<u64>,
    /// Requests a tenant's keys may make together in a UTC month; 0 for no cap [default: 0].
    #[arg(long, env = "ANNAL_TENANT_REQUESTS_PER_MONTH")]
    tenant_requests_per_month: Option<u64>,
    /// Seconds between saves of the month request counts [default: 10].
    #[arg(long, env = "ANNAL_USAGE_FLUSH_SECS")]
    usage_flush_secs: Option<u64>,
    /// How long shutdown waits for requests in flight, ms [default: 30000].
    #[arg(long, env = "ANNAL_SHUTDOWN_GRACE_MS")]
    shutdown_grace_ms: Option<u64>,
    /// Log filter, e.g. `info` or `annal_server=debug` [default: info].
    #[arg(long, env = "ANNAL_LOG")]
    log: Option<String>,
    /// `text` or `json` (one object per line) [default: text].
    #[arg(long, env = "ANNAL_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormatArg>,
    /// Requests of one tenant being served at once [default: 256].
    #[arg(long, env = "ANNAL_MAX_REQUESTS_IN_FLIGHT_PER_TENANT")]
    max_requests_in_flight_per_tenant: Option<usize>,
    /// Exports streaming at once, all tenants [default: 64].
    #[arg(long, env = "ANNAL_MAX_EXPORTS")]
    max_exports: Option<usize>,
    /// Exports of one tenant streaming at once [default: 4].
    #[arg(long, env = "ANNAL_MAX_EXPORTS_PER_TENANT")]
    max_exports_per_tenant: Option<usize>,
    /// Verifications running at once, all tenants [default: 8].
    #[arg(long, env = "ANNAL_MAX_VERIFICATIONS")]
    max_verifications: Option<usize>,
    /// Verifications of one tenant running at once [default: 1].
    #[arg(long, env = "ANNAL_MAX_VERIFICATIONS_PER_TENANT")]
    max_verifications_per_tenant: Option<usize>,
    /// Bytes a second one tenant's request bodies are read at; 0 for no pace [default: 67108864].
    #[arg(long, env = "ANNAL_TENANT_BODY_BYTES_PER_SEC")]
    tenant_body_bytes_per_sec: Option<u64>,
    /// Reads (pages, rows, overview, actions, checkpoints) running at once, all tenants [default: 256].
    #[arg(long, env = "ANNAL_MAX_READS")]
    max_reads: Option<usize>,
    /// Reads of one tenant running at once [default: 32].
    #[arg(long, env = "ANNAL_MAX_READS_PER_TENANT")]
    max_reads_per_tenant: Option<usize>,
    /// An export whose client reads nothing for this many ms is ended [default: 30000].
    #[arg(long, env = "ANNAL_EXPORT_STALL_TIMEOUT_MS")]
    export_stall_timeout_ms: Option<u64>,
    /// Rows one GET /v1/histogram counts before it answers complete:false [default: 1000000].
    #[arg(long, env = "ANNAL_HISTOGRAM_MAX_ROWS")]
    histogram_max_rows: Option<u64>,
    /// Do not serve the audit console at /console.
    #[arg(long)]
    no_console: bool,
    /// Who may frame the console: CSP frame-ancestors sources, e.g. `https://app.example.com` [default: 'none'].
    #[arg(long, env = "ANNAL_CONSOLE_FRAME_ANCESTORS")]
    console_frame_ancestors: Option<String>,
    /// Seconds between retention runs, the first at start; 0 for none [default: 3600].
    #[arg(long, env = "ANNAL_RETENTION_INTERVAL_SECS")]
    retention_interval_secs: Option<u64>,
    /// A checkpoint after this many rows of a tenant [default: 10000].
    #[arg(long, env = "ANNAL_CHECKPOINT_EVERY_ROWS")]
    checkpoint_every_rows: Option<u64>,
    /// A checkpoint after this many seconds with new rows [default: 60].
    #[arg(long, env = "ANNAL_CHECKPOINT_EVERY_SECS")]
    checkpoint_every_secs: Option<u64>,
    /// File with the checkpoint signing key's hex seed; beats ANNAL_SIGNING_KEY_FILE, ANNAL_SIGNING_KEY and the config file [default: ~/.config/annal/checkpoint-signing.key if it exists].
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// Backup directory: scheduled backups, the backup before a format upgrade, the deletion ledger [default: none].
    #[arg(long, env = "ANNAL_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// Keyring file of key-encryption keys: new tenants are encrypted under its current KEK; beats ANNAL_KEYRING and the config file [default: none].
    #[arg(long, value_name = "FILE")]
    keyring: Option<PathBuf>,
    /// Seconds an unwrapped data key is used before the key provider is asked again [default: 60].
    #[arg(long, env = "ANNAL_KEY_CACHE_TTL_SECS")]
    key_cache_ttl_secs: Option<u64>,
    /// Seconds between scheduled backups, the first at start; 0 for none [default: 86400].
    #[arg(long, env = "ANNAL_BACKUP_EVERY_SECS")]
    backup_every_secs: Option<u64>,
    /// Backups kept [default: 10].
    #[arg(long, env = "ANNAL_BACKUP_KEEP")]
    backup_keep: Option<usize>,
    /// Upgrade a store of an older format without taking a backup first.
    #[arg(long)]
    no_backup: bool,
    /// Sign with this key even though another key signed the chains' latest checkpoints, recording the change in each chain.
    #[arg(long)]
    rotate_signing_key: bool,
    /// Seconds from a workspace's deletion to its purge, 0 for at once [default: 2592000].
    #[arg(long, env = "ANNAL_TENANT_DELETION_GRACE_SECS")]
    tenant_deletion_grace_secs: Option<u64>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormatArg {
    Text,
    Json,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { c.$f = v; } )* };
        }
        set!(
            data_dir,
            listen,
            max_body_bytes,
            max_batch_events,
            max_event_bytes,
            header_read_timeout_ms,
            request_timeout_ms,
            rate_limit_per_sec,
            rate_limit_burst,
            key_requests_per_minute,
            key_requests_per_month,
            tenant_rate_limit_per_sec,
            tenant_rate_limit_burst,
            tenant_requests_per_minute,
            tenant_requests_per_month,
            usage_flush_secs,
            auth_failures_per_minute,
            shutdown_grace_ms,
            max_body_bytes_in_flight,
            max_body_bytes_in_flight_per_tenant,
            max_connections,
            max_requests_in_flight_per_tenant,
            max_exports,
            max_exports_per_tenant,
            max_verifications,
            max_verifications_per_tenant,
            max_reads,
            max_reads_per_tenant,
            tenant_body_bytes_per_sec,
            export_stall_timeout_ms,
            histogram_max_rows,
            console_frame_ancestors,
            log,
            retention_interval_secs,
            checkpoint_every_rows,
            checkpoint_every_secs,
            backup_every_secs,
            backup_keep,
            tenant_deletion_grace_secs,
            key_cache_ttl_secs
        );
        c.signing_key_flag = self.signing_key;
        c.keyring_flag = self.keyring;
        if self.backup_dir.is_some() {
            c.backup_dir = self.backup_dir;
        }
        c.no_backup |= self.no_backup;
        c.console &= !self.no_console;
        c.rotate_signing_key |= self.rotate_signing_key;
        if let Some(f) = self.log_format {
            c.log_format = match f {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            };
        }
        if let Some(d) = self.durability {
            c.durability = match d {
                DurabilityArg::Sync => DurabilityName::Sync,
                DurabilityArg::Buffered => DurabilityName::Buffered,
            };
        }
        c.check()?;
        Ok(c)
    }
}

#[derive(Subcommand, Debug)]
enum TenantsCommand {
    /// Create a tenant: its chain opens with an `annal.tenant.created` row.
    Create {
        #[command(flatten)]
        store: NewStoreDir,
        /// Tenant id: 1 to 128 ASCII letters, digits, `_`, `-`, `.`.
        name: String,
    },
    /// List the tenants of the store.
    List {
        #[command(flatten)]
        store: StoreDir,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a key; prints its token (shown only this once) on stdout.
    Create {
        #[command(flatten)]
        store: StoreDir,
        /// The key's tenant.
        #[arg(long)]
        tenant: String,
        /// `ingest`, `read` or `admin`; repeat or separate with commas.
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Free text to tell keys apart.
        #[arg(long, default_value = "")]
        label: String,
        /// The key's own sustained requests a second (instead of `annal serve`'s rate_limit_per_sec).
        #[arg(long, default_value_t = 0)]
        per_second: u32,
        /// The key's own burst above its rate (instead of rate_limit_burst).
        #[arg(long, default_value_t = 0)]
        burst: u32,
        /// Requests the key may make in one UTC minute (instead of key_requests_per_minute).
        #[arg(long, default_value_t = 0)]
        per_minute: u64,
        /// Requests the key may make in one UTC month (instead of key_requests_per_month).
        #[arg(long, default_value_t = 0)]
        per_month: u64,
    },
    /// List a tenant's keys (NDJSON, no secrets).
    List {
        #[command(flatten)]
        store: StoreDir,
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key.
    Revoke {
        #[command(flatten)]
        store: StoreDir,
        /// The key's tenant.
        #[arg(long)]
        tenant: String,
        /// The key's id (16 hex digits).
        id: String,
    },
}

/// The options of `annal query`.
#[derive(clap::Args, Debug)]
struct QueryArgs {
    #[command(flatten)]
    store: StoreDir,
    /// Tenant (workspace) id.
    #[arg(long)]
    tenant: String,
    /// Window start on recorded_at, inclusive: RFC 3339 or ns since the epoch.
    #[arg(long)]
    from: Option<String>,
    /// Window end on recorded_at, exclusive: RFC 3339 or ns since the epoch.
    #[arg(long)]
    to: Option<String>,
    /// actor.id equals.
    #[arg(long)]
    actor: Option<String>,
    /// actor.on_behalf_of equals.
    #[arg(long)]
    on_behalf_of: Option<String>,
    /// action equals.
    #[arg(long)]
    action: Option<String>,
    /// action is this dotted prefix or below it (`iam` matches `iam.role.grant`).
    #[arg(long)]
    action_prefix: Option<String>,
    /// target equals, as TYPE:ID.
    #[arg(long, value_name = "TYPE:ID")]
    target: Option<String>,
    /// session_id equals.
    #[arg(long)]
    session: Option<String>,
    /// key_ref equals.
    #[arg(long)]
    key_ref: Option<String>,
    /// outcome equals: success, failure or denied.
    #[arg(long)]
    outcome: Option<String>,
    /// Rows where this raw value was pseudonymized, in any field (or this pii_ token).
    #[arg(long)]
    pseudonym: Option<String>,
    /// Newest first.
    #[arg(long)]
    desc: bool,
    /// Rows per page, 1 to 1000.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE)]
    limit: usize,
    /// Continue after the page that printed this cursor.
    #[arg(long)]
    cursor: Option<String>,
    /// Print how the page was answered (index chosen, rows examined) on stderr.
    #[arg(long)]
    explain: bool,
    /// Stream every row of the window as it stood at the start, instead of one
    /// page, in constant memory.
    #[arg(long, conflicts_with_all = ["limit", "cursor", "explain"])]
    all: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DurabilityArg {
    Sync,
    Buffered,
}

impl From<DurabilityArg> for Durability {
    fn from(d: DurabilityArg) -> Durability {
        match d {
            DurabilityArg::Sync => Durability::Sync,
            DurabilityArg::Buffered => Durability::Buffered,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("annal: {e:#}");
            match e.downcast_ref() {
                Some(annal_engine::Error::NoSigningKey) => eprintln!("annal: {}", cli::store::HOW_TO_GIVE_A_KEY),
                Some(annal_engine::Error::SigningKeyMismatch { .. }) => eprintln!(
                    "annal: to sign with this key from now on: `annal checkpoint rotate-key --data-dir DIR --signing-key FILE` \
                     (or `annal serve --rotate-signing-key`); docs/OPERATIONS.md, \"The signing key\""
                ),
                _ => {}
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(args: Args) -> anyhow::Result<u8> {
    // Unlocked handles, each write taking the lock for itself: the server
    // prints from threads of its own while this one waits for it.
    let (out, err) = (&mut io::stdout(), &mut io::stderr());
    match args.command {
        Command::Serve(a) => cli::serve::run(a.into_config()?),
        Command::Tenants(TenantsCommand::Create { store, name }) => {
            cli::admin::create_tenant(&store.open_for(&name, Durability::Sync)?, &name, out, err)
        }
        Command::Tenants(TenantsCommand::List { store }) => {
            for t in store.open()?.tenants() {
                writeln!(out, "{t}")?;
            }
            Ok(cli::EXIT_OK)
        }
        Command::Keys(KeysCommand::Create { store, tenant, scopes, label, per_second, burst, per_minute, per_month }) => {
            let limits = annal_engine::KeyLimits { per_second, burst, per_minute, per_month };
            cli::admin::create_key(&store.open()?, &tenant, &scopes, &label, limits, out, err)
        }
        Command::Keys(KeysCommand::List { store, tenant }) => cli::admin::list_keys(&store.open()?, &tenant, out),
        Command::Keys(KeysCommand::Revoke { store, tenant, id }) => cli::admin::revoke_key(&store.open()?, &tenant, &id, out),
        Command::Ingest { store, tenant, batch_size, durability, file } => {
            let engine = store.open_for(&tenant, durability.into())?;
            let opts = cli::ingest::IngestOptions { tenant, batch_size: usize::from(batch_size) };
            let mut input: Box<dyn io::BufRead> = if file == "-" {
                Box::new(io::stdin().lock())
            } else {
                let f = std::fs::File::open(&file).map_err(|e| anyhow::anyhow!("cannot open {file}: {e}"))?;
                Box::new(BufReader::with_capacity(1 << 20, f))
            };
            let code = cli::ingest::run(&engine, &opts, &mut input, out, err)?;
            cli::checkpoint::after_ingest(&engine, err)?;
            Ok(code)
        }
        Command::Verify { store, tenant, trusted_checkpoint: Some(file), public_key } => {
            let trusted = cli::checkpoint::read_checkpoint(&file)?;
            let key = public_key.as_deref().map(cli::checkpoint::parse_public_key).transpose()?;
            debug_assert!(tenant.is_none());
            cli::checkpoint::verify_trusted(&store.open()?, &trusted, key.as_ref(), out)
        }
        Command::Verify { store, tenant, .. } => cli::verify::run(&store.open()?, tenant.as_deref(), out, err),
        Command::Checkpoint(c) => cli::checkpoint::run(c, out, err),
        Command::Export { store, tenant, bundle, from_seq, to_seq, from, to } => {
            let window = cli::bundle::Window { from_seq, to_seq, from, to };
            cli::bundle::export(&store.open_for(&tenant)?, &tenant, &window, &bundle, out)
        }
        Command::VerifyBundle { file, public_key } => {
            let key = public_key.as_deref().map(cli::checkpoint::parse_public_key).transpose()?;
            cli::bundle::verify(&file, key.as_ref(), out)
        }
        Command::Query(q) => run_query(*q, out, err),
        Command::Retention(r) => run_retention(r, out),
        Command::Tenant(TenantCommand::Delete { store, tenant, confirm, reason, actor, backup_dir }) => {
            let engine = store.open_for(&tenant)?;
            let code = cli::retention::delete_tenant(&engine, &tenant, &confirm, &reason, &actor, out)?;
            if let Some(dir) = backup_dir {
                annal_engine::Backups::new(dir).sync_ledger(&engine)?;
            }
            Ok(code)
        }
        Command::Backup(c) => cli::backup::run(c, out, err),
        Command::Keyring(c) => cli::keyring::run(c, out, err),
        Command::Subjects(SubjectsCommand::Erase { store, tenant, subject, actor }) => {
            let engine = store.open_for(&tenant)?;
            let e = engine.erase_subject(&tenant, &subject, cli::retention::operator(&actor)?)?;
            let line = serde_json::json!({"tenant": tenant, "subject": e.pseudonym, "rows_erased": e.rows, "through_seq": e.through_seq, "seq": e.receipt.seq});
            writeln!(out, "{line}")?;
            Ok(cli::EXIT_OK)
        }
        Command::Upgrade { store, backup_dir, no_backup } => {
            cli::backup::upgrade(&store.data_dir, backup_dir.as_deref(), no_backup, out)
        }
        Command::PlatformKey(PlatformKeyCommand::Create { store, label }) => {
            let engine = cli::store::open_for_write(&store.data_dir, store.keyring.as_deref(), Durability::Sync)?;
            cli::backup::create_platform_key(&engine, &label, out, err)
        }
        Command::PlatformKey(PlatformKeyCommand::List { store }) => cli::backup::list_platform_keys(&store.open()?, out),
        Command::PlatformKey(PlatformKeyCommand::Revoke { store, id }) => {
            let key = store.open()?.revoke_platform_key(&id, cli::admin::cli_actor())?;
            writeln!(out, "{}", key.to_json())?;
            Ok(cli::EXIT_OK)
        }
    }
}

fn run_query(q: QueryArgs, out: &mut dyn io::Write, err: &mut dyn io::Write) -> anyhow::Result<u8> {
    let QueryArgs {
        store,
        tenant,
        from,
        to,
        actor,
        on_behalf_of,
        action,
        action_prefix,
        target,
        session,
        key_ref,
        outcome,
        pseudonym,
        desc,
        limit,
        cursor,
        explain,
        all,
    } = q;
    // Checked before opening, like ingest: a bad id gets its own message.
    let engine = store.open_for(&tenant)?;
    let filters = [
        ("from", from),
        ("to", to),
        ("actor", actor),
        ("on_behalf_of", on_behalf_of),
        ("action", action),
        ("action_prefix", action_prefix),
        ("target", target),
        ("session", session),
        ("key_ref", key_ref),
        ("outcome", outcome),
        ("pseudonym", pseudonym),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect();
    let opts = cli::query::QueryOptions {
        tenant,
        filters,
        order: if desc { Order::Desc } else { Order::Asc },
        mode: if all { cli::query::Mode::All } else { cli::query::Mode::Page { limit, cursor, explain } },
    };
    cli::query::run(&engine, &opts, out, err)
}

fn run_retention(command: RetentionCommand, out: &mut dyn io::Write) -> anyhow::Result<u8> {
    use cli::retention;
    match command {
        RetentionCommand::Run { store, dry_run, now, batch_rows } => {
            let args = retention::RunArgs { dry_run, now, batch_rows: batch_rows.map(|b| b as usize) };
            retention::run(&store.open()?, &args, out)
        }
        RetentionCommand::Set { store, tenant, tier, days, actor } => {
            retention::set(&store.open_for(&tenant, Durability::Sync)?, &tenant, tier.as_deref(), days, &actor, out)
        }
        RetentionCommand::Hold { store, tenant, reason, actor } => {
            retention::hold(&store.open_for(&tenant, Durability::Sync)?, &tenant, &reason, &actor, out)
        }
        RetentionCommand::Release { store, tenant, actor } => retention::release(&store.open_for(&tenant)?, &tenant, &actor, out),
    }
}
