//! Verification against a wiremock-served JWKS with keys made at test time.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::testkit::{self, EcKey, RsaKey};
use super::*;
use crate::clock::ManualClock;
use crate::policy::Reason;

const NOW: i64 = 1_795_651_200; // 2026-11-26T00:00:00Z
const BACKSTAGE_AUD: &str = "backstage";
const ZITADEL_AUD: &str = "271828";
const ZITADEL_ORG: &str = "1618";

struct Scenario {
    server: MockServer,
    clock: ManualClock,
    verifier: Verifier,
    backstage_iss: String,
    zitadel_iss: String,
}

impl Scenario {
    /// Backstage's JWKS serves `ec`, ZITADEL's serves `rsa`; each JWKS mock expects
    /// exactly `fetches` requests.
    async fn new(ec: &[&EcKey], rsa: &RsaKey, fetches: u64) -> Self {
        let server = MockServer::start().await;
        // The RSA key is published by both, so a kid can point at a key of the wrong type.
        let mut keys: Vec<Value> = ec.iter().map(|k| k.jwk()).collect();
        keys.push(rsa.jwk());
        Mock::given(method("GET"))
            .and(path("/api/auth/.well-known/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(testkit::jwks(&keys)))
            .expect(fetches)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/oauth/v2/keys"))
            .respond_with(ResponseTemplate::new(200).set_body_json(testkit::jwks(&[rsa.jwk()])))
            .mount(&server)
            .await;
        let backstage_iss = format!("{}/api/auth", server.uri());
        let zitadel_iss = server.uri();
        let config = IdentityConfig {
            issuers: vec![
                issuer(
                    &backstage_iss,
                    &format!("{backstage_iss}/.well-known/jwks.json"),
                    BACKSTAGE_AUD,
                    "backstage",
                ),
                issuer(
                    &zitadel_iss,
                    &format!("{zitadel_iss}/oauth/v2/keys"),
                    ZITADEL_AUD,
                    "zitadel",
                ),
            ],
            leeway: Duration::from_secs(30),
            ..IdentityConfig::default()
        };
        let clock = ManualClock::at_millis(NOW * 1000);
        let verifier = Verifier::new(&config, Arc::new(clock.clone())).unwrap();
        Self {
            server,
            clock,
            verifier,
            backstage_iss,
            zitadel_iss,
        }
    }

    fn backstage_claims(&self) -> Value {
        json!({"iss": self.backstage_iss, "aud": BACKSTAGE_AUD, "sub": "user:default/jane",
               "ent": ["user:default/jane", "group:default/team-checkout"],
               "iat": NOW - 10, "exp": NOW + 3600})
    }

    fn zitadel_claims(&self) -> Value {
        json!({"iss": self.zitadel_iss, "aud": [ZITADEL_AUD, "other"], "sub": "2840",
               "preferred_username": "jane@acme.example",
               "urn:zitadel:iam:user:resourceowner:id": ZITADEL_ORG,
               "urn:zitadel:iam:user:resourceowner:primary_domain": "acme.example",
               "urn:zitadel:iam:org:project:roles": {"team-checkout": {ZITADEL_ORG: "acme.example"}},
               "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 3600})
    }
}

fn issuer(iss: &str, jwks: &str, aud: &str, kind: &str) -> IssuerConfig {
    let mut config = json!({"issuer": iss, "jwks_url": jwks, "audience": aud, "kind": kind});
    if kind == "zitadel" {
        config["org_ids"] = json!([ZITADEL_ORG]);
    }
    serde_json::from_value(config).unwrap()
}

fn strings(refs: &[crate::entity::EntityRef]) -> Vec<String> {
    refs.iter().map(ToString::to_string).collect()
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[tokio::test]
async fn valid_backstage_and_zitadel_tokens_become_principals_with_groups() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    let s = Scenario::new(&[&ec], &rsa, 1).await;

    let p = s
        .verifier
        .verify(&ec.token(&s.backstage_claims()))
        .await
        .unwrap();
    assert_eq!(p.user.to_string(), "user:default/jane");
    assert_eq!(strings(&p.groups), vec!["group:default/team-checkout"]);

    let p = s
        .verifier
        .verify(&rsa.token(&s.zitadel_claims()))
        .await
        .unwrap();
    assert_eq!(p.user.to_string(), "user:default/jane");
    assert_eq!(strings(&p.groups), vec!["group:default/team-checkout"]);
}

#[tokio::test]
async fn every_attack_is_refused_with_its_reason() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    // One fetch, and one refetch for the unknown kid.
    let s = Scenario::new(&[&ec], &rsa, 2).await;
    let good = s.backstage_claims();
    let other_key = EcKey::generate("bs-1");
    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "alg none",
            testkit::unsigned(&good, "bs-1"),
            TokenError::DisallowedAlgorithm("none".into()),
        ),
        (
            "HS256 signed with the public key",
            testkit::hs256(&ec.public_bytes(), &good, "bs-1"),
            TokenError::DisallowedAlgorithm("HS256".into()),
        ),
        (
            "expired",
            ec.token(&with(good.clone(), "exp", json!(NOW - 31))),
            TokenError::Expired,
        ),
        (
            "not yet valid",
            ec.token(&with(good.clone(), "nbf", json!(NOW + 31))),
            TokenError::NotYetValid,
        ),
        (
            "wrong audience",
            ec.token(&with(good.clone(), "aud", json!("someone-else"))),
            TokenError::WrongAudience,
        ),
        (
            "wrong issuer",
            ec.token(&with(good.clone(), "iss", json!("https://evil.example"))),
            TokenError::UntrustedIssuer,
        ),
        (
            "unknown kid",
            EcKey::generate("bs-2").token(&good),
            TokenError::UnknownKey,
        ),
        (
            "tampered payload",
            testkit::tamper(
                &ec.token(&good),
                &with(good.clone(), "sub", json!("user:default/admin")),
            ),
            TokenError::BadSignature,
        ),
        (
            "signed by another key with the same kid",
            other_key.token(&good),
            TokenError::BadSignature,
        ),
        (
            "RS256 where the issuer allows only ES256",
            rsa.sign(&json!({"alg": "RS256", "kid": "bs-1"}), &good),
            TokenError::DisallowedAlgorithm("RS256".into()),
        ),
        (
            "missing groups",
            ec.token(&with(good.clone(), "ent", json!(["user:default/jane"]))),
            TokenError::MissingGroups,
        ),
        (
            "garbage",
            "not.a.jwt".to_owned(),
            TokenError::Malformed("a part is not base64url"),
        ),
    ];
    for (name, token, expected) in cases {
        let err = s.verifier.verify(&token).await.expect_err(name);
        assert_eq!(err, expected, "{name}");
        assert!(
            !err.to_string().contains(&token),
            "{name}: the error echoes the token"
        );
    }
    let reasons = [
        (TokenError::Expired, Reason::ExpiredToken),
        (TokenError::UntrustedIssuer, Reason::UntrustedIssuer),
        (TokenError::MissingGroups, Reason::MissingGroups),
        (TokenError::BadSignature, Reason::InvalidToken),
        (TokenError::NotYetValid, Reason::InvalidToken),
    ];
    for (error, reason) in reasons {
        assert_eq!(Reason::from(&error), reason);
    }
}

#[tokio::test]
async fn a_key_of_the_wrong_type_for_the_algorithm_is_refused() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    let s = Scenario::new(&[&ec], &rsa, 1).await;
    // ES256 is allowed for Backstage, but kid z-1 is an RSA key.
    let token = ec.sign(
        &json!({"alg": "ES256", "kid": "z-1"}),
        &s.backstage_claims(),
    );
    assert_eq!(
        s.verifier.verify(&token).await.unwrap_err(),
        TokenError::KeyMismatch("ES256".into())
    );
}

