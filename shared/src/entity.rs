//! The names every part of the system agrees on: Backstage entity refs and Kubernetes
//! namespace names, each parsed and validated in one place.
//!
//! An [`EntityRef`] follows Backstage's rules: `kind:namespace/name`, the namespace
//! defaulting to `default`, the kind defaulting only where the caller says so, and refs
//! comparing case-insensitively (kind and namespace are stored lowercased, the name as
//! written). Both types serialize as their string form, so JSON stays strings.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The namespace of a ref that names none.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Longest kind, namespace or name Backstage accepts.
const MAX_PART: usize = 63;

/// Why a text is not an entity ref; the message names the part and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not an entity ref: {problem}; expected kind:namespace/name such as group:default/team-checkout"
)]
pub struct EntityRefError {
    /// The text, cut to 80 characters.
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
}

/// A Backstage entity ref (`group:default/team-checkout`).
#[derive(Debug, Clone)]
pub struct EntityRef {
    kind: String,
    namespace: String,
    name: String,
}

impl EntityRef {
    /// Builds a ref from its parts, validating each.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Result<Self, EntityRefError> {
        let text = format!("{kind}:{namespace}/{name}");
        let fail = |problem: String| EntityRefError {
            text: text.chars().take(80).collect(),
            problem,
        };
        check_kind(kind).map_err(fail)?;
        check_namespace_part(namespace).map_err(fail)?;
        check_name(name).map_err(fail)?;
        Ok(Self {
            kind: kind.to_ascii_lowercase(),
            namespace: namespace.to_ascii_lowercase(),
            name: name.to_owned(),
        })
    }

    /// Parses `kind:[namespace/]name`; the kind is required.
    pub fn parse(text: &str) -> Result<Self, EntityRefError> {
        Self::parse_inner(text, None)
    }

    /// Parses `[kind:][namespace/]name`, using `kind` when the text names none.
    pub fn parse_with_default_kind(text: &str, kind: &str) -> Result<Self, EntityRefError> {
        Self::parse_inner(text, Some(kind))
    }

    /// Parses a ref that must be of `kind` (`user:…` where a user is expected); a bare
    /// name or `namespace/name` takes that kind.
    pub fn parse_of_kind(text: &str, kind: &str) -> Result<Self, EntityRefError> {
        let parsed = Self::parse_inner(text, Some(kind))?;
        if parsed.is_kind(kind) {
            Ok(parsed)
        } else {
            Err(EntityRefError {
                text: text.trim().chars().take(80).collect(),
                problem: format!("the kind is {:?} where {kind:?} is expected", parsed.kind),
            })
        }
    }

    fn parse_inner(text: &str, default_kind: Option<&str>) -> Result<Self, EntityRefError> {
        let trimmed = text.trim();
        let fail = |problem: &str| EntityRefError {
            text: trimmed.chars().take(80).collect(),
            problem: problem.to_owned(),
        };
        let (kind, rest) = match (trimmed.split_once(':'), default_kind) {
            (Some((kind, rest)), _) => (kind, rest),
            (None, Some(kind)) => (kind, trimmed),
            (None, None) => return Err(fail("the kind is missing")),
        };
        let (namespace, name) = match rest.split_once('/') {
            Some((namespace, name)) => (namespace, name),
            None => (DEFAULT_NAMESPACE, rest),
        };
        if name.contains('/') || name.contains(':') {
            return Err(fail("more than one ':' or '/'"));
        }
        Self::new(kind, namespace, name).map_err(|e| EntityRefError {
            text: trimmed.chars().take(80).collect(),
            problem: e.problem,
        })
    }

    /// The kind, lowercased (`group`).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The namespace, lowercased (`default`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name as written (`team-checkout`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the ref is of `kind` (case-insensitive).
    pub fn is_kind(&self, kind: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind)
    }

    /// The same ref with the name lowercased too: the form identity and policy keep,
    /// so that equal refs also print equal.
    #[must_use]
    pub fn lowercased(&self) -> Self {
        Self {
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.to_ascii_lowercase(),
        }
    }
}

fn check_kind(kind: &str) -> Result<(), String> {
    let mut chars = kind.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && kind.len() <= MAX_PART;
    if ok {
        Ok(())
    } else if kind.is_empty() {
        Err("the kind is empty".into())
    } else {
        Err(format!(
            "the kind {kind:?} must be a letter followed by letters and digits, at most {MAX_PART}"
        ))
    }
}

fn check_namespace_part(namespace: &str) -> Result<(), String> {
    if namespace.is_empty() {
        return Err("the namespace is empty".into());
    }
    if is_dns_label(&namespace.to_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!(
            "the namespace {namespace:?} must be letters and digits separated by '-', at most {MAX_PART}"
        ))
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = name.len() <= MAX_PART
        && edge(name.chars().next())
        && edge(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the name {:?} must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit, at most {MAX_PART}",
            name.chars().take(80).collect::<String>()
        ))
    }
}

/// RFC 1123 label: lowercase alphanumerics and '-', alphanumeric at both ends, ≤ 63.
fn is_dns_label(text: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !text.is_empty()
        && text.len() <= MAX_PART
        && edge(text.chars().next())
        && edge(text.chars().last())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

// Backstage compares refs case-insensitively; equality and hashing follow it.
impl PartialEq for EntityRef {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.namespace == other.namespace
            && self.name.eq_ignore_ascii_case(&other.name)
    }
}

