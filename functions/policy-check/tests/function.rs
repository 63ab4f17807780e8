//! The handler as each caller uses it: decision API over a Function URL, the chain's
//! principal form, and SubjectAccessReviews, with the audit record of each decision.
#![allow(clippy::unwrap_used)]

#[path = "../../../shared/src/identity/testkit.rs"]
mod testkit;

use std::sync::Arc;

use policy_check::{Context, Input, Output, handle};
use serde_json::{Value, json};
use shared::audit::{AuditLogger, MemoryWriter, StdoutSink, StreamFields};
use shared::clock::ManualClock;
use shared::identity::{IdentityConfig, Verifier};
use shared::policy::{Authorizer, NoLabels, Policy};
use testkit::EcKey;

const NOW: i64 = 1_795_651_200;
const ISS: &str = "https://backstage.example/api/auth";
/// The webhook's bearer token, made per run.
fn webhook_token() -> String {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN
        .get_or_init(|| {
            (0..32)
                .map(|_| fastrand::alphanumeric())
                .collect::<String>()
        })
        .clone()
}

struct Harness {
    ctx: Arc<Context>,
    audit: MemoryWriter,
    key: EcKey,
    _dir: tempfile_dir::Dir,
}

/// A JWKS file instead of a server: the verifier's HTTP path is covered in `shared`.
mod tempfile_dir {
    #[derive(Debug)]
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(name: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("policy-check-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Harness {
    fn new(name: &str) -> Self {
        Self::with_policy(name, "environments:\n  prod: {actions: [read, write]}\n")
    }

    fn with_policy(name: &str, policy: &str) -> Self {
        let key = EcKey::generate("k1");
        let dir = tempfile_dir::Dir::new(name);
        let jwks = dir.0.join("jwks.json");
        std::fs::write(&jwks, testkit::jwks(&[key.jwk()]).to_string()).unwrap();
        let identity = IdentityConfig {
            issuers: vec![
                serde_json::from_value(json!({"issuer": ISS, "jwks_file": jwks, "audience": "backstage", "kind": "backstage"}))
                    .unwrap(),
            ],
            ..IdentityConfig::default()
        };
        let clock = Arc::new(ManualClock::at_millis(NOW * 1000));
        let audit = MemoryWriter::default();
        let stream = StreamFields {
            service: "aiops".into(),
            function: "policy-check".into(),
            env: "test".into(),
        };
        let logger = AuditLogger::direct(
            stream,
            StdoutSink::with_writer(audit.clone()),
            Arc::default(),
            clock.clone(),
        );
        let verifier = Arc::new(Verifier::new(&identity, clock).unwrap());
        let policy = Policy::parse(policy, "test").unwrap();
        let authorizer = Authorizer::new(verifier, Arc::new(policy), Arc::new(NoLabels), logger);
        let ctx =
            Context::with_authorizer(authorizer, Some(&webhook_token()), Some("prod-eu1".into()));
        Self {
            ctx: Arc::new(ctx),
            audit,
            key,
            _dir: dir,
        }
    }

    fn token(&self, user: &str, groups: &[&str]) -> String {
        self.key.token(
            &json!({"iss": ISS, "aud": "backstage", "sub": user, "ent": groups, "exp": NOW + 600}),
        )
    }

    async fn call(&self, event: Value) -> Value {
        let input: Input = serde_json::from_value(event).unwrap();
        let output: Output = handle(&self.ctx, input).await.unwrap();
        serde_json::to_value(output).unwrap()
    }
}

fn url_event(token: Option<&str>, body: &Value) -> Value {
    let mut headers = json!({"content-type": "application/json"});
    if let Some(t) = token {
        headers["authorization"] = json!(format!("Bearer {t}"));
    }
    json!({"version": "2.0", "headers": headers, "body": body.to_string(), "isBase64Encoded": false,
           "requestContext": {"http": {"method": "POST", "path": "/"}, "requestId": "req-1"}})
}

fn sar(user: &str, groups: &[&str], attrs: &Value) -> Value {
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
           "spec": {"user": user, "groups": groups, "resourceAttributes": attrs}})
}

