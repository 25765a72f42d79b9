//! What a mirror knows about its store's health: state, generation, ages, the last failure,
//! and the category of that failure that is safe to show callers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::StoreError;
use crate::mirror::data::MirrorData;
use crate::schema::Kind;

/// Where a mirror stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MirrorState {
    /// No copy yet; the first load is running or being retried.
    Loading,
    /// The table has no `$inited` marker for this prefix: nothing to serve.
    NeverSynced,
    /// No copy, and the last attempt failed in a way no retry fixes by itself: the table does
    /// not exist, the credentials or policy refuse it, or its keys are not LaunchDarkly's
    /// layout (the last error says which). Retried anyway, in case someone fixes it.
    Misconfigured,
    /// The copy is what DynamoDB held at the last check.
    Current,
    /// The last check failed: the copy is served as last read.
    Stale,
}

/// Why a mirror cannot read its store, or could not at its last check.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ReadFailure {
    /// The first load has not finished yet.
    #[error("the flag data is still being loaded from DynamoDB")]
    Loading,
    /// The table holds no initialized data set for this prefix.
    #[error("the table \"{table}\" has no \"$inited\" marker{}: it was never synced (run the syncer), or the prefix does not match the syncer's", prefix.as_deref().map(|p| format!(" under the prefix \"{p}\"")).unwrap_or_else(|| " (no prefix)".to_string()))]
    NeverSynced {
        /// The table.
        table: String,
        /// The prefix read.
        prefix: Option<String>,
    },
    /// DynamoDB did not answer before the deadline.
    #[error("DynamoDB did not answer within {limit:?} while {what} on table \"{table}\"")]
    Timeout {
        /// The table.
        table: String,
        /// What the mirror was doing.
        what: &'static str,
        /// The deadline.
        limit: Duration,
    },
    /// A DynamoDB request failed.
    #[error(transparent)]
    Store(Arc<StoreError>),
}

/// The kind of a [`ReadFailure`] or of any DynamoDB failure, with what to check: what answers
/// to callers carry instead of AWS messages (which can name accounts, roles and ARNs). The
/// syncer names its DynamoDB failures with it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureKind {
    /// Still loading.
    Loading,
    /// Never synced, or a prefix mismatch.
    NeverSynced,
    /// The table does not exist in this account and region.
    TableMissing,
    /// Credentials or IAM policy refuse the read.
    AccessDenied,
    /// The table's keys are not LaunchDarkly's layout.
    WrongKeySchema,
    /// DynamoDB cannot be reached or did not answer in time.
    Unreachable,
    /// DynamoDB is throttling the reads.
    Throttled,
    /// DynamoDB answered with an error.
    Unavailable,
}

impl FailureKind {
    /// True for failures a retry does not fix until someone changes a setting, a policy or
    /// the table.
    pub fn needs_a_fix(self) -> bool {
        matches!(
            self,
            FailureKind::TableMissing | FailureKind::AccessDenied | FailureKind::WrongKeySchema
        )
    }

    /// The name callers see (`TABLE_MISSING`, ...), as it serializes.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Loading => "LOADING",
            FailureKind::NeverSynced => "NEVER_SYNCED",
            FailureKind::TableMissing => "TABLE_MISSING",
            FailureKind::AccessDenied => "ACCESS_DENIED",
            FailureKind::WrongKeySchema => "WRONG_KEY_SCHEMA",
            FailureKind::Unreachable => "UNREACHABLE",
            FailureKind::Throttled => "THROTTLED",
            FailureKind::Unavailable => "UNAVAILABLE",
        }
    }

    /// One sentence saying what to check, with no detail of the account.
    pub fn hint(self) -> &'static str {
        match self {
            FailureKind::Loading => "the flag data is still being loaded from DynamoDB; retry in a moment",
            FailureKind::NeverSynced => "the flag table was never synced for this prefix: run the syncer, and check that LAUNCHDARKLY_DYNAMODB_PREFIX matches the syncer's",
            FailureKind::TableMissing => "the flag table does not exist in this account and region: check LAUNCHDARKLY_DYNAMODB_TABLE and AWS_REGION",
            FailureKind::AccessDenied => "the function may not use the flag table: check its IAM role (readers need dynamodb:BatchGetItem, dynamodb:GetItem and dynamodb:Query on the table; the syncer GetItem, Query, UpdateItem, and PutItem, DeleteItem and ConditionCheckItem for its transactions)",
            FailureKind::WrongKeySchema => "the flag table's key schema is not LaunchDarkly's layout: check LAUNCHDARKLY_DYNAMODB_TABLE, or create a table with partition key \"namespace\" (S) and sort key \"key\" (S)",
            FailureKind::Unreachable => "DynamoDB could not be reached in time: check the network, AWS_REGION and any endpoint override",
            FailureKind::Throttled => "DynamoDB is throttling the flag table: check its capacity",
            FailureKind::Unavailable => "DynamoDB answered with an error: see the function's log",
        }
    }
}

