//! The format layer: every stored and hashed byte, and nothing else.
//!
//! Each module here turns values into the bytes annal stores or hashes and
//! back: the chain's hashes ([`chain`]), the key of every column family
//! ([`keys`], [`index`]), the stored record and the small values beside it
//! ([`record`]), the tenant id's syntax ([`tenant`]), retention's values
//! ([`retention`]), the signed checkpoint ([`checkpoint`]), the API key
//! entry ([`apikey`]) and encrypted bytes with the wrapped keys that open
//! them ([`cipher`]). docs/FORMAT.md specifies all of it; testdata/golden/
//! pins it.
//!
//! **Layer rule.** Nothing here does I/O or knows the store: these modules
//! import only each other, the error type, and the event model below them
//! (`event`, `canonical_json`, `redact`). Everything above (storage, the
//! core, the features, the façade) may use them; they never use anything
//! above. `engine/tests/it/layers.rs` enforces it.

pub mod apikey;
pub mod chain;
pub mod checkpoint;
pub mod cipher;
pub mod content;
pub mod index;
pub mod json;
pub mod keys;
pub mod record;
pub mod retention;
pub mod tenant;
