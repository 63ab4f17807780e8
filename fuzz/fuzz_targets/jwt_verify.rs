//! The JWT and JWKS parsing path, through the public verifier: a fuzzed key set is
//! served from a file and a fuzzed token is verified against it. Every input ends in
//! a principal or a `TokenError`, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use shared::clock::{ManualClock, SharedClock};
use shared::config::MapEnv;
use shared::identity::{IdentityConfig, Verifier};

const ISSUER: &str = "https://backstage.fuzz/api/auth";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    jwks: std::path::PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let jwks =
            std::env::temp_dir().join(format!("aiops-fuzz-jwks-{}.json", std::process::id()));
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds"),
            // Never used for a request: the key set comes from a file.
            http: reqwest::Client::new(),
            jwks,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    // Input: JWKS \0 header JSON \0 payload JSON \0 signature, or a raw token when it
    // holds no NUL. Header and payload are encoded here so the fuzzer explores the
    // JSON inside them rather than base64.
    let mut parts = data.split(|b| *b == 0);
    let first = parts.next().unwrap_or_default();
    let (jwks, token) = match (parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), signature) => (
            first,
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload),
                URL_SAFE_NO_PAD.encode(signature.unwrap_or_default())
            ),
        ),
        _ => (
            &b"{\"keys\":[]}"[..],
            String::from_utf8_lossy(first).into_owned(),
        ),
    };
    if std::fs::write(&fx.jwks, jwks).is_err() {
        return;
    }
    let issuers = serde_json::json!([{
        "issuer": ISSUER,
        "jwks_file": fx.jwks,
        "audience": "backstage",
        "kind": if data.len() % 2 == 0 { "backstage" } else { "zitadel" },
        "algorithms": ["ES256", "RS256", "EdDSA", "PS256"],
    }]);
    let env = MapEnv::new().with("AIOPS_TRUSTED_ISSUERS", issuers.to_string());
    let Ok(config) = IdentityConfig::from_env(&env) else {
        return;
    };
    let clock: SharedClock = Arc::new(ManualClock::at_millis(1_800_000_000_000));
    let verifier = Verifier::with_http(&config, clock, fx.http.clone());
    let _ = fx.runtime.block_on(verifier.verify(&token));
});
