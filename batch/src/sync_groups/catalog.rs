//! ZITADEL assignments → Backstage `User` and `Group` entities, rendered as one
//! multi-document YAML file in a fixed order, so the same assignments give the same
//! bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use shared::entity::EntityRef;
use shared::identity::{
    IssuerConfig, ZitadelLogin, zitadel_org_counts, zitadel_project_counts, zitadel_role_group,
    zitadel_user_ref,
};

use super::zitadel::Assignment;

/// A synced user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `user:default/jane`, as the user's token resolves.
    pub entity: EntityRef,
    /// ZITADEL's user id.
    pub user_id: String,
    /// Display name.
    pub display_name: String,
    /// E-mail, when known.
    pub email: Option<String>,
}

/// A synced group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `group:default/sre`.
    pub entity: EntityRef,
    /// The project the role belongs to.
    pub project_id: String,
    /// The role key.
    pub role: String,
    /// Member user refs (`user:default/jane`, full refs because a group may live in
    /// another namespace than its users), sorted.
    pub members: BTreeSet<String>,
}

/// The whole synced organisation, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Org {
    /// By entity ref.
    pub users: BTreeMap<EntityRef, User>,
    /// By entity ref.
    pub groups: BTreeMap<EntityRef, Group>,
    /// Role keys that make no valid group ref (ignored).
    pub unmapped_roles: BTreeSet<String>,
    /// Assignments of projects or organisations that are not configured, or inactive.
    pub ignored_assignments: usize,
    /// User ids left out because another user has the same entity name.
    pub name_conflicts: BTreeSet<String>,
}

/// Builds the organisation from `assignments` of the configured projects, with
/// `project_roles` (project id → role keys) giving groups that may have no members.
/// `org_domains` are the primary domains of configured organisations (v2 answers do
/// not carry them).
pub fn build(
    assignments: &[Assignment],
    project_roles: &BTreeMap<String, Vec<String>>,
    org_domains: &BTreeMap<String, String>,
    issuer: &IssuerConfig,
    template: &str,
    keep_empty: bool,
) -> Org {
    let mut org = Org::default();
    let add_group = |org: &mut Org, project: &str, role: &str| -> Option<EntityRef> {
        let Some(entity) = zitadel_role_group(role, issuer, template) else {
            org.unmapped_roles.insert(role.to_owned());
            return None;
        };
        org.groups.entry(entity.clone()).or_insert_with(|| Group {
            entity: entity.clone(),
            project_id: project.to_owned(),
            role: role.to_owned(),
            members: BTreeSet::new(),
        });
        Some(entity)
    };
    for (project, roles) in project_roles {
        if zitadel_project_counts(issuer, project) {
            for role in roles {
                add_group(&mut org, project, role);
            }
        }
    }
    // Who each entity name stands for: two ZITADEL users never become one entity.
    let mut owners: BTreeMap<EntityRef, BTreeSet<String>> = BTreeMap::new();
    let mut counted = Vec::new();
    for a in assignments {
        let counts = a.active
            && zitadel_project_counts(issuer, &a.project_id)
            && zitadel_org_counts(issuer, &a.org_id);
        if !counts {
            org.ignored_assignments += 1;
            continue;
        }
        let domain = a
            .user_org_domain
            .clone()
            .or_else(|| org_domains.get(&a.user_org_id).cloned());
        let login = ZitadelLogin {
            user_id: &a.user_id,
            login: Some(&a.login),
            org_id: Some(&a.user_org_id),
            org_domain: domain.as_deref(),
        };
        let Ok(entity) = zitadel_user_ref(&login, issuer) else {
            org.name_conflicts.insert(a.user_id.clone());
            continue;
        };
        owners
            .entry(entity.clone())
            .or_default()
            .insert(a.user_id.clone());
        counted.push((entity, a));
    }
    for (entity, a) in counted {
        if owners.get(&entity).is_some_and(|ids| ids.len() > 1) {
            org.name_conflicts.insert(a.user_id.clone());
            continue;
        }
        let user = org.users.entry(entity.clone()).or_insert_with(|| User {
            entity: entity.clone(),
            user_id: a.user_id.clone(),
            display_name: a.display_name.clone(),
            email: None,
        });
        if user.email.is_none() {
            user.email = a.email.clone().filter(|e| !e.is_empty());
        }
        for role in &a.roles {
            if let Some(group) = add_group(&mut org, &a.project_id, role)
                && let Some(g) = org.groups.get_mut(&group)
            {
                g.members.insert(entity.to_string());
            }
        }
    }
    if !keep_empty {
        org.groups.retain(|_, g| !g.members.is_empty());
    }
    org
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Doc<'a, S: Serialize> {
    api_version: &'a str,
    kind: &'a str,
    metadata: Meta<'a>,
    spec: S,
}

