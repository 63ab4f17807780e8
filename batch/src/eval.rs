//! `aiops eval DIR [--llm] [--json]`: scores the analysis on a folder of incident cases.
//!
//! Each case is a folder holding `bundle.json` (an evidence bundle) and `expect.yaml`:
//!
//! ```yaml
//! rule: changed_revision          # the rule the built-in analysis must lead with
//! contains: ["2.3.0"]             # facts the summary and root cause must state
//! not_contains: ["OOMKilled"]     # facts they must not state
//! remediation: ["kubectl rollout undo"]  # facts the remediation must state
//! decisive: ["no such host"]      # text of evidence lines the prompt must hold
//! noise: {lines: 30000, seed: 7}  # routine log lines added around the bundle's own
//! ```
//!
//! Large-noise variants are generated here from the seed rather than stored, so the
//! examples stay small and every run sees the same lines. A case passes when every check
//! holds; the command exits 1 below 100 %, so CI can gate on it.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use shared::analysis::Analysis;
use shared::config::Env;
use shared::error::{Classify, ErrorKind};
use shared::evidence::{EvidenceBundle, LogLine};
use shared::llm::{LlmConfig, prompt};
use shared::redact::Redactor;

/// Arguments of `aiops eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder of cases (each a sub-folder with bundle.json and expect.yaml).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Analyse with the configured LLM (AIOPS_LLM_*) instead of the built-in analyzers.
    #[arg(long)]
    pub llm: bool,
    /// Print the scorecard as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why `aiops eval` could not score.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A case folder is unreadable or malformed; names the file and the field.
    #[error("{path}: {detail}")]
    Case {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// Configuration is missing or malformed (`--llm` without a provider).
    #[error(transparent)]
    Config(#[from] shared::config::ConfigError),
    /// The analysis step failed.
    #[error(transparent)]
    Analyze(#[from] shared::Error),
    /// The store the shared breaker lives in could not be opened.
    #[error("opening the store: {0}")]
    Store(#[source] shared::store::StoreError),
    /// Something the run needs from the system failed (writing the scorecard, starting
    /// the async runtime).
    #[error("{what}: {source}")]
    Output {
        /// What was being done.
        what: &'static str,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Some cases failed (the scorecard says which).
    #[error("{failed} of {total} cases failed")]
    Failed {
        /// Failed cases.
        failed: usize,
        /// All cases.
        total: usize,
    },
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Case { .. } | Self::Config(_) => ErrorKind::Invalid,
            Self::Analyze(e) => e.kind(),
            Self::Store(e) => e.kind(),
            Self::Output { .. } | Self::Failed { .. } => ErrorKind::Dependency,
        }
    }

    fn is_retryable(&self) -> bool {
        false
    }
}

/// What a case expects.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The rule the built-in analysis leads with (not checked with `--llm`).
    #[serde(default)]
    pub rule: Option<String>,
    /// Facts the summary and root cause must contain (case-insensitive).
    #[serde(default)]
    pub contains: Vec<String>,
    /// Facts they must not contain.
    #[serde(default)]
    pub not_contains: Vec<String>,
    /// Facts the remediation steps must contain.
    #[serde(default)]
    pub remediation: Vec<String>,
    /// Text of evidence lines the prompt must hold within its budget.
    #[serde(default)]
    pub decisive: Vec<String>,
    /// Routine log lines to add around the bundle's own.
    #[serde(default)]
    pub noise: Option<Noise>,
}

/// Generated noise.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noise {
    /// How many lines.
    pub lines: usize,
    /// The seed, so every run sees the same lines.
    #[serde(default)]
    pub seed: u64,
}

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The folder name.
    pub case: String,
    /// Whether every check held.
    pub passed: bool,
    /// The checks that failed, in words.
    pub failures: Vec<String>,
    /// The rule the built-in analysis led with.
    pub rule: Option<String>,
    /// The summary it gave.
    pub summary: String,
    /// Log lines in the bundle (noise included).
    pub log_lines: usize,
    /// Tokens of the prompt built for the bundle.
    pub prompt_tokens: usize,
    /// Whether the prompt held every decisive line.
    pub prompt_kept_decisive: bool,
    /// Wall time of the analysis, in milliseconds.
    pub elapsed_ms: u64,
}

/// The whole scorecard.
#[derive(Debug, Clone, Serialize)]
pub struct Scorecard {
    /// `builtin` or `llm`.
    pub analyzer: String,
    /// Cases run.
    pub total: usize,
    /// Cases passed.
    pub passed: usize,
    /// passed / total, in percent.
    pub accuracy: f64,
    /// Cases whose prompt held every decisive line.
    pub prompts_kept_decisive: usize,
    /// The prompt budget used, in tokens.
    pub prompt_budget: usize,
    /// Wall time of all cases, in milliseconds.
    pub elapsed_ms: u64,
    /// Per case.
    pub cases: Vec<CaseResult>,
}