#[tokio::test]
async fn the_decision_api_answers_200_403_and_401_with_the_decision_json() {
    let h = Harness::new("api");
    let jane = h.token("user:default/jane", &["group:default/team-checkout"]);
    let mallory = h.token("user:default/mallory", &["group:default/team-cart"]);
    let body = json!({"namespace": "team-checkout-prod", "action": "read"});

    let ok = h.call(url_event(Some(&jane), &body)).await;
    assert_eq!(ok["statusCode"], 200);
    let decision: Value = serde_json::from_str(ok["body"].as_str().unwrap()).unwrap();
    assert_eq!(decision["allowed"], true);
    assert_eq!(decision["reason"], "owner");
    assert_eq!(decision["environment"], "prod");
    assert_eq!(decision["principal"], "user:default/jane");

    let denied = h.call(url_event(Some(&mallory), &body)).await;
    assert_eq!(denied["statusCode"], 403);
    let decision: Value = serde_json::from_str(denied["body"].as_str().unwrap()).unwrap();
    assert_eq!(decision["reason"], "not_owner");
    assert_eq!(decision["owner"], "group:default/team-checkout");

    let forged = testkit::tamper(
        &mallory,
        &json!({"iss": ISS, "aud": "backstage", "sub": "user:default/jane",
                                                   "ent": ["group:default/team-checkout"], "exp": NOW + 600}),
    );
    for token in [Some(forged.as_str()), None] {
        let unauth = h.call(url_event(token, &body)).await;
        assert_eq!(unauth["statusCode"], 401);
        assert_eq!(unauth["headers"]["www-authenticate"], "Bearer");
        let decision: Value = serde_json::from_str(unauth["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            (decision["allowed"].as_bool(), decision["reason"].as_str()),
            (Some(false), Some("invalid_token"))
        );
    }
    let exec = h
        .call(url_event(
            Some(&jane),
            &json!({"namespace": "team-checkout-prod", "action": "exec"}),
        ))
        .await;
    assert_eq!(exec["statusCode"], 403, "prod allows read and write only");

    let records = h.audit.records();
    assert_eq!(records.len(), 5, "one record per decision");
    assert!(
        records
            .iter()
            .all(|r| r["_msg"] == "aiops.namespace-access" && r["request_id"] == "req-1")
    );
    assert_eq!(records[1]["severityLevel"], "high");
    let text = serde_json::to_string(&records).unwrap();
    assert!(
        !text.contains(&jane) && !text.contains(&forged),
        "no token in the audit records"
    );
}

#[tokio::test]
async fn the_function_url_refuses_the_principal_form_and_bad_bodies() {
    let h = Harness::new("url-bad");
    let body = json!({"namespace": "team-checkout-prod", "principal": {"user": "user:default/admin", "groups": []}});
    let answer = h.call(url_event(None, &body)).await;
    assert_eq!(answer["statusCode"], 400);
    assert!(answer["body"].as_str().unwrap().contains("principal"));
    let mut get = url_event(None, &json!({}));
    get["requestContext"]["http"]["method"] = json!("GET");
    assert_eq!(h.call(get).await["statusCode"], 405);
    assert!(h.audit.records().is_empty());
}

#[tokio::test]
async fn the_chain_principal_form_and_token_form_return_the_decision() {
    let h = Harness::new("chain");
    let allowed = h
        .call(json!({"principal": {"user": "user:default/jane", "groups": ["group:default/team-checkout"]},
                     "cluster": "prod-eu1", "namespace": "team-checkout-dev", "action": "exec"}))
        .await;
    assert_eq!(
        (allowed["allowed"].as_bool(), allowed["reason"].as_str()),
        (Some(true), Some("owner"))
    );
    let token = h.token("user:default/mallory", &["group:default/team-cart"]);
    let denied = h
        .call(json!({"token": token, "namespace": "team-checkout-prod"}))
        .await;
    assert_eq!(denied["reason"], "not_owner");
    assert_eq!(denied["audit_id"], h.audit.records()[1]["audit_id"]);
    let both: Result<Input, _> = serde_json::from_value(json!({"namespace": "x", "colour": 1}));
    assert!(both.unwrap_err().to_string().contains("colour"));
}

#[tokio::test]
async fn subject_access_reviews_allow_deny_map_exec_and_stay_out_of_the_rest() {
    let h = Harness::new("sar");
    let pods = |verb: &str, sub: Option<&str>| json!({"namespace": "team-checkout-prod", "verb": verb, "resource": "pods", "subresource": sub});
    let cases = [
        (
            "owner reads",
            sar(
                "jane",
                &["team-checkout", "system:authenticated"],
                &pods("list", None),
            ),
            true,
            true,
        ),
        (
            "someone else reads",
            sar("mallory", &["team-cart"], &pods("get", None)),
            false,
            true,
        ),
        (
            "owner writes",
            sar("jane", &["team-checkout"], &pods("delete", None)),
            true,
            true,
        ),
        (
            "exec is exec even over get",
            sar("jane", &["team-checkout"], &pods("get", Some("exec"))),
            false,
            true,
        ),
        (
            "system users",
            sar(
                "system:serviceaccount:kube-system:x",
                &[],
                &pods("get", None),
            ),
            false,
            false,
        ),
        (
            "cluster-scoped",
            sar(
                "jane",
                &["team-checkout"],
                &json!({"verb": "list", "resource": "namespaces"}),
            ),
            false,
            false,
        ),
        (
            "unmapped verbs",
            sar("jane", &["team-checkout"], &pods("approve", None)),
            false,
            false,
        ),
        (
            "service accounts",
            sar(
                "system:serviceaccount:team-checkout-prod:deployer",
                &["system:serviceaccounts"],
                &pods("delete", None),
            ),
            false,
            false,
        ),
    ];
    for (name, review, allowed, has_opinion) in cases {
        let answer = h.call(review).await;
        assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1", "{name}");
        assert_eq!(answer["kind"], "SubjectAccessReview", "{name}");
        let status = &answer["status"];
        assert_eq!(status["allowed"], allowed, "{name}: {status}");
        assert_eq!(
            status["denied"],
            has_opinion && !allowed,
            "{name}: {status}"
        );
    }
    let non_resource = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                              "spec": {"user": "jane", "nonResourceAttributes": {"path": "/healthz", "verb": "get"}}});
    let answer = h.call(non_resource).await;
    assert_eq!(
        (
            answer["status"]["allowed"].as_bool(),
            answer["status"]["denied"].as_bool()
        ),
        (Some(false), Some(false))
    );

    let records = h.audit.records();
    assert_eq!(records.len(), 4, "only decisions are audited");
    assert_eq!(records[0]["actor"]["actorId"], "user:default/jane");
    assert_eq!(records[3]["reason"], "action_not_allowed");
    assert_eq!(records[3]["meta"]["action"], "exec");
}

