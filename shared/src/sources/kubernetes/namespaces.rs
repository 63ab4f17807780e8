//! Namespaces with their labels and annotations: listed page by page (`limit` and
//! `continue`), so a caller holds one page at a time, and read one by one for the
//! policy's label lookup.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};

use super::kube_error;
use crate::sources::{NamespaceInfo, NamespacePage, SourceError};

/// One page of at most `limit` namespaces after `continue_token`.
pub(super) async fn page(
    client: &kube::Client,
    limit: u32,
    continue_token: Option<&str>,
) -> Result<NamespacePage, SourceError> {
    let mut params = ListParams::default().limit(limit.max(1));
    if let Some(token) = continue_token {
        params = params.continue_token(token);
    }
    let list = Api::<Namespace>::all(client.clone())
        .list(&params)
        .await
        .map_err(|e| match e {
            // The token outlived the list's snapshot (etcd compaction): the caller
            // must start again; a later nightly run will.
            kube::Error::Api(status) if status.code == 410 => SourceError::failed(
                "listing namespaces: the continue token expired (410 Gone); the list \
                 changed too much while it was read",
                true,
            ),
            other => kube_error("listing namespaces", other),
        })?;
    let continue_token = list.metadata.continue_.filter(|c| !c.is_empty());
    let items = list
        .items
        .into_iter()
        .filter_map(|ns| {
            let meta = ns.metadata;
            Some(NamespaceInfo {
                name: meta.name?,
                labels: meta.labels.unwrap_or_default(),
                annotations: meta.annotations.unwrap_or_default(),
            })
        })
        .collect();
    Ok(NamespacePage {
        items,
        continue_token,
    })
}

/// The labels of `namespace`; `None` when it does not exist.
pub(super) async fn labels(
    client: &kube::Client,
    namespace: &str,
) -> Result<Option<BTreeMap<String, String>>, SourceError> {
    let found = Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await
        .map_err(|e| kube_error("reading the namespace", e))?;
    Ok(found.map(|ns| ns.metadata.labels.unwrap_or_default()))
}
