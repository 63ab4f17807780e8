//! One test per vendor token shape: a value generated at random in the vendor's format
//! disappears from a log sentence, a JSON log line, an env line and a YAML value and
//! is labelled with its kind; a look-alike of the same vendor survives byte for byte.

// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use super::Redactor;
use super::testgen::fill;

/// How many random values each shape is tried with.
const ROUNDS: usize = 16;

fn check_shape(label: &str, secret: &str, lookalike: &str) {
    let r = Redactor::default();
    let marker = format!("[REDACTED:{label}]");
    for _ in 0..ROUNDS {
        let secret = fill(secret);
        let contexts = [
            format!("upload failed with {secret} for acme\n"),
            format!(
                "{{\"level\":\"error\",\"msg\":\"upload failed with {secret}\",\"pod\":\"api-0\"}}\n"
            ),
            format!("UPLOAD_TARGET={secret}\n"),
            format!("spec:\n  target: {secret}\n  replicas: 2\n"),
        ];
        for input in &contexts {
            for (mode, out) in [
                ("text", r.redact_text(input).into_owned()),
                ("json_text", r.redact_json_text(input)),
            ] {
                assert!(!out.contains(&secret), "{mode}: {secret} survived in {out}");
                assert!(out.contains(&marker), "{mode}: no {marker} in {out}");
                assert_eq!(r.redact_json_text(&out), out, "{mode}: not idempotent");
            }
        }
        let look = fill(lookalike);
        for input in [
            format!("evidence {look} kept\n"),
            format!("{{\"msg\":\"evidence {look} kept\",\"pod\":\"api-0\"}}\n"),
        ] {
            assert_eq!(
                r.redact_json_text(&input),
                input,
                "look-alike {look} changed"
            );
            assert_eq!(r.redact_text(&input), input, "look-alike {look} changed");
        }
    }
}

macro_rules! shape_tests {
    ($($name:ident: $label:literal, $secret:literal, $lookalike:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check_shape($label, $secret, $lookalike);
            }
        )*
    };
}

