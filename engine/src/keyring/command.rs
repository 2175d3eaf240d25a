//! The external key command: KEKs held by a program the operator names.
//!
//! annal runs `PROGRAM [ARGS…] wrap KEK` or `PROGRAM [ARGS…] unwrap KEK`,
//! writes one line of standard base64 to its standard input (the payload,
//! or the wrapped bytes) and reads one line of base64 from its standard
//! output (the wrapped bytes, or the payload). Exit status 0 is success;
//! anything else is a refusal, reported with the first line of the
//! program's standard error. `current-kek` is not asked of the program:
//! the operator configures which KEK new keys go under.
//!
//! This is the shape of git's credential helpers and of the KMS command
//! lines (`aws kms encrypt`, `vault write transit/encrypt/…`), so a few
//! lines of shell reach a cloud KMS or Vault's transit engine without annal
//! linking their SDKs (docs/OPERATIONS.md, "Encryption keys", has a worked
//! example; `engine/tests/it/keyring.rs` drives a real script).
//!
//! The program runs with annal's environment, no shell in between, and a
//! deadline ([`KeyCommand::timeout`], 10 s by default): one that hangs is
//! killed and the wrap or unwrap fails, naming the KEK.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use zeroize::Zeroizing;

use super::KeyProvider;
use crate::error::{Error, Result};
use crate::format::cipher::valid_kek_ref;

/// Most bytes read from the program's standard output: a wrapped data key
/// is a few hundred bytes in any KMS's encoding.
const MAX_OUTPUT: u64 = 64 * 1024;
/// Most bytes of its standard error kept for the message.
const MAX_ERROR: u64 = 4 * 1024;

/// A program that wraps and unwraps under KEKs it holds (module docs).
#[derive(Debug, Clone)]
pub struct KeyCommand {
    argv: Vec<String>,
    kek: String,
    timeout: Duration,
}

impl KeyCommand {
    /// The program `argv[0]` with its arguments `argv[1..]`, wrapping new
    /// data keys under the KEK `kek` (a name the program understands).
    pub fn new(argv: Vec<String>, kek: &str) -> Result<KeyCommand> {
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(Error::InvalidOption { option: "keyring_command", message: "names no program".into() });
        }
        if !valid_kek_ref(kek) {
            return Err(Error::InvalidOption {
                option: "keyring_kek",
                message: "must be 1 to 256 ASCII letters, digits and . _ - : / @ +".into(),
            });
        }
        Ok(KeyCommand { argv, kek: kek.to_owned(), timeout: Duration::from_secs(10) })
    }

    /// The deadline of one run of the program.
    pub fn timeout(mut self, timeout: Duration) -> KeyCommand {
        self.timeout = timeout;
        self
    }

    fn run(&self, verb: &str, kek: &str, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if !valid_kek_ref(kek) {
            return Err(Error::Keyring(format!("{verb}: not a valid KEK reference")));
        }
        let fail = |what: String| Error::Keyring(format!("key command {} {verb} {kek}: {what}", self.argv[0]));
        let mut command = Command::new(&self.argv[0]);
        // Its own process group, so that a program killed at the deadline
        // takes whatever it started with it (a child still holding the
        // output pipe would otherwise keep us reading).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .args(&self.argv[1..])
            .args([verb, kek])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot start it: {e}")))?;
        let line = Zeroizing::new(format!("{}\n", base64::engine::general_purpose::STANDARD.encode(input)));
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        // Input, output and error each on their own thread: a program that
        // writes before it has read everything must not deadlock with us.
        let (out, errors, status) = std::thread::scope(|s| {
            let writer = s.spawn(move || stdin.write_all(line.as_bytes()));
            let reader = s.spawn(move || {
                let mut buf = Zeroizing::new(Vec::new());
                (&mut stdout).take(MAX_OUTPUT + 1).read_to_end(&mut buf).map(|_| buf)
            });
            let error_reader = s.spawn(move || {
                let mut buf = Vec::new();
                let _ = (&mut stderr).take(MAX_ERROR).read_to_end(&mut buf);
                buf
            });
            let status = wait(&mut child, self.timeout);
            // A program that exits without reading its input breaks the
            // pipe; its exit status says what happened.
            let _ = writer.join();
            (reader.join(), error_reader.join().unwrap_or_default(), status)
        });
        let status = status.map_err(|e| fail(e.to_string()))?;
        // Before the status: we stop reading past the bound, and a program
        // still writing then dies of the broken pipe.
        if out.as_ref().is_ok_and(|o| o.as_ref().is_ok_and(|o| o.len() as u64 > MAX_OUTPUT)) {
            return Err(fail(format!("answered more than {MAX_OUTPUT} bytes")));
        }
        if !status.success() {
            let text = String::from_utf8_lossy(&errors);
            let first = text.lines().next().unwrap_or("").chars().take(200).collect::<String>();
            return Err(fail(format!(
                "refused ({status}){}",
                if first.is_empty() { String::new() } else { format!(": {first}") }
            )));
        }
        let out = match out {
            Ok(Ok(out)) => out,
            _ => return Err(fail("its output could not be read".into())),
        };
        let text = std::str::from_utf8(&out).map_err(|_| fail("answered something other than base64".into()))?;
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            return Err(fail("answered nothing".into()));
        }
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Zeroizing::new)
            .map_err(|_| fail("answered something other than one line of base64".into()))
    }
}

/// Waits for `child` until `timeout`, killing it then.
fn wait(child: &mut std::process::Child, timeout: Duration) -> std::io::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            #[cfg(target_os = "linux")]
            if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("gave no answer within {} ms and was killed", timeout.as_millis()),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

impl KeyProvider for KeyCommand {
    fn current_kek(&self) -> Result<String> {
        Ok(self.kek.clone())
    }

    fn wrap(&self, kek: &str, payload: &[u8]) -> Result<Vec<u8>> {
        let wrapped = self.run("wrap", kek, payload)?;
        Ok(wrapped.to_vec())
    }

    fn unwrap(&self, kek: &str, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.run("unwrap", kek, wrapped)
    }
}
