//! The store conformance suite against the S3 adapter on a real local S3 endpoint
//! (moto, started by scripts/test). Requests are SigV4-signed by the SDK.

use std::sync::Arc;

use aiops_tests::conformance::TestStore;
use aiops_tests::services::fresh_s3_store;
use aiops_tests::store_conformance;

async fn s3_store() -> TestStore {
    TestStore {
        store: Arc::new(fresh_s3_store().await),
        guard: Box::new(()),
    }
}

store_conformance!(s3_store, 10);
