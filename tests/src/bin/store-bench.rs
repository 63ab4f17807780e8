//! Conditional-write benchmark for the store adapters.
//!
//! `store-bench local|s3 [--writers 16] [--increments 50]` runs two scenarios:
//! - contended: every writer increments one counter (read, modify, conditional write,
//!   re-read on conflict), so most attempts race;
//! - uncontended: every writer increments its own counter.
//!
//! It prints throughput (successful conditional writes per second), the conflict-retry
//! rate (lost conditional writes per attempt) and per-increment latency percentiles.
//! The s3 mode uses the local endpoint in `AIOPS_TEST_S3_ENDPOINT` (scripts/bench-store
//! starts moto).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aiops_tests::conformance::{increment, read_counter};
use aiops_tests::services::fresh_s3_store;
use shared::store::{LocalStore, Store};

#[derive(Debug)]
struct Scenario {
    name: &'static str,
    writes: u64,
    conflicts: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Scenario {
    // Counts and durations here are far below f64's exact range.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    fn report(&mut self, adapter: &str) {
        self.latencies.sort();
        let last = self.latencies.len().saturating_sub(1) as f64;
        let pct = |p: f64| self.latencies[(last * p).round() as usize];
        let (writes, conflicts) = (self.writes as f64, self.conflicts as f64);
        println!(
            "{adapter:5} {:11} writes={:5} conflicts={:6} writes/s={:9.1} \
             retry_rate={:5.3} conflicts/write={:6.2} p50={:?} p99={:?}",
            self.name,
            self.writes,
            self.conflicts,
            writes / self.elapsed.as_secs_f64(),
            conflicts / (writes + conflicts),
            conflicts / writes,
            pct(0.50),
            pct(0.99),
        );
    }
}

async fn run(
    store: Arc<dyn Store>,
    name: &'static str,
    writers: usize,
    increments: u64,
) -> Scenario {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = Arc::clone(&store);
        let key = if name == "contended" {
            "bench/counter".to_owned()
        } else {
            format!("bench/counter-{w}")
        };
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            let mut latencies = Vec::new();
            for _ in 0..increments {
                let t = Instant::now();
                conflicts += u64::from(increment(&*store, &key).await);
                latencies.push(t.elapsed());
            }
            (conflicts, latencies)
        }));
    }
    let mut scenario = Scenario {
        name,
        writes: 0,
        conflicts: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (conflicts, latencies) = task.await.expect("writer");
        scenario.conflicts += conflicts;
        scenario.latencies.extend(latencies);
    }
    scenario.elapsed = started.elapsed();
    scenario.writes = writers as u64 * increments;
    let total = if name == "contended" {
        read_counter(&*store, "bench/counter").await
    } else {
        let mut sum = 0;
        for w in 0..writers {
            sum += read_counter(&*store, &format!("bench/counter-{w}")).await;
        }
        sum
    };
    assert_eq!(total, scenario.writes, "no update may be lost");
    scenario
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let adapter = args.first().map_or("local", String::as_str).to_owned();
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let writers = usize::try_from(flag("--writers", 16)).expect("writers");
    let increments = flag("--increments", 50);

    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["contended", "uncontended"] {
        let store: Arc<dyn Store> = match adapter.as_str() {
            "local" => Arc::new(LocalStore::open(dir.path().join(name)).expect("open")),
            "s3" => Arc::new(fresh_s3_store().await),
            other => panic!("unknown adapter {other:?}: expected local or s3"),
        };
        run(store, name, writers, increments).await.report(&adapter);
    }
}
