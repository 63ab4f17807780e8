//! `aiops sync-groups` against wiremock servers shaped like ZITADEL's v2 and v1 APIs,
//! committing to a local git repository; and once against the real test Backstage,
//! which ingests the file and issues a user token whose `ent` follows it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use aiops::sync_groups::{self, Args, Context, Error, Outcome};
use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use serde_json::{Value, json};
use shared::config::MapEnv;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn rand_id() -> String {
    format!("{:012}", fastrand::u64(100_000_000_000..999_999_999_999))
}

/// One run's identities: project, organisations and a token, all generated.
struct Ids {
    project: String,
    org: String,
    other_org: String,
    other_project: String,
    token: String,
    domain: String,
}

impl Ids {
    fn new() -> Self {
        Self {
            project: rand_id(),
            org: rand_id(),
            other_org: rand_id(),
            other_project: rand_id(),
            token: format!("pat-{}", rand_id()),
            domain: format!("acme{}.example", fastrand::u32(..)),
        }
    }
}

/// A user with role keys in a project and organisation (v2 shape).
fn authorization(ids: &Ids, user: &str, project: &str, org: &str, roles: &[&str]) -> Value {
    json!({
        "id": rand_id(),
        "creationDate": "2026-11-30T08:00:00Z",
        "changeDate": "2026-11-30T08:00:00Z",
        "project": {"id": project, "name": "platform", "organizationId": ids.org},
        "organization": {"id": org, "name": "acme"},
        "user": {
            "id": format!("id-{user}"),
            "preferredLoginName": format!("{user}@{}", ids.domain),
            "displayName": format!("User {user}"),
            "avatarUrl": "",
            "organizationId": ids.org,
        },
        "state": "STATE_ACTIVE",
        "roles": roles.iter().map(|r| json!({"key": r, "displayName": r, "group": ""})).collect::<Vec<_>>(),
    })
}

/// The same assignment in v1's user-grant shape.
fn user_grant(ids: &Ids, user: &str, org: &str, roles: &[&str]) -> Value {
    json!({
        "id": rand_id(),
        "details": {"sequence": "7", "creationDate": "2026-11-30T08:00:00Z", "resourceOwner": org},
        "roleKeys": roles,
        "state": "USER_GRANT_STATE_ACTIVE",
        "userId": format!("id-{user}"),
        "userName": user,
        "email": format!("{user}@mail.example"),
        "displayName": format!("User {user}"),
        "orgId": org,
        "orgName": "acme",
        "orgDomain": ids.domain,
        "projectId": ids.project,
        "projectName": "platform",
        "preferredLoginName": format!("{user}@{}", ids.domain),
        "userType": "TYPE_HUMAN",
        "grantedOrgId": ids.org,
        "grantedOrgName": "acme",
        "grantedOrgDomain": ids.domain,
    })
}

/// Answers a page of `items` from the request's offset and limit, under `list` with
/// the total under `total_at` (`pagination` for v2, `details` for v1). Records the
/// offsets asked for.
#[derive(Clone)]
struct Paged {
    items: Arc<Mutex<Vec<Value>>>,
    list: &'static str,
    total_at: &'static str,
    query_at: &'static str,
    offsets: Arc<Mutex<Vec<u64>>>,
}

impl Paged {
    fn new(items: Vec<Value>, v2: bool) -> Self {
        Self {
            items: Arc::new(Mutex::new(items)),
            list: if v2 { "authorizations" } else { "result" },
            total_at: if v2 { "pagination" } else { "details" },
            query_at: if v2 { "pagination" } else { "query" },
            offsets: Arc::default(),
        }
    }

    fn set(&self, items: Vec<Value>) {
        *self.items.lock().unwrap() = items;
    }
}

impl Respond for Paged {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let q = &body[self.query_at];
        let offset: u64 = q["offset"].as_str().map_or(0, |s| s.parse().unwrap());
        let limit = q["limit"].as_u64().unwrap_or(100).min(100);
        self.offsets.lock().unwrap().push(offset);
        let items = self.items.lock().unwrap().clone();
        let page: Vec<Value> = items
            .iter()
            .skip(usize::try_from(offset).unwrap())
            .take(usize::try_from(limit).unwrap())
            .cloned()
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({
            self.total_at: {"totalResult": items.len().to_string(), "appliedLimit": limit.to_string()},
            self.list: page,
        }))
    }
}

