//! One sync: take a ticket, wait for the lease (or for another sync that answers this
//! trigger), fetch everything from LaunchDarkly, validate, apply the diff under the lease's
//! fence, release. Any failure before the apply writes nothing; the apply itself never deletes
//! or marks anything unless every write succeeded, and none of its writes can land once
//! another sync has taken the lease.

use std::time::Duration;

use aws_config::SdkConfig;
use bytes::Bytes;
use launchdarkly_dynamo_store::{
    ApplyOptions, ApplyReport, Compare, Coverage, DynamoDbStore, DynamoDbStoreBuilder, StoreError,
    SyncCoordinator, SyncLease, Turn,
};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::Config;
use crate::launchdarkly::{FetchError, Fetched, LaunchDarklyClient};
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

impl Trigger {
    /// Webhooks arrive on every change: they take the cheap version diff and may stop at a
    /// 304. Every other trigger reconciles by content, repairing rows changed behind the syncer.
    fn reconciles(self) -> bool {
        self != Trigger::Webhook
    }

    fn coverage(self) -> Coverage {
        if self.reconciles() {
            Coverage::Reconciled
        } else {
            Coverage::Any
        }
    }
}

/// The result of a sync that did not fail, as returned to callers and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `ok`, or `partial` when some items were skipped (see `skipped`).
    pub status: &'static str,
    pub trigger: Trigger,
    pub flags: usize,
    pub segments: usize,
    pub written: usize,
    /// Rows whose version was right but content wrong, rewritten (reconciling syncs only).
    pub repaired: usize,
    pub unchanged: usize,
    pub deleted: usize,
    pub skipped: Vec<Skipped>,
    /// LaunchDarkly answered 304: nothing changed since this container's last sync.
    pub not_modified: bool,
    /// Another sync that started fetching after this trigger arrived succeeded: this trigger
    /// fetched and wrote nothing itself.
    pub covered: bool,
    /// Stored items were compared by content, not just version.
    pub reconciled: bool,
    pub ms: u64,
}

impl Summary {
    fn empty(trigger: Trigger, started: Instant) -> Self {
        Self {
            status: "ok",
            trigger,
            flags: 0,
            segments: 0,
            written: 0,
            repaired: 0,
            unchanged: 0,
            deleted: 0,
            skipped: Vec::new(),
            not_modified: false,
            covered: false,
            reconciled: false,
            ms: elapsed_ms(started),
        }
    }

    /// True when some items were not written (malformed, oversize, unstorable key).
    pub fn is_partial(&self) -> bool {
        !self.skipped.is_empty()
    }
}

