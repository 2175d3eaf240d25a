//! Redaction on write: personal data is masked, truncated, pseudonymized or
//! removed on the caller's thread, before the event is encoded or hashed, so
//! no raw value ever reaches the writer, the WAL or an SST file.
//!
//! Each tenant has a versioned [`Policy`] (`policy.rs`); free text is scanned
//! by the [`detect`] module. Every stored event lists what was redacted
//! ([`Redaction`]: the field path and the strategy or detector, never the
//! value), inside the bytes the leaf hash covers. Pseudonyms are keyed BLAKE3
//! hashes under a per-tenant secret, so equal values give equal tokens and a
//! query for a raw value can be turned into its token: every pseudonymized
//! value is also indexed (index kind `pseudonym`).
//!
//! docs/REDACTION.md is the reference for users; docs/FORMAT.md has the bytes.

pub mod detect;
mod policy;

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::canonical_json::{Verdict, Visitor};
use crate::error::FieldError;
pub(crate) use policy::{field, Compiled, FIELDS};
pub use policy::{Policy, Rule, Strategy};

/// One redaction applied to a stored event: where, and how. Never the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, bincode::Encode, bincode::Decode)]
pub struct Redaction {
    /// Field path (`actor.email`, `metadata.note`, `diff.items.0.email`).
    pub path: String,
    /// A strategy name (`mask_email`, `truncate_ip`, `pseudonymize`, `drop`)
    /// or `detect:` and a detector name (`detect:email`, `detect:card`, …).
    pub how: String,
}

/// Length of a tenant's pseudonym secret.
pub const SECRET_BYTES: usize = 32;

/// A tenant's policy, compiled, with its version and pseudonym secret.
#[derive(Debug, Clone)]
pub(crate) struct Redactor {
    /// The tenant it belongs to: prepared events carry their redactor, and
    /// the writer refuses them for any other tenant.
    pub tenant: String,
    pub version: u32,
    pub policy: Policy,
    compiled: Compiled,
    secret: [u8; SECRET_BYTES],
}

/// What redacting one event produced besides the new values.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub redactions: Vec<Redaction>,
    /// Tokens of every pseudonymized value, deduplicated (for the index).
    pub pseudonyms: Vec<String>,
}

impl Applied {
    fn note(&mut self, path: impl Into<String>, how: impl Into<String>) {
        self.redactions.push(Redaction { path: path.into(), how: how.into() });
    }

    fn pseudonym(&mut self, token: &str) {
        if !self.pseudonyms.iter().any(|t| t == token) {
            self.pseudonyms.push(token.to_string());
        }
    }
}

/// Fresh random bytes for a new tenant's secret.
pub(crate) fn new_secret() -> Result<[u8; SECRET_BYTES], crate::Error> {
    let mut s = [0u8; SECRET_BYTES];
    getrandom::fill(&mut s)
        .map_err(|e| crate::Error::Io(std::io::Error::other(format!("no randomness for a tenant secret: {e}"))))?;
    Ok(s)
}

