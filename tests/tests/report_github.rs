//! The GitHub sink against a wiremock server shaped like the GitHub REST API (GitHub
//! Enterprise layout, `/api/v3`): the Git Data API commit, idempotence, a branch that
//! moves under us, a permission refusal, and pull-request mode. Every mock states how
//! often it must be called; anything unexpected hits a catch-all that fails the test.
#![allow(clippy::unwrap_used)]

use aiops_tests::golden::data;
use base64::Engine as _;
use serde_json::{Value, json};
use shared::analysis::Analysis;
use shared::error::{Classify, ErrorKind};
use shared::evidence::EvidenceBundle;
use shared::redact::Redactor;
use shared::report::sink::{GitHubAuth, GitHubConfig, GitHubSink, ReportSink};
use shared::report::{INDEX_PATH, Report, ReportConfig, ReportError, index, render};
use wiremock::matchers::{any, body_json, body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO: &str = "/api/v3/repos/acme/postmortems";
const HEAD: &str = "aa218f56b14c9653891f9e74264a383fa43fefbd";
const HEAD_TREE: &str = "691272480426f78a0138979dd3ce63b77f706feb";
const NEW_COMMIT: &str = "7638417db6d59f3c431d3e1f261cc637155684cd";
const NEW_TREE: &str = "cd8274d15fa3ae2ab983129fb037999f264ba9a7";
const REPORT_BLOB: &str = "3a0f86fb8db8eea7ccbb9a95f325ddbedfb25e15";
const INDEX_BLOB: &str = "95b966ae1c166bd92f8ae7d1c313e738c731dfc3";

fn report() -> Report {
    let bundle: EvidenceBundle =
        serde_json::from_str(&data("report/crashloop-bundle.json")).expect("bundle");
    let analysis: Analysis =
        serde_json::from_str(&data("report/crashloop-analysis.json")).expect("analysis");
    render(
        &bundle,
        &analysis,
        &ReportConfig::default(),
        &Redactor::default(),
    )
    .expect("render")
}

fn config(server: &MockServer) -> GitHubConfig {
    GitHubConfig {
        owner: "acme".into(),
        name: "postmortems".into(),
        branch: Some("main".into()),
        api_url: Some(server.uri()),
        auth: GitHubAuth::Token("ghs_test".into()),
        pull_request: false,
        labels: Vec::new(),
        max_attempts: 3,
    }
}

fn api(server: &MockServer, rest: &str) -> String {
    format!("{}{REPO}{rest}", server.uri())
}

fn git_ref(server: &MockServer, branch: &str, sha: &str) -> Value {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "node_id": "MDM6UmVmcmVmcy9oZWFkcy9tYWlu",
        "url": api(server, &format!("/git/refs/heads/{branch}")),
        "object": {"sha": sha, "type": "commit", "url": api(server, &format!("/git/commits/{sha}"))}
    })
}

fn git_commit(server: &MockServer, sha: &str, tree: &str, parent: &str, message: &str) -> Value {
    let who = json!({"name": "aiops[bot]", "email": "aiops[bot]@users.noreply.github.com", "date": "2026-11-26T05:12:00Z"});
    json!({
        "sha": sha,
        "node_id": "C_kwDOAAABc9oAKDc2Mzg0MTdkYjZkNTlmM2M0MzFkM2UxZjI2MWNjNjM3MTU1Njg0Y2Q",
        "url": api(server, &format!("/git/commits/{sha}")),
        "html_url": format!("https://ghe.example.com/acme/postmortems/commit/{sha}"),
        "author": who, "committer": who,
        "tree": {"sha": tree, "url": api(server, &format!("/git/trees/{tree}"))},
        "message": message,
        "parents": [{"sha": parent, "url": api(server, &format!("/git/commits/{parent}")),
                     "html_url": format!("https://ghe.example.com/acme/postmortems/commit/{parent}")}],
        "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
    })
}

