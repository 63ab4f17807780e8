//! The state machine in `infra/` and the chain cannot drift: its task states are the
//! chain's steps in the same order, each retries exactly the retryable error type, and a
//! failure of any step is caught.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use shared::chain::STEP_NAMES;
use shared::error::{LAMBDA_ERROR_TYPES, RETRYABLE_ERROR_TYPE};

fn definition() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../infra/statemachine/rca.asl.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_task_states_are_the_chain_steps_in_order() {
    let def = definition();
    let states = &def["States"];
    let mut order = Vec::new();
    let mut at = def["StartAt"].as_str().unwrap().to_owned();
    loop {
        let state = &states[&at];
        assert_eq!(state["Type"], "Task", "{at} is a task");
        order.push(at.clone());
        let Some(next) = state.get("Next").and_then(Value::as_str) else {
            assert_eq!(state["End"], true, "{at} ends the chain");
            break;
        };
        at = next.to_owned();
    }
    assert_eq!(order, STEP_NAMES.to_vec());
}

#[test]
fn every_step_retries_only_retryable_errors_and_catches_the_rest() {
    let def = definition();
    for name in STEP_NAMES {
        let state = &def["States"][name];
        let retried: Vec<&str> = state["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            retried.contains(&RETRYABLE_ERROR_TYPE),
            "{name}: {retried:?}"
        );
        for error_type in LAMBDA_ERROR_TYPES
            .iter()
            .filter(|t| **t != RETRYABLE_ERROR_TYPE)
        {
            assert!(!retried.contains(error_type), "{name} retries {error_type}");
        }
        assert!(
            !retried.contains(&"States.ALL"),
            "{name} retries everything"
        );
        let catches = state["Catch"].as_array().unwrap();
        assert!(
            catches.iter().any(|c| c["ErrorEquals"][0] == "States.ALL"),
            "{name} catches a failure"
        );
    }
}
