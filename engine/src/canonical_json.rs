//! Canonical JSON text for the free-form fields `diff` and `metadata`.
//!
//! The same content must always hash the same, whatever key order or
//! whitespace a client sent, and whatever a future serde_json version prints.
//! So annal writes these values itself, by the rules in docs/FORMAT.md
//! ("Canonical JSON"):
//!
//! - no whitespace; object members sorted by the UTF-8 bytes of their keys;
//! - strings escape only `"`, `\` and U+0000..U+001F (`\b \f \n \r \t`, else
//!   `\u00xx` lower-case); everything else is literal UTF-8;
//! - integers (any i64/u64, and doubles that are whole and within ±2^53) in
//!   plain decimal; other numbers as the shortest decimal that round-trips the
//!   double, plainly when 1e-6 ≤ |x| < 1e21, else in `1.5e300` form.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

/// Deepest nesting accepted in `diff` and `metadata` (objects and arrays).
pub const MAX_DEPTH: usize = 32;

/// Writes `value` canonically. Returns `Err(depth)` if it nests deeper than
/// [`MAX_DEPTH`].
pub fn to_canonical(value: &Value) -> Result<String, usize> {
    let mut out = String::new();
    Writer { out: &mut out, path: Vec::new(), visitor: &mut Plain }.value(value, 1)?;
    Ok(out)
}

/// [`to_canonical`] of a JSON object, without wrapping it in a [`Value`].
pub fn object_to_canonical(map: &Map<String, Value>) -> Result<String, usize> {
    let mut out = String::new();
    Writer { out: &mut out, path: Vec::new(), visitor: &mut Plain }.object(map, 1)?;
    Ok(out)
}

/// What a [`Visitor`] decides for one value.
pub(crate) enum Verdict {
    /// Write it normally: descend into containers, offer strings to [`Visitor::string`].
    Walk,
    /// Write it as it is, visiting nothing inside.
    Verbatim,
    /// Leave it out: an object member is omitted, an array element becomes `null`.
    Drop,
    /// Write this string instead.
    Replace(String),
}