fn not_found(doc: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "message": "Not Found",
        "documentation_url": format!("https://docs.github.com/rest/{doc}"),
        "status": "404"
    }))
}

fn contents(server: &MockServer, file_path: &str, text: &str) -> Value {
    // GitHub wraps base64 content at 60 characters.
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let name = file_path.rsplit('/').next().unwrap_or(file_path);
    json!({
        "type": "file", "encoding": "base64", "size": text.len(), "name": name, "path": file_path,
        "content": wrapped.join("\n") + "\n",
        "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
        "url": api(server, &format!("/contents/{file_path}?ref=main")),
        "git_url": api(server, "/git/blobs/3d21ec53a331a6f037a91c368710b99387d012c1"),
        "html_url": format!("https://ghe.example.com/acme/postmortems/blob/main/{file_path}"),
        "download_url": format!("https://ghe.example.com/raw/acme/postmortems/main/{file_path}"),
        "_links": {"self": api(server, &format!("/contents/{file_path}?ref=main")),
                   "git": api(server, "/git/blobs/3d21ec53a331a6f037a91c368710b99387d012c1"),
                   "html": format!("https://ghe.example.com/acme/postmortems/blob/main/{file_path}")}
    })
}

/// Anything no other mock answers fails the test on drop, listing the request.
async fn catch_all(server: &MockServer) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(418).set_body_string("unexpected request"))
        .with_priority(u8::MAX)
        .expect(0)
        .named("catch-all: an unexpected request")
        .mount(server)
        .await;
}

async fn head_of(server: &MockServer, branch: &str, sha: &str, times: u64) {
    ref_at(server, branch, sha, times).await;
    commit_at(server, sha, times).await;
}

async fn ref_at(server: &MockServer, branch: &str, sha: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/ref/heads/{branch}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(git_ref(server, branch, sha)))
        .expect(times)
        .mount(server)
        .await;
}

async fn commit_at(server: &MockServer, sha: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/commits/{sha}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(git_commit(
            server,
            sha,
            HEAD_TREE,
            "1acc419d4d6a9ce985db7be48c6349a0475975b5",
            "earlier",
        )))
        .expect(times)
        .mount(server)
        .await;
}

