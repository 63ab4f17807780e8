//! Namespace → (environment, owner).
//!
//! Each field comes from the first source that gives it: the policy file's explicit
//! entry (the platform team's word), then the namespace's labels (the namespace
//! describing itself), then the first naming pattern that matches (convention).

use std::collections::BTreeMap;

use serde::Serialize;

use super::pattern::EnvText;
use super::{Environment, Policy};
use crate::entity::{EntityRef, Namespace};

/// Where a field of the mapping came from; recorded in the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An entry under `namespaces` in the policy file.
    Explicit,
    /// The namespace's labels in the cluster.
    Labels,
    /// A naming pattern.
    Pattern,
}

/// What the policy knows about one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapping {
    /// The environment, when one was found and is known.
    pub environment: Option<Environment>,
    /// The environment text found but not known (`sandbox` in `checkout-sandbox`).
    pub unknown_environment: Option<String>,
    /// The owning group (or user) ref.
    pub owner: Option<EntityRef>,
    /// Where `environment` / `unknown_environment` came from.
    pub environment_source: Option<Source>,
    /// Where `owner` came from.
    pub owner_source: Option<Source>,
}

impl Policy {
    /// Maps `namespace`, given its labels if the cluster could be asked.
    pub fn resolve(
        &self,
        namespace: &Namespace,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Mapping {
        let explicit = self.namespaces.get(namespace);
        let (label_owner, label_env) = match (labels, &self.labels) {
            (Some(labels), Some(names)) => (
                labels
                    .get(&names.owner)
                    .and_then(|name| EntityRef::new("group", "default", name).ok())
                    .map(|r| r.lowercased()),
                labels.get(&names.environment).cloned(),
            ),
            _ => (None, None),
        };
        let pattern = self
            .patterns
            .iter()
            .find_map(|p| p.matches(namespace.as_str()));

        let owner = explicit
            .map(|e| (e.owner.clone(), Source::Explicit))
            .or_else(|| label_owner.map(|o| (o, Source::Labels)))
            .or_else(|| pattern.as_ref().map(|m| (m.owner.clone(), Source::Pattern)));
        let env = explicit
            .map(|e| (EnvText::Fixed(e.environment), Source::Explicit))
            .or_else(|| label_env.map(|e| (EnvText::Raw(e), Source::Labels)))
            .or_else(|| pattern.map(|m| (m.environment, Source::Pattern)));

        let mut mapping = Mapping {
            owner_source: owner.as_ref().map(|o| o.1),
            owner: owner.map(|o| o.0),
            environment_source: env.as_ref().map(|e| e.1),
            ..Mapping::default()
        };
        match env.map(|e| e.0) {
            Some(EnvText::Fixed(env)) => mapping.environment = Some(env),
            Some(EnvText::Raw(text)) => match self.environment_named(&text) {
                Some(env) => mapping.environment = Some(env),
                None => mapping.unknown_environment = Some(text),
            },
            None => {}
        }
        mapping
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ns(name: &str) -> Namespace {
        Namespace::parse(name).unwrap()
    }

    fn owner(m: &Mapping) -> Option<String> {
        m.owner.as_ref().map(ToString::to_string)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const FILE: &str = r#"
namespaces:
  checkout-prod: {environment: staging, owner: group:default/platform}
patterns:
  - {match: "sandbox-<team>", environment: dev}
  - match: "<team>-<env>"
"#;

    #[test]
    fn explicit_entries_beat_labels_which_beat_patterns_field_by_field() {
        let policy = Policy::parse(FILE, "test").unwrap();
        let both = labels(&[
            ("aiops.io/owner", "team-labelled"),
            ("aiops.io/environment", "prd"),
        ]);

        let m = policy.resolve(&ns("checkout-prod"), Some(&both));
        assert_eq!(owner(&m).as_deref(), Some("group:default/platform"));
        assert_eq!(m.environment, Some(Environment::Staging));
        assert_eq!(
            (m.owner_source, m.environment_source),
            (Some(Source::Explicit), Some(Source::Explicit))
        );

        let m = policy.resolve(&ns("cart-dev"), Some(&both));
        assert_eq!(owner(&m).as_deref(), Some("group:default/team-labelled"));
        assert_eq!(m.environment, Some(Environment::Prod));
        assert_eq!(m.owner_source, Some(Source::Labels));

        let only_owner = labels(&[("aiops.io/owner", "team-labelled")]);
        let m = policy.resolve(&ns("cart-dev"), Some(&only_owner));
        assert_eq!(m.owner_source, Some(Source::Labels));
        assert_eq!(
            (m.environment, m.environment_source),
            (Some(Environment::Dev), Some(Source::Pattern))
        );

        let m = policy.resolve(&ns("cart-dev"), None);
        assert_eq!(owner(&m).as_deref(), Some("group:default/cart"));
        assert_eq!(m.owner_source, Some(Source::Pattern));

        let m = policy.resolve(&ns("sandbox-cart"), None);
        assert_eq!(m.environment, Some(Environment::Dev));
    }

    #[test]
    fn unknown_environment_text_and_unmapped_namespaces_are_reported_as_such() {
        let policy = Policy::default();
        let m = policy.resolve(&ns("checkout-sandbox"), None);
        assert_eq!(owner(&m).as_deref(), Some("group:default/checkout"));
        assert_eq!(m.unknown_environment.as_deref(), Some("sandbox"));
        assert_eq!(m.environment, None);
        assert_eq!(policy.resolve(&ns("default"), None), Mapping::default());
    }

    #[test]
    fn labels_are_ignored_when_the_policy_turns_them_off_or_they_are_malformed() {
        let policy = Policy::parse("labels: false", "test").unwrap();
        let l = labels(&[("aiops.io/owner", "team-x")]);
        assert_eq!(policy.resolve(&ns("default"), Some(&l)).owner, None);
        let renamed = Policy::parse("labels: {owner: example.com/team}", "test").unwrap();
        let l = labels(&[("example.com/team", "team-x")]);
        assert_eq!(
            owner(&renamed.resolve(&ns("default"), Some(&l))).as_deref(),
            Some("group:default/team-x")
        );
        let bad = labels(&[("example.com/team", "not a name")]);
        assert_eq!(renamed.resolve(&ns("default"), Some(&bad)).owner, None);
    }
}
