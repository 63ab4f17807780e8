//! `aiops eval` with the real binary: the shipped incident cases all pass with the
//! built-in analyzers, a wrong expectation fails the run with the reason, and a malformed
//! case is refused naming the file and the field.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn incidents() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/incidents")
}

fn aiops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aiops"))
        .args(args)
        .env_clear()
        .env("AIOPS_LOG", "warn")
        .output()
        .expect("aiops runs")
}

fn copy_case(name: &str, to: &Path) -> PathBuf {
    let dir = to.join(name);
    std::fs::create_dir_all(&dir).expect("case dir");
    for file in ["bundle.json", "expect.yaml"] {
        std::fs::copy(incidents().join(name).join(file), dir.join(file)).expect("copy");
    }
    dir
}

#[test]
fn the_shipped_incidents_all_pass_with_the_builtin_analyzers() {
    let out = aiops(&["eval", incidents().to_str().expect("utf-8 path"), "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let card: serde_json::Value = serde_json::from_str(&stdout).expect("scorecard JSON");
    assert_eq!(card["analyzer"], "builtin");
    let total = card["total"].as_u64().expect("total");
    assert!(total >= 25, "{total} cases");
    assert_eq!(card["passed"], card["total"]);
    assert_eq!(card["accuracy"], 100.0);
    assert_eq!(card["prompts_kept_decisive"], card["total"]);
    let cases = card["cases"].as_array().expect("cases");
    let rules: std::collections::BTreeSet<&str> =
        cases.iter().filter_map(|c| c["rule"].as_str()).collect();
    assert!(rules.len() >= 20, "{rules:?}");
    let noisy: Vec<u64> = cases
        .iter()
        .filter(|c| c["case"].as_str().is_some_and(|n| n.contains("noise")))
        .map(|c| c["log_lines"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        noisy.len() >= 3 && noisy.iter().all(|n| *n >= 20_000),
        "{noisy:?}"
    );
}

#[test]
fn a_wrong_expectation_fails_the_run_and_the_table_says_why() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = copy_case("dns-no-such-host", tmp.path());
    std::fs::write(
        dir.join("expect.yaml"),
        "rule: oom_killed\ncontains: [\"memory limit\"]\nnot_contains: [\"ledger\"]\n",
    )
    .expect("write");
    copy_case("oomkilled-at-limit", tmp.path());
    let out = aiops(&["eval", tmp.path().to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("dns-no-such-host"), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains("expected rule oom_killed, got log_signature"),
        "{stdout}"
    );
    assert!(
        stdout.contains("root cause lacks \"memory limit\""),
        "{stdout}"
    );
    assert!(stdout.contains("root cause states \"ledger\""), "{stdout}");
    assert!(stdout.contains("1/2 passed (50.0 %)"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 of 2 cases failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_malformed_case_is_refused_naming_the_file_and_the_field() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = copy_case("oomkilled-at-limit", tmp.path());
    std::fs::write(dir.join("expect.yaml"), "rule: oom_killed\ncontain: [x]\n").expect("write");
    let out = aiops(&["eval", tmp.path().to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("expect.yaml"), "{stderr}");
    assert!(stderr.contains("contain"), "{stderr}");

    std::fs::write(dir.join("expect.yaml"), "rule: oom_killed\n").expect("write");
    std::fs::write(
        dir.join("bundle.json"),
        r#"{"schema": "aiops.evidence/v1", "run_id": 7}"#,
    )
    .expect("write");
    let out = aiops(&["eval", tmp.path().to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bundle.json") && stderr.contains("run_id"),
        "{stderr}"
    );
}

#[test]
fn llm_scoring_without_a_provider_is_a_configuration_error() {
    let out = aiops(&["eval", incidents().to_str().expect("utf-8 path"), "--llm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AIOPS_LLM_PROVIDER"));
}