#[tokio::test]
async fn debug_tokens_impersonation_and_bindings_are_judged_as_exec() {
    let h = Harness::new("sar-exec");
    let pods = |verb: &str, sub: Option<&str>| json!({"namespace": "team-checkout-prod", "verb": verb, "resource": "pods", "subresource": sub});
    let cases = [
        (
            "kubectl debug is exec",
            sar(
                "jane",
                &["team-checkout"],
                &pods("patch", Some("ephemeralcontainers")),
            ),
            false,
            true,
        ),
        (
            "a service account token is exec",
            sar(
                "jane",
                &["team-checkout"],
                &json!({"namespace": "team-checkout-dev", "verb": "create", "resource": "serviceaccounts", "subresource": "token"}),
            ),
            true,
            true,
        ),
        (
            "impersonation is judged",
            sar(
                "jane",
                &["team-checkout"],
                &json!({"namespace": "team-checkout-prod", "verb": "impersonate", "resource": "serviceaccounts"}),
            ),
            false,
            true,
        ),
        (
            "binding a role in someone else's namespace",
            sar(
                "mallory",
                &["team-cart"],
                &json!({"namespace": "team-checkout-dev", "verb": "bind", "resource": "roles"}),
            ),
            false,
            true,
        ),
    ];
    for (name, review, allowed, has_opinion) in cases {
        let status = &h.call(review).await["status"];
        assert_eq!(status["allowed"], allowed, "{name}: {status}");
        assert_eq!(
            status["denied"],
            has_opinion && !allowed,
            "{name}: {status}"
        );
    }
    let records = h.audit.records();
    let judged: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap(),
                r["meta"]["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        judged,
        vec![
            ("action_not_allowed", "exec"),
            ("owner", "exec"),
            ("action_not_allowed", "exec"),
            ("not_owner", "exec"),
        ]
    );
}

#[tokio::test]
async fn an_unanswerable_review_is_denied_when_strict_and_left_to_rbac_otherwise() {
    let review = sar(
        "jane",
        &["team-checkout"],
        &json!({"namespace": "Not_A_Namespace", "verb": "get", "resource": "pods"}),
    );
    let strict = Harness::new("sar-strict");
    let answer = strict.call(review.clone()).await;
    let status = &answer["status"];
    assert_eq!(
        (status["allowed"].as_bool(), status["denied"].as_bool()),
        (Some(false), Some(true)),
        "{status}"
    );
    let reason = status["reason"].as_str().unwrap();
    assert!(reason.contains("fail closed"), "{reason}");
    assert!(
        status["evaluationError"]
            .as_str()
            .unwrap()
            .starts_with("resourceAttributes.namespace:")
    );
    let records = strict.audit.records();
    assert_eq!(records.len(), 1, "the denial is audited");
    assert_eq!(
        (
            records[0]["decision"].as_str(),
            records[0]["reason"].as_str()
        ),
        (Some("deny"), Some("evaluation_error"))
    );
    assert!(reason.contains(records[0]["audit_id"].as_str().unwrap()));

    let lax = Harness::with_policy("sar-lax", "strict: false\n");
    let answer = lax.call(review).await;
    let status = &answer["status"];
    assert_eq!(
        (status["allowed"].as_bool(), status["denied"].as_bool()),
        (Some(false), Some(false)),
        "no opinion: {status}"
    );
    assert!(status["evaluationError"].is_string());
    assert!(lax.audit.records().is_empty());
}

