//! Redaction throughput on realistic JSON log lines.
//!
//! Groups: clean lines (no secret, the common case), lines that carry secrets, and a
//! realistic mix; each with the built-in rules alone and with 10 and 50 user patterns.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shared::redact::{CustomPattern, RedactionConfig, Redactor};

/// Clean log lines as Kubernetes workloads and our own functions write them.
fn clean_lines(n: usize) -> String {
    let templates = [
        r#"{"_time":"2026-11-26T05:36:12.123456Z","level":"info","service":"checkout","pod":"checkout-7d9f8b6c5d-x2k4p","namespace":"checkout-prod","msg":"GET /api/v1/orders/{id} 200","duration_ms":12,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}"#,
        r#"{"_time":"2026-11-26T05:36:13.000001Z","level":"warn","service":"payments","pod":"payments-6c8b9f7d4-qwe12","namespace":"payments-prod","msg":"retrying upstream call to https://ledger.internal:8443/v2/entries after 503","attempt":2,"trace_id":"a3ce929d0e0e47364bf92f3577b34da6"}"#,
        r#"{"_time":"2026-11-26T05:36:14.5Z","level":"error","service":"inventory","pod":"inventory-0","namespace":"inventory-staging","msg":"failed to reserve stock: context deadline exceeded","sku":"SKU-99812","image":"ghcr.io/acme/inventory@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","commit":"3f786850e387550fdab836ed7e6dc881de23001b"}"#,
        r#"{"_time":"2026-11-26T05:36:15.9Z","level":"info","service":"llm-analyze","msg":"analysis finished","prompt_tokens":1834,"completion_tokens":412,"model":"gpt-4o-mini","run_id":"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"}"#,
    ];
    lines(&templates, n)
}

/// Lines that carry one secret each, of different kinds.
fn secret_lines(n: usize) -> String {
    let templates = [
        r#"{"_time":"2026-11-26T05:36:12Z","level":"info","service":"deployer","msg":"using key AKIAIOSFODNN7EXAMPLE for s3 upload","pod":"deployer-5f6d7c8b9-abcde"}"#,
        r#"{"_time":"2026-11-26T05:36:12Z","level":"debug","service":"gateway","msg":"upstream request","headers":{"authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.ZmFrZS1zaWduYXR1cmU","accept":"application/json"}}"#,
        r#"{"_time":"2026-11-26T05:36:12Z","level":"error","service":"orders","msg":"cannot connect to postgres://orders:hunter2@db.orders-prod:5432/orders: timeout","attempt":3}"#,
        r#"{"_time":"2026-11-26T05:36:12Z","level":"info","service":"ci","msg":"clone with ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 succeeded","repo":"acme/checkout"}"#,
    ];
    lines(&templates, n)
}

/// Request logs as ingress controllers write them: about half carry a `session_id=`
/// query parameter (a sensitive key, so those lines change), one in a hundred a
/// vendor secret, the rest are clean.
fn request_lines(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let line = match i % 100 {
            0 => format!(
                r#"{{"_time":"2026-11-26T05:36:12Z","level":"error","service":"payments","msg":"charge failed with sk_live_{i:024}","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}}"#
            ),
            k if k % 2 == 1 => format!(
                r#"{{"_time":"2026-11-26T05:36:12.{i:06}Z","level":"info","service":"cart","pod":"cart-84d8dbc742-ljooa","msg":"request completed","method":"GET","url":"/api/v1/items/{i}?session_id=8f506b40928b5b7a767c76fb{i:08}&page=11","status":200,"duration_ms":83,"trace_id":"58904dba41ecccc3fc1626e53a13043b"}}"#
            ),
            _ => format!(
                r#"{{"_time":"2026-11-26T05:36:12.{i:06}Z","level":"warn","service":"payments","pod":"payments-6c8b9f7d4-qwe12","msg":"retrying upstream call to https://ledger.internal:8443/v2/entries after 503","attempt":2,"trace_id":"a3ce929d0e0e47364bf92f3577b34da6"}}"#
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// One line in twenty carries a secret.
fn mixed_lines(n: usize) -> String {
    let clean = clean_lines(n);
    let secret = secret_lines(n / 20 + 1);
    let mut secret_iter = secret.lines();
    let mut out = String::new();
    for (i, line) in clean.lines().enumerate() {
        let line = if i % 20 == 19 {
            secret_iter.next().unwrap_or(line)
        } else {
            line
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn lines(templates: &[&str], n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        out.push_str(templates[i % templates.len()]);
        out.push('\n');
    }
    out
}

/// `n` user patterns of the kind people add: an internal id shape with a literal prefix.
fn config_with(n: usize) -> RedactionConfig {
    RedactionConfig {
        extra_keys: Vec::new(),
        extra_patterns: (0..n)
            .map(|i| CustomPattern {
                name: format!("internal_{i}"),
                pattern: format!(r"\bACME{i:02}-[A-Z0-9]{{24}}\b"),
            })
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let inputs = [
        ("clean", clean_lines(2_000)),
        ("secrets", secret_lines(2_000)),
        ("mixed", mixed_lines(2_000)),
        ("requests", request_lines(2_000)),
    ];
    for extra in [0, 10, 50] {
        let redactor = Redactor::new(&config_with(extra)).expect("bench config compiles");
        let mut group = c.benchmark_group(format!("redact/builtin+{extra}"));
        for (name, input) in &inputs {
            group.throughput(Throughput::Bytes(input.len() as u64));
            group.bench_with_input(
                BenchmarkId::new("text_per_line", name),
                input,
                |b, input| {
                    b.iter(|| {
                        let mut changed = 0usize;
                        for line in input.lines() {
                            changed += usize::from(matches!(
                                redactor.redact_text(black_box(line)),
                                std::borrow::Cow::Owned(_)
                            ));
                        }
                        changed
                    });
                },
            );
            group.bench_with_input(BenchmarkId::new("json_text", name), input, |b, input| {
                b.iter(|| redactor.redact_json_text(black_box(input)).len());
            });
            // What `aiops redact` runs: the stream over the whole input.
            group.bench_with_input(BenchmarkId::new("stream", name), input, |b, input| {
                b.iter(|| {
                    let mut out = Vec::with_capacity(input.len() + 4096);
                    redactor
                        .redact_stream(black_box(input.as_bytes()), &mut out)
                        .expect("writing to a Vec cannot fail");
                    out.len()
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
