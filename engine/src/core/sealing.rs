//! Encryption at rest: each tenant's data keys, made, wrapped, stored,
//! unwrapped and kept in memory (docs/SECURITY.md, "Encryption at rest";
//! docs/FORMAT.md, "Event format 3").
//!
//! An encrypted tenant has data keys in `tenants` (`'e' ‖ number ‖ key
//! number`), each stored only wrapped under a KEK of the engine's
//! [`KeyProvider`]: key 0 is its **value key** (index values and
//! idempotency keys that may name a person are stored as keyed hashes
//! under it), keys 1 and up its **content keys** (each row's content is
//! sealed under one). A tenant is encrypted from its first row when the
//! engine has a provider and encrypts new tenants; a tenant created
//! without keys stays unencrypted (format 2 rows). annal's own chains
//! (`annal.*`) are never encrypted: restores and upgrades read them with
//! no key at hand, and they hold annal's records, not a customer's.
//!
//! **Content keys rotate** with the UTC month, and sooner after 2^30 rows
//! sealed by this process: with random 96-bit nonces that keeps the
//! chance of a repeated nonce under one key below 2^-35 (NIST SP 800-38D
//! allows 2^32 messages), and bounds how many keys a reader of seven
//! years must unwrap (84 per tenant).
//!
//! **New keys reach the store with the first row sealed under them.** They
//! are made and wrapped on the caller's thread (the provider may be a
//! program that takes milliseconds), kept here as pending entries, and the
//! writer puts them in the batch of the first row that uses them: a row is
//! never durable without the key that opens it (a failed write poisons the
//! engine, and every batch staged after it fails too).
//!
//! **Reading** unwraps a tenant's keys on first use and keeps them; a
//! tenant whose KEK is gone reads as [`Error::Keyring`] naming the cause,
//! and every other tenant reads on. Verification needs no key at all: it
//! reads the clear part each leaf covers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::format::apikey::utc_month;
use crate::format::cipher::{Cipher, SecretKey, WrappedKey};
use crate::format::content::{data_key_context, row_aad, SplitRecord, StoredContent, RECORD_FORMAT_V2};
use crate::format::index::ValueKey;
use crate::format::keys;
use crate::format::record::{DecodeError, Record, RecordRef};
use crate::format::tenant::RESERVED_TENANT_PREFIX;
use crate::keyring::{new_data_key, unwrap_data_key, wrap_data_key, wrap_data_key_under, KeyProvider};
use crate::storage::{Cf, ReadMode, Store};

/// Rows one content key seals in this process before the next is made.
const SEALS_PER_KEY: u64 = 1 << 30;
/// The value key's number.
const VALUE_KEY: u32 = 0;

/// A content key unwrapped for reading, and when.
type Unwrapped = (Arc<Cipher>, Instant);

/// The keys of every tenant, and where new ones come from.
pub(crate) struct Sealing {
    store: Store,
    provider: Option<Arc<dyn KeyProvider>>,
    encrypt_new: bool,
    /// How long an unwrapped key is used before it is unwrapped again: a
    /// KEK destroyed or revoked at its provider stops reads and writes of
    /// its tenants within this time, in a running server too.
    ttl: Duration,
    /// By tenant name: what prepare seals with (`None`: not encrypted).
    writing: RwLock<HashMap<String, Option<Arc<TenantSeal>>>>,
    /// By tenant number: the value key (`None`: not encrypted), and when
    /// it was unwrapped.
    values: RwLock<HashMap<u64, (Option<ValueKey>, Instant)>>,
    /// By tenant number and key number: content keys unwrapped for
    /// reading, and when.
    reading: RwLock<HashMap<(u64, u32), Unwrapped>>,
    /// Held while keys are made, so two threads never make two.
    creating: Mutex<()>,
}

impl std::fmt::Debug for Sealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealing").field("provider", &self.provider).field("encrypt_new", &self.encrypt_new).finish()
    }
}

/// What an encrypted tenant's events are prepared with.
pub(crate) struct TenantSeal {
    /// The tenant, by name.
    pub tenant: String,
    /// Its value key.
    pub values: ValueKey,
    /// The content key's number.
    pub key: u32,
    /// The content key.
    pub cipher: Cipher,
    month: u32,
    made: Instant,
    seals: AtomicU64,
    /// Wrapped-key entries not yet staged: (key number, entry value).
    pending: Mutex<Vec<(u32, Vec<u8>)>>,
}

impl std::fmt::Debug for TenantSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSeal").field("tenant", &self.tenant).field("key", &self.key).finish()
    }
}

impl TenantSeal {
    /// Counts one row sealed.
    pub fn sealed_one(&self) {
        self.seals.fetch_add(1, Ordering::Relaxed);
    }

