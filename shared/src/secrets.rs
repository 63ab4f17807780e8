//! Secrets read once at cold start from AWS Secrets Manager.
//!
//! A deployment does not put a secret's value into the function's environment (where the
//! Lambda console and `lambda:GetFunctionConfiguration` show it). It sets
//! `<VAR>_SECRET_ARN` to the secret's ARN (or name) instead, for each variable of
//! [`SECRET_VARS`]; [`load`] reads every such secret once, before the binary parses its
//! configuration, and [`SecretEnv`] answers `<VAR>` with the value through the
//! configuration port. Nothing else in the process changes: configuration still reads
//! `AIOPS_GITHUB_TOKEN`, and never learns where it came from.
//!
//! Setting both `<VAR>` and `<VAR>_SECRET_ARN` is refused: one of them would be ignored,
//! and which one is a guess an operator should not have to make. Errors name the
//! variable and the secret id, never a value; values are in no log line and in no
//! `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

use crate::classify::{Classify, ErrorKind};
use crate::config::{ConfigError, Env, ProcessEnv};

/// The variables that may come from a secret: each one's `<VAR>_SECRET_ARN` names it.
pub const SECRET_VARS: [&str; 6] = [
    "AIOPS_BACKSTAGE_TOKEN",
    "AIOPS_GITHUB_TOKEN",
    "AIOPS_GITHUB_APP_PRIVATE_KEY",
    "AIOPS_LLM_API_KEY",
    "AIOPS_WEBHOOK_TOKEN",
    "AIOPS_ZITADEL_TOKEN",
];

/// The suffix of the variable that names a secret: `AIOPS_GITHUB_TOKEN_SECRET_ARN`.
pub const SECRET_ID_SUFFIX: &str = "_SECRET_ARN";

/// An endpoint override for Secrets Manager (a local moto server); unset in AWS.
pub const ENDPOINT_VAR: &str = "AIOPS_SECRETS_ENDPOINT";

/// The variable that names the secret of `var`.
pub fn secret_id_var(var: &str) -> String {
    format!("{var}{SECRET_ID_SUFFIX}")
}

/// Reading a secret at start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configuration is wrong: both variables set, a secret that does not exist, is
    /// empty, is binary, or may not be read by this function's role.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Secrets Manager could not be reached or failed; a later cold start may succeed.
    #[error("{var}: reading secret {secret_id} failed: {message}")]
    Unavailable {
        /// The variable that names the secret (`AIOPS_GITHUB_TOKEN_SECRET_ARN`).
        var: String,
        /// The secret's ARN or name, as configured.
        secret_id: String,
        /// What went wrong, from the SDK; never the value.
        message: String,
    },
}

impl Classify for SecretError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Invalid,
            Self::Unavailable { .. } => ErrorKind::Dependency,
        }
    }
}

/// The configuration port with the secrets read at start-up laid over `inner`.
#[derive(Clone)]
pub struct SecretEnv<E = ProcessEnv> {
    inner: E,
    values: BTreeMap<&'static str, String>,
}

impl<E> SecretEnv<E> {
    /// The variables that came from a secret.
    pub fn from_secrets(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.values.keys().copied()
    }
}

impl<E: fmt::Debug> fmt::Debug for SecretEnv<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretEnv")
            .field("inner", &self.inner)
            .field("from_secrets", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<E: Env> Env for SecretEnv<E> {
    fn raw(&self, name: &str) -> Option<String> {
        match self.values.get(name) {
            Some(value) => Some(value.clone()),
            None => self.inner.raw(name),
        }
    }
}

/// The secrets `env` names, as `(variable, secret-id variable, secret id)`; refuses a
/// variable set both ways.
fn wanted(env: &impl Env) -> Result<Vec<(&'static str, String, String)>, ConfigError> {
    let mut wanted = Vec::new();
    for var in SECRET_VARS {
        let id_var = secret_id_var(var);
        let Some(id) = env.get(&id_var) else {
            continue;
        };
        if env.get(var).is_some() {
            return Err(ConfigError::invalid(
                var,
                format!("unset when {id_var} names its secret (set one of the two)"),
                None,
            ));
        }
        wanted.push((var, id_var, id.trim().to_owned()));
    }
    Ok(wanted)
}

/// Reads every secret `env` names (`<VAR>_SECRET_ARN`) once and lays them over `env`.
/// Builds no AWS client when none is named, so a local run never needs AWS credentials.
/// Credentials and region come from the standard AWS chain (the Lambda role);
/// [`ENDPOINT_VAR`] points at another endpoint.
pub async fn load<E: Env>(env: E) -> Result<SecretEnv<E>, SecretError> {
    if wanted(&env)?.is_empty() {
        return Ok(SecretEnv {
            inner: env,
            values: BTreeMap::new(),
        });
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = env.get(ENDPOINT_VAR) {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(ConfigError::invalid(ENDPOINT_VAR, "an http(s) URL", None).into());
        }
        loader = loader.endpoint_url(endpoint);
    }
    let client = aws_sdk_secretsmanager::Client::new(&loader.load().await);
    load_with(&client, env).await
}

/// [`load`] with a given client (tests point it at a local server).
pub async fn load_with<E: Env>(
    client: &aws_sdk_secretsmanager::Client,
    env: E,
) -> Result<SecretEnv<E>, SecretError> {
    let mut values = BTreeMap::new();
    for (var, id_var, id) in wanted(&env)? {
        let answer = client
            .get_secret_value()
            .secret_id(&id)
            .send()
            .await
            .map_err(|e| read_error(&id_var, &id, &e))?;
        let value = match answer.secret_string() {
            Some(value) if !value.trim().is_empty() => value.to_owned(),
            Some(_) => return Err(refused(&id_var, &id, "it holds an empty string")),
            None => {
                return Err(refused(
                    &id_var,
                    &id,
                    "it holds binary data; store the value as a secret string",
                ));
            }
        };
        tracing::debug!(var, secret_id_var = %id_var, "read at cold start from Secrets Manager");
        values.insert(var, value);
    }
    Ok(SecretEnv { inner: env, values })
}

/// What a binary's start-up can fail with: reading its secrets, or building its context.
#[derive(Debug, thiserror::Error)]
pub enum StartError<E> {
    /// A secret could not be read.
    #[error(transparent)]
    Secrets(SecretError),
    /// The context could not be built from the configuration.
    #[error(transparent)]
    Context(E),
}

impl<E: Classify + 'static> Classify for StartError<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Secrets(e) => e.kind(),
            Self::Context(e) => e.kind(),
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Secrets(e) => e.is_retryable(),
            Self::Context(e) => e.is_retryable(),
        }
    }
}