async fn file_at(server: &MockServer, file_path: &str, sha: &str, text: Option<&str>, times: u64) {
    let response = match text {
        Some(t) => ResponseTemplate::new(200).set_body_json(contents(server, file_path, t)),
        None => not_found("repos/contents#get-repository-content"),
    };
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/contents/{file_path}")))
        .and(query_param("ref", sha))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

/// The write half of a commit: blobs, tree on the base tree, commit on `parent`.
async fn commit_writes(
    server: &MockServer,
    report: &Report,
    index_text: &str,
    parent: &str,
    times: u64,
) {
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/blobs")))
        .and(body_json(
            json!({"content": report.markdown, "encoding": "utf-8"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"url": api(server, &format!("/git/blobs/{REPORT_BLOB}")), "sha": REPORT_BLOB}),
        ))
        .expect(times)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/blobs")))
        .and(body_json(
            json!({"content": index_text, "encoding": "utf-8"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"url": api(server, &format!("/git/blobs/{INDEX_BLOB}")), "sha": INDEX_BLOB}),
        ))
        .expect(times)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/trees")))
        .and(body_json(json!({
            "base_tree": HEAD_TREE,
            "tree": [
                {"path": report.path, "mode": "100644", "type": "blob", "sha": REPORT_BLOB},
                {"path": INDEX_PATH, "mode": "100644", "type": "blob", "sha": INDEX_BLOB}
            ]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sha": NEW_TREE, "url": api(server, &format!("/git/trees/{NEW_TREE}")), "truncated": false,
            "tree": [
                {"path": "rca", "mode": "040000", "type": "tree", "sha": "f484d249c660418515fb01c2b9662073663c242e", "url": api(server, "/git/trees/f484d249c660418515fb01c2b9662073663c242e")}
            ]
        })))
        .expect(times)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/commits")))
        .and(body_json(
            json!({"message": report.commit_message, "tree": NEW_TREE, "parents": [parent]}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(git_commit(
            server,
            NEW_COMMIT,
            NEW_TREE,
            parent,
            &report.commit_message,
        )))
        .expect(times)
        .mount(server)
        .await;
}

async fn update_ref(server: &MockServer, branch: &str, response: ResponseTemplate, times: u64) {
    Mock::given(method("PATCH"))
        .and(path(format!("{REPO}/git/refs/heads/{branch}")))
        .and(body_json(json!({"sha": NEW_COMMIT, "force": false})))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn first_commit_adds_report_and_index_in_one_commit_through_the_git_data_api() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let report = report();
    let index_text = index::merge(None, &report.entry);
    head_of(&server, "main", HEAD, 1).await;
    file_at(&server, INDEX_PATH, HEAD, None, 1).await;
    commit_writes(&server, &report, &index_text, HEAD, 1).await;
    update_ref(
        &server,
        "main",
        ResponseTemplate::new(200).set_body_json(git_ref(&server, "main", NEW_COMMIT)),
        1,
    )
    .await;

    let sink = GitHubSink::connect(&config(&server)).await.expect("client");
    let published = sink.publish(&report).await.expect("publish");
    assert!(published.committed);
    assert_eq!(published.report.repo, "acme/postmortems");
    assert_eq!(published.report.path, report.path);
    assert_eq!(published.report.commit, NEW_COMMIT);
    assert_eq!(
        published.report.url,
        format!(
            "https://ghe.example.com/acme/postmortems/blob/{NEW_COMMIT}/{}",
            report.path
        )
    );
}

#[tokio::test]
async fn the_same_report_already_at_the_head_makes_no_commit() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let report = report();
    let index_text = index::merge(None, &report.entry);
    head_of(&server, "main", HEAD, 1).await;
    file_at(&server, INDEX_PATH, HEAD, Some(&index_text), 1).await;
    file_at(&server, &report.path, HEAD, Some(&report.markdown), 1).await;

    let sink = GitHubSink::connect(&config(&server)).await.expect("client");
    let published = sink.publish(&report).await.expect("publish");
    assert!(
        !published.committed,
        "nothing changed, so nothing is written"
    );
    assert_eq!(published.report.commit, HEAD);
}

#[tokio::test]
async fn a_branch_that_moved_is_reread_and_the_commit_rebuilt_on_the_new_head() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let report = report();
    let index_text = index::merge(None, &report.entry);
    // First attempt builds on HEAD and loses the race; the second reads HEAD again (the
    // mock serves the same head, GitHub's answer after the other writer would differ
    // only in the SHA) and wins.
    head_of(&server, "main", HEAD, 2).await;
    file_at(&server, INDEX_PATH, HEAD, None, 2).await;
    commit_writes(&server, &report, &index_text, HEAD, 2).await;
    Mock::given(method("PATCH"))
        .and(path(format!("{REPO}/git/refs/heads/main")))
        .and(body_json(json!({"sha": NEW_COMMIT, "force": false})))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Update is not a fast forward",
            "documentation_url": "https://docs.github.com/rest/git/refs#update-a-reference",
            "status": "422"
        })))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    update_ref(
        &server,
        "main",
        ResponseTemplate::new(200).set_body_json(git_ref(&server, "main", NEW_COMMIT)),
        1,
    )
    .await;

    let sink = GitHubSink::connect(&config(&server)).await.expect("client");
    let published = sink.publish(&report).await.expect("publish after a retry");
    assert!(published.committed);
    assert_eq!(published.report.commit, NEW_COMMIT);
}

