//! # annal-engine
//!
//! An embeddable audit-log store: append-only, hash-chained (BLAKE3) records
//! on RocksDB, one chain per tenant.
//!
//! ```no_run
//! use annal_engine::{Engine, Event, ActorType};
//! let engine = Engine::open("./annal-data")?;
//! let receipts = engine.append("ws_acme", &[Event::new("auth.login", ActorType::User, "u_1")])?;
//! assert_eq!(receipts[0].seq, 1);
//! assert!(engine.verify("ws_acme", ..)?.is_intact());
//! # Ok::<(), annal_engine::Error>(())
//! ```
//!
//! How a row travels: [`Engine::prepare`] validates an [`Event`], redacts it
//! under the tenant's policy ([`redact`]) into its canonical [`EventRecord`],
//! encodes it ([`record`]), computes its leaf hash ([`chain`]) and its index
//! entries ([`index`]) on the caller's thread; the writer thread gathers
//! concurrent appends into one RocksDB batch, assigns seqs, links the chain
//! and syncs once ([`storage`]); [`query`] reads windows of it back through
//! the indexes; [`verify`] recomputes it all later, and [`checkpoint`] signs
//! heads for auditors to keep and check the store against.
//!
//! ## Layers
//!
//! The modules form five layers, and imports only go down:
//!
//! 1. **format** — every stored and hashed byte, no I/O: `error`, the event
//!    model (`event`, `canonical_json`, `redact`) and `format/` (chain,
//!    keys, record, index keys, tenant ids, retention values, checkpoints,
//!    API key entries, sealed bytes and wrapped keys);
//! 2. **storage** — the RocksDB seam (`storage/`), and beside it
//!    [`keyring`]: the key-encryption keys outside the store (a keyring
//!    file, an external command) that wrap the data keys;
//! 3. **core** — what every feature shares: the store, clock, limits, the
//!    tenant directory, the redactors and the write path (`core/`);
//! 4. **features** — `query`, `summary` (action names, counts per bucket),
//!    `verify`, `apikeys`, `policy`, `checkpoint`, `retention`, `access`
//!    (exports recorded in the chain), `encryption` (a tenant's KEK,
//!    re-wrapping data keys), `erasure` (one person's data out of the
//!    rows, the chain intact), each over the core or the store
//!    alone; among themselves a tree (retention → checkpoint → verify,
//!    retention → apikeys, summary → query);
//! 5. **façade** — [`Engine`] (`engine.rs`), its builder and daemons,
//!    [`backup`] (which opens engines of its own on restored copies), and
//!    this file's re-exports.
//!
//! ARCHITECTURE.md at the repository root has the map; `engine/tests/it/layers.rs`
//! fails when an import goes up or modules import each other in a circle.
//! docs/FORMAT.md specifies every stored and hashed byte, docs/REDACTION.md
//! the policies.

#![deny(missing_docs)]

// Layer 1: format.
pub mod canonical_json;
mod error;
pub mod event;
mod format;
pub mod redact;
// Layer 2: storage, and the key providers beside it.
pub mod keyring;
pub mod storage;
// Layer 3: core.
mod core;
// Layer 4: features.
pub mod access;
pub mod apikeys;
pub mod checkpoint;
pub mod encryption;
pub mod erasure;
mod policy;
pub mod query;
pub mod retention;
pub mod summary;
pub mod verify;
// Layer 5: façade.
pub mod backup;
mod builder;
mod daemons;
mod engine;

pub use crate::core::clock;
pub use crate::core::prepare::PreparedEvent;
pub use crate::core::reads::RecordIter;
pub use crate::core::upgrade::STORE_FORMAT_VERSION;
pub use crate::core::Durability;
pub use crate::format::{chain, cipher, content, index, record};
pub use access::{ExportRecord, EXPORTED_ACTION};
pub use apikeys::{ApiKey, KeyLimits, Scopes, Usage};
pub use backup::{BackupCheck, BackupInfo, Backups, ChainCheck, Created, Ledger, LedgerEntry, LedgerKind, Restored};
pub use builder::EngineBuilder;
pub use chain::Hash;
pub use checkpoint::{Checkpoint, CheckpointPolicy, Connection, KeySource, TrustedFailure, TrustedOutcome, TrustedReport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use daemons::{
    BackupDaemon, BackupOutcome, CheckpointDaemon, RetentionDaemon, BACKUP_NICE, CHECKPOINT_NICE, DEFAULT_RETENTION_INTERVAL,
};
pub use encryption::{EncryptionStatus, KEK_SET_ACTION};
pub use engine::Engine;
pub use erasure::{Erasure, SUBJECT_ERASED_ACTION};
pub use error::{Error, FieldError, Result};
pub use event::{
    Actor, ActorType, AsBorrowedEvent, BorrowedActor, BorrowedEvent, BorrowedTarget, Event, EventRecord, Limits, Outcome, Target,
    MAX_EVENT_BYTES_LIMIT,
};
pub use format::tenant::{validate_tenant, MAX_TENANT_BYTES, PLATFORM_TENANT, RESERVED_TENANT_PREFIX};
pub use index::IndexKind;
pub use policy::POLICY_ACTION;
pub use query::{Explain, Order, Page, PageInfo, Query, QueryStream, Scanned, TargetFilter};
pub use record::{ChainHead, EventRef, Receipt, Record, RecordRef};
pub use redact::detect::Detector;
pub use redact::{Policy, Redaction, Rule, Strategy};
pub use retention::{
    LegalHold, PendingDeletion, Purges, Retention, RetentionAnchor, RetentionStatus, RunOptions, RunReport, Scheduled,
    TenantDeletion, TenantInfo, TenantRun, Tier,
};
pub use storage::{Cf, RawStore};
pub use summary::{Bucket, Counts, Histogram};
pub use verify::{BreakReason, ChainBreak, IndexCheck, VerifyOutcome, VerifyReport};
