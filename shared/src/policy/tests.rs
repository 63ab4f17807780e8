//! Policy tables: every environment and alias, strict and not, file validation, and
//! the audit record of each decision.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::audit::{AuditLogger, MemoryWriter, Severity, StdoutSink, StreamFields};
use crate::clock::ManualClock;
use crate::entity::{EntityRef, Namespace};
use crate::identity::{IdentityConfig, Principal, Verifier};

fn principal(groups: &[&str]) -> Principal {
    Principal {
        user: EntityRef::parse("user:default/jane").unwrap(),
        groups: groups
            .iter()
            .map(|g| EntityRef::parse(g).unwrap())
            .collect(),
    }
}

fn ns(name: &str) -> Namespace {
    Namespace::parse(name).unwrap()
}

fn owner(owner: Option<&EntityRef>) -> Option<String> {
    owner.map(ToString::to_string)
}

const CHECKOUT: &str = "group:default/team-checkout";

#[test]
fn the_default_policy_judges_every_environment_and_alias_by_name() {
    let policy = Policy::default();
    let names = [
        ("prod", Environment::Prod),
        ("production", Environment::Prod),
        ("prd", Environment::Prod),
        ("live", Environment::Prod),
        ("staging", Environment::Staging),
        ("stage", Environment::Staging),
        ("stg", Environment::Staging),
        ("preprod", Environment::Staging),
        ("dev", Environment::Dev),
        ("development", Environment::Dev),
        ("develop", Environment::Dev),
        ("test", Environment::Test),
        ("testing", Environment::Test),
        ("tst", Environment::Test),
        ("qa", Environment::Test),
    ];
    for (suffix, env) in names {
        let ns = format!("team-checkout-{suffix}");
        let mapping = policy.resolve(&self::ns(&ns), None);
        assert_eq!(mapping.environment, Some(env), "{ns}");
        assert_eq!(
            owner(mapping.owner.as_ref()).as_deref(),
            Some(CHECKOUT),
            "{ns}"
        );
        for action in Action::ALL {
            let owner = decide(&policy, &mapping, &principal(&[CHECKOUT]), action);
            assert_eq!(
                (owner.allowed, owner.reason),
                (true, Reason::Owner),
                "{ns} {action}"
            );
            let other = decide(
                &policy,
                &mapping,
                &principal(&["group:default/team-cart"]),
                action,
            );
            assert_eq!(
                (other.allowed, other.reason),
                (false, Reason::NotOwner),
                "{ns} {action}"
            );
        }
        let nobody = decide(&policy, &mapping, &principal(&[]), Action::Read);
        assert_eq!(nobody.reason, Reason::MissingGroups);
    }
}

#[test]
fn strict_denies_and_non_strict_allows_with_a_warning_what_it_cannot_judge() {
    let strict = Policy::default();
    let lax = Policy::parse("strict: false", "test").unwrap();
    let me = principal(&[CHECKOUT]);
    let someone = principal(&["group:default/team-cart"]);
    let table = [
        // (policy, namespace, principal, allowed, reason, warning)
        (
            &strict,
            "default",
            &me,
            false,
            Reason::UnmappedNamespace,
            false,
        ),
        (&lax, "default", &me, true, Reason::UnmappedNamespace, true),
        (
            &strict,
            "team-checkout-sandbox",
            &me,
            false,
            Reason::UnknownEnvironment,
            false,
        ),
        (
            &lax,
            "team-checkout-sandbox",
            &me,
            true,
            Reason::Owner,
            true,
        ),
        // An unknown environment makes nobody an owner.
        (
            &lax,
            "team-checkout-sandbox",
            &someone,
            false,
            Reason::NotOwner,
            false,
        ),
        (
            &lax,
            "team-checkout-prod",
            &someone,
            false,
            Reason::NotOwner,
            false,
        ),
    ];
    for (policy, ns, who, allowed, reason, warning) in table {
        let outcome = decide(
            policy,
            &policy.resolve(&self::ns(ns), None),
            who,
            Action::Read,
        );
        assert_eq!(
            outcome,
            Outcome {
                allowed,
                reason,
                warning
            },
            "strict={} {ns}",
            policy.strict
        );
    }
}

const FILE: &str = r#"
strict: true
environments:
  prod:
    groups: [group:default/sre]
    actions: [read]
    aliases: [liveeu]
  dev: {actions: [read, write, exec]}
namespaces:
  payments: {environment: production, owner: group:default/team-payments}