#[tokio::test]
async fn a_branch_that_keeps_moving_gives_up_after_the_bounded_attempts() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let report = report();
    let index_text = index::merge(None, &report.entry);
    head_of(&server, "main", HEAD, 3).await;
    file_at(&server, INDEX_PATH, HEAD, None, 3).await;
    commit_writes(&server, &report, &index_text, HEAD, 3).await;
    update_ref(&server, "main", ResponseTemplate::new(409).set_body_json(json!({
        "message": "Reference update failed", "documentation_url": "https://docs.github.com/rest/git/refs#update-a-reference", "status": "409"
    })), 3).await;

    let sink = GitHubSink::connect(&config(&server)).await.expect("client");
    let err = sink.publish(&report).await.unwrap_err();
    assert!(
        matches!(err, ReportError::Contended { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_token_without_contents_write_fails_clearly_naming_repo_and_permission() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let report = report();
    head_of(&server, "main", HEAD, 1).await;
    file_at(&server, INDEX_PATH, HEAD, None, 1).await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/blobs")))
        .and(body_partial_json(json!({"encoding": "utf-8"})))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/git/blobs#create-a-blob",
            "status": "403"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let sink = GitHubSink::connect(&config(&server)).await.expect("client");
    let err = sink.publish(&report).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("acme/postmortems"), "{text}");
    assert!(text.contains("contents: write"), "{text}");
    assert!(
        text.contains("Resource not accessible by integration"),
        "{text}"
    );
    assert_eq!(
        err.kind(),
        ErrorKind::Invalid,
        "a permission problem is configuration: exit 2"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn the_default_branch_is_looked_up_when_none_is_configured() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let report = report();
    let index_text = index::merge(None, &report.entry);
    Mock::given(method("GET"))
        .and(path(REPO))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 1_296_269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "postmortems",
            "full_name": "acme/postmortems", "private": true, "default_branch": "trunk",
            "html_url": "https://ghe.example.com/acme/postmortems",
            "permissions": {"admin": false, "maintain": false, "push": true, "triage": true, "pull": true}
        })))
        .expect(1)
        .mount(&server)
        .await;
    head_of(&server, "trunk", HEAD, 1).await;
    file_at(&server, INDEX_PATH, HEAD, Some(&index_text), 1).await;
    file_at(&server, &report.path, HEAD, Some(&report.markdown), 1).await;

    let sink = GitHubSink::connect(&GitHubConfig {
        branch: None,
        ..config(&server)
    })
    .await
    .expect("client");
    let published = sink.publish(&report).await.expect("publish");
    assert!(!published.committed);
}

fn pull_request(server: &MockServer, number: u64, branch: &str) -> Value {
    let user = json!({
        "login": "aiops[bot]", "id": 41_898_282, "node_id": "MDM6Qm90NDE4OTgyODI=",
        "avatar_url": "https://avatars.ghe.example.com/in/15368?v=4", "gravatar_id": "",
        "url": format!("{}/api/v3/users/aiops%5Bbot%5D", server.uri()),
        "html_url": "https://ghe.example.com/apps/aiops",
        "followers_url": format!("{}/api/v3/users/aiops%5Bbot%5D/followers", server.uri()),
        "following_url": format!("{}/api/v3/users/aiops%5Bbot%5D/following{{/other_user}}", server.uri()),
        "gists_url": format!("{}/api/v3/users/aiops%5Bbot%5D/gists{{/gist_id}}", server.uri()),
        "starred_url": format!("{}/api/v3/users/aiops%5Bbot%5D/starred{{/owner}}{{/repo}}", server.uri()),
        "subscriptions_url": format!("{}/api/v3/users/aiops%5Bbot%5D/subscriptions", server.uri()),
        "organizations_url": format!("{}/api/v3/users/aiops%5Bbot%5D/orgs", server.uri()),
        "repos_url": format!("{}/api/v3/users/aiops%5Bbot%5D/repos", server.uri()),
        "events_url": format!("{}/api/v3/users/aiops%5Bbot%5D/events{{/privacy}}", server.uri()),
        "received_events_url": format!("{}/api/v3/users/aiops%5Bbot%5D/received_events", server.uri()),
        "type": "Bot", "site_admin": false
    });
    json!({
        "url": api(server, &format!("/pulls/{number}")),
        "id": 1_934_567_890u64, "node_id": "PR_kwDOAAABc84Ag0zS",
        "html_url": format!("https://ghe.example.com/acme/postmortems/pull/{number}"),
        "diff_url": format!("https://ghe.example.com/acme/postmortems/pull/{number}.diff"),
        "patch_url": format!("https://ghe.example.com/acme/postmortems/pull/{number}.patch"),
        "issue_url": api(server, &format!("/issues/{number}")),
        "number": number, "state": "open", "locked": false,
        "title": "rca(web): web in web-dev is crash-looping", "user": user, "body": "Root-cause analysis",
        "labels": [], "created_at": "2026-11-26T05:12:03Z", "updated_at": "2026-11-26T05:12:03Z",
        "closed_at": null, "merged_at": null, "merge_commit_sha": null,
        "assignee": null, "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "draft": false,
        "head": {"label": format!("acme:{branch}"), "ref": branch, "sha": NEW_COMMIT, "user": user},
        "base": {"label": "acme:main", "ref": "main", "sha": HEAD, "user": user},
        "author_association": "NONE", "auto_merge": null, "active_lock_reason": null
    })
}

