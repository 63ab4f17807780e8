// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;

use serde_json::json;

use super::testgen::fill;
use super::*;
use crate::config::MapEnv;

fn text(input: &str) -> String {
    Redactor::default().redact_text(input).into_owned()
}

#[test]
fn clean_text_is_returned_borrowed() {
    let r = Redactor::default();
    let line = r#"{"level":"info","msg":"GET /healthz 200","pod":"checkout-7d9f8b6c5d-x2k4p"}"#;
    assert!(matches!(r.redact_text(line), Cow::Borrowed(_)));
}

#[test]
fn shapes_are_replaced_inside_longer_strings_with_their_kind() {
    let cases = [
        (
            "key AKIAIOSFODNN7EXAMPLE used",
            "key [REDACTED:aws_access_key] used",
        ),
        (
            "auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLWZha2U ok",
            "auth [REDACTED:jwt] ok",
        ),
        (
            "push with ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 failed",
            "push with [REDACTED:github_token] failed",
        ),
        (
            "slack xoxb-0000000000-FAKEFAKEFAKE posted",
            "slack [REDACTED:slack_token] posted",
        ),
        (
            "curl -H 'Authorization: Bearer abcdefABCDEF0123456789'",
            "curl -H 'Authorization: Bearer [REDACTED:authorization]'",
        ),
        (
            "sent Bearer abcdefABCDEF0123456789xyz",
            "sent Bearer [REDACTED:bearer]",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(text(input), expected, "{input}");
    }
}

#[test]
fn url_passwords_keep_user_and_host() {
    assert_eq!(
        text("clone https://deploy:s3cr3t-Pa55@git.example.com/org/repo.git"),
        "clone https://deploy:[REDACTED:url_password]@git.example.com/org/repo.git"
    );
    assert_eq!(
        text("DATABASE_URL=postgres://app:pw@db:5432/orders"),
        "DATABASE_URL=postgres://app:[REDACTED:url_password]@db:5432/orders"
    );
    assert_eq!(
        text("see https://example.com:8443/path"),
        "see https://example.com:8443/path"
    );
}

#[test]
fn key_value_pairs_in_free_text_keep_the_key() {
    assert_eq!(
        text("login password=hunter2 user=bob"),
        "login password=[REDACTED:password] user=bob"
    );
    assert_eq!(
        text(r#"{"db_password": "hunter2"}"#),
        r#"{"db_password": "[REDACTED:password]"}"#
    );
    assert_eq!(text("githubToken: abc123"), "githubToken: [REDACTED:token]");
    assert_eq!(
        text("args: --db-password hunter2 --port 5432"),
        "args: --db-password [REDACTED:password] --port 5432"
    );
    assert_eq!(
        text("Server=db;User Id=sa;Password=p w;Database=x"),
        "Server=db;User Id=sa;Password=[REDACTED:password];Database=x"
    );
}

#[test]
fn keys_that_only_end_in_a_sensitive_substring_are_left_alone() {
    for input in [
        "bypass=on",
        "max_tokens=512",
        "tokens_used: 42",
        "password: null",
        "token_count=3",
    ] {
        assert_eq!(text(input), input);
    }
}

#[test]
fn a_rejected_key_does_not_hide_a_shape_in_its_value() {
    assert_eq!(
        text("bypass=AKIAIOSFODNN7EXAMPLE"),
        "bypass=[REDACTED:aws_access_key]"
    );
}

#[test]
fn yaml_env_entries_are_redacted_across_lines() {
    let input =
        "env:\n  - name: DB_PASSWORD\n    value: hunter2\n  - name: LOG_LEVEL\n    value: debug\n";
    let out = text(input);
    assert!(!out.contains("hunter2"), "{out}");
    assert!(out.contains("value: [REDACTED:password]"), "{out}");
    assert!(out.contains("value: debug"), "{out}");
}

#[test]
fn pem_private_keys_are_replaced_whole() {
    let input = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEfake\nAAAA\n-----END RSA PRIVATE KEY-----\nafter";
    assert_eq!(text(input), "key:\n[REDACTED:private_key]\nafter");
}

#[test]
fn json_values_under_sensitive_keys_are_replaced_and_shapes_kept() {
    let mut v = json!({
        "user": "bob",
        "password": "hunter2",
        "pin": 1234,
        "token": true,
        "max_tokens": 512,
        "credentials": {"user": "svc", "expires": 3600, "enabled": true},
        "msg": "using AKIAIOSFODNN7EXAMPLE"
    });
    Redactor::default().redact_json(&mut v);
    assert_eq!(
        v,
        json!({
            "user": "bob",
            "password": "[REDACTED:password]",
            "pin": 1234,
            "token": true,
            "max_tokens": 512,
            "credentials": {"user": "[REDACTED:credentials]", "expires": "[REDACTED:credentials]", "enabled": true},
            "msg": "using [REDACTED:aws_access_key]"
        })
    );
}

#[test]
fn kubernetes_env_entries_hide_values_of_sensitive_names_but_keep_references() {
    let mut v = json!({"env": [
        {"name": "DB_PASSWORD", "value": "hunter2"},
        {"name": "LOG_LEVEL", "value": "debug"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}
    ], "args": ["--api-key", "abc123", "--verbose"]});
    Redactor::default().redact_json(&mut v);
    assert_eq!(v["env"][0]["value"], "[REDACTED:password]");
    assert_eq!(v["env"][1]["value"], "debug");
    assert_eq!(
        v["env"][2]["valueFrom"]["secretKeyRef"],
        json!({"name": "api", "key": "token"})
    );
    assert_eq!(
        v["args"],
        json!(["--api-key", "[REDACTED:api_key]", "--verbose"])
    );
}

#[test]
fn kubernetes_secret_manifests_hide_their_data() {
    let mut v = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                       "data": {"config.yaml": "aG9zdDogZGIK"}});
    Redactor::default().redact_json(&mut v);
    assert_eq!(v["data"]["config.yaml"], "[REDACTED:secret]");
    assert_eq!(v["metadata"]["name"], "db");
}

