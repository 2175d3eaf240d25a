//! # annal-server
//!
//! The HTTP ingest/export server (`annal serve`) and the `annal` command
//! line over [`annal_engine`]. The binary (`src/main.rs`) only parses
//! arguments and maps results to exit codes; everything it runs lives here
//! so it can be tested as a library: [`http::app`] is the router (tests call
//! it in-process), [`serve::serve`] runs it on a socket until a shutdown
//! future resolves.

#![deny(missing_docs)]
// The OpenAPI document's schemas (`http::openapi`) are one `serde_json::json!`
// literal, deeper than the macro's default recursion limit allows.
#![recursion_limit = "256"]

pub mod admission;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod problem;
pub mod quota;
pub mod rate_limit;
pub mod serve;
pub mod state;

pub use http::app;
pub use serve::serve;
pub use state::AppState;
