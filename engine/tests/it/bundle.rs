//! Export bundles: written from a real store, verified from their bytes
//! alone — by annal and by testdata/verify_bundle.py, a verifier written
//! from docs/FORMAT.md — and any single flipped bit is caught.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use annal_engine::checkpoint::verify_bundle;
use annal_engine::record::{decode_event, encode_event, StoredRecord};
use annal_engine::{Engine, ManualClock, Policy, Retention, RunOptions, Tier};
use proptest::prelude::*;

use crate::{event, T0};

const DAY: u64 = 86_400_000_000_000;

fn open(dir: &Path, clock: &Arc<ManualClock>) -> Engine {
    Engine::builder(dir).clock(clock.clone()).default_policy(Policy::off()).signing_key(crate::KEY).open().unwrap()
}

fn append(engine: &Engine, n: u64) {
    let events: Vec<_> = (0..n).map(event).collect();
    engine.append("t", &events).unwrap();
}

fn bundle(engine: &Engine, from: u64, to: u64) -> Vec<u8> {
    let mut out = Vec::new();
    engine.write_bundle("t", from, to, &mut out).unwrap();
    out
}

/// Rows 1..=30, checkpoint, 31..=60, checkpoint; the bundle of 35..=45
/// starts at the checkpoint of 30 (links 31..=34) and ends at that of 60
/// (links 46..=60).
fn sample() -> &'static Vec<u8> {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let engine = open(dir.path(), &clock);
        append(&engine, 30);
        engine.checkpoint("t").unwrap();
        append(&engine, 30);
        engine.checkpoint("t").unwrap();
        bundle(&engine, 35, 45)
    })
}

pub fn python(bytes: &[u8], key: Option<&str>) -> (bool, String) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), bytes).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/verify_bundle.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script).arg(f.path());
    if let Some(k) = key {
        cmd.arg(k);
    }
    let out = cmd.output().expect("python3 (scripts/setup.sh installs blake3 and cryptography)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(0) || out.status.code() == Some(2), "verify_bundle.py failed to run: {text}");
    (out.status.success(), text)
}

#[test]
fn bundles_cover_their_window_from_a_trusted_start_to_a_checkpoint() {
    let r = verify_bundle(&sample()[..], None).unwrap();
    assert_eq!((r.from_seq, r.to_seq, r.rows, r.start, r.end_seq), (35, 45, 11, ("checkpoint", 30), 60));
    assert_eq!(python(sample(), None), (true, "ok t 35 45 11 60\n".into()));

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(dir.path(), &clock);
    engine.set_retention("t", Retention::Tier(Tier::Free), crate::checkpoint::operator()).unwrap();
    append(&engine, 20);
    // No checkpoint yet: the bundle makes one for its end; the start is the genesis.
    let b = bundle(&engine, 1, 5);
    let r = verify_bundle(&b[..], None).unwrap();
    assert_eq!((r.start, r.end_seq, r.rows), (("genesis", 0), 21, 5));
    assert!(python(&b, None).0);
    // With the key required: the right one passes, another fails (both verifiers).
    let (pk, _) = engine.checkpoint_public_key().unwrap();
    assert!(verify_bundle(&b[..], Some(&pk)).is_ok());
    assert!(verify_bundle(&b[..], Some(&[9; 32])).is_err());
    let hex: String = pk.iter().map(|x| format!("{x:02x}")).collect();
    assert!(python(&b, Some(&hex)).0);
    assert!(!python(&b, Some(&"09".repeat(32))).0);

    // After retention deleted a prefix (and no checkpoint is left before
    // the window), the bundle starts at the anchor.
    clock.advance(91 * DAY);
    append(&engine, 10);
    engine.run_retention(&RunOptions::default()).unwrap();
    let b = bundle(&engine, 1, u64::MAX);
    let r = verify_bundle(&b[..], None).unwrap();
    assert_eq!(r.from_seq, 22, "clipped to the first stored row");
    assert!(matches!(r.start, ("anchor", 21) | ("checkpoint", 21)), "{:?}", r.start);
    assert_eq!(r.to_seq, engine.head("t").unwrap().seq);
    assert!(python(&b, None).0);
    // A window by time.
    assert_eq!(engine.seqs_recorded_in("t", T0 + 91 * DAY, u64::MAX).unwrap().map(|w| w.0), Some(22));
    assert_eq!(engine.seqs_recorded_in("t", 0, T0).unwrap(), None);
    // An empty window is refused, naming it.
    let e = engine.write_bundle("t", 1, 10, &mut Vec::new()).unwrap_err().to_string();
    assert!(e.contains("window"), "{e}");
}

