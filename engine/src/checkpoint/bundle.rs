//! Export bundles: one file holding a window of a tenant's chain and
//! everything needed to check it with no access to the store
//! (docs/FORMAT.md, "Export bundles").
//!
//! A bundle starts from a head someone can trust — the genesis, the
//! retention anchor, or a signed checkpoint at or before the window — and
//! carries every row from there to a signed checkpoint at or after the
//! window's end: rows inside the window whole, rows outside it only as
//! `(seq, recorded_at, leaf)`, which is all the link needs and shows
//! nothing of their events. The end checkpoint's signature then covers
//! every byte of the window. Every frame has its length and CRC32, so a
//! flipped bit anywhere is caught, and names its frame.

use std::io::{Read, Write};

use super::{key_id, verify_signature, Checkpoint, Checkpointer};
use crate::core::reads;
use crate::error::{Error, FieldError, Result};
use crate::format::chain::{self, Hash};
use crate::format::content::{ClearRef, ContentRef, SplitRecord, StoredContent, RECORD_FORMAT_V2};
use crate::format::keys;
use crate::format::record::{decode_event, StoredRecord};
use crate::storage::{Cf, ReadMode};

/// The first bytes of every bundle: `"annal-bundle\0"` and the bundle version.
pub const MAGIC: &[u8] = b"annal-bundle\0\x01";
/// Largest frame payload a reader accepts (an event is at most 64 KiB by default).
pub const MAX_FRAME: u32 = 16 << 20;

/// Frame kinds.
const HEADER: u8 = 0x01;
const START_CHECKPOINT: u8 = 0x02;
const START_ANCHOR: u8 = 0x03;
const LINK: u8 = 0x04;
const RECORD: u8 = 0x05;
const END_CHECKPOINT: u8 = 0x06;
const END: u8 = 0x7F;

/// What a bundle holds, as written or as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    /// The tenant.
    pub tenant: String,
    /// First seq of the window.
    pub from_seq: u64,
    /// Last seq of the window.
    pub to_seq: u64,
    /// Rows in the window (every one whole).
    pub rows: u64,
    /// Where the recomputation starts: `"genesis"`, `"anchor"` or `"checkpoint"`, and its seq.
    pub start: (&'static str, u64),
    /// Seq of the signed checkpoint at the end.
    pub end_seq: u64,
    /// The signing key's id.
    pub key_id: [u8; 8],
    /// Frames, including header and end.
    pub frames: u64,
}

/// Why a bundle does not verify: the first bad frame (numbered from 0, the
/// header) and its byte offset in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame {frame} (byte {offset}): {reason}")]
pub struct BundleError {
    /// Index of the frame, 0 = header.
    pub frame: u64,
    /// Offset of the frame's first byte.
    pub offset: u64,
    /// What is wrong with it.
    pub reason: String,
}

struct FrameWriter<'w> {
    out: &'w mut dyn Write,
    frames: u64,
}

impl FrameWriter<'_> {
    fn frame(&mut self, kind: u8, payload: &[u8]) -> Result<()> {
        let len = u32::try_from(payload.len()).map_err(|_| Error::Corrupt("bundle frame too large".into()))?;
        let mut head = [0u8; 5];
        head[0] = kind;
        head[1..].copy_from_slice(&len.to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.update(payload);
        self.out.write_all(&head)?;
        self.out.write_all(payload)?;
        self.out.write_all(&crc.finalize().to_be_bytes())?;
        self.frames += 1;
        Ok(())
    }
}

fn checkpoint_payload(cp: &Checkpoint) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + 8 + 32 + 8 + 32 + 64);
    p.extend_from_slice(&cp.seq.to_be_bytes());
    p.extend_from_slice(&cp.recorded_at.to_be_bytes());
    p.extend_from_slice(&cp.head.0);
    p.extend_from_slice(&cp.prev_seq.to_be_bytes());
    p.extend_from_slice(&cp.prev_head.0);
    p.extend_from_slice(&cp.signature);
    p
}

