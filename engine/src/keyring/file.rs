//! The keyring file: KEKs in a JSON file outside the data directory.
//!
//! ```json
//! {"annal_keyring":1,"keys":[
//!   {"id":"kek-3f9a1c0b7d2e4a51","created_at":"2026-12-08T01:40:00Z","material":"<64 hex digits>"},
//!   {"id":"kek-0c41d2aa9e7b3f08","created_at":"2025-06-01T00:00:00Z","destroyed_at":"2026-12-08T02:00:00Z"}]}
//! ```
//!
//! The last key with material is the current one: new data keys are
//! wrapped under it. A destroyed key keeps its entry without its material,
//! so that what was under it reads as "destroyed" rather than "unknown".
//! The file is made only on purpose ([`KeyringFile::init`], `annal keyring
//! init`), with mode 0600; one that others may read is refused, like the
//! signing key. Every change (a new key, a destroyed one) writes a new
//! file beside it and renames it into place, under a lock on the
//! directory, so a crash leaves the old file or the new one and two
//! commands never lose each other's change. The file is read again at
//! every wrap and unwrap: a key destroyed by `annal keyring destroy`
//! unwraps nothing more in a server already running. (Unwrapped data keys
//! the server already holds in memory are the core's to forget.)
//!
//! A wrapped payload is `format::cipher` sealed bytes under the KEK, with
//! `"annal/v1/keyring\0" ‖ kek id` as associated data: a payload wrapped
//! under one KEK does not open under another of the same file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{fill_random, random_nonce, KeyProvider};
use crate::error::{Error, Result};
use crate::format::cipher::{Cipher, SecretKey, KEY_LEN};

/// The `annal_keyring` version this build writes and reads.
pub const KEYRING_FORMAT: u32 = 1;
/// Associated data of a payload wrapped by the keyring: this, then the KEK's id.
const WRAP_DOMAIN: &[u8] = b"annal/v1/keyring\0";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    annal_keyring: u32,
    keys: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    material: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    destroyed_at: Option<String>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(m) = self.material.as_mut() {
            zeroize::Zeroize::zeroize(m);
        }
    }
}

/// One KEK of a keyring, without its material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KekInfo {
    /// The KEK's id (its reference in wrapped-key entries).
    pub id: String,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// When it was destroyed, RFC 3339; `None` while it is live.
    pub destroyed_at: Option<String>,
    /// Whether new data keys are wrapped under it (the last live key).
    pub current: bool,
}

/// A keyring file (see the module docs).
#[derive(Debug, Clone)]
pub struct KeyringFile {
    path: PathBuf,
}

fn err(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Keyring(format!("keyring {}: {what}", path.display()))
}

