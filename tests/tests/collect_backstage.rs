//! The catalog adapter against a real Backstage catalog backend (tests/backstage,
//! started by scripts/test).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aiops_tests::services;
use shared::sources::backstage::BackstageCatalog;
use shared::sources::{Catalog, EntityRef, SourceError, Workload, component_ref};

fn entity(text: &str) -> EntityRef {
    component_ref(text).unwrap()
}

#[tokio::test]
async fn the_real_catalog_gives_owner_system_links_and_the_kubernetes_annotations() {
    let (url, token) = services::backstage();
    let catalog = BackstageCatalog::new(&url, &token, Duration::from_secs(10)).unwrap();
    let web = catalog
        .entity(&entity("component:default/web"))
        .await
        .unwrap();
    assert_eq!(web.entity_ref, "component:default/web");
    assert_eq!(web.owner.as_deref(), Some("group:default/web"));
    assert_eq!(web.system.as_deref(), Some("storefront"));
    assert_eq!(web.lifecycle.as_deref(), Some("production"));
    assert_eq!(web.links[0].url, "https://grafana.example.com/d/web");
    assert_eq!(web.links[0].title.as_deref(), Some("Dashboard"));
    assert_eq!(web.kubernetes_id.as_deref(), Some("web"));
    assert_eq!(web.kubernetes_namespace.as_deref(), Some("web-dev"));
    assert_eq!(
        Workload::locate("web", Some(&web), "web-dev").selector,
        "backstage.io/kubernetes-id=web"
    );

    let billing = catalog.entity(&entity("billing")).await.unwrap();
    assert_eq!(
        Workload::locate("billing", Some(&billing), "billing-staging").selector,
        "app.kubernetes.io/name=billing,tier in (api,worker)"
    );
}

#[tokio::test]
async fn a_missing_entity_and_a_wrong_token_are_told_apart() {
    let (url, token) = services::backstage();
    let catalog = BackstageCatalog::new(&url, &token, Duration::from_secs(10)).unwrap();
    let missing = catalog
        .entity(&entity("component:default/nope"))
        .await
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "entity component:default/nope not found"
    );

    let wrong = BackstageCatalog::new(&url, "not-the-token", Duration::from_secs(10)).unwrap();
    let err = wrong
        .entity(&entity("component:default/web"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("AIOPS_BACKSTAGE_TOKEN"), "{err}");
}
