//! Access to the log is itself logged: every export of a tenant's rows (by
//! the console or any client of the API) becomes a row of that tenant's own
//! chain, `annal.log.exported`, so an auditor reading the log sees who took
//! data out of it, when, with which filter and how many rows; never the
//! rows themselves.
//!
//! The filter's values are what a reader typed (an actor id, a session, an
//! email address typed into a search box), so they go through the tenant's
//! free-text detectors (`Core::free_text`) before they are stored, like a
//! legal hold's reason: the row must not become a copy of personal data the
//! policy keeps out of every other row.

use serde_json::{Map, Value};

use crate::core::Core;
use crate::error::Result;
use crate::event::Actor;
use crate::format::record::Receipt;

/// The action of the row an export leaves in the chain it read.
pub const EXPORTED_ACTION: &str = "annal.log.exported";

/// One export as the chain records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRecord<'a> {
    /// `csv`, `ndjson` or `bundle`.
    pub format: &'a str,
    /// The filter and window as the client gave them (name, value).
    pub filter: &'a [(String, String)],
    /// Rows written to the client.
    pub rows: u64,
    /// Every row of the window went out: the client read to the end.
    pub complete: bool,
}

/// Appends `export`'s row to `tenant`'s chain, by `actor`.
pub(crate) fn record_export(core: &Core, tenant: &str, actor: &Actor, export: &ExportRecord<'_>) -> Result<Receipt> {
    let mut filter = Map::new();
    for (name, value) in export.filter {
        filter.insert(name.clone(), Value::String(core.free_text(tenant, value)?));
    }
    let mut metadata = Map::new();
    metadata.insert("format".into(), export.format.into());
    metadata.insert("filter".into(), Value::Object(filter));
    metadata.insert("rows".into(), export.rows.into());
    metadata.insert("complete".into(), export.complete.into());
    core.append_own(tenant, EXPORTED_ACTION, actor, &metadata, Default::default())
}