impl Checkpointer {
    /// Writes a bundle of `tenant`'s rows `from_seq..=to_seq` (clipped to
    /// what the store holds: after the retention anchor, up to the head) to
    /// `out`. Makes a checkpoint first when none covers the window's end.
    pub fn write_bundle(&self, tenant: &str, from_seq: u64, to_seq: u64, out: &mut dyn Write) -> Result<BundleReport> {
        let n = self.core.number(tenant)?;
        let store = &self.core.store;
        let anchor = reads::anchor(store, n)?;
        let floor = anchor.map_or(0, |a| a.seq);
        let head = self.core.head(tenant)?;
        let (from, to) = (from_seq.max(floor + 1).max(1), to_seq.min(head.seq));
        if from > to {
            return Err(Error::InvalidQuery(FieldError::new(
                "window",
                format!("holds no stored rows (the chain holds seq {}..={})", floor + 1, head.seq),
            )));
        }
        // The end: a stored checkpoint at or past the window's end, signed
        // by this engine's key, else one made now. Without a key, any
        // stored one will do (a bundle needs no key to be written, only a
        // checkpoint to end it).
        let covering = self.at_or_after(tenant, to)?;
        let (end, public_key, kid) = match (self.public_key(), covering) {
            (Some((pk, kid)), Some(cp)) if cp.public_key == pk => (cp, pk, kid),
            (Some((pk, kid)), _) => (self.checkpoint(tenant)?, pk, kid),
            (None, Some(cp)) => (cp.clone(), cp.public_key, cp.key_id),
            (None, None) => return Err(Error::NoSigningKey),
        };
        // The start: the latest checkpoint of this key at or before the
        // window that retention has not deleted past, else anchor or genesis.
        let start_cp = self.latest_checkpoint_below(tenant, floor, from, &public_key)?;
        let mut w = FrameWriter { out, frames: 0 };
        w.out.write_all(MAGIC)?;
        let mut header = vec![1u8];
        header.extend_from_slice(&u32::try_from(tenant.len()).unwrap_or(u32::MAX).to_be_bytes());
        header.extend_from_slice(tenant.as_bytes());
        header.extend_from_slice(&from.to_be_bytes());
        header.extend_from_slice(&to.to_be_bytes());
        header.extend_from_slice(&public_key);
        header.extend_from_slice(&kid);
        header.extend_from_slice(&self.core.now().to_be_bytes());
        w.frame(HEADER, &header)?;
        let start = match (&start_cp, anchor) {
            (Some(cp), _) => {
                w.frame(START_CHECKPOINT, &checkpoint_payload(cp))?;
                ("checkpoint", cp.seq)
            }
            (None, Some(a)) => {
                let mut p = Vec::with_capacity(48);
                p.extend_from_slice(&a.seq.to_be_bytes());
                p.extend_from_slice(&a.recorded_at.to_be_bytes());
                p.extend_from_slice(&a.head.0);
                w.frame(START_ANCHOR, &p)?;
                ("anchor", a.seq)
            }
            (None, None) => ("genesis", 0),
        };
        let mut next = start.1 + 1;
        while next <= end.seq {
            let rows =
                store.scan(Cf::Records, &keys::record(n, next), &keys::record(n, end.seq + 1), false, 1024, ReadMode::Bulk)?;
            if rows.is_empty() {
                return Err(Error::Corrupt(format!("row {next} is missing; no bundle written")));
            }
            for (k, v) in &rows {
                let seq = keys::record_seq(k).ok_or_else(|| Error::Corrupt("malformed record key".into()))?;
                if seq != next {
                    return Err(Error::Corrupt(format!("row {next} is missing; no bundle written")));
                }
                let mut p = Vec::with_capacity(8 + v.len());
                p.extend_from_slice(&seq.to_be_bytes());
                if (from..=to).contains(&seq) && v.first() == Some(&RECORD_FORMAT_V2) {
                    // A row of event format 3 travels opened: the bundle's
                    // reader holds no key, and checks the content against
                    // the commitment its leaf covers.
                    let opened = self.core.rows.open(n, seq, v)?;
                    let content = opened.content().map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
                    let split = SplitRecord::decode(v).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
                    p.extend_from_slice(&split.with_clear_content(content));
                    w.frame(RECORD, &p)?;
                } else if (from..=to).contains(&seq) {
                    p.extend_from_slice(v);
                    w.frame(RECORD, &p)?;
                } else {
                    let r = StoredRecord::decode(v).map_err(|e| Error::Corrupt(format!("record {seq}: {e}")))?;
                    p.extend_from_slice(&r.recorded_at.to_be_bytes());
                    p.extend_from_slice(&r.leaf.0);
                    w.frame(LINK, &p)?;
                }
                next = seq + 1;
            }
        }
        w.frame(END_CHECKPOINT, &checkpoint_payload(&end))?;
        let count = w.frames;
        w.frame(END, &count.to_be_bytes())?;
        w.out.flush()?;
        Ok(BundleReport {
            tenant: tenant.to_string(),
            from_seq: from,
            to_seq: to,
            rows: to - from + 1,
            start,
            end_seq: end.seq,
            key_id: kid,
            frames: w.frames,
        })
    }
}

