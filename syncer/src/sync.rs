//! One sync: take a ticket, wait for the lease (or for another sync that answers this
//! trigger), fetch everything from LaunchDarkly, validate, apply the diff under the lease's
//! fence, release. Any failure before the apply writes nothing; the apply itself never deletes
//! or marks anything unless every write succeeded, and none of its writes can land once
//! another sync has taken the lease.

use std::time::Duration;

use aws_config::SdkConfig;
use bytes::Bytes;
use launchdarkly_dynamo_store::{
    ApplyOptions, ApplyReport, Compare, DeletionLimit, DynamoDbStore, DynamoDbStoreBuilder,
    StoreError,
};
use launchdarkly_dynamo_sync::{Coverage, NoteKind, SyncCoordinator, SyncLease, SyncNote, Turn};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::Config;
use crate::failure::FailureCategory;
pub use crate::failure::SyncError;
use crate::launchdarkly::{FetchError, Fetched, LaunchDarklyClient};
use crate::secrets::{CachedSecret, Secret};
use crate::validate::{self, Skipped};
use crate::webhook::WebhookAuth;
use launchdarkly_dynamo_common::ssm::SsmClient;

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

/// One sync asked for: what started it, and whether it may delete any number of flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncRequest {
    pub trigger: Trigger,
    /// A deliberate clean-up: the configured deletion limit does not apply to this sync.
    pub allow_mass_delete: bool,
}

impl From<Trigger> for SyncRequest {
    fn from(trigger: Trigger) -> Self {
        Self {
            trigger,
            allow_mass_delete: false,
        }
    }
}

/// Whether a sync that did not fail wrote everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every item LaunchDarkly sent is stored.
    Ok,
    /// Some items were skipped (see `skipped`); their stored rows were kept.
    Partial,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
        })
    }
}

/// The result of a sync that did not fail, as returned to callers and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `ok`, or `partial` when some items were skipped (see `skipped`).
    pub status: Outcome,
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
            status: Outcome::Ok,
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

    /// One line for a person: `4 flags, 1 segment from LaunchDarkly: 1 written, ...`.
    pub fn to_text(&self) -> String {
        let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        let mut line = format!(
            "{}, {} from LaunchDarkly: {} written, {} unchanged, {} deleted",
            plural(self.flags, "flag"),
            plural(self.segments, "segment"),
            self.written,
            self.unchanged,
            self.deleted,
        );
        if self.repaired > 0 {
            line.push_str(&format!(", {} repaired", self.repaired));
        }
        if self.not_modified {
            line = "LaunchDarkly answered 304: nothing changed since the last sync".to_owned();
        } else if self.covered {
            line = "covered by another sync that started after this trigger".to_owned();
        }
        if self.is_partial() {
            line.push_str(&format!(", {} skipped (see the log)", self.skipped.len()));
        }
        format!("{line} ({} ms)", self.ms)
    }
}

/// What a webhook's revalidation found.
enum Revalidated<'a> {
    /// LaunchDarkly answered 304 and the table is initialized: nothing to do.
    Current(&'a LastSync),
    /// A sync is needed; with the body LaunchDarkly just sent, if it did.
    Changed(Option<(Bytes, String)>),
}

/// How long the lease release may take after the sync ended (the budget's stated margin).
const RELEASE_GRACE: Duration = Duration::from_millis(500);

