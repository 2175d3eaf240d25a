//! `annal checkpoint init-key|public-key|latest|list|make` and `annal verify
//! --trusted-checkpoint`: signed checkpoints from the command line.
//!
//! Checkpoints are printed as one line of JSON each, the form an auditor
//! keeps and hands back to `--trusted-checkpoint` (docs/FORMAT.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use annal_engine::checkpoint::key::{from_hex, hex};
use annal_engine::{Checkpoint, Connection, Engine, TrustedOutcome};

use super::store::{open_existing, StoreDir};
use super::{tenant_or_every, EXIT_BROKEN, EXIT_ERROR, EXIT_OK};

/// `annal checkpoint public-key`: the public key and its id, as JSON.
pub fn public_key(engine: &Engine, out: &mut dyn Write) -> anyhow::Result<u8> {
    let Some((key, id)) = engine.checkpoint_public_key() else {
        anyhow::bail!("no signing key: {}", super::store::HOW_TO_GIVE_A_KEY);
    };
    writeln!(out, "{}", public_key_json(&key, &id))?;
    Ok(EXIT_OK)
}

fn public_key_json(key: &[u8; 32], id: &[u8; 8]) -> serde_json::Value {
    serde_json::json!({ "algorithm": "ed25519", "public_key": hex(key), "key_id": hex(id) })
}

/// `annal checkpoint init-key PATH`: a new signing key in a new file (mode
/// 0600), its public half printed; the one way annal makes a key.
pub fn init_key(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let key = annal_engine::checkpoint::init_key_file(path)?;
    writeln!(out, "{}", public_key_json(&key.public_key(), &key.key_id()))?;
    writeln!(
        err,
        "signing key written to {}; keep it out of the data directory and its backups, and publish the public key",
        path.display()
    )?;
    Ok(EXIT_OK)
}

/// `annal checkpoint rotate-key`: opens the store with its key rotation
/// allowed (`EngineBuilder::rotate_signing_key`), which records it.
pub fn rotate_key(key: &KeyArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let dir = &key.store.data_dir;
    let source = super::store::key_source(key.signing_key.as_deref(), dir)?;
    if matches!(source, annal_engine::KeySource::None) {
        anyhow::bail!("no signing key: {}", super::store::HOW_TO_GIVE_A_KEY);
    }
    let engine = annal_engine::Engine::builder(dir).create_if_missing(false).signing_key(source).rotate_signing_key().open()?;
    let mut rotated = 0;
    for t in engine.tenants() {
        let Some(cp) = engine.latest_checkpoint(&t)? else { continue };
        let head = engine.head(&t)?;
        let last = engine.get(&t, head.seq)?;
        if last.is_some_and(|r| r.event.action == annal_engine::checkpoint::KEY_ROTATED_ACTION) {
            writeln!(out, "{}", cp.to_json())?;
            rotated += 1;
        }
    }
    writeln!(
        err,
        "{rotated} chain(s) now signed by key {}",
        hex(&engine.checkpoint_public_key().map(|(_, id)| id).unwrap_or_default())
    )?;
    Ok(EXIT_OK)
}

/// `annal checkpoint latest --tenant T`.
pub fn latest(engine: &Engine, tenant: &str, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match engine.latest_checkpoint(tenant)? {
        Some(cp) => {
            writeln!(out, "{}", cp.to_json())?;
            Ok(EXIT_OK)
        }
        None => {
            writeln!(err, "annal: {tenant} has no checkpoint yet (make one with `annal checkpoint make`)")?;
            Ok(EXIT_ERROR)
        }
    }
}

/// `annal checkpoint list --tenant T [--from-seq A] [--to-seq B]`.
pub fn list(engine: &Engine, tenant: &str, from_seq: u64, to_seq: u64, out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut from = from_seq;
    loop {
        let batch = engine.checkpoints(tenant, from, to_seq, 1024)?;
        for cp in &batch {
            writeln!(out, "{}", cp.to_json())?;
        }
        match batch.last() {
            Some(cp) if batch.len() == 1024 && cp.seq < to_seq => from = cp.seq + 1,
            _ => return Ok(EXIT_OK),
        }
    }
}

/// `annal checkpoint make [--tenant T]`: a checkpoint of one tenant or of every one.
pub fn make(engine: &Engine, tenant: Option<&str>, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    if engine.checkpoint_public_key().is_none() {
        anyhow::bail!("no signing key: {}", super::store::HOW_TO_GIVE_A_KEY);
    }
    let tenants = tenant_or_every(engine, tenant);
    let mut code = EXIT_OK;
    for t in &tenants {
        match engine.checkpoint(t) {
            Ok(cp) => writeln!(out, "{}", cp.to_json())?,
            Err(e) => {
                writeln!(err, "annal: {t}: no checkpoint: {e}")?;
                code = EXIT_ERROR;
            }
        }
    }
    Ok(code)
}

/// Reads a checkpoint file (the JSON `checkpoint latest` prints).
pub fn read_checkpoint(path: &Path) -> anyhow::Result<Checkpoint> {
    let text = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| anyhow::anyhow!("{} is not a checkpoint: {e}", path.display()))?;
    Checkpoint::from_json(&value).map_err(|e| anyhow::anyhow!("{} is not a checkpoint: {e}", path.display()))
}