/// A ZITADEL fake: v2 (unless `v2` is false: then 404 unimplemented, as an older
/// server) and v1 grants, the project's roles and the organisation search.
struct Zitadel {
    server: MockServer,
    grants: Paged,
}

async fn zitadel(ids: &Ids, v2: bool, items: Vec<Value>, roles: &[&str]) -> Zitadel {
    let server = MockServer::start().await;
    let bearer = format!("Bearer {}", ids.token);
    let grants = Paged::new(items, v2);
    let v2_route = "/zitadel.authorization.v2.AuthorizationService/ListAuthorizations";
    if v2 {
        Mock::given(method("POST"))
            .and(path(v2_route))
            .and(header("Connect-Protocol-Version", "1"))
            .and(header("authorization", bearer.as_str()))
            .and(body_partial_json(json!({
                "sortingColumn": "AUTHORIZATION_FIELD_NAME_ID",
                "filters": [{"projectId": {"id": ids.project}}],
            })))
            .respond_with(grants.clone())
            .mount(&server)
            .await;
    } else {
        Mock::given(method("POST"))
            .and(path(v2_route))
            .respond_with(
                ResponseTemplate::new(404).set_body_json(
                    json!({"code": "unimplemented", "message": "404 page not found"}),
                ),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/management/v1/users/grants/_search"))
            .and(header("authorization", bearer.as_str()))
            .and(header("x-zitadel-orgid", ids.org.as_str()))
            .and(body_partial_json(
                json!({"queries": [{"projectIdQuery": {"projectId": ids.project}}]}),
            ))
            .respond_with(grants.clone())
            .mount(&server)
            .await;
    }
    let role_list: Vec<Value> = roles
        .iter()
        .map(|r| json!({"key": r, "displayName": r, "group": "", "details": {"sequence": "1"}}))
        .collect();
    Mock::given(method("POST"))
        .and(path(format!(
            "/management/v1/projects/{}/roles/_search",
            ids.project
        )))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "details": {"totalResult": role_list.len().to_string()},
            "result": role_list,
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/organizations/_search"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "details": {"totalResult": "1"},
            "result": [{"id": ids.org, "name": "acme", "state": "ORGANIZATION_STATE_ACTIVE", "primaryDomain": ids.domain}],
        })))
        .mount(&server)
        .await;
    Zitadel { server, grants }
}

fn env(ids: &Ids, zitadel_url: &str, repo: &Path) -> MapEnv {
    let issuers = json!([{
        "issuer": zitadel_url, "jwks_url": format!("{zitadel_url}/oauth/v2/keys"),
        "audience": ids.project, "kind": "zitadel",
        "project_ids": [ids.project], "org_ids": [ids.org],
        "role_groups": {"platform-admin": "group:platform/admins"},
    }]);
    MapEnv::new()
        .with("AIOPS_ZITADEL_URL", zitadel_url)
        .with("AIOPS_ZITADEL_TOKEN", ids.token.clone())
        .with("AIOPS_TRUSTED_ISSUERS", issuers.to_string())
        .with("AIOPS_REPORT_DIR", repo.display().to_string())
}

