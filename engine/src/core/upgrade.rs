//! The store's format version and the upgrade from an older one, run when
//! a store opens (docs/FORMAT.md, "Version history").

use std::collections::HashMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::format::index::{pseudonyms_of, IndexTemplate, Indexed, Postings};
use crate::format::keys;
use crate::format::record::Record;
use crate::storage::{Cf, ReadMode, Store};

/// Store format version this build reads and writes (`meta/format_version`).
/// Version 2 added the `index` column family; version 3 writes one posting
/// per value per group commit instead of one entry per row; version 4 may
/// hold scheduled workspace deletions and platform keys, which a version 3
/// build would ignore (serving a workspace that is being deleted), so it
/// must refuse the store; version 5 may hold encrypted tenants (their data
/// keys in `tenants`, records of format 2 with event format 3), which a
/// version 4 build cannot read (docs/FORMAT.md, "Version history").
pub const STORE_FORMAT_VERSION: u32 = 5;

/// What opening a store of an older format does before upgrading it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UpgradeBackup {
    /// Refuse the open ([`Error::UpgradeNeedsBackup`]): the default, so that
    /// no upgrade ever runs without the operator having chosen.
    #[default]
    Required,
    /// Take a backup into this backup directory first (incremental with the
    /// backups already there), then upgrade.
    Into(PathBuf),
    /// Upgrade without a backup.
    Skip,
}

/// Checks the store's format version and upgrades an older store, after
/// the backup `backup` asks for; marks a new store with this build's
/// version.
///
/// - Version 4 → 5 and 3 → 5 change no byte: only the version moves, so
///   that an older build refuses the store from then on (it would misread
///   an encrypted tenant's rows and ignore a closing workspace).
/// - Version 2 → 3 changes no byte: every format 2 index entry is a
///   format 3 posting of one row (empty value, its seq in the key), and its
///   per-row time entries are valid per-run ones. Only the version moves,
///   so that a format 2 build, which would read a posting of several rows
///   as one row, refuses the store from then on.
/// - Version 1 → 5 builds the index from the rows.
pub(crate) fn check_format(store: &Store, backup: &UpgradeBackup) -> Result<()> {
    match store.get(Cf::Meta, keys::META_FORMAT)? {
        Some(v) => {
            let found = <[u8; 4]>::try_from(v.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| Error::Corrupt("meta/format_version".into()))?;
            if (1..STORE_FORMAT_VERSION).contains(&found) {
                match backup {
                    UpgradeBackup::Required => return Err(Error::UpgradeNeedsBackup { found, current: STORE_FORMAT_VERSION }),
                    UpgradeBackup::Into(dir) => {
                        store.backup(dir)?;
                    }
                    UpgradeBackup::Skip => {}
                }
            }
            if found == 1 {
                // Version 1 had no index: build it from the rows, then mark
                // the store. A crash in between re-runs the rebuild, which
                // writes the same keys again.
                rebuild_index(store)?;
                return set_format(store);
            }
            if (2..STORE_FORMAT_VERSION).contains(&found) {
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
        // The chunk's rows, per tenant, as one group each.
        let mut postings: HashMap<u64, Postings> = HashMap::new();
        {
            let mut it = store.iter(Cf::Records, &resume, &[0xff; 17], false, ReadMode::Bulk);
            while let Some((k, v)) = it.next()? {
                let (Some(seq), Some(tenant)) = (keys::record_seq(k), keys::record_tenant(k)) else {
                    return Err(Error::Corrupt("malformed record key".into()));
                };
                let record = Record::from_stored(seq, v).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
                let pseudonyms = pseudonyms_of(&record.event);
                let template = IndexTemplate::build(&Indexed::of_record(&record.event, &pseudonyms), None);
                postings.entry(tenant).or_default().add(&template, seq, record.recorded_at);
                n_in_batch += 1;
                if n_in_batch == CHUNK {
                    last_key = Some(k.to_vec());
                    break;
                }
            }
        }
        for (tenant, p) in &postings {
            p.for_each_entry(*tenant, |k, v| batch.put(Cf::Index, k, v));
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
