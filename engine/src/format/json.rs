//! A stored row as JSON, written straight into a buffer: the shape of
//! [`Record::to_json`] (the HTTP API's rows, `annal query`, NDJSON exports)
//! without building a `serde_json::Value` tree per row. Object members come
//! in the order `serde_json` sorts them, so the text is what serializing
//! `to_json` gives, except `diff` and `metadata`: they are the stored
//! canonical JSON text itself (docs/FORMAT.md, "Canonical JSON"), the very
//! bytes the leaf covers, instead of that text parsed and printed again
//! (the same values; a number may be spelled differently, e.g. `0.000001`
//! instead of `1e-6`).

use std::fmt::Write as _;

use crate::canonical_json::write_string;
use crate::event::{write_rfc3339_nanos, EventRecord};
use crate::format::chain::Hash;
use crate::format::record::{EventRef, Record, RecordRef};

/// Writes the members of one object, with the commas between them.
struct Members<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> Members<'o> {
    fn open(out: &'o mut String) -> Members<'o> {
        out.push('{');
        Members { out, first: true }
    }

    fn name(&mut self, name: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
        self.out
    }

    fn str(&mut self, name: &str, value: &str) {
        write_string(value, self.name(name));
    }

    fn opt(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(name, v);
        }
    }

    fn num(&mut self, name: &str, value: impl std::fmt::Display) {
        let out = self.name(name);
        let _ = write!(out, "{value}");
    }

    /// An instant as its RFC 3339 text (which needs no escaping).
    fn time(&mut self, name: &str, ns: i64) {
        let out = self.name(name);
        out.push('"');
        write_rfc3339_nanos(ns, out);
        out.push('"');
    }

    fn hash(&mut self, name: &str, h: &Hash) {
        let out = self.name(name);
        out.push('"');
        h.push_hex(out);
        out.push('"');
    }

    /// Stored canonical JSON, as it is; text a damaged store holds that is
    /// not JSON is shown as a string rather than failing the read.
    fn json(&mut self, name: &str, text: Option<&str>) {
        let Some(t) = text else { return };
        let valid = serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok();
        let out = self.name(name);
        if valid {
            out.push_str(t);
        } else {
            write_string(t, out);
        }
    }

    fn close(self) {
        self.out.push('}');
    }
}

impl EventRef<'_> {
    /// Appends the event as one JSON object (see the module doc).
    pub fn write_json(&self, out: &mut String) {
        let mut m = Members::open(out);
        m.str("action", self.action);
        let actor = m.name("actor");
        let mut a = Members::open(actor);
        a.opt("email", self.actor_email);
        a.str("id", self.actor_id);
        a.opt("name", self.actor_name);
        a.opt("on_behalf_of", self.on_behalf_of);
        a.str("type", self.actor_type.as_str());
        a.close();
        m.json("diff", self.diff);
        m.opt("idempotency_key", self.idempotency_key);
        m.opt("input_hash", self.input_hash);
        m.opt("ip", self.ip);
        m.opt("key_ref", self.key_ref);
        m.json("metadata", self.metadata);
        if let Some(ns) = self.occurred_at {
            m.time("occurred_at", ns);
        }
        m.opt("outcome", self.outcome.map(|o| o.as_str()));
        m.opt("output_hash", self.output_hash);
        m.opt("session_id", self.session_id);
        if let Some((kind, id, name)) = self.target {
            let mut t = Members::open(m.name("target"));
            t.str("id", id);
            t.opt("name", name);
            t.str("type", kind);
            t.close();
        }
        m.opt("user_agent", self.user_agent);
        m.close();
    }

    /// Appends the redactions applied to the event as a JSON array,
    /// `[{"how": …, "path": …}, …]` (a row's `redactions` member, and the
    /// CSV export's cell of that name).
    pub fn write_redactions_json(&self, out: &mut String) {
        out.push('[');
        for (i, (path, how)) in self.redactions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mut r = Members::open(out);
            r.str("how", how);
            r.str("path", path);
            r.close();
        }
        out.push(']');
    }
}