async fn run(env: &MapEnv, dry_run: bool) -> Result<(Outcome, String), Error> {
    let ctx = Context::from_env(env).await?;
    let mut diff = Vec::new();
    let outcome = sync_groups::sync(&ctx, &Args { dry_run }, &mut diff).await?;
    Ok((outcome, String::from_utf8(diff).unwrap()))
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn commits(repo: &Path) -> usize {
    git(repo, &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap_or(0)
}

fn committed_file(repo: &Path) -> String {
    git(repo, &["show", "HEAD:catalog/zitadel/org.yaml"])
}

/// The documents of the committed file, parsed.
fn docs(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .skip(1)
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect()
}

fn group_members(text: &str, name: &str) -> Option<Vec<String>> {
    docs(text)
        .into_iter()
        .find(|d| d["kind"] == "Group" && d["metadata"]["name"] == name)
        .map(|d| {
            d["spec"]["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_owned())
                .collect()
        })
}

#[tokio::test]
async fn v2_pages_map_roles_like_tokens_and_a_second_run_commits_nothing() {
    let ids = Ids::new();
    // A per-run set of users, more than one page (100) of authorizations.
    let users: Vec<String> = (0..130)
        .map(|i| format!("u{i}x{}", fastrand::u16(..)))
        .collect();
    let mut items: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let roles: &[&str] = if i % 2 == 0 {
                &["sre"]
            } else {
                &["sre", "platform-admin"]
            };
            authorization(&ids, u, &ids.project, &ids.org, roles)
        })
        .collect();
    // Another project, and our project granted in an organisation that is not ours.
    items.push(authorization(
        &ids,
        "stranger",
        &ids.other_project,
        &ids.org,
        &["sre"],
    ));
    items.push(authorization(
        &ids,
        "customer",
        &ids.project,
        &ids.other_org,
        &["sre"],
    ));
    // A role key too long to be an entity name: unmapped, listed.
    let long_role = "r".repeat(80);
    items.push(authorization(
        &ids,
        &users[0],
        &ids.project,
        &ids.org,
        &[long_role.as_str()],
    ));
    let z = zitadel(&ids, true, items, &["sre", "platform-admin", "auditors"]).await;
    let repo = tempfile::tempdir().unwrap();
    let env = env(&ids, &z.server.uri(), repo.path());

    let (first, _) = run(&env, false).await.unwrap();
    assert_eq!(first.api, aiops::sync_groups::zitadel::ApiVersion::V2);
    assert!(first.committed);
    assert_eq!(
        *z.grants.offsets.lock().unwrap(),
        vec![0, 100],
        "two pages asked for"
    );
    assert_eq!(first.users, 130, "stranger and customer are not synced");
    assert_eq!(first.ignored_assignments, 2);
    assert_eq!(first.unmapped_roles, vec![long_role]);
    let text = committed_file(repo.path());
    let mut expected_all: Vec<String> = users.iter().map(|u| format!("user:default/{u}")).collect();
    expected_all.sort();
    assert_eq!(group_members(&text, "sre").unwrap(), expected_all);
    // The issuer's role_groups override puts platform-admin into group:platform/admins.
    let admins = group_members(&text, "admins").unwrap();
    assert_eq!(admins.len(), 65);
    assert!(text.contains("namespace: \"platform\""));
    // A role with no users keeps an empty group by default.
    assert_eq!(
        group_members(&text, "auditors").unwrap(),
        Vec::<String>::new()
    );
    assert!(!text.contains("stranger") && !text.contains("customer"));
    let sre = docs(&text)
        .into_iter()
        .find(|d| d["metadata"]["name"] == "sre")
        .unwrap();
    assert_eq!(sre["spec"]["type"], "team");
    assert_eq!(sre["spec"]["children"], json!([]));
    assert_eq!(
        sre["metadata"]["annotations"]["zitadel.com/project-id"],
        ids.project.as_str()
    );
    assert_eq!(
        sre["metadata"]["annotations"]["zitadel.com/role-key"],
        "sre"
    );
    // The user's name is what their token resolves to: the org's own domain is cut.
    let user = docs(&text)
        .into_iter()
        .find(|d| d["kind"] == "User" && d["metadata"]["name"] == users[1].as_str())
        .unwrap();
    assert_eq!(
        user["spec"]["profile"]["displayName"],
        format!("User {}", users[1])
    );
    assert_eq!(first.changes.len(), 130 + 65);

    let (second, _) = run(&env, false).await.unwrap();
    assert!(!second.committed, "nothing changed");
    assert!(second.changes.is_empty());
    assert_eq!(commits(repo.path()), 1);
    assert_eq!(committed_file(repo.path()), text, "byte-identical");
}

#[tokio::test]
async fn a_removed_role_leaves_the_group_in_the_next_commit_with_one_audit_record_each() {
    let ids = Ids::new();
    let (ann, bob) = (format!("ann{}", rand_id()), format!("bob{}", rand_id()));
    let z = zitadel(
        &ids,
        true,
        vec![
            authorization(&ids, &ann, &ids.project, &ids.org, &["sre", "oncall"]),
            authorization(&ids, &bob, &ids.project, &ids.org, &["oncall"]),
        ],
        &["sre", "oncall"],
    )
    .await;
    let logs = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/insert/jsonline"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&logs)
        .await;
    let repo = tempfile::tempdir().unwrap();
    let env = env(&ids, &z.server.uri(), repo.path()).with("AIOPS_VICTORIALOGS_URL", logs.uri());
    run(&env, false).await.unwrap();

    // ann loses sre; bob keeps oncall.
    z.grants.set(vec![
        authorization(&ids, &ann, &ids.project, &ids.org, &["oncall"]),
        authorization(&ids, &bob, &ids.project, &ids.org, &["oncall"]),
    ]);
    let (dry, diff) = run(&env, true).await.unwrap();
    assert!(!dry.committed && dry.commit.is_none());
    assert!(
        diff.contains(&format!("-    - \"user:default/{ann}\"")),
        "{diff}"
    );
    assert_eq!(commits(repo.path()), 1, "a dry run commits nothing");

    let (second, _) = run(&env, false).await.unwrap();
    assert!(second.committed);
    assert_eq!(commits(repo.path()), 2);
    assert_eq!(second.changes.len(), 1);
    assert_eq!(second.changes[0].change, "removed");
    assert_eq!(second.changes[0].user, format!("user:default/{ann}"));
    let text = committed_file(repo.path());
    assert_eq!(
        group_members(&text, "sre").unwrap(),
        Vec::<String>::new(),
        "kept, empty"
    );
    let mut oncall = vec![format!("user:default/{ann}"), format!("user:default/{bob}")];
    oncall.sort();
    assert_eq!(group_members(&text, "oncall").unwrap(), oncall);

    let records: Vec<Value> = logs
        .received_requests()
        .await
        .unwrap()
        .iter()
        .flat_map(|r| {
            String::from_utf8_lossy(&r.body)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let added = records
        .iter()
        .filter(|r| r["eventId"] == "group-member-added")
        .count();
    let removed: Vec<&Value> = records
        .iter()
        .filter(|r| r["eventId"] == "group-member-removed")
        .collect();
    assert_eq!(added, 3, "first run: ann→sre, ann→oncall, bob→oncall");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["resource"]["entity"], "group:default/sre");
    assert_eq!(removed[0]["meta"]["member"], format!("user:default/{ann}"));

    // With empty groups dropped, sre leaves the file.
    let (third, _) = run(&env.clone().with("AIOPS_SYNC_GROUPS_EMPTY", "drop"), false)
        .await
        .unwrap();
    assert!(third.committed);
    assert!(group_members(&committed_file(repo.path()), "sre").is_none());
}

#[tokio::test]
async fn an_older_server_is_read_through_v1_per_organisation_with_emails() {
    let ids = Ids::new();
    let user = format!("v1user{}", rand_id());
    let z = zitadel(
        &ids,
        false,
        vec![
            user_grant(&ids, &user, &ids.org, &["sre"]),
            user_grant(&ids, "outsider", &ids.other_org, &["sre"]),
        ],
        &["sre"],
    )
    .await;
    let repo = tempfile::tempdir().unwrap();
    let (outcome, _) = run(&env(&ids, &z.server.uri(), repo.path()), false)
        .await
        .unwrap();
    assert_eq!(outcome.api, aiops::sync_groups::zitadel::ApiVersion::V1);
    assert_eq!(outcome.users, 1);
    assert_eq!(
        outcome.ignored_assignments, 1,
        "a grant of another organisation"
    );
    let text = committed_file(repo.path());
    assert_eq!(
        group_members(&text, "sre").unwrap(),
        vec![format!("user:default/{user}")]
    );
    assert!(text.contains(&format!("email: \"{user}@mail.example\"")));
}

#[tokio::test]
async fn an_empty_project_gives_empty_groups_or_none() {
    let ids = Ids::new();
    let z = zitadel(&ids, true, vec![], &["sre"]).await;
    let repo = tempfile::tempdir().unwrap();
    let env = env(&ids, &z.server.uri(), repo.path());
    let (outcome, _) = run(&env, false).await.unwrap();
    assert_eq!((outcome.users, outcome.groups), (0, 1));
    assert_eq!(
        group_members(&committed_file(repo.path()), "sre").unwrap(),
        Vec::<String>::new()
    );
    let (dropped, _) = run(&env.with("AIOPS_SYNC_GROUPS_EMPTY", "drop"), false)
        .await
        .unwrap();
    assert_eq!((dropped.users, dropped.groups), (0, 0));
    assert!(docs(&committed_file(repo.path())).is_empty());
}

#[tokio::test]
async fn a_refused_token_is_an_error_naming_the_variable_and_not_the_token() {
    let ids = Ids::new();
    let z = zitadel(&ids, true, vec![], &[]).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code": "unauthenticated", "message": "invalid token"})),
        )
        .mount(&z.server)
        .await;
    let repo = tempfile::tempdir().unwrap();
    let wrong = format!("pat-wrong-{}", rand_id());
    let env = env(&ids, &z.server.uri(), repo.path()).with("AIOPS_ZITADEL_TOKEN", wrong.clone());
    let err = run(&env, false).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::Auth {
                var: "AIOPS_ZITADEL_TOKEN",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("AIOPS_ZITADEL_TOKEN") && !text.contains(&wrong),
        "{text}"
    );
    assert_eq!(shared::Classify::kind(&err).exit_code(), 2);
    assert_eq!(commits(repo.path()), 0);

    let missing = env.with("AIOPS_ZITADEL_TOKEN", "");
    let err = run(&missing, false).await.unwrap_err();
    assert!(
        err.to_string().contains("AIOPS_ZITADEL_TOKEN is not set"),
        "{err}"
    );
}

#[tokio::test]
async fn a_synced_user_is_the_user_and_groups_their_zitadel_token_resolves_to() {
    use aiops_tests::testkit::{RsaKey, jwks};
    let ids = Ids::new();
    let jane = format!("jane{}", rand_id());
    let z = zitadel(
        &ids,
        true,
        vec![authorization(
            &ids,
            &jane,
            &ids.project,
            &ids.org,
            &["sre", "platform-admin"],
        )],
        &["sre", "platform-admin"],
    )
    .await;
    let key = RsaKey::generate(&rand_id());
    Mock::given(method("GET"))
        .and(path("/oauth/v2/keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[key.jwk()])))
        .mount(&z.server)
        .await;
    let repo = tempfile::tempdir().unwrap();
    let env = env(&ids, &z.server.uri(), repo.path());
    run(&env, false).await.unwrap();
    let text = committed_file(repo.path());

    let now = chrono::Utc::now().timestamp();
    let grant = json!({ids.org.as_str(): ids.domain});
    let token = key.token(&json!({
        "iss": z.server.uri(), "aud": [ids.project], "sub": format!("id-{jane}"),
        "iat": now, "exp": now + 600,
        "preferred_username": format!("{jane}@{}", ids.domain),
        "urn:zitadel:iam:user:resourceowner:id": ids.org,
        "urn:zitadel:iam:user:resourceowner:primary_domain": ids.domain,
        format!("urn:zitadel:iam:org:project:{}:roles", ids.project): {"sre": grant, "platform-admin": grant},
    }));
    let identity = shared::identity::IdentityConfig::from_env(&env).unwrap();
    let verifier =
        shared::identity::Verifier::new(&identity, Arc::new(shared::clock::SystemClock)).unwrap();
    let principal = verifier.verify(&token).await.unwrap();
    let user = principal.user.to_string();
    assert_eq!(user, format!("user:default/{jane}"));
    assert!(
        docs(&text)
            .iter()
            .any(|d| d["kind"] == "User" && d["metadata"]["name"] == jane.as_str())
    );
    let token_groups: BTreeSet<String> = principal.groups.iter().map(ToString::to_string).collect();
    let synced_groups: BTreeSet<String> = docs(&text)
        .iter()
        .filter(|d| d["kind"] == "Group")
        .filter(|d| {
            d["spec"]["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == user.as_str())
        })
        .map(|d| {
            format!(
                "group:{}/{}",
                d["metadata"]["namespace"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(token_groups, synced_groups);
    assert_eq!(
        synced_groups,
        [
            "group:default/sre".to_owned(),
            "group:platform/admins".to_owned()
        ]
        .into()
    );
}

#[tokio::test]
async fn on_github_the_file_is_committed_to_the_base_branch_even_in_pull_request_mode() {
    use aiops_tests::github_fake;
    let ids = Ids::new();
    let user = format!("gh{}", rand_id());
    let z = zitadel(
        &ids,
        true,
        vec![authorization(&ids, &user, &ids.project, &ids.org, &["sre"])],
        &["sre"],
    )
    .await;
    let github = MockServer::start().await;
    github_fake::mount(&github, "acme/org").await;
    let repo = tempfile::tempdir().unwrap();
    let env = env(&ids, &z.server.uri(), repo.path())
        .with("AIOPS_GITHUB_REPO", "acme/org")
        .with("AIOPS_GITHUB_BRANCH", "main")
        .with("AIOPS_GITHUB_PR", "true")
        .with("AIOPS_GITHUB_TOKEN", format!("ghp_{}", rand_id()))
        .with("AIOPS_GITHUB_API_URL", github.uri());
    let (outcome, _) = run(&env, false).await.unwrap();
    assert!(outcome.committed);
    assert_eq!(outcome.commit.as_deref(), Some(github_fake::NEW_COMMIT));
    let blobs = github_fake::blobs(&github).await;
    assert_eq!(blobs.len(), 1);
    assert_eq!(
        group_members(&blobs[0], "sre").unwrap(),
        vec![format!("user:default/{user}")]
    );
    let requests = github.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .any(|r| r.method == wiremock::http::Method::PATCH
                && r.url.path().ends_with("/git/refs/heads/main"))
    );
    assert!(
        !requests.iter().any(|r| r.url.path().contains("/pulls")
            || r.url.path().contains("/git/refs") && r.method == wiremock::http::Method::POST),
        "no run branch, no pull request"
    );
}

/// A service-user key generated for this run, in ZITADEL's key file format, and the
/// public half for checking the assertion.
fn service_key(user_id: &str, key_id: &str) -> (String, jsonwebtoken::DecodingKey) {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    );
    let public = aws_lc_rs::signature::KeyPair::public_key(&pair);
    let b64url = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let n = b64url(public.modulus().big_endian_without_leading_zero());
    let e = b64url(public.exponent().big_endian_without_leading_zero());
    let file = json!({"type": "serviceaccount", "keyId": key_id, "key": pem, "userId": user_id, "expirationDate": "2030-01-01T00:00:00Z"});
    (
        file.to_string(),
        jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).unwrap(),
    )
}

/// The token endpoint: checks the JWT-profile assertion with the run's public key and
/// answers the access token the other mocks expect.
struct TokenEndpoint {
    key: jsonwebtoken::DecodingKey,
    user_id: String,
    key_id: String,
    audience: String,
    access_token: String,
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: Vec<(String, String)> = url_pairs(&String::from_utf8_lossy(&request.body));
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        if get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"error": "unsupported_grant_type"}));
        }
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[self.audience.as_str()]);
        validation.set_issuer(&[self.user_id.as_str()]);
        let assertion = get("assertion");
        let header = jsonwebtoken::decode_header(&assertion).ok();
        match jsonwebtoken::decode::<Value>(&assertion, &self.key, &validation) {
            Ok(data) if data.claims["sub"] == self.user_id.as_str() && header.and_then(|h| h.kid).as_deref() == Some(self.key_id.as_str()) => {
                ResponseTemplate::new(200).set_body_json(json!({"access_token": self.access_token, "token_type": "Bearer", "expires_in": 43199}))
            }
            _ => ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant", "error_description": "assertion invalid"})),
        }
    }
}

