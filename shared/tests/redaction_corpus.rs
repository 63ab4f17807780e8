//! The redactor over realistic inputs: every seeded secret disappears and is labelled
//! with its kind, look-alikes that are evidence survive byte for byte, and redacting
//! twice changes nothing. The data lives in `tests/data/redaction/`; `seeded.json`
//! lists each file's seeded secrets and the label that must replace them.

// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde::Deserialize;
use shared::redact::Redactor;

const LOOKALIKES: &[&str] = &["lookalikes.log", "lookalikes.jsonl"];

#[derive(Debug, Deserialize)]
struct Seeded {
    file: String,
    /// `[secret, label]` pairs.
    secrets: Vec<(String, String)>,
}

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/redaction")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn seeded() -> Vec<Seeded> {
    serde_json::from_str(&data("seeded.json")).unwrap()
}

/// Both entry points a caller may use on a file: as text, and as JSON-aware text.
fn redactions(r: &Redactor, input: &str) -> [(&'static str, String); 3] {
    let mut streamed = Vec::new();
    r.redact_stream(input.as_bytes(), &mut streamed).unwrap();
    [
        ("redact_text", r.redact_text(input).into_owned()),
        ("redact_json_text", r.redact_json_text(input)),
        ("redact_stream", String::from_utf8(streamed).unwrap()),
    ]
}

#[test]
fn every_seeded_secret_is_removed_and_labelled_with_its_kind() {
    let r = Redactor::default();
    let mut checked = 0;
    for file in seeded() {
        let input = data(&file.file);
        for (mode, output) in redactions(&r, &input) {
            for (secret, label) in &file.secrets {
                assert!(
                    input.contains(secret.as_str()),
                    "{}: seed {secret} is not in the input",
                    file.file
                );
                assert!(
                    !output.contains(secret.as_str()),
                    "{} ({mode}): {secret} survived:\n{output}",
                    file.file
                );
                let marker = format!("[REDACTED:{label}]");
                assert!(
                    output.contains(&marker),
                    "{} ({mode}): no {marker} for {secret}:\n{output}",
                    file.file
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 140, "only {checked} seeded secrets checked");
}

#[test]
fn every_kind_of_secret_is_seeded_somewhere() {
    let labels: Vec<String> = seeded()
        .into_iter()
        .flat_map(|f| f.secrets)
        .map(|(_, l)| l)
        .collect();
    for kind in [
        "aws_access_key",
        "aws_secret_key",
        "jwt",
        "bearer",
        "authorization",
        "github_token",
        "slack_token",
        "slack_webhook",
        "private_key",
        "url_password",
        "password",
        "token",
        "api_key",
        "secret",
        "cookie",
        "session",
    ] {
        assert!(
            labels.iter().any(|l| l == kind),
            "no seeded secret of kind {kind}"
        );
    }
}

#[test]
fn look_alikes_survive_unchanged() {
    let r = Redactor::default();
    for name in LOOKALIKES {
        let input = data(name);
        for (mode, output) in redactions(&r, &input) {
            assert_eq!(output, input, "{name} ({mode}) was changed");
        }
    }
}

#[test]
fn evidence_next_to_secrets_is_kept() {
    let r = Redactor::default();
    let out = r.redact_json_text(&data("pod.json"));
    for evidence in [
        "checkout-7d9f8b6c5d-x2k4p",
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "\"secretName\": \"checkout-tls\"",
        "\"value\": \"debug\"",
        "\"--listen\"",
        "2026-11-26T05:30:00Z",
    ] {
        assert!(out.contains(evidence), "lost {evidence}:\n{out}");
    }
    let events = data("events.log");
    let out = r.redact_text(&events);
    assert!(out.contains("secret \"checkout-tls\" not found"), "{out}");
    assert!(out.contains("https://api.example.com/v1/orders"), "{out}");
    assert!(
        out.contains("amqp://guest:[REDACTED:url_password]@rabbitmq.default:5672/"),
        "{out}"
    );
}

#[test]
fn redacting_redacted_output_changes_nothing() {
    let r = Redactor::default();
    let files = seeded()
        .into_iter()
        .map(|f| f.file)
        .chain(LOOKALIKES.iter().map(|s| (*s).to_owned()));
    for name in files {
        let input = data(&name);
        let text_once = r.redact_text(&input).into_owned();
        assert_eq!(r.redact_text(&text_once), text_once, "{name}: redact_text");
        assert_eq!(
            r.redact_json_text(&text_once),
            text_once,
            "{name}: redact_json_text after redact_text"
        );
        let json_once = r.redact_json_text(&input);
        assert_eq!(
            r.redact_json_text(&json_once),
            json_once,
            "{name}: redact_json_text"
        );
        assert_eq!(
            r.redact_text(&json_once),
            json_once,
            "{name}: redact_text after redact_json_text"
        );
    }
}
