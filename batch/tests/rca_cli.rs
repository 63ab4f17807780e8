//! `aiops rca --bundle FILE` end to end with the real binary: built-in analysis, a
//! report committed to a fresh local git repository, the run record on stdout and in
//! the store, an audit record for the local operator, and exit 2 on a bad bundle.

use aiops_tests::git::git;
use std::path::Path;
use std::process::{Command, Output};

fn example(name: &str) -> String {
    format!("{}/../examples/bundles/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The binary with only the variables the test sets (plus PATH to find git).
fn aiops(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aiops"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("USER", "jane")
        .env("AIOPS_STORE", dir.join("store"))
        .env("AIOPS_REPORT_DIR", dir.join("reports"))
        .env("AIOPS_LOG", "warn")
        .output()
        .expect("aiops runs")
}

#[test]
fn a_recorded_bundle_becomes_a_committed_report_and_a_run_record() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = aiops(
        tmp.path(),
        &["rca", "--bundle", &example("crashloop-missing-config.json")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let record: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("run record JSON on stdout");
    let run = "01936b2e-5f3a-7c41-9d2e-0a1b2c3d4e5f";
    assert_eq!(record["id"], run);
    assert_eq!(record["status"], "succeeded");
    assert_eq!(
        record["preliminary"], true,
        "no LLM configured: built-in analyzers"
    );
    assert_eq!(record["requested_by"], "local:jane");
    assert_eq!(record["evidence_key"], format!("evidence/{run}.json"));
    let path = record["report"]["path"].as_str().expect("report path");
    assert_eq!(path, format!("rca/web/2026-11-26-{run}.md"));
    let reports = tmp.path().join("reports");
    assert_eq!(
        record["report"]["commit"].as_str(),
        Some(git(&reports, &["rev-parse", "HEAD"]).trim())
    );
    assert!(git(&reports, &["show", &format!("HEAD:{path}")]).contains("preliminary: true"));

    let stored: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join(format!("store/runs/{run}.json"))).expect("runs/<id>.json"),
    )
    .expect("stored record");
    assert_eq!(stored, record);
    assert!(
        tmp.path()
            .join(format!("store/analyses/{run}.json"))
            .exists()
    );
    assert!(
        tmp.path()
            .join(format!("store/evidence/{run}.json"))
            .exists()
    );

    let audit = stderr
        .lines()
        .find(|l| l.contains("\"actorId\":\"local:jane\""))
        .expect("audit line on stderr");
    assert!(
        audit.contains("\"decision\":\"allow\"") && audit.contains("web-dev"),
        "{audit}"
    );

    // Running it again changes nothing in the repository.
    let again = aiops(
        tmp.path(),
        &["rca", "--bundle", &example("crashloop-missing-config.json")],
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(git(&reports, &["rev-list", "--count", "HEAD"]).trim(), "1");
}

#[test]
fn every_example_bundle_is_accepted_and_committed() {
    let tmp = tempfile::tempdir().expect("tmp");
    for name in [
        "oomkilled.json",
        "image-pull-backoff.json",
        "unschedulable.json",
    ] {
        let out = aiops(tmp.path(), &["rca", "--bundle", &example(name)]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let reports = tmp.path().join("reports");
    assert_eq!(git(&reports, &["rev-list", "--count", "HEAD"]).trim(), "3");
    let index = git(&reports, &["show", "HEAD:rca/README.md"]);
    assert_eq!(
        index.lines().filter(|l| l.starts_with("| 2026-")).count(),
        3,
        "{index}"
    );
}

#[test]
fn a_bad_bundle_exits_2_with_one_line_naming_the_file_and_the_field() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = tmp.path().join("bad.json");
    let mut bundle: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(example("unschedulable.json")).expect("read"),
    )
    .expect("json");
    bundle["pods"][0]["phase"] = serde_json::json!(3);
    bundle["pods"][0]["surprise"] = serde_json::json!(true);
    std::fs::write(&bad, serde_json::to_vec(&bundle).expect("json")).expect("write");

    let out = aiops(
        tmp.path(),
        &["rca", "--bundle", bad.to_str().expect("utf-8 path")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("bad.json: pods[0]."), "{stderr}");
    assert!(out.stdout.is_empty());

    let missing = aiops(tmp.path(), &["rca", "--bundle", "does-not-exist.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does-not-exist.json"));
}
