//! Rendering an RCA report (timeline, tables, template, redaction) and merging a row
//! into a large index: the work commit-report does per run besides the Git calls.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shared::analysis::Analysis;
use shared::evidence::EvidenceBundle;
use shared::redact::Redactor;
use shared::report::{IndexEntry, ReportConfig, index, render};

const BUNDLE: &str = include_str!("../../examples/bundles/crashloop-missing-config.json");

fn analysis(run_id: &str) -> Analysis {
    serde_json::from_value(serde_json::json!({
        "run_id": run_id,
        "analyzer": {"kind": "llm", "provider": "openai", "model": "gpt-4.1-mini"},
        "preliminary": false,
        "summary": "web is crash-looping because database.url is missing from its config.",
        "root_cause": "The ConfigMap lacks database.url; the process exits with status 2.",
        "confidence": "high",
        "evidence_ids": ["pod/web-6f9c7b8d4-q7w4z", "event/1", "log/1"],
        "remediation": ["Add database.url", "Restart the rollout"],
        "generated_at": "2026-11-26T05:11:40Z"
    }))
    .expect("analysis")
}

fn bench(c: &mut Criterion) {
    let bundle: EvidenceBundle = serde_json::from_str(BUNDLE).expect("bundle");
    let analysis = analysis(&bundle.run_id);
    let config = ReportConfig {
        backstage_ui_url: Some("https://backstage.example.com".into()),
        victorialogs_url: shared::victorialogs::Endpoint::parse("http://victorialogs:9428").ok(),
        ..ReportConfig::default()
    };
    let redactor = Redactor::default();
    c.bench_function("render crash-loop report", |b| {
        b.iter(|| {
            render(black_box(&bundle), black_box(&analysis), &config, &redactor).expect("render")
        });
    });

    let mut big = None;
    for i in 0..1_000 {
        let entry = IndexEntry {
            date: format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
            entity: "component:default/web".into(),
            summary: "a summary of moderate length for a report row".into(),
            preliminary: i % 3 == 0,
            path: format!("rca/web/run-{i}.md"),
        };
        big = Some(index::merge(big.as_deref(), &entry));
    }
    let big = big.unwrap_or_default();
    let entry = IndexEntry {
        date: "2026-12-31".into(),
        entity: "component:default/web".into(),
        summary: "new".into(),
        preliminary: false,
        path: "rca/web/new.md".into(),
    };
    c.bench_function("merge a row into a 1000-row index", |b| {
        b.iter(|| index::merge(black_box(Some(&big)), black_box(&entry)));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