impl Eq for EntityRef {}

impl Hash for EntityRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.namespace.hash(state);
        self.name.to_ascii_lowercase().hash(state);
    }
}

impl PartialOrd for EntityRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EntityRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.kind, &self.namespace, self.name.to_ascii_lowercase()).cmp(&(
            &other.kind,
            &other.namespace,
            other.name.to_ascii_lowercase(),
        ))
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind, self.namespace, self.name)
    }
}

impl FromStr for EntityRef {
    type Err = EntityRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for EntityRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EntityRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a text is not a namespace name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a Kubernetes namespace name: expected lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
)]
pub struct NamespaceError {
    /// The text, cut to 80 characters.
    pub text: String,
}

/// A Kubernetes namespace name (an RFC 1123 label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(String);

impl Namespace {
    /// Validates `text` as it is: no trimming, no lowercasing (the API server does
    /// neither).
    pub fn parse(text: &str) -> Result<Self, NamespaceError> {
        if is_dns_label(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(NamespaceError {
                text: text.chars().take(80).collect(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Namespace {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Namespace {
    type Err = NamespaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Namespace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Namespace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_print_and_compare_case_insensitively() {
        let r = EntityRef::parse("Group:Default/Team-Checkout").unwrap();
        assert_eq!(
            (r.kind(), r.namespace(), r.name()),
            ("group", "default", "Team-Checkout")
        );
        assert_eq!(r.to_string(), "group:default/Team-Checkout");
        assert_eq!(r, EntityRef::parse("group:default/team-checkout").unwrap());
        assert_eq!(r.lowercased().to_string(), "group:default/team-checkout");
        let set: std::collections::HashSet<_> = [
            r.clone(),
            EntityRef::parse("GROUP:default/TEAM-CHECKOUT").unwrap(),
        ]
        .into();
        assert_eq!(set.len(), 1, "equal refs hash alike");
        assert_eq!(
            EntityRef::parse("user:jane").unwrap().to_string(),
            "user:default/jane",
            "the namespace defaults to default"
        );
    }

    #[test]
    fn the_kind_defaults_only_where_the_caller_says_so() {
        assert!(EntityRef::parse("team-a/web").is_err());
        assert_eq!(
            EntityRef::parse_with_default_kind("team-a/web", "component")
                .unwrap()
                .to_string(),
            "component:team-a/web"
        );
        assert_eq!(
            EntityRef::parse_with_default_kind("group:default/x", "component")
                .unwrap()
                .kind(),
            "group"
        );
        assert_eq!(
            EntityRef::parse_of_kind("jane", "user")
                .unwrap()
                .to_string(),
            "user:default/jane"
        );
        let err = EntityRef::parse_of_kind("group:default/x", "user").unwrap_err();
        assert!(err.problem.contains("\"group\""), "{err}");
    }

    #[test]
    fn bad_refs_say_which_part_is_wrong() {
        let cases = [
            ("sre", "kind is missing"),
            ("group:", "name is empty"),
            ("group:/x", "namespace is empty"),
            (":default/x", "kind is empty"),
            ("group:default/a b", "the name \"a b\""),
            ("group:default/-x", "starting and ending"),
            ("group:team_a/x", "the namespace \"team_a\""),
            ("9roup:default/x", "the kind \"9roup\""),
            ("a:b/c/d", "more than one"),
        ];
        for (text, expected) in cases {
            let err = EntityRef::parse(text).unwrap_err();
            assert!(err.to_string().contains(expected), "{text}: {err}");
            assert!(err.to_string().contains("expected kind:namespace/name"));
        }
        let long = format!("group:default/{}", "a".repeat(64));
        assert!(EntityRef::parse(&long).is_err());
        assert!(EntityRef::parse(&format!("group:default/{}", "a".repeat(63))).is_ok());
    }

    #[test]
    fn refs_travel_as_strings_in_json() {
        let r: EntityRef = serde_json::from_str("\"group:default/sre\"").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"group:default/sre\"");
        let err = serde_json::from_str::<EntityRef>("\"sre\"").unwrap_err();
        assert!(err.to_string().contains("kind is missing"), "{err}");
    }

    #[test]
    fn namespaces_are_rfc_1123_labels() {
        for good in ["a", "checkout-prod", "a1-b2", &"x".repeat(63)] {
            assert_eq!(Namespace::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-prod",
            "prod-",
            "Prod",
            "a_b",
            "a.b",
            " a",
            &"x".repeat(64),
        ] {
            let err = Namespace::parse(bad).unwrap_err();
            assert!(err.to_string().contains("namespace name"), "{bad}: {err}");
        }
        let ns: Namespace = serde_json::from_str("\"team-a-dev\"").unwrap();
        assert_eq!(serde_json::to_string(&ns).unwrap(), "\"team-a-dev\"");
        let err = serde_json::from_str::<Namespace>("\"Team_A\"").unwrap_err();
        assert!(err.to_string().contains("at most 63"), "{err}");
    }
}