patterns:
  - {match: "sandbox-<team>", environment: dev, owner: "group:default/team-<team>"}
  - {match: "<team>-<env>"}
labels: {owner: example.com/owner, environment: example.com/env}
audit: {allow_severity: medium}
"#;

#[test]
fn environment_groups_and_per_environment_actions_apply() {
    let policy = Policy::parse(FILE, "policy.yaml").unwrap();
    let sre = principal(&["group:default/sre"]);
    let payments = principal(&["group:default/team-payments"]);
    let cases = [
        ("payments", &payments, Action::Read, true, Reason::Owner),
        (
            "payments",
            &payments,
            Action::Exec,
            false,
            Reason::ActionNotAllowed,
        ),
        (
            "payments",
            &sre,
            Action::Read,
            true,
            Reason::EnvironmentGroup,
        ),
        (
            "payments",
            &sre,
            Action::Write,
            false,
            Reason::ActionNotAllowed,
        ),
        (
            "checkout-liveeu",
            &sre,
            Action::Read,
            true,
            Reason::EnvironmentGroup,
        ),
        ("checkout-dev", &sre, Action::Read, false, Reason::NotOwner),
        (
            "sandbox-cart",
            &principal(&["group:default/team-cart"]),
            Action::Exec,
            true,
            Reason::Owner,
        ),
    ];
    for (ns, who, action, allowed, reason) in cases {
        let outcome = decide(&policy, &policy.resolve(&self::ns(ns), None), who, action);
        assert_eq!(
            (outcome.allowed, outcome.reason),
            (allowed, reason),
            "{ns} {action} {:?}",
            who.groups
        );
    }
    assert_eq!(policy.allow_severity, Severity::Medium);
    assert_eq!(policy.labels.as_ref().unwrap().owner, "example.com/owner");
}

#[test]
fn policy_file_errors_name_the_line() {
    let cases = [
        (
            "strict: true\nenvironments:\n  uat: {}\n",
            3,
            "unknown environment",
        ),
        (
            "strict: true\nnamespaces:\n  x: {environment: prod, owner: group:default/a, colour: red}\n",
            3,
            "colour",
        ),
        (
            "strict: true\npatterns:\n  - {match: \"<team>_<env>\"}\n",
            3,
            "cannot appear",
        ),
        ("strict: true\n\nstrictness: false\n", 3, "strictness"),
        (
            "namespaces:\n  x:\n    environment: prod\n    owner: team-a\n",
            4,
            "entity ref",
        ),
        (
            "environments:\n  prod: {aliases: [qa]}\n",
            2,
            "already names",
        ),
    ];
    for (text, line, expected) in cases {
        let err = Policy::parse(text, "policy.yaml").unwrap_err();
        assert_eq!(err.line, Some(line), "{text:?}: {err}");
        assert!(
            err.to_string().starts_with(&format!("policy.yaml:{line}:")),
            "{err}"
        );
        assert!(err.message.contains(expected), "{text:?}: {err}");
    }
}

#[test]
fn a_missing_policy_file_is_a_configuration_error_naming_the_variable() {
    let env = crate::config::MapEnv::new().with(POLICY_FILE_VAR, "/no/such/policy.yaml");
    assert_eq!(Policy::from_env(&env).unwrap_err().var(), POLICY_FILE_VAR);
    assert!(
        Policy::from_env(&crate::config::MapEnv::new())
            .unwrap()
            .strict
    );
}

fn authorizer(policy: Policy, labels: Arc<dyn NamespaceLabels>) -> (Authorizer, MemoryWriter) {
    let clock = Arc::new(ManualClock::at("2026-11-26T10:00:00Z"));
    let capture = MemoryWriter::default();
    let stream = StreamFields {
        service: "aiops".into(),
        function: "test".into(),
        env: "test".into(),
    };
    let audit = AuditLogger::direct(
        stream,
        StdoutSink::with_writer(capture.clone()),
        Arc::default(),
        clock.clone(),
    );
    let verifier = Arc::new(Verifier::new(&IdentityConfig::default(), clock).unwrap());
    (
        Authorizer::new(verifier, Arc::new(policy), labels, audit),
        capture,
    )
}

fn request(credential: Credential, ns: &str) -> AccessRequest {
    AccessRequest {
        credential,
        cluster: Some("prod-eu1".into()),
        namespace: self::ns(ns),
        action: Action::Read,
        request_id: None,
    }
}