/// A function binary's cold start: the process environment with its secrets ([`load`]),
/// handed to `build` for the context. `main` passes this to
/// [`crate::chain::lambda::serve`] in place of the bare context future.
pub async fn with_secrets<C, E, F, Fut>(build: F) -> Result<C, StartError<E>>
where
    F: FnOnce(SecretEnv) -> Fut,
    Fut: Future<Output = Result<C, E>>,
{
    let env = load(ProcessEnv).await.map_err(StartError::Secrets)?;
    build(env).await.map_err(StartError::Context)
}

const EXPECTED: &str = "the ARN or name of a Secrets Manager secret string this function may read";

fn refused(id_var: &str, id: &str, why: &str) -> SecretError {
    SecretError::Config(ConfigError::invalid(
        id_var,
        EXPECTED,
        Some(format!("secret {id}: {why}")),
    ))
}

fn read_error<R>(id_var: &str, id: &str, e: &SdkError<GetSecretValueError, R>) -> SecretError
where
    R: fmt::Debug,
{
    if let Some(service) = e.as_service_error() {
        let why = match service {
            GetSecretValueError::ResourceNotFoundException(_) => Some("not found".to_owned()),
            GetSecretValueError::DecryptionFailure(_) => {
                Some("cannot be decrypted with this function's KMS permissions".to_owned())
            }
            GetSecretValueError::InvalidParameterException(_)
            | GetSecretValueError::InvalidRequestException(_) => Some(format!(
                "refused: {}",
                service.message().unwrap_or("invalid request")
            )),
            _ if matches!(
                service.code(),
                Some("AccessDeniedException" | "UnrecognizedClientException")
            ) =>
            {
                Some("this function's role may not read it (secretsmanager:GetSecretValue)".into())
            }
            _ => None,
        };
        if let Some(why) = why {
            return refused(id_var, id, &why);
        }
    }
    SecretError::Unavailable {
        var: id_var.to_owned(),
        secret_id: id.to_owned(),
        message: DisplayErrorContext(e).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[tokio::test]
    async fn without_secret_ids_the_environment_passes_through_and_no_client_is_built() {
        // No AWS configuration exists here: building a client and calling would fail.
        let env = MapEnv::new().with("AIOPS_GITHUB_TOKEN", "plain");
        let loaded = load(env).await.unwrap();
        assert_eq!(loaded.get("AIOPS_GITHUB_TOKEN").as_deref(), Some("plain"));
        assert_eq!(loaded.from_secrets().count(), 0);
    }

    #[tokio::test]
    async fn a_variable_set_both_plainly_and_by_secret_is_refused_naming_both() {
        let value = format!("plain-{}", fastrand::u64(..));
        let env = MapEnv::new()
            .with("AIOPS_LLM_API_KEY", value.clone())
            .with("AIOPS_LLM_API_KEY_SECRET_ARN", "aiops/llm");
        let err = load(env).await.unwrap_err();
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert!(text.contains("AIOPS_LLM_API_KEY is invalid"), "{text}");
        assert!(text.contains("AIOPS_LLM_API_KEY_SECRET_ARN"), "{text}");
        assert!(!text.contains(&value), "{text}");
    }

    #[tokio::test]
    async fn a_malformed_endpoint_is_refused_naming_its_variable() {
        let env = MapEnv::new()
            .with("AIOPS_GITHUB_TOKEN_SECRET_ARN", "aiops/github")
            .with(ENDPOINT_VAR, "localhost:4566");
        let err = load(env).await.unwrap_err();
        assert!(err.to_string().contains(ENDPOINT_VAR), "{err}");
        assert_eq!(err.kind(), ErrorKind::Invalid);
    }

    #[test]
    fn debug_shows_which_variables_came_from_secrets_but_no_value() {
        let value = format!("v-{}", fastrand::u64(..));
        let env = SecretEnv {
            inner: MapEnv::new(),
            values: BTreeMap::from([("AIOPS_GITHUB_TOKEN", value.clone())]),
        };
        let text = format!("{env:?}");
        assert!(text.contains("AIOPS_GITHUB_TOKEN"), "{text}");
        assert!(!text.contains(&value), "{text}");
        assert_eq!(env.get("AIOPS_GITHUB_TOKEN"), Some(value));
    }
}