/// Sees every value while it is written, with its path from the root
/// (object keys, array indices): how redaction rewrites `diff` and
/// `metadata` in the same pass that canonicalises them.
pub(crate) trait Visitor {
    /// Whether paths are needed; when not, none are built.
    const PATHS: bool = true;
    /// Called for every value, the root included.
    fn value(&mut self, path: &[Cow<'_, str>], v: &Value) -> Verdict;
    /// Called for strings the verdict was [`Verdict::Walk`] for: a replacement, or `None`.
    fn string(&mut self, path: &[Cow<'_, str>], s: &str) -> Option<String>;
}

/// No visiting: plain canonical JSON.
struct Plain;

impl Visitor for Plain {
    const PATHS: bool = false;
    fn value(&mut self, _: &[Cow<'_, str>], _: &Value) -> Verdict {
        Verdict::Walk
    }
    fn string(&mut self, _: &[Cow<'_, str>], _: &str) -> Option<String> {
        None
    }
}

/// [`to_canonical`] with a [`Visitor`] for everything below the root, whose
/// path is `[root]` (the root itself is the caller's to decide on).
pub(crate) fn to_canonical_visited<V: Visitor>(root: &'static str, value: &Value, visitor: &mut V) -> Result<String, usize> {
    let mut out = String::new();
    Writer { out: &mut out, path: vec![Cow::Borrowed(root)], visitor }.value(value, 1)?;
    Ok(out)
}

/// [`to_canonical_visited`] of a JSON object.
pub(crate) fn object_to_canonical_visited<V: Visitor>(
    root: &'static str,
    map: &Map<String, Value>,
    visitor: &mut V,
) -> Result<String, usize> {
    let mut out = String::new();
    Writer { out: &mut out, path: vec![Cow::Borrowed(root)], visitor }.object(map, 1)?;
    Ok(out)
}

struct Writer<'o, 'p, V: Visitor> {
    out: &'o mut String,
    path: Vec<Cow<'p, str>>,
    visitor: &'o mut V,
}

impl<'p, V: Visitor> Writer<'_, 'p, V> {
    /// Writes `value` as the visitor decides; `false` if it was dropped
    /// (nothing written).
    fn visit(&mut self, value: &'p Value, depth: usize) -> Result<bool, usize> {
        if !V::PATHS {
            self.value(value, depth)?;
            return Ok(true);
        }
        match self.visitor.value(&self.path, value) {
            Verdict::Walk => self.value(value, depth)?,
            Verdict::Verbatim => {
                Writer { out: &mut *self.out, path: Vec::new(), visitor: &mut Plain }.value(value, depth)?;
            }
            Verdict::Drop => return Ok(false),
            Verdict::Replace(s) => write_string(&s, self.out),
        }
        Ok(true)
    }

    fn value(&mut self, value: &'p Value, depth: usize) -> Result<(), usize> {
        match value {
            Value::Null => self.out.push_str("null"),
            Value::Bool(true) => self.out.push_str("true"),
            Value::Bool(false) => self.out.push_str("false"),
            Value::Number(n) => write_number(n, self.out),
            Value::String(s) => match V::PATHS.then(|| self.visitor.string(&self.path, s)).flatten() {
                Some(r) => write_string(&r, self.out),
                None => write_string(s, self.out),
            },
            Value::Array(items) => {
                if depth > MAX_DEPTH {
                    return Err(depth);
                }
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    if V::PATHS {
                        self.path.push(Cow::Owned(i.to_string()));
                    }
                    if !self.visit(item, depth + 1)? {
                        self.out.push_str("null");
                    }
                    if V::PATHS {
                        self.path.pop();
                    }
                }
                self.out.push(']');
            }
            Value::Object(map) => self.object(map, depth)?,
        }
        Ok(())
    }

    fn object(&mut self, map: &'p Map<String, Value>, depth: usize) -> Result<(), usize> {
        if depth > MAX_DEPTH {
            return Err(depth);
        }
        self.out.push('{');
        // serde_json's Map iterates in key order unless its `preserve_order`
        // feature is on somewhere in the build; check rather than assume, and
        // sort only when needed (the common case allocates nothing).
        let sorted;
        let members: &mut dyn Iterator<Item = (&'p String, &'p Value)> =
            if map.keys().is_sorted_by(|a, b| a.as_bytes() <= b.as_bytes()) {
                &mut map.iter()
            } else {
                let mut m: Vec<(&'p String, &'p Value)> = map.iter().collect();
                m.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                sorted = m;
                &mut sorted.iter().copied()
            };
        let mut first = true;
        for (k, v) in members {
            // Written only once the value is known to stay.
            let mark = self.out.len();
            if !first {
                self.out.push(',');
            }
            write_string(k, self.out);
            self.out.push(':');
            if V::PATHS {
                self.path.push(Cow::Borrowed(k.as_str()));
            }
            let kept = self.visit(v, depth + 1)?;
            if V::PATHS {
                self.path.pop();
            }
            if kept {
                first = false;
            } else {
                self.out.truncate(mark);
            }
        }
        self.out.push('}');
        Ok(())
    }
}

const TWO_POW_53: f64 = 9_007_199_254_740_992.0;

fn write_number(n: &Number, out: &mut String) {
    use std::fmt::Write;
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(f) = n.as_f64() {
        if f.fract() == 0.0 && f.abs() <= TWO_POW_53 {
            // Whole and exactly representable: `1.0` and `1` are one value.
            #[allow(clippy::cast_possible_truncation)]
            let i = f as i64;
            let _ = write!(out, "{i}");
        } else if f.abs() >= 1e21 || f.abs() < 1e-6 {
            let _ = write!(out, "{f:e}");
        } else {
            let _ = write!(out, "{f}");
        }
    }
}

/// Which bytes a JSON string must escape: `"`, `\\` and the control
/// characters below 0x20. A table lookup per byte instead of a match: this
/// runs over every string of every row a page or an export writes.
static ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

pub(crate) fn write_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Copy runs that need no escaping in one go; only ASCII bytes ever need it.
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !ESCAPE[usize::from(b)] {
            continue;
        }
        out.push_str(&s[run..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        to_canonical(&serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        assert_eq!(
            canon(r#"{ "b": 1, "a": [1, 2, {"z": null, "y": true}] }"#),
            canon(r#"{"a":[1,2,{"y":true,"z":null}],"b":1}"#)
        );
        assert_eq!(canon(r#"{"b":1,"a":2}"#), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn numbers() {
        assert_eq!(canon("1.0"), "1");
        assert_eq!(canon("-0.0"), "0");
        assert_eq!(canon("1.5"), "1.5");
        assert_eq!(canon("1e300"), "1e300");
        assert_eq!(canon("0.0000001"), "1e-7");
        assert_eq!(canon("18446744073709551615"), "18446744073709551615");
        assert_eq!(canon("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(canon("100000000000000000000000"), "1e23");
    }

    #[test]
    fn strings_escape_minimally() {
        let v = json!("a\"b\\c\n\u{1}é\u{2028}");
        assert_eq!(to_canonical(&v).unwrap(), "\"a\\\"b\\\\c\\n\\u0001é\u{2028}\"");
    }

    #[test]
    fn every_character_below_0x80_escapes_as_serde_json_escapes_it() {
        // The escaping is part of the hashed canonical text (docs/FORMAT.md):
        // each ASCII character, alone and inside a run, as serde_json writes it.
        for b in 0u8..0x80 {
            let c = char::from(b);
            for s in [c.to_string(), format!("ab{c}cd{c}{c}é")] {
                let mut out = String::new();
                write_string(&s, &mut out);
                assert_eq!(out, serde_json::to_string(&s).unwrap(), "byte {b:#04x}");
            }
        }
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(to_canonical(&deep).is_ok());
        deep = json!({ "k": deep });
        assert_eq!(to_canonical(&deep), Err(MAX_DEPTH + 1));
    }
}