#[tokio::test]
async fn keys_rotate_without_a_restart() {
    let old = EcKey::generate("old");
    let new = EcKey::generate("new");
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/auth/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(testkit::jwks(&[old.jwk()])))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/auth/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(testkit::jwks(&[new.jwk()])))
        .expect(2)
        .mount(&server)
        .await;
    let iss = format!("{}/api/auth", server.uri());
    let config = IdentityConfig {
        issuers: vec![issuer(
            &iss,
            &format!("{iss}/.well-known/jwks.json"),
            BACKSTAGE_AUD,
            "backstage",
        )],
        ..IdentityConfig::default()
    };
    let clock = ManualClock::at_millis(NOW * 1000);
    let verifier = Verifier::new(&config, Arc::new(clock.clone())).unwrap();
    let claims = json!({"iss": iss, "aud": BACKSTAGE_AUD, "sub": "user:default/jane",
                        "ent": ["group:default/a"], "exp": NOW + 7200});
    assert!(verifier.verify(&old.token(&claims)).await.is_ok());
    // The issuer starts signing with a new key: its unknown kid triggers a refetch.
    assert!(verifier.verify(&new.token(&claims)).await.is_ok());
    // Once the cache is older than the maximum age, the set is refreshed and the
    // retired key stops verifying.
    clock.advance(DEFAULT_JWKS_MAX_AGE + Duration::from_secs(1));
    let fresh = with(claims, "jti", json!("another token"));
    assert_eq!(
        verifier.verify(&old.token(&fresh)).await.unwrap_err(),
        TokenError::UnknownKey
    );
}

