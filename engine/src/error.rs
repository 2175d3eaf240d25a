//! The engine's one error type.
//!
//! Input problems ([`FieldError`]) always name the field they concern, so a
//! caller several layers up (the HTTP server, the command line) can tell the
//! client exactly what to fix. Storage problems carry RocksDB's message but
//! never the contents of an event: error text may end up in logs, and events
//! may carry personal data.

use std::fmt;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A problem with one field of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the offending field, e.g. `actor.email`; `""` for the
    /// event as a whole (malformed JSON, event too large).
    pub field: String,
    /// What is wrong, in words a client can act on. Never echoes the value.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// A serde error with its path, as a [`FieldError`] naming that field (a
/// missing field by its own name) with a message that quotes no value.
pub(crate) fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = e.path().to_string();
    let mut field = if path == "." { String::new() } else { path };
    let inner = e.into_inner();
    let message = describe_json_error(&inner);
    // For a missing field serde reports the enclosing object's path; name the
    // field itself, which is what the client has to add.
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            field = if field.is_empty() { name.to_string() } else { format!("{field}.{name}") };
        }
    }
    FieldError::new(field, message)
}

/// serde_json's message without the value it quotes (which might be personal data)
/// for the common "invalid type/value" cases, with line and column kept.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => &msg[..],
    };
    let redacted = if let Some(rest) = msg.strip_prefix("invalid type: ") {
        // "invalid type: string \"x\", expected u64" -> "invalid type: string, expected u64"
        let kind = rest.split([' ', ',']).next().unwrap_or("value");
        let expected = rest.rsplit_once("expected ").map(|(_, x)| x).unwrap_or("another type");
        format!("invalid type {kind}, expected {expected}")
    } else if msg.starts_with("unknown variant ") {
        // "unknown variant `x`, expected one of …": the value is the client's.
        let expected = msg.split_once(", expected ").map(|(_, x)| x).unwrap_or("a documented value");
        format!("unknown value, expected {expected}")
    } else if msg.starts_with("invalid value: ") {
        let expected = msg.rsplit_once("expected ").map(|(_, x)| x).unwrap_or("another value");
        format!("invalid value, expected {expected}")
    } else {
        msg.to_string()
    };
    if e.line() > 0 {
        format!("{redacted} (line {}, column {})", e.line(), e.column())
    } else {
        redacted
    }
}

