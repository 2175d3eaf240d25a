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

use serde_json::{Number, Value};

/// Deepest nesting accepted in `diff` and `metadata` (objects and arrays).
pub const MAX_DEPTH: usize = 32;

/// Writes `value` canonically. Returns `Err(depth)` if it nests deeper than
/// [`MAX_DEPTH`].
pub fn to_canonical(value: &Value) -> Result<String, usize> {
    let mut out = String::new();
    write_value(value, &mut out, 1)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut String, depth: usize) -> Result<(), usize> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            if depth > MAX_DEPTH {
                return Err(depth);
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            if depth > MAX_DEPTH {
                return Err(depth);
            }
            // serde_json's Map (without `preserve_order`) is a BTreeMap, but
            // sorting here keeps the rule independent of that feature flag.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(v, out, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
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

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
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
