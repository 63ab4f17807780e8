//! Retries, waits, the deadline and the repair request, with a scripted provider, a
//! manual clock and a sleeper that only moves it.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::clock::ManualClock;
use crate::llm::retry::{ClockSleeper, FixedJitter};
use crate::llm::{ProviderKind, RateHint, Usage};
use crate::store::LocalStore;

#[derive(Debug, Default)]
struct Scripted {
    replies: Mutex<VecDeque<Result<ChatReply, LlmError>>>,
    requests: Mutex<Vec<ChatRequest>>,
}

#[async_trait]
impl Llm for Scripted {
    fn provider(&self) -> &'static str {
        "openai"
    }
    fn model(&self) -> &'static str {
        "test-model"
    }
    async fn chat(&self, request: &ChatRequest, _timeout: Duration) -> Result<ChatReply, LlmError> {
        self.requests.lock().unwrap().push(request.clone());
        self.replies
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted reply for every call")
    }
}

#[allow(clippy::unnecessary_wraps)]
fn text(t: &str) -> Result<ChatReply, LlmError> {
    Ok(ChatReply {
        text: t.into(),
        json: None,
        usage: Usage::default(),
        rate: RateHint::default(),
    })
}

const VALID: &str = r#"{"summary": "s", "root_cause": "r", "confidence": "medium", "impact": "i", "evidence_ids": [], "remediation": [], "follow_ups": []}"#;

fn server_error() -> Result<ChatReply, LlmError> {
    Err(LlmError::Server {
        status: 503,
        message: "unavailable".into(),
        retry_after: None,
    })
}

struct Rig {
    llm: ResilientLlm,
    script: Arc<Scripted>,
    sleeper: Arc<ClockSleeper>,
    _dir: tempfile::TempDir,
}

fn rig(replies: Vec<Result<ChatReply, LlmError>>, tune: impl FnOnce(&mut LlmConfig)) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-26T10:00:00Z");
    let script = Arc::new(Scripted {
        replies: Mutex::new(replies.into()),
        requests: Mutex::default(),
    });
    let sleeper = Arc::new(ClockSleeper::new(clock.clone()));
    let mut config = LlmConfig::new(ProviderKind::OpenAi, "http://unused", "test-model");
    config.backoff_base = Duration::from_secs(1);
    config.breaker.consecutive_failures = 100;
    config.breaker.min_calls = 100;
    tune(&mut config);
    let llm = ResilientLlm::new(
        config,
        Parts {
            llm: script.clone(),
            store: Arc::new(LocalStore::open(dir.path()).unwrap()),
            clock: Arc::new(clock),
            sleeper: sleeper.clone(),
            jitter: Arc::new(FixedJitter(0.5)),
        },
    );
    Rig {
        llm,
        script,
        sleeper,
        _dir: dir,
    }
}

fn prompt() -> Prompt {
    Prompt {
        system: "sys".into(),
        user: "evidence".into(),
        tokens: 100,
        omitted: Vec::new(),
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_jittered_exponential_backoff() {
    let r = rig(vec![server_error(), server_error(), text(VALID)], |_| {});
    let answer = r.llm.analyze(&prompt()).await.unwrap();
    assert!(matches!(answer, Answer::Structured(_)));
    assert_eq!(
        r.sleeper.slept(),
        [Duration::from_millis(500), Duration::from_secs(1)]
    );
}

#[tokio::test]
async fn retry_after_is_honoured_and_a_wait_past_the_deadline_gives_up_at_once() {
    let limited = |s| {
        Err(LlmError::RateLimited {
            retry_after: Some(Duration::from_secs(s)),
        })
    };
    let r = rig(vec![limited(7), text(VALID)], |_| {});
    r.llm.analyze(&prompt()).await.unwrap();
    assert_eq!(r.sleeper.slept(), [Duration::from_secs(7)]);

    let r = rig(vec![limited(600)], |c| {
        c.deadline = Duration::from_mins(1);
    });
    let err = r.llm.analyze(&prompt()).await.unwrap_err();
    assert!(matches!(err, LlmError::RateLimited { .. }), "{err}");
    assert!(r.sleeper.slept().is_empty());
}

#[tokio::test]
async fn quota_and_request_errors_are_not_retried_and_attempts_are_bounded() {
    let r = rig(
        vec![Err(LlmError::QuotaExhausted {
            message: "no credit".into(),
        })],
        |_| {},
    );
    assert!(matches!(
        r.llm.analyze(&prompt()).await,
        Err(LlmError::QuotaExhausted { .. })
    ));
    assert_eq!(r.script.requests.lock().unwrap().len(), 1);

    let r = rig(vec![server_error(), server_error(), server_error()], |c| {
        c.max_attempts = 3;
    });
    assert!(matches!(
        r.llm.analyze(&prompt()).await,
        Err(LlmError::Server { .. })
    ));
    assert_eq!(r.script.requests.lock().unwrap().len(), 3);
    assert_eq!(r.sleeper.slept().len(), 2);
}

#[tokio::test]
async fn an_invalid_answer_gets_one_repair_request_naming_the_problem() {
    let r = rig(vec![text(r#"{"summary": "s"}"#), text(VALID)], |_| {});
    assert!(matches!(
        r.llm.analyze(&prompt()).await.unwrap(),
        Answer::Structured(_)
    ));
    let requests = r.script.requests.lock().unwrap();
    let repair = &requests[1].messages;
    assert_eq!(repair.len(), 3);
    assert_eq!(repair[1].role, Role::Assistant);
    assert!(
        repair[2].content.contains("missing field"),
        "{}",
        repair[2].content
    );
}

#[tokio::test]
async fn a_second_invalid_answer_is_kept_as_unstructured_text() {
    let r = rig(
        vec![text("The pod crashes."), text("It is the config, really.")],
        |_| {},
    );
    let Answer::Unstructured { text, error } = r.llm.analyze(&prompt()).await.unwrap() else {
        panic!()
    };
    assert_eq!(text, "It is the config, really.");
    assert!(error.contains("not a JSON object"));
    assert_eq!(
        r.script.requests.lock().unwrap().len(),
        2,
        "exactly one repair attempt"
    );
}

#[tokio::test]
async fn the_request_rate_limit_makes_the_next_call_wait() {
    let r = rig(vec![text(VALID), text(VALID)], |c| {
        c.requests_per_minute = 1;
    });
    r.llm.analyze(&prompt()).await.unwrap();
    r.llm.analyze(&prompt()).await.unwrap();
    assert_eq!(r.sleeper.slept(), [Duration::from_mins(1)]);
}
