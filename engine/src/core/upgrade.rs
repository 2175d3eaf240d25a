//! The store's format version and the upgrade from an older one, run when
//! a store opens (docs/FORMAT.md, "Version history").

use crate::error::{Error, Result};
use crate::format::index::{pseudonyms_of, IndexTemplate, Indexed};
use crate::format::keys;
use crate::format::record::Record;
use crate::storage::{Cf, ReadMode, Store};

/// Store format version this build reads and writes (`meta/format_version`).
/// Version 2 added the `index` column family; a version 1 store is upgraded
/// on open by indexing its rows (docs/FORMAT.md, "Version history").
pub const STORE_FORMAT_VERSION: u32 = 2;

/// Checks the store's format version, upgrading a version 1 store; marks a
/// new store with this build's version.
pub(crate) fn check_format(store: &Store) -> Result<()> {
    match store.get(Cf::Meta, keys::META_FORMAT)? {
        Some(v) => {
            let found = <[u8; 4]>::try_from(v.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| Error::Corrupt("meta/format_version".into()))?;
            if found == 1 {
                // Version 1 had no index: build it from the rows, then mark
                // the store as version 2. A crash in between re-runs the
                // rebuild, which writes the same keys again.
                rebuild_index(store)?;
                return set_format(store);
            }
            if found != STORE_FORMAT_VERSION {
                return Err(Error::UnsupportedFormat { found, supported: STORE_FORMAT_VERSION });
            }
            Ok(())
        }
        None => set_format(store),
    }
}

fn set_format(store: &Store) -> Result<()> {
    let mut b = store.batch();
    b.put(Cf::Meta, keys::META_FORMAT, &STORE_FORMAT_VERSION.to_be_bytes());
    store.write(b, true)
}

/// Writes the index entries of every stored row (stores written before the
/// index existed, format version 1), in batches of bounded size.
fn rebuild_index(store: &Store) -> Result<u64> {
    const CHUNK: usize = 4096;
    let mut rows = 0u64;
    let mut resume = Vec::new();
    loop {
        let mut batch = store.batch();
        let mut n_in_batch = 0;
        let mut last_key = None;
        {
            let mut it = store.iter(Cf::Records, &resume, &[0xff; 17], false, ReadMode::Bulk);
            while let Some((k, v)) = it.next()? {
                let (Some(seq), Some(tenant)) = (keys::record_seq(k), keys::record_tenant(k)) else {
                    return Err(Error::Corrupt("malformed record key".into()));
                };
                let record = Record::from_stored(seq, v).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
                let pseudonyms = pseudonyms_of(&record.event);
                IndexTemplate::build(&Indexed::of_record(&record.event, &pseudonyms)).for_each_key(
                    tenant,
                    seq,
                    record.recorded_at,
                    |k| batch.put(Cf::Index, k, &[]),
                );
                n_in_batch += 1;
                if n_in_batch == CHUNK {
                    last_key = Some(k.to_vec());
                    break;
                }
            }
        }
        rows += n_in_batch as u64;
        store.write(batch, true)?;
        match last_key {
            Some(mut k) => {
                // The smallest key after `k`.
                k.push(0);
                resume = k;
            }
            None => return Ok(rows),
        }
    }
}
