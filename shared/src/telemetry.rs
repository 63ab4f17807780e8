//! Tracing set-up shared by every binary: JSON lines in Lambda (CloudWatch and log
//! pipelines parse them), readable lines in a terminal. Logs go to stderr; stdout is
//! reserved for results.
//!
//! Every formatted line passes through the redactor before it is written
//! ([`RedactingWriter`]): a secret in a log field or message never reaches the log.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::Env;
use crate::redact::Redactor;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// Chooses the format: `AIOPS_LOG_FORMAT` (`json`/`text`) wins; otherwise JSON in
/// Lambda (`AWS_LAMBDA_RUNTIME_API` set) and text elsewhere. Colours only on a terminal.
pub fn choose_format(env: &impl Env) -> LogFormat {
    match env.get("AIOPS_LOG_FORMAT").as_deref().map(str::trim) {
        Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        _ if env.get("AWS_LAMBDA_RUNTIME_API").is_some() => LogFormat::Json,
        _ => LogFormat::Text,
    }
}

/// Installs the global subscriber once; later calls do nothing. The level comes from
/// `AIOPS_LOG` (an `EnvFilter` directive such as `info` or `shared=debug`), default
/// `info`. Lines are redacted with the rules `AIOPS_REDACT_*` configure; when those
/// are malformed the built-in rules still apply (the binary reports the variable
/// itself when it builds its own redactor).
pub fn init(env: &impl Env) -> LogFormat {
    let redactor = Redactor::from_env(env).unwrap_or_default();
    init_with(env, Arc::new(redactor))
}

/// [`init`] with a redactor the caller already built.
pub fn init_with(env: &impl Env, redactor: Arc<Redactor>) -> LogFormat {
    let format = choose_format(env);
    let ansi = format == LogFormat::Text && io::stderr().is_terminal();
    let writer = RedactingWriter::new(redactor, format, io::stderr);
    // An already-installed subscriber (tests, a second init) is fine: keep it.
    let _ = subscriber(format, filter(env), writer, ansi).try_init();
    format
}

fn filter(env: &impl Env) -> EnvFilter {
    env.get("AIOPS_LOG")
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// The subscriber [`init`] installs, writing to `writer`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .finish(),
        ),
        LogFormat::Text => Box::new(
            builder
                .compact()
                .with_target(false)
                .with_ansi(ansi)
                .finish(),
        ),
    }
}

/// A [`MakeWriter`] that redacts each formatted event before the inner writer sees it.
/// The formatter writes one event per writer it makes, so each event is redacted
/// whole, as JSON when the format is JSON.
#[derive(Debug)]
pub struct RedactingWriter<M> {
    redactor: Arc<Redactor>,
    format: LogFormat,
    inner: M,
}

impl<M> RedactingWriter<M> {
    /// Redacts with `redactor` what the formatter writes in `format`, then hands it to
    /// `inner`.
    pub fn new(redactor: Arc<Redactor>, format: LogFormat, inner: M) -> Self {
        Self {
            redactor,
            format,
            inner,
        }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingWriter<M> {
    type Writer = RedactedEvent<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedEvent {
            buf: Vec::new(),
            redactor: &self.redactor,
            format: self.format,
            inner: self.inner.make_writer(),
        }
    }
}

/// One event being formatted; redacted and written when dropped (or flushed).
#[derive(Debug)]
pub struct RedactedEvent<'a, W: Write> {
    buf: Vec<u8>,
    redactor: &'a Redactor,
    format: LogFormat,
    inner: W,
}

impl<W: Write> RedactedEvent<'_, W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let out = match self.format {
            LogFormat::Json => self.redactor.redact_json_text(&text),
            LogFormat::Text => redact_ansi_text(self.redactor, &text),
        };
        self.buf.clear();
        self.inner.write_all(out.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactedEvent<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for RedactedEvent<'_, W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write; the formatter ignores them too.
        let _ = self.emit();
    }
}

