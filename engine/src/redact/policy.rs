//! Redaction policies: which strategy applies to which field, and which
//! free-text detectors run. docs/REDACTION.md is the user-facing reference.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::detect::{Detector, DetectorSet};
use crate::error::FieldError;

/// What to do with a value a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// `sam@acme.com` → `s***@acme.com`; a value that is not an address → `***`.
    MaskEmail,
    /// IPv4 → its /24, IPv6 → its /48; a value that is not an address → `[redacted]`.
    TruncateIp,
    /// A keyed BLAKE3 hash with the tenant's secret: `pii_` and 32 hex digits.
    /// The same value always gives the same token within a tenant, so
    /// equality search still works; the raw value is never stored.
    Pseudonymize,
    /// Removed (a JSON array element becomes `null`). Not allowed for
    /// required fields (`actor.id`, `target.type`, `target.id`).
    Drop,
    /// Stored as sent; detectors do not run on it.
    Keep,
}

impl Strategy {
    /// Name in policies and in a record's list of redactions.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::MaskEmail => "mask_email",
            Strategy::TruncateIp => "truncate_ip",
            Strategy::Pseudonymize => "pseudonymize",
            Strategy::Drop => "drop",
            Strategy::Keep => "keep",
        }
    }
}

/// One rule: a field path pattern and its strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Dotted path: a field (`actor.email`, `target.name`, `ip`), or a path
    /// into `diff` / `metadata` (`metadata.invitee`, `diff.*.email`).
    /// `*` matches one segment, `**` any number (also none). JSON array
    /// elements are segments named by their index (`diff.items.0`).
    pub path: String,
    /// What to do with the values it matches.
    pub strategy: Strategy,
}

/// A tenant's redaction policy. The first rule whose path matches a value
/// decides its strategy; values no rule matches are scanned by the enabled
/// detectors (where detectors apply, see docs/REDACTION.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Field rules, first match wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Detectors that scan free text.
    #[serde(default)]
    pub detectors: Vec<Detector>,
}

impl Default for Policy {
    /// The policy of every new tenant: mask the actor's email, truncate the
    /// client IP, and run every detector on all other text (emails masked,
    /// IPs truncated, cards and IBANs cut to their last four characters,
    /// phone numbers, tokens and keys removed).
    fn default() -> Self {
        Policy {
            rules: vec![
                Rule { path: "actor.email".into(), strategy: Strategy::MaskEmail },
                Rule { path: "ip".into(), strategy: Strategy::TruncateIp },
            ],
            detectors: Detector::ALL.to_vec(),
        }
    }
}

/// A structured field rules can name, in [`FIELDS`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldSpec {
    pub path: &'static str,
    /// Detectors scan it when no rule matches.
    pub scanned: bool,
    /// May be dropped (optional in the event).
    pub droppable: bool,
}

/// Every structured field a rule may name. `action`, the enums, the times
/// and `idempotency_key` are not personal data by contract and take no rules
/// (an idempotency key is also stored raw as the key of its entry).
pub(crate) const FIELDS: [FieldSpec; 12] = [
    FieldSpec { path: "actor.id", scanned: true, droppable: false },
    FieldSpec { path: "actor.name", scanned: true, droppable: true },
    FieldSpec { path: "actor.email", scanned: true, droppable: true },
    FieldSpec { path: "actor.on_behalf_of", scanned: true, droppable: true },
    FieldSpec { path: "session_id", scanned: true, droppable: true },
    FieldSpec { path: "target.type", scanned: false, droppable: false },
    FieldSpec { path: "target.id", scanned: true, droppable: false },
    FieldSpec { path: "target.name", scanned: true, droppable: true },
    FieldSpec { path: "ip", scanned: true, droppable: true },
    FieldSpec { path: "user_agent", scanned: true, droppable: true },
    FieldSpec { path: "input_hash", scanned: false, droppable: true },
    FieldSpec { path: "output_hash", scanned: false, droppable: true },
];

/// Index into [`FIELDS`].
pub(crate) mod field {
    pub const ACTOR_ID: usize = 0;
    pub const ACTOR_NAME: usize = 1;
    pub const ACTOR_EMAIL: usize = 2;
    pub const ON_BEHALF_OF: usize = 3;
    pub const SESSION: usize = 4;
    pub const TARGET_TYPE: usize = 5;
    pub const TARGET_ID: usize = 6;
    pub const TARGET_NAME: usize = 7;
    pub const IP: usize = 8;
    pub const USER_AGENT: usize = 9;
    pub const INPUT_HASH: usize = 10;
    pub const OUTPUT_HASH: usize = 11;
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Lit(String),
    One,
    Any,
}