impl RecordRef<'_> {
    /// Appends the row as one JSON object: `{event, head, leaf,
    /// policy_version, recorded_at, recorded_at_ns, redactions, seq}`.
    pub fn write_json(&self, out: &mut String) {
        let mut m = Members::open(out);
        self.event.write_json(m.name("event"));
        m.hash("head", &self.head);
        m.hash("leaf", &self.leaf);
        m.num("policy_version", self.event.policy_version);
        m.time("recorded_at", i64::try_from(self.recorded_at).unwrap_or(i64::MAX));
        m.num("recorded_at_ns", self.recorded_at);
        self.event.write_redactions_json(m.name("redactions"));
        m.num("seq", self.seq);
        m.close();
    }
}

fn s(v: &Option<String>) -> Option<&str> {
    v.as_deref()
}

impl EventRecord {
    /// The event borrowed, as [`EventRef`] holds it.
    pub fn to_ref(&self) -> EventRef<'_> {
        EventRef {
            action: &self.action,
            actor_type: self.actor_type,
            actor_id: &self.actor_id,
            actor_name: s(&self.actor_name),
            actor_email: s(&self.actor_email),
            on_behalf_of: s(&self.on_behalf_of),
            occurred_at: self.occurred_at,
            session_id: s(&self.session_id),
            target: self.target.as_ref().map(|t| (t.kind.as_str(), t.id.as_str(), t.name.as_deref())),
            outcome: self.outcome,
            ip: s(&self.ip),
            user_agent: s(&self.user_agent),
            input_hash: s(&self.input_hash),
            output_hash: s(&self.output_hash),
            key_ref: s(&self.key_ref),
            diff: s(&self.diff),
            metadata: s(&self.metadata),
            idempotency_key: s(&self.idempotency_key),
            policy_version: self.policy_version,
            redactions: self.redactions.iter().map(|r| (r.path.as_str(), r.how.as_str())).collect(),
        }
    }
}

impl Record {
    /// The row borrowed, as [`RecordRef`] holds it.
    pub fn to_ref(&self) -> RecordRef<'_> {
        RecordRef { seq: self.seq, recorded_at: self.recorded_at, leaf: self.leaf, head: self.head, event: self.event.to_ref() }
    }

    /// [`RecordRef::write_json`] of this row.
    pub fn write_json(&self, out: &mut String) {
        self.to_ref().write_json(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ActorType, Event, Limits, Outcome, Target};

    fn record(event: Event) -> Record {
        let event = event.validate(&Limits::default()).unwrap();
        Record { seq: 7, recorded_at: 1_767_225_600_000_000_001, leaf: Hash([1; 32]), head: Hash([2; 32]), event }
    }

    #[test]
    fn the_text_is_to_json_serialized_with_canonical_diff_and_metadata() {
        let mut full = Event::new("iam.role.grant", ActorType::Ai, "agent_1");
        full.actor.name = Some("Bot \"quoted\" \\ ok".into());
        full.actor.email = Some("bot@acme.com".into());
        full.actor.on_behalf_of = Some("u_1".into());
        full.occurred_at = Some("2026-01-01T00:00:00.5Z".into());
        full.session_id = Some("s_1".into());
        full.target = Some(Target { kind: "role".into(), id: "admin".into(), name: Some("Admin — Zürich".into()) });
        full.outcome = Some(Outcome::Denied);
        full.ip = Some("203.0.113.7".into());
        full.user_agent = Some("curl/8".into());
        full.input_hash = Some("sha256:ab".into());
        full.output_hash = Some("sha256:cd".into());
        full.key_ref = Some("k_1".into());
        full.diff = Some(serde_json::json!({"b": [1, 2.5, null], "a": {"to": "x\ny \u{1}"}}));
        full.metadata = Some(serde_json::json!({"z": true, "n": -3}).as_object().unwrap().clone());
        full.idempotency_key = Some("i_1".into());
        let mut redacted = record(full.clone());
        redacted.event.redactions = vec![crate::redact::Redaction { path: "actor.email".into(), how: "mask".into() }];
        for r in [record(Event::new("auth.login", ActorType::User, "u_1")), record(full), redacted] {
            let mut text = String::new();
            r.write_json(&mut text);
            assert_eq!(text, serde_json::to_string(&r.to_json()).unwrap());
        }
    }

    #[test]
    fn text_that_is_not_json_is_shown_as_a_string() {
        let mut r = record(Event::new("auth.login", ActorType::User, "u_1"));
        r.event.metadata = Some("{not json".into());
        let mut text = String::new();
        r.write_json(&mut text);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"]["metadata"], "{not json");
    }
}
