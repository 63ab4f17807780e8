//! Starting the chain for an accepted run: a Step Functions execution in AWS, or a
//! background task of this process locally.

use std::sync::Arc;

use async_trait::async_trait;
use shared::chain::Runner;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// The chain could not be started; the run is recorded as failed (retryable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// Starts the chain of one run.
#[async_trait]
pub trait Starter: Send + Sync + std::fmt::Debug {
    /// Starts it; a second start of the same run must not run it twice.
    async fn start(&self, run_id: &str) -> Result<(), StartError>;
}

/// A starter as carried in the context.
pub type SharedStarter = Arc<dyn Starter>;

/// Runs the chain in a background task of this process (local runs, tests).
#[derive(Debug)]
pub struct InProcess {
    runner: Runner,
    tasks: Mutex<JoinSet<()>>,
}

impl InProcess {
    /// Runs with `runner`.
    pub fn new(runner: Runner) -> Self {
        Self {
            runner,
            tasks: Mutex::new(JoinSet::new()),
        }
    }

    /// Waits for every run started so far to end (tests; a graceful stop).
    pub async fn drain(&self) {
        let mut tasks = self.tasks.lock().await;
        while tasks.join_next().await.is_some() {}
    }
}

#[async_trait]
impl Starter for InProcess {
    async fn start(&self, run_id: &str) -> Result<(), StartError> {
        let runner = self.runner.clone();
        let run_id = run_id.to_owned();
        let mut tasks = self.tasks.lock().await;
        // Finished tasks are reaped here, so the set does not grow with every run.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            match runner.run(&run_id).await {
                Ok(record) => {
                    tracing::info!(run_id, status = record.status.as_str(), "run ended");
                }
                Err(error) => tracing::error!(run_id, %error, "run stopped early"),
            }
        });
        Ok(())
    }
}

/// Starts a Step Functions execution named after the run, so a retried POST cannot
/// start two.
#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: aws_sdk_sfn::Client,
    arn: String,
}

impl StepFunctions {
    /// A client from the standard AWS configuration chain.
    pub async fn from_env(arn: String) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(aws_sdk_sfn::Client::new(&config), arn)
    }

    /// From a ready client (tests point it at a local endpoint).
    pub fn new(client: aws_sdk_sfn::Client, arn: String) -> Self {
        Self { client, arn }
    }
}

#[async_trait]
impl Starter for StepFunctions {
    async fn start(&self, run_id: &str) -> Result<(), StartError> {
        let input = serde_json::to_string(&shared::chain::lambda::ChainEvent::new(run_id))
            .map_err(|e| StartError(e.to_string()))?;
        let sent = self
            .client
            .start_execution()
            .state_machine_arn(&self.arn)
            .name(run_id)
            .input(input)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_sfn::operation::start_execution::StartExecutionError::is_execution_already_exists) =>
            {
                Ok(())
            }
            Err(e) => Err(StartError(format!(
                "StartExecution on {}: {}",
                self.arn,
                aws_sdk_sfn::error::DisplayErrorContext(&e)
            ))),
        }
    }
}
