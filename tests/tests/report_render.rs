//! The rendered report for a realistic crash-loop bundle: golden file, markdown
//! structure, mermaid well-formedness, redaction and determinism.
#![allow(clippy::unwrap_used)]

use aiops_tests::golden::{assert_golden, data};
use aiops_tests::markdown::{check_mermaid_timeline, code_blocks, headings, table_rows};
use pulldown_cmark::HeadingLevel;
use shared::analysis::Analysis;
use shared::evidence::EvidenceBundle;
use shared::redact::Redactor;
use shared::report::{ReportConfig, bundle_digest, render};

fn inputs() -> (EvidenceBundle, Analysis) {
    let bundle = serde_json::from_str(&data("report/crashloop-bundle.json")).expect("bundle");
    let analysis = serde_json::from_str(&data("report/crashloop-analysis.json")).expect("analysis");
    (bundle, analysis)
}

fn config() -> ReportConfig {
    ReportConfig {
        backstage_ui_url: Some("https://backstage.example.com".into()),
        victorialogs_url: Some("http://victorialogs.example.com:9428".into()),
        ..ReportConfig::default()
    }
}

#[test]
fn crashloop_report_matches_the_golden_file() {
    let (bundle, analysis) = inputs();
    let report = render(&bundle, &analysis, &config(), &Redactor::default()).expect("render");
    assert_eq!(
        report.path,
        "rca/web/2026-11-26-01936b2e-5f3a-7c41-9d2e-0a1b2c3d4e5f.md"
    );
    assert_golden("report/crashloop-report.md", &report.markdown);
}

#[test]
fn report_is_valid_markdown_with_every_section_and_a_wellformed_timeline() {
    let (bundle, analysis) = inputs();
    let md = render(&bundle, &analysis, &config(), &Redactor::default())
        .expect("render")
        .markdown;
    assert_eq!(
        headings(&md, HeadingLevel::H2),
        [
            "Summary",
            "Root cause",
            "Impact",
            "Timeline",
            "Evidence",
            "Remediation",
            "Follow-ups",
            "Links",
            "Gaps"
        ]
    );
    assert_eq!(
        headings(&md, HeadingLevel::H3),
        [
            "Pods",
            "Events",
            "Rollouts",
            "Decisive log lines",
            "k8sgpt findings"
        ]
    );
    let diagrams = code_blocks(&md, "mermaid");
    assert_eq!(diagrams.len(), 1);
    check_mermaid_timeline(&diagrams[0]).unwrap_or_else(|e| panic!("{e}\n{}", diagrams[0]));
    // The escaped pipe in a remediation step and in cells must not add columns or rows.
    assert!(table_rows(&md) > 15);
    assert!(
        md.contains("Ready \\| and stay so"),
        "pipes in cells are escaped"
    );
    // Cited items are marked; uncited ones are not.
    assert!(md.contains("| ★ log/1 |"));
    assert!(md.contains("| ★ finding/0 |"));
    assert!(md.contains("| event/0 |"));
}

#[test]
fn front_matter_is_flat_and_small_and_the_rest_is_in_the_body_once() {
    let (bundle, analysis) = inputs();
    let md = render(&bundle, &analysis, &config(), &Redactor::default())
        .expect("render")
        .markdown;
    let (front, body) = md
        .strip_prefix("---\n")
        .and_then(|r| r.split_once("\n---\n"))
        .expect("front matter");
    let expected = [
        "run_id: \"01936b2e-5f3a-7c41-9d2e-0a1b2c3d4e5f\"".to_owned(),
        "entity: \"component:default/web\"".to_owned(),
        "cluster: \"dev-eu1\"".to_owned(),
        "namespace: \"web-dev\"".to_owned(),
        "generated_at: \"2026-11-26T05:11:40Z\"".to_owned(),
        "preliminary: false".to_owned(),
        format!("evidence_sha256: \"{}\"", bundle_digest(&bundle)),
    ];
    // Exactly these keys, one level deep: GitHub draws front matter as a table, and a
    // nested map as a table inside a cell.
    assert_eq!(front.lines().collect::<Vec<_>>(), expected, "{front}");
    // What left the front matter is in the body once: window, collection time, analyzer
    // and confidence.
    for (text, times) in [
        (
            "| 2026-11-26T03:10:00Z – 2026-11-26T05:10:00Z | 2026-11-26T05:10:02Z | group:default/web | LLM openai / gpt-4.1-mini |",
            1,
        ),
        ("**Confidence: high.**", 1),
        ("gpt-4.1-mini", 1),
        (bundle_digest(&bundle).as_str(), 0),
    ] {
        assert_eq!(body.matches(text).count(), times, "{text:?} in\n{body}");
    }
}