/// `pii_` and the first 16 bytes, in hex, of the keyed BLAKE3 hash of
/// `"annal/v1/pseudonym\0" ‖ value` under the tenant's secret.
pub(crate) fn pseudonym(secret: &[u8; SECRET_BYTES], value: &str) -> String {
    let mut h = blake3::Hasher::new_keyed(secret);
    h.update(b"annal/v1/pseudonym\0");
    h.update(value.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(36);
    out.push_str("pii_");
    for b in &digest.as_bytes()[..16] {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

/// Whether `v` has the shape of a pseudonym: `pii_` and 32 lowercase hex digits.
pub(crate) fn is_pseudonym(v: &str) -> bool {
    v.len() == 36 && v.starts_with("pii_") && v[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Redactor {
    pub fn new(tenant: &str, version: u32, policy: Policy, secret: [u8; SECRET_BYTES]) -> Result<Redactor, FieldError> {
        let compiled = policy.compile()?;
        Ok(Redactor { tenant: tenant.to_string(), version, policy, compiled, secret })
    }

    /// The same secret and tenant under another policy version.
    pub fn with_policy(&self, version: u32, policy: Policy) -> Result<Redactor, FieldError> {
        Redactor::new(&self.tenant, version, policy, self.secret)
    }

    /// The tenant's pseudonym secret.
    pub fn secret(&self) -> &[u8; SECRET_BYTES] {
        &self.secret
    }

    /// The token `value` gets under this tenant's secret.
    pub fn pseudonym(&self, value: &str) -> String {
        pseudonym(&self.secret, value)
    }

    /// The strategy a rule gives structured field `f` ([`FIELDS`] index).
    pub fn field_strategy(&self, f: usize) -> Option<Strategy> {
        self.compiled.fields[f]
    }

    /// `text` with every value the policy's detectors find replaced. For
    /// free text annal stores from a person's words outside any event
    /// field (a legal hold's reason, an API key's label, a deletion's
    /// reason): no field rule names it, so the detectors are what stands
    /// between it and the chain.
    pub fn free_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match detect::redact_text(text, self.compiled.detectors) {
            Some((redacted, _)) => Cow::Owned(redacted),
            None => Cow::Borrowed(text),
        }
    }

    /// Whether any JSON rule or detector can change `diff`/`metadata`.
    pub fn touches_json(&self) -> bool {
        !self.compiled.json.is_empty() || !self.compiled.detectors.is_empty()
    }

    /// Redacts structured field `f`; `None` means dropped.
    pub fn field<'a>(&self, f: usize, value: Cow<'a, str>, applied: &mut Applied) -> Option<Cow<'a, str>> {
        let spec = &FIELDS[f];
        match self.compiled.fields[f] {
            Some(s) => self.apply(spec.path, s, value, applied),
            None if spec.scanned => match detect::redact_text(&value, self.compiled.detectors) {
                None => Some(value),
                Some((text, hits)) => {
                    for d in hits {
                        applied.note(spec.path, format!("detect:{}", d.name()));
                    }
                    Some(Cow::Owned(text))
                }
            },
            None => Some(value),
        }
    }

    fn apply<'a>(&self, path: &str, s: Strategy, value: Cow<'a, str>, applied: &mut Applied) -> Option<Cow<'a, str>> {
        let out = match s {
            Strategy::Keep => return Some(value),
            Strategy::Drop => None,
            Strategy::MaskEmail => Some(Cow::Owned(detect::mask_email(&value))),
            Strategy::TruncateIp => Some(Cow::Owned(match value.parse::<IpAddr>() {
                Ok(ip) => detect::truncate_ip(ip).to_string(),
                Err(_) => "[redacted]".to_string(),
            })),
            Strategy::Pseudonymize => {
                let token = self.pseudonym(&value);
                applied.pseudonym(&token);
                Some(Cow::Owned(token))
            }
        };
        applied.note(path, s.name());
        out
    }

    /// The rule for a whole JSON field (`diff` or `metadata`), if any:
    /// only `drop` and `keep` may match a root (policy compilation checks).
    fn json_root(&self, root: &str) -> Option<Strategy> {
        self.compiled.json.iter().find(|(pat, _)| policy::matches(pat, &[root])).map(|&(_, s)| s)
    }

    /// Canonical JSON of `diff`, redacted; `Ok(None)` when a rule drops it.
    pub fn json_value(&self, value: &Value, applied: &mut Applied) -> Result<Option<String>, usize> {
        match self.json_root("diff") {
            Some(Strategy::Drop) => {
                applied.note("diff", "drop");
                Ok(None)
            }
            Some(_) => crate::canonical_json::to_canonical(value).map(Some),
            None => crate::canonical_json::to_canonical_visited("diff", value, &mut JsonRedactor { r: self, applied }).map(Some),
        }
    }

    /// Canonical JSON of `metadata`, redacted; `Ok(None)` when a rule drops it.
    pub fn json_object(&self, map: &Map<String, Value>, applied: &mut Applied) -> Result<Option<String>, usize> {
        match self.json_root("metadata") {
            Some(Strategy::Drop) => {
                applied.note("metadata", "drop");
                Ok(None)
            }
            Some(_) => crate::canonical_json::object_to_canonical(map).map(Some),
            None => crate::canonical_json::object_to_canonical_visited("metadata", map, &mut JsonRedactor { r: self, applied })
                .map(Some),
        }
    }
}

struct JsonRedactor<'r, 'a> {
    r: &'r Redactor,
    applied: &'a mut Applied,
}

fn join(path: &[Cow<'_, str>]) -> String {
    let mut s = String::new();
    for (i, p) in path.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(p);
    }
    s
}

