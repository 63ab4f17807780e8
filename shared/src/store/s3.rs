//! The S3 store: conditional writes with `If-None-Match: *` and `If-Match: <etag>`.
//!
//! A lost condition arrives as 412 Precondition Failed, or 409 ConditionalRequestConflict
//! when two conditional writes race; an `If-Match` on a key deleted meanwhile is 404.
//! All three mean "re-read and retry" and map to [`StoreError::Conflict`].

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::{Store, StoreError, Version, Versioned, validate_key};

/// Bucket, key prefix and endpoint of an S3 store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// A key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// An S3-compatible endpoint URL (`http://127.0.0.1:5000`), or `None` for AWS.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which S3-compatible servers need.
    pub path_style: bool,
}

/// A store in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    location: S3Location,
}

impl S3Store {
    /// Builds a client from the standard AWS configuration chain (environment, profile,
    /// Lambda execution role).
    pub async fn from_env(location: S3Location) -> Self {
        let sdk = aws_config::load_from_env().await;
        Self::new(&sdk, location)
    }

    /// Builds a client from an explicit SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig, location: S3Location) -> Self {
        let mut builder = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(location.path_style)
            // S3-compatible servers do not all speak the newer default checksums.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &location.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(builder.build()),
            location,
        }
    }

    /// The bucket and prefix this store writes to.
    pub fn location(&self) -> &S3Location {
        &self.location
    }

    fn object_key(&self, key: &str) -> String {
        if self.location.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.location.prefix)
        }
    }

    async fn put(
        &self,
        key: &str,
        value: Bytes,
        if_match: Option<&Version>,
    ) -> Result<Version, StoreError> {
        validate_key(key)?;
        let mut request = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.object_key(key))
            .body(ByteStream::from(value));
        request = match if_match {
            None => request.if_none_match("*"),
            Some(version) => request.if_match(&version.0),
        };
        match request.send().await {
            Ok(out) => {
                out.e_tag()
                    .map(|t| Version(t.to_owned()))
                    .ok_or_else(|| StoreError::Backend {
                        key: key.to_owned(),
                        message: "the S3 server returned no ETag for a write".into(),
                        retryable: false,
                        source: None,
                    })
            }
            Err(err) => {
                let status = http_status(&err);
                if matches!(status, Some(409 | 412)) || (if_match.is_some() && status == Some(404))
                {
                    Err(StoreError::Conflict {
                        key: key.to_owned(),
                    })
                } else {
                    Err(sdk_error(key, "PutObject", err))
                }
            }
        }
    }
}

#[async_trait]
impl Store for S3Store {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        validate_key(key)?;
        let result = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(self.object_key(key))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(GetObjectError::is_no_such_key) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(sdk_error(key, "GetObject", err)),
        };
        let version = Version(out.e_tag().unwrap_or_default().to_owned());
        let value = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::backend(key, "reading the S3 object body failed", true, e))?
            .into_bytes();
        Ok(Some(Versioned { value, version }))
    }

    async fn put_if_absent(&self, key: &str, value: Bytes) -> Result<Version, StoreError> {
        self.put(key, value, None).await
    }

    async fn put_if_match(
        &self,
        key: &str,
        value: Bytes,
        version: &Version,
    ) -> Result<Version, StoreError> {
        self.put(key, value, Some(version)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.location.bucket)
            .key(self.object_key(key))
            .send()
            .await
            .map_err(|e| sdk_error(key, "DeleteObject", e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let full_prefix = self.object_key(prefix);
        let strip = if self.location.prefix.is_empty() {
            0
        } else {
            self.location.prefix.len() + 1
        };
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(&full_prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(prefix, "ListObjectsV2", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| k.get(strip..))
                    .map(str::to_owned),
            );
        }
        keys.sort();
        Ok(keys)
    }
}

fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn sdk_error<E>(key: &str, operation: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = http_status(&err);
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        _ => status.is_some_and(|s| s == 429 || s >= 500),
    };
    let code = err.code().unwrap_or("unknown").to_owned();
    let message = match status {
        Some(s) => format!("S3 {operation} failed with HTTP {s} ({code})"),
        None => format!("S3 {operation} failed: {}", aws_error_chain(&err)),
    };
    StoreError::backend(key, message, retryable, err)
}

fn aws_error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