#[tokio::test]
async fn a_flood_of_unknown_kids_refetches_once_per_interval() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    // The first use, one refetch for the flood, one more after the interval.
    let s = Scenario::new(&[&ec], &rsa, 3).await;
    assert!(
        s.verifier
            .verify(&ec.token(&s.backstage_claims()))
            .await
            .is_ok()
    );
    for i in 0..50 {
        let token = EcKey::generate(&format!("random-{i}")).token(&s.backstage_claims());
        assert_eq!(
            s.verifier.verify(&token).await.unwrap_err(),
            TokenError::UnknownKey
        );
    }
    s.clock.advance(DEFAULT_JWKS_REFETCH_INTERVAL);
    let token = EcKey::generate("random-late").token(&s.backstage_claims());
    assert_eq!(
        s.verifier.verify(&token).await.unwrap_err(),
        TokenError::UnknownKey
    );
    s.server.verify().await;
}

#[tokio::test]
async fn without_ent_the_groups_come_from_userinfo_once_per_token() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    let s = Scenario::new(&[&ec], &rsa, 1).await;
    let claims = json!({"iss": s.backstage_iss, "aud": BACKSTAGE_AUD, "sub": "user:default/jane", "exp": NOW + 600});
    let token = ec.token(&claims);
    Mock::given(method("GET"))
        .and(path("/api/auth/v1/userinfo"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"claims": {"sub": "user:default/jane", "ent": ["user:default/jane", "group:default/team-checkout"]}}),
        ))
        .expect(1)
        .mount(&s.server)
        .await;
    for _ in 0..3 {
        let p = s.verifier.verify(&token).await.unwrap();
        assert_eq!(strings(&p.groups), vec!["group:default/team-checkout"]);
    }
    // Past its expiry the cached answer is gone and the token itself is refused.
    s.clock.advance(Duration::from_secs(600 + 31));
    assert_eq!(
        s.verifier.verify(&token).await.unwrap_err(),
        TokenError::Expired
    );
    s.server.verify().await;
}

