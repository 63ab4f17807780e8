//! policy-check as a chain step: the run's principal (verified by rca-api) against the
//! run's namespace. A local operator run (no principal) is allowed with reason
//! `local_operator` and leaves the same audit record.

use serde_json::json;
use shared::audit::{AuditEvent, Decision as AuditDecision, Severity};
use shared::chain::{ChainState, StepFailure, StepOutput};
use shared::entity::Namespace;
use shared::policy::Action;

use crate::{Context, DecisionRequest, decide};

/// Decides for the run and records the audit record before returning.
pub async fn run(ctx: &Context, state: &ChainState) -> Result<StepOutput, StepFailure> {
    let outcome = if let Some(principal) = &state.principal {
        let namespace = Namespace::parse(&state.namespace).map_err(|e| {
            StepFailure::invalid(format!(
                "request.namespace: expected a Kubernetes namespace name ({e})"
            ))
        })?;
        let request = DecisionRequest {
            token: None,
            principal: Some(principal.clone()),
            cluster: Some(state.cluster.clone()),
            namespace,
            action: Action::Read,
        };
        decide(ctx, request, Some(state.run_id.clone()))
            .await
            .map_err(|e| StepFailure::from_error(&e))
            .map(|decision| {
                let value = serde_json::to_value(&decision).unwrap_or_default();
                if decision.allowed {
                    StepOutput::Allowed(value)
                } else {
                    StepOutput::Denied {
                        reason: decision.reason.as_str().to_owned(),
                        decision: value,
                    }
                }
            })
    } else {
        let audit_id = ctx.authorizer.audit().record(
            AuditEvent::new("namespace-access")
                .severity(Severity::Low)
                .actor(state.requested_by.clone())
                .cluster(state.cluster.clone())
                .namespace(state.namespace.clone())
                .entity(state.entity.clone())
                .decision(AuditDecision::Allow)
                .reason("local_operator")
                .request_id(state.run_id.clone()),
        );
        Ok(StepOutput::Allowed(json!({
            "allowed": true,
            "reason": "local_operator",
            "principal": state.requested_by,
            "audit_id": audit_id,
        })))
    };
    ctx.authorizer.audit().flush().await;
    outcome
}

shared::single_step_executor!(Context, PolicyCheck, run);
