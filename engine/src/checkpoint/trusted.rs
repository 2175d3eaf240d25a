//! Verification against a checkpoint kept outside the store.
//!
//! The store passes when its chain verifies, every checkpoint it stores
//! still matches its chain, and the chain holds the trusted head at the
//! trusted seq — directly, at the retention anchor, or, when retention
//! deleted that row, through the chain of stored checkpoints from the
//! trusted one to the first remaining rows (see the module above).

use std::fmt;

use super::{Checkpoint, Checkpointer};
use crate::error::{Error, Result};
use crate::format::chain::{self, Hash};
use crate::verify::{self, ChainBreak, VerifyOutcome};

/// How the trusted checkpoint connects to the chain the store holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// The row at the trusted seq is stored and has the trusted head.
    Row,
    /// Retention deleted up to exactly the trusted seq; the anchor has the trusted head.
    Anchor,
    /// Retention deleted the trusted row; this many stored checkpoints,
    /// each signing its predecessor, lead from it to the remaining chain.
    Checkpoints {
        /// Links followed.
        links: usize,
    },
}

/// A successful verification against a trusted checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedReport {
    /// Seq of the trusted checkpoint.
    pub trusted_seq: u64,
    /// The chain's current last seq.
    pub head_seq: u64,
    /// The chain's current head.
    pub head: Hash,
    /// How the two were connected.
    pub connection: Connection,
}

/// Why a store does not hold the chain a trusted checkpoint signed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustedFailure {
    /// The trusted checkpoint's own signature (or key id) is not valid.
    BadSignature,
    /// The trusted checkpoint is signed by another key than the one required.
    KeyMismatch,
    /// The store has no chain of the checkpoint's tenant.
    TenantMissing,
    /// The chain itself is broken (gap, changed row, …).
    ChainBroken(ChainBreak),
    /// The chain ends before the trusted seq, and the store's own
    /// checkpoints show it once went further: its tail was cut off.
    Truncated {
        /// Where the chain ends now.
        head_seq: u64,
        /// The trusted seq.
        trusted_seq: u64,
    },
    /// The chain ends before the trusted seq and nothing in the store
    /// reaches it: an older copy of the data directory.
    RolledBack {
        /// Where the chain ends now.
        head_seq: u64,
        /// The trusted seq.
        trusted_seq: u64,
    },
    /// The chain has another head at the trusted seq, and the same key
    /// signed checkpoints of this other history: two copies diverged.
    Forked {
        /// The trusted seq.
        seq: u64,
    },
    /// The chain has another head at `seq` than a checkpoint signed (the
    /// trusted one or one the store kept), and no signature vouches for the
    /// rows now there: rewritten without the signing key.
    Rewritten {
        /// The seq whose signed head the chain no longer has.
        seq: u64,
    },
    /// Retention deleted the trusted row and no chain of stored checkpoints
    /// leads from it to the remaining rows.
    Unconnected {
        /// The last seq the walk reached.
        seq: u64,
    },
    /// A checkpoint the store holds has an invalid signature.
    BadStoredCheckpoint {
        /// Its seq.
        seq: u64,
    },
}

impl fmt::Display for TrustedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustedFailure::BadSignature => write!(f, "bad signature: the trusted checkpoint's signature is not valid"),
            TrustedFailure::KeyMismatch => write!(f, "key mismatch: the trusted checkpoint is signed by another key"),
            TrustedFailure::TenantMissing => write!(f, "tenant missing: the store has no chain of this tenant"),
            TrustedFailure::ChainBroken(b) => write!(f, "chain broken at seq {}: {}", b.seq, b.reason),
            TrustedFailure::Truncated { head_seq, trusted_seq } => {
                write!(f, "truncated: the chain ends at seq {head_seq}, before the trusted seq {trusted_seq}, and the store's own checkpoints went further")
            }
            TrustedFailure::RolledBack { head_seq, trusted_seq } => {
                write!(f, "rolled back: the chain ends at seq {head_seq}, before the trusted seq {trusted_seq} (an older copy of the store)")
            }
            TrustedFailure::Forked { seq } => {
                write!(f, "fork: the chain has another head at seq {seq}, and the key signed that other history too")
            }
            TrustedFailure::Rewritten { seq } => {
                write!(f, "rewritten: the chain no longer has the head signed for seq {seq}")
            }
            TrustedFailure::Unconnected { seq } => {
                write!(f, "unconnected: retention deleted the trusted row and no stored checkpoint links seq {seq} to the remaining chain")
            }
            TrustedFailure::BadStoredCheckpoint { seq } => {
                write!(f, "bad stored checkpoint: the signature of seq {seq} is not valid")
            }
        }
    }
}

/// The result of `Engine::verify_trusted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedOutcome {
    /// The store holds the trusted chain and extends it.
    Extends(TrustedReport),
    /// It does not, and why.
    Failed(TrustedFailure),
}