#[test]
fn json_text_keeps_untouched_lines_byte_for_byte_and_redacts_text_lines() {
    let r = Redactor::default();
    let input = "{\"b\": 1,  \"a\": \"x\"}\nplain password=hunter2\n{\"token\":\"t0k\"}\n";
    let out = r.redact_json_text(input);
    assert_eq!(
        out,
        "{\"b\": 1,  \"a\": \"x\"}\nplain password=[REDACTED:password]\n{\"token\":\"[REDACTED:token]\"}\n"
    );
}

#[test]
fn secrets_spelled_with_json_unicode_escapes_are_still_found() {
    let r = Redactor::default();
    let escaped_key = "{\"msg\":\"key \\u0041KIAIOSFODNN7EXAMPLE\"}\n";
    let out = r.redact_json_text(escaped_key);
    assert!(out.contains("[REDACTED:aws_access_key]"), "{out}");
    assert!(!out.contains("IOSFODNN7EXAMPLE"), "{out}");
    let escaped_name = "{\"pass\\u0077ord\":\"hunter2\"}\n";
    let out = r.redact_json_text(escaped_name);
    assert!(!out.contains("hunter2"), "{out}");
}

#[test]
fn pretty_json_documents_get_the_key_rules() {
    let r = Redactor::default();
    let input = "{\n  \"credentials\": {\n    \"user\": \"svc\"\n  }\n}\n";
    let out = r.redact_json_text(input);
    assert!(out.contains("[REDACTED:credentials]"), "{out}");
    assert!(!out.contains("svc"), "{out}");
}

#[test]
fn redaction_is_idempotent_on_every_rule() {
    let r = Redactor::default();
    let input = "password=hunter2 https://u:p@h/ AKIAIOSFODNN7EXAMPLE Bearer abcdefABCDEF0123456789 \
                 Authorization: Basic dXNlcjpwYXNz {\"token\": \"abc\"} --token abc ;Pwd=x y;";
    let once = r.redact_text(input).into_owned();
    assert_ne!(once, input);
    assert_eq!(r.redact_text(&once), once);
    let json_once = r.redact_json_text(&once);
    assert_eq!(r.redact_json_text(&json_once), json_once);
}

