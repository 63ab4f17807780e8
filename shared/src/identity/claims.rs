//! Verified claims → principal and groups, per issuer kind.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{IssuerConfig, Principal, TokenError};
use crate::entity::EntityRef;

/// The roles of the project the token was requested for (the project in `aud`).
const ZITADEL_ROLES: &str = "urn:zitadel:iam:org:project:roles";
/// Per-project claims put the project id between this and `:roles`.
const ZITADEL_PROJECT_PREFIX: &str = "urn:zitadel:iam:org:project:";
/// The organisation the user belongs to, and its primary domain.
const ZITADEL_USER_ORG: &str = "urn:zitadel:iam:user:resourceowner:id";
const ZITADEL_USER_ORG_DOMAIN: &str = "urn:zitadel:iam:user:resourceowner:primary_domain";

/// What the token itself says about its bearer.
#[derive(Debug)]
pub(crate) enum Found {
    Principal(Principal),
    /// A Backstage token without `ent` (ownership claims omitted, or a limited user
    /// token): ask the issuer's userinfo.
    NeedUserinfo {
        user: EntityRef,
    },
}

fn user_ref(sub: &str) -> Result<EntityRef, TokenError> {
    EntityRef::parse(sub)
        .ok()
        .filter(|r| r.is_kind("user"))
        .map(|r| r.lowercased())
        .ok_or(TokenError::Malformed("sub is not a user entity ref"))
}

pub(crate) fn backstage(claims: &Map<String, Value>) -> Result<Found, TokenError> {
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(TokenError::Malformed("sub is missing"))?;
    let user = user_ref(sub)?;
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
pub(crate) fn backstage_userinfo(user: EntityRef, body: &Value) -> Result<Principal, TokenError> {
    let claims = body
        .get("claims")
        .ok_or(TokenError::Malformed("userinfo has no claims"))?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if EntityRef::parse(sub).ok().as_ref() != Some(&user) {
        return Err(TokenError::Malformed("userinfo is about another subject"));
    }
    let ent = claims.get("ent").unwrap_or(&Value::Null);
    Ok(Principal {
        groups: group_refs(ent)?,
        user,
    })
}

fn group_refs(ent: &Value) -> Result<Vec<EntityRef>, TokenError> {
    let list = match ent {
        Value::Array(list) => list,
        Value::Null => return Err(TokenError::MissingGroups),
        _ => return Err(TokenError::Malformed("ent is not a list")),
    };
    let groups: BTreeSet<EntityRef> = list
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|r| EntityRef::parse(r).ok())
        .filter(|r| r.is_kind("group"))
        .map(|r| r.lowercased())
        .collect();
    if groups.is_empty() {
        return Err(TokenError::MissingGroups);
    }
    Ok(groups.into_iter().collect())
}