impl KeyringFile {
    /// Creates a new keyring file at `path` (mode 0600; its directory is
    /// created if missing) holding one new KEK, made at `now` ns; returns
    /// it and the KEK's id. Refuses a path where a file exists: a keyring
    /// replaced by mistake would make everything under its keys unreadable.
    pub fn init(path: &Path, now: u64) -> Result<(KeyringFile, String)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let (entry, id) = new_entry(now)?;
        let doc = Document { annal_keyring: KEYRING_FORMAT, keys: vec![entry] };
        let tmp = write_temporary(path, &doc)?;
        // Linked into place, not renamed: a file already there is never replaced.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(path)?;
                Ok((KeyringFile { path: path.to_owned() }, id))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(err(path, "exists; annal never replaces a keyring (add a key to it with `annal keyring add`)"))
            }
            Err(e) => Err(err(path, e)),
        }
    }

    /// The keyring file at `path`, which must exist, be readable by its
    /// owner only and parse.
    pub fn open(path: &Path) -> Result<KeyringFile> {
        let k = KeyringFile { path: path.to_owned() };
        k.read()?;
        Ok(k)
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every KEK in the file, oldest first, without material.
    pub fn keys(&self) -> Result<Vec<KekInfo>> {
        let doc = self.read()?;
        let current = doc.keys.iter().rposition(|e| e.material.is_some());
        Ok(doc
            .keys
            .iter()
            .enumerate()
            .map(|(i, e)| KekInfo {
                id: e.id.clone(),
                created_at: e.created_at.clone(),
                destroyed_at: e.destroyed_at.clone(),
                current: Some(i) == current,
            })
            .collect())
    }

    /// Adds a new KEK, made at `now` ns, which becomes the current one;
    /// returns its id. Data keys already wrapped stay under their KEK until
    /// re-wrapped.
    pub fn add_key(&self, now: u64) -> Result<String> {
        self.change(|doc| {
            let (entry, id) = new_entry(now)?;
            doc.keys.push(entry);
            Ok(id)
        })
    }

    /// Destroys the KEK `id` at `now` ns: its material leaves the file for
    /// good, and every data key wrapped under it (in the store and in every
    /// copy or backup of it) can never be unwrapped again.
    pub fn destroy_key(&self, id: &str, now: u64) -> Result<()> {
        self.change(|doc| {
            let e = doc.keys.iter_mut().find(|e| e.id == id).ok_or_else(|| err(&self.path, format!("no KEK {id}")))?;
            if e.material.is_none() {
                return Err(err(&self.path, format!("KEK {id} is already destroyed")));
            }
            if let Some(m) = e.material.as_mut() {
                zeroize::Zeroize::zeroize(m);
            }
            e.material = None;
            e.destroyed_at = Some(crate::event::format_rfc3339_nanos(now as i64));
            Ok(())
        })
    }

    fn read(&self) -> Result<Document> {
        let path = &self.path;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path).map_err(|e| err(path, format!("cannot read it: {e}")))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(err(
                    path,
                    format!("may be read by others (mode {:o}); make it 0600", meta.permissions().mode() & 0o777),
                ));
            }
        }
        let text = Zeroizing::new(std::fs::read(path).map_err(|e| err(path, format!("cannot read it: {e}")))?);
        let doc: Document = serde_json::from_slice(&text)
            .map_err(|e| err(path, format!("not a keyring: {}", crate::error::describe_json_error(&e))))?;
        if doc.annal_keyring != KEYRING_FORMAT {
            return Err(err(
                path,
                format!("keyring format {} is not one this build reads ({KEYRING_FORMAT})", doc.annal_keyring),
            ));
        }
        for e in &doc.keys {
            if !crate::format::cipher::valid_kek_ref(&e.id) {
                return Err(err(path, "a key's id is not a valid KEK reference"));
            }
            if e.material.as_deref().is_some_and(|m| parse_material(m).is_none()) {
                return Err(err(path, format!("KEK {}: material must be 64 hex digits", e.id)));
            }
        }
        Ok(doc)
    }

    /// Reads the file, applies `f` and writes the result in its place,
    /// holding the directory's lock throughout.
    fn change<T>(&self, f: impl FnOnce(&mut Document) -> Result<T>) -> Result<T> {
        let _lock = lock_dir(&self.path)?;
        let mut doc = self.read()?;
        let out = f(&mut doc)?;
        let tmp = write_temporary(&self.path, &doc)?;
        std::fs::rename(&tmp, &self.path).map_err(|e| err(&self.path, e))?;
        sync_dir(&self.path)?;
        Ok(out)
    }

    fn material(&self, kek: &str) -> Result<SecretKey> {
        let doc = self.read()?;
        let e = doc.keys.iter().find(|e| e.id == kek).ok_or_else(|| err(&self.path, format!("no KEK {kek}")))?;
        match &e.material {
            Some(m) => Ok(parse_material(m).expect("checked by read")),
            None => Err(err(&self.path, format!("KEK {kek} was destroyed"))),
        }
    }
}