fn url_pairs(body: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x/?{body}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn a_jwt_profile_key_is_exchanged_for_the_access_token_and_a_foreign_key_is_refused() {
    let ids = Ids::new();
    let user = format!("k{}", rand_id());
    let z = zitadel(
        &ids,
        true,
        vec![authorization(&ids, &user, &ids.project, &ids.org, &["sre"])],
        &["sre"],
    )
    .await;
    let (user_id, key_id) = (rand_id(), rand_id());
    let (key_file, public) = service_key(&user_id, &key_id);
    Mock::given(method("POST"))
        .and(path("/oauth/v2/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(TokenEndpoint {
            key: public,
            user_id: user_id.clone(),
            key_id: key_id.clone(),
            audience: z.server.uri(),
            // The other mocks accept exactly this bearer.
            access_token: ids.token.clone(),
        })
        .expect(2)
        .mount(&z.server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.json");
    std::fs::write(&key_path, key_file).unwrap();
    let repo = dir.path().join("repo");
    let base = env(&ids, &z.server.uri(), &repo);
    let with_key: MapEnv = base
        .clone()
        .with("AIOPS_ZITADEL_TOKEN", "")
        .with("AIOPS_ZITADEL_KEY_FILE", key_path.display().to_string());
    let (outcome, _) = run(&with_key, false).await.unwrap();
    assert_eq!(outcome.users, 1);

    // A key ZITADEL does not know (another key pair, same ids): refused, named.
    let (foreign, _) = service_key(&user_id, &key_id);
    std::fs::write(&key_path, foreign).unwrap();
    let err = run(&with_key, false).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth {
                var: "AIOPS_ZITADEL_KEY_FILE",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("invalid_grant"), "{err}");

    std::fs::write(&key_path, "{\"type\":\"serviceaccount\"}").unwrap();
    let err = run(&with_key, false).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("AIOPS_ZITADEL_KEY_FILE is invalid"),
        "{err}"
    );
}

/// The test Backstage from tests/backstage, started for this test with its own ports,
/// token and a config layer adding the synced file as a location; killed on drop.
struct Backstage {
    child: std::process::Child,
    url: String,
    token: String,
    dir: tempfile::TempDir,
}

impl Drop for Backstage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Backstage directory when node and its node_modules are there; `None` (skip)
/// otherwise, except in CI, where a missing prerequisite fails the test.
fn backstage_dir() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/backstage");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let modules = dir.join("node_modules").is_dir();
    if node && modules {
        return Some(dir);
    }
    let missing = format!(
        "the test Backstage needs node on PATH ({}) and {} ({}): run npm ci there",
        if node { "found" } else { "missing" },
        dir.join("node_modules").display(),
        if modules { "found" } else { "missing" }
    );
    let ci = shared::config::Env::get(&shared::config::ProcessEnv, "CI");
    assert!(ci.as_deref() != Some("true"), "{missing}");
    eprintln!("skipped: {missing}");
    None
}

