//! One sync: take the lease, fetch everything from LaunchDarkly, validate, apply the diff,
//! release. Any failure before the apply writes nothing; the apply itself never deletes or
//! marks anything unless every write succeeded.

use std::time::Duration;

use aws_config::SdkConfig;
use bytes::Bytes;
use launchdarkly_dynamo_store::{ApplyReport, DynamoDbStore, DynamoDbStoreBuilder, StoreError};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::Config;
use crate::launchdarkly::{FetchError, Fetched, LaunchDarklyClient};
use crate::lease::{Lease, LeaseError};
use crate::secrets::{CachedSecret, Secret, SecretError};
use crate::validate::{self, InvalidBody, Skipped};

/// What started a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Webhook,
    Schedule,
    Manual,
    Cli,
}

/// The result of a successful sync, as returned to callers and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub status: &'static str,
    pub trigger: Trigger,
    pub flags: usize,
    pub segments: usize,
    pub written: usize,
    pub unchanged: usize,
    pub deleted: usize,
    pub skipped: Vec<Skipped>,
    /// LaunchDarkly answered 304: nothing changed since this container's last sync.
    pub not_modified: bool,
    pub ms: u64,
}

/// Why a sync failed. Each message says what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the SDK key parameter \"{0}\" does not exist in SSM: create it with `aws ssm put-parameter --name {0} --type SecureString --value <sdk-key>`")]
    MissingSdkKey(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error("fetching flags from LaunchDarkly failed, nothing was written: {0}")]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    InvalidBody(#[from] InvalidBody),
    #[error("writing to DynamoDB failed: {0}")]
    Store(#[from] StoreError),
}

/// What a warm container remembers between syncs.
struct LastSync {
    etag: String,
    flags: usize,
    segments: usize,
}

/// The syncer of one table and environment; built once per container.
pub struct Syncer {
    config: Config,
    store: DynamoDbStore,
    dynamo: aws_sdk_dynamodb::Client,
    launchdarkly: LaunchDarklyClient,
    sdk_key: CachedSecret,
    webhook_secret: Option<CachedSecret>,
    last: Mutex<Option<LastSync>>,
}

impl Syncer {
    /// Builds the clients from `aws` (the standard AWS configuration chain).
    pub async fn new(config: Config, aws: &SdkConfig) -> anyhow::Result<Self> {
        Self::with_clients(
            config,
            aws_sdk_dynamodb::Client::new(aws),
            aws_sdk_ssm::Client::new(aws),
        )
        .await
    }

    /// Builds the syncer on ready clients.
    pub async fn with_clients(
        config: Config,
        dynamo: aws_sdk_dynamodb::Client,
        ssm: aws_sdk_ssm::Client,
    ) -> anyhow::Result<Self> {
        let mut builder = DynamoDbStoreBuilder::new(&config.table)
            .client(dynamo.clone())
            .write_deadline(config.sync_timeout);
        if let Some(prefix) = &config.prefix {
            builder = builder.prefix(prefix);
        }
        let store = builder.build().await?;
        let launchdarkly = LaunchDarklyClient::new(&config.base_uri, config.http_timeout)?;
        Ok(Self {
            sdk_key: CachedSecret::new(config.sdk_key.clone(), ssm.clone(), config.secrets_ttl),
            webhook_secret: config
                .webhook_secret
                .clone()
                .map(|source| CachedSecret::new(source, ssm, config.secrets_ttl)),
            config,
            store,
            dynamo,
            launchdarkly,
            last: Mutex::new(None),
        })
    }

    /// The webhook secret: `Ok(None)` when none is configured or its SSM parameter is missing.
    pub async fn webhook_secret(&self) -> Result<Option<Secret>, SecretError> {
        let Some(secret) = &self.webhook_secret else {
            return Ok(None);
        };
        let value = secret.get().await?;
        if value.is_none() {
            tracing::warn!(
                "the webhook secret parameter \"{}\" does not exist in SSM: webhook signatures are NOT checked; create it to turn the check on",
                secret.parameter().unwrap_or_default()
            );
        }
        Ok(value)
    }

    /// Runs one full sync within `deadline` (and the configured sync timeout).
    ///
    /// A warm container first revalidates the data it applied last with `If-None-Match`: a 304
    /// means the table already holds LaunchDarkly's current data, so nothing is written. Any
    /// apply happens under the lease, with data fetched (or confirmed current) after taking it.
    pub async fn sync(&self, trigger: Trigger, deadline: Instant) -> Result<Summary, SyncError> {
        let started = Instant::now();
        let deadline = deadline.min(started + self.config.sync_timeout);
        let sdk_key = self.sdk_key.get().await?.ok_or_else(|| {
            SyncError::MissingSdkKey(self.sdk_key.parameter().unwrap_or_default().to_string())
        })?;
        let mut last = self.last.lock().await;
        let mut candidate = None;
        if let Some(previous) = last.as_ref() {
            match self
                .launchdarkly
                .fetch_all(&sdk_key, Some(&previous.etag), deadline)
                .await?
            {
                Fetched::NotModified if self.store.is_initialized().await? => {
                    return Ok(Summary {
                        status: "ok",
                        trigger,
                        flags: previous.flags,
                        segments: previous.segments,
                        written: 0,
                        unchanged: previous.flags + previous.segments,
                        deleted: 0,
                        skipped: Vec::new(),
                        not_modified: true,
                        ms: elapsed_ms(started),
                    });
                }
                Fetched::Data {
                    body,
                    etag: Some(etag),
                } => candidate = Some((body, etag)),
                _ => {}
            }
        }
        let ttl = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
        let lease = Lease::acquire(
            &self.dynamo,
            &self.config.table,
            self.config.prefix.as_deref(),
            ttl,
            deadline,
        )
        .await?;
        let result = self
            .fetch_and_apply(trigger, &sdk_key, candidate, deadline, started)
            .await;
        lease.release().await;
        match result {
            Ok((summary, remembered)) => {
                *last = remembered;
                Ok(summary)
            }
            Err(err) => {
                // The table may hold part of a newer data set now: revalidate nothing next time.
                *last = None;
                Err(err)
            }
        }
    }

    /// Under the lease: fetch (or confirm that `candidate` is still current), validate, apply.
    async fn fetch_and_apply(
        &self,
        trigger: Trigger,
        sdk_key: &Secret,
        candidate: Option<(Bytes, String)>,
        deadline: Instant,
        started: Instant,
    ) -> Result<(Summary, Option<LastSync>), SyncError> {
        let (body, etag) = match candidate {
            Some((body, etag)) => match self
                .launchdarkly
                .fetch_all(sdk_key, Some(&etag), deadline)
                .await?
            {
                Fetched::NotModified => (body, Some(etag)),
                Fetched::Data { body, etag } => (body, etag),
            },
            None => match self.launchdarkly.fetch_all(sdk_key, None, deadline).await? {
                Fetched::Data { body, etag } => (body, etag),
                Fetched::NotModified => {
                    return Err(SyncError::Fetch(FetchError::GaveUp {
                        attempts: 1,
                        last: "LaunchDarkly answered 304 to a request without If-None-Match"
                            .to_string(),
                    }))
                }
            },
        };
        let parsed = validate::parse(&body)?;
        let report = self.store.apply_snapshot(&parsed.snapshot).await?;
        let summary = summarize(trigger, &parsed, &report, started);
        // Remember the ETag only when everything was applied, so a skipped item is retried.
        let remembered = etag
            .filter(|_| summary.skipped.is_empty())
            .map(|etag| LastSync {
                etag,
                flags: parsed.flags,
                segments: parsed.segments,
            });
        Ok((summary, remembered))
    }
}

fn summarize(
    trigger: Trigger,
    parsed: &validate::Parsed,
    report: &ApplyReport,
    started: Instant,
) -> Summary {
    let mut skipped = parsed.malformed.clone();
    skipped.extend(report.skipped_oversize.iter().map(|item| Skipped {
        kind: item.kind.namespace(),
        key: item.key.clone(),
        reason: "too large for DynamoDB (400 KB item limit)".to_string(),
    }));
    Summary {
        status: "ok",
        trigger,
        flags: parsed.flags,
        segments: parsed.segments,
        written: report.written.len(),
        unchanged: report.unchanged,
        deleted: report.deleted.len(),
        skipped,
        not_modified: false,
        ms: elapsed_ms(started),
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