/// How one case is analysed.
#[derive(Debug)]
enum Mode {
    Builtin,
    Llm(Box<shared::analyze::AnalyzeContext>),
}

/// Runs every case under `args.dir` and writes the scorecard to `out`.
pub async fn run(args: &Args, env: &impl Env, out: &mut impl Write) -> Result<Scorecard, Error> {
    let config = LlmConfig::from_env(env)?;
    let redactor = Redactor::from_env(env)?;
    let mode = if args.llm {
        if config.provider == shared::llm::ProviderKind::None {
            return Err(shared::config::ConfigError::invalid(
                "AIOPS_LLM_PROVIDER",
                "openai or anthropic with --llm",
                None,
            )
            .into());
        }
        // The breaker shares its state with every other run through the store.
        let store = shared::store::StoreConfig::from_env(env)?
            .open()
            .await
            .map_err(Error::Store)?;
        let clock: shared::clock::SharedClock = std::sync::Arc::new(shared::clock::SystemClock);
        let ctx = shared::analyze::AnalyzeContext::from_env(env, store, clock)?;
        Mode::Llm(Box::new(ctx))
    } else {
        Mode::Builtin
    };
    let started = Instant::now();
    let mut cases = Vec::new();
    for dir in case_dirs(&args.dir)? {
        cases.push(run_case(&dir, &mode, &redactor, config.input_tokens).await?);
    }
    let passed = cases.iter().filter(|c| c.passed).count();
    #[allow(clippy::cast_precision_loss)]
    let accuracy = if cases.is_empty() {
        0.0
    } else {
        (passed as f64 * 1000.0 / cases.len() as f64).round() / 10.0
    };
    let card = Scorecard {
        analyzer: if args.llm { "llm" } else { "builtin" }.into(),
        total: cases.len(),
        passed,
        accuracy,
        prompts_kept_decisive: cases.iter().filter(|c| c.prompt_kept_decisive).count(),
        prompt_budget: config.input_tokens,
        elapsed_ms: millis(started),
        cases,
    };
    let output = |source| Error::Output {
        what: "writing the scorecard",
        source,
    };
    let text = if args.json {
        serde_json::to_string_pretty(&card).map_err(|e| output(e.into()))? + "\n"
    } else {
        table(&card)
    };
    out.write_all(text.as_bytes()).map_err(output)?;
    if card.passed < card.total || card.total == 0 {
        return Err(Error::Failed {
            failed: card.total - card.passed,
            total: card.total,
        });
    }
    Ok(card)
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn case_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::Case {
        path: path.display().to_string(),
        detail: detail.into(),
    }
}

fn case_dirs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| case_error(dir, format!("a folder of incident cases ({e})")))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expect.yaml").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(case_error(
            dir,
            "at least one case folder with bundle.json and expect.yaml",
        ));
    }
    Ok(dirs)
}

/// Reads a case: its bundle (with the noise added) and its expectations.
pub fn load(dir: &Path) -> Result<(EvidenceBundle, Expect), Error> {
    let expect_path = dir.join("expect.yaml");
    let text = std::fs::read_to_string(&expect_path)
        .map_err(|e| case_error(&expect_path, e.to_string()))?;
    let expect: Expect =
        serde_saphyr::from_str(&text).map_err(|e| case_error(&expect_path, e.to_string()))?;
    let bundle_path = dir.join("bundle.json");
    let bytes = std::fs::read(&bundle_path).map_err(|e| case_error(&bundle_path, e.to_string()))?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let mut bundle: EvidenceBundle = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| case_error(&bundle_path, format!("field {}: {}", e.path(), e.inner())))?;
    if let Some(noise) = expect.noise {
        add_noise(&mut bundle, noise);
    }
    Ok((bundle, expect))
}

/// Routine lines of the workload's pods spread over the window: requests, health
/// checks, cache and retry chatter, some at warn level, none decisive.
pub fn add_noise(bundle: &mut EvidenceBundle, noise: Noise) {
    let mut rng = fastrand::Rng::with_seed(noise.seed);
    let pods: Vec<String> = if bundle.pods.is_empty() {
        vec![format!(
            "{}-0",
            bundle.target.entity.rsplit('/').next().unwrap_or("app")
        )]
    } else {
        bundle.pods.iter().map(|p| p.name.clone()).collect()
    };
    let span = (bundle.target.until - bundle.target.since)
        .num_milliseconds()
        .max(1);
    let first_id = bundle.logs.len();
    for i in 0..noise.lines {
        let (level, message) = match rng.u8(..20) {
            0 => (
                "warn",
                format!(
                    "slow request GET /api/items/{} took {} ms",
                    rng.u32(..10_000),
                    500 + rng.u32(..2_000)
                ),
            ),
            1 => (
                "warn",
                format!("retrying upstream call (attempt {})", 1 + rng.u8(..3)),
            ),
            2..=4 => ("info", format!("GET /healthz 200 {}us", rng.u32(100..900))),
            5 => ("debug", format!("cache hit ratio {}%", rng.u8(60..100))),
            _ => (
                "info",
                format!(
                    "{} /api/items/{} {} {} ms",
                    ["GET", "POST", "PUT"][rng.usize(..3)],
                    rng.u32(..100_000),
                    [200, 200, 200, 201, 204, 304][rng.usize(..6)],
                    rng.u32(1..120)
                ),
            ),
        };
        let at = bundle.target.since + chrono::Duration::milliseconds(rng.i64(0..span));
        bundle.logs.push(LogLine {
            id: format!("log/{}", first_id + i),
            time: Some(at),
            pod: Some(pods[rng.usize(..pods.len())].clone()),
            container: None,
            level: Some(level.into()),
            message,
        });
    }
}

