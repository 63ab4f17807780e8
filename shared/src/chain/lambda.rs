//! A chain step as a Lambda invoked by the state machine.
//!
//! The state machine passes the chain state `{"run_id", "chain": "rca"}` from task to
//! task (rca-api starts each execution with it). A step function tells that state from
//! its own event by the `chain` field, makes one recorded attempt of its step
//! ([`Runner::run_one`]) and returns the state unchanged. A failed attempt becomes the
//! invocation's error, typed `Retryable.DependencyFailed` or `NonRetryable.*`, so the
//! state machine's `Retry` decides about the next attempt.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Runner, RunnerConfig, Step, StepExecutor, StepFailure};
use crate::clock::{SharedClock, SystemClock};
use crate::config::ProcessEnv;
use crate::error::{Classify, ErrorKind};
use crate::redact::Redactor;
use crate::run::RunStatus;

/// The name of the chain in the state (`"chain": "rca"`).
pub const CHAIN: &str = "rca";

/// The state the state machine passes from step to step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainEvent {
    /// The run.
    pub run_id: String,
    /// Always [`CHAIN`].
    pub chain: String,
}

impl ChainEvent {
    /// The state of `run_id`.
    pub fn new(run_id: impl Into<String>) -> Self {
        Self {
            run_id: run_id.into(),
            chain: CHAIN.to_owned(),
        }
    }
}

/// A step function's event: the chain state, or the function's own input.
#[derive(Debug)]
pub enum StepEvent<I> {
    /// From the state machine.
    Chain(ChainEvent),
    /// The function's own event (`--event`, a direct invocation).
    Direct(I),
}

impl<'de, I: DeserializeOwned> Deserialize<'de> for StepEvent<I> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = Value::deserialize(d)?;
        // Decoding by the telling field keeps the field-level errors of the meant shape.
        if value.get("chain").is_some() {
            serde_path_to_error::deserialize(value)
                .map(StepEvent::Chain)
                .map_err(D::Error::custom)
        } else {
            serde_path_to_error::deserialize(value)
                .map(StepEvent::Direct)
                .map_err(D::Error::custom)
        }
    }
}

/// A step function's answer.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StepAnswer<O> {
    /// The chain state, for the next task.
    Chain(ChainEvent),
    /// The answer to a direct event.
    Direct(O),
}

/// One recorded attempt of `step` for `event`'s run.
pub async fn attempt(
    runner: &Runner,
    step: Step,
    event: ChainEvent,
) -> Result<ChainEvent, StepFailure> {
    let record = runner
        .run_one(&event.run_id, step)
        .await
        .map_err(|e| StepFailure::from_error(&e))?;
    if record.step_done(step.name())
        || matches!(record.status, RunStatus::Succeeded | RunStatus::Denied)
    {
        return Ok(event);
    }
    // The attempt failed: the last one ended the run, otherwise a retry is due.
    let (message, retryable) = match (&record.status, &record.error) {
        (RunStatus::Failed, Some(error)) => (error.message.clone(), error.retryable),
        _ => (
            record
                .step_run(step.name())
                .and_then(|s| s.error.clone())
                .unwrap_or_else(|| format!("{step} did not finish")),
            true,
        ),
    };
    Err(StepFailure {
        kind: if retryable {
            ErrorKind::Dependency
        } else {
            ErrorKind::Invalid
        },
        retryable,
        message,
    })
}

/// The context of a step function plus the runner of its chain mode.
#[derive(Debug)]
pub struct Served<C> {
    /// The function's own context.
    pub ctx: Arc<C>,
    /// Records attempts in the run ledger.
    pub runner: Runner,
}

/// The whole `main` of a chain step function: its own events as before, and the
/// state machine's chain state through one recorded attempt of `step`.
pub async fn serve<C, CE, CF, I, O, E, F, Fut>(step: Step, context: CF, handler: F) -> ExitCode
where
    CF: Future<Output = Result<C, CE>>,
    CE: Classify,
    C: StepExecutor + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: Classify + Send + 'static,
    F: Fn(Arc<C>, I) -> Fut + Send + Sync,
    Fut: Future<Output = Result<O, E>> + Send,
{
    let built = async {
        let ctx = Arc::new(
            Box::pin(context)
                .await
                .map_err(|e| StepFailure::from_error(&e))?,
        );
        let config =
            RunnerConfig::from_env(&ProcessEnv).map_err(|e| StepFailure::from_error(&e))?;
        let clock: SharedClock = Arc::new(SystemClock);
        let ledger = config
            .ledger(clock)
            .await
            .map_err(|e| StepFailure::from_error(&e))?;
        let redactor =
            Arc::new(Redactor::from_env(&ProcessEnv).map_err(|e| StepFailure::from_error(&e))?);
        let runner = Runner::new(
            ledger,
            ctx.clone() as Arc<dyn StepExecutor>,
            config.retry,
            redactor,
            format!("{}:{}", step.name(), uuid::Uuid::new_v4().simple()),
        );
        Ok::<_, StepFailure>(Served { ctx, runner })
    };
    let handler = &handler;
    crate::invoke::serve(
        step.name(),
        built,
        move |served: Arc<Served<C>>, event| async move {
            match event {
                StepEvent::Chain(event) => attempt(&served.runner, step, event)
                    .await
                    .map(StepAnswer::Chain),
                StepEvent::Direct(input) => handler(served.ctx.clone(), input)
                    .await
                    .map(StepAnswer::Direct)
                    .map_err(|e| StepFailure::from_error(&e)),
            }
        },
    )
    .await
}