/// Whether `pat` matches the whole of `path`.
///
/// In time proportional to the pattern's length times the path's, whatever
/// the pattern: `reach[j]` says whether the segments seen so far match the
/// first `j` of the path, one pass a segment. (Trying every split of the
/// path at each `**` recursively, as this once did, takes exponential time
/// on a pattern of many `**`, and a stored policy is applied to every later
/// append of its tenant.)
pub(crate) fn matches<S: AsRef<str>>(pat: &[Seg], path: &[S]) -> bool {
    // JSON paths are at most MAX_DEPTH (32) deep: no allocation for them.
    let mut stack = [false; 40];
    let mut heap = Vec::new();
    let reach: &mut [bool] = if path.len() < stack.len() {
        &mut stack[..=path.len()]
    } else {
        heap.resize(path.len() + 1, false);
        &mut heap
    };
    reach[0] = true;
    for seg in pat {
        match seg {
            // Any number of segments: reachable at j if reachable at any k <= j.
            Seg::Any => {
                for j in 1..reach.len() {
                    reach[j] |= reach[j - 1];
                }
            }
            // Exactly one segment, which must fit.
            _ => {
                for j in (1..reach.len()).rev() {
                    reach[j] = reach[j - 1] && fits(seg, path[j - 1].as_ref());
                }
                reach[0] = false;
            }
        }
    }
    reach[path.len()]
}

fn fits(seg: &Seg, segment: &str) -> bool {
    match seg {
        Seg::Lit(l) => l == segment,
        Seg::One | Seg::Any => true,
    }
}

/// Whether `pat` can match some path that starts with `prefix` and is longer.
fn may_match_below(pat: &[Seg], prefix: &str) -> bool {
    match pat.split_first() {
        None => false,
        Some((Seg::Any, _)) => true,
        Some((Seg::One, rest)) => !rest.is_empty(),
        Some((Seg::Lit(l), rest)) => l == prefix && !rest.is_empty(),
    }
}

/// A policy ready to apply.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    /// Strategy per structured field ([`FIELDS`] order), if a rule matches.
    pub fields: [Option<Strategy>; FIELDS.len()],
    /// Rules that may reach inside `diff` or `metadata` (or match them whole).
    pub json: Vec<(Vec<Seg>, Strategy)>,
    pub detectors: DetectorSet,
}

impl Policy {
    /// The policy that changes nothing: no rules, no detectors.
    pub fn off() -> Policy {
        Policy { rules: Vec::new(), detectors: Vec::new() }
    }