async fn run_case(
    dir: &Path,
    mode: &Mode,
    redactor: &Redactor,
    budget: usize,
) -> Result<CaseResult, Error> {
    let (bundle, expect) = load(dir)?;
    let started = Instant::now();
    let diagnoses = shared::analyzers::diagnose(&bundle);
    let analysis: Analysis = match mode {
        Mode::Builtin => shared::analyzers::analyze(&bundle, bundle.collected_at),
        Mode::Llm(ctx) => shared::analyze::analyze(ctx, &bundle).await?,
    };
    let elapsed_ms = millis(started);
    let p = prompt::build(&bundle, redactor, budget);
    let rule = diagnoses.first().map(|d| d.rule.to_owned());
    let failures = check(
        &expect,
        &analysis,
        rule.as_deref(),
        matches!(mode, Mode::Llm(_)),
        &p.user,
    );
    let prompt_kept_decisive = expect
        .decisive
        .iter()
        .all(|d| p.user.to_lowercase().contains(&d.to_lowercase()));
    Ok(CaseResult {
        case: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        passed: failures.is_empty(),
        failures,
        rule,
        summary: analysis.summary,
        log_lines: bundle.logs.len(),
        prompt_tokens: p.tokens,
        prompt_kept_decisive,
        elapsed_ms,
    })
}

/// The failed checks of one case, in words.
pub fn check(
    expect: &Expect,
    analysis: &Analysis,
    rule: Option<&str>,
    llm: bool,
    prompt: &str,
) -> Vec<String> {
    let mut failures = Vec::new();
    let cause = format!("{}\n{}", analysis.summary, analysis.root_cause).to_lowercase();
    let remediation = analysis.remediation.join("\n").to_lowercase();
    if !llm
        && let Some(want) = &expect.rule
        && rule != Some(want.as_str())
    {
        failures.push(format!(
            "expected rule {want}, got {}",
            rule.unwrap_or("none")
        ));
    }
    for fact in &expect.contains {
        if !cause.contains(&fact.to_lowercase()) {
            failures.push(format!("root cause lacks {fact:?}"));
        }
    }
    for fact in &expect.not_contains {
        if cause.contains(&fact.to_lowercase()) {
            failures.push(format!("root cause states {fact:?}"));
        }
    }
    for fact in &expect.remediation {
        if !remediation.contains(&fact.to_lowercase()) {
            failures.push(format!("remediation lacks {fact:?}"));
        }
    }
    let prompt = prompt.to_lowercase();
    for line in &expect.decisive {
        if !prompt.contains(&line.to_lowercase()) {
            failures.push(format!("the prompt dropped the decisive line {line:?}"));
        }
    }
    if !analysis.unknown_evidence_ids.is_empty() {
        failures.push(format!(
            "cites ids not in the bundle: {}",
            analysis.unknown_evidence_ids.join(", ")
        ));
    }
    failures
}

fn table(card: &Scorecard) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<34} {:<6} {:<30} {:>7} {:>7} {:>8} {:>6}",
        "case", "result", "rule", "lines", "tokens", "decisive", "ms"
    );
    for c in &card.cases {
        let _ = writeln!(
            s,
            "{:<34} {:<6} {:<30} {:>7} {:>7} {:>8} {:>6}",
            c.case,
            if c.passed { "pass" } else { "FAIL" },
            c.rule.as_deref().unwrap_or("-"),
            c.log_lines,
            c.prompt_tokens,
            if c.prompt_kept_decisive {
                "kept"
            } else {
                "LOST"
            },
            c.elapsed_ms
        );
        for f in &c.failures {
            let _ = writeln!(s, "    - {f}");
        }
    }
    let _ = writeln!(
        s,
        "\n{} analyzer: {}/{} passed ({:.1} %), prompts kept every decisive line in {}/{} (budget {} tokens), {} ms",
        card.analyzer,
        card.passed,
        card.total,
        card.accuracy,
        card.prompts_kept_decisive,
        card.total,
        card.prompt_budget,
        card.elapsed_ms
    );
    s
}
