//! The namespace audit at scale: `cargo bench -p aiops --bench audit -- N[:M] …`.
//!
//! For each N a local fake serves N namespaces (500 per page, `continue` tokens) and a
//! catalog of M Groups and M Components (M = N unless given; 500 per page, cursors),
//! both generated page by
//! page on request; the real `Auditor` lists, resolves and judges them all and stores
//! the document. One namespace in a hundred is unlabelled and unnamed by any component,
//! so findings grow with N as they would in a real cluster. Prints one line per N: wall
//! time, namespaces per second, findings. Peak memory is the process's, so run one N per
//! process under `/usr/bin/time -v` to read it.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::cast_precision_loss)]

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use shared::clock::{SharedClock, SystemClock};
use shared::config::MapEnv;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PAGE: usize = 500;

fn start_of(req: &Request, key: &str) -> usize {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.trim_start_matches('p').parse().ok())
        .unwrap_or(0)
}

/// Namespaces `svc<i>-dev`, labelled for group `svc<i>`; every hundredth is `scratch<i>`
/// with no labels.
struct Namespaces(usize);

impl Respond for Namespaces {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let start = start_of(req, "continue");
        let end = (start + PAGE).min(self.0);
        let items: Vec<Value> = (start..end)
            .map(|i| {
                let (name, labels) = if i % 100 == 99 {
                    (format!("scratch{i}"), json!({}))
                } else {
                    (
                        format!("svc{i}-dev"),
                        json!({"aiops.io/owner": format!("svc{i}"), "aiops.io/environment": "dev"}),
                    )
                };
                json!({"metadata": {"name": name, "uid": format!("{i:032x}"), "resourceVersion": "211",
                        "creationTimestamp": "2026-11-26T05:06:31Z", "labels": labels},
                       "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
            })
            .collect();
        let mut metadata = json!({"resourceVersion": "214"});
        if end < self.0 {
            metadata["continue"] = json!(format!("p{end}"));
            metadata["remainingItemCount"] = json!(self.0 - end);
        }
        ResponseTemplate::new(200).set_body_json(
            json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": metadata, "items": items}),
        )
    }
}

/// Groups `svc<i>` and Components `svc<i>` in `svc<i>-dev`; no users.
struct Catalog(usize);

impl Respond for Catalog {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let filter = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "filter")
            .map(|(_, v)| v.into_owned());
        let cursor = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.into_owned());
        // The cursor carries the query, as Backstage's does.
        let (kind, start) = match (&filter, &cursor) {
            (Some(f), _) => (f.trim_start_matches("kind=").to_owned(), 0),
            (None, Some(c)) => {
                let (kind, start) = c.split_once(':').unwrap();
                (kind.to_owned(), start.parse().unwrap())
            }
            (None, None) => return ResponseTemplate::new(400),
        };
        let total = if kind == "user" { 0 } else { self.0 };
        let end = (start + PAGE).min(total);
        let items: Vec<Value> = (start..end)
            .map(|i| match kind.as_str() {
                "group" => json!({"kind": "Group", "metadata": {"name": format!("svc{i}"), "namespace": "default"}}),
                _ => json!({"kind": "Component", "metadata": {"name": format!("svc{i}"), "namespace": "default",
                    "annotations": {"backstage.io/kubernetes-namespace": format!("svc{i}-dev")}},
                    "spec": {"owner": format!("group:default/svc{i}")}}),
            })
            .collect();
        let mut page = json!({"items": items, "totalItems": total, "pageInfo": {}});
        if end < total {
            page["pageInfo"]["nextCursor"] = json!(format!("{kind}:{end}"));
        }
        ResponseTemplate::new(200).set_body_json(page)
    }
}

async fn one(n: usize, m: usize) {
    let kube = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces"))
        .respond_with(Namespaces(n))
        .mount(&kube)
        .await;
    let catalog = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/catalog/entities/by-query"))
        .respond_with(Catalog(m))
        .mount(&catalog)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = MapEnv::new()
        .with("AIOPS_STORE", dir.path().to_string_lossy())
        .with("AIOPS_BACKSTAGE_URL", catalog.uri())
        .with("AIOPS_BACKSTAGE_TOKEN", "bench")
        .with(
            "AIOPS_CLUSTERS",
            json!({"bench": {"url": kube.uri()}}).to_string(),
        )
        .with("AIOPS_AUDIT_PAGE_SIZE", PAGE.to_string());
    let clock: SharedClock = Arc::new(SystemClock);
    let auditor = aiops::audit::Auditor::from_env(&env, clock).await.unwrap();
    let started = Instant::now();
    let report = auditor.run(&[]).await.unwrap();
    let wall = started.elapsed();
    assert_eq!(report.clusters[0].namespaces, n as u64);
    println!(
        "audit {n:>6} namespaces + {m} groups + {m} components: {:>7.2} s, {:>7.0} namespaces/s, {} findings",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        report.findings.len()
    );
}

fn main() {
    let sizes: Vec<(usize, usize)> = std::env::args()
        .skip(1)
        .filter_map(|a| match a.split_once(':') {
            Some((n, m)) => Some((n.parse().ok()?, m.parse().ok()?)),
            None => a.parse().ok().map(|n| (n, n)),
        })
        .collect();
    let sizes = if sizes.is_empty() {
        vec![(1_000, 1_000)]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for (n, m) in sizes {
        runtime.block_on(one(n, m));
    }
}