fn start_backstage(dir: &Path, synced_file: &Path, user: &str) -> Backstage {
    let port = free_port();
    let token = format!("aiops-test-{}", rand_id());
    let tmp = tempfile::tempdir().unwrap();
    let layer = tmp.path().join("sync-groups.yaml");
    let config = json!({
        "catalog": {
            "processingInterval": {"seconds": 1},
            "locations": [
                {"type": "file", "target": "./catalog.yaml"},
                {"type": "file", "target": "../../infra/backstage/template.yaml"},
                {"type": "file", "target": synced_file.display().to_string()},
            ],
        },
        "auth": {"providers": {"other-guest": {"userEntityRef": user}}},
    });
    // JSON is YAML.
    std::fs::write(&layer, config.to_string()).unwrap();
    let log = std::fs::File::create(tmp.path().join("backstage.log")).unwrap();
    let child = Command::new("node")
        .current_dir(dir)
        .arg("index.js")
        .arg("--config")
        .arg("app-config.yaml")
        .arg("--config")
        .arg(&layer)
        .env("BACKSTAGE_PORT", port.to_string())
        .env("BACKSTAGE_STATIC_TOKEN", &token)
        .env(
            "AIOPS_RCA_API_URL",
            format!("http://127.0.0.1:{}", free_port()),
        )
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Backstage {
        child,
        url: format!("http://127.0.0.1:{port}"),
        token,
        dir: tmp,
    }
}

