//! annal-server's integration tests, one binary (RocksDB is linked once):
//! the command line as a real process (`cli`, `checkpoint`, `retention`),
//! the router in-process (`oneshot`), the server over a real socket with a
//! real HTTP client (`socket`, `platform` for workspaces and backups), and
//! a SIGKILL crash test, a full disk under the real server (`diskfull`).
//! `common` holds the one set
//! of helpers they share.

mod backup;
mod checkpoint;
mod cli;
mod common;
mod console;
mod crash;
mod diskfull;
mod encryption;
mod http;
mod layers;
mod platform;
mod quota;
mod retention;
mod socket;