/// Parses `--public-key`: 64 hex digits.
pub fn parse_public_key(text: &str) -> anyhow::Result<[u8; 32]> {
    from_hex::<32>("public_key", text.trim()).map_err(|e| anyhow::anyhow!("--{e}"))
}

/// `annal verify --trusted-checkpoint FILE [--public-key HEX]`: exit 0 when
/// the store holds and extends the checkpoint's chain, 2 when it does not.
pub fn verify_trusted(engine: &Engine, trusted: &Checkpoint, key: Option<&[u8; 32]>, out: &mut dyn Write) -> anyhow::Result<u8> {
    let t = &trusted.tenant;
    match engine.verify_trusted(trusted, key)? {
        TrustedOutcome::Extends(r) => {
            let how = match r.connection {
                Connection::Row => "the row at that seq has the trusted head".to_string(),
                Connection::Anchor => "retention deleted up to that seq; its anchor has the trusted head".to_string(),
                Connection::Checkpoints { links } => {
                    format!("retention deleted that row; {links} signed checkpoint link(s) connect it to the remaining chain")
                }
            };
            writeln!(
                out,
                "{t}: extends the trusted checkpoint at seq {} ({how}); chain intact to seq {}, head {}",
                r.trusted_seq, r.head_seq, r.head
            )?;
            Ok(EXIT_OK)
        }
        TrustedOutcome::Failed(f) => {
            writeln!(out, "{t}: FAILED against the trusted checkpoint at seq {}: {f}", trusted.seq)?;
            Ok(EXIT_BROKEN)
        }
    }
}

/// `annal checkpoint …`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a new signing key in a new file PATH (mode 0600) and print
    /// its public half; refuses a PATH that exists. Keep it outside the
    /// data directory: every copy and backup of the store would hold it.
    InitKey {
        /// Where the key file is written (its directory is created).
        path: PathBuf,
    },
    /// Sign every chain with this key from now on, although another key
    /// signed their latest checkpoints: an `annal.checkpoint.key_rotated`
    /// row in each such chain (naming both keys), then a checkpoint signed
    /// with the new key. Prints one JSON line per chain rotated.
    RotateKey(KeyArgs),
    /// Print the signing key's public half and id (JSON).
    PublicKey(KeyArgs),
    /// Print a tenant's latest checkpoint (JSON): the file an auditor keeps.
    Latest(TenantArgs),
    /// Print a tenant's stored checkpoints, oldest first (one JSON per line).
    List {
        /// Store, key and tenant.
        #[command(flatten)]
        tenant: TenantArgs,
        /// From this seq (inclusive).
        #[arg(long, default_value_t = 0)]
        from_seq: u64,
        /// Up to this seq (inclusive).
        #[arg(long, default_value_t = u64::MAX)]
        to_seq: u64,
    },
    /// Sign and store a checkpoint of a tenant's head now (every tenant without --tenant).
    Make {
        /// Store and key.
        #[command(flatten)]
        key: KeyArgs,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Data directory and signing key of a checkpoint command.
#[derive(clap::Args, Debug)]
pub struct KeyArgs {
    /// The store.
    #[command(flatten)]
    pub store: StoreDir,
    /// The signing key file (mode 0600, 64 hex digits); default: the
    /// ANNAL_SIGNING_KEY_FILE or ANNAL_SIGNING_KEY environment variable,
    /// else ~/.config/annal/checkpoint-signing.key if it exists. Never generated.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

/// [`KeyArgs`] and a tenant.
#[derive(clap::Args, Debug)]
pub struct TenantArgs {
    /// Store and key.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Tenant (workspace) id.
    #[arg(long)]
    pub tenant: String,
}

fn open(key: &KeyArgs) -> anyhow::Result<Engine> {
    open_existing(&key.store, key.signing_key.as_deref())
}

/// Runs an `annal checkpoint` subcommand.
pub fn run(command: Command, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match command {
        Command::InitKey { path } => init_key(&path, out, err),
        Command::RotateKey(k) => rotate_key(&k, out, err),
        Command::PublicKey(k) => public_key(&open(&k)?, out),
        Command::Latest(t) => {
            annal_engine::validate_tenant(&t.tenant)?;
            latest(&open(&t.key)?, &t.tenant, out, err)
        }
        Command::List { tenant, from_seq, to_seq } => {
            annal_engine::validate_tenant(&tenant.tenant)?;
            list(&open(&tenant.key)?, &tenant.tenant, from_seq, to_seq, out)
        }
        Command::Make { key, tenant } => {
            if let Some(t) = &tenant {
                annal_engine::validate_tenant(t)?;
            }
            make(&open(&key)?, tenant.as_deref(), out, err)
        }
    }
}

/// After `annal ingest`: the checkpoints the default policy says are due
/// (10,000 rows or 60 s since a tenant's last one). A failure is reported,
/// not fatal: the rows are stored either way.
pub fn after_ingest(engine: &Engine, err: &mut dyn Write) -> anyhow::Result<()> {
    if engine.checkpoint_public_key().is_none() {
        writeln!(err, "annal: no checkpoints made: no signing key ({})", super::store::HOW_TO_GIVE_A_KEY)?;
        return Ok(());
    }
    let (_, failed) = engine.checkpoint_due(&annal_engine::CheckpointPolicy::default());
    for (t, e) in failed {
        writeln!(err, "annal: {t}: no checkpoint: {e}")?;
    }
    Ok(())
}
