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
//! entries ([`index`]) on the caller's thread; the writer thread (`writer`)
//! gathers concurrent appends into one RocksDB batch, assigns seqs, links the
//! chain and syncs once ([`storage`]); [`query`] reads windows of it back
//! through the indexes; [`verify`] recomputes it all later, and
//! [`checkpoint`] signs heads for auditors to keep and check the store against.
//! ARCHITECTURE.md at the repository root has the map; docs/FORMAT.md
//! specifies every stored and hashed byte, docs/REDACTION.md the policies.

#![deny(missing_docs)]

pub mod apikeys;
pub mod canonical_json;
pub mod chain;
pub mod checkpoint;
pub mod clock;
mod engine;
mod error;
pub mod event;
pub mod index;
mod keys;
pub mod query;
pub mod record;
pub mod redact;
pub mod retention;
pub mod storage;
pub mod verify;
mod writer;

pub use apikeys::{ApiKey, Scopes};
pub use chain::Hash;
pub use checkpoint::{
    Checkpoint, CheckpointDaemon, CheckpointPolicy, Connection, KeySource, TrustedFailure, TrustedOutcome, TrustedReport,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{
    validate_tenant, Durability, Engine, EngineBuilder, RecordIter, MAX_TENANT_BYTES, PLATFORM_TENANT, POLICY_ACTION,
    RESERVED_TENANT_PREFIX, STORE_FORMAT_VERSION,
};
pub use error::{Error, FieldError, Result};
pub use event::{Actor, ActorType, Event, EventRecord, Limits, Outcome, Target};
pub use index::{IndexCheck, IndexKind};
pub use query::{Explain, Order, Page, Query, QueryStream, Scanned, TargetFilter};
pub use record::{ChainHead, EventRef, Receipt, Record, RecordRef};
pub use redact::detect::Detector;
pub use redact::{Policy, Redaction, Rule, Strategy};
pub use retention::{
    LegalHold, Retention, RetentionAnchor, RetentionDaemon, RetentionStatus, RunOptions, RunReport, TenantDeletion, TenantRun,
    Tier,
};
pub use storage::{Cf, RawStore};
pub use verify::{BreakReason, ChainBreak, VerifyOutcome, VerifyReport};
pub use writer::PreparedEvent;
