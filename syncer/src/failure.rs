//! What a failed sync tells a caller on the internet: the kind of failure and what to check,
//! never the AWS message (it can name the account, roles and ARNs), parameter names or item
//! keys. The full error goes to the function's log; the operator's CLI and manual invokes
//! keep it.

use launchdarkly_dynamo_store::mirror::FailureKind;
use launchdarkly_dynamo_store::StoreError;
use launchdarkly_dynamo_sync::LeaseError;
use serde::Serialize;

use crate::launchdarkly::FetchError;
use crate::secrets::SecretError;
use crate::validate::InvalidBody;

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
    #[error("LaunchDarkly's data set would delete {deleting} of the {stored} flags in the table (the limit: every flag, or more than {limit_percent}% of them); nothing was written. Check LAUNCHDARKLY_SDK_KEY_PARAM names this environment's SDK key and LAUNCHDARKLY_BASE_URI serves it; if the flags really were removed, run one sync with LAUNCHDARKLY_ALLOW_MASS_DELETE=true (`syncer sync --allow-mass-delete`, or invoke the function with {{\"allowMassDelete\": true}})")]
    MassDeletion {
        deleting: usize,
        stored: usize,
        limit_percent: u8,
    },
    #[error(transparent)]
    Store(StoreError),
    /// Another sync held the lease all along, or the lease settings are wrong.
    #[error(transparent)]
    Lease(LeaseError),
}

impl From<LeaseError> for SyncError {
    fn from(err: LeaseError) -> Self {
        match err {
            LeaseError::Store(store) => store.into(),
            other => SyncError::Lease(other),
        }
    }
}

impl From<StoreError> for SyncError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::MassDeletion {
                deleting,
                stored,
                limit_percent,
                ..
            } => SyncError::MassDeletion {
                deleting,
                stored,
                limit_percent,
            },
            other => SyncError::Store(other),
        }
    }
}

impl SyncError {
    /// True for failures that a later attempt may not see (LaunchDarkly or DynamoDB busy,
    /// failing or slow, another sync holding the lease, the time budget), as opposed to
    /// settings and data an operator has to fix.
    pub fn is_transient(&self) -> bool {
        FailureCategory::of(self).is_transient()
    }
}

/// The kind of a [`SyncError`], as webhook answers name it: the syncer's own kinds, and the
/// store's [`FailureKind`] for DynamoDB failures (one vocabulary with the readers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureCategory {
    /// The SDK key or its parameter is missing or unreadable.
    SdkKeyMissing,
    /// LaunchDarkly refused the SDK key.
    SdkKeyRefused,
    /// LaunchDarkly could not be reached, or kept failing, within the budget.
    LaunchdarklyUnavailable,
    /// `LAUNCHDARKLY_BASE_URI` redirects elsewhere, or in a loop.
    Redirected,
    /// LaunchDarkly's answer is larger than the configured limit.
    ResponseTooLarge,
    /// LaunchDarkly's answer is not a complete data set.
    InvalidData,
    /// `syncer sync --from-file`: the file cannot be read.
    DataFileUnreadable,
    /// The data set would delete too many stored flags.
    MassDeletionRefused,
    /// Another sync held the lease, or took it over: it writes the data.
    Busy,
    /// DynamoDB failed (`TABLE_MISSING`, `ACCESS_DENIED`, `THROTTLED`, ...), named as the
    /// readers name it.
    #[serde(untagged)]
    Store(FailureKind),
}

impl FailureCategory {
    /// The category of `err`.
    pub fn of(err: &SyncError) -> Self {
        match err {
            SyncError::MissingSdkKey(_) | SyncError::Secret(_) => FailureCategory::SdkKeyMissing,
            SyncError::Fetch(fetch) => match fetch {
                FetchError::Unauthorized(_) => FailureCategory::SdkKeyRefused,
                FetchError::CrossOriginRedirect { .. } | FetchError::TooManyRedirects { .. } => {
                    FailureCategory::Redirected
                }
                FetchError::TooLarge { .. } => FailureCategory::ResponseTooLarge,
                FetchError::File { .. } => FailureCategory::DataFileUnreadable,
                FetchError::Status { .. }
                | FetchError::GaveUp { .. }
                | FetchError::Unreachable { .. } => FailureCategory::LaunchdarklyUnavailable,
            },
            SyncError::InvalidBody(_) => FailureCategory::InvalidData,
            SyncError::MassDeletion { .. } => FailureCategory::MassDeletionRefused,
            SyncError::Store(StoreError::LeaseLost { .. })
            | SyncError::Lease(LeaseError::Busy { .. }) => FailureCategory::Busy,
            SyncError::Lease(_) => FailureCategory::Store(FailureKind::Unavailable),
            SyncError::Store(store) => FailureCategory::Store(FailureKind::of(store)),
        }
    }

    /// True when a later attempt may succeed without anyone changing anything.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureCategory::LaunchdarklyUnavailable
                | FailureCategory::InvalidData
                | FailureCategory::Busy
                | FailureCategory::Store(
                    FailureKind::Unreachable | FailureKind::Throttled | FailureKind::Unavailable
                )
        )
    }

    /// What to check, in one sentence with no detail of the account.
    pub fn hint(self) -> &'static str {
        match self {
            FailureCategory::SdkKeyMissing => "the SDK key could not be read: check that its parameter exists and that the function may read it",
            FailureCategory::SdkKeyRefused => "LaunchDarkly refused the SDK key: put the environment's server-side SDK key in the SDK key parameter",
            FailureCategory::LaunchdarklyUnavailable => "LaunchDarkly could not be reached or kept failing: the sync is retried; check LAUNCHDARKLY_BASE_URI and the function's network if it persists",
            FailureCategory::Redirected => "LAUNCHDARKLY_BASE_URI redirects to another origin or in a loop: set it to the URL that serves the data",
            FailureCategory::ResponseTooLarge => "LaunchDarkly's answer is larger than LAUNCHDARKLY_MAX_RESPONSE_MB: raise it with the function's memory",
            FailureCategory::InvalidData => "LaunchDarkly's answer was not a complete data set: nothing was written; the sync is retried",
            FailureCategory::DataFileUnreadable => "the data file given to `syncer sync --from-file` could not be read: check its path and size",
            FailureCategory::MassDeletionRefused => "the data set would delete most or all stored flags: check the SDK key's environment; see the README to allow a deliberate clean-up",
            FailureCategory::Busy => "another sync is writing the table and brings the latest data",
            FailureCategory::Store(kind) => kind.hint(),
        }
    }
}

/// The one shape of every error the syncer answers or prints: `{"status": "error", "error":
/// ..., "kind": ..., "hint": ...}`, the last two when the failure has a category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    status: &'static str,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<FailureCategory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'static str>,
}

impl ErrorBody {
    /// An error with no failure category (a refused webhook, a bad request).
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            status: "error",
            error: error.into(),
            kind: None,
            hint: None,
        }
    }

    /// A failed sync: `error` (what the caller may see) with its category and what to check.
    pub fn failed(category: FailureCategory, error: impl Into<String>) -> Self {
        Self {
            kind: Some(category),
            hint: Some(category.hint()),
            ..Self::new(error)
        }
    }

    /// As JSON.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({"status": "error"}))
    }
}
