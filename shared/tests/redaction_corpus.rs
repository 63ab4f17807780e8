//! The redactor over realistic inputs: every seeded secret disappears and is labelled
//! with its kind, look-alikes that are evidence survive byte for byte, and redacting
//! twice changes nothing. The data lives in `tests/data/redaction/`; `seeded.json`
//! lists each file's seeded secrets and the label that must replace them.

// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]
// Test documents are built by appending formatted pieces; clarity over allocations.
#![allow(clippy::format_push_string)]

use std::path::PathBuf;

use serde::Deserialize;
use shared::redact::Redactor;

const LOOKALIKES: &[&str] = &["lookalikes.log", "lookalikes.jsonl"];

#[derive(Debug, Deserialize)]
struct Seeded {
    file: String,
    /// `[secret, label]` pairs.
    secrets: Vec<(String, String)>,
}

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/redaction")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn seeded() -> Vec<Seeded> {
    serde_json::from_str(&data("seeded.json")).unwrap()
}

/// Both entry points a caller may use on a file: as text, and as JSON-aware text.
fn redactions(r: &Redactor, input: &str) -> [(&'static str, String); 3] {
    let mut streamed = Vec::new();
    r.redact_stream(input.as_bytes(), &mut streamed).unwrap();
    [
        ("redact_text", r.redact_text(input).into_owned()),
        ("redact_json_text", r.redact_json_text(input)),
        ("redact_stream", String::from_utf8(streamed).unwrap()),
    ]
}

#[test]
fn every_seeded_secret_is_removed_and_labelled_with_its_kind() {
    let r = Redactor::default();
    let mut checked = 0;
    for file in seeded() {
        let input = data(&file.file);
        for (mode, output) in redactions(&r, &input) {
            for (secret, label) in &file.secrets {
                assert!(
                    input.contains(secret.as_str()),
                    "{}: seed {secret} is not in the input",
                    file.file
                );
                assert!(
                    !output.contains(secret.as_str()),
                    "{} ({mode}): {secret} survived:\n{output}",
                    file.file
                );
                let marker = format!("[REDACTED:{label}]");
                assert!(
                    output.contains(&marker),
                    "{} ({mode}): no {marker} for {secret}:\n{output}",
                    file.file
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 140, "only {checked} seeded secrets checked");
}

#[test]
fn every_kind_of_secret_is_seeded_somewhere() {
    let labels: Vec<String> = seeded()
        .into_iter()
        .flat_map(|f| f.secrets)
        .map(|(_, l)| l)
        .collect();
    for kind in [
        "aws_access_key",
        "aws_secret_key",
        "jwt",
        "bearer",
        "authorization",
        "github_token",
        "slack_token",
        "slack_webhook",
        "private_key",
        "url_password",
        "password",
        "token",
        "api_key",
        "secret",
        "cookie",
        "session",
    ] {
        assert!(
            labels.iter().any(|l| l == kind),
            "no seeded secret of kind {kind}"
        );
    }
}

#[test]
fn look_alikes_survive_unchanged() {
    let r = Redactor::default();
    for name in LOOKALIKES {
        let input = data(name);
        for (mode, output) in redactions(&r, &input) {
            assert_eq!(output, input, "{name} ({mode}) was changed");
        }
    }
}

#[test]
fn evidence_next_to_secrets_is_kept() {
    let r = Redactor::default();
    let out = r.redact_json_text(&data("pod.json"));
    for evidence in [
        "checkout-7d9f8b6c5d-x2k4p",
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "\"secretName\": \"checkout-tls\"",
        "\"value\": \"debug\"",
        "\"--listen\"",
        "2026-11-26T05:30:00Z",
    ] {
        assert!(out.contains(evidence), "lost {evidence}:\n{out}");
    }
    let events = data("events.log");
    let out = r.redact_text(&events);
    assert!(out.contains("secret \"checkout-tls\" not found"), "{out}");
    assert!(out.contains("https://api.example.com/v1/orders"), "{out}");
    assert!(
        out.contains("amqp://guest:[REDACTED:url_password]@rabbitmq.default:5672/"),
        "{out}"
    );
}

#[test]
fn redacting_redacted_output_changes_nothing() {
    let r = Redactor::default();
    let files = seeded()
        .into_iter()
        .map(|f| f.file)
        .chain(LOOKALIKES.iter().map(|s| (*s).to_owned()));
    for name in files {
        let input = data(&name);
        let text_once = r.redact_text(&input).into_owned();
        assert_eq!(r.redact_text(&text_once), text_once, "{name}: redact_text");
        assert_eq!(
            r.redact_json_text(&text_once),
            text_once,
            "{name}: redact_json_text after redact_text"
        );
        let json_once = r.redact_json_text(&input);
        assert_eq!(
            r.redact_json_text(&json_once),
            json_once,
            "{name}: redact_json_text"
        );
        assert_eq!(
            r.redact_text(&json_once),
            json_once,
            "{name}: redact_text after redact_json_text"
        );
    }
}

// ---------------------------------------------------------------------------------
// Generated corpus: every class of secret, with values generated for this run, seeded
// into JSON, YAML, env dumps, log lines and stack traces.

fn rnd(class: &str, n: usize) -> String {
    let alphabet: &[u8] = match class {
        "a" => b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "h" => b"0123456789abcdef",
        "u" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "b" => b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/",
        "d" => b"0123456789",
        other => panic!("unknown class {other}"),
    };
    (0..n)
        .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
        .collect()
}

/// A password as people pick them: letters, digits and a few symbols that URLs and
/// shells tolerate.
fn password() -> String {
    format!("{}-{}!{}", rnd("a", 8), rnd("a", 6), rnd("d", 3))
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A PEM block of `kind` (`RSA PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`, …) with random body.
fn pem(kind: &str, headers: &str) -> String {
    let body: Vec<String> = (0..6).map(|_| rnd("b", 64)).collect();
    format!(
        "-----BEGIN {kind}-----\n{headers}{}\n-----END {kind}-----",
        body.join("\n")
    )
}

/// One generated document: its text and the `(secret, label)` pairs seeded in it.
struct Doc {
    name: &'static str,
    text: String,
    secrets: Vec<(String, &'static str)>,
}

#[allow(clippy::too_many_lines)]
fn generated() -> Vec<Doc> {
    let mut docs = Vec::new();

    // Env dumps: one-word and prefixed names in every notation.
    let names = [
        ("PGPASSWORD", "password"),
        ("APITOKEN", "token"),
        ("CLIENTSECRET", "secret"),
        ("DD_API_KEY", "api_key"),
        ("DD_APP_KEY", "api_key"),
        ("DJANGO_SECRET_KEY", "secret_key"),
        ("JWT_SIGNING_KEY", "private_key"),
        ("SMTP_PASS", "password"),
        ("MYSQL_ROOT_PASSWORD", "password"),
        ("PAGERDUTY_ROUTING_KEY", "routing_key"),
        ("TWILIO_AUTH_TOKEN", "token"),
        ("GH_PAT", "token"),
    ];
    for (style, template) in [
        ("env dump", "{name}={value}\n"),
        ("export", "export {name}={value}\n"),
        ("export quoted", "export {name}=\"{value}\"\n"),
        ("yaml", "  {name}: {value}\n"),
        ("json line", "{\"{name}\":\"{value}\",\"pod\":\"api-0\"}\n"),
        (
            "logfmt",
            "level=info msg=\"starting\" {name}={value} pod=api-0\n",
        ),
    ] {
        let mut text =
            String::from("HOME=/home/app\nTOKEN_BUCKET_SIZE=10\nPASSWORD_MIN_LENGTH=12\n");
        let mut secrets = Vec::new();
        for (name, label) in names {
            let value = rnd("a", 24);
            text.push_str(&template.replace("{name}", name).replace("{value}", &value));
            secrets.push((value, label));
        }
        text.push_str("SESSION_TIMEOUT=30m\nAUTH_ENABLED=true\nLOG_LEVEL=debug\n");
        docs.push(Doc {
            name: style,
            text,
            secrets,
        });
    }

    // A Kubernetes Secret as YAML, as kubectl prints it (data before kind).
    let (d1, d2, s1) = (
        base64(rnd("a", 18).as_bytes()),
        base64(rnd("a", 30).as_bytes()),
        rnd("a", 20),
    );
    let key_pem = base64(pem("RSA PRIVATE KEY", "").as_bytes());
    docs.push(Doc {
        name: "secret manifest",
        text: format!(
            "apiVersion: v1\ndata:\n  config.yaml: {d1}\n  password: {d2}\n  tls.key: {key_pem}\nkind: Secret\nmetadata:\n  name: db\n  namespace: checkout-prod\ntype: Opaque\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  settings.ini: |\n    region=eu\n    api_key={s1}\n  note: rotated {s1}\n"
        ),
        secrets: vec![
            (d1, "secret"),
            (d2, "password"),
            (key_pem, "private_key"),
            (s1, "secret"),
        ],
    });

    // kubeconfig with a client key, a token and a basic-auth password.
    let client_key = base64(pem("EC PRIVATE KEY", "").as_bytes());
    let token = rnd("a", 40);
    let kube_pw = password();
    docs.push(Doc {
        name: "kubeconfig",
        text: format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: prod\nusers:\n- name: admin\n  user:\n    client-key-data: {client_key}\n- name: ci\n  user:\n    token: {token}\n- name: basic\n  user:\n    username: admin\n    password: {kube_pw}\n"
        ),
        secrets: vec![
            (client_key, "private_key"),
            (token, "token"),
            (kube_pw, "password"),
        ],
    });

    // docker config.json, pretty and as one line in a log.
    let auth = base64(format!("robot:{}", rnd("a", 24)).as_bytes());
    let identity = rnd("a", 48);
    docs.push(Doc {
        name: "docker config",
        text: format!(
            "{{\n  \"auths\": {{\n    \"ghcr.io\": {{\n      \"auth\": \"{auth}\"\n    }},\n    \"acme.azurecr.io\": {{\n      \"identitytoken\": \"{identity}\"\n    }}\n  }}\n}}\n"
        ),
        secrets: vec![(auth.clone(), "authorization"), (identity.clone(), "token")],
    });
    docs.push(Doc {
        name: "docker config line",
        text: format!(
            "{{\"msg\":\"loaded\",\"config\":{{\"auths\":{{\"ghcr.io\":{{\"auth\":\"{auth}\",\"identitytoken\":\"{identity}\"}}}}}}}}\n"
        ),
        secrets: vec![(auth, "authorization"), (identity, "token")],
    });

    // Helm values.
    let (pg, redis, tls) = (
        password(),
        password(),
        base64(pem("PRIVATE KEY", "").as_bytes()),
    );
    docs.push(Doc {
        name: "helm values",
        text: format!(
            "postgresql:\n  auth:\n    postgres-password: {pg}\n    username: app\nredis:\n  redis-password: \"{redis}\"\ningress:\n  tls.key: {tls}\n  replicas: 3\n"
        ),
        secrets: vec![(pg, "password"), (redis, "password"), (tls, "private_key")],
    });

    // Private keys in every wrapping.
    let keys = [
        pem("RSA PRIVATE KEY", ""),
        pem("EC PRIVATE KEY", ""),
        pem("PRIVATE KEY", ""),
        pem("ENCRYPTED PRIVATE KEY", ""),
        pem(
            "RSA PRIVATE KEY",
            &format!(
                "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{}\n\n",
                rnd("u", 32)
            ),
        ),
        pem("OPENSSH PRIVATE KEY", ""),
        pem("PGP PRIVATE KEY BLOCK", "Version: GnuPG v2\n\n"),
    ];
    let mut text = String::from("deploying keys\n");
    let mut secrets = Vec::new();
    for key in &keys {
        let body_line = key.lines().rev().nth(1).unwrap_or_default().to_owned();
        text.push_str(&format!("key follows:\n{key}\nnext\n"));
        secrets.push((body_line, "private_key"));
        let one_line = base64(key.as_bytes());
        text.push_str(&format!(
            "KEY_B64={one_line}\nsigning with {one_line} done\n"
        ));
        secrets.push((one_line, "private_key"));
    }
    docs.push(Doc {
        name: "private keys",
        text,
        secrets,
    });
    let json_key = pem("PRIVATE KEY", "");
    docs.push(Doc {
        name: "service account json",
        text: format!(
            "{{\"type\":\"service_account\",\"project_id\":\"acme\",\"private_key\":{},\"client_email\":\"ci@acme.iam.gserviceaccount.com\"}}\n",
            serde_json::to_string(&json_key).unwrap()
        ),
        secrets: vec![(json_key.lines().nth(1).unwrap().to_owned(), "private_key")],
    });

    // Credentials in URLs and DSNs of every scheme, also inside exception messages.
    let dsn_passwords: Vec<String> = (0..8).map(|_| password()).collect();
    let p = &dsn_passwords;
    let jdbc = rnd("a", 16);
    let oracle = rnd("a", 12);
    let ado = format!("{} {}", rnd("a", 8), rnd("a", 6));
    docs.push(Doc {
        name: "dsn log and stack trace",
        text: format!(
            "DATABASE_URL=postgres://app:{}@db.checkout-prod:5432/orders?sslmode=require\n\
             connecting to mysql://root:{}@mysql.default:3306/shop\n\
             MONGO_URI=mongodb+srv://svc:{}@cluster0.ab1cd.mongodb.net/app?retryWrites=true\n\
             broker amqp://guest:{}@rabbitmq.default:5672/vhost\n\
             cache redis://:{}@redis-master:6379/0\n\
             cache rediss://default:{}@redis.example.com:6380\n\
             Exception in thread \"main\" java.sql.SQLException: Cannot create PoolableConnectionFactory (jdbc:postgresql://db:5432/orders?user=app&password={jdbc}&ssl=true)\n\
             \tat org.apache.commons.dbcp2.BasicDataSource.createPoolableConnectionFactory(BasicDataSource.java:656)\n\
             \tat com.acme.orders.Db.connect(Db.java:42)\n\
             Caused by: java.sql.SQLException: ORA-01017 for jdbc:oracle:thin:scott/{oracle}@db.example.com:1521/ORCL\n\
             Traceback (most recent call last):\n  File \"app.py\", line 12, in <module>\n    engine = create_engine(\"postgresql+psycopg2://app:{}@db:5432/orders\")\n\
             sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) could not connect to server: postgresql://app:{}@db:5432/orders\n\
             Server=tcp:sql.example.com,1433;Database=shop;User Id=sa;Password={ado};Encrypt=true\n",
            p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
        ),
        secrets: dsn_passwords
            .iter()
            .map(|s| (s.clone(), "url_password"))
            .chain([
                (jdbc, "password"),
                (oracle, "url_password"),
                (ado, "password"),
            ])
            .collect(),
    });

    // Vendor tokens in a JSON log stream and a stack trace.
    let vendor = [
        (
            format!("sk-proj-{}T3BlbkFJ{}", rnd("a", 40), rnd("a", 40)),
            "openai_api_key",
        ),
        (
            format!("sk-ant-api03-{}AA", rnd("a", 93)),
            "anthropic_api_key",
        ),
        (format!("sk_live_{}", rnd("a", 24)), "stripe_key"),
        (format!("whsec_{}", rnd("a", 32)), "stripe_webhook_secret"),
        (format!("AIza{}", rnd("a", 35)), "google_api_key"),
        (format!("glpat-{}", rnd("a", 20)), "gitlab_token"),
        (
            format!("SG.{}.{}", rnd("a", 22), rnd("a", 43)),
            "sendgrid_api_key",
        ),
        (format!("SK{}", rnd("h", 32)), "twilio_api_key"),
        (format!("shpat_{}", rnd("h", 32)), "shopify_token"),
        (format!("hf_{}", rnd("a", 34)), "huggingface_token"),
        (format!("npm_{}", rnd("a", 36)), "npm_token"),
        (
            format!("pypi-AgEIcHlwaS5vcmc{}", rnd("a", 70)),
            "pypi_token",
        ),
        (format!("hvs.{}", rnd("a", 90)), "vault_token"),
        (
            format!("xoxb-{}-{}", rnd("d", 12), rnd("a", 24)),
            "slack_token",
        ),
        (format!("AKIA{}", rnd("u", 16)), "aws_access_key"),
        (format!("ghp_{}", rnd("a", 36)), "github_token"),
    ];
    let mut text = String::new();
    let mut trace = String::from("panic: upstream refused\n\ngoroutine 1 [running]:\n");
    for (i, (token, _)) in vendor.iter().enumerate() {
        text.push_str(&format!(
            "{{\"_time\":\"2026-11-26T05:36:{i:02}Z\",\"level\":\"error\",\"msg\":\"call failed with {token}\",\"trace_id\":\"{}\"}}\n",
            rnd("h", 32)
        ));
        trace.push_str(&format!(
            "main.call(0xc000{i:02}, {{\"{token}\"}})\n\t/app/main.go:{i}\n"
        ));
    }
    let azure = rnd("b", 86);
    text.push_str(&format!(
        "{{\"msg\":\"storage\",\"conn\":\"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={azure}==;EndpointSuffix=core.windows.net\"}}\n"
    ));
    let mut secrets: Vec<(String, &'static str)> = vendor.to_vec();
    secrets.push((azure, "azure_storage_key"));
    docs.push(Doc {
        name: "vendor json lines",
        text,
        secrets,
    });
    docs.push(Doc {
        name: "vendor stack trace",
        text: trace,
        secrets: vendor.to_vec(),
    });
    docs
}

#[test]
fn every_generated_secret_is_removed_in_every_format() {
    let r = Redactor::default();
    let mut checked = 0;
    for doc in generated() {
        for (mode, output) in redactions(&r, &doc.text) {
            for (secret, label) in &doc.secrets {
                assert!(
                    doc.text.contains(secret.as_str()),
                    "{}: seed not in input",
                    doc.name
                );
                assert!(
                    !output.contains(secret.as_str()),
                    "{} ({mode}): a {label} survived:\n{output}",
                    doc.name
                );
                let marker = format!("[REDACTED:{label}]");
                assert!(
                    output.contains(&marker),
                    "{} ({mode}): no {marker}:\n{output}",
                    doc.name
                );
                checked += 1;
            }
            for evidence in [
                "TOKEN_BUCKET_SIZE=10",
                "PASSWORD_MIN_LENGTH=12",
                "SESSION_TIMEOUT=30m",
            ] {
                if doc.text.contains(evidence) {
                    assert!(
                        output.contains(evidence),
                        "{} ({mode}): lost {evidence}",
                        doc.name
                    );
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} generated secrets checked");
}

#[test]
fn generated_documents_are_redacted_idempotently() {
    let r = Redactor::default();
    for doc in generated() {
        for (mode, once) in redactions(&r, &doc.text) {
            for (again_mode, twice) in redactions(&r, &once) {
                assert_eq!(twice, once, "{}: {again_mode} after {mode}", doc.name);
            }
        }
    }
}

/// Evidence that looks like secrets, with values generated for this run.
fn generated_lookalikes() -> String {
    let uuid = format!(
        "{}-{}-4{}-a{}-{}",
        rnd("h", 8),
        rnd("h", 4),
        rnd("h", 3),
        rnd("h", 3),
        rnd("h", 12)
    );
    let sha = rnd("h", 40);
    let digest = rnd("h", 64);
    let trace = rnd("h", 32);
    let span = rnd("h", 16);
    let config = base64(
        format!(
            "{{\"region\":\"eu-west-1\",\"replicas\":{}}}",
            fastrand::u8(..)
        )
        .as_bytes(),
    );
    let cert =
        base64(b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n");
    let name = format!("checkout-{}", rnd("h", 5));
    let port = fastrand::u16(1024..65000);
    let pod_ip = format!(
        "10.{}.{}.{}",
        fastrand::u8(..),
        fastrand::u8(..),
        fastrand::u8(1..)
    );
    format!(
        "run {uuid} commit {sha} image ghcr.io/acme/checkout@sha256:{digest}\n\
         traceparent: 00-{trace}-{span}-01\n\
         {{\"trace_id\":\"{trace}\",\"span_id\":\"{span}\",\"commit\":\"{sha}\",\"uid\":\"{uuid}\"}}\n\
         {{\"msg\":\"config\",\"config\":\"{config}\",\"checksum\":\"sha256:{digest}\"}}\n\
         client-certificate-data: {cert}\n\
         MountVolume.SetUp failed for volume \"tls\" : secret \"{name}-tls\" not found\n\
         Error: secret \"{name}\" not found\n\
         Readiness probe failed: HTTP probe failed with statuscode: 503\n\
         Liveness probe failed: Get \"http://{pod_ip}:{port}/healthz\": dial tcp {pod_ip}:{port}: connect: connection refused\n\
         Startup probe failed: Get \"https://{pod_ip}:{port}/ready\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)\n\
         connecting to postgres://db.{name}:5432/orders and ssh://git@github.com/acme/{name}.git\n\
         TOKEN_BUCKET_SIZE=10 PASSWORD_MIN_LENGTH=12 SESSION_TIMEOUT=30m AUTH_ENABLED=true MAX_TOKENS={port}\n\
         java.sql.SQLException: Access denied for user 'app'@'{pod_ip}' (using password: YES)\n\
         publishable key pk_live_{} in the checkout page\n\
         {{\"level\":\"info\",\"msg\":\"GET /api/v1/orders/{port} 200\",\"duration_ms\":{},\"pod\":\"{name}-0\"}}\n",
        rnd("a", 24),
        fastrand::u16(..)
    )
}

#[test]
fn generated_look_alikes_survive_byte_for_byte() {
    let r = Redactor::default();
    for _ in 0..20 {
        let input = generated_lookalikes();
        for (mode, output) in redactions(&r, &input) {
            assert_eq!(output, input, "{mode} changed evidence");
        }
    }
}
