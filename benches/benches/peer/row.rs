//! One event as the row of the PostgreSQL table a team would create: its
//! fields as columns, `diff` and `metadata` as `jsonb`, and the hash chain
//! the writing service keeps (`prev_hash`, `hash`: SHA-256 over the previous
//! hash and the event's canonical JSON).
//!
//! Everything here is the client's work on the PostgreSQL side, so the
//! ingest rounds time it, as they time building the NDJSON body on annal's.

use std::borrow::Cow;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The event's columns, in the order [`fields`] returns them.
pub const EVENT_COLUMNS: [&str; 20] = [
    "occurred_at",
    "action",
    "actor_type",
    "actor_id",
    "actor_name",
    "actor_email",
    "actor_on_behalf_of",
    "session_id",
    "target_type",
    "target_id",
    "target_name",
    "outcome",
    "ip",
    "user_agent",
    "input_hash",
    "output_hash",
    "key_ref",
    "idempotency_key",
    "diff",
    "metadata",
];

/// The SQL type of an event column (`text` unless named here).
pub fn sql_type(column: &str) -> &'static str {
    match column {
        "occurred_at" => "timestamptz",
        "ip" => "inet",
        "diff" | "metadata" => "jsonb",
        "action" | "actor_type" | "actor_id" => "text NOT NULL",
        _ => "text",
    }
}

/// One column's value: absent (`NULL`), a string of the event, or JSON text.
pub type Field<'a> = Option<Cow<'a, str>>;

/// The event's column values, in [`EVENT_COLUMNS`] order.
pub fn fields(event: &Value) -> [Field<'_>; 20] {
    fn s(v: &Value) -> Field<'_> {
        v.as_str().map(Cow::Borrowed)
    }
    fn json(v: &Value) -> Field<'_> {
        (!v.is_null()).then(|| {
            let mut out = Vec::new();
            canonical_json(v, &mut out);
            Cow::Owned(String::from_utf8(out).expect("JSON text is UTF-8"))
        })
    }
    let (actor, target) = (&event["actor"], &event["target"]);
    [
        s(&event["occurred_at"]),
        s(&event["action"]),
        s(&actor["type"]),
        s(&actor["id"]),
        s(&actor["name"]),
        s(&actor["email"]),
        s(&actor["on_behalf_of"]),
        s(&event["session_id"]),
        s(&target["type"]),
        s(&target["id"]),
        s(&target["name"]),
        s(&event["outcome"]),
        s(&event["ip"]),
        s(&event["user_agent"]),
        s(&event["input_hash"]),
        s(&event["output_hash"]),
        s(&event["key_ref"]),
        s(&event["idempotency_key"]),
        json(&event["diff"]),
        json(&event["metadata"]),
    ]
}

/// Compact JSON with every object's keys sorted: the bytes a team's writer
/// would hash (Python's `json.dumps(sort_keys=True, separators=(",", ":"))`).
pub fn canonical_json(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("writing to a Vec");
                out.push(b':');
                canonical_json(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        other => serde_json::to_writer(&mut *out, other).expect("writing to a Vec"),
    }
}

/// A tenant's hash chain as its writer keeps it: the next seq and the
/// latest hash (32 zero bytes before the first row).
#[derive(Debug, Default)]
pub struct Chain {
    seq: i64,
    head: [u8; 32],
    canonical: Vec<u8>,
}

/// One row's place in its chain.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// 1 for the tenant's first row.
    pub seq: i64,
    /// The previous row's hash.
    pub prev: [u8; 32],
    /// SHA-256(prev ‖ canonical JSON of the event).
    pub hash: [u8; 32],
}

impl Chain {
    /// Links `event` after the chain's head.
    pub fn link(&mut self, event: &Value) -> Link {
        self.canonical.clear();
        canonical_json(event, &mut self.canonical);
        let mut h = Sha256::new();
        h.update(self.head);
        h.update(&self.canonical);
        let link = Link { seq: self.seq + 1, prev: self.head, hash: h.finalize().into() };
        self.seq = link.seq;
        self.head = link.hash;
        link
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `\x` and the bytes in hex: bytea's text input form.
pub fn bytea_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("\\x");
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Appends one row in COPY's text format: tab-separated, `\N` for NULL,
/// backslash escapes. `recorded_at` is given only when the load sets it;
/// ingest leaves it to the column's `DEFAULT now()`.
pub fn copy_line(out: &mut Vec<u8>, tenant: &str, link: &Link, recorded_at: Option<&str>, fields: &[Field<'_>]) {
    copy_text(out, tenant);
    out.push(b'\t');
    out.extend_from_slice(link.seq.to_string().as_bytes());
    if let Some(t) = recorded_at {
        out.push(b'\t');
        copy_text(out, t);
    }
    for f in fields {
        out.push(b'\t');
        match f {
            Some(v) => copy_text(out, v),
            None => out.extend_from_slice(b"\\N"),
        }
    }
    for hash in [&link.prev, &link.hash] {
        out.push(b'\t');
        copy_text(out, &bytea_hex(hash));
    }
    out.push(b'\n');
}

/// COPY text-format escaping of one value.
fn copy_text(out: &mut Vec<u8>, v: &str) {
    for &b in v.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// The column list of a COPY or INSERT, with or without `recorded_at`.
pub fn column_list(with_recorded_at: bool) -> String {
    let mut cols = vec!["tenant", "seq"];
    if with_recorded_at {
        cols.push("recorded_at");
    }
    cols.extend(EVENT_COLUMNS);
    cols.extend(["prev_hash", "hash"]);
    cols.join(", ")
}

/// Checks the canonical JSON and COPY escaping on fixed inputs. Run at the
/// start of every run, smoke runs included (a `harness = false` bench has no
/// unit tests), so a mistake here stops the bench instead of skewing it.
pub fn self_check() {
    let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[{"y":1,"x":2}],"c":"é\n"}}"#).expect("fixed JSON");
    let mut out = Vec::new();
    canonical_json(&v, &mut out);
    assert_eq!(String::from_utf8(out).expect("UTF-8"), r#"{"a":{"c":"é\n","d":[{"x":2,"y":1}]},"b":1}"#);
    let link = Link { seq: 7, prev: [0; 32], hash: [0xab; 32] };
    let mut out = Vec::new();
    copy_line(&mut out, "t", &link, None, &[Some(Cow::Borrowed("a\tb\\c\nd")), None]);
    let line = String::from_utf8(out).expect("UTF-8");
    assert!(line.starts_with("t\t7\ta\\tb\\\\c\\nd\t\\N\t\\\\x0000"), "{line}");
    assert!(line.ends_with(&format!("\\\\x{}\n", "ab".repeat(32))), "{line}");
}