shape_tests! {
    openai_project_key: "openai_api_key", "sk-proj-{w:58}T3BlbkFJ{w:58}", "sk-proj-{l:6}";
    openai_legacy_key: "openai_api_key", "sk-{a:20}T3BlbkFJ{a:20}", "task-{l:12}";
    openai_service_account_key: "openai_api_key", "sk-svcacct-{w:64}", "sk-svcacct-{a:8}";
    anthropic_key: "anthropic_api_key", "sk-ant-api03-{w:93}AA", "sk-ant-{l:5}";
    stripe_secret_key: "stripe_key", "sk_live_{a:24}", "pk_live_{a:24}";
    stripe_restricted_key: "stripe_key", "rk_live_{a:24}", "rk_live_{a:4}";
    stripe_webhook_secret: "stripe_webhook_secret", "whsec_{a:32}", "whsec_{a:6}";
    google_api_key: "google_api_key", "AIza{w:35}", "AIza{a:10}";
    google_oauth_secret: "google_oauth_secret", "GOCSPX-{w:28}", "GOCSPX-{a:5}";
    gitlab_personal_token: "gitlab_token", "glpat-{w:20}", "glpat-{a:8}";
    gitlab_deploy_token: "gitlab_token", "gldt-{w:20}", "gldt-{a:8}";
    gitlab_runner_token: "gitlab_token", "glrt-{w:20}", "glrt-{a:8}";
    gitlab_pipeline_trigger_token: "gitlab_token", "glptt-{h:40}", "glptt-{h:8}";
    gitlab_runner_registration: "gitlab_token", "GR1348941{w:20}", "GR1348941{a:4}";
    sendgrid_key: "sendgrid_api_key", "SG.{w:22}.{w:43}", "SG.{a:4}.{a:6}";
    twilio_api_key: "twilio_api_key", "SK{h:32}", "SKU-{d:6}";
    shopify_access_token: "shopify_token", "shpat_{h:32}", "shpat_{h:8}";
    shopify_shared_secret: "shopify_token", "shpss_{h:32}", "shpss_{h:31}";
    huggingface_token: "huggingface_token", "hf_{L:34}", "hf_{L:10}";
    npm_token: "npm_token", "npm_{a:36}", "npm_{a:12}";
    pypi_token: "pypi_token", "pypi-AgEIcHlwaS5vcmc{w:70}", "pypi-{l:8}";
    vault_service_token: "vault_token", "hvs.{w:90}", "hvs.{a:8}";
    vault_batch_token: "vault_token", "hvb.{w:138}", "hvb.{a:8}";
    azure_storage_account_key: "azure_storage_key",
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={b:86}==;EndpointSuffix=core.windows.net",
        "DefaultEndpointsProtocol=https;AccountName=acme;EndpointSuffix=core.windows.net";
    azure_service_bus_key: "azure_storage_key",
        "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={b:43}=",
        "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey";
    azure_sas_signature: "azure_sas_signature",
        "https://acme.blob.core.windows.net/c/b.txt?sv=2022-11-02&se=2026-12-01&sp=r&sig={b:43}%3D",
        "https://acme.blob.core.windows.net/c/b.txt?sv=2022-11-02&sp=r";
    azure_client_secret: "azure_client_secret", "{a:3}8Q~{w:34}", "Q~{a:5}";
    pagerduty_user_token: "pagerduty_token", "u+{w:18}", "u+{a:4}";
    slack_bot_token: "slack_token", "xoxb-{d:12}-{d:12}-{a:24}", "xoxb-{a:3}";
    slack_app_token: "slack_token", "xapp-1-{u:11}-{d:13}-{h:64}", "xapp-{a:3}";
    slack_refresh_token: "slack_token", "xoxe-1-{a:140}", "xoxe-{a:3}";
    slack_webhook: "slack_webhook", "https://hooks.slack.com/services/T{u:8}/B{u:8}/{a:24}", "https://slack.com/{l:8}";
    digitalocean_token: "digitalocean_token", "dop_v1_{h:64}", "dop_v1_{h:8}";
    databricks_token: "databricks_token", "dapi{h:32}", "dapi{h:8}";
    linear_key: "linear_api_key", "lin_api_{a:40}", "lin_api_{a:8}";
    newrelic_key: "newrelic_key", "NRAK-{u:27}", "NRAK-{u:4}";
    postman_key: "postman_api_key", "PMAK-{h:24}-{h:34}", "PMAK-{h:8}";
    pulumi_token: "pulumi_token", "pul-{h:40}", "pul-{h:8}";
    grafana_cloud_token: "grafana_token", "glc_{a:40}", "glc_{a:8}";
    grafana_service_account: "grafana_token", "glsa_{a:32}_{h:8}", "glsa_{a:8}";
    sentry_user_token: "sentry_token", "sntryu_{h:64}", "sntryu_{h:8}";
    sentry_dsn: "sentry_dsn_key", "https://{h:32}@o{d:6}.ingest.sentry.io/{d:7}", "https://o{d:6}.ingest.sentry.io/{d:7}";
    atlassian_token: "atlassian_token", "ATATT3{w:180}", "ATATT3{a:8}";
    doppler_token: "doppler_token", "dp.pt.{a:43}", "dp.pt.{a:8}";
    dynatrace_token: "dynatrace_token", "dt0c01.{u:24}.{u:64}", "dt0c01.{u:8}";
    mailgun_key: "mailgun_key", "key-{h:32}", "key-{h:8}";
    mailchimp_key: "mailchimp_key", "{h:32}-us{d:2}", "{h:12}-us{d:2}";
    square_token: "square_token", "sq0atp-{w:22}", "sq0atp-{a:6}";
    telegram_bot_token: "telegram_bot_token", "{d:10}:A{w:34}", "{d:2}:{d:2}:{d:2}";
    discord_webhook: "discord_webhook", "https://discord.com/api/webhooks/{d:18}/{w:68}", "https://discord.com/channels/{d:18}";
    teams_webhook: "teams_webhook", "https://acme.webhook.office.com/webhookb2/{h:8}-{h:4}@{h:8}/IncomingWebhook/{h:32}/{h:8}", "https://acme.webhook.office.com/{l:8}";
    alibaba_access_key: "alibaba_access_key", "LTAI{a:20}", "LTAI{a:6}";
    artifactory_token: "artifactory_token", "AKCp{a:69}", "AKCp{a:9}";
    heroku_key: "heroku_api_key", "HRKU-{w:60}", "HRKU-{a:6}";
    flyio_token: "flyio_token", "fo1_{w:43}", "fo1_{a:6}";
    terraform_token: "terraform_token", "{a:14}.atlasv1.{w:67}", "{a:14}.atlas.{a:8}";
    buildkite_token: "buildkite_token", "bkua_{h:40}", "bkua_{h:8}";
    rubygems_key: "rubygems_key", "rubygems_{h:48}", "rubygems_{h:8}";
    planetscale_token: "planetscale_token", "pscale_tkn_{w:43}", "pscale_tkn_{a:6}";
    mapbox_secret_token: "mapbox_token", "sk.eyJ{a:40}.{w:22}", "pk.eyJ{a:40}.{w:22}";
    age_secret_key: "age_secret_key", "AGE-SECRET-KEY-1{B32:58}", "age1{B32:58}";
    github_token: "github_token", "ghp_{a:36}", "ghp_{a:12}";
    github_fine_grained_token: "github_token", "github_pat_{a:22}_{a:59}", "github_pat_{a:4}";
    aws_access_key: "aws_access_key", "AKIA{U:16}", "AKIA{U:4}";
    jwt: "jwt", "eyJ{w:20}.eyJ{w:40}.{w:43}", "eyJ{a:4}";
}
