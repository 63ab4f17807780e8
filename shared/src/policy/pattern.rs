//! Naming-convention patterns such as `<team>-<env>`.

use regex::Regex;

use crate::entity::EntityRef;

/// A namespace naming convention: literal text with `<team>` and `<env>` placeholders,
/// plus how to turn a match into an owner and an environment.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    regex: Regex,
    owner: String,
    environment: Option<super::Environment>,
}

/// What a pattern read from a namespace name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternMatch {
    pub(crate) owner: EntityRef,
    /// The environment the pattern fixes, or the `<env>` text (maybe not a known name).
    pub(crate) environment: EnvText,
}

/// An environment as found: fixed by the policy, or text still to be looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvText {
    Fixed(super::Environment),
    Raw(String),
}

/// The owner template when a pattern names none.
pub const DEFAULT_OWNER_TEMPLATE: &str = "group:default/<team>";

impl Pattern {
    /// Compiles `text`. `owner` is a template that may use `<team>`; `environment`
    /// is required exactly when `text` has no `<env>`.
    pub fn new(
        text: &str,
        owner: Option<&str>,
        environment: Option<super::Environment>,
    ) -> Result<Self, String> {
        let regex = compile(text)?;
        let has_team = text.contains("<team>");
        let has_env = text.contains("<env>");
        let owner = owner
            .unwrap_or(DEFAULT_OWNER_TEMPLATE)
            .trim()
            .to_ascii_lowercase();
        if owner.contains("<team>") && !has_team {
            return Err(format!(
                "pattern {text:?}: the owner {owner:?} uses <team> but the pattern has no <team>"
            ));
        }
        owner_ref(&owner.replace("<team>", "team"))?;
        match (has_env, environment) {
            (true, Some(_)) => Err(format!(
                "pattern {text:?}: give either <env> in the pattern or `environment`, not both"
            )),
            (false, None) => Err(format!(
                "pattern {text:?}: without <env> the pattern needs an `environment`"
            )),
            _ => Ok(Self {
                text: text.to_owned(),
                regex,
                owner,
                environment,
            }),
        }
    }

    /// The pattern as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn matches(&self, namespace: &str) -> Option<PatternMatch> {
        let caps = self.regex.captures(namespace)?;
        let team = caps.name("team").map_or("", |m| m.as_str());
        let environment = match (self.environment, caps.name("env")) {
            (Some(env), _) => EnvText::Fixed(env),
            (None, Some(m)) => EnvText::Raw(m.as_str().to_owned()),
            (None, None) => return None,
        };
        // A long team name can make the owner ref too long: then the pattern says nothing.
        let owner = owner_ref(&self.owner.replace("<team>", team)).ok()?;
        Some(PatternMatch { owner, environment })
    }
}

/// Namespace names are DNS labels, so only those characters may appear literally.
fn compile(text: &str) -> Result<Regex, String> {
    let mut regex = String::from("^");
    let mut rest = text;
    let (mut teams, mut envs) = (0, 0);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<team>") {
            regex.push_str("(?P<team>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)");
            teams += 1;
            rest = after;
        } else if let Some(after) = rest.strip_prefix("<env>") {
            regex.push_str("(?P<env>[a-z0-9]+)");
            envs += 1;
            rest = after;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                return Err(format!(
                    "pattern {text:?}: {c:?} cannot appear in a namespace name; \
                     use lowercase letters, digits, '-' and the placeholders <team> and <env>"
                ));
            }
            regex.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if teams > 1 || envs > 1 {
        return Err(format!(
            "pattern {text:?}: each placeholder may appear once"
        ));
    }
    if teams + envs == 0 {
        return Err(format!(
            "pattern {text:?}: has no placeholder; list a fixed name under `namespaces` instead"
        ));
    }
    regex.push('$');
    Regex::new(&regex).map_err(|e| format!("pattern {text:?}: {e}"))
}

/// A group or user ref (owners and environment groups), lowercased: refs compare
/// case-insensitively and the policy prints them as it compares them.
pub(crate) fn owner_ref(text: &str) -> Result<EntityRef, String> {
    let parsed = EntityRef::parse(text).map_err(|e| e.to_string())?;
    if parsed.is_kind("group") || parsed.is_kind("user") {
        Ok(parsed.lowercased())
    } else {
        Err(format!(
            "{text:?} is not an owner: expected a group or user entity ref such as group:default/team-checkout"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::policy::Environment;

    #[test]
    fn the_default_convention_splits_on_the_last_dash() {
        let p = Pattern::new("<team>-<env>", None, None).unwrap();
        let m = p.matches("checkout-api-prod").unwrap();
        assert_eq!(m.owner.to_string(), "group:default/checkout-api");
        assert_eq!(m.environment, EnvText::Raw("prod".into()));
        assert!(p.matches("default").is_none());
        assert!(p.matches("-prod").is_none());
    }

    #[test]
    fn a_pattern_can_fix_the_environment_and_template_the_owner() {
        let p = Pattern::new(
            "sandbox-<team>",
            Some("group:default/team-<team>"),
            Some(Environment::Dev),
        )
        .unwrap();
        let m = p.matches("sandbox-checkout").unwrap();
        assert_eq!(m.owner.to_string(), "group:default/team-checkout");
        assert_eq!(m.environment, EnvText::Fixed(Environment::Dev));
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        let cases = [
            ("<team>_<env>", "cannot appear"),
            ("<team>-<env>-<env>", "once"),
            ("fixed-name", "no placeholder"),
            ("<team>-ns", "needs an `environment`"),
            ("<team>-<tier>", "cannot appear"),
        ];
        for (text, expected) in cases {
            let err = Pattern::new(text, None, None).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let err = Pattern::new("ns-<env>", None, None).unwrap_err();
        assert!(err.contains("uses <team>"), "{err}");
        let err = Pattern::new("<team>-<env>", Some("team-<team>"), None).unwrap_err();
        assert!(err.contains("not an entity ref"), "{err}");
    }

    #[test]
    fn owner_refs_are_checked_and_lowercased() {
        assert_eq!(
            owner_ref("Group:Default/SRE").unwrap().to_string(),
            "group:default/sre"
        );
        assert!(owner_ref("user:default/jane").is_ok());
        assert_eq!(
            owner_ref("group:sre").unwrap().to_string(),
            "group:default/sre",
            "the namespace defaults to default, as in Backstage"
        );
        for bad in [
            "sre",
            "component:default/x",
            "group:default/a b",
            "group:/x",
        ] {
            assert!(owner_ref(bad).is_err(), "{bad}");
        }
    }
}
