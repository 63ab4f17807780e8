//! Structured redaction of `serde_json` values.
//!
//! Under a sensitive key every string and number leaf is replaced, at any depth, while
//! objects and arrays keep their shape and keys: `"credentials": {"user": …}` stays an
//! object, and booleans and nulls stay (`"password": null` is evidence, not a secret).
//! Inside such an object, keys that describe or point at a secret rather than hold it
//! (`secretName`, `name`, `secretRef`, `type`, …, see [`DESCRIPTIVE`]) are kept: a pod's
//! `"secret": {"secretName": "checkout-tls"}` is what an RCA needs to read.
//! Everywhere else strings go through the text rules.

use serde_json::{Map, Value};

use super::engine::{Engine, marker, starts_with_marker};

/// Redacts `value` in place; returns whether anything changed.
pub(crate) fn redact_value(engine: &Engine, value: &mut Value) -> bool {
    walk(engine, value, None)
}

/// A whole multi-line JSON document, redacted where it stands, or `None` when `input`
/// is not one (then it is handled line by line).
pub(crate) fn redact_document(engine: &Engine, input: &str) -> Option<String> {
    let trimmed = input.trim();
    if !trimmed.contains('\n') || !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    if !engine.may_match(input) {
        // Nothing any rule could match: line by line would not change it either.
        return Some(input.to_owned());
    }
    super::raw::redact(engine, input).map(std::borrow::Cow::into_owned)
}

fn walk(engine: &Engine, value: &mut Value, inherited: Option<&str>) -> bool {
    match value {
        Value::String(s) => match inherited {
            Some(label) => replace_leaf(value, label),
            None => match engine.redact(s) {
                std::borrow::Cow::Owned(redacted) => {
                    *s = redacted;
                    true
                }
                std::borrow::Cow::Borrowed(_) => false,
            },
        },
        Value::Number(_) => inherited.is_some_and(|label| replace_leaf(value, label)),
        Value::Array(items) => {
            let mut changed = inherited.is_none() && redact_flag_values(engine, items);
            for item in items {
                changed |= walk(engine, item, inherited);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = inherited.is_none() && redact_keys(engine, map);
            let env_label = if inherited.is_none() {
                env_entry_label(engine, map)
            } else {
                None
            };
            let secret_manifest = inherited.is_none() && is_kubernetes_secret(map);
            for (key, item) in map.iter_mut() {
                if inherited.is_some() && is_descriptive(key) {
                    changed |= walk(engine, item, None);
                    continue;
                }
                let label = inherited
                    .or_else(|| engine.keys().label(key))
                    .or_else(|| env_label.filter(|_| key.eq_ignore_ascii_case("value")))
                    .or_else(|| {
                        (secret_manifest && (key == "data" || key == "stringData"))
                            .then_some("secret")
                    });
                changed |= walk(engine, item, label);
            }
            changed
        }
        Value::Bool(_) | Value::Null => false,
    }
}

/// Last words of keys that name, point at or qualify a secret instead of holding it.
const DESCRIPTIVE: &[&str] = &[
    "name",
    "namespace",
    "ref",
    "kind",
    "type",
    "optional",
    "path",
    "mode",
    "items",
];

pub(crate) fn is_descriptive(key: &str) -> bool {
    super::keys::words(key)
        .last()
        .is_some_and(|w| DESCRIPTIVE.contains(&w.as_str()))
}

fn replace_leaf(leaf: &mut Value, label: &str) -> bool {
    if leaf.as_str().is_some_and(starts_with_marker) {
        return false;
    }
    *leaf = Value::String(marker(label));
    true
}

/// `{"name": "DB_PASSWORD", "value": …}` (also `Name`/`Key` + `Value`, as in ECS task
/// definitions and AWS tags): the label when the named variable is sensitive.
fn env_entry_label<'e>(engine: &'e Engine, map: &Map<String, Value>) -> Option<&'e str> {
    if !map.keys().any(|k| k.eq_ignore_ascii_case("value")) {
        return None;
    }
    map.iter()
        .filter(|(k, _)| ["name", "key"].iter().any(|n| k.eq_ignore_ascii_case(n)))
        .find_map(|(_, v)| v.as_str().and_then(|name| engine.keys().label(name)))
}

fn is_kubernetes_secret(map: &Map<String, Value>) -> bool {
    map.get("kind").and_then(Value::as_str) == Some("Secret")
        && map.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Container args as a list: `["--db-password", "hunter2"]` hides the element after a
/// sensitive flag.
fn redact_flag_values(engine: &Engine, items: &mut [Value]) -> bool {
    let mut changed = false;
    for i in 1..items.len() {
        let label = items[i - 1]
            .as_str()
            .filter(|flag| flag.starts_with('-') && !flag.contains('='))
            .and_then(|flag| engine.keys().label(flag));
        let Some(label) = label else { continue };
        if items[i].as_str().is_some_and(|v| !v.starts_with('-')) {
            changed |= replace_leaf(&mut items[i], label);
        }
    }
    changed
}

/// Object keys are text too: a map keyed by token must not leak the token.
fn redact_keys(engine: &Engine, map: &mut Map<String, Value>) -> bool {
    let renames: Vec<(String, String)> = map
        .keys()
        .filter_map(|k| match engine.redact(k) {
            std::borrow::Cow::Owned(new) => Some((k.clone(), new)),
            std::borrow::Cow::Borrowed(_) => None,
        })
        .collect();
    for (old, new) in &renames {
        if let Some(v) = map.remove(old) {
            map.insert(new.clone(), v);
        }
    }
    !renames.is_empty()
}