impl KeyProvider for KeyringFile {
    fn current_kek(&self) -> Result<String> {
        let doc = self.read()?;
        let e = doc.keys.iter().rev().find(|e| e.material.is_some());
        e.map(|e| e.id.clone()).ok_or_else(|| err(&self.path, "holds no live KEK; add one with `annal keyring add`"))
    }

    fn wrap(&self, kek: &str, payload: &[u8]) -> Result<Vec<u8>> {
        let cipher = Cipher::new(&self.material(kek)?);
        Ok(cipher.seal(&random_nonce()?, &aad(kek), payload))
    }

    fn unwrap(&self, kek: &str, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let cipher = Cipher::new(&self.material(kek)?);
        cipher.open(&aad(kek), wrapped).map_err(|e| err(&self.path, format!("cannot unwrap under KEK {kek}: {e}")))
    }
}

fn aad(kek: &str) -> Vec<u8> {
    [WRAP_DOMAIN, kek.as_bytes()].concat()
}

fn new_entry(now: u64) -> Result<(Entry, String)> {
    let mut id = [0u8; 8];
    fill_random(&mut id)?;
    let id = format!("kek-{}", hex(&id));
    let mut material = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(&mut material[..])?;
    let entry = Entry {
        id: id.clone(),
        created_at: crate::event::format_rfc3339_nanos(now as i64),
        material: Some(hex(&material[..])),
        destroyed_at: None,
    };
    Ok((entry, id))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_material(text: &str) -> Option<SecretKey> {
    if text.len() != 2 * KEY_LEN || !text.is_ascii() {
        return None;
    }
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(SecretKey::from_bytes(*k))
}

/// Writes `doc` to a new file beside `path` (mode 0600, synced) and
/// returns its name.
fn write_temporary(path: &Path, doc: &Document) -> Result<PathBuf> {
    let text = Zeroizing::new(serde_json::to_vec_pretty(doc).map_err(|e| err(path, e))?);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(&tmp).map_err(|e| err(path, format!("cannot write {}: {e}", tmp.display())))?;
    f.write_all(&text)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(tmp)
}

fn dir_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn sync_dir(path: &Path) -> Result<()> {
    std::fs::File::open(dir_of(path))?.sync_all()?;
    Ok(())
}

/// An exclusive lock on the keyring's directory, held while the file is
/// read, changed and renamed: a lock on the file itself would be on the
/// inode the rename replaces.
#[cfg(target_os = "linux")]
fn lock_dir(path: &Path) -> Result<std::fs::File> {
    let dir = std::fs::File::open(dir_of(path))?;
    rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| err(path, format!("cannot lock its directory: {e}")))?;
    Ok(dir)
}

