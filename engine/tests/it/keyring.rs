//! Key providers driven for real: the external key command as a process
//! (`testdata/key_command.py`, and shell programs that refuse, hang or
//! answer nonsense), beside the keyring file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use annal_engine::keyring::{new_data_key, unwrap_data_key, wrap_data_key, KeyCommand, KeyProvider, KeyringFile};
use annal_engine::Error;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/key_command.py")
}

fn python_command(keydir: &Path, kek: &str) -> KeyCommand {
    let argv = vec!["python3".into(), script().display().to_string(), keydir.display().to_string()];
    KeyCommand::new(argv, kek).unwrap()
}

fn sh(program: &str) -> KeyCommand {
    // `sh -c PROGRAM sh wrap KEK`: the verb and KEK arrive as $1 and $2.
    KeyCommand::new(vec!["sh".into(), "-c".into(), program.into(), "sh".into()], "kek-1").unwrap()
}

#[test]
fn an_external_command_wraps_and_unwraps_and_a_kek_it_disables_shreds_what_was_under_it() {
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("transit_annal"), [7u8; 32]).unwrap();
    std::fs::write(keys.path().join("transit_other"), [8u8; 32]).unwrap();
    let cmd = python_command(keys.path(), "transit/annal");
    assert_eq!(cmd.current_kek().unwrap(), "transit/annal");

    let dek = new_data_key().unwrap();
    let w = wrap_data_key(&cmd, b"tenant 1/key 1", &dek, 1).unwrap();
    assert_eq!(w.kek, "transit/annal");
    assert!(!w.wrapped.windows(8).any(|x| x == &dek.as_bytes()[..8]), "the data key shows through");
    assert_eq!(unwrap_data_key(&cmd, b"tenant 1/key 1", &w).unwrap().as_bytes(), dek.as_bytes());
    // Bytes the command made for one tenant's key are refused for another's.
    assert!(unwrap_data_key(&cmd, b"tenant 2/key 1", &w).unwrap_err().to_string().contains("not wrapped for this place"));
    // The command's own refusal under another KEK, with its message.
    let other = annal_engine::cipher::WrappedKey { kek: "transit/other".into(), ..w.clone() };
    let e = unwrap_data_key(&cmd, b"tenant 1/key 1", &other).unwrap_err().to_string();
    assert!(e.contains("unwrap transit/other") && e.contains("authentication failed under transit/other"), "{e}");

    // The KMS disables the key: nothing under it unwraps, with its reason.
    std::fs::remove_file(keys.path().join("transit_annal")).unwrap();
    let e = unwrap_data_key(&cmd, b"tenant 1/key 1", &w).unwrap_err();
    assert!(matches!(&e, Error::Keyring(m) if m.contains("refused") && m.contains("no key transit/annal")), "{e}");
}

#[test]
fn a_command_that_refuses_hangs_or_answers_nonsense_fails_with_what_it_did() {
    let payload = b"payload";
    let cases: [(&str, &str); 5] = [
        ("echo 'key kek-1 is disabled' >&2; exit 3", "refused (exit status: 3): key kek-1 is disabled"),
        ("cat >/dev/null; echo '!!not base64'", "answered something other than one line of base64"),
        ("cat >/dev/null; head -c 200000 /dev/zero | base64 -w0", "answered more than 65536 bytes"),
        ("exit 0", "answered nothing"),
        ("printf '%s' \"$1 $2\" | base64", ""),
    ];
    for (program, expect) in cases {
        let r = sh(program).wrap("kek-1", payload);
        if expect.is_empty() {
            // The program sees the verb and the KEK as its last two arguments.
            assert_eq!(r.unwrap(), b"wrap kek-1");
        } else {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(expect) && e.contains("wrap kek-1"), "{program}: {e}");
        }
    }
    let e = KeyCommand::new(vec!["/nonexistent/annal-kms".into()], "k").unwrap().wrap("k", payload).unwrap_err();
    assert!(e.to_string().contains("cannot start it"), "{e}");
    // A program that hangs, and leaves a child holding its output open, is
    // killed with its child at the deadline.
    let started = Instant::now();
    let e = sh("sleep 30 & sleep 30").timeout(Duration::from_millis(300)).unwrap("kek-1", payload).unwrap_err();
    assert!(e.to_string().contains("gave no answer within 300 ms and was killed"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    // Names that are not KEK references never reach a command line.
    assert!(matches!(KeyCommand::new(vec!["x".into()], "a b"), Err(Error::InvalidOption { option: "keyring_kek", .. })));
    assert!(matches!(KeyCommand::new(vec![], "k"), Err(Error::InvalidOption { option: "keyring_command", .. })));
    assert!(sh("exit 0").unwrap("$(reboot)", payload).unwrap_err().to_string().contains("not a valid KEK reference"));
}

#[test]
fn a_data_key_wrapped_by_one_keyring_does_not_open_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = KeyringFile::init(&dir.path().join("a.json"), 1).unwrap();
    let (b, _) = KeyringFile::init(&dir.path().join("b.json"), 1).unwrap();
    let dek = new_data_key().unwrap();
    let w = wrap_data_key(&a, b"ctx", &dek, 1).unwrap();
    // b has no KEK of that id.
    assert!(unwrap_data_key(&b, b"ctx", &w).unwrap_err().to_string().contains("no KEK"));
}
