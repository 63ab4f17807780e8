//! `aiops runs list [--status S] [--entity E]` and `aiops runs show ID`: the run
//! records in the store, as JSON on stdout.

use std::io::Write;
use std::sync::Arc;

use clap::Subcommand;
use shared::clock::SharedClock;
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};
use shared::ledger::{Filter, Ledger, LedgerError};
use shared::run::RunStatus;
use shared::store::{StoreConfig, StoreError};

/// `aiops runs …`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every run record, newest first, as a JSON array.
    List {
        /// Only runs in this status: queued, running, succeeded, failed or denied.
        #[arg(long)]
        status: Option<RunStatus>,
        /// Only runs of this entity (`component:default/web`).
        #[arg(long)]
        entity: Option<String>,
    },
    /// One run record.
    Show {
        /// The run id.
        id: String,
    },
}

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading the records failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The output could not be written.
    #[error("writing the output")]
    Output(#[source] std::io::Error),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Invalid,
            Self::Store(e) => e.kind(),
            Self::Ledger(e) => e.kind(),
            Self::Output(_) => ErrorKind::Dependency,
        }
    }
}

/// Runs the command against the store named by `AIOPS_STORE`.
pub async fn run(
    args: &Args,
    env: &impl Env,
    clock: SharedClock,
    mut stdout: impl Write,
) -> Result<(), Error> {
    let store = StoreConfig::from_env(env)?.open().await?;
    // Reading never holds a lease; the duration only matters to writers.
    let ledger = Ledger::new(store, clock, std::time::Duration::from_secs(1));
    let value = match &args.command {
        Command::List { status, entity } => {
            let filter = Filter {
                status: *status,
                entity: entity.clone(),
            };
            serde_json::to_value(ledger.list(&filter).await?)
        }
        Command::Show { id } => match ledger.get(id).await? {
            Some(record) => serde_json::to_value(record),
            None => return Err(LedgerError::Missing(id.clone()).into()),
        },
    };
    let text = value
        .and_then(|v| serde_json::to_string_pretty(&v))
        .map_err(std::io::Error::other)
        .map_err(Error::Output)?;
    writeln!(stdout, "{text}").map_err(Error::Output)
}

/// A shared clock for the command.
pub fn system_clock() -> SharedClock {
    Arc::new(shared::clock::SystemClock)
}
