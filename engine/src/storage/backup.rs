//! Backups on RocksDB's own backup engine: a backup directory holds any
//! number of backups, numbered from 1; SST files unchanged between two
//! backups are stored once (`shared_checksum/`, named by their checksum
//! and size), so a daily backup of a store that mostly grows copies only
//! the files written since the last one. A backup is one point in time
//! across every column family: the engine stops deleting files, flushes,
//! and copies the live SST files, the manifest and the WAL beside them.
//!
//! A backup whose creation was interrupted (a crash, SIGKILL) is never
//! listed: its files sit in `private/<id>.tmp` until the next backup made
//! in the directory removes them, and the backups before it are untouched.
//! Restoring copies every file of a backup into an empty directory and
//! checks each file's checksum as it goes, so a damaged file fails the
//! restore.

use std::path::Path;

use rocksdb::backup::{BackupEngine, BackupEngineOptions, RestoreOptions};
use rocksdb::Env;

use super::{map_err, Store};
use crate::error::{Error, Result};

/// One backup in a backup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// Its number in the directory, from 1, never reused.
    pub id: u32,
    /// When it was taken, seconds since the Unix epoch (the machine's clock).
    pub created_at: i64,
    /// Bytes of its files (shared ones counted in full).
    pub bytes: u64,
    /// How many files it has.
    pub files: u32,
}

fn open_engine(dir: &Path) -> Result<BackupEngine> {
    std::fs::create_dir_all(dir)?;
    let mut opts = BackupEngineOptions::new(dir).map_err(map_err)?;
    // Every file and the backup's metadata are synced before the backup
    // counts as made: a backup that a power loss could half-undo is no
    // backup.
    opts.set_sync(true);
    let env = Env::new().map_err(map_err)?;
    BackupEngine::open(&opts, &env).map_err(map_err)
}

fn infos(engine: &BackupEngine) -> Vec<BackupInfo> {
    let mut v: Vec<BackupInfo> = engine
        .get_backup_info()
        .into_iter()
        .map(|i| BackupInfo { id: i.backup_id, created_at: i.timestamp, bytes: i.size, files: i.num_files })
        .collect();
    v.sort_by_key(|i| i.id);
    v
}

impl Store {
    /// Takes a new backup of the whole store into `dir` (created if
    /// missing) and returns it. Appends may continue meanwhile; the backup
    /// holds what was durable when it started.
    pub fn backup(&self, dir: &Path) -> Result<BackupInfo> {
        let mut engine = open_engine(dir)?;
        engine.create_new_backup_flush(&*self.db, true).map_err(map_err)?;
        infos(&engine).pop().ok_or_else(|| Error::Storage("backup made but not listed".into()))
    }
}

/// Every complete backup in `dir`, oldest first. A directory without
/// backups (or without any file) lists none.
pub(crate) fn list(dir: &Path) -> Result<Vec<BackupInfo>> {
    if !dir.join("meta").is_dir() {
        return Ok(Vec::new());
    }
    Ok(infos(&open_engine(dir)?))
}

/// Deletes all but the newest `keep` backups, and the files only they used.
pub(crate) fn purge(dir: &Path, keep: usize) -> Result<()> {
    open_engine(dir)?.purge_old_backups(keep).map_err(map_err)
}

/// Checks that every file of backup `id` is present with its recorded size.
pub(crate) fn check_files(dir: &Path, id: u32) -> Result<()> {
    open_engine(dir)?.verify_backup(id).map_err(map_err)
}

/// Copies backup `id` into `target` (a directory that holds no store),
/// checking every file's checksum; the result opens as a store.
pub(crate) fn restore(dir: &Path, id: u32, target: &Path) -> Result<()> {
    let mut engine = open_engine(dir)?;
    let mut opts = RestoreOptions::default();
    opts.set_keep_log_files(false);
    engine.restore_from_backup(target, target, &opts, id).map_err(map_err)
}

/// The ids of every backup whose record (`meta/<id>`) is in `dir`, listed
/// by RocksDB or not (it leaves out a backup that lost a file).
pub(crate) fn recorded_ids(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(dir.join("meta")) else { return Vec::new() };
    let mut ids: Vec<u32> = entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    ids.sort_unstable();
    ids
}

/// The first file of backup `id` that is missing or whose bytes do not
/// match the checksum the backup recorded for it, as its path inside the
/// backup directory with what is wrong. RocksDB's restore reports a
/// mismatch without naming the file, and an operator needs the name: this
/// reads the backup's own record (`meta/<id>`, one `path crc32 <decimal>`
/// line a file) and checks each file against it. `None` when every file
/// matches or the record cannot be read as such.
pub(crate) fn damaged_file(dir: &Path, id: u32) -> Option<String> {
    let meta = std::fs::read_to_string(dir.join("meta").join(id.to_string())).ok()?;
    for line in meta.lines() {
        let mut parts = line.split_whitespace();
        let (Some(path), Some("crc32"), Some(sum)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let Ok(want) = sum.parse::<u32>() else { continue };
        match crc32c_of(&dir.join(path)) {
            Ok(got) if got == want => {}
            Ok(_) => return Some(format!("{path}: its bytes do not match the checksum the backup recorded")),
            Err(e) => return Some(format!("{path}: {e}")),
        }
    }
    None
}

/// CRC-32C (Castagnoli, reflected), the checksum RocksDB's backups record,
/// of a whole file, read in 1 MiB pieces.
fn crc32c_of(path: &Path) -> std::io::Result<u32> {
    use std::io::Read;
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0x82F6_3B78 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    const TABLE: [u32; 256] = table();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut crc = !0u32;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(!crc);
        }
        for b in &buf[..n] {
            crc = TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32c_matches_the_published_check_value() {
        let dir = std::env::temp_dir().join(format!("annal-crc32c-{}", std::process::id()));
        std::fs::write(&dir, b"123456789").unwrap();
        // The check value of CRC-32C (RFC 3720, appendix B.4).
        assert_eq!(super::crc32c_of(&dir).unwrap(), 0xE306_9283);
        std::fs::remove_file(&dir).unwrap();
    }
}