impl Checkpointer {
    /// The latest stored checkpoint signed by `public_key` with `lo <= seq < hi`,
    /// read from the top down (a tenant may have many).
    fn latest_checkpoint_below(&self, tenant: &str, lo: u64, hi: u64, public_key: &[u8; 32]) -> Result<Option<Checkpoint>> {
        let n = self.core.number(tenant)?;
        let store = &self.core.store;
        let mut top = keys::record(n, hi);
        loop {
            let rows = store.scan(Cf::Checkpoints, &keys::record(n, lo), &top, true, 64, ReadMode::Interactive)?;
            for (k, v) in &rows {
                let seq = keys::record_seq(k).ok_or_else(|| Error::Corrupt("malformed checkpoint key".into()))?;
                let cp = Checkpoint::decode_value(tenant, seq, v)
                    .map_err(|e| Error::Corrupt(format!("checkpoint of seq {seq}: {e}")))?;
                if cp.public_key == *public_key {
                    return Ok(Some(cp));
                }
            }
            match rows.last() {
                Some((k, _)) if rows.len() == 64 => top = k.clone().try_into().unwrap_or(keys::record(n, lo)),
                _ => return Ok(None),
            }
        }
    }
}

/// Reads a bundle's frames one by one, keeping the position for errors.
struct FrameReader<R> {
    input: R,
    offset: u64,
    frame: u64,
}

impl<R: Read> FrameReader<R> {
    fn err(&self, reason: impl Into<String>) -> BundleError {
        BundleError { frame: self.frame, offset: self.offset, reason: reason.into() }
    }

    fn exact(&mut self, buf: &mut [u8], what: &str) -> std::result::Result<(), BundleError> {
        self.input.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => self.err(format!("the file ends inside the {what}")),
            _ => self.err(format!("cannot read: {e}")),
        })
    }

    /// The next frame's kind and payload, its CRC checked.
    fn next(&mut self) -> std::result::Result<(u8, Vec<u8>), BundleError> {
        let mut head = [0u8; 5];
        self.exact(&mut head, "frame header")?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        if len > MAX_FRAME {
            return Err(self.err(format!("length {len} exceeds the {MAX_FRAME}-byte limit")));
        }
        let mut payload = vec![0u8; len as usize];
        self.exact(&mut payload, "frame payload")?;
        let mut crc = [0u8; 4];
        self.exact(&mut crc, "frame checksum")?;
        let mut h = crc32fast::Hasher::new();
        h.update(&head);
        h.update(&payload);
        if h.finalize() != u32::from_be_bytes(crc) {
            return Err(self.err("CRC32 mismatch"));
        }
        Ok((head[0], payload))
    }

    fn advance(&mut self, payload_len: usize) {
        self.offset += 9 + payload_len as u64;
        self.frame += 1;
    }
}

/// A cursor over a payload that reports short payloads instead of panicking.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        (self.0.len() >= n).then(|| {
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            a
        })
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes(b.try_into().unwrap_or([0; 4])))
    }
    fn hash(&mut self) -> Option<Hash> {
        self.take(32).map(|b| Hash(b.try_into().unwrap_or([0; 32])))
    }
}

fn parse_checkpoint(tenant: &str, public_key: &[u8; 32], kid: &[u8; 8], p: &[u8]) -> Option<Checkpoint> {
    let mut f = Fields(p);
    let cp = Checkpoint {
        tenant: tenant.to_string(),
        seq: f.u64()?,
        recorded_at: f.u64()?,
        head: f.hash()?,
        prev_seq: f.u64()?,
        prev_head: f.hash()?,
        key_id: *kid,
        public_key: *public_key,
        signature: f.take(64)?.try_into().ok()?,
        made_at: 0,
    };
    f.0.is_empty().then_some(cp)
}