#[tokio::test]
async fn userinfo_refusing_the_token_is_an_invalid_token() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    let s = Scenario::new(&[&ec], &rsa, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/auth/v1/userinfo"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&s.server)
        .await;
    let claims = json!({"iss": s.backstage_iss, "aud": BACKSTAGE_AUD, "sub": "user:default/jane", "exp": NOW + 600});
    let err = s.verifier.verify(&ec.token(&claims)).await.unwrap_err();
    assert_eq!(err, TokenError::Revoked);
    assert_eq!(Reason::from(&err), Reason::InvalidToken);
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_retryable_dependency_failure() {
    let ec = EcKey::generate("bs-1");
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let iss = format!("{}/api/auth", server.uri());
    let config = IdentityConfig {
        issuers: vec![issuer(
            &iss,
            &format!("{iss}/.well-known/jwks.json"),
            BACKSTAGE_AUD,
            "backstage",
        )],
        ..IdentityConfig::default()
    };
    let verifier = Verifier::new(&config, Arc::new(ManualClock::at_millis(NOW * 1000))).unwrap();
    let claims = json!({"iss": iss, "aud": BACKSTAGE_AUD, "sub": "user:default/jane", "ent": ["group:default/a"], "exp": NOW + 60});
    for _ in 0..3 {
        let err = verifier.verify(&ec.token(&claims)).await.unwrap_err();
        assert!(matches!(err, TokenError::IssuerUnavailable(_)), "{err:?}");
        assert!(crate::error::Classify::is_retryable(&err));
    }
}

#[tokio::test]
async fn a_verified_token_is_served_from_the_cache_until_it_expires() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    let s = Scenario::new(&[&ec], &rsa, 1).await;
    let token = ec.token(&with(s.backstage_claims(), "exp", json!(NOW + 60)));
    assert!(s.verifier.verify(&token).await.is_ok());
    assert!(s.verifier.verify(&token).await.is_ok());
    s.clock.advance(Duration::from_secs(60 + 31));
    assert_eq!(
        s.verifier.verify(&token).await.unwrap_err(),
        TokenError::Expired
    );
}

#[tokio::test]
async fn backstage_plugin_limited_and_untyped_tokens_are_refused_unless_configured() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    // One fetch per verifier: the default one and the lenient one.
    let s = Scenario::new(&[&ec], &rsa, 2).await;
    let claims = s.backstage_claims();
    let cases = [
        (BACKSTAGE_PLUGIN_TOKEN, "vnd.backstage.plugin"),
        (BACKSTAGE_LIMITED_USER_TOKEN, "vnd.backstage.limited-user"),
        ("JWT", "none"),
    ];
    for (typ, shown) in cases {
        let err = s
            .verifier
            .verify(&ec.typed(typ, &claims))
            .await
            .unwrap_err();
        assert_eq!(err, TokenError::WrongTokenType(shown.into()), "{typ}");
        assert_eq!(Reason::from(&err), Reason::InvalidToken);
        assert_eq!(err.detail(), "wrong_token_type");
    }
    // Older Backstage releases put typ in the payload: still a user token.
    let legacy = ec.typed(
        "JWT",
        &with(claims.clone(), "typ", json!(BACKSTAGE_USER_TOKEN)),
    );
    assert!(s.verifier.verify(&legacy).await.is_ok());

    // An issuer that opts in accepts limited user tokens.
    let mut config = IdentityConfig::default();
    let mut bs = issuer(
        &s.backstage_iss,
        &format!("{}/.well-known/jwks.json", s.backstage_iss),
        BACKSTAGE_AUD,
        "backstage",
    );
    bs.token_types = vec![
        BACKSTAGE_USER_TOKEN.into(),
        BACKSTAGE_LIMITED_USER_TOKEN.into(),
    ];
    config.issuers = vec![bs];
    let lenient = Verifier::new(&config, Arc::new(s.clock.clone())).unwrap();
    let limited = ec.typed(BACKSTAGE_LIMITED_USER_TOKEN, &claims);
    assert!(lenient.verify(&limited).await.is_ok());
    assert_eq!(
        lenient
            .verify(&ec.typed(BACKSTAGE_PLUGIN_TOKEN, &claims))
            .await
            .unwrap_err(),
        TokenError::WrongTokenType("vnd.backstage.plugin".into())
    );
}

