//! Schema transforms that keep the generated OpenAPI schemas within what Kubernetes knows.
//!
//! schemars describes Rust's unsigned integers with the formats `uint32` and `uint64`,
//! which the apiserver does not recognise (every `kubectl apply` of the CRDs warns
//! `unrecognized format "uint64"`). [`kubernetes_formats`], set as the schemars `transform`
//! of every spec and status type, rewrites them to `int64` with their real bounds:
//!
//! | Rust | schema |
//! |---|---|
//! | `u32` | `format: int64`, `minimum: 0`, `maximum: 4294967295` (unless the field sets a tighter one) |
//! | `u64` | `format: int64`, `minimum: 0` (the format bounds it: the apiserver refuses more than `i64::MAX`) |
//!
//! A `u64` gets no `maximum`: schemas carry numbers as float64, `i64::MAX` is not one, and
//! the nearest (2^63) overflows when the apiserver (1.20 at least) checks defaults against
//! it. Values above `i64::MAX` never reach the operator through the apiserver; the Rust side
//! refuses them where they are written (see [`crate::bucket::SpecViolation::QuotaTooLarge`]).

use schemars::Schema;
use serde_json::{Map, Value};

/// Formats Kubernetes recognises in a CRD schema (anything else draws an "unrecognized
/// format" warning on install).
pub const KNOWN_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
    "datetime",
    "duration",
    "password",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
];

/// Rewrites `uint32`/`uint64` formats into `int64` with their bounds (see the module docs),
/// in `schema` and every schema nested in it (properties, items, additional properties,
/// combinators).
pub fn kubernetes_formats(schema: &mut Schema) {
    if let Some(obj) = schema.as_object_mut() {
        rewrite(obj);
    }
}

fn rewrite(obj: &mut Map<String, Value>) {
    let max = match obj.get("format").and_then(Value::as_str) {
        Some("uint32") => Some(Some(u32::MAX)),
        Some("uint64") => Some(None),
        _ => None,
    };
    if let Some(max) = max {
        obj.insert("format".into(), Value::from("int64"));
        obj.entry("minimum").or_insert(Value::from(0));
        if let Some(max) = max {
            let tighter = obj
                .get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| m <= f64::from(max));
            if !tighter {
                obj.insert("maximum".into(), Value::from(max));
            }
        }
    }
    for (key, value) in obj.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" => {
                if let Some(props) = value.as_object_mut() {
                    props.values_mut().for_each(rewrite_value);
                }
            }
            "items" | "additionalProperties" | "not" => rewrite_value(value),
            "allOf" | "anyOf" | "oneOf" => {
                if let Some(list) = value.as_array_mut() {
                    list.iter_mut().for_each(rewrite_value);
                }
            }
            _ => {}
        }
    }
}

fn rewrite_value(value: &mut Value) {
    match value {
        Value::Object(obj) => rewrite(obj),
        Value::Array(list) => list.iter_mut().for_each(rewrite_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unsigned_formats_become_int64_with_their_bounds() {
        let mut s: Schema = serde_json::from_value(json!({
            "type": "object",
            "properties": {
                "a": {"type": "integer", "format": "uint32", "minimum": 0},
                "b": {"type": "integer", "format": "uint64", "minimum": 0},
                "c": {"type": "integer", "format": "uint32", "minimum": 1, "maximum": 10000},
                "d": {"type": "array", "items": {"type": "integer", "format": "uint32"}},
                "e": {"anyOf": [{"type": "integer", "format": "uint64"}, {"type": "null"}]},
                "f": {"type": "number", "format": "double"},
            }
        }))
        .expect("schema");
        kubernetes_formats(&mut s);
        let v = s.as_value();
        let p = &v["properties"];
        assert_eq!(
            p["a"],
            json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295u64})
        );
        assert_eq!(
            p["b"],
            json!({"type": "integer", "format": "int64", "minimum": 0})
        );
        assert_eq!(
            p["c"],
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": 10000})
        );
        assert_eq!(p["d"]["items"]["format"], "int64");
        assert_eq!(p["e"]["anyOf"][0]["format"], "int64");
        assert_eq!(p["f"]["format"], "double");
    }
}
