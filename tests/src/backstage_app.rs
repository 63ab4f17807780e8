//! The test Backstage (tests/backstage) as its users drive it: real user tokens from its
//! guest sign-in providers, scaffolder tasks run as those users, and the tasks' logs.
//! A test that needs it fails with instructions when it is not running (see
//! [`crate::services::backstage`]).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// How long a test waits for anything Backstage does: generous, because a loaded CI
/// machine makes a Node backend slow, and a test that gives up early proves nothing.
pub const DEADLINE: Duration = Duration::from_mins(2);

/// The scaffolder answers a long poll for task events after at most 30 s.
const LONG_POLL: Duration = Duration::from_secs(40);

/// A client of the running test Backstage.
#[derive(Debug, Clone)]
pub struct Backstage {
    base: String,
    http: reqwest::Client,
}

/// A user token as Backstage's auth backend issued it, with its decoded header and
/// claims.
pub struct UserToken {
    /// The compact JWT.
    pub token: String,
    /// The JOSE header.
    pub header: Value,
    /// The claims.
    pub claims: Value,
}

impl std::fmt::Debug for UserToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserToken")
            .field("header", &self.header)
            .field("sub", &self.claims["sub"])
            .finish_non_exhaustive()
    }
}

/// A finished scaffolder task.
#[derive(Debug, Clone)]
pub struct Task {
    /// The task id.
    pub id: String,
    /// `completed`, `failed` or `cancelled`.
    pub status: String,
    /// Every event of the task, in order.
    pub events: Vec<Value>,
}

impl Task {
    /// The task log: every event's message, one per line.
    pub fn log(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| e["body"]["message"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The template's output, from the completion event.
    pub fn output(&self) -> Value {
        self.completion()["body"]["output"].clone()
    }

    fn completion(&self) -> &Value {
        self.events
            .iter()
            .rev()
            .find(|e| e["type"] == "completion")
            .unwrap_or(&Value::Null)
    }
}

impl Backstage {
    /// The Backstage `scripts/test` started.
    pub fn from_env() -> Self {
        let (base, _) = crate::services::backstage();
        let http = reqwest::Client::builder()
            .timeout(LONG_POLL + Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        Self { base, http }
    }

    /// The backend's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `AIOPS_TRUSTED_ISSUERS` for this Backstage's user tokens, as the README tells a
    /// platform team to set it.
    pub fn trusted_issuers(&self) -> String {
        json!([{
            "issuer": format!("{}/api/auth", self.base),
            "jwks_url": format!("{}/api/auth/.well-known/jwks.json", self.base),
            "audience": "backstage",
            "kind": "backstage",
        }])
        .to_string()
    }

    /// Signs in with a guest-style provider (`guest`: jane, `other-guest`: mallory) and
    /// returns the user token the auth backend issued.
    pub async fn sign_in(&self, provider: &str) -> UserToken {
        let url = format!("{}/api/auth/{provider}/refresh", self.base);
        let body = self.send_json(self.http.post(&url), &url).await;
        let token = body["backstageIdentity"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{url} answered no backstageIdentity.token: {body}"))
            .to_owned();
        UserToken {
            header: jwt_part(&token, 0),
            claims: jwt_part(&token, 1),
            token,
        }
    }

    /// Creates a scaffolder task for `template` (`template:default/<name>`) as the
    /// holder of `token`, and returns its id.
    pub async fn create_task(&self, token: &str, template: &str, values: Value) -> String {
        let url = format!("{}/api/scaffolder/v2/tasks", self.base);
        let request = self
            .http
            .post(&url)
            .bearer_auth(token)
            .json(&json!({"templateRef": template, "values": values}));
        let body = self.send_json(request, &url).await;
        body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{url} answered no task id: {body}"))
            .to_owned()
    }

    /// Waits (long polls on the task's events, no sleeps) until the task completes, and
    /// returns it; panics with the log so far when [`DEADLINE`] passes first.
    pub async fn wait_for_task(&self, token: &str, id: &str) -> Task {
        let deadline = Instant::now() + DEADLINE;
        let events_url = format!("{}/api/scaffolder/v2/tasks/{id}/events", self.base);
        let mut events: Vec<Value> = Vec::new();
        while !events.iter().any(|e| e["type"] == "completion") {
            assert!(
                Instant::now() < deadline,
                "task {id} did not complete within {DEADLINE:?}; its events so far: {events:#?}"
            );
            let mut request = self.http.get(&events_url).bearer_auth(token);
            if let Some(last) = events.last().and_then(|e| e["id"].as_i64()) {
                request = request.query(&[("after", last)]);
            }
            let batch = self.send_json(request, &events_url).await;
            events.extend(batch.as_array().cloned().unwrap_or_default());
        }
        let task_url = format!("{}/api/scaffolder/v2/tasks/{id}", self.base);
        let task = self
            .send_json(self.http.get(&task_url).bearer_auth(token), &task_url)
            .await;
        Task {
            id: id.to_owned(),
            status: task["status"].as_str().unwrap_or("").to_owned(),
            events,
        }
    }

    /// `GET {base}/api/proxy/aiops{path}` as the holder of `token`: rca-api through the
    /// proxy route the template uses. Returns the status and the JSON body.
    pub async fn via_proxy(&self, token: &str, path: &str) -> (u16, Value) {
        let url = format!("{}/api/proxy/aiops{path}", self.base);
        let response = self
            .http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn send_json(&self, request: reqwest::RequestBuilder, url: &str) -> Value {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{url} answered {status}: {text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{url} answered no JSON ({e}): {text}"))
    }
}

/// Part `index` (0 header, 1 claims) of a compact JWT, decoded.
pub fn jwt_part(token: &str, index: usize) -> Value {
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("a JWT has no part {index}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("JWT part {index} is not base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT part {index} is not JSON: {e}"))
}
