//! `aiops redact` as a user runs it: the real binary, a file or stdin, exit codes.

// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const GITHUB_TOKEN: &str = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";

fn aiops() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiops"));
    cmd.env_remove("AIOPS_REDACT_PATTERNS")
        .env_remove("AIOPS_REDACT_KEYS");
    cmd
}

fn seeded_log() -> String {
    format!(
        "{{\"level\":\"info\",\"msg\":\"upload with {AWS_KEY}\",\"pod\":\"api-7d9f8b6c5d-x2k4p\"}}\n\
         2026-11-26T05:36:12Z clone https://bot:{GITHUB_TOKEN}@github.com/acme/app.git\n\
         {{\"env\":[{{\"name\":\"DB_PASSWORD\",\"value\":\"hunter2-fake\"}}]}}\n\
         trace_id=4bf92f3577b34da6a3ce929d0e0e4736 done\n"
    )
}

fn assert_redacted(out: &str) {
    for secret in [AWS_KEY, GITHUB_TOKEN, "hunter2-fake"] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
    }
    assert!(out.contains("[REDACTED:aws_access_key]"), "{out}");
    assert!(
        out.contains("https://bot:[REDACTED:url_password]@github.com"),
        "{out}"
    );
    assert!(out.contains("[REDACTED:password]"), "{out}");
    assert!(
        out.contains("trace_id=4bf92f3577b34da6a3ce929d0e0e4736 done\n"),
        "{out}"
    );
}

#[test]
fn a_file_with_seeded_secrets_is_redacted_to_stdout() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(seeded_log().as_bytes()).unwrap();
    let output = aiops().arg("redact").arg(file.path()).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_redacted(&String::from_utf8(output.stdout).unwrap());
}

#[test]
fn stdin_is_redacted_when_no_file_is_given() {
    let mut child = aiops()
        .arg("redact")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(seeded_log().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_redacted(&String::from_utf8(output.stdout).unwrap());
}

#[test]
fn a_missing_file_exits_2_naming_the_path_on_one_line() {
    let path = "/nonexistent/dir/evidence.log";
    let output = aiops().args(["redact", path]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(path), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn a_bad_pattern_variable_exits_2_naming_the_variable() {
    let output = aiops()
        .arg("redact")
        .env(
            "AIOPS_REDACT_PATTERNS",
            r#"[{"name":"broken","pattern":"("}]"#,
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("AIOPS_REDACT_PATTERNS") && stderr.contains("broken"),
        "{stderr}"
    );
}

#[test]
fn help_describes_the_redact_command() {
    let output = aiops().arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("redact"), "{help}");
    let output = aiops().args(["redact", "--help"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8(output.stdout).unwrap().contains("[FILE]"));
}

#[test]
fn a_changed_json_line_keeps_its_key_order_and_spacing() {
    let token = format!("sk_live_{:024}", fastrand_u64());
    let clean = "{\"zeta\":1,\"alpha\":\"GET /healthz\",  \"mid\":[1,2]}\n";
    let changed = format!(
        "{{\"zeta\":1,\"msg\":\"charge with {token}\",  \"alpha\":{{\"password\":\"p-{}\",\"b\":2}},\"id\":\"x\"}}\n",
        fastrand_u64()
    );
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(format!("{clean}{changed}").as_bytes())
        .unwrap();
    let output = aiops().arg("redact").arg(file.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let out = String::from_utf8(output.stdout).unwrap();
    let mut lines = out.split_inclusive('\n');
    assert_eq!(
        lines.next(),
        Some(clean),
        "a clean line is kept byte for byte"
    );
    assert_eq!(
        lines.next(),
        Some(
            "{\"zeta\":1,\"msg\":\"charge with [REDACTED:stripe_key]\",  \"alpha\":{\"password\":\"[REDACTED:password]\",\"b\":2},\"id\":\"x\"}\n"
        ),
        "only the secrets change in a redacted line"
    );
}

/// A number that differs per run, without another dependency.
fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish() % 1_000_000_000_000
}
