//! Local services the tests need. `scripts/test` starts them and exports their
//! addresses; a test that needs one that is not running fails and says how to start it.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::Credentials;
use shared::config::{Env, ProcessEnv};
use shared::store::{S3Location, S3Store};

/// The variable `scripts/test` sets to the local S3 endpoint (moto).
pub const S3_ENDPOINT_VAR: &str = "AIOPS_TEST_S3_ENDPOINT";

/// The local S3 endpoint; panics with instructions when it is not configured.
pub fn s3_endpoint() -> String {
    ProcessEnv.get(S3_ENDPOINT_VAR).unwrap_or_else(|| {
        panic!(
            "{S3_ENDPOINT_VAR} is not set: this test needs a local S3 endpoint. Run the \
             tests with scripts/test (it starts one), or start moto yourself: \
             pip install 'moto[server]' && moto_server -H 127.0.0.1 -p 5000 & \
             export {S3_ENDPOINT_VAR}=http://127.0.0.1:5000"
        )
    })
}

/// An SDK configuration for the local endpoint with static test credentials.
pub fn s3_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            Credentials::new("testing", "testing", None, None, "aiops-tests"),
        ))
        .build()
}

/// Creates a fresh bucket on the local endpoint and returns a store on it, under a
/// prefix so prefix handling is exercised too.
pub async fn fresh_s3_store() -> S3Store {
    let endpoint = s3_endpoint();
    let sdk = s3_sdk_config(&endpoint);
    let bucket = format!("aiops-test-{}", uuid::Uuid::new_v4().simple());
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!("creating bucket {bucket} at {endpoint} failed (is moto running?): {e:?}")
        });
    S3Store::new(
        &sdk,
        S3Location {
            bucket,
            prefix: "aiops".into(),
            endpoint: Some(endpoint),
            path_style: true,
        },
    )
}

/// The variables `scripts/test` sets to a running Backstage catalog and its token.
pub const BACKSTAGE_URL_VAR: &str = "AIOPS_TEST_BACKSTAGE_URL";
/// See [`BACKSTAGE_URL_VAR`].
pub const BACKSTAGE_TOKEN_VAR: &str = "AIOPS_TEST_BACKSTAGE_TOKEN";

/// The local Backstage catalog (tests/backstage) and its static service token; panics
/// with instructions when it is not running.
pub fn backstage() -> (String, String) {
    let instructions = || {
        format!(
            "{BACKSTAGE_URL_VAR} and {BACKSTAGE_TOKEN_VAR} are not set: this test needs the \
             Backstage catalog in tests/backstage. Run the tests with scripts/test (it installs \
             and starts it), or: source scripts/services.sh && start_backstage, then run \
             cargo test in the same shell"
        )
    };
    let url = ProcessEnv
        .get(BACKSTAGE_URL_VAR)
        .unwrap_or_else(|| panic!("{}", instructions()));
    let token = ProcessEnv
        .get(BACKSTAGE_TOKEN_VAR)
        .unwrap_or_else(|| panic!("{}", instructions()));
    (url, token)
}

/// The variable `scripts/test` sets to the address the test Backstage's proxy route
/// `aiops` targets: the end-to-end tests start rca-api there.
pub const RCA_API_URL_VAR: &str = "AIOPS_TEST_RCA_API_URL";

/// The `host:port` rca-api must listen on for the test Backstage's proxy to reach it;
/// panics with instructions when it is not configured.
pub fn rca_api_listen_addr() -> String {
    let url = ProcessEnv.get(RCA_API_URL_VAR).unwrap_or_else(|| {
        panic!(
            "{RCA_API_URL_VAR} is not set: this test needs the test Backstage whose proxy \
             route targets it. Run the tests with scripts/test, or: source \
             scripts/services.sh && start_backstage, then run cargo test in the same shell"
        )
    });
    url.strip_prefix("http://")
        .unwrap_or_else(|| panic!("{RCA_API_URL_VAR} is {url:?}; expected http://HOST:PORT"))
        .trim_end_matches('/')
        .to_owned()
}