// Found by the `redact_text` and `redact_json` fuzz targets: an unclosed `[REDACTED:`
// in the input hid the secrets of the next 64 bytes, so they leaked on the first pass
// and were only caught when the output was redacted again.
#[test]
fn an_unclosed_marker_in_the_input_shields_nothing_after_it() {
    let r = Redactor::default();
    let key = super::testgen::random("h", 32);
    let pass = super::testgen::random("a", 16);
    let input = format!("export PGPASSWORD=hun4[REDACTED:\nDD_API_KEY={key}\nDB_PASSWORD={pass}\n");
    for out in [
        r.redact_text(&input).into_owned(),
        r.redact_json_text(&input),
    ] {
        assert!(!out.contains(&key), "{out}");
        assert!(!out.contains(&pass), "{out}");
        assert!(out.contains("DD_API_KEY=[REDACTED:"), "{out}");
        assert_eq!(r.redact_text(&out), out, "not idempotent");
        assert_eq!(r.redact_json_text(&out), out, "not idempotent as JSON text");
    }
    // The minimised fuzz input: a YAML key whose value holds an unclosed marker.
    let token = super::testgen::random("a", 20);
    let yaml = format!("a:v:\n  token: :==[REDACTED: token: {token}\n");
    let once = r.redact_text(&yaml).into_owned();
    assert!(!once.contains(&token), "{once}");
    assert_eq!(r.redact_text(&once), once, "not idempotent");
}

// Found by the `redact_json` fuzz target: a bracketed line that is not JSON split the
// text block, so a Secret manifest's `stringData:` after it lost its `kind: Secret`
// context and leaked; the output, no longer split, was redacted on a second pass.
#[test]
fn a_bracketed_text_line_does_not_split_a_secret_manifest() {
    let r = Redactor::default();
    let value = super::testgen::random("a", 18);
    for line in ["{{- if .Values.enabled }}", "[ not: json", "{"] {
        let input = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n{line}\nstringData:\n  \
             tls.crt: {value}\n"
        );
        let out = r.redact_json_text(&input);
        assert!(!out.contains(&value), "after {line:?}: {out}");
        assert!(
            out.contains(&format!("\n{line}\n")),
            "the line stays: {out}"
        );
        assert_eq!(
            r.redact_json_text(&out),
            out,
            "not idempotent after {line:?}"
        );
    }
    // A JSON line between text lines is still redacted as JSON.
    let pass = super::testgen::random("a", 16);
    let input = format!("plain text\n{{\"password\": \"{pass}\", \"b\": 1}}\nmore text\n");
    let out = r.redact_json_text(&input);
    assert_eq!(
        out,
        "plain text\n{\"password\": \"[REDACTED:password]\", \"b\": 1}\nmore text\n"
    );
}

#[test]
fn a_whole_marker_written_before_is_still_left_alone() {
    let r = Redactor::default();
    let input = "password=[REDACTED:password] https://u:[REDACTED:url_password]@h/ \
                 {\"token\": \"[REDACTED:token]\"}";
    assert_eq!(r.redact_text(input), input);
    assert_eq!(r.redact_json_text(input), input);
    // An unclosed one as a value is input, and is redacted.
    let out = r.redact_text("password=[REDACTED:abc");
    assert_eq!(out, "password=[REDACTED:password]");
}

#[test]
fn user_patterns_and_keys_extend_the_builtins() {
    let config = RedactionConfig {
        extra_keys: vec!["vault-ref".to_owned()],
        extra_patterns: vec![
            CustomPattern {
                name: "ticket".to_owned(),
                pattern: "TCK-[0-9]{6}".to_owned(),
            },
            CustomPattern {
                name: "pin".to_owned(),
                pattern: "pin#(?P<secret>[0-9]{4})".to_owned(),
            },
        ],
    };
    let r = Redactor::new(&config).unwrap();
    assert_eq!(
        r.redact_text("ref TCK-123456 vault_ref=abc pin#1234"),
        "ref [REDACTED:ticket] vault_ref=[REDACTED:vault_ref] pin#[REDACTED:pin]"
    );
}

#[test]
fn user_patterns_without_literals_still_match() {
    let config = RedactionConfig {
        extra_patterns: vec![CustomPattern {
            name: "acct".to_owned(),
            pattern: r"\b[0-9]{12}\b".to_owned(),
        }],
        ..RedactionConfig::default()
    };
    let r = Redactor::new(&config).unwrap();
    assert_eq!(
        r.redact_text("account 123456789012 x"),
        "account [REDACTED:acct] x"
    );
}

