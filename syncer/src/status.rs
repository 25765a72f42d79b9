//! `syncer status` (and a manual invoke with `{"status": true}`): one screen a person on call
//! reads. Everything comes from the table's own sync rows and the syncer's settings; nothing
//! from LaunchDarkly.

use std::time::{Duration, SystemTime};

use launchdarkly_dynamo_common::rfc3339;
use launchdarkly_dynamo_store::StoreError;
use launchdarkly_dynamo_sync::{SyncNote, SyncStatus};
use serde::Serialize;
use serde_json::Value;

use crate::sync::Syncer;
use crate::webhook::WebhookAuth;

/// Whether webhooks are checked, as the syncer would treat one now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum WebhookSigning {
    /// Every webhook must carry LaunchDarkly's signature.
    Checked,
    /// Unsigned webhooks are accepted (LAUNCHDARKLY_ALLOW_UNSIGNED_WEBHOOKS).
    Unsigned,
    /// No webhook secret is configured here (a local table, the CLI): syncs from the CLI or
    /// the schedule need none; a webhook would be refused.
    NotConfigured,
    /// Every webhook is refused until this is fixed.
    Refusing { reason: String },
}

/// The report, as JSON and as text.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub table: String,
    pub prefix: Option<String>,
    pub initialized: bool,
    pub generation: Option<u64>,
    /// When the last successful sync finished (a sync that changed nothing refreshes it).
    pub last_success_at: Option<String>,
    pub last_success_age_seconds: Option<u64>,
    /// A sync that died between its writes and its commit left this generation pending.
    pub pending_generation: Option<u64>,
    /// The running sync's lease: when it expires.
    pub running_sync_lease_expires_at: Option<String>,
    pub last_sync: Option<Note>,
    pub last_failure: Option<Note>,
    pub webhook_signing: WebhookSigning,
}

/// A sync's note: its JSON, and when it was written.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub at: String,
    pub age_seconds: u64,
    pub note: Value,
}

impl Syncer {
    /// Reads the status of this syncer's table.
    pub async fn status(&self) -> Result<StatusReport, StoreError> {
        let status = SyncStatus::read(self.store()).await?;
        let signing = match self.webhook_auth().await {
            WebhookAuth::Refused(_) if !self.webhook_secret_configured() => {
                WebhookSigning::NotConfigured
            }
            WebhookAuth::Verify(_) => WebhookSigning::Checked,
            WebhookAuth::Unsigned => WebhookSigning::Unsigned,
            WebhookAuth::Refused(reason) => WebhookSigning::Refusing { reason },
            WebhookAuth::Unreadable(err) => WebhookSigning::Refusing {
                reason: err.to_string(),
            },
        };
        Ok(report(self.table(), self.prefix(), status, signing))
    }
}

fn report(
    table: &str,
    prefix: Option<&str>,
    status: SyncStatus,
    webhook_signing: WebhookSigning,
) -> StatusReport {
    let generation = status.generation.as_ref();
    StatusReport {
        table: table.to_string(),
        prefix: prefix.map(str::to_string),
        initialized: status.initialized,
        generation: generation.map(|g| g.number),
        last_success_at: generation.map(|g| rfc3339(g.synced_at)),
        last_success_age_seconds: generation.map(|g| age(g.synced_at).as_secs()),
        pending_generation: generation.and_then(|g| g.pending),
        running_sync_lease_expires_at: status.holder.map(|h| rfc3339(h.expires_at)),
        last_sync: status.last_sync.map(note),
        last_failure: status.last_failure.map(note),
        webhook_signing,
    }
}

fn note(note: SyncNote) -> Note {
    Note {
        at: rfc3339(note.written_at),
        age_seconds: age(note.written_at).as_secs(),
        note: serde_json::from_str(&note.text).unwrap_or(Value::String(note.text)),
    }
}

fn age(at: SystemTime) -> Duration {
    SystemTime::now().duration_since(at).unwrap_or_default()
}

impl StatusReport {
    /// The screen `syncer status` prints.
    pub fn to_text(&self) -> String {
        let mut lines = vec![
            format!("table            {}{}", self.table, self.prefix_text()),
            format!("data             {}", self.data_text()),
            format!("last success     {}", self.last_success_text()),
        ];
        if let Some(note) = &self.last_sync {
            lines.push(format!("  summary        {}", note.note));
        }
        if let Some(pending) = self.pending_generation {
            lines.push(format!(
                "pending          generation {pending}: a sync died before committing; the next one commits a full reload"
            ));
        }
        lines.push(format!("running sync     {}", self.running_text()));
        lines.push(format!("last failure     {}", self.last_failure_text()));
        lines.push(format!("webhook signing  {}", self.webhook_signing.text()));
        lines.join("\n")
    }

    fn prefix_text(&self) -> String {
        self.prefix
            .as_deref()
            .map(|p| format!(" (prefix {p})"))
            .unwrap_or_default()
    }

    fn data_text(&self) -> String {
        match (self.initialized, self.generation) {
            (false, _) => "NEVER SYNCED (no $inited marker): readers have nothing to serve".into(),
            (true, Some(generation)) => format!("generation {generation}"),
            (true, None) => "synced by another writer (no data generation)".into(),
        }
    }

    fn last_success_text(&self) -> String {
        match (&self.last_success_at, self.last_success_age_seconds) {
            (Some(at), Some(age)) => format!("{at} ({} ago)", human(age)),
            _ => "none recorded".to_string(),
        }
    }

    fn running_text(&self) -> String {
        self.running_sync_lease_expires_at
            .as_deref()
            .map_or("none".to_string(), |at| {
                format!("yes, its lease expires at {at}")
            })
    }

    fn last_failure_text(&self) -> String {
        self.last_failure
            .as_ref()
            .map_or("none recorded".to_string(), |note| {
                format!(
                    "{} ({} ago): {}",
                    note.at,
                    human(note.age_seconds),
                    note.note
                )
            })
    }
}

impl WebhookSigning {
    fn text(&self) -> String {
        match self {
            WebhookSigning::Checked => "checked".to_string(),
            WebhookSigning::Unsigned => "OFF: unsigned webhooks are accepted".to_string(),
            WebhookSigning::NotConfigured => "no webhook secret configured (none needed for the CLI or the schedule; webhooks would be refused until LAUNCHDARKLY_WEBHOOK_SECRET_PARAM names it)".to_string(),
            WebhookSigning::Refusing { reason } => format!("REFUSING every webhook: {reason}"),
        }
    }
}

fn human(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}
