//! The prompt stays within its budget, keeps what matters first, aggregates and
//! collapses, says what it left out, and never carries a secret.

use super::*;
use crate::analyzers::tests::{crash_looping_web, event, log};
use crate::evidence::EvidenceBundle;

/// A word per number, so generated log lines do not collapse into one shape.
pub(crate) fn word(mut n: usize) -> String {
    let mut w = String::new();
    loop {
        w.push(char::from(b'a' + u8::try_from(n % 26).unwrap()));
        n /= 26;
        if n == 0 {
            return w;
        }
    }
}

fn big_bundle(lines: usize, events: usize) -> EvidenceBundle {
    let mut b = crash_looping_web();
    let pod = "web-6f9c7b8d4-zz9kq";
    for i in 0..events {
        // Many records of few (reason, object) pairs, as an unaggregated collector leaves them.
        let reason = ["BackOff", "Unhealthy", "Pulled", "Created"][i % 4];
        let object = format!("web-{}", i % 50);
        let kind = if reason == "Pulled" || reason == "Created" {
            "Normal"
        } else {
            "Warning"
        };
        b.events.push(event(
            100 + i,
            kind,
            reason,
            &object,
            &format!("{reason} happened on {object}"),
            1,
        ));
    }
    for i in 0..lines {
        let (level, msg) = match i % 10 {
            0 => (
                "error",
                format!("request failed: upstream {} refused", word(i % 500)),
            ),
            1..=3 => (
                "warn",
                format!("slow query on {} took {}ms", word(i % 300), i % 997),
            ),
            _ => (
                "info",
                format!("GET /api/items/{} 200 in {}ms", word(i), i % 89),
            ),
        };
        b.logs
            .push(log(100 + i, "2026-11-26T04:00:00Z", pod, level, &msg));
    }
    b
}

#[test]
fn a_large_bundle_stays_within_the_budget_and_says_what_was_left_out() {
    let b = big_bundle(20_000, 2_000);
    let p = build(&b, &Redactor::default(), 4_000);
    let counted = tokens::count(&p.system)
        + tokens::count(&p.user)
        + tokens::count(&schema::rca_schema().to_string());
    assert!(counted <= 4_000, "{counted}");
    assert!(p.tokens <= 4_000 && p.tokens >= counted, "{}", p.tokens);
    assert!(
        p.tokens > 3_000,
        "the budget is used, not wasted: {}",
        p.tokens
    );
    assert!(
        p.omitted.iter().any(|o| o.starts_with("logs: ")),
        "{:?}",
        p.omitted
    );
    assert!(
        p.user
            .contains("## Left out to stay within the token budget")
    );
    for o in &p.omitted {
        assert!(p.user.contains(o.as_str()));
    }
}

#[test]
fn errors_and_the_lines_before_a_termination_come_before_other_logs() {
    let b = big_bundle(2_000, 0);
    let p = build(&b, &Redactor::default(), 3_000);
    let tail = p
        .user
        .find("Last lines before web-6f9c7b8d4-q7w4z/web terminated (Error exit code 2")
        .expect("tail");
    let crash_line = p.user.find("[log/1] ").expect("the error before the crash");
    let error = p
        .user
        .find("request failed: upstream")
        .expect("errors kept");
    let info = p.user.find("GET /api/items").unwrap_or(usize::MAX);
    assert!(
        tail < crash_line && crash_line < error && error < info,
        "{}",
        p.user
    );
}

#[test]
fn repeated_lines_are_collapsed_and_events_aggregated_by_reason_and_object() {
    let mut b = crash_looping_web();
    let pod = b.pods[0].name.clone();
    for i in 0..500 {
        b.logs.push(log(
            100 + i,
            "2026-11-26T04:00:00Z",
            &pod,
            "warn",
            &format!("retrying connection attempt {i}"),
        ));
    }
    for i in 0..30 {
        let mut e = event(
            200 + i,
            "Warning",
            "BackOff",
            &pod,
            "Back-off restarting failed container",
            2,
        );
        e.first_seen = Some(crate::analyzers::tests::t(&format!(
            "2026-11-26T04:{:02}:00Z",
            10 + i
        )));
        e.last_seen = e.first_seen;
        b.events.push(e);
    }
    let p = build(&b, &Redactor::default(), 12_000);
    assert_eq!(
        p.user.matches("retrying connection attempt").count(),
        1,
        "{}",
        p.user
    );
    assert!(p.user.contains("(x500 similar"));
    // The fixture's own BackOff group (count 6) merges with the 30 records of 2.
    assert!(
        p.user.contains(
            "(x66, first 2026-11-26T04:10:00Z, last 2026-11-26T04:51:31Z) [31 records merged]"
        ),
        "{}",
        p.user
    );
    assert!(p.omitted.is_empty(), "{:?}", p.omitted);
}

#[test]
fn secrets_in_the_evidence_are_redacted_again() {
    let mut b = crash_looping_web();
    let pod = b.pods[0].name.clone();
    b.logs.push(log(
        50,
        "2026-11-26T05:03:00Z",
        &pod,
        "error",
        "login failed password=hunter2 key AKIAIOSFODNN7EXAMPLE",
    ));
    let p = build(&b, &Redactor::default(), 12_000);
    assert!(!p.user.contains("hunter2"), "{}", p.user);
    assert!(!p.user.contains("AKIAIOSFODNN7EXAMPLE"));
    assert!(p.user.contains("[REDACTED"));
}

#[test]
fn a_tiny_budget_still_yields_a_prompt_within_it() {
    let b = big_bundle(1_000, 100);
    let p = build(&b, &Redactor::default(), 1_000);
    assert!(p.tokens <= 1_000, "{}", p.tokens);
    assert!(!p.omitted.is_empty());
}