/// Colours split `key=value` with escape codes, which would hide it from the key
/// rules: the rules look at the text without them. An unchanged line keeps its
/// colours; a redacted one is written plain.
fn redact_ansi_text(redactor: &Redactor, text: &str) -> String {
    if !text.contains('\u{1b}') {
        return redactor.redact_text(text).into_owned();
    }
    let plain = strip_ansi(text);
    match redactor.redact_text(&plain) {
        std::borrow::Cow::Borrowed(_) => text.to_owned(),
        std::borrow::Cow::Owned(redacted) => redacted,
    }
}

/// `text` without CSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn lambda_gets_json_and_a_terminal_gets_text() {
        let lambda = MapEnv::new().with("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        assert_eq!(choose_format(&lambda), LogFormat::Json);
        assert_eq!(choose_format(&MapEnv::new()), LogFormat::Text);
    }

    #[test]
    fn the_explicit_setting_wins() {
        let env = MapEnv::new()
            .with("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
            .with("AIOPS_LOG_FORMAT", "text");
        assert_eq!(choose_format(&env), LogFormat::Text);
        let env = MapEnv::new().with("AIOPS_LOG_FORMAT", "json");
        assert_eq!(choose_format(&env), LogFormat::Json);
    }

    fn logged(format: LogFormat, ansi: bool, redactor: Redactor, log: impl FnOnce()) -> String {
        let captured = crate::audit::MemoryWriter::default();
        let sink = captured.clone();
        let writer = RedactingWriter::new(Arc::new(redactor), format, move || sink.clone());
        let subscriber = subscriber(format, EnvFilter::new("info"), writer, ansi);
        tracing::subscriber::with_default(subscriber, log);
        captured.text()
    }

    fn random_secrets() -> (String, String) {
        let password = format!("pw-{}", crate::redact::testgen::random("a", 20));
        let github = format!("ghp_{}", crate::redact::testgen::random("a", 36));
        (password, github)
    }

    #[test]
    fn secrets_in_log_fields_and_messages_do_not_reach_the_output() {
        for (format, ansi) in [
            (LogFormat::Json, false),
            (LogFormat::Text, false),
            (LogFormat::Text, true),
        ] {
            let (password, github) = random_secrets();
            let out = logged(format, ansi, Redactor::default(), || {
                tracing::info!(db_password = %password, pod = "api-0", "connecting");
                tracing::warn!("push with {github} was refused");
            });
            assert!(!out.contains(&password), "{format:?}/{ansi}: {out}");
            assert!(!out.contains(&github), "{format:?}/{ansi}: {out}");
            assert!(
                out.contains("[REDACTED:password]"),
                "{format:?}/{ansi}: {out}"
            );
            assert!(
                out.contains("[REDACTED:github_token]"),
                "{format:?}/{ansi}: {out}"
            );
            assert!(
                out.contains("api-0"),
                "{format:?}/{ansi}: evidence lost: {out}"
            );
            assert_eq!(
                out.lines().count(),
                2,
                "{format:?}/{ansi}: one line per event"
            );
        }
    }

    #[test]
    fn configured_patterns_apply_to_log_lines() {
        let env = MapEnv::new().with(
            crate::redact::PATTERNS_VAR,
            r#"[{"name": "ticket", "pattern": "TCK-[0-9]{6}"}]"#,
        );
        let ticket = format!("TCK-{:06}", fastrand::u32(..1_000_000));
        let out = logged(
            LogFormat::Json,
            false,
            Redactor::from_env(&env).unwrap(),
            || {
                tracing::info!(ticket = %ticket, "opened");
            },
        );
        assert!(!out.contains(&ticket), "{out}");
        assert!(out.contains("[REDACTED:ticket]"), "{out}");
    }

    #[test]
    fn clean_lines_keep_their_colours() {
        let out = logged(LogFormat::Text, true, Redactor::default(), || {
            tracing::info!(pod = "api-0", "ready");
        });
        assert!(out.contains('\u{1b}'), "{out:?}");
        assert!(out.contains("ready"), "{out:?}");
    }
}
