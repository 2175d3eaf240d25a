//! # annal-server
//!
//! The `annal` command line over [`annal_engine`]; the HTTP ingest/export
//! server joins it here. The binary (`src/main.rs`) only parses arguments and
//! maps results to exit codes; everything it runs lives in [`cli`] so it can
//! be tested as a library.

#![deny(missing_docs)]

pub mod cli;