/// Why a sync failed. Each message says what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the SDK key parameter \"{0}\" does not exist in SSM: create it with `aws ssm put-parameter --name {0} --type SecureString --value <sdk-key>`")]
    MissingSdkKey(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("fetching flags from LaunchDarkly failed, nothing was written: {0}")]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    InvalidBody(#[from] InvalidBody),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// True for failures that a later attempt may not see (LaunchDarkly or DynamoDB busy,
    /// another sync holding the lease, the time budget), as opposed to configuration errors.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Fetch(FetchError::Unauthorized(_)) => false,
            SyncError::Fetch(_) => true,
            SyncError::Store(err) => matches!(
                err,
                StoreError::LeaseBusy { .. }
                    | StoreError::LeaseLost { .. }
                    | StoreError::Deadline { .. }
                    | StoreError::Incomplete { .. }
            ),
            _ => false,
        }
    }
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
    coordinator: SyncCoordinator,
    launchdarkly: LaunchDarklyClient,
    sdk_key: CachedSecret,
    webhook_secret: Option<CachedSecret>,
    unsigned_warned: std::sync::atomic::AtomicBool,
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
            .client(dynamo)
            .write_deadline(config.sync_timeout);
        if let Some(prefix) = &config.prefix {
            builder = builder.prefix(prefix);
        }
        let store = builder.build().await?;
        let coordinator = store.coordinator(config.lease_period);
        let launchdarkly = LaunchDarklyClient::new(
            &config.base_uri,
            config.http_timeout,
            config.max_response_bytes,
        )?;
        Ok(Self {
            sdk_key: CachedSecret::new(config.sdk_key.clone(), ssm.clone(), config.secrets_ttl),
            webhook_secret: config
                .webhook_secret
                .clone()
                .map(|source| CachedSecret::new(source, ssm, config.secrets_ttl)),
            config,
            store,
            coordinator,
            launchdarkly,
            unsigned_warned: std::sync::atomic::AtomicBool::new(false),
            last: Mutex::new(None),
        })
    }

    /// The webhook secret: `Ok(None)` when none is configured or its SSM parameter is missing.
    /// While signatures are not checked, one WARN line per container says so.
    pub async fn webhook_secret(&self) -> Result<Option<Secret>, SecretError> {
        let value = match &self.webhook_secret {
            Some(secret) => secret.get().await?,
            None => None,
        };
        if value.is_none()
            && !self
                .unsigned_warned
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            match self.webhook_secret.as_ref().and_then(|s| s.parameter()) {
                Some(parameter) => tracing::warn!(
                    "the webhook secret parameter \"{parameter}\" does not exist in SSM: webhook signatures are NOT checked; create it to turn the check on"
                ),
                None => tracing::warn!(
                    "no webhook secret is configured: webhook signatures are NOT checked; set LAUNCHDARKLY_WEBHOOK_SECRET_PARAM to turn the check on"
                ),
            }
        }
        Ok(value)
    }

    /// Runs one full sync within `deadline` (and the configured sync timeout).
    ///
    /// A webhook in a warm container first revalidates the data it applied last with
    /// `If-None-Match`: a 304 means the table already holds LaunchDarkly's current data, so
    /// nothing is written. Otherwise the trigger takes a ticket and waits for the lease; if a
    /// sync that started fetching after the ticket succeeds meanwhile, that sync answers this
    /// trigger too. The holder fetches, then applies under the lease's fence.
    pub async fn sync(&self, trigger: Trigger, deadline: Instant) -> Result<Summary, SyncError> {
        let started = Instant::now();
        let deadline = deadline.min(started + self.config.sync_timeout);
        let sdk_key = self.sdk_key.get().await?.ok_or_else(|| {
            SyncError::MissingSdkKey(self.sdk_key.parameter().unwrap_or_default().to_string())
        })?;
        let mut last = self.last.lock().await;
        let mut candidate = None;
        if let (false, Some(previous)) = (trigger.reconciles(), last.as_ref()) {
            match self
                .launchdarkly
                .fetch_all(&sdk_key, Some(&previous.etag), deadline)
                .await?
            {
                Fetched::NotModified if self.store.is_initialized().await? => {
                    return Ok(Summary {
                        flags: previous.flags,
                        segments: previous.segments,
                        unchanged: previous.flags + previous.segments,
                        not_modified: true,
                        ..Summary::empty(trigger, started)
                    });
                }
                Fetched::Data {
                    body,
                    etag: Some(etag),
                } => candidate = Some((body, etag)),
                _ => {}
            }
        }
        let ticket = self.coordinator.ticket(trigger.coverage()).await?;
        let lease = match self.coordinator.wait_turn(&ticket, deadline).await? {
            Turn::Covered => {
                return Ok(Summary {
                    covered: true,
                    reconciled: trigger.reconciles(),
                    ..Summary::empty(trigger, started)
                })
            }
            Turn::Held(lease) => lease,
        };
        // A webhook that holds the lease reconciles too when a waiting trigger asked for it, so
        // one sync answers everyone who arrived before it fetched.
        let reconcile = trigger.reconciles() || lease.must_reconcile();
        let result = self
            .fetch_and_apply(
                trigger, reconcile, &sdk_key, candidate, &lease, deadline, started,
            )
            .await;
        let coverage = if reconcile {
            Coverage::Reconciled
        } else {
            Coverage::Any
        };
        lease.release(result.is_ok().then_some(coverage)).await;
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
    #[allow(clippy::too_many_arguments)]
    async fn fetch_and_apply(
        &self,
        trigger: Trigger,
        reconcile: bool,
        sdk_key: &Secret,
        candidate: Option<(Bytes, String)>,
        lease: &SyncLease,
        deadline: Instant,
        started: Instant,
    ) -> Result<(Summary, Option<LastSync>), SyncError> {
        let (body, etag) = self.fetch_current(sdk_key, candidate, deadline).await?;
        let parsed = validate::parse(&body)?;
        drop(body);
        let compare = if reconcile {
            Compare::Content
        } else {
            Compare::Versions
        };
        let options = ApplyOptions::default()
            .fenced_by(lease)
            .deadline(deadline)
            .compare(compare);
        let report = self.store.apply(&parsed.snapshot, options).await?;
        let summary = Summary {
            reconciled: reconcile,
            ..summarize(trigger, &parsed, &report, started)
        };
        // Remember the ETag only when everything was applied, so a skipped item is retried.
        let remembered = etag.filter(|_| !summary.is_partial()).map(|etag| LastSync {
            etag,
            flags: parsed.flags,
            segments: parsed.segments,
        });
        Ok((summary, remembered))
    }

    /// The current data: `candidate` if LaunchDarkly confirms it with a 304, else a full fetch.
    async fn fetch_current(
        &self,
        sdk_key: &Secret,
        candidate: Option<(Bytes, String)>,
        deadline: Instant,
    ) -> Result<(Bytes, Option<String>), SyncError> {
        if let Some((body, etag)) = candidate {
            return Ok(
                match self
                    .launchdarkly
                    .fetch_all(sdk_key, Some(&etag), deadline)
                    .await?
                {
                    Fetched::NotModified => (body, Some(etag)),
                    Fetched::Data { body, etag } => (body, etag),
                },
            );
        }
        match self.launchdarkly.fetch_all(sdk_key, None, deadline).await? {
            Fetched::Data { body, etag } => Ok((body, etag)),
            Fetched::NotModified => Err(SyncError::Fetch(FetchError::GaveUp {
                attempts: 1,
                last: "LaunchDarkly answered 304 to a request without If-None-Match".to_string(),
            })),
        }
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
        status: if skipped.is_empty() { "ok" } else { "partial" },
        flags: parsed.flags,
        segments: parsed.segments,
        written: report.written.len(),
        repaired: report.repaired.len(),
        unchanged: report.unchanged,
        deleted: report.deleted.len(),
        skipped,
        ..Summary::empty(trigger, started)
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Lease periods shorter than this make renewals too frequent to be worth it.
pub const MIN_LEASE_PERIOD: Duration = Duration::from_secs(2);
