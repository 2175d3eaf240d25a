//! `gen-corpus`: writes the seeded audit-event corpus as NDJSON, one file per
//! tenant.
//!
//! ```text
//! gen-corpus [--seed N] [--count N] [--out DIR]
//! ```
//!
//! Defaults: `--seed` [`annal_testdata::DEFAULT_SEED`], `--count`
//! [`annal_testdata::DEFAULT_CORPUS_SIZE`], `--out testdata/corpus`. Writes
//! `DIR/<tenant>.ndjson` with one compact JSON event per line, in
//! `occurred_at` order, and prints a one-line summary per file. The same
//! arguments always produce the same bytes.

use annal_testdata::{corpus, DEFAULT_CORPUS_SIZE, DEFAULT_SEED, DEFAULT_TENANTS};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = concat!(
    "usage: gen-corpus [--seed N] [--count N] [--out DIR]\n",
    "  --seed N    generator seed, decimal or 0x-prefixed hex (default 0x616e6e616c000001)\n",
    "  --count N   total number of events over all tenants (default 12000)\n",
    "  --out DIR   output directory, created if missing (default testdata/corpus)",
);

#[derive(Debug)]
struct Args {
    seed: u64,
    count: usize,
    out: PathBuf,
}

fn parse_u64(flag: &str, v: &str) -> Result<u64, String> {
    let v = v.replace('_', "");
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.map_err(|_| format!("{flag}: not a number: {v:?}"))
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args { seed: DEFAULT_SEED, count: DEFAULT_CORPUS_SIZE, out: PathBuf::from("testdata/corpus") };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let mut value = || inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seed" => args.seed = parse_u64("--seed", &value()?)?,
            "--count" => {
                let n = parse_u64("--count", &value()?)?;
                args.count = usize::try_from(n).map_err(|_| "--count: too large".to_owned())?;
            }
            "--out" => args.out = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}

fn run(args: &Args) -> Result<(), String> {
    fs::create_dir_all(&args.out).map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let events = corpus(args.seed, args.count);
    for tenant in DEFAULT_TENANTS {
        let path = args.out.join(format!("{tenant}.ndjson"));
        let file = fs::File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut w = BufWriter::new(file);
        let (mut n, mut bytes) = (0usize, 0usize);
        let (mut first, mut last) = (None, None);
        for (t, ev) in &events {
            if t != tenant {
                continue;
            }
            let line = serde_json::to_string(ev).map_err(|e| e.to_string())?;
            w.write_all(line.as_bytes())
                .and_then(|()| w.write_all(b"\n"))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            n += 1;
            bytes += line.len() + 1;
            let ts = ev["occurred_at"].as_str().map(str::to_owned);
            if first.is_none() {
                first = ts.clone();
            }
            last = ts;
        }
        w.flush().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "{}: {n} events, {bytes} bytes, {} .. {}",
            path.display(),
            first.as_deref().unwrap_or("-"),
            last.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args() {
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(args)) => match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gen-corpus: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("gen-corpus: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
