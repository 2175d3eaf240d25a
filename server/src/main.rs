//! `annal`: the command line. Parses arguments and maps results to exit
//! codes; the commands themselves live in `annal_server::cli`.

use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use annal_engine::Durability;
use annal_server::cli::{self, EXIT_ERROR};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "annal", version, about = "Append-only, hash-chained audit-log store")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Append newline-delimited JSON events (one per line) to a tenant's chain.
    Ingest {
        /// Data directory (created if missing).
        #[arg(long, env = "ANNAL_DATA_DIR", default_value = "./annal-data")]
        data_dir: PathBuf,
        /// Tenant (workspace) id.
        #[arg(long)]
        tenant: String,
        /// Events per append (each append is all-or-nothing and one WAL sync).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=10_000))]
        batch_size: u16,
        /// `sync` (fsync before acknowledging, default) or `buffered`.
        #[arg(long, value_enum, default_value_t = DurabilityArg::Sync)]
        durability: DurabilityArg,
        /// Input file, or `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Verify every tenant's chain (or one): exit 0 when intact, 2 when broken.
    Verify {
        /// Data directory.
        #[arg(long, env = "ANNAL_DATA_DIR", default_value = "./annal-data")]
        data_dir: PathBuf,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DurabilityArg {
    Sync,
    Buffered,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("annal: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(args: Args) -> anyhow::Result<u8> {
    let stdout = io::stdout();
    let stderr = io::stderr();
    match args.command {
        Command::Ingest { data_dir, tenant, batch_size, durability, file } => {
            let durability = match durability {
                DurabilityArg::Sync => Durability::Sync,
                DurabilityArg::Buffered => Durability::Buffered,
            };
            // Check before opening: a typo must not leave an empty store behind.
            annal_engine::validate_tenant(&tenant)?;
            let engine = cli::open_for_write(&data_dir, durability)?;
            let opts = cli::ingest::IngestOptions { tenant, batch_size: usize::from(batch_size) };
            let mut input: Box<dyn io::BufRead> = if file == "-" {
                Box::new(io::stdin().lock())
            } else {
                let f = std::fs::File::open(&file).map_err(|e| anyhow::anyhow!("cannot open {file}: {e}"))?;
                Box::new(BufReader::with_capacity(1 << 20, f))
            };
            cli::ingest::run(&engine, &opts, &mut input, &mut stdout.lock(), &mut stderr.lock())
        }
        Command::Verify { data_dir, tenant } => {
            let engine = cli::open_existing(&data_dir)?;
            cli::verify::run(&engine, tenant.as_deref(), &mut stdout.lock(), &mut stderr.lock())
        }
    }
}
