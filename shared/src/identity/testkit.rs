//! Test keys and tokens, generated at test time with aws-lc-rs. Also included by the
//! policy-check crate's tests (`#[path]`), hence no `crate::` paths here.
#![allow(dead_code, clippy::missing_panics_doc)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An ES256 key (Backstage's default).
pub struct EcKey {
    pair: EcdsaKeyPair,
    pub kid: String,
}

impl EcKey {
    pub fn generate(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key");
        Self {
            pair,
            kid: kid.to_owned(),
        }
    }

    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig",
               "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    /// The public key's uncompressed point: what an attacker would use as an HMAC secret.
    pub fn public_bytes(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// A token with Backstage's user token header (`typ: vnd.backstage.user`).
    pub fn token(&self, claims: &Value) -> String {
        self.typed("vnd.backstage.user", claims)
    }

    /// A token with another `typ` header (plugin, limited user, plain `JWT`).
    pub fn typed(&self, typ: &str, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "ES256", "typ": typ, "kid": self.kid}),
            claims,
        )
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

/// An RS256 key (ZITADEL's default).
pub struct RsaKey {
    pair: aws_lc_rs::rsa::KeyPair,
    pub kid: String,
}

impl RsaKey {
    pub fn generate(kid: &str) -> Self {
        let pair =
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
        Self {
            pair,
            kid: kid.to_owned(),
        }
    }

    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
               "n": b64(public.modulus().big_endian_without_leading_zero()),
               "e": b64(public.exponent().big_endian_without_leading_zero())})
    }

    pub fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .expect("sign");
        format!("{input}.{}", b64(&sig))
    }
}

pub fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

/// `alg: none`, no signature.
pub fn unsigned(claims: &Value, kid: &str) -> String {
    format!(
        "{}.",
        signing_input(&json!({"alg": "none", "typ": "JWT", "kid": kid}), claims)
    )
}

/// HS256 with `secret`: the algorithm-confusion attack when the secret is a public key.
pub fn hs256(secret: &[u8], claims: &Value, kid: &str) -> String {
    let input = signing_input(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}), claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// Replaces the payload of a signed token, keeping header and signature.
pub fn tamper(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().expect("header");
    let _ = parts.next();
    let sig = parts.next().expect("signature");
    format!("{header}.{}.{sig}", b64(claims.to_string().as_bytes()))
}