/// Everything that can go wrong in the engine.
///
/// Deliberately not `#[non_exhaustive]`: the server matches every variant
/// to a problem type without a wildcard, so a new variant does not compile
/// there until someone decides what a client sees for it (a wildcard would
/// quietly turn it into a 500).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A single event was rejected.
    #[error("invalid event: {0}")]
    InvalidEvent(FieldError),
    /// A batch was rejected as a whole; each entry is (index in the batch, problem).
    /// Nothing of the batch was written.
    #[error("invalid batch: {} event(s) rejected, first at index {}: {}", .0.len(), .0[0].0, .0[0].1)]
    InvalidBatch(Vec<(usize, FieldError)>),
    /// A batch with no events.
    #[error("empty batch: nothing to append")]
    EmptyBatch,
    /// A query names a bad filter, window, order or page size.
    #[error("invalid query: {0}")]
    InvalidQuery(FieldError),
    /// A query's cursor is malformed or belongs to another tenant or query.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// A redaction policy that cannot be used; names the rule or field.
    #[error("invalid redaction policy: {0}")]
    InvalidPolicy(FieldError),
    /// Events were prepared under a policy version the tenant no longer has
    /// (its policy changed in between): prepare them again.
    #[error("events were prepared under redaction policy version {prepared}, the tenant's policy is now version {current}; prepare them again")]
    PolicyChanged {
        /// Version the events were redacted under.
        prepared: u32,
        /// The tenant's version now.
        current: u32,
    },
    /// Events prepared for one tenant were appended to another.
    #[error("events were prepared for another tenant; prepare them for this one")]
    WrongTenant,
    /// A tenant id that is not of the documented form.
    #[error("invalid tenant id: {0}")]
    InvalidTenant(String),
    /// A tenant that has no chain in this store.
    #[error("unknown tenant")]
    UnknownTenant,
    /// An idempotency key was reused, within its window, for a different event.
    #[error("idempotency_key of event {index} was already used for a different event{}", match .first_seq { Some(s) => format!(" (seq {s})"), None => " earlier in the same batch".to_string() })]
    IdempotencyConflict {
        /// Index of the event in its batch.
        index: usize,
        /// Seq of the row first written under that key; `None` when the
        /// first use is an earlier event of the same batch.
        first_seq: Option<u64>,
    },
    /// More events in one batch than the configured maximum.
    #[error("batch of {got} events exceeds the maximum of {max}")]
    BatchTooLarge {
        /// Events in the batch.
        got: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A token that authenticates nothing: malformed, unknown, wrong secret
    /// or revoked (deliberately one error for all).
    #[error("invalid or revoked api key")]
    InvalidApiKey,
    /// No key with that id belongs to the tenant.
    #[error("unknown api key")]
    UnknownApiKey,
    /// A key cannot be created as asked; names the field (`scopes`, `label`).
    #[error("invalid api key request: {0}")]
    InvalidApiKeyRequest(FieldError),
    /// A stored value could not be decoded: corruption or tampering.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The data directory was written by an incompatible version.
    #[error("unsupported store format version {found} (this build reads {supported})")]
    UnsupportedFormat {
        /// Version found on disk.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },
    /// A write to the store failed earlier; the engine accepts no more appends
    /// until it is reopened, because the state on disk is then uncertain
    /// (after a failed fsync, what the page cache holds says nothing about
    /// the disk: only recovery from the WAL on disk is trustworthy).
    #[error("engine is poisoned after a failed write{}; reopen the store", if *.no_space { " (the disk is full)" } else { "" })]
    Poisoned {
        /// The failed write failed for lack of space (ENOSPC).
        no_space: bool,
    },
    /// The disk holding the store is full: the write was refused and
    /// nothing of it is stored.
    #[error("the disk holding the store is full: {0}")]
    NoSpace(String),
    /// The tenant already holds as many live (not revoked) API keys as it
    /// may; revoke one first.
    #[error("the tenant holds {max} live api keys, its most; revoke one first")]
    TooManyKeys {
        /// The bound.
        max: usize,
    },
    /// The engine's signing key is not the one that signed a chain's latest
    /// checkpoint; a change of key is made on purpose, and recorded
    /// (`EngineBuilder::rotate_signing_key`).
    #[error(
        "the latest checkpoint of {tenant} is signed by key {stored}, not by this key {given}: sign with the key that \
         signed it, or rotate to this one on purpose (recorded in every chain)"
    )]
    SigningKeyMismatch {
        /// The first chain found signed by another key.
        tenant: String,
        /// That key's id (hex).
        stored: String,
        /// This engine's key id (hex).
        given: String,
    },
    /// The engine was opened without a checkpoint signing key
    /// (`KeySource::None`) and was asked to sign.
    #[error("no checkpoint signing key: this store was opened without one, and making a checkpoint needs it")]
    NoSigningKey,
    /// The engine is shutting down.
    #[error("engine is closed")]
    Closed,
    /// The writer's queue is full: a caller that does not wait
    /// (`Engine::append_then`) is told to come back instead of blocking.
    #[error("the writer's queue is full; try again shortly")]
    Busy,
    /// A retention setting or legal hold that cannot be used; names the field.
    #[error("invalid retention setting: {0}")]
    InvalidRetention(FieldError),
    /// The tenant is under a legal hold, which forbids deleting it.
    #[error("the tenant is under a legal hold (since {since}); release it first")]
    OnHold {
        /// When the hold was placed, RFC 3339.
        since: String,
    },
    /// The tenant's deletion is scheduled: it is no longer served, and
    /// takes no rows, until the deletion is cancelled.
    #[error("the tenant is scheduled for deletion")]
    TenantClosing,
    /// A scheduled deletion was to be cancelled, but the tenant has none.
    #[error("the tenant has no scheduled deletion")]
    NoPendingDeletion,
    /// A tenant was to be created that already has a chain (or is closing).
    #[error("the tenant already exists")]
    TenantExists,
    /// A legal hold was to be released, but the tenant has none.
    #[error("the tenant has no legal hold to release")]
    NoHold,
    /// Rows landed in a tenant's chain between reading its head and deleting
    /// it; the deletion was not made (it is retried with the new head).
    #[error("the tenant's chain moved while it was being deleted; try again")]
    HeadMoved,
    /// An invalid option given to the builder.
    #[error("invalid option {option}: {message}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The directory holds no store, and the engine was asked to open an
    /// existing one only ([`crate::EngineBuilder::create_if_missing`]).
    #[error("no annal store in {}", .0.display())]
    NoStore(std::path::PathBuf),
    /// The store's format is older than this build's, and the upgrade was
    /// asked to take a backup first but was given nowhere to put it
    /// ([`crate::EngineBuilder::upgrade_backup_dir`]) nor told to go
    /// without ([`crate::EngineBuilder::upgrade_without_backup`]).
    #[error("the store is format version {found} and must be upgraded to {current}; give a backup directory for the backup taken first, or choose explicitly to upgrade without one")]
    UpgradeNeedsBackup {
        /// Version found on disk.
        found: u32,
        /// Version this build writes.
        current: u32,
    },
    /// A backup could not be made, found, verified or restored; the message
    /// names the backup, file or directory.
    #[error("backup: {0}")]
    Backup(String),
    /// An encryption setting that cannot be used; names the field (`kek`).
    #[error("invalid encryption setting: {0}")]
    InvalidEncryption(FieldError),
    /// An encryption setting for a tenant that is not encrypted at rest
    /// (its encryption is decided when it is created).
    #[error("the tenant is not encrypted at rest")]
    NotEncrypted,
    /// A key provider could not wrap or unwrap a key, or its keyring is
    /// unusable; the message names the keyring file or command and the KEK,
    /// never a key.
    #[error("keyring: {0}")]
    Keyring(String),
    /// RocksDB reported an error.
    #[error("storage: {0}")]
    Storage(String),
    /// An I/O error outside RocksDB (creating the data directory, …).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