impl Visitor for JsonRedactor<'_, '_> {
    fn value(&mut self, path: &[Cow<'_, str>], v: &Value) -> Verdict {
        let Some(&(_, s)) = self.r.compiled.json.iter().find(|(pat, _)| policy::matches(pat, path)) else {
            return Verdict::Walk;
        };
        let text = match v {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            // Pseudonyms of non-strings cover their canonical text.
            other => Cow::Owned(crate::canonical_json::to_canonical(other).unwrap_or_default()),
        };
        let p = join(path);
        match s {
            Strategy::Keep => Verdict::Verbatim,
            Strategy::MaskEmail | Strategy::TruncateIp if !v.is_string() => {
                self.applied.note(p, s.name());
                Verdict::Replace("[redacted]".into())
            }
            _ => match self.r.apply(&p, s, text, self.applied) {
                None => Verdict::Drop,
                Some(t) => Verdict::Replace(t.into_owned()),
            },
        }
    }

    fn string(&mut self, path: &[Cow<'_, str>], s: &str) -> Option<String> {
        let (text, hits) = detect::redact_text(s, self.r.compiled.detectors)?;
        let p = join(path);
        for d in hits {
            self.applied.note(p.clone(), format!("detect:{}", d.name()));
        }
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redactor(policy: Policy) -> Redactor {
        Redactor::new("t", 1, policy, [7; SECRET_BYTES]).unwrap()
    }

    #[test]
    fn pseudonyms_are_stable_per_secret_and_differ_across_tenants() {
        let a = pseudonym(&[1; 32], "sam@acme.com");
        assert_eq!(a, pseudonym(&[1; 32], "sam@acme.com"));
        assert_ne!(a, pseudonym(&[2; 32], "sam@acme.com"));
        assert_ne!(a, pseudonym(&[1; 32], "sam@acme.co"));
        assert!(a.starts_with("pii_") && a.len() == 36);
    }

    #[test]
    fn json_rules_and_detectors_apply_inside_metadata() {
        let r = redactor(Policy {
            rules: vec![
                Rule { path: "metadata.invitee".into(), strategy: Strategy::Pseudonymize },
                Rule { path: "metadata.secret".into(), strategy: Strategy::Drop },
                Rule { path: "metadata.raw".into(), strategy: Strategy::Keep },
                Rule { path: "metadata.list.*".into(), strategy: Strategy::MaskEmail },
            ],
            detectors: vec![detect::Detector::Email],
        });
        let mut applied = Applied::default();
        let v = json!({
            "invitee": "sam@acme.com",
            "secret": {"k": 1},
            "raw": "kept sam@acme.com",
            "note": "cc sue@acme.com please",
            "list": ["ann@acme.com", 5],
        });
        let text = r.json_object(v.as_object().unwrap(), &mut applied).unwrap().unwrap();
        let token = r.pseudonym("sam@acme.com");
        assert_eq!(
            text,
            format!(
                r#"{{"invitee":"{token}","list":["a***@acme.com","[redacted]"],"note":"cc [email:s***@acme.com] please","raw":"kept sam@acme.com"}}"#
            )
        );
        let got: Vec<(String, String)> = applied.redactions.iter().map(|r| (r.path.clone(), r.how.clone())).collect();
        let want = [
            ("metadata.invitee", "pseudonymize"),
            ("metadata.list.0", "mask_email"),
            ("metadata.list.1", "mask_email"),
            ("metadata.note", "detect:email"),
            ("metadata.secret", "drop"),
        ];
        assert_eq!(got, want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>());
        assert_eq!(applied.pseudonyms, [token]);
    }

    #[test]
    fn a_rule_on_the_root_drops_or_replaces_the_whole_field() {
        let r = redactor(Policy { rules: vec![Rule { path: "diff".into(), strategy: Strategy::Drop }], detectors: vec![] });
        let mut applied = Applied::default();
        assert_eq!(r.json_value(&json!({"a": 1}), &mut applied).unwrap(), None);
        assert_eq!(applied.redactions, [Redaction { path: "diff".into(), how: "drop".into() }]);
    }

    #[test]
    fn structured_fields_follow_rules_then_detectors() {
        let r = redactor(Policy::default());
        let mut applied = Applied::default();
        let email = r.field(field::ACTOR_EMAIL, Cow::Borrowed("sam@acme.com"), &mut applied);
        assert_eq!(email.as_deref(), Some("s***@acme.com"));
        let ip = r.field(field::IP, Cow::Borrowed("203.0.113.7"), &mut applied);
        assert_eq!(ip.as_deref(), Some("203.0.113.0"));
        let name = r.field(field::TARGET_NAME, Cow::Borrowed("Offer for sue@acme.com"), &mut applied);
        assert_eq!(name.as_deref(), Some("Offer for [email:s***@acme.com]"));
        let untouched = r.field(field::ACTOR_NAME, Cow::Borrowed("Sam Doe"), &mut applied);
        assert!(matches!(untouched, Some(Cow::Borrowed("Sam Doe"))));
        assert_eq!(applied.redactions.len(), 3);
    }
}
