//! `aiops redact [FILE]`: the shared redactor over a file or stdin, streaming, so
//! files of any size pass in bounded memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;

use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};
use shared::redact::Redactor;

/// Arguments of `aiops redact`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to redact; standard input when absent or `-`.
    pub file: Option<PathBuf>,
}

/// Why `aiops redact` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// AIOPS_REDACT_PATTERNS or AIOPS_REDACT_KEYS is malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The input cannot be opened or read (missing file, a directory, …).
    #[error("{path}: {source}")]
    Input {
        /// The file, or `stdin`.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Standard output could not be written.
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) | Self::Input { .. } => ErrorKind::Invalid,
            Self::Output(_) => ErrorKind::Dependency,
        }
    }
}

/// Redacts `args.file` (or `stdin`) to `stdout` with the rules configured in `env`.
pub fn run<'a>(
    args: &Args,
    env: &impl Env,
    stdin: impl BufRead + 'a,
    stdout: impl Write,
) -> Result<(), Error> {
    let redactor = Redactor::from_env(env)?;
    let (name, input): (String, Box<dyn BufRead + 'a>) = match &args.file {
        Some(path) if path.as_os_str() != "-" => {
            let name = path.display().to_string();
            let file = File::open(path).map_err(|source| Error::Input {
                path: name.clone(),
                source,
            })?;
            (name, Box::new(BufReader::with_capacity(256 * 1024, file)))
        }
        _ => ("stdin".to_owned(), Box::new(stdin)),
    };
    let mut out = WriteSide {
        inner: io::BufWriter::with_capacity(256 * 1024, stdout),
        failed: false,
    };
    match redactor.redact_stream(input, &mut out) {
        Ok(()) => Ok(()),
        // The reader of our output went away (`aiops redact f | head`): nothing is lost.
        Err(e) if out.failed && e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) if out.failed => Err(Error::Output(e)),
        Err(source) => Err(Error::Input { path: name, source }),
    }
}

/// Remembers whether an I/O error came from the output, so that it is not blamed on
/// the input file.
struct WriteSide<W: Write> {
    inner: W,
    failed: bool,
}

impl<W: Write> Write for WriteSide<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|_| self.failed = true)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|_| self.failed = true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shared::config::MapEnv;

    fn redact_stdin(input: &str, env: &MapEnv) -> Result<String, Error> {
        let mut out = Vec::new();
        run(&Args { file: None }, env, input.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn stdin_is_redacted_to_stdout() {
        let out = redact_stdin(
            "user=bob password=hunter2\n{\"token\":\"abc\"}\n",
            &MapEnv::new(),
        )
        .unwrap();
        assert_eq!(
            out,
            "user=bob password=[REDACTED:password]\n{\"token\":\"[REDACTED:token]\"}\n"
        );
    }

    #[test]
    fn user_patterns_from_the_environment_apply() {
        let env = MapEnv::new().with(
            "AIOPS_REDACT_PATTERNS",
            r#"[{"name":"ticket","pattern":"TCK-[0-9]{4}"}]"#,
        );
        assert_eq!(
            redact_stdin("see TCK-1234\n", &env).unwrap(),
            "see [REDACTED:ticket]\n"
        );
    }

    #[test]
    fn a_bad_pattern_variable_is_invalid_and_named() {
        let env = MapEnv::new().with("AIOPS_REDACT_PATTERNS", "[{");
        let err = redact_stdin("x\n", &env).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert!(err.to_string().contains("AIOPS_REDACT_PATTERNS"), "{err}");
    }

    #[test]
    fn a_missing_file_is_invalid_and_named() {
        let args = Args {
            file: Some(PathBuf::from("/nonexistent/aiops-redact-input.log")),
        };
        let err = run(&args, &MapEnv::new(), io::empty(), io::sink()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert!(
            err.to_string()
                .contains("/nonexistent/aiops-redact-input.log"),
            "{err}"
        );
    }

    #[test]
    fn a_failing_output_is_a_dependency_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
        }
        let err = run(&Args { file: None }, &MapEnv::new(), "x\n".as_bytes(), Full).unwrap_err();
        assert!(matches!(err, Error::Output(_)), "{err}");
        assert_eq!(err.kind(), ErrorKind::Dependency);
    }
}
