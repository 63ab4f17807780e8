//! The text redactor on any input: no panic, and redacting its own output changes
//! nothing (the property that makes redaction safe to apply at every boundary).
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
    let once = r.redact_text(text).into_owned();
    let twice = r.redact_text(&once);
    assert_eq!(twice, once, "redact_text is not idempotent");
});
