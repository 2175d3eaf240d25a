//! Taking seqs out of index postings, in a batch: what retention's
//! deletions and an erasure do to the index (docs/FORMAT.md, "Index keys").

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::format::index;
use crate::storage::{Batch, Cf, ReadMode, Store};

/// Takes `removals` (each posting prefix `tenant ‖ part` with the deleted
/// seqs that have that value, ascending) out of the index: a posting left
/// with no seq is deleted, one that keeps some is written back without the
/// rest. Retention deletes a chain's prefix, so there a posting's last seq
/// (its key) either goes with the whole posting or stays; an erasure takes
/// any rows, and a posting that loses its last seq moves to its new one.
pub(crate) fn unindex(store: &Store, removals: &HashMap<Vec<u8>, Vec<u64>>, batch: &mut Batch<'_>) -> Result<()> {
    for (prefix, seqs) in removals {
        let mut i = 0;
        while let Some(&seq) = seqs.get(i) {
            // The posting holding `seq`: the first of the value's with a last seq at or after it.
            let mut it =
                store.iter(Cf::Index, &index::with_seq(prefix, seq), &index::with_seq(prefix, u64::MAX), false, ReadMode::Bulk);
            let Some((key, value)) = it.next()? else {
                return Err(Error::Corrupt(format!("no index posting holds seq {seq}")));
            };
            let posting_last = index::key_seq(key).ok_or_else(|| Error::Corrupt("malformed index key".into()))?;
            let held = index::decode_posting(posting_last, value)
                .map_err(|e| Error::Corrupt(format!("index posting of seq {posting_last}: {e}")))?;
            let gone: Vec<u64> = seqs[i..].iter().copied().take_while(|s| *s <= posting_last).collect();
            i += gone.len();
            let kept: Vec<u64> = held.iter().copied().filter(|s| gone.binary_search(s).is_err()).collect();
            match kept.last() {
                None => batch.delete(Cf::Index, key),
                Some(&last) if last == posting_last => batch.put(Cf::Index, key, &index::encode_posting(&kept)),
                // An erasure took the posting's last seq and not all of it:
                // the posting moves to the key of its new last seq (still
                // after every earlier posting of the value).
                Some(&last) => {
                    batch.delete(Cf::Index, key);
                    batch.put(Cf::Index, &index::with_seq(prefix, last), &index::encode_posting(&kept));
                }
            }
        }
    }
    Ok(())
}
