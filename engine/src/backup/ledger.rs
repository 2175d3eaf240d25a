//! The deletion ledger: `deletions.ndjson` beside the backups, one line per
//! step of a tenant's deletion (scheduled, cancelled, deleted), appended and
//! synced. A backup holds the store as it was; a workspace deleted after it
//! was taken would come back with a restore. The ledger is what a restore
//! reads to delete it again: every step the restored platform chain does
//! not already hold (by deletion id and kind) is re-applied, in ledger
//! order (`Backups::restore`).
//!
//! Each line is `{"deletion_id", "kind", "tenant", "platform_seq",
//! "recorded_at", "purge_after"}`: the id every platform row of the
//! deletion carries, which step, the tenant, where and when that row was
//! written, and (for a schedule) when the purge is due. The ledger is written twice
//! over: by whoever deletes a tenant with the backup directory known (the
//! server, `annal tenant delete --backup-dir`), right after the deletion is
//! durable, and from the platform chain itself before every backup, which
//! adds any deletion the first way missed (made offline without the
//! directory, or by a process that died between the row and the line). An
//! id is never written twice.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The ledger's file name inside a backup directory.
pub const LEDGER_FILE: &str = "deletions.ndjson";

/// Which step of a deletion a ledger line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// `annal.tenant.deletion_scheduled`: the tenant closed, to be purged later.
    Scheduled,
    /// `annal.tenant.deletion_cancelled`: the schedule was withdrawn.
    Cancelled,
    /// `annal.tenant.deleted`: the tenant's content was deleted.
    Deleted,
}

/// One step of a tenant deletion, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The deletion's id, as in its platform rows' `deletion_id`.
    pub deletion_id: String,
    /// Which step.
    pub kind: LedgerKind,
    /// The deleted tenant.
    pub tenant: String,
    /// Seq of the `annal.tenant.deleted` row in the platform chain.
    pub platform_seq: u64,
    /// Engine time of that row, ns since the Unix epoch.
    pub recorded_at: u64,
    /// For a schedule: when the purge is due, ns since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_after: Option<u64>,
}

impl LedgerEntry {
    /// What identifies a line: a deletion's id and its step.
    pub fn key(&self) -> (String, LedgerKind) {
        (self.deletion_id.clone(), self.kind)
    }
}

/// The ledger file of one backup directory.
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    /// The ledger of backup directory `dir` (the file need not exist yet).
    pub fn in_dir(dir: &Path) -> Ledger {
        Ledger { path: dir.join(LEDGER_FILE) }
    }

    /// Every entry, in the order written. A torn last line (a crash while
    /// appending) is ignored: its deletion is added again from the platform
    /// chain before the next backup. Any other malformed line is an error
    /// naming the line, since a ledger that silently lost a deletion would
    /// let a restore bring a deleted workspace back.
    pub fn entries(&self) -> Result<Vec<LedgerEntry>> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let lines: Vec<String> = BufReader::new(file).lines().collect::<std::io::Result<_>>()?;
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<LedgerEntry>(line) {
                Ok(e) => out.push(e),
                Err(_) if i + 1 == lines.len() => {}
                Err(e) => {
                    return Err(Error::Backup(format!("{} line {}: {e}", self.path.display(), i + 1)));
                }
            }
        }
        Ok(out)
    }

    /// Appends the entries not in the ledger yet (by id and kind), and
    /// syncs the file before returning. Returns how many were added.
    pub fn add(&self, entries: &[LedgerEntry]) -> Result<usize> {
        let known: HashSet<(String, LedgerKind)> = self.entries()?.iter().map(LedgerEntry::key).collect();
        let mut text = String::new();
        let mut seen = HashSet::new();
        for e in entries {
            if known.contains(&e.key()) || !seen.insert(e.key()) {
                continue;
            }
            text.push_str(&serde_json::to_string(e).map_err(|e| Error::Backup(e.to_string()))?);
            text.push('\n');
        }
        if text.is_empty() {
            return Ok(0);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let new_file = !self.path.exists();
        if !new_file {
            drop_torn_line(&self.path)?;
        }
        let mut f = OpenOptions::new().create(true).append(true).open(&self.path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if new_file {
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
        }
        Ok(seen.len())
    }
}

/// Cuts a last line without its newline (torn by a crash while appending)
/// off the file, so the next line does not run into it.
fn drop_torn_line(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path)?;
    if bytes.last().is_some_and(|b| *b != b'\n') {
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(keep as u64)?;
        f.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, seq: u64) -> LedgerEntry {
        LedgerEntry {
            deletion_id: id.into(),
            kind: LedgerKind::Deleted,
            tenant: "acme".into(),
            platform_seq: seq,
            recorded_at: seq * 10,
            purge_after: None,
        }
    }

    #[test]
    fn entries_are_added_once_and_read_back_in_order() {
        let dir = std::env::temp_dir().join(format!("annal-ledger-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let l = Ledger::in_dir(&dir);
        assert!(l.entries().unwrap().is_empty());
        assert_eq!(l.add(&[entry("a", 1), entry("b", 2), entry("a", 1)]).unwrap(), 2);
        // Another step of the same deletion is its own line.
        let scheduled = LedgerEntry { kind: LedgerKind::Scheduled, purge_after: Some(5), ..entry("a", 0) };
        assert_eq!(l.add(std::slice::from_ref(&scheduled)).unwrap(), 1);
        assert_eq!(l.entries().unwrap()[2], scheduled);
        assert_eq!(l.add(&[scheduled]).unwrap(), 0);
        assert_eq!(l.add(&[entry("b", 2), entry("c", 3)]).unwrap(), 1);
        let ids: Vec<String> = l.entries().unwrap().into_iter().map(|e| e.deletion_id).collect();
        assert_eq!(ids, ["a", "b", "a", "c"]);
        // A torn last line is skipped, and the next append starts a new line.
        std::fs::OpenOptions::new().append(true).open(dir.join(LEDGER_FILE)).unwrap().write_all(b"{\"deletion_id\":\"d").unwrap();
        assert_eq!(l.entries().unwrap().len(), 4);
        assert_eq!(l.add(&[entry("d", 4)]).unwrap(), 1);
        let ids: Vec<String> = l.entries().unwrap().into_iter().map(|e| e.deletion_id).collect();
        assert_eq!(ids, ["a", "b", "a", "c", "d"]);
        // A damaged line before the last is an error naming it.
        let text = std::fs::read_to_string(dir.join(LEDGER_FILE)).unwrap().replacen("\"b\"", "b", 1);
        std::fs::write(dir.join(LEDGER_FILE), text).unwrap();
        let e = l.entries().unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