    /// Parses a policy from JSON; errors name the offending field.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Policy, FieldError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| FieldError::new("", "malformed JSON"))?;
        if !value.is_object() {
            return Err(FieldError::new("", "a policy must be a JSON object"));
        }
        serde_path_to_error::deserialize(value).map_err(crate::error::path_error)
    }

    /// The policy as JSON (the shape [`Policy::from_json_slice`] reads).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Checks every rule and prepares the policy for use.
    pub(crate) fn compile(&self) -> Result<Compiled, FieldError> {
        const MAX_RULES: usize = 256;
        if self.rules.len() > MAX_RULES {
            return Err(FieldError::new("rules", format!("at most {MAX_RULES} rules")));
        }
        let mut fields = [None; FIELDS.len()];
        let mut json = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}].path");
            if rule.path.is_empty() || rule.path.len() > 512 {
                return Err(FieldError::new(at, "must be 1 to 512 bytes"));
            }
            let pat: Vec<Seg> = rule
                .path
                .split('.')
                .map(|s| match s {
                    "*" => Ok(Seg::One),
                    "**" => Ok(Seg::Any),
                    "" => Err(FieldError::new(at.clone(), "has an empty segment")),
                    s if s.contains('*') => Err(FieldError::new(at.clone(), "`*` and `**` must be whole segments")),
                    s => Ok(Seg::Lit(s.to_string())),
                })
                .collect::<Result<_, _>>()?;
            let mut reaches = false;
            for (f, spec) in FIELDS.iter().enumerate() {
                let path: Vec<&str> = spec.path.split('.').collect();
                if matches(&pat, &path) {
                    reaches = true;
                    if rule.strategy == Strategy::Drop && !spec.droppable {
                        return Err(FieldError::new(
                            format!("rules[{i}].strategy"),
                            format!("`{}` is required and cannot be dropped; use pseudonymize", spec.path),
                        ));
                    }
                    fields[f].get_or_insert(rule.strategy);
                }
            }
            for root in ["diff", "metadata"] {
                if matches(&pat, &[root]) || may_match_below(&pat, root) {
                    reaches = true;
                }
            }
            if !reaches {
                return Err(FieldError::new(
                    at,
                    "matches no field; paths start with a field name (actor.email, target.name, ip, …), diff or metadata",
                ));
            }
            let whole = matches(&pat, &["diff"]) || matches(&pat, &["metadata"]);
            if whole && !matches!(rule.strategy, Strategy::Drop | Strategy::Keep) {
                return Err(FieldError::new(
                    format!("rules[{i}].strategy"),
                    "a rule matching all of `diff` or `metadata` may only drop or keep it; name paths inside it",
                ));
            }
            if whole || may_match_below(&pat, "diff") || may_match_below(&pat, "metadata") {
                json.push((pat, rule.strategy));
            }
        }
        let detectors = self.detectors.iter().fold(DetectorSet::none(), |set, d| set.with(*d));
        Ok(Compiled { fields, json, detectors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matcher as first written: every split tried at each `**`.
    fn naive(pat: &[Seg], path: &[&str]) -> bool {
        match pat.split_first() {
            None => path.is_empty(),
            Some((Seg::Any, rest)) => (0..=path.len()).any(|skip| naive(rest, &path[skip..])),
            Some((seg, rest)) => match path.split_first() {
                None => false,
                Some((p, tail)) => fits(seg, p) && naive(rest, tail),
            },
        }
    }

    #[test]
    fn matching_agrees_with_trying_every_split() {
        // Every pattern of up to five segments over {a, *, **} against every
        // path of up to five segments over {a, b}.
        let segs = [Seg::Lit("a".into()), Seg::One, Seg::Any];
        let (mut pats, mut level): (Vec<Vec<Seg>>, Vec<Vec<Seg>>) = (vec![vec![]], vec![vec![]]);
        for _ in 0..5 {
            level = level.iter().flat_map(|p| segs.iter().map(move |s| [p.clone(), vec![s.clone()]].concat())).collect();
            pats.extend(level.iter().cloned());
        }
        let mut paths: Vec<Vec<&str>> = vec![vec![]];
        for len in 1..=5 {
            for bits in 0..(1u32 << len) {
                paths.push((0..len).map(|i| if bits >> i & 1 == 1 { "a" } else { "b" }).collect());
            }
        }
        for p in &pats {
            for path in &paths {
                assert_eq!(matches(p, path), naive(p, path), "{p:?} {path:?}");
            }
        }
        let deep: Vec<&str> = vec!["a"; 64];
        assert!(matches(&[Seg::Any, Seg::Lit("a".into())], &deep));
    }

    #[test]
    fn a_pattern_of_many_double_stars_matches_in_linear_time() {
        // 120 `**` and a last segment no path has: trying every split would
        // take longer than the universe has; the table takes microseconds.
        let mut p = vec![Seg::Any; 120];
        p.push(Seg::Lit("nowhere".into()));
        let path: Vec<&str> = vec!["x"; 32];
        assert!(!matches(&p, &path));
        assert!(matches(&p[..120], &path));
    }

    fn pat(p: &str) -> Vec<Seg> {
        Policy { rules: vec![Rule { path: p.into(), strategy: Strategy::Keep }], detectors: vec![] }.compile().unwrap();
        p.split('.')
            .map(|s| match s {
                "*" => Seg::One,
                "**" => Seg::Any,
                s => Seg::Lit(s.into()),
            })
            .collect()
    }

    #[test]
    fn patterns_match_whole_paths() {
        assert!(matches(&pat("metadata.invitee"), &["metadata", "invitee"]));
        assert!(!matches(&pat("metadata.invitee"), &["metadata", "invitee", "x"]));
        assert!(matches(&pat("diff.**"), &["diff"]));
        assert!(matches(&pat("diff.**"), &["diff", "a", "b"]));
        assert!(matches(&pat("diff.*.email"), &["diff", "0", "email"]));
        assert!(!matches(&pat("diff.*.email"), &["diff", "email"]));
        assert!(matches(&pat("**.email"), &["metadata", "candidate", "email"]));
        assert!(matches(&pat("**.email"), &["actor", "email"]));
    }

    #[test]
    fn default_policy_compiles_and_first_rule_wins() {
        let c = Policy::default().compile().unwrap();
        assert_eq!(c.fields[field::ACTOR_EMAIL], Some(Strategy::MaskEmail));
        assert_eq!(c.fields[field::IP], Some(Strategy::TruncateIp));
        assert!(c.json.is_empty());
        let p = Policy {
            rules: vec![
                Rule { path: "actor.email".into(), strategy: Strategy::Pseudonymize },
                Rule { path: "**.email".into(), strategy: Strategy::Drop },
            ],
            detectors: vec![],
        };
        let c = p.compile().unwrap();
        assert_eq!(c.fields[field::ACTOR_EMAIL], Some(Strategy::Pseudonymize));
        assert_eq!(c.json.len(), 1);
    }

    #[test]
    fn bad_policies_name_the_rule() {
        let err = |json: &str| Policy::from_json_slice(json.as_bytes()).and_then(|p| p.compile().map(|_| ())).unwrap_err().field;
        assert_eq!(err(r#"{"rules":[{"path":"actor.id","strategy":"drop"}]}"#), "rules[0].strategy");
        assert_eq!(err(r#"{"rules":[{"path":"ip","strategy":"keep"},{"path":"nothing","strategy":"keep"}]}"#), "rules[1].path");
        assert_eq!(err(r#"{"rules":[{"path":"metadata..x","strategy":"keep"}]}"#), "rules[0].path");
        assert_eq!(err(r#"{"rules":[{"path":"meta*","strategy":"keep"}]}"#), "rules[0].path");
        assert_eq!(err(r#"{"rules":[{"path":"ip","strategy":"scramble"}]}"#), "rules[0].strategy");
        assert_eq!(err(r#"{"detectors":["email","dna"]}"#), "detectors[1]");
        assert_eq!(err(r#"{"rulez":[]}"#), "rulez");
        assert!(err(r#"{"rules":[{"path":"**","strategy":"drop"}]}"#).starts_with("rules[0]"));
    }
}