#[tokio::test]
async fn pull_request_mode_commits_to_a_run_branch_and_opens_a_labelled_pull_request() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let report = report();
    let branch = format!("rca/{}", report.run_id);
    let index_text = index::merge(None, &report.entry);
    // The run branch does not exist yet: created from main's head.
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/git/ref/heads/{branch}")))
        .respond_with(not_found("git/refs#get-a-reference"))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    ref_at(&server, "main", HEAD, 1).await;
    // Both branches stand at the same commit: it is read for each.
    commit_at(&server, HEAD, 2).await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/refs")))
        .and(body_json(
            json!({"ref": format!("refs/heads/{branch}"), "sha": HEAD}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(git_ref(&server, &branch, HEAD)))
        .expect(1)
        .mount(&server)
        .await;
    ref_at(&server, &branch, HEAD, 1).await;
    file_at(&server, INDEX_PATH, HEAD, None, 1).await;
    commit_writes(&server, &report, &index_text, HEAD, 1).await;
    update_ref(
        &server,
        &branch,
        ResponseTemplate::new(200).set_body_json(git_ref(&server, &branch, NEW_COMMIT)),
        1,
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls")))
        .and(query_param("head", format!("acme:{branch}")))
        .and(query_param("state", "open"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pulls")))
        .and(body_partial_json(
            json!({"head": branch, "base": "main", "title": report.commit_message.lines().next()}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(pull_request(&server, 42, &branch)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/issues/42/labels")))
        .and(body_json(json!({"labels": ["rca", "incident"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 208_045_946, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=", "url": api(&server, "/labels/rca"), "name": "rca", "description": "Root-cause analysis", "color": "f29513", "default": false},
            {"id": 208_045_947, "node_id": "MDU6TGFiZWwyMDgwNDU5NDc=", "url": api(&server, "/labels/incident"), "name": "incident", "description": null, "color": "d73a4a", "default": false}
        ])))
        .expect(1)
        .mount(&server)
        .await;

    let cfg = GitHubConfig {
        pull_request: true,
        labels: vec!["rca".into(), "incident".into()],
        ..config(&server)
    };
    let sink = GitHubSink::connect(&cfg).await.expect("client");
    let published = sink.publish(&report).await.expect("publish");
    assert!(published.committed);
    assert_eq!(
        published.pull_request.as_deref(),
        Some("https://ghe.example.com/acme/postmortems/pull/42")
    );
    assert_eq!(published.report.commit, NEW_COMMIT);
}
