//! Evidence collection benchmark, two measurements:
//! - wall time: catalog, cluster, logs and k8sgpt sources answering after 100, 200, 400
//!   and 200 ms (real timers), against the slowest source; the target is at most 1.2x;
//! - peak memory: the VictoriaLogs source reading a 100,000-line answer streamed by a
//!   local server that generates the lines as it writes them (so the server holds no
//!   copy), at two line caps. The process's VmHWM (peak resident set, /proc/self/status)
//!   is read before and after; growth should follow the caps, not the answer's size.
//!
//! `cargo run --profile bench -p aiops-tests --bin collect-bench`

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::clock::SystemClock;
use shared::collect::{CollectContext, CollectSettings, collect, parse_request};
use shared::evidence::{CatalogEntity, Finding, LogLine};
use shared::redact::Redactor;
use shared::sources::logsql::LogSchema;
use shared::sources::victorialogs::VictoriaLogs;
use shared::sources::{
    Capped, Caps, Catalog, Cluster, ClusterEvidence, ClusterOptions, ClusterProvider,
    ClusterSources, EntityRef, FindingSource, LogSource, SourceError, Window, Workload,
};
use shared::store::LocalStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LINE: &str = r#"{"_time":"2026-11-26T05:03:31Z","_stream_id":"00000000000000002454868aa7d4fb95b7ea0d2db8fab78b","_stream":"{kubernetes.container_name=\"web\",kubernetes.pod_namespace=\"web-dev\"}","_msg":"config: unknown key \"featureFlags.beta\" in /etc/web/config.yaml","kubernetes.container_name":"web","kubernetes.pod_name":"web-6f9c7b8d4-q7w4z","kubernetes.pod_namespace":"web-dev","level":"error"}"#;
const LINES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Delayed(u64);

impl Delayed {
    async fn wait(self) {
        tokio::time::sleep(Duration::from_millis(self.0)).await;
    }
}

#[async_trait]
impl Catalog for Delayed {
    async fn entity(&self, e: &EntityRef) -> Result<CatalogEntity, SourceError> {
        self.wait().await;
        Ok(CatalogEntity {
            entity_ref: e.to_string(),
            ..CatalogEntity::default()
        })
    }
}

#[async_trait]
impl Cluster for Delayed {
    async fn workload(
        &self,
        _: &Workload,
        _: &Window,
        _: &ClusterOptions,
    ) -> Result<ClusterEvidence, SourceError> {
        self.wait().await;
        Ok(ClusterEvidence::default())
    }
}

#[async_trait]
impl LogSource for Delayed {
    async fn logs(
        &self,
        _: &Workload,
        _: &Window,
        _: &Caps,
    ) -> Result<Capped<LogLine>, SourceError> {
        self.wait().await;
        Ok(Capped::default())
    }
}

#[async_trait]
impl FindingSource for Delayed {
    async fn findings(&self, _: &Workload) -> Result<Capped<Finding>, SourceError> {
        self.wait().await;
        Ok(Capped::default())
    }
}

#[derive(Debug)]
struct Provider {
    cluster: Delayed,
    findings: Delayed,
}

#[async_trait]
impl ClusterProvider for Provider {
    async fn cluster(&self, _: &str) -> Result<ClusterSources, SourceError> {
        Ok(ClusterSources {
            cluster: Arc::new(self.cluster),
            findings: Arc::new(self.findings),
        })
    }
}

async fn wall_time(dir: &std::path::Path) {
    let ctx = CollectContext {
        catalog: Some(Arc::new(Delayed(100))),
        clusters: Arc::new(Provider {
            cluster: Delayed(200),
            findings: Delayed(200),
        }),
        logs: Some(Arc::new(Delayed(400))),
        store: Arc::new(LocalStore::open(dir).expect("a store directory")),
        redactor: Arc::new(Redactor::default()),
        clock: Arc::new(SystemClock),
        settings: CollectSettings::default(),
    };
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    let runs = 10;
    for i in 0..runs {
        let request = parse_request(
            &format!("bench-{i}"),
            "web",
            "prod",
            Some("web-dev"),
            "2h",
            None,
            Utc::now(),
        )
        .expect("a valid request");
        let start = Instant::now();
        collect(&ctx, &request).await.expect("collection");
        let took = start.elapsed();
        worst = worst.max(took);
        total += took;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "wall time, sources 100/200/400/200 ms, {runs} runs: mean {:.1} ms, worst {:.1} ms, worst/slowest {:.3} (target <= 1.2)",
        ms(total / runs),
        ms(worst),
        ms(worst) / 400.0
    );
}

/// Serves every connection a JSON-lines answer of `LINES` lines, written in batches as
/// they are generated.
async fn serve_lines() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 8192];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/stream+json\r\nconnection: close\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let batch: String = format!("{LINE}\n").repeat(100);
                for _ in 0..LINES / 100 {
                    if socket.write_all(batch.as_bytes()).await.is_err() {
                        return; // the reader stopped at its cap
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn peak_memory() {
    let url = serve_lines().await;
    let source = VictoriaLogs::new(
        &shared::victorialogs::Endpoint::parse(&url).expect("a URL"),
        LogSchema::vector(),
        Duration::from_mins(1),
    )
    .expect("a client");
    let t = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .expect("a time")
            .with_timezone(&Utc)
    };
    let window = Window {
        since: t("2026-11-26T03:00:00Z"),
        until: t("2026-11-26T06:00:00Z"),
    };
    let workload = Workload::locate("web", None, "web-dev");
    let answer_mib = (LINE.len() + 1) * LINES / (1024 * 1024);
    for lines in [500, 5_000, 50_000] {
        let caps = Caps {
            log_lines: lines,
            log_bytes: usize::MAX,
            ..Caps::default()
        };
        let before = vm_hwm_kib();
        let start = Instant::now();
        let got = source.logs(&workload, &window, &caps).await.expect("logs");
        println!(
            "100k-line answer (~{answer_mib} MiB), cap {lines} lines: kept {}, dropped >= {}, VmHWM {} -> {} KiB (+{} KiB), {:.1} ms",
            got.items.len(),
            got.dropped_items,
            before,
            vm_hwm_kib(),
            vm_hwm_kib().saturating_sub(before),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    peak_memory().await;
    wall_time(dir.path()).await;
}
