//! A GitHub Enterprise API (`/api/v3`) on wiremock that accepts one commit through the
//! Git Data API onto an existing `main`, whatever the files: ref → commit → (no index
//! yet) → blobs → tree → commit → ref update. The tests read what was committed from
//! the blob requests it received. Shapes follow GitHub's REST responses.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The head of `main` before the commit.
pub const HEAD: &str = "aa218f56b14c9653891f9e74264a383fa43fefbd";
/// The commit the fake creates.
pub const NEW_COMMIT: &str = "7638417db6d59f3c431d3e1f261cc637155684cd";
const HEAD_TREE: &str = "691272480426f78a0138979dd3ce63b77f706feb";
const NEW_TREE: &str = "cd8274d15fa3ae2ab983129fb037999f264ba9a7";

fn commit(server: &MockServer, repo: &str, sha: &str, tree: &str, parent: &str) -> Value {
    let who = json!({"name": "aiops[bot]", "email": "aiops[bot]@users.noreply.github.com", "date": "2026-11-26T05:12:00Z"});
    let api = format!("{}/api/v3/repos/{repo}", server.uri());
    json!({
        "sha": sha, "node_id": "C_kwDOAAABc9oAKDc2Mzg0MTdkYjZkNTlmM2M0MzFkM2UxZjI2MWNjNjM3MTU1Njg0Y2Q",
        "url": format!("{api}/git/commits/{sha}"),
        "html_url": format!("https://ghe.example.com/{repo}/commit/{sha}"),
        "author": who, "committer": who,
        "tree": {"sha": tree, "url": format!("{api}/git/trees/{tree}")},
        "message": "rca",
        "parents": [{"sha": parent, "url": format!("{api}/git/commits/{parent}"),
                     "html_url": format!("https://ghe.example.com/{repo}/commit/{parent}")}],
        "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
    })
}

fn git_ref(server: &MockServer, repo: &str, sha: &str) -> Value {
    let api = format!("{}/api/v3/repos/{repo}", server.uri());
    json!({
        "ref": "refs/heads/main", "node_id": "MDM6UmVmcmVmcy9oZWFkcy9tYWlu",
        "url": format!("{api}/git/refs/heads/main"),
        "object": {"sha": sha, "type": "commit", "url": format!("{api}/git/commits/{sha}")}
    })
}

/// Mounts the fake for `repo` (`owner/name`) on `server`.
pub async fn mount(server: &MockServer, repo: &str) {
    let base = format!("/api/v3/repos/{repo}");
    let api = format!("{}{base}", server.uri());
    Mock::given(method("GET"))
        .and(path(format!("{base}/git/ref/heads/main")))
        .respond_with(ResponseTemplate::new(200).set_body_json(git_ref(server, repo, HEAD)))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/git/commits/{HEAD}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(commit(
            server,
            repo,
            HEAD,
            HEAD_TREE,
            "1acc419d4d6a9ce985db7be48c6349a0475975b5",
        )))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!("^{base}/contents/.*")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/repos/contents#get-repository-content",
            "status": "404"
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/git/blobs")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "url": format!("{api}/git/blobs/3a0f86fb8db8eea7ccbb9a95f325ddbedfb25e15"),
            "sha": "3a0f86fb8db8eea7ccbb9a95f325ddbedfb25e15"
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/git/trees")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sha": NEW_TREE, "url": format!("{api}/git/trees/{NEW_TREE}"), "truncated": false,
            "tree": [{"path": "rca", "mode": "040000", "type": "tree",
                      "sha": "f484d249c660418515fb01c2b9662073663c242e",
                      "url": format!("{api}/git/trees/f484d249c660418515fb01c2b9662073663c242e")}]
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/git/commits")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(commit(server, repo, NEW_COMMIT, NEW_TREE, HEAD)),
        )
        .mount(server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{base}/git/refs/heads/main")))
        .respond_with(ResponseTemplate::new(200).set_body_json(git_ref(server, repo, NEW_COMMIT)))
        .mount(server)
        .await;
}

/// The contents of every blob the fake received, in order.
pub async fn blobs(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with("/git/blobs"))
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter_map(|b| b["content"].as_str().map(str::to_owned))
        .collect()
}
