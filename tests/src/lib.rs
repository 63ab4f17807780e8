//! Shared pieces of the end-to-end tests: the store conformance suite, access to the
//! local services (`scripts/test` starts them), and the probe handler that proves the
//! shared invocation layer.

pub mod backstage_app;
pub mod chain_rig;
pub mod conformance;
pub mod git;
pub mod github_fake;
pub mod golden;
pub mod kube_api;
pub mod kube_revisions;
pub mod llm;
pub mod markdown;
pub mod probe;
pub mod services;
#[path = "../../shared/src/identity/testkit.rs"]
#[allow(missing_debug_implementations)]
pub mod testkit;