/// ZITADEL roles count only for the configured projects and only when granted in a
/// configured organisation: the claim value maps role key → {org id → org domain}.
pub(crate) fn zitadel(
    claims: &Map<String, Value>,
    issuer: &IssuerConfig,
    template: &str,
) -> Result<Principal, TokenError> {
    let user = zitadel_user(claims, issuer)?;
    let projects = issuer.project_ids();
    let audience_has_project = match claims.get("aud") {
        Some(Value::String(aud)) => projects.contains(aud),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| projects.iter().any(|p| p == a)),
        _ => false,
    };
    let mut groups = BTreeSet::new();
    for (claim, value) in claims {
        let counts = if claim == ZITADEL_ROLES {
            audience_has_project
        } else {
            claim
                .strip_prefix(ZITADEL_PROJECT_PREFIX)
                .and_then(|rest| rest.strip_suffix(":roles"))
                .is_some_and(|project| zitadel_project_counts(issuer, project))
        };
        let Some(roles) = value.as_object().filter(|_| counts) else {
            continue;
        };
        for (role, grants) in roles {
            let granted_here = grants
                .as_object()
                .is_some_and(|orgs| orgs.keys().any(|org| zitadel_org_counts(issuer, org)));
            if !granted_here {
                continue;
            }
            match zitadel_role_group(role, issuer, template) {
                Some(group) => {
                    groups.insert(group);
                }
                None => {
                    tracing::warn!(role = %role, "a ZITADEL role key cannot name a group; ignored");
                }
            }
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

/// Whether roles of ZITADEL project `project_id` count for `issuer` (its
/// `project_ids`, by default its audience). Shared by the token path and the group sync.
pub fn zitadel_project_counts(issuer: &IssuerConfig, project_id: &str) -> bool {
    issuer.project_ids().iter().any(|p| p == project_id)
}

/// Whether a role granted in organisation `org_id` counts for `issuer` (its `org_ids`).
pub fn zitadel_org_counts(issuer: &IssuerConfig, org_id: &str) -> bool {
    issuer.org_ids.iter().any(|o| o == org_id)
}

/// The group a ZITADEL role key maps to: the issuer's `role_groups` override, else
/// `template` (`group:default/<role>`) with the role key as an entity name. `None`
/// when the role key cannot make a valid group ref. Shared by the token path and the
/// group sync, so a synced group is the group a token of that role resolves to.
pub fn zitadel_role_group(role: &str, issuer: &IssuerConfig, template: &str) -> Option<EntityRef> {
    match issuer.role_groups.get(role) {
        Some(group) => Some(group.lowercased()),
        None => EntityRef::parse(&template.replace("<role>", &entity_name(role)))
            .ok()
            .map(|r| r.lowercased()),
    }
}

/// What ZITADEL says about a user, as far as naming goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZitadelLogin<'a> {
    /// The user id (`sub` of a token), used when there is no login name.
    pub user_id: &'a str,
    /// The preferred login name (`preferred_username`), `jane@acme.example`.
    pub login: Option<&'a str>,
    /// The id of the organisation the user belongs to.
    pub org_id: Option<&'a str>,
    /// The primary domain of that organisation.
    pub org_domain: Option<&'a str>,
}

/// The user's entity ref. `jane@acme.example` loses its domain only when that is the
/// primary domain of the user's own organisation and that organisation is configured;
/// otherwise the domain stays (as `jane_acme.example`) so that users of two
/// organisations never merge into one `jane`, and a bare name from an organisation
/// that is not configured is qualified with the organisation id. Shared by the token
/// path and the group sync, so a synced user is the user their token resolves to.
pub fn zitadel_user_ref(
    user: &ZitadelLogin<'_>,
    issuer: &IssuerConfig,
) -> Result<EntityRef, TokenError> {
    fn nonempty(v: Option<&str>) -> Option<&str> {
        v.filter(|s| !s.is_empty())
    }
    let org = nonempty(user.org_id);
    let own_org = org.is_some_and(|o| zitadel_org_counts(issuer, o));
    let name = match nonempty(user.login) {
        Some(login) => {
            let domain = nonempty(user.org_domain);
            match login.rsplit_once('@') {
                Some((local, d))
                    if own_org && domain.is_some_and(|p| p.eq_ignore_ascii_case(d)) =>
                {
                    local.to_owned()
                }
                Some(_) => login.to_owned(),
                None if own_org => login.to_owned(),
                None => format!("{login}@{}", org.unwrap_or("unknown-org")),
            }
        }
        None => nonempty(Some(user.user_id))
            .ok_or(TokenError::Malformed("sub is missing"))?
            .to_owned(),
    };
    EntityRef::new("user", "default", &entity_name(&name))
        .map(|r| r.lowercased())
        .map_err(|_| TokenError::Malformed("the user name cannot be an entity name"))
}

fn zitadel_user(
    claims: &Map<String, Value>,
    issuer: &IssuerConfig,
) -> Result<EntityRef, TokenError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    zitadel_user_ref(
        &ZitadelLogin {
            user_id: text("sub").unwrap_or_default(),
            login: text("preferred_username"),
            org_id: text(ZITADEL_USER_ORG),
            org_domain: text(ZITADEL_USER_ORG_DOMAIN),
        },
        issuer,
    )
}