/// How the lease holder applies what it fetches.
struct ApplyPlan {
    trigger: Trigger,
    reconcile: bool,
    deletion_limit: DeletionLimit,
    deadline: Instant,
    started: Instant,
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
            SsmClient::new(aws),
        )
        .await
    }

    /// Builds the syncer on ready clients.
    pub async fn with_clients(
        config: Config,
        dynamo: aws_sdk_dynamodb::Client,
        ssm: SsmClient,
    ) -> anyhow::Result<Self> {
        let mut builder = DynamoDbStoreBuilder::new(&config.table)
            .client(dynamo)
            .write_deadline(config.sync_timeout);
        if let Some(prefix) = &config.prefix {
            builder = builder.prefix(prefix);
        }
        let store = builder.build().await?;
        let coordinator = SyncCoordinator::new(&store, config.lease_period)?;
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

    /// The table this syncer keeps.
    pub fn table(&self) -> &str {
        &self.config.table
    }

    /// The key prefix within the table, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.config.prefix.as_deref()
    }

    pub(crate) fn store(&self) -> &DynamoDbStore {
        &self.store
    }

    /// True when a webhook secret (its parameter, or its value) is configured.
    pub fn webhook_secret_configured(&self) -> bool {
        self.webhook_secret.is_some()
    }

    /// How webhooks are authenticated now. Fails closed: with no secret, webhooks are refused
    /// unless unsigned ones were allowed explicitly (one WARN line per container says so).
    pub async fn webhook_auth(&self) -> WebhookAuth {
        let Some(source) = &self.webhook_secret else {
            if !self.config.allow_unsigned_webhooks {
                return WebhookAuth::Refused(
                    "no webhook secret is configured: set LAUNCHDARKLY_WEBHOOK_SECRET_PARAM to an SSM parameter holding the secret shown in LaunchDarkly's webhook settings (or allow unsigned webhooks with LAUNCHDARKLY_ALLOW_UNSIGNED_WEBHOOKS=true)".to_string(),
                );
            }
            if !self
                .unsigned_warned
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                tracing::warn!(
                    "LAUNCHDARKLY_ALLOW_UNSIGNED_WEBHOOKS is on and no webhook secret is configured: anyone who knows the URL can start syncs"
                );
            }
            return WebhookAuth::Unsigned;
        };
        match source.get().await {
            Ok(Some(secret)) => WebhookAuth::Verify(secret),
            Ok(None) => {
                let parameter = source.parameter().unwrap_or_default();
                WebhookAuth::Refused(format!(
                    "the webhook secret parameter \"{parameter}\" does not exist in SSM: create it with `aws ssm put-parameter --name {parameter} --type SecureString --value <the secret shown in LaunchDarkly's webhook settings>`"
                ))
            }
            Err(err) => WebhookAuth::Unreadable(err),
        }
    }

    /// Runs one full sync within `deadline` (and the configured sync timeout).
    ///
    /// A webhook in a warm container first revalidates the data it applied last with
    /// `If-None-Match`: a 304 means the table already holds LaunchDarkly's current data, so
    /// nothing is written. Otherwise the trigger takes a ticket and waits for the lease; if a
    /// sync that started fetching after the ticket succeeds meanwhile, that sync answers this
    /// trigger too. The holder fetches, then applies under the lease's fence.
    pub async fn sync(
        &self,
        request: impl Into<SyncRequest>,
        deadline: Instant,
    ) -> Result<Summary, SyncError> {
        let request = request.into();
        let deadline = deadline.min(Instant::now() + self.config.sync_timeout);
        let result = self.run(request, deadline).await;
        self.leave_note(request.trigger, &result, deadline).await;
        result
    }

    /// Notes the outcome for `syncer status`, within the grace the budget allows after its
    /// end; a sync that did no work (covered, not modified) leaves the last note as it was.
    async fn leave_note(
        &self,
        trigger: Trigger,
        result: &Result<Summary, SyncError>,
        deadline: Instant,
    ) {
        let (kind, text) = match result {
            Ok(summary) if summary.covered || summary.not_modified => return,
            Ok(summary) => (NoteKind::LastSync, serde_json::to_string(summary)),
            Err(err) => (
                NoteKind::LastFailure,
                serde_json::to_string(&serde_json::json!({
                    "trigger": trigger,
                    "kind": FailureCategory::of(err),
                    "error": err.to_string(),
                })),
            ),
        };
        let Ok(text) = text else { return };
        let grace = (deadline + RELEASE_GRACE)
            .saturating_duration_since(Instant::now())
            .min(RELEASE_GRACE);
        let write = SyncNote::write(&self.store, kind, &text);
        match tokio::time::timeout(grace, write).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::debug!("the sync's status note was not written: {err}"),
            Err(_) => tracing::debug!("the sync's status note was not written in time"),
        }
    }

    /// The sync itself, within `deadline` (already capped by the sync timeout).
    async fn run(&self, request: SyncRequest, deadline: Instant) -> Result<Summary, SyncError> {
        let trigger = request.trigger;
        let started = Instant::now();
        let sdk_key = self.read_sdk_key(deadline).await?;
        let mut last = self.last.lock().await;
        let candidate = match self
            .revalidate(trigger, &sdk_key, last.as_ref(), deadline)
            .await?
        {
            Revalidated::Current(previous) => {
                return Ok(Summary {
                    flags: previous.flags,
                    segments: previous.segments,
                    unchanged: previous.flags + previous.segments,
                    not_modified: true,
                    ..Summary::empty(trigger, started)
                })
            }
            Revalidated::Changed(candidate) => candidate,
        };
        let lease = match self.take_turn(trigger, deadline).await? {
            Turn::Covered => {
                return Ok(Summary {
                    covered: true,
                    reconciled: trigger.reconciles(),
                    ..Summary::empty(trigger, started)
                })
            }
            Turn::Held(lease) => lease,
        };
        let plan = self.plan(&request, &lease, deadline, started);
        let reconcile = plan.reconcile;
        let result = self
            .bounded(
                deadline,
                "fetching and writing",
                // Boxed: the apply's future is large, and test threads' stacks are small.
                Box::pin(self.fetch_and_apply(&plan, &sdk_key, candidate, &lease)),
            )
            .await
            .and_then(|result| result);
        let coverage = match reconcile {
            true => Coverage::Reconciled,
            false => Coverage::Any,
        };
        release(lease, result.is_ok().then_some(coverage)).await;
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

    /// How the lease holder applies what it fetches for `request`.
    fn plan(
        &self,
        request: &SyncRequest,
        lease: &SyncLease,
        deadline: Instant,
        started: Instant,
    ) -> ApplyPlan {
        ApplyPlan {
            trigger: request.trigger,
            // A webhook that holds the lease reconciles too when a waiting trigger asked for
            // it, so one sync answers everyone who arrived before it fetched.
            reconcile: request.trigger.reconciles() || lease.must_reconcile(),
            deletion_limit: match request.allow_mass_delete {
                true => DeletionLimit::Unlimited,
                false => self.config.deletion_limit,
            },
            deadline,
            started,
        }
    }

    /// The SDK key, from its parameter (none when the data set comes from a file).
    async fn read_sdk_key(&self, deadline: Instant) -> Result<Secret, SyncError> {
        if self.config.from_file.is_some() {
            // Never sent anywhere: the data set is the file's.
            return Ok(Secret::new(""));
        }
        self.bounded(deadline, "reading the SDK key", self.sdk_key.get())
            .await??
            .ok_or_else(|| {
                SyncError::MissingSdkKey(self.sdk_key.parameter().unwrap_or_default().to_string())
            })
    }

    /// A ticket for `trigger`, then the lease or another sync that answers the ticket.
    async fn take_turn(&self, trigger: Trigger, deadline: Instant) -> Result<Turn, SyncError> {
        let turn = self.bounded(
            deadline,
            "waiting for the sync lease",
            Box::pin(async {
                let ticket = self.coordinator.ticket(trigger.coverage()).await?;
                self.coordinator.wait_turn(&ticket, deadline).await
            }),
        );
        Ok(turn.await??)
    }

    /// A webhook in a warm container asks LaunchDarkly whether the data it applied last is
    /// still current (`If-None-Match`); every other trigger reconciles, so it never stops here.
    async fn revalidate<'a>(
        &self,
        trigger: Trigger,
        sdk_key: &Secret,
        last: Option<&'a LastSync>,
        deadline: Instant,
    ) -> Result<Revalidated<'a>, SyncError> {
        let Some(previous) = last.filter(|_| !trigger.reconciles()) else {
            return Ok(Revalidated::Changed(None));
        };
        let fetched = self
            .launchdarkly
            .fetch_all(sdk_key, Some(&previous.etag), deadline)
            .await?;
        Ok(match fetched {
            Fetched::NotModified => {
                let initialized = self.store.is_initialized();
                match self
                    .bounded(deadline, "checking the table", initialized)
                    .await??
                {
                    true => Revalidated::Current(previous),
                    false => Revalidated::Changed(None),
                }
            }
            Fetched::Data {
                body,
                etag: Some(etag),
            } => Revalidated::Changed(Some((body, etag))),
            Fetched::Data { .. } => Revalidated::Changed(None),
        })
    }

    /// Runs `work` until `deadline`: no step of a sync outlives its budget.
    async fn bounded<T>(
        &self,
        deadline: Instant,
        phase: &'static str,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, SyncError> {
        tokio::time::timeout_at(deadline, work).await.map_err(|_| {
            SyncError::Store(StoreError::Deadline {
                table: self.config.table.clone(),
                phase,
            })
        })
    }

    /// Under the lease: fetch (or confirm that `candidate` is still current), validate, apply.
    async fn fetch_and_apply(
        &self,
        plan: &ApplyPlan,
        sdk_key: &Secret,
        candidate: Option<(Bytes, String)>,
        lease: &SyncLease,
    ) -> Result<(Summary, Option<LastSync>), SyncError> {
        let (body, etag) = self
            .fetch_current(sdk_key, candidate, plan.deadline)
            .await?;
        let parsed = validate::parse(&body)?;
        drop(body);
        let compare = if plan.reconcile {
            Compare::Content
        } else {
            Compare::Versions
        };
        let options = ApplyOptions::default()
            .fenced_by(lease)
            .deadline(plan.deadline)
            .compare(compare)
            .deletion_limit(plan.deletion_limit);
        let report = self.store.apply(&parsed.snapshot, options).await?;
        let summary = Summary {
            reconciled: plan.reconcile,
            ..summarize(plan.trigger, &parsed, &report, plan.started)
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
        let fetched = match &self.config.from_file {
            Some(path) => {
                crate::launchdarkly::read_data_file(path, self.config.max_response_bytes)?
            }
            None => self.launchdarkly.fetch_all(sdk_key, None, deadline).await?,
        };
        match fetched {
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
        kind: item.kind,
        key: item.key.clone(),
        reason: "too large for DynamoDB (400 KB item limit)".to_string(),
    }));
    Summary {
        status: match skipped.is_empty() {
            true => Outcome::Ok,
            false => Outcome::Partial,
        },
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

/// Gives the lease back (recording `covered` when the sync succeeded). Renewal stops here; a
/// release DynamoDB does not answer in time only makes the next sync wait for it to expire.
async fn release(lease: SyncLease, covered: Option<Coverage>) {
    if tokio::time::timeout(RELEASE_GRACE, lease.release(covered))
        .await
        .is_err()
    {
        tracing::warn!(
            "releasing the sync lease took longer than {RELEASE_GRACE:?}; the next sync waits until it expires"
        );
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
