//! The bundle digest written into every report: the evidence it was made from.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::evidence::EvidenceBundle;

/// sha256 (hex) of the bundle's canonical JSON: keys sorted at every level, no
/// whitespace. Independent of field order and of serde_json's map implementation.
pub fn bundle_digest(bundle: &EvidenceBundle) -> String {
    let value = serde_json::to_value(bundle).unwrap_or(Value::Null);
    let mut text = String::new();
    canonical(&value, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut out = String::new();
        canonical(
            &serde_json::json!({"b": [{"d": 1, "c": "x"}], "a": null}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":null,"b":[{"c":"x","d":1}]}"#);
    }
}