/// Verifies a bundle from `input` with nothing but its bytes: every
/// frame's CRC, every leaf and link from the start to the end checkpoint,
/// both checkpoints' signatures. With `required_key`, the bundle must be
/// signed by that public key.
pub fn verify_bundle(input: impl Read, required_key: Option<&[u8; 32]>) -> std::result::Result<BundleReport, BundleError> {
    let mut r = FrameReader { input, offset: 0, frame: 0 };
    let mut magic = [0u8; MAGIC.len()];
    r.exact(&mut magic, "magic")?;
    if magic != MAGIC {
        return Err(r.err("not an annal bundle (bad magic or version)"));
    }
    r.offset = MAGIC.len() as u64;

    let (kind, p) = r.next()?;
    let bad_header = |r: &FrameReader<_>| r.err("malformed header");
    if kind != HEADER {
        return Err(r.err("the first frame must be the header"));
    }
    let mut f = Fields(&p);
    let version = f.take(1).ok_or_else(|| bad_header(&r))?[0];
    if version != 1 {
        return Err(r.err(format!("header version {version} is not 1")));
    }
    let tlen = f.u32().ok_or_else(|| bad_header(&r))? as usize;
    let tenant = std::str::from_utf8(f.take(tlen).ok_or_else(|| bad_header(&r))?)
        .ok()
        .filter(|t| crate::format::tenant::validate_tenant(t).is_ok())
        .ok_or_else(|| r.err("header: invalid tenant id"))?
        .to_string();
    let from = f.u64().ok_or_else(|| bad_header(&r))?;
    let to = f.u64().ok_or_else(|| bad_header(&r))?;
    let public_key: [u8; 32] = f.take(32).and_then(|b| b.try_into().ok()).ok_or_else(|| bad_header(&r))?;
    let kid: [u8; 8] = f.take(8).and_then(|b| b.try_into().ok()).ok_or_else(|| bad_header(&r))?;
    f.u64().ok_or_else(|| bad_header(&r))?;
    if !f.0.is_empty() {
        return Err(bad_header(&r));
    }
    if key_id(&public_key) != kid {
        return Err(r.err("header: the key id is not that of the public key"));
    }
    if required_key.is_some_and(|k| *k != public_key) {
        return Err(r.err("header: signed by another key than the one required"));
    }
    if from == 0 || from > to {
        return Err(r.err("header: the window is empty"));
    }
    r.advance(p.len());

    let (mut prev_head, mut prev_ra, mut seq, start);
    let (kind, p) = r.next()?;
    match kind {
        START_CHECKPOINT => {
            let cp = parse_checkpoint(&tenant, &public_key, &kid, &p).ok_or_else(|| r.err("malformed start checkpoint"))?;
            if !verify_signature(&public_key, &cp.message(), &cp.signature) {
                return Err(r.err("the start checkpoint's signature is not valid"));
            }
            (prev_head, prev_ra, seq, start) = (cp.head, cp.recorded_at, cp.seq, ("checkpoint", cp.seq));
            r.advance(p.len());
        }
        START_ANCHOR => {
            let mut f = Fields(&p);
            let (Some(s), Some(ra), Some(h), true) = (f.u64(), f.u64(), f.hash(), f.0.is_empty()) else {
                return Err(r.err("malformed start anchor"));
            };
            (prev_head, prev_ra, seq, start) = (h, ra, s, ("anchor", s));
            r.advance(p.len());
        }
        // No start frame: the chain's genesis; this frame is the first row.
        _ => (prev_head, prev_ra, seq, start) = (chain::genesis(&tenant), 0, 0, ("genesis", 0)),
    }
    if seq >= from {
        return Err(r.err("the start lies inside the window"));
    }
    let mut pending = if start.0 == "genesis" { Some((kind, p)) } else { None };
    let mut rows = 0u64;
    loop {
        let (kind, p) = match pending.take() {
            Some(f) => f,
            None => r.next()?,
        };
        match kind {
            LINK | RECORD => {
                let mut f = Fields(&p);
                let s = f.u64().ok_or_else(|| r.err("malformed row frame"))?;
                if s != seq + 1 {
                    return Err(r.err(format!("seq {s} where {} was expected", seq + 1)));
                }
                let inside = (from..=to).contains(&s);
                if inside != (kind == RECORD) {
                    return Err(r.err(format!("seq {s}: rows inside the window must be whole, rows outside only links")));
                }
                let (ra, leaf, head) = if kind == RECORD {
                    let rec = StoredRecord::decode(f.0).map_err(|e| r.err(format!("seq {s}: record: {e}")))?;
                    if f.0.first() == Some(&RECORD_FORMAT_V2) {
                        check_content(f.0).map_err(|e| r.err(format!("seq {s}: {e}")))?;
                    } else {
                        decode_event(&rec.event).map_err(|e| r.err(format!("seq {s}: event: {e}")))?;
                    }
                    if chain::leaf_hash(&rec.event) != rec.leaf {
                        return Err(r.err(format!("seq {s}: leaf mismatch")));
                    }
                    rows += 1;
                    (rec.recorded_at, rec.leaf, Some(rec.head))
                } else {
                    let (Some(ra), Some(leaf), true) = (f.u64(), f.hash(), f.0.is_empty()) else {
                        return Err(r.err("malformed link frame"));
                    };
                    (ra, leaf, None)
                };
                if ra < prev_ra {
                    return Err(r.err(format!("seq {s}: recorded_at goes backwards")));
                }
                let link = chain::link_hash(&prev_head, s, ra, &leaf);
                if head.is_some_and(|h| h != link) {
                    return Err(r.err(format!("seq {s}: broken link")));
                }
                (prev_head, prev_ra, seq) = (link, ra, s);
                r.advance(p.len());
            }
            END_CHECKPOINT => {
                let cp = parse_checkpoint(&tenant, &public_key, &kid, &p).ok_or_else(|| r.err("malformed end checkpoint"))?;
                if !verify_signature(&public_key, &cp.message(), &cp.signature) {
                    return Err(r.err("the end checkpoint's signature is not valid"));
                }
                if seq < to {
                    return Err(r.err(format!("the rows end at seq {seq}, before the window's end {to}")));
                }
                if cp.seq != seq || cp.head != prev_head {
                    return Err(
                        r.err(format!("the end checkpoint (seq {}) does not sign the recomputed head at seq {seq}", cp.seq))
                    );
                }
                r.advance(p.len());
                let (kind, p) = r.next()?;
                let count = (p.len() == 8).then(|| u64::from_be_bytes(p[..].try_into().unwrap_or([0; 8])));
                if kind != END || count != Some(r.frame) {
                    return Err(r.err("the end frame is missing or miscounts the frames"));
                }
                r.advance(p.len());
                let mut rest = [0u8; 1];
                if r.input.read(&mut rest).map_err(|e| r.err(format!("cannot read: {e}")))? != 0 {
                    return Err(r.err("bytes after the end frame"));
                }
                return Ok(BundleReport {
                    tenant,
                    from_seq: from,
                    to_seq: to,
                    rows,
                    start,
                    end_seq: cp.seq,
                    key_id: kid,
                    frames: r.frame,
                });
            }
            other => return Err(r.err(format!("unexpected frame kind 0x{other:02x}"))),
        }
    }
}

/// A bundle's row of event format 3: its content in the clear, readable,
/// and hashing to the commitment its clear part (which the leaf covers)
/// ends in.
fn check_content(record: &[u8]) -> std::result::Result<(), String> {
    let split = SplitRecord::decode(record).map_err(|e| format!("record: {e}"))?;
    let StoredContent::Clear(content) = split.content else {
        return Err("the content is sealed; a bundle carries rows opened".into());
    };
    let clear = ClearRef::decode(split.clear).map_err(|e| format!("event: {e}"))?;
    let content = ContentRef::decode(content).map_err(|e| format!("content: {e}"))?;
    if content.commitment() != clear.content {
        return Err("the content does not match the commitment its leaf covers".into());
    }
    content.event(&clear).map_err(|e| format!("content: {e}"))?;
    Ok(())
}