    /// The key entries the writer must put in the batch of the row it is
    /// staging (once: later rows find them taken).
    pub fn take_pending(&self) -> Vec<(u32, Vec<u8>)> {
        std::mem::take(&mut *self.pending.lock())
    }

    fn usable(&self, month: u32, ttl: Duration) -> bool {
        self.month == month && self.seals.load(Ordering::Relaxed) < SEALS_PER_KEY && self.made.elapsed() < ttl
    }
}

/// The store as features read rows from it: [`Store`] itself (through
/// `Deref`), and each row's content opened under its tenant's key.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    pub store: Store,
    pub sealing: Arc<Sealing>,
}

impl std::ops::Deref for Rows {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Rows {
    /// [`Sealing::open`].
    pub fn open<'a>(&self, n: u64, seq: u64, bytes: &'a [u8]) -> Result<OpenedRecord<'a>> {
        self.sealing.open(n, seq, bytes)
    }

    /// [`Sealing::value_key`].
    pub fn value_key(&self, n: u64) -> Result<Option<ValueKey>> {
        self.sealing.value_key(n)
    }

    /// Row `seq` of tenant `n`, owned.
    pub fn record(&self, n: u64, seq: u64) -> Result<Option<Record>> {
        match self.store.get(Cf::Records, &keys::record(n, seq))? {
            None => Ok(None),
            Some(v) => {
                let opened = self.open(n, seq, &v)?;
                opened.record(seq).map(Some).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))
            }
        }
    }
}

/// A stored record value with its content opened, if it was sealed.
pub(crate) struct OpenedRecord<'a> {
    bytes: &'a [u8],
    /// A record of format 2, decoded (its CRC checked once).
    split: Option<SplitRecord<'a>>,
    content: Option<Zeroizing<Vec<u8>>>,
}

impl OpenedRecord<'_> {
    /// The row, borrowed.
    pub fn record_ref(&self, seq: u64) -> Result<RecordRef<'_>, DecodeError> {
        let opened = self.content.as_deref().map(|c| &c[..]);
        match &self.split {
            Some(split) => crate::format::content::split_record_ref(seq, split, opened),
            None => crate::format::content::record_ref(seq, self.bytes, opened),
        }
    }

    /// The row's content in the clear (event format 3 only).
    pub fn content(&self) -> Result<&[u8], DecodeError> {
        let split = match &self.split {
            Some(s) => *s,
            None => SplitRecord::decode(self.bytes)?,
        };
        match (split.content, &self.content) {
            (StoredContent::Clear(c), _) => Ok(c),
            (StoredContent::Sealed { .. }, Some(c)) => Ok(&c[..]),
            (StoredContent::Sealed { key, .. }, None) => Err(DecodeError::Body(format!("content sealed under key {key}"))),
        }
    }

    /// The row, owned.
    pub fn record(&self, seq: u64) -> Result<Record, DecodeError> {
        self.record_ref(seq).map(|r| r.to_owned())
    }
}

fn keyring_error(what: String) -> Error {
    Error::Keyring(what)
}

impl Sealing {
    pub fn new(store: Store, provider: Option<Arc<dyn KeyProvider>>, encrypt_new: bool, ttl: Duration) -> Sealing {
        Sealing {
            store,
            provider,
            encrypt_new,
            ttl,
            writing: RwLock::new(HashMap::new()),
            values: RwLock::new(HashMap::new()),
            reading: RwLock::new(HashMap::new()),
            creating: Mutex::new(()),
        }
    }

    fn provider(&self, tenant: &str) -> Result<&Arc<dyn KeyProvider>> {
        self.provider.as_ref().ok_or_else(|| {
            keyring_error(format!(
                "the rows of tenant {tenant} are encrypted, and the store was opened without a key provider (give it its \
                 keyring)"
            ))
        })
    }

    /// What `tenant`'s next events are sealed with (`None`: written in the
    /// clear); `number` is its number if it has a chain.
    pub fn for_prepare(&self, tenant: &str, number: Option<u64>, now: u64) -> Result<Option<Arc<TenantSeal>>> {
        let month = utc_month(now);
        let cached = |w: &HashMap<String, Option<Arc<TenantSeal>>>| match w.get(tenant) {
            Some(None) => Some(None),
            Some(Some(s)) if s.usable(month, self.ttl) => Some(Some(Arc::clone(s))),
            _ => None,
        };
        if let Some(s) = cached(&self.writing.read()) {
            return Ok(s);
        }
        let _making = self.creating.lock();
        if let Some(s) = cached(&self.writing.read()) {
            return Ok(s);
        }
        let previous = self.writing.read().get(tenant).cloned().flatten();
        let seal = self.make(tenant, number, now, month, previous.as_deref())?.map(Arc::new);
        // Cached either way: the engine's provider does not change while it
        // is open, so a tenant without keys stays so until it is deleted
        // (`forget`).
        self.writing.write().insert(tenant.to_string(), seal.clone());
        Ok(seal)
    }