#[cfg(not(target_os = "linux"))]
fn lock_dir(path: &Path) -> Result<std::fs::File> {
    Ok(std::fs::File::open(dir_of(path))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::{new_data_key, unwrap_data_key, wrap_data_key};

    const NOW: u64 = 1_765_000_000_000_000_000;

    #[test]
    fn a_keyring_wraps_under_its_newest_key_and_unwraps_under_each_until_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf/keyring.json");
        let (ring, first) = KeyringFile::init(&path, NOW).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(ring.current_kek().unwrap(), first);
        let dek = new_data_key().unwrap();
        let old = wrap_data_key(&ring, b"tenant 1/key 1", &dek, NOW).unwrap();
        assert_eq!(old.kek, first);
        assert!(!old.wrapped.windows(8).any(|w| w == &dek.as_bytes()[..8]), "the data key shows through");

        let second = ring.add_key(NOW + 1).unwrap();
        assert_ne!(second, first);
        let new = wrap_data_key(&ring, b"tenant 1/key 1", &dek, NOW).unwrap();
        assert_eq!(new.kek, second);
        for w in [&old, &new] {
            assert_eq!(unwrap_data_key(&ring, b"tenant 1/key 1", w).unwrap().as_bytes(), dek.as_bytes());
            assert!(matches!(unwrap_data_key(&ring, b"tenant 2/key 1", w), Err(Error::Keyring(_))));
        }
        // Under another KEK of the same file the payload does not open.
        let moved = crate::format::cipher::WrappedKey { kek: first.clone(), ..new.clone() };
        assert!(unwrap_data_key(&ring, b"tenant 1/key 1", &moved).is_err());

        // Another process (a fresh handle on the same file) destroys the old KEK.
        KeyringFile::open(&path).unwrap().destroy_key(&first, NOW + 2).unwrap();
        let e = unwrap_data_key(&ring, b"tenant 1/key 1", &old).unwrap_err().to_string();
        assert!(e.contains("destroyed"), "{e}");
        assert_eq!(unwrap_data_key(&ring, b"tenant 1/key 1", &new).unwrap().as_bytes(), dek.as_bytes());
        let keys = ring.keys().unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].destroyed_at.is_some() && !keys[0].current);
        assert!(keys[1].destroyed_at.is_none() && keys[1].current);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("\"material\"").count(), 1, "a destroyed key's material is still in the file");
        assert!(ring.destroy_key(&first, NOW).unwrap_err().to_string().contains("already destroyed"));
        assert!(ring.destroy_key("kek-nope", NOW).unwrap_err().to_string().contains("no KEK kek-nope"));
        ring.destroy_key(&second, NOW + 3).unwrap();
        assert!(ring.current_kek().unwrap_err().to_string().contains("no live KEK"));
    }

    #[test]
    fn a_keyring_is_never_replaced_and_never_read_when_others_may_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        KeyringFile::init(&path, NOW).unwrap();
        let before = std::fs::read(&path).unwrap();
        assert!(KeyringFile::init(&path, NOW).unwrap_err().to_string().contains("never replaces"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = KeyringFile::open(&path).unwrap_err().to_string();
            assert!(e.contains("may be read by others (mode 644)"), "{e}");
        }
        assert!(KeyringFile::open(&dir.path().join("missing.json")).unwrap_err().to_string().contains("cannot read"));
    }

    #[test]
    fn a_damaged_keyring_is_refused_with_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let write = |text: &str| {
            use std::os::unix::fs::OpenOptionsExt;
            let _ = std::fs::remove_file(&path);
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        let key = "00".repeat(32);
        for (text, expect) in [
            ("not json", "not a keyring"),
            (r#"{"annal_keyring":2,"keys":[]}"#, "keyring format 2"),
            (r#"{"annal_keyring":1,"keys":[],"extra":1}"#, "not a keyring"),
            (r#"{"annal_keyring":1,"keys":[{"id":"bad id","created_at":"x"}]}"#, "not a valid KEK reference"),
            (
                &format!(r#"{{"annal_keyring":1,"keys":[{{"id":"k","created_at":"x","material":"{}"}}]}}"#, &key[2..]),
                "64 hex digits",
            ),
            (
                &format!(r#"{{"annal_keyring":1,"keys":[{{"id":"k","created_at":"x","material":"{}zz"}}]}}"#, &key[2..]),
                "64 hex digits",
            ),
        ] {
            write(text);
            let e = KeyringFile::open(&path).unwrap_err().to_string();
            assert!(e.contains(expect), "{text}: {e}");
        }
        write(&format!(r#"{{"annal_keyring":1,"keys":[{{"id":"k","created_at":"x","material":"{key}"}}]}}"#));
        assert_eq!(KeyringFile::open(&path).unwrap().current_kek().unwrap(), "k");
    }

    #[test]
    fn concurrent_changes_never_lose_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        KeyringFile::init(&path, NOW).unwrap();
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| KeyringFile::open(&path).unwrap().add_key(NOW).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let keys = KeyringFile::open(&path).unwrap().keys().unwrap();
        assert_eq!(keys.len(), 9);
        for id in ids {
            assert!(keys.iter().any(|k| k.id == id), "{id} was lost");
        }
    }
}
