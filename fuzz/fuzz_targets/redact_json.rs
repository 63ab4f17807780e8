//! The JSON-aware redactor (JSON lines, pretty documents, mixed text) on any input:
//! no panic, idempotent, and a JSON line redacted as text stays JSON that agrees with
//! redacting the parsed value.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shared::redact::Redactor;

fn redactor() -> &'static Redactor {
    static REDACTOR: OnceLock<Redactor> = OnceLock::new();
    REDACTOR.get_or_init(Redactor::default)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let r = redactor();
    let once = r.redact_json_text(text);
    assert_eq!(
        r.redact_json_text(&once),
        once,
        "redact_json_text is not idempotent"
    );

    // One JSON line: the redacted line is JSON with the same content as the
    // redacted value.
    // Only objects and arrays are JSON lines to the stream; other values are text.
    let line = text.trim();
    if line.contains('\n') || !line.starts_with(['{', '[']) {
        return;
    }
    if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(line) {
        // Two keys of one object that redact to the same key: the parsed value keeps the
        // one that sorts last, the text the one written last. Both lose the secret; they
        // need not agree on which value stays.
        if keys_collide(r, &value) {
            return;
        }
        r.redact_json(&mut value);
        let from_text: serde_json::Value =
            serde_json::from_str(r.redact_json_text(line).trim()).expect("still JSON");
        assert_eq!(from_text, value, "line and value redaction disagree");
    }
});

/// Whether redaction makes two keys of some object in `value` equal.
fn keys_collide(r: &Redactor, value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<String> = map.keys().map(|k| r.redact_text(k).into_owned()).collect();
            keys.sort_unstable();
            let distinct = keys.len();
            keys.dedup();
            keys.len() != distinct || map.values().any(|v| keys_collide(r, v))
        }
        serde_json::Value::Array(items) => items.iter().any(|v| keys_collide(r, v)),
        _ => false,
    }
}
