//! Secrets read at cold start, against a real Secrets Manager API (moto serves it on the
//! same port as S3): a secret created for this run with a fresh value is what the
//! configuration port answers for its variable; a secret that does not exist stops the
//! start-up with an error naming the variable and the secret, never a value; a variable
//! set both plainly and by secret is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aiops_tests::services::{s3_endpoint, s3_sdk_config};
use shared::Classify;
use shared::ErrorKind;
use shared::config::{Env, MapEnv};
use shared::secrets::{self, SecretError};

fn client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&s3_sdk_config(endpoint))
}

/// A secret with a fresh name and value; returns (ARN, value).
async fn fresh_secret(client: &aws_sdk_secretsmanager::Client) -> (String, String) {
    let name = format!("aiops-test/{}", uuid::Uuid::new_v4().simple());
    let value = format!("tok-{}", uuid::Uuid::new_v4().simple());
    let created = client
        .create_secret()
        .name(&name)
        .secret_string(&value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating secret {name} failed (is moto running?): {e:?}"));
    (
        created.arn().expect("moto returns the ARN").to_owned(),
        value,
    )
}

#[tokio::test]
async fn a_secret_named_by_its_arn_variable_is_what_the_configuration_reads() {
    let endpoint = s3_endpoint();
    let client = client(&endpoint);
    let (arn, value) = fresh_secret(&client).await;
    let (by_name, other) = fresh_secret(&client).await;
    let env = MapEnv::new()
        .with("AIOPS_GITHUB_TOKEN_SECRET_ARN", arn.clone())
        // A name (or ARN) works too; each variable gets its own secret.
        .with("AIOPS_LLM_API_KEY_SECRET_ARN", by_name)
        .with("AIOPS_GITHUB_REPO", "acme/reports");

    let loaded = secrets::load_with(&client, env).await.unwrap();

    assert_eq!(loaded.get("AIOPS_GITHUB_TOKEN"), Some(value.clone()));
    assert_eq!(loaded.get("AIOPS_LLM_API_KEY"), Some(other));
    // Everything else is the underlying environment, unchanged.
    assert_eq!(
        loaded.get("AIOPS_GITHUB_REPO").as_deref(),
        Some("acme/reports")
    );
    assert_eq!(loaded.get("AIOPS_BACKSTAGE_TOKEN"), None);
    assert_eq!(
        loaded.from_secrets().collect::<Vec<_>>(),
        ["AIOPS_GITHUB_TOKEN", "AIOPS_LLM_API_KEY"]
    );
    let debug = format!("{loaded:?}");
    assert!(!debug.contains(&value), "{debug}");
}

#[tokio::test]
async fn a_missing_secret_is_a_configuration_error_naming_the_variable_and_the_secret() {
    let endpoint = s3_endpoint();
    let client = client(&endpoint);
    let missing = format!("aiops-test/missing-{}", uuid::Uuid::new_v4().simple());
    let env = MapEnv::new().with("AIOPS_BACKSTAGE_TOKEN_SECRET_ARN", missing.clone());

    let err = secrets::load_with(&client, env).await.unwrap_err();

    let text = err.to_string();
    assert!(matches!(err, SecretError::Config(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(!err.is_retryable());
    assert!(text.contains("AIOPS_BACKSTAGE_TOKEN_SECRET_ARN"), "{text}");
    assert!(text.contains(&missing), "{text}");
    assert!(text.contains("not found"), "{text}");
}

#[tokio::test]
async fn a_variable_set_plainly_and_by_secret_is_refused_before_any_secret_is_read() {
    let endpoint = s3_endpoint();
    let client = client(&endpoint);
    let (arn, secret_value) = fresh_secret(&client).await;
    let plain = format!("plain-{}", uuid::Uuid::new_v4().simple());
    let env = MapEnv::new()
        .with("AIOPS_GITHUB_TOKEN", plain.clone())
        .with("AIOPS_GITHUB_TOKEN_SECRET_ARN", arn);

    let err = secrets::load_with(&client, env).await.unwrap_err();

    let text = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(text.contains("AIOPS_GITHUB_TOKEN is invalid"), "{text}");
    assert!(text.contains("AIOPS_GITHUB_TOKEN_SECRET_ARN"), "{text}");
    assert!(
        !text.contains(&plain) && !text.contains(&secret_value),
        "{text}"
    );
}