#[derive(Serialize)]
struct Meta<'a> {
    name: &'a str,
    namespace: &'a str,
    annotations: BTreeMap<&'a str, &'a str>,
}

/// The YAML file: users first, then groups, each sorted by entity ref.
pub fn render(org: &Org) -> String {
    let mut out = String::from(
        "# Generated by `aiops sync-groups` from ZITADEL role assignments; edits are overwritten.\n",
    );
    for user in org.users.values() {
        let mut profile = serde_json::Map::new();
        if !user.display_name.is_empty() {
            profile.insert("displayName".into(), user.display_name.clone().into());
        }
        if let Some(email) = &user.email {
            profile.insert("email".into(), email.clone().into());
        }
        let doc = Doc {
            api_version: "backstage.io/v1alpha1",
            kind: "User",
            metadata: Meta {
                name: user.entity.name(),
                namespace: user.entity.namespace(),
                annotations: BTreeMap::from([("zitadel.com/user-id", user.user_id.as_str())]),
            },
            spec: serde_json::json!({"profile": profile, "memberOf": []}),
        };
        push_doc(&mut out, &doc);
    }
    for group in org.groups.values() {
        let doc = Doc {
            api_version: "backstage.io/v1alpha1",
            kind: "Group",
            metadata: Meta {
                name: group.entity.name(),
                namespace: group.entity.namespace(),
                annotations: BTreeMap::from([
                    ("zitadel.com/project-id", group.project_id.as_str()),
                    ("zitadel.com/role-key", group.role.as_str()),
                ]),
            },
            spec: serde_json::json!({
                "type": "team",
                "children": [],
                "members": group.members.iter().collect::<Vec<_>>(),
            }),
        };
        push_doc(&mut out, &doc);
    }
    out
}

fn push_doc(out: &mut String, doc: &impl Serialize) {
    out.push_str("---\n");
    match serde_json::to_value(doc) {
        Ok(value) => yaml(out, &value, 0),
        Err(e) => {
            let _ = writeln!(out, "# not rendered: {e}");
        }
    }
}

/// Block YAML from JSON; scalars are written as JSON, which YAML reads as the same value.
fn yaml(out: &mut String, value: &serde_json::Value, indent: usize) {
    use serde_json::Value;
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let _ = write!(out, "{pad}{key}:");
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        yaml(out, v, indent + 2);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        yaml(out, v, indent + 2);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar(v));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let _ = writeln!(out, "{pad}- {}", scalar(item));
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

fn scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(m) if m.is_empty() => "{}".into(),
        serde_json::Value::Array(a) if a.is_empty() => "[]".into(),
        other => other.to_string(),
    }
}

/// Memberships (`group ref`, `user ref`) written in a rendered file: the previous
/// state, read back to tell what changed.
pub fn memberships(text: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for doc in text.split("\n---\n").map(|d| d.trim_start_matches("---\n")) {
        let Ok(value) = serde_saphyr::from_str::<serde_json::Value>(doc) else {
            continue;
        };
        if value.get("kind").and_then(|k| k.as_str()) != Some("Group") {
            continue;
        }
        let meta = &value["metadata"];
        let name = meta["name"].as_str().unwrap_or_default();
        let namespace = meta["namespace"].as_str().unwrap_or("default");
        let Ok(group) = EntityRef::new("group", namespace, name) else {
            continue;
        };
        for member in value["spec"]["members"].as_array().into_iter().flatten() {
            if let Some(m) = member.as_str() {
                out.insert((group.to_string(), m.to_owned()));
            }
        }
    }
    out
}