impl ReadFailure {
    /// The category of this failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            ReadFailure::Loading => FailureKind::Loading,
            ReadFailure::NeverSynced { .. } => FailureKind::NeverSynced,
            ReadFailure::Timeout { .. } => FailureKind::Unreachable,
            ReadFailure::Store(err) => FailureKind::of(err),
        }
    }
}

impl FailureKind {
    /// The category of a DynamoDB failure (any operation, reads or writes).
    pub fn of(err: &StoreError) -> FailureKind {
        match err.aws_code() {
            Some("ResourceNotFoundException") => FailureKind::TableMissing,
            Some(
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "MissingAuthenticationTokenException"
                | "no credentials",
            ) => FailureKind::AccessDenied,
            Some("dispatch failure" | "timeout") => FailureKind::Unreachable,
            Some("ValidationException") if err.to_string().contains("key schema") => {
                FailureKind::WrongKeySchema
            }
            Some(code) if crate::error::is_throttling_code(code) => FailureKind::Throttled,
            _ => match err {
                StoreError::Deadline { .. } => FailureKind::Unreachable,
                _ => FailureKind::Unavailable,
            },
        }
    }
}

/// The mirror's record of its checks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Health {
    pub never_synced: bool,
    pub generation_synced_at: Option<SystemTime>,
    pub confirmed_at: Option<SystemTime>,
    pub failing_since: Option<SystemTime>,
    pub last_error: Option<ReadFailure>,
    pub last_error_at: Option<SystemTime>,
    pub failing: bool,
    pub full_load_at: Option<tokio::time::Instant>,
}

/// A mirror's health as a person and a monitor read it.
#[derive(Clone, Debug)]
pub struct MirrorStatus {
    /// Where the mirror stands.
    pub state: MirrorState,
    /// The data generation served; `None` for a table without one (or no copy).
    pub generation: Option<u64>,
    /// When the sync that wrote the served generation (or a later one without changes)
    /// finished, if the table has a generation row.
    pub synced_at: Option<SystemTime>,
    /// When DynamoDB last confirmed that the copy was current.
    pub confirmed_at: Option<SystemTime>,
    /// Since when checks fail, while they do.
    pub failing_since: Option<SystemTime>,
    /// The last failure, kept after recovery so a person can see what happened.
    pub last_error: Option<ReadFailure>,
    /// When the last failure happened.
    pub last_error_at: Option<SystemTime>,
    /// Live flags in the copy.
    pub flags: usize,
    /// Live segments in the copy.
    pub segments: usize,
}

impl MirrorStatus {
    /// How old the served data may be: the time since DynamoDB last confirmed it.
    pub fn data_age(&self) -> Option<Duration> {
        self.confirmed_at
            .map(|at| SystemTime::now().duration_since(at).unwrap_or_default())
    }

    /// True when answers come from a copy the last check could not confirm.
    pub fn is_stale(&self) -> bool {
        self.state == MirrorState::Stale
    }
}

impl Health {
    fn last_failure_needs_a_fix(&self) -> bool {
        self.last_error
            .as_ref()
            .is_some_and(|failure| failure.kind().needs_a_fix())
    }

    pub(crate) fn status(&self, data: Option<&MirrorData>) -> MirrorStatus {
        let state = match (data, self.never_synced, self.failing) {
            (None, true, _) => MirrorState::NeverSynced,
            (None, false, true) if self.last_failure_needs_a_fix() => MirrorState::Misconfigured,
            (None, false, _) => MirrorState::Loading,
            (Some(_), _, true) => MirrorState::Stale,
            (Some(_), _, false) => MirrorState::Current,
        };
        MirrorStatus {
            state,
            generation: data.and_then(MirrorData::generation),
            synced_at: self.generation_synced_at,
            confirmed_at: self.confirmed_at,
            failing_since: self.failing_since,
            last_error: self.last_error.clone(),
            last_error_at: self.last_error_at,
            flags: data.map_or(0, |d| d.live(Kind::Flags)),
            segments: data.map_or(0, |d| d.live(Kind::Segments)),
        }
    }
}