#[test]
fn a_bad_user_regex_is_an_invalid_error_naming_the_pattern() {
    let config = RedactionConfig {
        extra_patterns: vec![CustomPattern {
            name: "broken".to_owned(),
            pattern: "(".to_owned(),
        }],
        ..RedactionConfig::default()
    };
    let err = Redactor::new(&config).unwrap_err();
    assert!(err.to_string().contains("broken"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let empty = RedactionConfig {
        extra_patterns: vec![CustomPattern {
            name: "empty".to_owned(),
            pattern: "x*".to_owned(),
        }],
        ..RedactionConfig::default()
    };
    assert!(
        Redactor::new(&empty)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    // Parses, but is too big to compile: still reported when the redactor is built.
    let huge = RedactionConfig {
        extra_patterns: vec![CustomPattern {
            name: "huge".to_owned(),
            pattern: r"(?:\w{500}){500}".to_owned(),
        }],
        ..RedactionConfig::default()
    };
    let err = Redactor::new(&huge).unwrap_err();
    assert!(err.to_string().contains("huge"), "{err}");
}

#[test]
fn from_env_reads_patterns_and_keys_and_names_the_bad_variable() {
    let env = MapEnv::new()
        .with(
            PATTERNS_VAR,
            r#"[{"name": "ticket", "pattern": "TCK-[0-9]+"}]"#,
        )
        .with(KEYS_VAR, "vault_ref, x-internal-auth ,");
    let config = RedactionConfig::from_env(&env).unwrap();
    assert_eq!(config.extra_keys, ["vault_ref", "x-internal-auth"]);
    assert_eq!(config.extra_patterns[0].name, "ticket");
    assert_eq!(
        RedactionConfig::from_env(&MapEnv::new()).unwrap(),
        RedactionConfig::default()
    );

    let bad_json = MapEnv::new().with(PATTERNS_VAR, "not json");
    assert_eq!(
        RedactionConfig::from_env(&bad_json).unwrap_err().var(),
        PATTERNS_VAR
    );
    let bad_regex = MapEnv::new().with(PATTERNS_VAR, r#"[{"name": "oops", "pattern": "[a-"}]"#);
    let err = RedactionConfig::from_env(&bad_regex).unwrap_err();
    assert_eq!(err.var(), PATTERNS_VAR);
    assert!(err.to_string().contains("oops"), "{err}");
    let bad_key = MapEnv::new().with(KEYS_VAR, "--");
    assert_eq!(
        RedactionConfig::from_env(&bad_key).unwrap_err().var(),
        KEYS_VAR
    );
}

#[test]
fn the_redactor_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + std::fmt::Debug>() {}
    assert_send_sync::<Redactor>();
}

#[test]
fn env_names_as_people_write_them_hide_their_values_in_every_notation() {
    let r = Redactor::default();
    let names = [
        ("PGPASSWORD", "password"),
        ("APITOKEN", "token"),
        ("CLIENTSECRET", "secret"),
        ("DD_API_KEY", "api_key"),
        ("DD_APP_KEY", "api_key"),
        ("DATADOG_APPLICATION_KEY", "api_key"),
        ("PAGERDUTY_ROUTING_KEY", "routing_key"),
        ("PAGERDUTY_INTEGRATION_KEY", "integration_key"),
        ("FLASK_SECRET_KEY", "secret_key"),
        ("COSIGN_SIGNING_KEY", "private_key"),
        ("SMTP_PASS", "password"),
        ("identitytoken", "token"),
        ("tls.key", "private_key"),
    ];
    for (name, label) in names {
        let value = super::testgen::random("h", 32);
        for line in [
            format!("{name}={value}\n"),
            format!("export {name}={value}\n"),
            format!("{name}: {value}\n"),
            format!("{{\"{name}\":\"{value}\"}}\n"),
            format!("config:\n  {name}: \"{value}\"\n"),
        ] {
            for out in [r.redact_text(&line).into_owned(), r.redact_json_text(&line)] {
                assert!(!out.contains(&value), "{line:?} -> {out:?}");
                assert!(
                    out.contains(&format!("[REDACTED:{label}]")),
                    "{line:?} -> {out:?}"
                );
            }
        }
    }
}

#[test]
fn settings_next_to_secret_words_stay() {
    for line in [
        "TOKEN_BUCKET_SIZE=10",
        "PASSWORD_MIN_LENGTH=12",
        "SESSION_TIMEOUT=30m",
        "DD_SITE=datadoghq.eu",
        "export AUTH_ENABLED=true",
        "PASSWORD_RESET: off",
        "SESSION=15m",
        "token: 5",
        "session=1h30m",
        "bypass=3 compass=north oauth=enabled mytoken=x",
        "(using password: YES)",
    ] {
        assert_eq!(text(line), line);
    }
}

#[test]
fn base64_private_keys_are_found_but_base64_certificates_stay() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let body = super::testgen::random("b", 64);
    for kind in [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ] {
        let key = b64(&format!(
            "-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"
        ));
        let out = text(&format!("data {key} end"));
        assert_eq!(out, "data [REDACTED:private_key] end", "{kind}");
    }
    let cert = b64(&format!(
        "-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    ));
    let line = format!("ca.crt: {cert}");
    assert_eq!(text(&line), line);
}

#[test]
fn yaml_secret_manifests_lose_every_data_value_whatever_its_key() {
    let (a, b, c) = (
        super::testgen::random("b", 24),
        super::testgen::random("a", 16),
        super::testgen::random("a", 16),
    );
    let input = format!(
        "apiVersion: v1\ndata:\n  app.conf: {a}\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  script: |\n    login {b}\n  \"x.y\": '{c}'\ntype: Opaque\n---\napiVersion: v1\nkind: ConfigMap\ndata:\n  app.conf: kept\n"
    );
    let out = text(&input);
    for secret in [&a, &b, &c] {
        assert!(!out.contains(secret.as_str()), "{out}");
    }
    assert!(out.contains("  app.conf: [REDACTED:secret]\n"), "{out}");
    assert!(out.contains("  name: app\n"), "{out}");
    assert!(
        out.contains("  app.conf: kept\n"),
        "a ConfigMap keeps its data: {out}"
    );
    assert_eq!(text(&out), out);
}

#[test]
fn a_changed_json_line_keeps_keys_order_spacing_and_escapes() {
    let r = Redactor::default();
    let input = "{\"z\": 1, \"msg\": \"ok \\u00e9\", \"password\" : \"hunter2\", \"a\": [true, null, 1.5e3]}\n";
    assert_eq!(
        r.redact_json_text(input),
        "{\"z\": 1, \"msg\": \"ok \\u00e9\", \"password\" : \"[REDACTED:password]\", \"a\": [true, null, 1.5e3]}\n"
    );
}

#[test]
fn urls_with_json_escaped_slashes_still_lose_their_password() {
    let r = Redactor::default();
    let pw = super::testgen::random("a", 16);
    let line = format!("{{\"msg\":\"connect to postgres:\\/\\/app:{pw}@db:5432\\/orders\"}}\n");
    let out = r.redact_json_text(&line);
    assert!(!out.contains(&pw), "{out}");
    assert!(out.contains("[REDACTED:url_password]"), "{out}");
}

// Found by the `redact_json` fuzz target: a line that is almost JSON (a raw control
// character inside a string) was redacted as text, which removed the control character
// with the secret and left JSON whose key now names a secret; a second pass then
// redacted the value under that key.
#[test]
fn text_that_redaction_turns_into_json_gets_the_json_rules_at_once() {
    let r = Redactor::default();
    let pass = super::testgen::random("a", 12);
    let session = super::testgen::random("h", 24);
    let under_key = super::testgen::random("a", 16);
    let cases = [
        // The control character inside the value a text rule removes.
        format!("{{\"n\":1,\"a&password={pass}\u{0}\u{1}x\":\"{under_key}\"}}\n"),
        format!("{{\"u/1?session_id={session}\u{1f}\":\"{under_key}\"}}\n"),
        // A bad escape instead of a control character.
        format!("{{\"token={pass}\\q\":\"{under_key}\"}}\n"),
    ];
    for input in &cases {
        assert!(
            serde_json::from_str::<serde_json::Value>(input).is_err(),
            "the input is not JSON: {input:?}"
        );
        let once = r.redact_json_text(input);
        assert!(
            serde_json::from_str::<serde_json::Value>(&once).is_ok(),
            "the output is JSON: {once:?}"
        );
        assert!(!once.contains(&under_key), "{once:?}");
        assert!(
            !once.contains(&pass) && !once.contains(&session),
            "{once:?}"
        );
        assert_eq!(r.redact_json_text(&once), once, "not idempotent");
        let mut streamed = Vec::new();
        r.redact_stream(input.as_bytes(), &mut streamed).unwrap();
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            once,
            "the stream agrees"
        );
    }
    // The same inside a pretty-printed document, and as a document split over lines
    // that are not one JSON value each.
    let doc = format!("{{\n  \"password={pass}\u{2}\": \"{under_key}\"\n}}\n");
    let split = format!("{{\"password={pass}\u{2}\":\n\"{under_key}\"}}\n");
    for input in [doc, split] {
        let once = r.redact_json_text(&input);
        assert!(!once.contains(&under_key), "{once:?}");
        assert_eq!(r.redact_json_text(&once), once, "not idempotent: {input:?}");
    }
    // The two inputs the fuzzer found.
    for seed in [
        include_str!("../../../fuzz/seeds/redact_json/crash-control-chars-become-valid-json"),
        include_str!("../../../fuzz/seeds/redact_json/crash-control-chars-become-valid-json-2"),
    ] {
        let once = r.redact_json_text(seed);
        assert_eq!(r.redact_json_text(&once), once, "not idempotent: {seed:?}");
    }
}

// Found by the `redact_text` fuzz target: a key rule's replacement removed the `\`
// that had ended a URL password early, so a second pass found the password.
#[test]
fn a_replacement_that_unblocks_an_earlier_rule_is_followed_by_it_at_once() {
    let r = Redactor::default();
    let pw = super::testgen::random("a", 12);
    let key = super::testgen::random("a", 10);
    let input = format!("es://u:{pw}-API_KEY={key}\\x&]:@host/x");
    let once = r.redact_text(&input).into_owned();
    assert!(!once.contains(&pw), "{once}");
    assert!(!once.contains(&key), "{once}");
    assert_eq!(r.redact_text(&once), once, "not idempotent");
    let seed = include_str!("../../../fuzz/seeds/redact_text/crash-url-password-after-key-value");
    let once = r.redact_text(seed).into_owned();
    assert_eq!(r.redact_text(&once), once, "not idempotent: {seed:?}");
}

// Found by the `redact_json` fuzz target: a PEM key spread over two text lines was
// replaced by one marker, which joined the lines into a JSON line whose key now named
// a private key; a second pass redacted the value under it.
#[test]
fn text_lines_joined_into_json_by_a_replacement_get_the_json_rules() {
    let r = Redactor::default();
    let value = super::testgen::random("a", 14);
    let input = format!(
        "{{\"level\":\"info\",\"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\":\"{value}\"}}\n"
    );
    let once = r.redact_json_text(&input);
    assert!(
        serde_json::from_str::<serde_json::Value>(&once).is_ok(),
        "{once:?}"
    );
    assert!(!once.contains(&value), "{once:?}");
    assert_eq!(r.redact_json_text(&once), once, "not idempotent");
    let seed = include_str!("../../../fuzz/seeds/redact_json/crash-pem-key-joins-lines-into-json");
    let once = r.redact_json_text(seed);
    assert_eq!(r.redact_json_text(&once), once, "not idempotent: {seed:?}");
}

#[test]
fn a_replaced_pem_key_keeps_its_line_break_so_the_next_line_stays_its_own() {
    // The cut-off key's match ends with its line break; replaced with it, the JSON
    // line `[]` after it joined the marker's line, stopped splitting the block, and a
    // second pass read the Secret manifest around it differently.
    let r = Redactor::default();
    let input = fill("kind: Secret\n-----BEGIN PRIVATE KEY-----\n[]\ndata:\n  key: {a:12}\n");
    let once = r.redact_json_text(&input);
    assert!(once.contains("[REDACTED:private_key]\n[]\n"), "{once}");
    assert_eq!(r.redact_json_text(&once), once, "not idempotent");
}
