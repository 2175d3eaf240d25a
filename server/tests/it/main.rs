//! annal-server's integration tests, one binary: the command line as a real
//! process, the router in-process (`oneshot`), the server over a real
//! socket with a real HTTP client, and a SIGKILL crash test.

mod cli;
mod common;
mod crash;
mod http;
mod socket;