/// Memberships of the organisation, as [`memberships`] reads them back.
pub fn org_memberships(org: &Org) -> BTreeSet<(String, String)> {
    org.groups
        .values()
        .flat_map(|g| g.members.iter().map(|m| (g.entity.to_string(), m.clone())))
        .collect()
}

/// A unified-style line diff (`-` removed, `+` added, a line of context around each
/// change), empty when the texts are equal.
pub fn diff(old: &str, new: &str, path: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table; the files are small (one line per member).
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    let near = |k: usize| {
        lines[k.saturating_sub(1)..(k + 2).min(lines.len())]
            .iter()
            .any(|(t, _)| *t != ' ')
    };
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    let mut skipped = false;
    for (k, (tag, line)) in lines.iter().enumerate() {
        if *tag != ' ' || near(k) {
            if skipped {
                out.push_str("@@\n");
                skipped = false;
            }
            out.push(*tag);
            out.push_str(line);
            out.push('\n');
        } else {
            skipped = true;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn issuer() -> IssuerConfig {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://z.example", "jwks_file": "/x", "audience": "p1",
            "kind": "zitadel", "org_ids": ["o1"], "role_groups": {"ops": "group:platform/ops"}
        }))
        .unwrap()
    }

    fn grant(user: &str, login: &str, project: &str, org: &str, roles: &[&str]) -> Assignment {
        Assignment {
            user_id: user.into(),
            login: login.into(),
            display_name: format!("User {user}"),
            email: Some(format!("{user}@mail.example")),
            user_org_id: "o1".into(),
            user_org_domain: Some("acme.example".into()),
            project_id: project.into(),
            org_id: org.into(),
            active: true,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn rendering_is_byte_identical_whatever_the_order_of_the_answer() {
        let a = grant("1", "jane@acme.example", "p1", "o1", &["sre", "ops"]);
        let b = grant("2", "bob@acme.example", "p1", "o1", &["sre"]);
        let roles = BTreeMap::new();
        let domains = BTreeMap::new();
        let one = render(&build(
            &[a.clone(), b.clone()],
            &roles,
            &domains,
            &issuer(),
            "group:default/<role>",
            true,
        ));
        let two = render(&build(
            &[b, a],
            &roles,
            &domains,
            &issuer(),
            "group:default/<role>",
            true,
        ));
        assert_eq!(one, two);
        assert!(
            one.contains("members:\n    - \"user:default/bob\"\n    - \"user:default/jane\"\n"),
            "{one}"
        );
        assert!(
            one.contains("name: \"ops\"\n  namespace: \"platform\""),
            "{one}"
        );
        let docs: Vec<serde_json::Value> = one
            .split("\n---\n")
            .skip(1)
            .map(|d| serde_saphyr::from_str(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 4, "two users and two groups");
    }

    #[test]
    fn two_users_with_one_name_are_both_left_out_and_listed() {
        // "jane" of the configured org, and a second account whose login is the bare "jane".
        let a = grant("1", "jane@acme.example", "p1", "o1", &["sre"]);
        let b = grant("2", "jane", "p1", "o1", &["sre"]);
        let org = build(
            &[a, b],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &issuer(),
            "group:default/<role>",
            true,
        );
        assert!(org.users.is_empty());
        assert_eq!(
            org.name_conflicts.into_iter().collect::<Vec<_>>(),
            vec!["1", "2"]
        );
    }

    #[test]
    fn memberships_read_back_what_render_wrote() {
        let org = build(
            &[grant("1", "jane@acme.example", "p1", "o1", &["sre", "ops"])],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &issuer(),
            "group:default/<role>",
            true,
        );
        assert_eq!(memberships(&render(&org)), org_memberships(&org));
        assert_eq!(org_memberships(&org).len(), 2);
    }

    #[test]
    fn the_diff_shows_removed_and_added_lines_only_around_changes() {
        let d = diff("a\nb\nc\nd\ne\n", "a\nb\nC\nd\ne\n", "x.yaml");
        assert_eq!(d, "--- a/x.yaml\n+++ b/x.yaml\n@@\n b\n-c\n+C\n d\n");
        assert_eq!(diff("same", "same", "x"), "");
    }
}