#[test]
fn links_point_at_the_backstage_entity_and_a_victorialogs_query_for_the_window() {
    let (bundle, analysis) = inputs();
    let md = render(&bundle, &analysis, &config(), &Redactor::default())
        .expect("render")
        .markdown;
    assert!(
        md.contains("(<https://backstage.example.com/catalog/default/component/web>)"),
        "{md}"
    );
    assert!(md.contains(
        "http://victorialogs.example.com:9428/select/vmui/?query=_time%3A%5B2026-11-26T03%3A10%3A00Z%2C+2026-11-26T05%3A10%3A00Z%5D+kubernetes.pod_namespace%3A%3D%22web-dev%22"
    ), "{md}");
    assert!(
        md.contains("`` kubectl --context dev-eu1 -n web-dev describe deployment/web ``")
            || md.contains("` kubectl --context dev-eu1 -n web-dev describe deployment/web `")
    );
}

#[test]
fn the_same_inputs_render_the_same_bytes_and_the_digest_ignores_field_order() {
    let (bundle, analysis) = inputs();
    let a = render(&bundle, &analysis, &config(), &Redactor::default()).expect("render");
    let b = render(
        &bundle.clone(),
        &analysis.clone(),
        &config(),
        &Redactor::default(),
    )
    .expect("render");
    assert_eq!(a, b);
    // Re-serialised through a map with different key order: same digest.
    let value: serde_json::Value = serde_json::to_value(&bundle).expect("json");
    let reparsed: EvidenceBundle = serde_json::from_value(value).expect("bundle");
    assert_eq!(bundle_digest(&reparsed), bundle_digest(&bundle));
    let mut changed = bundle.clone();
    changed.events[0].count += 1;
    assert_ne!(bundle_digest(&changed), bundle_digest(&bundle));
}

#[test]
fn secrets_in_evidence_or_analysis_never_reach_the_report() {
    let (mut bundle, mut analysis) = inputs();
    let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    bundle.logs[0].message = format!("auth failed with token {token}");
    bundle.events[0].message = "password=hunter2-very-secret; retrying".into();
    analysis.root_cause = format!("The deploy key {token} was rotated.");
    analysis.evidence_ids.push("log/0".into());
    let report = render(&bundle, &analysis, &config(), &Redactor::default()).expect("render");
    assert!(!report.markdown.contains(token), "token leaked");
    assert!(
        !report.markdown.contains("hunter2-very-secret"),
        "password leaked"
    );
    assert!(report.markdown.contains("[REDACTED:github_token]"));
    assert!(!report.commit_message.contains(token));
}

#[test]
fn hostile_text_cannot_add_headings_or_break_the_diagram() {
    let (mut bundle, mut analysis) = inputs();
    analysis.summary = "fine\n## Injected heading\n```".into();
    bundle.events[1].message = "a: b; c # d %% e \"f\" <g> {h}\nnext line | pipe".into();
    let md = render(&bundle, &analysis, &config(), &Redactor::default())
        .expect("render")
        .markdown;
    assert!(
        !headings(&md, HeadingLevel::H2)
            .iter()
            .any(|h| h.contains("Injected"))
    );
    let diagram = &code_blocks(&md, "mermaid")[0];
    check_mermaid_timeline(diagram).unwrap_or_else(|e| panic!("{e}\n{diagram}"));
}

#[test]
fn a_preliminary_builtin_report_says_so_and_an_analysis_of_another_run_is_refused() {
    let (bundle, mut analysis) = inputs();
    analysis.analyzer = shared::analysis::Analyzer::Builtin;
    analysis.preliminary = true;
    analysis.fallback_reason = Some("circuit breaker open for openai".into());
    let report = render(&bundle, &analysis, &config(), &Redactor::default()).expect("render");
    assert!(report.markdown.contains("\npreliminary: true\n"));
    assert!(report.markdown.contains("> **Preliminary report.**"));
    assert!(report.markdown.contains("| group:default/web | built-in |"));
    assert!(report.markdown.contains("circuit breaker open for openai"));
    assert!(report.entry.preliminary);

    analysis.run_id = "another-run".into();
    let err = render(&bundle, &analysis, &config(), &Redactor::default()).unwrap_err();
    assert!(err.to_string().contains("analysis.run_id"), "{err}");
}

#[test]
fn every_example_bundle_renders_with_a_wellformed_timeline() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bundles");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/bundles") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let bundle: EvidenceBundle =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let analysis: Analysis = serde_json::from_value(serde_json::json!({
            "run_id": bundle.run_id, "analyzer": {"kind": "builtin"}, "preliminary": true,
            "summary": "s", "root_cause": "r", "confidence": "low", "generated_at": "2026-11-26T12:00:00Z"
        }))
        .expect("analysis");
        let md = render(
            &bundle,
            &analysis,
            &ReportConfig::default(),
            &Redactor::default(),
        )
        .expect("render")
        .markdown;
        for diagram in code_blocks(&md, "mermaid") {
            check_mermaid_timeline(&diagram)
                .unwrap_or_else(|e| panic!("{}: {e}\n{diagram}", path.display()));
        }
        assert!(headings(&md, HeadingLevel::H2).contains(&"Gaps".to_owned()));
        seen += 1;
    }
    assert_eq!(seen, 4, "four example bundles");
}