#[tokio::test]
async fn a_review_over_the_function_url_needs_the_webhook_token() {
    let h = Harness::new("sar-url");
    let review = sar(
        "jane",
        &["team-checkout"],
        &json!({"namespace": "team-checkout-prod", "verb": "get", "resource": "pods"}),
    );
    let mut event = url_event(Some("wrong"), &review);
    event["queryStringParameters"] = json!({"cluster": "prod-eu1"});
    assert_eq!(h.call(event.clone()).await["statusCode"], 401);
    event["headers"]["authorization"] = json!(format!("Bearer {}", webhook_token()));
    let answer = h.call(event).await;
    assert_eq!(answer["statusCode"], 200);
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"]["allowed"], true);
    assert_eq!(h.audit.records()[0]["resource"]["cluster"], "prod-eu1");
}

#[tokio::test]
async fn listen_serves_decisions_and_reviews_over_real_http() {
    let h = Harness::new("listen");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(policy_check::listen::serve(listener, Arc::clone(&h.ctx)));
    let http = reqwest::Client::new();

    // The decision API, as a Backstage plugin would call the Function URL.
    let mallory = h.token("user:default/mallory", &["group:default/team-cart"]);
    let answer = http
        .post(format!("{base}/"))
        .bearer_auth(&mallory)
        .json(&json!({"namespace": "team-checkout-prod"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    assert_eq!(
        answer.headers()["content-type"],
        "application/json",
        "the Function URL's headers come along"
    );
    let decision: Value = answer.json().await.unwrap();
    assert_eq!(decision["reason"], "not_owner");

    // A SubjectAccessReview, as the kube-apiserver sends it (any path, the cluster in
    // the query, the webhook kubeconfig's bearer token).
    let review = sar(
        "jane",
        &["team-checkout", "system:authenticated"],
        &json!({"namespace": "team-cart-prod", "verb": "list", "resource": "pods"}),
    );
    let answer = http
        .post(format!("{base}/authorize?cluster=kind-local"))
        .bearer_auth(webhook_token())
        .json(&review)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["kind"], "SubjectAccessReview");
    assert_eq!(
        (
            body["status"]["allowed"].as_bool(),
            body["status"]["denied"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert!(
        body["status"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("aiops: not_owner (owner group:default/team-cart")
    );
    let unauthenticated = http
        .post(format!("{base}/authorize"))
        .json(&review)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(
        http.get(format!("{base}/")).send().await.unwrap().status(),
        405
    );

    let records = h.audit.records();
    assert_eq!(records.len(), 2, "one audit record per decision");
    assert_eq!(records[1]["resource"]["cluster"], "kind-local");
    assert_eq!(records[1]["actor"]["actorId"], "user:default/jane");
    assert!(
        records.iter().all(|r| r["request_id"].is_string()),
        "each request gets an id"
    );
    server.abort();
}

#[tokio::test]
async fn the_shipped_webhook_example_denies_listing_another_teams_pods() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/webhook");
    let policy = std::fs::read_to_string(format!("{dir}/policy.yaml")).unwrap();
    let h = Harness::with_policy("example", &policy);
    let review: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/review-list-pods.json")).unwrap(),
    )
    .unwrap();
    let status = &h.call(review).await["status"];
    assert_eq!(
        (status["allowed"].as_bool(), status["denied"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .starts_with("aiops: not_owner (owner group:default/team-cart, audit ")
    );
    let records = h.audit.records();
    assert_eq!(
        (
            records[0]["decision"].as_str(),
            records[0]["reason"].as_str()
        ),
        (Some("deny"), Some("not_owner"))
    );
    let kubeconfig = std::fs::read_to_string(format!("{dir}/webhook-kubeconfig.yaml")).unwrap();
    assert!(kubeconfig.contains("server: http://127.0.0.1:8080/"));
    let flags = std::fs::read_to_string(format!("{dir}/kube-apiserver.flags")).unwrap();
    for flag in [
        "--authorization-mode=Node,Webhook,RBAC",
        "--authorization-webhook-config-file=",
        "--authorization-webhook-version=v1",
        "--authorization-webhook-cache-authorized-ttl=",
        "--authorization-webhook-cache-unauthorized-ttl=",
    ] {
        assert!(flags.contains(flag), "{flag}");
    }
}
