//! Vendor token shapes: the providers of the default rule sets of gitleaks and
//! detect-secrets, written from the vendors' documented formats. Each has a literal
//! prefix (or a fixed infix) for the prefilter and a length or alphabet that keeps
//! look-alikes out (`pk_live_` publishable keys, `sk-` words, short ids).
//!
//! Keys without a shape of their own (Datadog's 32/40 hex keys, PagerDuty's routing
//! keys, Twilio auth tokens) are caught by their key names instead (`DD_API_KEY`,
//! `routing_key`, `TWILIO_AUTH_TOKEN`; see `keys.rs`).

use super::rules::{Rule, shape};

/// The vendor rules, most specific first (Anthropic's `sk-ant-` before OpenAI's `sk-`).
#[allow(clippy::too_many_lines)]
pub(crate) fn rules() -> Vec<Rule> {
    vec![
        shape(
            "anthropic_api_key",
            r"(?-u:\b)sk-ant-(?:api|admin|oat|sid)[0-9]{2}-[A-Za-z0-9_-]{20,}",
            &["sk-ant-"],
        ),
        // Project, service-account and admin keys carry `T3BlbkFJ` ("OpenAI" in
        // base64); legacy user keys are 48 letters and digits.
        shape(
            "openai_api_key",
            r"(?-u:\b)sk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}",
            &["t3blbkfj"],
        ),
        shape(
            "openai_api_key",
            r"(?-u:\b)sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}",
            &["sk-proj-", "sk-svcacct-", "sk-admin-"],
        ),
        shape(
            "openai_api_key",
            r"(?-u:\b)sk-[A-Za-z0-9]{48}(?-u:\b)",
            &["sk-"],
        ),
        shape(
            "stripe_key",
            r"(?-u:\b)(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,}",
            &[
                "sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_",
            ],
        ),
        shape(
            "stripe_webhook_secret",
            r"(?-u:\b)whsec_[A-Za-z0-9+/=]{20,}",
            &["whsec_"],
        ),
        shape(
            "google_api_key",
            r"(?-u:\b)AIza[0-9A-Za-z_-]{35}",
            &["aiza"],
        ),
        shape(
            "google_oauth_secret",
            r"(?-u:\b)GOCSPX-[A-Za-z0-9_-]{28}",
            &["gocspx-"],
        ),
        shape(
            "google_oauth_token",
            r"(?-u:\b)ya29\.[0-9A-Za-z_-]{30,}",
            &["ya29."],
        ),
        shape(
            "gitlab_token",
            r"(?-u:\b)(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas|glffct|glwt)-[0-9A-Za-z_.-]{20,}",
            &[
                "glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-", "glimt-", "glptt-",
                "glagent-", "gloas-", "glffct-", "glwt-",
            ],
        ),
        shape(
            "gitlab_token",
            r"(?-u:\b)GR1348941[0-9A-Za-z_-]{20,}",
            &["gr1348941"],
        ),
        shape(
            "sendgrid_api_key",
            r"(?-u:\b)SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
            &["sg."],
        ),
        shape(
            "twilio_api_key",
            r"(?-u:\b)SK[0-9a-fA-F]{32}(?-u:\b)",
            &[
                "sk0", "sk1", "sk2", "sk3", "sk4", "sk5", "sk6", "sk7", "sk8", "sk9", "ska", "skb",
                "skc", "skd", "ske", "skf",
            ],
        ),
        shape(
            "shopify_token",
            r"(?-u:\b)shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?-u:\b)",
            &["shpat_", "shpca_", "shppa_", "shpss_"],
        ),
        shape(
            "huggingface_token",
            r"(?-u:\b)(?:hf_|api_org_)[A-Za-z0-9]{34}(?-u:\b)",
            &["hf_", "api_org_"],
        ),
        shape(
            "npm_token",
            r"(?-u:\b)npm_[A-Za-z0-9]{36}(?-u:\b)",
            &["npm_"],
        ),
        shape(
            "pypi_token",
            r"(?-u:\b)pypi-Ag[A-Za-z0-9_-]{60,}",
            &["pypi-ag"],
        ),
        shape(
            "vault_token",
            r"(?-u:\b)hv[sbr]\.[A-Za-z0-9_-]{24,}",
            &["hvs.", "hvb.", "hvr."],
        ),
        // Azure storage and Service Bus connection strings; SAS signatures in URLs.
        shape(
            "azure_storage_key",
            r"(?i:AccountKey|SharedAccessKey)[ \t]*=[ \t]*(?P<secret>[A-Za-z0-9+/]{20,}={0,2})",
            &["accountkey", "sharedaccesskey"],
        ),
        shape(
            "azure_sas_signature",
            r"[?&;](?i:sig)=(?P<secret>[A-Za-z0-9%+/=]{16,})",
            &["sig="],
        ),
        shape(
            "azure_client_secret",
            r"(?-u:\b)[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
            &["q~"],
        ),
        shape(
            "pagerduty_token",
            r"(?-u:\b)(?P<secret>u\+[A-Za-z0-9_-]{18})(?:[^A-Za-z0-9_+-]|$)",
            &["u+"],
        ),
        shape(
            "digitalocean_token",
            r"(?-u:\b)do[opr]_v1_[a-f0-9]{64}",
            &["doo_v1_", "dop_v1_", "dor_v1_"],
        ),
        shape(
            "databricks_token",
            r"(?-u:\b)dapi[a-f0-9]{32}(?:-[0-9])?(?-u:\b)",
            &["dapi"],
        ),
        shape(
            "linear_api_key",
            r"(?-u:\b)lin_api_[A-Za-z0-9]{40}",
            &["lin_api_"],
        ),
        shape(
            "newrelic_key",
            r"(?-u:\b)NR(?:AK|JS|II)-[A-Za-z0-9]{19,32}",
            &["nrak-", "nrjs-", "nrii-"],
        ),
        shape(
            "postman_api_key",
            r"(?-u:\b)PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}",
            &["pmak-"],
        ),
        shape(
            "pulumi_token",
            r"(?-u:\b)pul-[a-f0-9]{40}(?-u:\b)",
            &["pul-"],
        ),
        shape(
            "grafana_token",
            r"(?-u:\b)(?:glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})",
            &["glc_", "glsa_"],
        ),
        shape(
            "sentry_token",
            r"(?-u:\b)(?:sntrys_[A-Za-z0-9+/=_-]{40,}|sntryu_[a-f0-9]{64})",
            &["sntrys_", "sntryu_"],
        ),
        // A Sentry DSN's key is the URL's user name.
        shape(
            "sentry_dsn_key",
            r"https?://(?P<secret>[0-9a-f]{32})(?::[0-9a-f]{32})?@",
            &["://"],
        ),
        shape(
            "atlassian_token",
            r"(?-u:\b)ATATT3[A-Za-z0-9_=-]{100,}",
            &["atatt3"],
        ),
        shape(
            "doppler_token",
            r"(?-u:\b)dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}",
            &[
                "dp.pt.",
                "dp.st.",
                "dp.sa.",
                "dp.ct.",
                "dp.scim.",
                "dp.audit.",
            ],
        ),
        shape(
            "dynatrace_token",
            r"(?-u:\b)dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}",
            &["dt0c01."],
        ),
        shape(
            "mailgun_key",
            r"(?-u:\b)key-[a-f0-9]{32}(?-u:\b)",
            &["key-"],
        ),
        shape(
            "mailchimp_key",
            r"(?-u:\b)[0-9a-f]{32}-us[0-9]{1,2}(?-u:\b)",
            &["-us"],
        ),
        shape(
            "square_token",
            r"(?-u:\b)(?:sq0atp-[0-9A-Za-z_-]{22}|sq0csp-[0-9A-Za-z_-]{43}|EAAA[A-Za-z0-9_-]{60})",
            &["sq0atp-", "sq0csp-", "eaaa"],
        ),
        shape(
            "telegram_bot_token",
            r"(?-u:\b)(?P<secret>[0-9]{5,16}:A[A-Za-z0-9_-]{34})(?:[^A-Za-z0-9_-]|$)",
            &[":a"],
        ),
        shape(
            "discord_webhook",
            r"discord(?:app)?\.com/api/webhooks/[0-9]+/(?P<secret>[A-Za-z0-9_-]+)",
            &["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
        ),
        shape(
            "teams_webhook",
            r"webhook\.office\.com/webhookb2/(?P<secret>[^\s\x22'<>\\]+)",
            &["webhook.office.com/webhookb2/"],
        ),
        shape(
            "alibaba_access_key",
            r"(?-u:\b)LTAI[A-Za-z0-9]{20}(?-u:\b)",
            &["ltai"],
        ),
        shape(
            "artifactory_token",
            r"(?-u:\b)AKCp[A-Za-z0-9]{69}(?-u:\b)",
            &["akcp"],
        ),
        shape(
            "heroku_api_key",
            r"(?-u:\b)HRKU-[A-Za-z0-9_-]{60}",
            &["hrku-"],
        ),
        shape(
            "flyio_token",
            r"(?-u:\b)(?:fo1_[A-Za-z0-9_-]{43}|FlyV1 fm[12]_[A-Za-z0-9+/=_,-]{100,})",
            &["fo1_", "flyv1 fm"],
        ),
        shape(
            "terraform_token",
            r"(?-u:\b)[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}",
            &[".atlasv1."],
        ),
        shape(
            "buildkite_token",
            r"(?-u:\b)bkua_[a-f0-9]{40}(?-u:\b)",
            &["bkua_"],
        ),
        shape(
            "rubygems_key",
            r"(?-u:\b)rubygems_[a-f0-9]{48}(?-u:\b)",
            &["rubygems_"],
        ),
        shape(
            "planetscale_token",
            r"(?-u:\b)pscale_(?:tkn|pw|oauth)_[A-Za-z0-9=._-]{32,}",
            &["pscale_tkn_", "pscale_pw_", "pscale_oauth_"],
        ),
        shape(
            "mapbox_token",
            r"(?-u:\b)sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}",
            &["sk.eyj"],
        ),
    ]
}