impl Checkpointer {
    /// Checks that the store still holds the chain `trusted` signed and
    /// extends it; with `required_key`, the checkpoint must be signed by
    /// that public key. See [`TrustedFailure`] for every reason it fails.
    pub fn verify_trusted(&self, trusted: &Checkpoint, required_key: Option<&[u8; 32]>) -> Result<TrustedOutcome> {
        let fail = |f| Ok(TrustedOutcome::Failed(f));
        if !trusted.signature_valid() {
            return fail(TrustedFailure::BadSignature);
        }
        if required_key.is_some_and(|k| *k != trusted.public_key) {
            return fail(TrustedFailure::KeyMismatch);
        }
        let tenant = trusted.tenant.as_str();
        let n = match self.core.number(tenant) {
            Ok(n) => n,
            Err(Error::UnknownTenant | Error::InvalidTenant(_)) => return fail(TrustedFailure::TenantMissing),
            Err(e) => return Err(e),
        };
        let report = match verify::verify(&self.core.store, Some(&self.core.rows), tenant, n, .., &mut |_| {})? {
            VerifyOutcome::Intact(r) => r,
            VerifyOutcome::Broken(b) => return fail(TrustedFailure::ChainBroken(b)),
        };
        let head = self.core.head(tenant)?;
        let floor = report.anchor.map_or(0, |a| a.seq);
        // The head the chain has at `seq`, if its row or the anchor holds it.
        let chain_head = |seq: u64| -> Result<Option<Hash>> {
            if seq == 0 {
                return Ok(Some(chain::genesis(tenant)));
            }
            if let Some(a) = report.anchor.filter(|a| a.seq == seq) {
                return Ok(Some(a.head));
            }
            self.core.stored_head(tenant, seq)
        };

        // Every checkpoint the store kept, from the anchor on, must still match.
        let mut signed_by_key_from = None;
        let mut from = floor;
        loop {
            let batch = self.list(tenant, from, u64::MAX, 1024)?;
            for cp in &batch {
                if !cp.signature_valid() {
                    return fail(TrustedFailure::BadStoredCheckpoint { seq: cp.seq });
                }
                if cp.seq > head.seq {
                    continue;
                }
                if chain_head(cp.seq)? != Some(cp.head) {
                    return fail(TrustedFailure::Rewritten { seq: cp.seq });
                }
                if cp.public_key == trusted.public_key && cp.seq >= trusted.seq && signed_by_key_from.is_none() {
                    signed_by_key_from = Some(cp.seq);
                }
            }
            match batch.last() {
                Some(cp) if batch.len() == 1024 => from = cp.seq + 1,
                _ => break,
            }
        }

        let ok = |connection| {
            Ok(TrustedOutcome::Extends(TrustedReport {
                trusted_seq: trusted.seq,
                head_seq: head.seq,
                head: head.head,
                connection,
            }))
        };
        if head.seq < trusted.seq {
            let went_further = self.latest(tenant)?.is_some_and(|l| l.seq > head.seq);
            let (head_seq, trusted_seq) = (head.seq, trusted.seq);
            return fail(if went_further {
                TrustedFailure::Truncated { head_seq, trusted_seq }
            } else {
                TrustedFailure::RolledBack { head_seq, trusted_seq }
            });
        }
        let diverged = |seq| {
            if signed_by_key_from.is_some() {
                TrustedFailure::Forked { seq }
            } else {
                TrustedFailure::Rewritten { seq }
            }
        };
        if trusted.seq >= floor {
            return match chain_head(trusted.seq)? {
                Some(h) if h == trusted.head => {
                    ok(if trusted.seq == floor && floor > 0 { Connection::Anchor } else { Connection::Row })
                }
                Some(_) => fail(diverged(trusted.seq)),
                None => Err(Error::Corrupt(format!("row {} is missing from a verified chain", trusted.seq))),
            };
        }
        // Retention deleted the trusted row: walk the stored checkpoints.
        let mut cur = match self.at(tenant, trusted.seq)? {
            Some(cp) if cp.head == trusted.head => cp,
            Some(_) => return fail(diverged(trusted.seq)),
            None => return fail(TrustedFailure::Unconnected { seq: trusted.seq }),
        };
        let mut links = 0;
        while cur.seq < floor {
            let Some(next) = self.at_or_after(tenant, cur.seq + 1)? else {
                return fail(TrustedFailure::Unconnected { seq: cur.seq });
            };
            if !next.signature_valid() {
                return fail(TrustedFailure::BadStoredCheckpoint { seq: next.seq });
            }
            if next.public_key != trusted.public_key || next.prev_seq != cur.seq || next.prev_head != cur.head {
                return fail(TrustedFailure::Unconnected { seq: cur.seq });
            }
            links += 1;
            cur = next;
        }
        // `cur` is at or past the anchor, and was checked against the chain above.
        ok(Connection::Checkpoints { links })
    }
}
