//! Namespace policy: who may look into which namespace.
//!
//! A namespace maps to an (environment, owner) pair from, in this order per field:
//! an explicit entry of the policy file, the namespace's labels in the cluster (through
//! the [`NamespaceLabels`] port), and the first naming pattern that matches
//! (`<team>-<env>` by default). [`decide`] turns that mapping, a principal and an
//! action into an allow or deny with a reason code; [`Authorizer`] adds token
//! verification and writes one audit record per decision.

mod authorizer;
mod decision;
mod file;
mod labels;
mod names;
mod pattern;
mod resolve;

pub use authorizer::{AccessError, AccessRequest, Authorizer, Credential};
pub use decision::{Decision, Outcome, Reason, decide};
pub use file::{
    DEFAULT_ENVIRONMENT_LABEL, DEFAULT_OWNER_LABEL, EnvironmentRules, LabelNames, POLICY_FILE_VAR,
    Policy, PolicyError,
};
pub use labels::{InMemoryLabels, LabelsError, NamespaceLabels, NoLabels};
pub use names::{Action, Environment};
pub use pattern::{DEFAULT_OWNER_TEMPLATE, Pattern};
pub use resolve::{Mapping, Source};

#[cfg(test)]
mod tests;