impl Backstage {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("backstage.log")).unwrap_or_default()
    }

    /// The targets of `relation` on the entity, once the catalog holds exactly `want`
    /// (re-ingestion takes a processing cycle or two).
    async fn wait_relations(
        &self,
        http: &reqwest::Client,
        entity: &str,
        relation: &str,
        want: &BTreeSet<String>,
    ) {
        let (kind, rest) = entity.split_once(':').unwrap();
        let (ns, name) = rest.split_once('/').unwrap();
        let url = format!(
            "{}/api/catalog/entities/by-name/{kind}/{ns}/{name}",
            self.url
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_mins(3);
        let mut last = BTreeSet::new();
        while std::time::Instant::now() < deadline {
            if let Ok(r) = http.get(&url).bearer_auth(&self.token).send().await
                && r.status().is_success()
                && let Ok(e) = r.json::<Value>().await
            {
                last = e["relations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| r["type"] == relation)
                    .filter_map(|r| r["targetRef"].as_str().map(str::to_owned))
                    .collect();
                if &last == want {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        panic!(
            "{entity}: {relation} is {last:?}, expected {want:?}; Backstage log:\n{}",
            self.log()
        );
    }

    /// The group refs in the `ent` of a fresh user token from the other-guest provider.
    async fn token_groups(&self, http: &reqwest::Client) -> BTreeSet<String> {
        let answer: Value = http
            .post(format!("{}/api/auth/other-guest/refresh", self.url))
            .header("X-Requested-With", "XMLHttpRequest")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["backstageIdentity"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {answer}"));
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        claims["ent"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|r| r.starts_with("group:"))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn the_real_backstage_ingests_the_file_and_tokens_carry_exactly_the_synced_groups() {
    let Some(dir) = backstage_dir() else { return };
    let ids = Ids::new();
    let tag = rand_id();
    let (alice, bob) = (format!("alice{tag}"), format!("bob{tag}"));
    let (role_a, role_b) = (format!("sre-{tag}"), format!("oncall-{tag}"));
    let z = zitadel(
        &ids,
        true,
        vec![
            authorization(
                &ids,
                &alice,
                &ids.project,
                &ids.org,
                &[role_a.as_str(), role_b.as_str()],
            ),
            authorization(&ids, &bob, &ids.project, &ids.org, &[role_b.as_str()]),
        ],
        &[role_a.as_str(), role_b.as_str()],
    )
    .await;
    let repo = tempfile::tempdir().unwrap();
    let env = env(&ids, &z.server.uri(), repo.path());
    assert!(run(&env, false).await.unwrap().0.committed);

    let user = format!("user:default/{alice}");
    let backstage = start_backstage(&dir, &repo.path().join("catalog/zitadel/org.yaml"), &user);
    let http = reqwest::Client::new();
    let both: BTreeSet<String> = [
        format!("group:default/{role_a}"),
        format!("group:default/{role_b}"),
    ]
    .into();
    backstage
        .wait_relations(&http, &user, "memberOf", &both)
        .await;
    let bob_ref = format!("user:default/{bob}");
    let mut members_b: BTreeSet<String> = [user.clone(), bob_ref.clone()].into();
    backstage
        .wait_relations(
            &http,
            &format!("group:default/{role_b}"),
            "hasMember",
            &members_b,
        )
        .await;
    assert_eq!(
        backstage.token_groups(&http).await,
        both,
        "ent = the groups alice's roles map to"
    );

    // alice loses role A: the next commit drops the membership, and the next token too.
    z.grants.set(vec![
        authorization(&ids, &alice, &ids.project, &ids.org, &[role_b.as_str()]),
        authorization(&ids, &bob, &ids.project, &ids.org, &[role_b.as_str()]),
    ]);
    let (second, _) = run(&env, false).await.unwrap();
    assert!(second.committed);
    let only_b: BTreeSet<String> = [format!("group:default/{role_b}")].into();
    backstage
        .wait_relations(&http, &user, "memberOf", &only_b)
        .await;
    backstage
        .wait_relations(
            &http,
            &format!("group:default/{role_a}"),
            "hasMember",
            &BTreeSet::new(),
        )
        .await;
    members_b.insert(user.clone());
    backstage
        .wait_relations(
            &http,
            &format!("group:default/{role_b}"),
            "hasMember",
            &members_b,
        )
        .await;
    assert_eq!(backstage.token_groups(&http).await, only_b);
}

async fn aiops(env: &[(&str, String)], args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aiops"))
        .arg("sync-groups")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_exits_0_2_or_1_and_a_dry_run_prints_the_diff_and_commits_nothing() {
    let ids = Ids::new();
    let user = format!("cli{}", rand_id());
    let z = zitadel(
        &ids,
        true,
        vec![authorization(&ids, &user, &ids.project, &ids.org, &["sre"])],
        &["sre"],
    )
    .await;
    let repo = tempfile::tempdir().unwrap();
    let issuers = json!([{
        "issuer": z.server.uri(), "jwks_url": format!("{}/oauth/v2/keys", z.server.uri()),
        "audience": ids.project, "kind": "zitadel", "org_ids": [ids.org],
    }]);
    let mut vars = vec![
        ("AIOPS_ZITADEL_URL", z.server.uri()),
        ("AIOPS_ZITADEL_TOKEN", ids.token.clone()),
        ("AIOPS_TRUSTED_ISSUERS", issuers.to_string()),
        ("AIOPS_REPORT_DIR", repo.path().display().to_string()),
    ];
    let (code, stdout, stderr) = aiops(&vars, &["--dry-run"]).await;
    assert_eq!(code, 0, "{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["dry_run"], true);
    assert_eq!(result["committed"], false);
    assert!(
        stderr.contains(&format!("+    - \"user:default/{user}\"")),
        "{stderr}"
    );
    assert!(stderr.contains("dry run, nothing committed"), "{stderr}");
    assert_eq!(commits(repo.path()), 0);

    let (code, stdout, _) = aiops(&vars, &[]).await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["committed"],
        true
    );
    assert_eq!(commits(repo.path()), 1);

    vars.push(("AIOPS_SYNC_GROUPS_EMPTY", "sometimes".into()));
    let (code, _, stderr) = aiops(&vars, &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("AIOPS_SYNC_GROUPS_EMPTY is invalid: expected keep or drop"),
        "{stderr}"
    );
    vars.pop();

    // ZITADEL failing (after the bounded retries) is a failed dependency.
    let broken = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"code": "unavailable", "message": "down"})),
        )
        .expect(3)
        .mount(&broken)
        .await;
    vars[0].1 = broken.uri();
    let (code, _, stderr) = aiops(&vars, &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("503"), "{stderr}");
}