    fn make(
        &self,
        tenant: &str,
        number: Option<u64>,
        now: u64,
        month: u32,
        previous: Option<&TenantSeal>,
    ) -> Result<Option<TenantSeal>> {
        if tenant.starts_with(RESERVED_TENANT_PREFIX) {
            return Ok(None);
        }
        let Some(n) = number else {
            let Some(provider) = self.provider.as_ref().filter(|_| self.encrypt_new) else { return Ok(None) };
            let value = new_data_key()?;
            let content = new_data_key()?;
            let pending = vec![
                (VALUE_KEY, wrap_data_key(&**provider, &data_key_context(tenant, VALUE_KEY), &value, now)?.encode()),
                (1, wrap_data_key(&**provider, &data_key_context(tenant, 1), &content, now)?.encode()),
            ];
            return Ok(Some(TenantSeal::new(tenant, ValueKey::new(value), 1, &content, month, pending)));
        };
        let entries = self.entries(n)?;
        let Some((_, value_entry)) = entries.iter().find(|(k, _)| *k == VALUE_KEY) else { return Ok(None) };
        let provider = self.provider(tenant)?;
        let value = unwrap_data_key(&**provider, &data_key_context(tenant, VALUE_KEY), value_entry)?;
        let (last, last_entry) = entries
            .iter()
            .filter(|(k, _)| *k != VALUE_KEY)
            .max_by_key(|(k, _)| *k)
            .cloned()
            .unwrap_or((VALUE_KEY, value_entry.clone()));
        // This process sealed its most with the last key: the next one. (A
        // key only due to be unwrapped again, or of a new month, is not.)
        let exhausted = previous.is_some_and(|p| p.key == last && p.seals.load(Ordering::Relaxed) >= SEALS_PER_KEY);
        if last != VALUE_KEY && utc_month(last_entry.created_at) == month && !exhausted {
            let content = unwrap_data_key(&**provider, &data_key_context(tenant, last), &last_entry)?;
            return Ok(Some(TenantSeal::new(tenant, ValueKey::new(value), last, &content, month, Vec::new())));
        }
        let next = last + 1;
        let content = new_data_key()?;
        let kek = match self.tenant_kek(n)? {
            Some(own) => own,
            None => provider.current_kek()?,
        };
        let entry = wrap_data_key_under(&**provider, &kek, &data_key_context(tenant, next), &content, now)?.encode();
        Ok(Some(TenantSeal::new(tenant, ValueKey::new(value), next, &content, month, vec![(next, entry)])))
    }

    /// Tenant `n`'s stored key entries, by key number.
    fn entries(&self, n: u64) -> Result<Vec<(u32, WrappedKey)>> {
        let from = keys::tenant_key(n, 0);
        let to = keys::tenant_key(n + 1, 0);
        let rows = self.store.scan(Cf::Tenants, &from, &to[..9], false, usize::MAX, ReadMode::Interactive)?;
        rows.into_iter()
            .map(|(k, v)| {
                let key = k.get(9..13).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
                let entry = WrappedKey::decode(&v).ok();
                key.zip(entry).ok_or_else(|| Error::Corrupt(format!("a data key entry of tenant number {n}")))
            })
            .collect()
    }

    fn name(&self, n: u64) -> Result<String> {
        super::reads::tenant_name(&self.store, n)?.ok_or(Error::UnknownTenant)
    }

    /// Tenant `n`'s value key; `None` for a tenant that is not encrypted.
    pub fn value_key(&self, n: u64) -> Result<Option<ValueKey>> {
        match self.values.read().get(&n) {
            Some((None, _)) => return Ok(None),
            Some((Some(v), at)) if at.elapsed() < self.ttl => return Ok(Some(v.clone())),
            _ => {}
        }
        let entry = match self.store.get(Cf::Tenants, &keys::tenant_key(n, VALUE_KEY))? {
            None => None,
            Some(bytes) => {
                Some(WrappedKey::decode(&bytes).map_err(|e| Error::Corrupt(format!("value key of tenant number {n}: {e}")))?)
            }
        };
        let value = match entry {
            None => None,
            Some(entry) => {
                let name = self.name(n)?;
                let key = unwrap_data_key(&**self.provider(&name)?, &data_key_context(&name, VALUE_KEY), &entry)?;
                Some(ValueKey::new(key))
            }
        };
        self.values.write().insert(n, (value.clone(), Instant::now()));
        Ok(value)
    }

