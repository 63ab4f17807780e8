//! The local git sink with the real `git` binary: report and index in one commit,
//! readable history, idempotent re-runs, and a preliminary report upgraded in place.

use aiops_tests::git::git;
use std::path::Path;

use aiops_tests::golden::data;
use shared::analysis::{Analysis, Analyzer};
use shared::evidence::EvidenceBundle;
use shared::redact::Redactor;
use shared::report::sink::{GitAuthor, LocalGitConfig, LocalGitSink, ReportSink};
use shared::report::{INDEX_PATH, Report, ReportConfig, render};

fn inputs() -> (EvidenceBundle, Analysis) {
    let bundle = serde_json::from_str(&data("report/crashloop-bundle.json")).expect("bundle");
    let analysis = serde_json::from_str(&data("report/crashloop-analysis.json")).expect("analysis");
    (bundle, analysis)
}

fn rendered(bundle: &EvidenceBundle, analysis: &Analysis) -> Report {
    render(
        bundle,
        analysis,
        &ReportConfig::default(),
        &Redactor::default(),
    )
    .expect("render")
}

fn sink(dir: &Path) -> LocalGitSink {
    LocalGitSink::new(LocalGitConfig {
        dir: dir.to_path_buf(),
        author: GitAuthor {
            name: "RCA Bot".into(),
            email: "rca-bot@example.com".into(),
        },
    })
}

/// `git` in `dir`, isolated from the machine's configuration like the sink itself.

#[tokio::test]
async fn first_publish_creates_the_repository_and_commits_report_and_index_together() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("reports/nested");
    let (bundle, analysis) = inputs();
    let report = rendered(&bundle, &analysis);

    let published = sink(&dir).publish(&report).await.expect("publish");
    assert!(published.committed);
    assert_eq!(
        published.report.commit,
        git(&dir, &["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(published.report.path, report.path);
    assert!(
        published.report.url.starts_with("file://") && published.report.url.ends_with(&report.path)
    );

    let log = git(&dir, &["log", "--format=%an <%ae>|%s", "--name-only"]);
    assert!(
        log.starts_with("RCA Bot <rca-bot@example.com>|rca(web): web in web-dev is crash-looping"),
        "{log}"
    );
    assert!(
        log.contains(&report.path) && log.contains(INDEX_PATH),
        "both files in one commit: {log}"
    );
    assert_eq!(git(&dir, &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(
        git(&dir, &["show", &format!("HEAD:{}", report.path)]),
        report.markdown
    );
    let index = git(&dir, &["show", &format!("HEAD:{INDEX_PATH}")]);
    assert!(
        index.contains("| 2026-11-26 | component:default/web |"),
        "{index}"
    );
}

#[tokio::test]
async fn publishing_the_same_report_again_makes_no_new_commit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (bundle, analysis) = inputs();
    let report = rendered(&bundle, &analysis);
    let first = sink(tmp.path()).publish(&report).await.expect("first");
    let again = sink(tmp.path()).publish(&report).await.expect("again");
    assert!(!again.committed);
    assert_eq!(again.report, first.report);
    assert_eq!(
        git(tmp.path(), &["rev-list", "--count", "HEAD"]).trim(),
        "1"
    );
}

#[tokio::test]
async fn an_llm_rerun_upgrades_the_preliminary_report_in_place() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (bundle, llm) = inputs();
    let builtin = Analysis {
        analyzer: Analyzer::Builtin,
        preliminary: true,
        summary: "Container web in web-6f9c7b8d4-q7w4z is in CrashLoopBackOff.".into(),
        ..llm.clone()
    };
    let preliminary = sink(tmp.path())
        .publish(&rendered(&bundle, &builtin))
        .await
        .expect("preliminary");
    let upgraded = sink(tmp.path())
        .publish(&rendered(&bundle, &llm))
        .await
        .expect("upgrade");

    assert!(upgraded.committed);
    assert_eq!(upgraded.report.path, preliminary.report.path, "same file");
    assert_ne!(upgraded.report.commit, preliminary.report.commit);
    assert_eq!(
        git(tmp.path(), &["rev-list", "--count", "HEAD"]).trim(),
        "2"
    );
    let changed = git(tmp.path(), &["diff", "--name-only", "HEAD~1", "HEAD"]);
    let mut changed: Vec<&str> = changed.lines().collect();
    changed.sort_unstable();
    assert_eq!(changed, [INDEX_PATH, upgraded.report.path.as_str()]);
    let index = git(tmp.path(), &["show", &format!("HEAD:{INDEX_PATH}")]);
    let rows: Vec<&str> = index.lines().filter(|l| l.starts_with("| 2026")).collect();
    assert_eq!(
        rows.len(),
        1,
        "the row is replaced, not duplicated: {index}"
    );
    assert!(rows[0].contains("| no |"), "{}", rows[0]);
    let file = git(
        tmp.path(),
        &["show", &format!("HEAD:{}", upgraded.report.path)],
    );
    assert!(file.contains("preliminary: false") && !file.contains("Preliminary report"));
}

#[tokio::test]
async fn a_second_run_adds_a_row_and_the_index_lists_newest_first() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (bundle, analysis) = inputs();
    sink(tmp.path())
        .publish(&rendered(&bundle, &analysis))
        .await
        .expect("first");
    let mut later = bundle.clone();
    later.run_id = "01936c00-0000-7000-8000-000000000001".into();
    later.collected_at = "2026-11-27T08:00:00Z".parse().expect("time");
    let later_analysis = Analysis {
        run_id: later.run_id.clone(),
        ..analysis
    };
    let second = sink(tmp.path())
        .publish(&rendered(&later, &later_analysis))
        .await
        .expect("second");
    assert_eq!(
        second.report.path,
        "rca/web/2026-11-27-01936c00-0000-7000-8000-000000000001.md"
    );
    let index = git(tmp.path(), &["show", &format!("HEAD:{INDEX_PATH}")]);
    let dates: Vec<&str> = index
        .lines()
        .filter(|l| l.starts_with("| 2026"))
        .map(|l| &l[2..12])
        .collect();
    assert_eq!(dates, ["2026-11-27", "2026-11-26"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_into_one_repository_all_commit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("reports");
    let (bundle, analysis) = inputs();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (mut bundle, mut analysis) = (bundle.clone(), analysis.clone());
        bundle.run_id = format!("{}-{i}", bundle.run_id);
        analysis.run_id.clone_from(&bundle.run_id);
        let report = rendered(&bundle, &analysis);
        // A sink each, as two processes would have.
        let sink = sink(&dir);
        tasks.push(tokio::spawn(async move { sink.publish(&report).await }));
    }
    for task in tasks {
        let published = task.await.expect("task").expect("every publish succeeds");
        assert!(published.committed);
    }
    assert_eq!(git(&dir, &["rev-list", "--count", "HEAD"]).trim(), "6");
    assert_eq!(
        git(&dir, &["status", "--porcelain"]).trim(),
        "",
        "nothing left behind"
    );
}