/// Entity names allow letters, digits, `-`, `_` and `.`; `@` becomes `_`, anything
/// else `-`, and letters are lowercased.
pub fn entity_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_ascii_lowercase()
            } else if c == '@' {
                '_'
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
            "issuer": "https://z", "jwks_file": "/x", "audience": "99", "kind": "zitadel",
            "org_ids": ["1"], "role_groups": {"sre": "group:platform/sre"}
        }))
        .unwrap()
    }

    fn strings(refs: &[EntityRef]) -> Vec<String> {
        refs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn backstage_groups_come_from_ent_and_only_group_refs_count() {
        let claims = map(
            &json!({"sub": "user:default/jane", "ent": ["user:default/jane", "group:default/Team-Checkout", "not a ref"]}),
        );
        let Found::Principal(p) = backstage(&claims).unwrap() else {
            panic!("expected a principal")
        };
        assert_eq!(p.user.to_string(), "user:default/jane");
        assert_eq!(strings(&p.groups), vec!["group:default/team-checkout"]);
        let only_user = map(&json!({"sub": "user:default/jane", "ent": ["user:default/jane"]}));
        assert_eq!(
            backstage(&only_user).unwrap_err(),
            TokenError::MissingGroups
        );
        assert!(matches!(
            backstage(&map(&json!({"sub": "user:default/jane"}))).unwrap(),
            Found::NeedUserinfo { .. }
        ));
        assert_eq!(
            backstage(&map(&json!({"sub": "scaffolder", "ent": []}))).unwrap_err(),
            TokenError::Malformed("sub is not a user entity ref")
        );
    }

    #[test]
    fn userinfo_must_be_about_the_same_subject() {
        let body = json!({"claims": {"sub": "user:default/Jane", "ent": ["group:default/a"]}});
        let jane = EntityRef::parse("user:default/jane").unwrap();
        assert_eq!(
            strings(&backstage_userinfo(jane, &body).unwrap().groups),
            vec!["group:default/a"]
        );
        let bob = EntityRef::parse("user:default/bob").unwrap();
        assert!(backstage_userinfo(bob, &body).is_err());
    }

    #[test]
    fn zitadel_role_keys_map_through_overrides_or_the_template() {
        assert_eq!(zitadel_issuer().kind, IssuerKind::Zitadel);
        let claims = map(&json!({
            "sub": "2840", "aud": ["99", "client"],
            "preferred_username": "Jane@acme.zitadel.cloud",
            "urn:zitadel:iam:user:resourceowner:id": "1",
            "urn:zitadel:iam:user:resourceowner:primary_domain": "acme.zitadel.cloud",
            "urn:zitadel:iam:org:project:roles": {"team-checkout": {"1": "acme.zitadel.cloud"}},
            "urn:zitadel:iam:org:project:99:roles": {"sre": {"1": "acme"}, "team-checkout": {"1": "acme"}},
        }));
        let p = zitadel(&claims, &zitadel_issuer(), "group:default/<role>").unwrap();
        assert_eq!(p.user.to_string(), "user:default/jane");
        assert_eq!(
            strings(&p.groups),
            vec!["group:default/team-checkout", "group:platform/sre"]
        );
        let none = map(&json!({"sub": "2840", "urn:zitadel:iam:org:project:roles": {}}));
        assert_eq!(
            zitadel(&none, &zitadel_issuer(), "group:default/<role>").unwrap_err(),
            TokenError::MissingGroups
        );
    }

    #[test]
    fn zitadel_roles_of_other_projects_or_other_organisations_do_not_count() {
        let issuer = zitadel_issuer();
        let claims = map(&json!({
            "sub": "2840", "aud": ["99"],
            // Another project of the same instance: not ours.
            "urn:zitadel:iam:org:project:77:roles": {"sre": {"1": "acme"}},
            // Our project, but granted in a customer's organisation.
            "urn:zitadel:iam:org:project:99:roles": {"team-checkout": {"5": "customer"}},
        }));
        assert_eq!(
            zitadel(&claims, &issuer, "group:default/<role>").unwrap_err(),
            TokenError::MissingGroups
        );
        // The requested-project claim counts only when the audience is our project.
        let other_audience = map(&json!({
            "sub": "2840", "aud": ["77"],
            "urn:zitadel:iam:org:project:roles": {"team-checkout": {"1": "acme"}},
        }));
        assert_eq!(
            zitadel(&other_audience, &issuer, "group:default/<role>").unwrap_err(),
            TokenError::MissingGroups
        );
        let mut ours = other_audience;
        ours.insert("aud".into(), json!("99"));
        let p = zitadel(&ours, &issuer, "group:default/<role>").unwrap();
        assert_eq!(strings(&p.groups), vec!["group:default/team-checkout"]);
    }

    #[test]
    fn zitadel_users_of_two_organisations_never_merge() {
        let issuer = zitadel_issuer();
        let user = |login: &str, org: &str, domain: &str| {
            let claims = map(&json!({
                "sub": "1", "aud": "99", "preferred_username": login,
                "urn:zitadel:iam:user:resourceowner:id": org,
                "urn:zitadel:iam:user:resourceowner:primary_domain": domain,
                "urn:zitadel:iam:org:project:99:roles": {"sre": {"1": "acme"}},
            }));
            zitadel(&claims, &issuer, "group:default/<role>")
                .unwrap()
                .user
                .to_string()
        };
        assert_eq!(
            user("jane@acme.example", "1", "acme.example"),
            "user:default/jane"
        );
        assert_eq!(
            user("jane@partner.example", "5", "partner.example"),
            "user:default/jane_partner.example",
            "another organisation's domain stays"
        );
        assert_eq!(
            user("jane@gmail.com", "1", "acme.example"),
            "user:default/jane_gmail.com",
            "only the organisation's own primary domain is cut"
        );
        assert_eq!(user("jane", "1", "acme.example"), "user:default/jane");
        assert_eq!(
            user("jane", "5", "partner.example"),
            "user:default/jane_5",
            "a bare name from an unconfigured organisation is qualified"
        );
    }
}
