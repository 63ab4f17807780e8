//! The run ledger: run records in the shared store (`runs/<run-id>.json`), changed only
//! by conditional writes of [`RunRecord::apply`] transitions, and idempotency keys
//! (`idempotency/<sha256>.json`) claimed with put-if-absent.
//!
//! Reading a record normalises it: a queued or running record whose lease ran out is
//! turned into a retryable failure (and that is written back), so every reader sees the
//! same terminal status for a run whose process died.

use std::time::Duration;

use bytes::Bytes;
use chrono::TimeDelta;
use sha2::{Digest, Sha256};

use crate::clock::SharedClock;
use crate::error::{Classify, ErrorKind};
use crate::run::{Refused, RunEvent, RunRecord, RunStatus};
use crate::store::{self, SharedStore, StoreError, Update};

/// How many times a conditional write of a record is retried after losing a race.
const MAX_CAS_ATTEMPTS: u32 = 16;

/// Why the ledger could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store failed.
    #[error("run ledger: {0}")]
    Store(#[from] StoreError),
    /// No record under this id.
    #[error("no run {0}")]
    Missing(String),
    /// The stored record does not parse.
    #[error("run {id}: the stored record is malformed: {source}")]
    Malformed {
        /// The run.
        id: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The transition does not apply (finished run, lease held elsewhere).
    #[error(transparent)]
    Refused(#[from] Refused),
}

impl Classify for LedgerError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(e) => e.kind(),
            Self::Missing(_) | Self::Refused(_) => ErrorKind::Invalid,
            Self::Malformed { .. } => ErrorKind::Dependency,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Refused(Refused::Held { .. }) => true,
            _ => false,
        }
    }
}

/// Which records [`Ledger::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs of this entity (compared case-insensitively).
    pub entity: Option<String>,
}

impl Filter {
    fn matches(&self, record: &RunRecord) -> bool {
        self.status.is_none_or(|s| s == record.status)
            && self.entity.as_deref().is_none_or(|e| {
                record
                    .request
                    .get("entity")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|r| r.eq_ignore_ascii_case(e))
            })
    }
}

/// Run records in a store.
#[derive(Debug, Clone)]
pub struct Ledger {
    store: SharedStore,
    clock: SharedClock,
    lease: Duration,
}

impl Ledger {
    /// A ledger over `store`; leases last `lease` unless renewed.
    pub fn new(store: SharedStore, clock: SharedClock, lease: Duration) -> Self {
        Self {
            store,
            clock,
            lease,
        }
    }

    /// The store the records live in.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The clock transitions are stamped with.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// How long a lease lasts.
    pub fn lease_duration(&self) -> Duration {
        self.lease
    }

    /// The expiry of a lease taken now.
    pub fn lease_until(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now() + TimeDelta::from_std(self.lease).unwrap_or(TimeDelta::MAX)
    }

    /// Stores a new record; an existing record under the same id is kept and returned
    /// instead (a retried create is harmless).
    pub async fn create(&self, record: RunRecord) -> Result<RunRecord, LedgerError> {
        let key = RunRecord::store_key(&record.id);
        let bytes = encode(&record);
        match self.store.put_if_absent(&key, bytes).await {
            Ok(_) => Ok(record),
            Err(StoreError::Conflict { .. }) => self
                .get(&record.id)
                .await?
                .ok_or(LedgerError::Missing(record.id)),
            Err(e) => Err(e.into()),
        }
    }

    /// The record, with an expired lease turned into a failure first.
    pub async fn get(&self, id: &str) -> Result<Option<RunRecord>, LedgerError> {
        store::validate_key(&RunRecord::store_key(id))?;
        let Some(found) = self.store.get(&RunRecord::store_key(id)).await? else {
            return Ok(None);
        };
        let record = decode(id, &found.value)?;
        if record.lease_expired(self.clock.now()) {
            return self.modify(id, |_| Ok(())).await.map(Some);
        }
        Ok(Some(record))
    }

    /// Applies `event` with a conditional write, re-reading on conflict.
    pub async fn apply(&self, id: &str, event: RunEvent) -> Result<RunRecord, LedgerError> {
        let now = self.clock.now();
        self.modify(id, |record| record.apply(event.clone(), now))
            .await
    }

    /// Reads the record, lets `change` alter it and writes it back conditionally. An
    /// expired lease is settled before `change` sees the record. `change` may run more
    /// than once (after a lost race) and must not have side effects.
    pub async fn modify<F>(&self, id: &str, mut change: F) -> Result<RunRecord, LedgerError>
    where
        F: FnMut(&mut RunRecord) -> Result<(), Refused> + Send,
    {
        let key = RunRecord::store_key(id);
        let now = self.clock.now();
        let outcome = store::update(&*self.store, &key, MAX_CAS_ATTEMPTS, |current| {
            let Some(bytes) = current else {
                return Update::Keep(Err(LedgerError::Missing(id.to_owned())));
            };
            let mut record = match decode(id, bytes) {
                Ok(r) => r,
                Err(e) => return Update::Keep(Err(e)),
            };
            let before = record.clone();
            record.expire_lease(now);
            let result = change(&mut record);
            if record == before {
                return Update::Keep(result.map(|()| record).map_err(LedgerError::from));
            }
            match result {
                // A refused change still persists a settled lease.
                Err(refused) if record.status != before.status => {
                    Update::Write(encode(&record), Err(LedgerError::Refused(refused)))
                }
                Err(refused) => Update::Keep(Err(LedgerError::Refused(refused))),
                Ok(()) => Update::Write(encode(&record), Ok(record)),
            }
        })
        .await?;
        outcome.value
    }

    /// Every record matching `filter`, newest first. Expired leases are settled.
    pub async fn list(&self, filter: &Filter) -> Result<Vec<RunRecord>, LedgerError> {
        let mut records = Vec::new();
        for key in self.store.list("runs/").await? {
            let Some(id) = key
                .strip_prefix("runs/")
                .and_then(|k| k.strip_suffix(".json"))
            else {
                continue;
            };
            if let Some(record) = self.get(id).await?
                && filter.matches(&record)
            {
                records.push(record);
            }
        }
        records.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(records)
    }

    /// Claims an idempotency key for `requester`: `None` when the claim is new (the
    /// caller goes on with `run_id`), or the run id that claimed it first.
    pub async fn claim_idempotency(
        &self,
        requester: &str,
        key: &str,
        run_id: &str,
    ) -> Result<Option<String>, LedgerError> {
        let mut hasher = Sha256::new();
        hasher.update(requester.as_bytes());
        hasher.update([0]);
        hasher.update(key.as_bytes());
        let store_key = format!("idempotency/{}.json", hex::encode(hasher.finalize()));
        let body = Bytes::from(serde_json::json!({ "run_id": run_id }).to_string());
        match self.store.put_if_absent(&store_key, body).await {
            Ok(_) => Ok(None),
            Err(StoreError::Conflict { .. }) => {
                let found = self.store.get(&store_key).await?;
                let existing = found
                    .and_then(|v| serde_json::from_slice::<serde_json::Value>(&v.value).ok())
                    .and_then(|v| v.get("run_id")?.as_str().map(str::to_owned));
                Ok(existing)
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn encode(record: &RunRecord) -> Bytes {
    // A record is plain data: serialising it cannot fail.
    Bytes::from(serde_json::to_vec_pretty(record).unwrap_or_default())
}

fn decode(id: &str, bytes: &[u8]) -> Result<RunRecord, LedgerError> {
    serde_json::from_slice(bytes).map_err(|source| LedgerError::Malformed {
        id: id.to_owned(),
        source,
    })
}