#[tokio::test]
async fn tokens_stamped_in_the_future_or_living_too_long_are_refused() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    let s = Scenario::new(&[&ec], &rsa, 1).await;
    let good = s.backstage_claims();
    let day = 24 * 3600;
    let cases = [
        (
            "iat ahead beyond the leeway",
            with(good.clone(), "iat", json!(NOW + 31)),
            Some(TokenError::BadLifetime("iat lies in the future")),
        ),
        (
            "iat ahead within the leeway",
            with(good.clone(), "iat", json!(NOW + 29)),
            None,
        ),
        (
            "lifetime over the maximum",
            with(
                with(good.clone(), "iat", json!(NOW - 10)),
                "exp",
                json!(NOW - 10 + day + 1),
            ),
            Some(TokenError::BadLifetime(
                "exp - iat exceeds the maximum token lifetime",
            )),
        ),
        (
            "lifetime at the maximum",
            with(
                with(good.clone(), "iat", json!(NOW - 10)),
                "exp",
                json!(NOW - 10 + day),
            ),
            None,
        ),
    ];
    for (name, claims, expected) in cases {
        let result = s.verifier.verify(&ec.token(&claims)).await;
        match expected {
            Some(err) => assert_eq!(result.unwrap_err(), err, "{name}"),
            None => assert!(result.is_ok(), "{name}: {result:?}"),
        }
    }
    let mut no_iat = good.clone();
    no_iat.as_object_mut().unwrap().remove("iat");
    no_iat["exp"] = json!(NOW + 10 * day);
    assert!(matches!(
        s.verifier.verify(&ec.token(&no_iat)).await.unwrap_err(),
        TokenError::BadLifetime(_)
    ));
    no_iat["exp"] = json!(NOW + 3600);
    assert!(s.verifier.verify(&ec.token(&no_iat)).await.is_ok());
}

#[tokio::test]
async fn keys_and_userinfo_are_never_fetched_over_plain_http_from_another_host() {
    let ec = EcKey::generate("bs-1");
    // Built literally (no configuration check): the fetch itself refuses, before any
    // request leaves.
    let config = IdentityConfig {
        issuers: vec![issuer(
            "https://backstage.example/api/auth",
            "http://backstage.example/api/auth/.well-known/jwks.json",
            BACKSTAGE_AUD,
            "backstage",
        )],
        ..IdentityConfig::default()
    };
    let verifier = Verifier::new(&config, Arc::new(ManualClock::at_millis(NOW * 1000))).unwrap();
    let claims = json!({"iss": "https://backstage.example/api/auth", "aud": BACKSTAGE_AUD,
                        "sub": "user:default/jane", "ent": ["group:default/a"], "exp": NOW + 60});
    let err = verifier.verify(&ec.token(&claims)).await.unwrap_err();
    let TokenError::IssuerUnavailable(message) = err else {
        panic!("expected an unavailable issuer, got {err:?}")
    };
    assert!(message.contains("must use https"), "{message}");

    // The userinfo URL gets the same treatment.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/auth/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(testkit::jwks(&[ec.jwk()])))
        .mount(&server)
        .await;
    let iss = format!("{}/api/auth", server.uri());
    let mut bs = issuer(
        &iss,
        &format!("{iss}/.well-known/jwks.json"),
        BACKSTAGE_AUD,
        "backstage",
    );
    bs.userinfo_url = Some("http://backstage.example/api/auth/v1/userinfo".into());
    let config = IdentityConfig {
        issuers: vec![bs],
        ..IdentityConfig::default()
    };
    let verifier = Verifier::new(&config, Arc::new(ManualClock::at_millis(NOW * 1000))).unwrap();
    let no_ent =
        json!({"iss": iss, "aud": BACKSTAGE_AUD, "sub": "user:default/jane", "exp": NOW + 60});
    let err = verifier.verify(&ec.token(&no_ent)).await.unwrap_err();
    assert!(
        matches!(&err, TokenError::IssuerUnavailable(m) if m.contains("must use https")),
        "{err:?}"
    );
}

#[tokio::test]
async fn zitadel_tokens_count_only_roles_of_our_project_granted_in_our_organisation() {
    let ec = EcKey::generate("bs-1");
    let rsa = RsaKey::generate("z-1");
    let s = Scenario::new(&[&ec], &rsa, 0).await;
    let mut claims = s.zitadel_claims();
    let map = claims.as_object_mut().unwrap();
    map.remove("urn:zitadel:iam:org:project:roles");
    map.insert(
        "urn:zitadel:iam:org:project:314:roles".into(),
        json!({"team-admin": {ZITADEL_ORG: "acme.example"}}),
    );
    map.insert(
        format!("urn:zitadel:iam:org:project:{ZITADEL_AUD}:roles"),
        json!({"team-cart": {"999": "customer.example"}}),
    );
    assert_eq!(
        s.verifier.verify(&rsa.token(&claims)).await.unwrap_err(),
        TokenError::MissingGroups
    );
}
