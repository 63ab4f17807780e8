//! The store conformance suite: every `Store` adapter must pass it unchanged.
//! [`store_conformance!`](crate::store_conformance) expands it into one test per
//! behaviour for an adapter.

use std::sync::Arc;

use bytes::Bytes;
use shared::store::{Store, StoreError, Update, Version, update};

/// A store under test, plus whatever must live as long as it (a temporary directory).
pub struct TestStore {
    /// The adapter under test.
    pub store: Arc<dyn Store>,
    /// Dropped with the store.
    pub guard: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for TestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStore")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn value_of(store: &dyn Store, key: &str) -> Option<String> {
    store
        .get(key)
        .await
        .expect("get")
        .map(|v| String::from_utf8(v.value.to_vec()).expect("utf-8"))
}

/// A missing key reads as `None`, not an error.
pub async fn get_of_a_missing_key_is_none(store: &dyn Store) {
    assert_eq!(store.get("runs/missing.json").await.expect("get"), None);
}

/// put-if-absent creates a key once; a second one conflicts and leaves the value.
pub async fn put_if_absent_creates_once(store: &dyn Store) {
    let v1 = store
        .put_if_absent("runs/a.json", bytes("first"))
        .await
        .expect("first put");
    let got = store
        .get("runs/a.json")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.value, bytes("first"));
    assert_eq!(
        got.version, v1,
        "the version returned by a write is the one read back"
    );

    let err = store
        .put_if_absent("runs/a.json", bytes("second"))
        .await
        .expect_err("second put-if-absent must conflict");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(
        value_of(store, "runs/a.json").await.as_deref(),
        Some("first")
    );
}

/// put-if-match with the current version replaces the value and changes the version.
pub async fn put_if_match_replaces_the_current_version(store: &dyn Store) {
    let v1 = store.put_if_absent("k/one", bytes("1")).await.expect("put");
    let v2 = store
        .put_if_match("k/one", bytes("2"), &v1)
        .await
        .expect("put-if-match with the current version");
    assert_ne!(v1, v2);
    let got = store.get("k/one").await.expect("get").expect("present");
    assert_eq!((got.value, got.version), (bytes("2"), v2));
}

/// put-if-match with a stale version conflicts and leaves the newer value in place.
pub async fn put_if_match_with_a_stale_version_conflicts(store: &dyn Store) {
    let v1 = store.put_if_absent("k/two", bytes("1")).await.expect("put");
    store
        .put_if_match("k/two", bytes("2"), &v1)
        .await
        .expect("second write");
    let err = store
        .put_if_match("k/two", bytes("stale"), &v1)
        .await
        .expect_err("a stale version must conflict");
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(value_of(store, "k/two").await.as_deref(), Some("2"));

    let err = store
        .put_if_match("k/two", bytes("made-up"), &Version("\"nonsense\"".into()))
        .await
        .expect_err("a made-up version must conflict");
    assert!(err.is_conflict(), "{err:?}");
}

/// put-if-match on a key that does not exist (or no longer exists) conflicts.
pub async fn put_if_match_on_a_missing_key_conflicts(store: &dyn Store) {
    let v = store
        .put_if_absent("k/gone", bytes("x"))
        .await
        .expect("put");
    store.delete("k/gone").await.expect("delete");
    let err = store
        .put_if_match("k/gone", bytes("y"), &v)
        .await
        .expect_err("the key was deleted since it was read");
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(store.get("k/gone").await.expect("get"), None);
}

/// delete removes a key, is idempotent, and the key can be created again.
pub async fn delete_is_idempotent(store: &dyn Store) {
    store.put_if_absent("d/x", bytes("x")).await.expect("put");
    store.delete("d/x").await.expect("delete");
    store
        .delete("d/x")
        .await
        .expect("deleting a missing key is fine");
    assert_eq!(store.get("d/x").await.expect("get"), None);
    store
        .put_if_absent("d/x", bytes("again"))
        .await
        .expect("re-create after delete");
    assert_eq!(value_of(store, "d/x").await.as_deref(), Some("again"));
}

/// list returns exactly the keys under a prefix, sorted, across nested "directories".
pub async fn list_returns_sorted_keys_under_a_prefix(store: &dyn Store) {
    for key in [
        "runs/2026-11-26-b.json",
        "runs/2026-11-26-a.json",
        "runs/2026-11-25-z.json",
        "evidence/r1.json",
        "breakers/openai.json",
        "audits/namespaces/2026-11-26.json",
    ] {
        store.put_if_absent(key, bytes(key)).await.expect("put");
    }
    assert_eq!(
        store.list("runs/").await.expect("list"),
        vec![
            "runs/2026-11-25-z.json",
            "runs/2026-11-26-a.json",
            "runs/2026-11-26-b.json"
        ]
    );
    assert_eq!(
        store.list("runs/2026-11-26").await.expect("list"),
        vec!["runs/2026-11-26-a.json", "runs/2026-11-26-b.json"]
    );
    assert_eq!(
        store.list("audits/").await.expect("list"),
        vec!["audits/namespaces/2026-11-26.json"]
    );
    assert!(store.list("nothing/").await.expect("list").is_empty());
    assert_eq!(store.list("").await.expect("list").len(), 6);
}

