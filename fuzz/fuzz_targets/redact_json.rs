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
        r.redact_json(&mut value);
        let from_text: serde_json::Value =
            serde_json::from_str(r.redact_json_text(line).trim()).expect("still JSON");
        assert_eq!(from_text, value, "line and value redaction disagree");
    }
});
