//! Verified claims → principal and groups, per issuer kind.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{IssuerConfig, Principal, TokenError};

/// The project-wide ZITADEL roles claim; per-project claims put the project id between
/// `project:` and `:roles`.
const ZITADEL_ROLES: &str = "urn:zitadel:iam:org:project:roles";
const ZITADEL_PROJECT_PREFIX: &str = "urn:zitadel:iam:org:project:";

/// What the token itself says about its bearer.
#[derive(Debug)]
pub(crate) enum Found {
    Principal(Principal),
    /// A Backstage token without `ent` (ownership claims omitted, or a limited user
    /// token): ask the issuer's userinfo.
    NeedUserinfo {
        user: String,
    },
}

pub(crate) fn backstage(claims: &Map<String, Value>) -> Result<Found, TokenError> {
    let user = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(TokenError::Malformed("sub is missing"))?
        .to_ascii_lowercase();
    match claims.get("ent") {
        None | Some(Value::Null) => Ok(Found::NeedUserinfo { user }),
        Some(ent) => Ok(Found::Principal(Principal {
            groups: group_refs(ent)?,
            user,
        })),
    }
}

/// Backstage's `/v1/userinfo` answer: `{"claims": {"sub", "ent"}}`. The subject must
/// be the token's, or the answer is about someone else.
pub(crate) fn backstage_userinfo(user: String, body: &Value) -> Result<Principal, TokenError> {
    let claims = body
        .get("claims")
        .ok_or(TokenError::Malformed("userinfo has no claims"))?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !sub.eq_ignore_ascii_case(&user) {
        return Err(TokenError::Malformed("userinfo is about another subject"));
    }
    let ent = claims.get("ent").unwrap_or(&Value::Null);
    Ok(Principal {
        groups: group_refs(ent)?,
        user,
    })
}

fn group_refs(ent: &Value) -> Result<Vec<String>, TokenError> {
    let list = match ent {
        Value::Array(list) => list,
        Value::Null => return Err(TokenError::MissingGroups),
        _ => return Err(TokenError::Malformed("ent is not a list")),
    };
    let groups: BTreeSet<String> = list
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_ascii_lowercase)
        .filter(|r| r.starts_with("group:"))
        .collect();
    if groups.is_empty() {
        return Err(TokenError::MissingGroups);
    }
    Ok(groups.into_iter().collect())
}

pub(crate) fn zitadel(
    claims: &Map<String, Value>,
    issuer: &IssuerConfig,
    template: &str,
) -> Result<Principal, TokenError> {
    let name = claims
        .get("preferred_username")
        .and_then(Value::as_str)
        .map(|n| n.split('@').next().unwrap_or(n))
        .filter(|n| !n.is_empty())
        .or_else(|| claims.get("sub").and_then(Value::as_str))
        .filter(|n| !n.is_empty())
        .ok_or(TokenError::Malformed("sub is missing"))?;
    let user = format!("user:default/{}", entity_name(name));
    let mut groups = BTreeSet::new();
    for (claim, value) in claims {
        let project_roles = claim
            .strip_prefix(ZITADEL_PROJECT_PREFIX)
            .is_some_and(|rest| rest.ends_with(":roles"));
        if claim != ZITADEL_ROLES && !project_roles {
            continue;
        }
        // The value is an object keyed by role key ({"role": {"<org id>": "<domain>"}}).
        let Some(roles) = value.as_object() else {
            continue;
        };
        for role in roles.keys() {
            let group = issuer
                .role_groups
                .get(role)
                .cloned()
                .unwrap_or_else(|| template.replace("<role>", &entity_name(role)));
            groups.insert(group.to_ascii_lowercase());
        }
    }
    if groups.is_empty() {
        return Err(TokenError::MissingGroups);
    }
    Ok(Principal {
        user,
        groups: groups.into_iter().collect(),
    })
}

/// Entity names allow letters, digits, `-`, `_` and `.`; anything else becomes `-`.
fn entity_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::identity::IssuerKind;
    use serde_json::json;

    fn map(v: &Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn zitadel_issuer() -> IssuerConfig {
        serde_json::from_value(json!({
            "issuer": "https://z", "jwks_file": "/x", "audience": "a", "kind": "zitadel",
            "role_groups": {"sre": "group:platform/sre"}
        }))
        .unwrap()
    }

    #[test]
    fn backstage_groups_come_from_ent_and_only_group_refs_count() {
        let claims = map(
            &json!({"sub": "user:default/jane", "ent": ["user:default/jane", "group:default/Team-Checkout"]}),
        );
        let Found::Principal(p) = backstage(&claims).unwrap() else {
            panic!("expected a principal")
        };
        assert_eq!(p.user, "user:default/jane");
        assert_eq!(p.groups, vec!["group:default/team-checkout"]);
        let only_user = map(&json!({"sub": "user:default/jane", "ent": ["user:default/jane"]}));
        assert_eq!(
            backstage(&only_user).unwrap_err(),
            TokenError::MissingGroups
        );
        assert!(matches!(
            backstage(&map(&json!({"sub": "user:default/jane"}))).unwrap(),
            Found::NeedUserinfo { .. }
        ));
    }

    #[test]
    fn userinfo_must_be_about_the_same_subject() {
        let body = json!({"claims": {"sub": "user:default/jane", "ent": ["group:default/a"]}});
        assert_eq!(
            backstage_userinfo("user:default/jane".into(), &body)
                .unwrap()
                .groups,
            vec!["group:default/a"]
        );
        assert!(backstage_userinfo("user:default/bob".into(), &body).is_err());
    }

    #[test]
    fn zitadel_role_keys_map_through_overrides_or_the_template() {
        assert_eq!(zitadel_issuer().kind, IssuerKind::Zitadel);
        let claims = map(&json!({
            "sub": "2840", "preferred_username": "Jane@acme.zitadel.cloud",
            "urn:zitadel:iam:org:project:roles": {"team-checkout": {"1": "acme"}},
            "urn:zitadel:iam:org:project:99:roles": {"sre": {"1": "acme"}, "team-checkout": {"1": "acme"}},
        }));
        let p = zitadel(&claims, &zitadel_issuer(), "group:default/<role>").unwrap();
        assert_eq!(p.user, "user:default/jane");
        assert_eq!(
            p.groups,
            vec!["group:default/team-checkout", "group:platform/sre"]
        );
        let none = map(&json!({"sub": "2840", "urn:zitadel:iam:org:project:roles": {}}));
        assert_eq!(
            zitadel(&none, &zitadel_issuer(), "group:default/<role>").unwrap_err(),
            TokenError::MissingGroups
        );
    }
}