#[test]
fn a_rewritten_record_with_fixed_checksums_is_caught_by_both_verifiers() {
    // Edit an event inside the window and recompute its leaf, its value's
    // CRC and its frame's CRC: only the chain and the signature can tell.
    let mut b = sample().clone();
    let magic = annal_engine::checkpoint::bundle::MAGIC.len();
    let mut at = magic;
    let mut edited = false;
    while at < b.len() {
        let len = u32::from_be_bytes(b[at + 1..at + 5].try_into().unwrap()) as usize;
        if b[at] == 0x05 && !edited {
            let payload = &b[at + 5..at + 5 + len];
            let seq = u64::from_be_bytes(payload[..8].try_into().unwrap());
            let mut rec = StoredRecord::decode(&payload[8..]).unwrap();
            let mut ev = decode_event(&rec.event).unwrap();
            ev.actor_id = "u_x".into(); // same length as u_0..u_6
            rec.event = encode_event(&ev);
            rec.leaf = annal_engine::chain::leaf_hash(&rec.event);
            let mut p = seq.to_be_bytes().to_vec();
            p.extend_from_slice(&rec.encode());
            assert_eq!(p.len(), len);
            b[at + 5..at + 5 + len].copy_from_slice(&p);
            let crc = crc32fast::hash(&b[at..at + 5 + len]);
            b[at + 5 + len..at + 9 + len].copy_from_slice(&crc.to_be_bytes());
            edited = true;
        }
        at += 9 + len;
    }
    assert!(edited);
    let e = verify_bundle(&b[..], None).unwrap_err();
    assert!(e.reason.contains("broken link"), "{e}");
    let (ok, text) = python(&b, None);
    assert!(!ok && text.contains("link"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// Any single bit flipped anywhere in a bundle fails verification.
    #[test]
    fn any_single_bit_flip_is_detected(bit in 0usize..(sample().len() * 8)) {
        let mut b = sample().clone();
        b[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_bundle(&b[..], None).is_err(), "bit {bit} of {} bytes", b.len());
    }
}

#[test]
fn the_independent_verifier_catches_flips_in_every_frame_kind() {
    let b = sample();
    // One flip per frame (in its payload), and one in the magic and the last CRC.
    let mut positions = vec![3, b.len() - 1];
    let mut at = annal_engine::checkpoint::bundle::MAGIC.len();
    while at < b.len() {
        let len = u32::from_be_bytes(b[at + 1..at + 5].try_into().unwrap()) as usize;
        positions.push(at + 5 + len / 2);
        at += 9 + len;
    }
    for p in positions {
        let mut x = b.clone();
        x[p] ^= 0x10;
        assert!(!python(&x, None).0, "byte {p}");
        assert!(verify_bundle(&x[..], None).is_err(), "byte {p}");
    }
    // Truncated anywhere: both refuse.
    for cut in [10, b.len() / 2, b.len() - 1] {
        assert!(!python(&b[..cut], None).0);
        assert!(verify_bundle(&b[..cut], None).is_err());
    }
}

/// The bundle bytes are pinned: testdata/golden/bundle-v1.bundle, from a
/// fixed key, clock and events (check_golden.py verifies the same file
/// with testdata/verify_bundle.py). `ANNAL_BLESS=1` writes it, for a new
/// file only: a change to these bytes is a new bundle version.
#[test]
fn the_bundle_bytes_match_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::builder(dir.path())
        .clock(clock.clone())
        .default_policy(Policy::off())
        .signing_key(annal_engine::KeySource::Seed([7; 32]))
        .open()
        .unwrap();
    for i in 0..12 {
        engine.append("t", &[event(i)]).unwrap();
        clock.advance(1_000_000_000);
        if i == 4 {
            engine.checkpoint("t").unwrap();
        }
    }
    let b = bundle(&engine, 7, 9);
    let r = verify_bundle(&b[..], None).unwrap();
    assert_eq!((r.start, r.from_seq, r.to_seq, r.end_seq), (("checkpoint", 5), 7, 9, 12));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden/bundle-v1.bundle");
    if std::env::var_os("ANNAL_BLESS").is_some() && !path.exists() {
        std::fs::write(&path, &b).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), b, "bundle bytes changed: that is a new bundle version");
}

#[test]
fn a_bundle_starts_from_a_checkpoint_of_its_own_key() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let with = |seed: u8| {
        Engine::builder(dir.path())
            .clock(clock.clone())
            .default_policy(Policy::off())
            .signing_key(annal_engine::KeySource::Seed([seed; 32]))
            // Each switch is a rotation: a row of the chain and a checkpoint
            // of the new key (the one at 75 is above the window's start).
            .rotate_signing_key()
            .open()
            .unwrap()
    };
    let a = with(1);
    append(&a, 3);
    a.checkpoint("t").unwrap();
    drop(a);
    // Another key signs the next 70 (more than one page of the downward scan).
    let b = with(2);
    for _ in 0..70 {
        append(&b, 1);
        b.checkpoint("t").unwrap();
    }
    drop(b);
    let a = with(1);
    append(&a, 2);
    let bytes = bundle(&a, 74, 75);
    let r = verify_bundle(&bytes[..], Some(&a.checkpoint_public_key().unwrap().0)).unwrap();
    assert_eq!((r.start, r.end_seq), (("checkpoint", 3), 75));
}
