//! Golden files: compare against a file under `tests/data/`, or rewrite it when
//! `AIOPS_BLESS=1` is set (`AIOPS_BLESS=1 cargo test -p aiops-tests --test report_render`).

use std::path::PathBuf;

use shared::config::{Env, ProcessEnv};

/// The variable that turns comparisons into rewrites.
pub const BLESS_VAR: &str = "AIOPS_BLESS";

/// A file under this crate's `tests/data/`.
pub fn data_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(relative)
}

/// The text of a file under `tests/data/`.
pub fn data(relative: &str) -> String {
    let path = data_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts that `actual` equals the golden file, or rewrites it when blessing.
pub fn assert_golden(relative: &str, actual: &str) {
    let path = data_path(relative);
    if ProcessEnv.flag(BLESS_VAR).ok().flatten().unwrap_or(false) {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with {BLESS_VAR}=1", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || expected.lines().count().min(actual.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{} differs from the rendered output at line {line}:\n  golden: {:?}\n  actual: {:?}\n\
             If the change is intended, re-run with {BLESS_VAR}=1.",
            path.display(),
            expected.lines().nth(line - 1).unwrap_or(""),
            actual.lines().nth(line - 1).unwrap_or("")
        );
    }
}
