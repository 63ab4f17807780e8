//! Policy decisions per second and latency percentiles with warm caches.
//!
//! `cargo bench -p shared --bench policy`. Three cases: a repeated token (verified-token
//! cache hit), fresh ES256 tokens (Backstage: full signature check each time) and fresh
//! RS256 tokens (ZITADEL). Each decision includes mapping, decision and its audit
//! record (redacted, serialized, written to a sink).
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

#[path = "../src/identity/testkit.rs"]
mod testkit;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shared::audit::{AuditLogger, StdoutSink, StreamFields};
use shared::clock::ManualClock;
use shared::identity::{IdentityConfig, Verifier};
use shared::policy::{AccessRequest, Action, Authorizer, Credential, NoLabels, Policy};

const NOW: i64 = 1_795_651_200;
const N: usize = 20_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let ec = testkit::EcKey::generate("bs");
    let rsa = testkit::RsaKey::generate("z");
    let jwks = |name: &str, key: serde_json::Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, testkit::jwks(&[key]).to_string()).unwrap();
        path
    };
    let issuers = vec![
        serde_json::from_value(
            json!({"issuer": "https://bs/api/auth", "jwks_file": jwks("bs.json", ec.jwk()),
                                      "audience": "backstage", "kind": "backstage"}),
        )
        .unwrap(),
        serde_json::from_value(
            json!({"issuer": "https://z", "jwks_file": jwks("z.json", rsa.jwk()),
                                      "audience": "aiops", "kind": "zitadel", "org_ids": ["1"]}),
        )
        .unwrap(),
    ];
    let config = IdentityConfig {
        issuers,
        token_cache_size: 2 * N + 10,
        ..IdentityConfig::default()
    };
    let clock = Arc::new(ManualClock::at_millis(NOW * 1000));
    let stream = StreamFields {
        service: "aiops".into(),
        function: "bench".into(),
        env: "bench".into(),
    };
    let audit = AuditLogger::direct(
        stream,
        StdoutSink::with_writer(std::io::sink()),
        Arc::default(),
        clock.clone(),
    );
    let verifier = Arc::new(Verifier::new(&config, clock).unwrap());
    let authz = Authorizer::new(
        verifier,
        Arc::new(Policy::default()),
        Arc::new(NoLabels),
        audit,
    );

    let bs = |i: usize| {
        ec.token(
            &json!({"iss": "https://bs/api/auth", "aud": "backstage", "sub": "user:default/jane",
        "ent": ["group:default/team-checkout"], "exp": NOW + 3600, "jti": i}),
        )
    };
    let z = |i: usize| {
        rsa.token(
            &json!({"iss": "https://z", "aud": "aiops", "sub": "1", "preferred_username": "jane",
        "urn:zitadel:iam:org:project:roles": {"team-checkout": {"1": "acme.example"}}, "exp": NOW + 3600, "jti": i}),
        )
    };

    let repeated = bs(usize::MAX);
    measure(&authz, "repeated token (cache hit)", &vec![repeated; N]).await;
    measure(
        &authz,
        "fresh ES256 tokens (Backstage)",
        &(0..N).map(bs).collect::<Vec<_>>(),
    )
    .await;
    measure(
        &authz,
        "fresh RS256 tokens (ZITADEL)",
        &(0..N).map(z).collect::<Vec<_>>(),
    )
    .await;
}

async fn measure(authz: &Authorizer, name: &str, tokens: &[String]) {
    let mut request = AccessRequest {
        credential: Credential::Token(String::new()),
        cluster: Some("prod-eu1".into()),
        namespace: shared::entity::Namespace::parse("team-checkout-prod").unwrap(),
        action: Action::Read,
        request_id: None,
    };
    // Warm the key caches (one JWKS read per issuer) outside the measurement.
    request.credential = Credential::Token(tokens[0].clone());
    assert!(authz.check(&request).await.unwrap().allowed);
    let mut latencies = Vec::with_capacity(tokens.len());
    let start = Instant::now();
    for token in tokens {
        request.credential = Credential::Token(token.clone());
        let t = Instant::now();
        let decision = authz.check(&request).await.unwrap();
        latencies.push(t.elapsed());
        assert!(decision.allowed);
    }
    let total = start.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{name:32} {:>9.0} decisions/s   p50 {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs",
        tokens.len() as f64 / total.as_secs_f64(),
        micros(pct(0.50)),
        micros(pct(0.99)),
        micros(latencies[latencies.len() - 1]),
    );
}
