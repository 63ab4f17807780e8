//! The library every aiops binary stands on.
//!
//! - [`config`]: configuration from the environment, parsed once per binary.
//! - [`classify`], [`error`]: error conventions (invalid vs dependency, retryable or
//!   not, the Lambda error type) in a leaf module, and the crate's own error.
//! - [`clock`]: time as a port, with a manual clock for tests.
//! - [`store`]: the shared key-value store with conditional writes (S3, local directory).
//! - [`evidence`], [`analysis`], [`run`]: the evidence bundle, the analysis result and
//!   the run record that travel between the steps.
//! - [`ledger`], [`chain`]: run records changed by conditional writes with leases, and
//!   the chain of steps one request runs through (in-process or one step per Lambda).
//! - [`backoff`]: the one exponential backoff with full jitter every retry uses.
//! - [`invoke`]: one entry point for every function binary: Lambda or `--event`.
//! - [`telemetry`]: tracing set-up (JSON lines in Lambda, readable in a terminal).
//! - [`redact`]: the one redactor for prompts, reports and audit/log records.
//! - [`identity`]: JWTs from trusted issuers (Backstage, ZITADEL) → principal and groups.
//! - [`policy`]: who may look into which namespace; decisions with audit records.
//! - [`llm`], [`analyzers`], [`analyze`]: the LLM port and its protections (prompt
//!   budget, limiter, shared circuit breaker), the built-in rule analyzers, and the
//!   analysis step that falls back from the one to the other.
//! - [`victorialogs`]: the VictoriaLogs endpoint and tenant, parsed once for the audit
//!   sink, the log source and the report's link.
//! - [`audit`]: redacted audit records to stdout or VictoriaLogs, batched and bounded.
//! - [`report`]: the markdown RCA report, its index, and the sinks that commit them.
//! - [`secrets`]: secrets read once at cold start from Secrets Manager into the
//!   configuration.
//!
//! Cargo features keep the heavy adapters out of binaries that do not use them: `kube`
//! (cluster sources and label lookups), `llm` ([`llm`], [`analyze`]), `report`
//! ([`report`]) and `secrets` ([`secrets`]). All are on by default for this crate's own
//! tests; every other crate names the ones it uses.

pub mod analysis;
#[cfg(feature = "llm")]
pub mod analyze;
pub mod analyzers;
pub mod audit;
pub mod backoff;
pub mod chain;
pub mod classify;
pub mod clock;
pub mod cluster_labels;
pub mod collect;
pub mod config;
pub mod entity;
pub mod error;
pub mod evidence;
pub mod identity;
pub mod invoke;
pub mod ledger;
#[cfg(feature = "llm")]
pub mod llm;
pub mod policy;
pub mod redact;
#[cfg(feature = "report")]
pub mod report;
pub mod run;
#[cfg(feature = "secrets")]
pub mod secrets;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod victorialogs;

pub use error::{Classify, Error, ErrorKind, Result};