#[tokio::test]
async fn every_decision_is_one_audit_record_and_denials_are_high() {
    let labels = InMemoryLabels::new();
    labels.set(
        Some("prod-eu1"),
        "legacy",
        &[
            ("aiops.io/owner", "team-checkout"),
            ("aiops.io/environment", "production"),
        ],
    );
    let (authz, capture) = authorizer(Policy::default(), Arc::new(labels));
    let jane = Credential::Principal(principal(&[CHECKOUT]));

    let allowed = authz.check(&request(jane.clone(), "legacy")).await.unwrap();
    assert!(allowed.allowed);
    assert_eq!(
        (allowed.environment, owner(allowed.owner.as_ref())),
        (Some(Environment::Prod), Some(CHECKOUT.to_owned()))
    );
    let denied = authz
        .check(&request(jane.clone(), "team-cart-prod"))
        .await
        .unwrap();
    assert_eq!(denied.reason, Reason::NotOwner);
    let bad_token = authz
        .check(&request(
            Credential::Token("x.y.z".into()),
            "team-cart-prod",
        ))
        .await
        .unwrap();
    assert_eq!(
        (bad_token.reason, bad_token.principal.as_ref()),
        (Reason::InvalidToken, None)
    );

    let records = capture.records();
    assert_eq!(records.len(), 3);
    for (record, decision) in records.iter().zip([&allowed, &denied, &bad_token]) {
        assert_eq!(record["_msg"], "aiops.namespace-access");
        assert_eq!(record["audit_id"], decision.audit_id.to_string());
        assert_eq!(record["resource"]["cluster"], "prod-eu1");
    }
    assert_eq!(
        (
            records[0]["severityLevel"].as_str(),
            records[0]["decision"].as_str()
        ),
        (Some("low"), Some("allow"))
    );
    assert_eq!(records[0]["meta"]["owner_source"], "labels");
    assert_eq!(records[0]["actor"]["actorId"], "user:default/jane");
    assert_eq!(
        (
            records[1]["severityLevel"].as_str(),
            records[1]["reason"].as_str()
        ),
        (Some("high"), Some("not_owner"))
    );
    assert_eq!(records[2]["meta"]["detail"], "malformed");
    assert!(
        !capture
            .records()
            .iter()
            .any(|r| r.to_string().contains("x.y.z")),
        "the token never reaches the audit log"
    );

    let text = serde_json::to_string(&denied).unwrap();
    let expected = format!(
        r#"{{"allowed":false,"reason":"not_owner","environment":"prod","owner":"group:default/team-cart","principal":"user:default/jane","audit_id":"{}"}}"#,
        denied.audit_id
    );
    assert_eq!(text, expected);
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["reason"], "not_owner");
}

#[tokio::test]
async fn a_principal_of_the_wrong_kinds_is_an_error_not_a_decision() {
    let (authz, capture) = authorizer(Policy::default(), Arc::new(NoLabels));
    let bad_user = Principal {
        user: EntityRef::parse("group:default/jane").unwrap(),
        groups: vec![],
    };
    let err = authz
        .check(&request(Credential::Principal(bad_user), "a-prod"))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("principal.user:"), "{err}");
    let bad_group = Principal {
        user: EntityRef::parse("user:default/jane").unwrap(),
        groups: vec![EntityRef::parse("component:default/web").unwrap()],
    };
    let err = authz
        .check(&request(Credential::Principal(bad_group), "a-prod"))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("principal.groups:"), "{err}");
    assert!(capture.records().is_empty());
}

#[test]
fn owner_case_does_not_matter_and_namespaces_in_the_file_are_validated() {
    let policy = Policy::parse(
        "namespaces:\n  payments: {environment: prod, owner: Group:Default/Team-Payments}\n",
        "policy.yaml",
    )
    .unwrap();
    let mapping = policy.resolve(&ns("payments"), None);
    assert_eq!(
        owner(mapping.owner.as_ref()).as_deref(),
        Some("group:default/team-payments")
    );
    let outcome = decide(
        &policy,
        &mapping,
        &principal(&["group:default/TEAM-PAYMENTS"]),
        Action::Read,
    );
    assert_eq!(outcome.reason, Reason::Owner);
    for bad in ["-payments", "Payments", "pay_ments"] {
        let text = format!("namespaces:\n  {bad}: {{environment: prod, owner: group:default/a}}\n");
        let err = Policy::parse(&text, "policy.yaml").unwrap_err();
        assert!(err.message.contains("namespace name"), "{bad}: {err}");
    }
}