/// Binary and empty values round-trip byte for byte.
pub async fn values_round_trip_byte_for_byte(store: &dyn Store) {
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    store
        .put_if_absent("blob/bin", Bytes::from(binary.clone()))
        .await
        .expect("put");
    store
        .put_if_absent("blob/empty", Bytes::new())
        .await
        .expect("put empty");
    assert_eq!(
        store
            .get("blob/bin")
            .await
            .expect("get")
            .expect("present")
            .value,
        Bytes::from(binary)
    );
    assert!(
        store
            .get("blob/empty")
            .await
            .expect("get")
            .expect("present")
            .value
            .is_empty()
    );
}

/// Keys that could escape the store or collide with bookkeeping are refused.
pub async fn invalid_keys_are_refused(store: &dyn Store) {
    for key in ["", "/etc/passwd", "../outside", "a//b", ".locks/x"] {
        let err = store
            .put_if_absent(key, bytes("x"))
            .await
            .expect_err("invalid key");
        assert!(
            matches!(err, StoreError::InvalidKey { .. }),
            "{key:?}: {err:?}"
        );
        assert!(matches!(
            store.get(key).await,
            Err(StoreError::InvalidKey { .. })
        ));
    }
}

/// The outcome of a counter race.
#[derive(Debug, Clone, Copy)]
pub struct RaceOutcome {
    /// The counter's final value.
    pub total: u64,
    /// Conditional writes that lost and were retried, over all writers.
    pub conflicts: u64,
}

/// `writers` tasks each add 1 to one counter `increments` times with
/// read-modify-conditional-write.
pub async fn counter_race(
    store: Arc<dyn Store>,
    key: &str,
    writers: usize,
    increments: u64,
) -> RaceOutcome {
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (store, key) = (Arc::clone(&store), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for _ in 0..increments {
                conflicts += u64::from(increment(&*store, &key).await);
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.expect("writer task");
    }
    let total = read_counter(&*store, key).await;
    RaceOutcome { total, conflicts }
}

/// Adds 1 to the counter at `key`; returns the conflicts met on the way.
pub async fn increment(store: &dyn Store, key: &str) -> u32 {
    let updated = update(store, key, 100_000, |current| {
        let n = current.map_or(0, parse_counter);
        Update::Write(Bytes::from((n + 1).to_string()), ())
    })
    .await
    .expect("increment");
    updated.conflicts
}

/// The counter at `key` (0 when missing).
pub async fn read_counter(store: &dyn Store, key: &str) -> u64 {
    store
        .get(key)
        .await
        .expect("get")
        .map_or(0, |v| parse_counter(&v.value))
}

fn parse_counter(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("the counter holds a number")
}

/// 16 concurrent writers incrementing one key end with exactly the sum.
pub async fn sixteen_writers_lose_no_update(store: Arc<dyn Store>, increments: u64) {
    let outcome = counter_race(store, "race/counter", 16, increments).await;
    assert_eq!(
        outcome.total,
        16 * increments,
        "lost updates: {} of {} increments survived ({} conflicts retried)",
        outcome.total,
        16 * increments,
        outcome.conflicts
    );
}

/// Expands the suite into one `#[tokio::test]` per behaviour. `$factory` is an async
/// fn returning a fresh, empty [`TestStore`]; `$race_increments` sizes the race.
#[macro_export]
macro_rules! store_conformance {
    ($factory:path, $race_increments:expr) => {
        $crate::store_conformance!(@cases $factory;
            get_of_a_missing_key_is_none,
            put_if_absent_creates_once,
            put_if_match_replaces_the_current_version,
            put_if_match_with_a_stale_version_conflicts,
            put_if_match_on_a_missing_key_conflicts,
            delete_is_idempotent,
            list_returns_sorted_keys_under_a_prefix,
            values_round_trip_byte_for_byte,
            invalid_keys_are_refused
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn sixteen_writers_lose_no_update() {
            let t = $factory().await;
            $crate::conformance::sixteen_writers_lose_no_update(
                ::std::sync::Arc::clone(&t.store),
                $race_increments,
            )
            .await;
        }
    };
    (@cases $factory:path; $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let t = $factory().await;
                $crate::conformance::$case(&*t.store).await;
            }
        )+
    };
}
