//! The store conformance suite against the local-directory adapter, plus the
//! cross-process guarantee only the local adapter has to earn itself.

use std::process::Command;
use std::sync::Arc;

use aiops_tests::conformance::{TestStore, read_counter};
use aiops_tests::store_conformance;
use shared::store::LocalStore;

// Async to match the factory shape `store_conformance!` expects (the S3 one awaits).
#[allow(clippy::unused_async)]
async fn local_store() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalStore::open(dir.path()).expect("open local store");
    TestStore {
        store: Arc::new(store),
        guard: Box::new(dir),
    }
}

store_conformance!(local_store, 50);

#[tokio::test]
async fn separate_processes_lose_no_update() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (processes, increments) = (4, 25);
    let children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_store-increment"))
                .arg(dir.path())
                .arg("race/counter")
                .arg(increments.to_string())
                .spawn()
                .expect("spawn store-increment")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success());
    }
    let store = LocalStore::open(dir.path()).expect("open");
    assert_eq!(
        read_counter(&store, "race/counter").await,
        processes * increments
    );
}

#[tokio::test]
async fn bookkeeping_files_never_show_up_as_keys() {
    let t = local_store().await;
    t.store
        .put_if_absent("a/b.json", bytes::Bytes::from_static(b"{}"))
        .await
        .expect("put");
    assert_eq!(t.store.list("").await.expect("list"), vec!["a/b.json"]);
}