    /// Content key `key` of tenant `n`, for reading.
    fn reader(&self, n: u64, key: u32) -> Result<Arc<Cipher>> {
        if let Some((c, at)) = self.reading.read().get(&(n, key)) {
            if at.elapsed() < self.ttl {
                return Ok(Arc::clone(c));
            }
        }
        let name = self.name(n)?;
        let bytes = self.store.get(Cf::Tenants, &keys::tenant_key(n, key))?.ok_or_else(|| {
            keyring_error(format!(
                "content key {key} of tenant {name} is not in the store: its rows sealed under it cannot be read"
            ))
        })?;
        let entry = WrappedKey::decode(&bytes).map_err(|e| Error::Corrupt(format!("content key {key} of tenant {name}: {e}")))?;
        let secret = unwrap_data_key(&**self.provider(&name)?, &data_key_context(&name, key), &entry)?;
        let cipher = Arc::new(Cipher::new(&secret));
        self.reading.write().insert((n, key), (Arc::clone(&cipher), Instant::now()));
        Ok(cipher)
    }

    /// A record value of tenant `n` as read from the store, its content
    /// opened if it is sealed.
    pub fn open<'a>(&self, n: u64, seq: u64, bytes: &'a [u8]) -> Result<OpenedRecord<'a>> {
        if bytes.first() != Some(&RECORD_FORMAT_V2) {
            return Ok(OpenedRecord { bytes, split: None, content: None });
        }
        let split = SplitRecord::decode(bytes).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
        let content = match split.content {
            StoredContent::Clear(_) => None,
            StoredContent::Sealed { key, sealed } => Some(
                self.reader(n, key)?
                    .open(&row_aad(&split.leaf), sealed)
                    .map_err(|e| Error::Corrupt(format!("record {seq}: sealed content: {e}")))?,
            ),
        };
        Ok(OpenedRecord { bytes, split: Some(split), content })
    }

    /// The provider's current KEK.
    pub fn current_kek(&self, tenant: &str) -> Result<String> {
        self.provider(tenant)?.current_kek()
    }

    /// Tenant `n`'s own KEK (bring your own key), if it named one.
    pub fn tenant_kek(&self, n: u64) -> Result<Option<String>> {
        match self.store.get(Cf::Tenants, &keys::tenant_meta(keys::TAG_TENANT_KEK, n))? {
            None => Ok(None),
            Some(v) => String::from_utf8(v)
                .ok()
                .filter(|k| crate::format::cipher::valid_kek_ref(k))
                .map(Some)
                .ok_or_else(|| Error::Corrupt(format!("the KEK reference of tenant number {n}"))),
        }
    }

    /// Whether tenant `n` is encrypted (has a value key).
    pub fn is_encrypted(&self, n: u64) -> Result<bool> {
        Ok(self.store.get(Cf::Tenants, &keys::tenant_key(n, VALUE_KEY))?.is_some())
    }

    /// Every data key of tenant `n` (`tenant`), unwrapped and wrapped
    /// again under `kek` (else its own KEK, else the provider's current):
    /// the `tenants` entries to put. The keys themselves, and so every row,
    /// stay as they are.
    pub fn rewrapped(&self, tenant: &str, n: u64, kek: Option<&str>, now: u64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let provider = self.provider(tenant)?;
        let kek = match kek {
            Some(k) => k.to_string(),
            None => match self.tenant_kek(n)? {
                Some(own) => own,
                None => provider.current_kek()?,
            },
        };
        let mut out = Vec::new();
        for (k, entry) in self.entries(n)? {
            let context = data_key_context(tenant, k);
            let key = unwrap_data_key(&**provider, &context, &entry)?;
            let again = wrap_data_key_under(&**provider, &kek, &context, &key, now)?;
            out.push((keys::tenant_key(n, k).to_vec(), again.encode()));
        }
        Ok(out)
    }

    /// Forgets a tenant's keys (its deletion being staged).
    pub fn forget(&self, tenant: &str, number: Option<u64>) {
        self.writing.write().remove(tenant);
        if let Some(n) = number {
            self.values.write().remove(&n);
            self.reading.write().retain(|(t, _), _| *t != n);
        }
    }
}

impl TenantSeal {
    fn new(
        tenant: &str,
        values: ValueKey,
        key: u32,
        content: &SecretKey,
        month: u32,
        pending: Vec<(u32, Vec<u8>)>,
    ) -> TenantSeal {
        TenantSeal {
            tenant: tenant.to_string(),
            values,
            key,
            cipher: Cipher::new(content),
            month,
            made: Instant::now(),
            seals: AtomicU64::new(0),
            pending: Mutex::new(pending),
        }
    }
}
