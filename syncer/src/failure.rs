//! What a failed sync tells a caller on the internet: the kind of failure and what to check,
//! never the AWS message (it can name the account, roles and ARNs), parameter names or item
//! keys. The full error goes to the function's log; the operator's CLI and manual invokes
//! keep it.

use launchdarkly_dynamo_store::mirror::FailureKind;
use launchdarkly_dynamo_store::StoreError;
use serde::Serialize;

use crate::launchdarkly::FetchError;
use crate::sync::SyncError;

/// The kind of a [`SyncError`], as webhook answers name it.
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
    /// The table does not exist.
    TableMissing,
    /// The function may not use the table.
    AccessDenied,
    /// The table's keys are not LaunchDarkly's layout.
    WrongKeySchema,
    /// DynamoDB could not be reached in time.
    Unreachable,
    /// DynamoDB is throttling.
    Throttled,
    /// DynamoDB answered with errors.
    Unavailable,
    /// Another sync held the lease, or took it over: it writes the data.
    Busy,
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
            SyncError::Store(StoreError::LeaseBusy { .. } | StoreError::LeaseLost { .. }) => {
                FailureCategory::Busy
            }
            SyncError::Store(store) => match FailureKind::of(store) {
                FailureKind::TableMissing => FailureCategory::TableMissing,
                FailureKind::AccessDenied => FailureCategory::AccessDenied,
                FailureKind::WrongKeySchema => FailureCategory::WrongKeySchema,
                FailureKind::Unreachable => FailureCategory::Unreachable,
                FailureKind::Throttled => FailureCategory::Throttled,
                _ => FailureCategory::Unavailable,
            },
        }
    }

    /// True when a later attempt may succeed without anyone changing anything.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureCategory::LaunchdarklyUnavailable
                | FailureCategory::InvalidData
                | FailureCategory::Unreachable
                | FailureCategory::Throttled
                | FailureCategory::Unavailable
                | FailureCategory::Busy
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
            FailureCategory::TableMissing => "the flag table does not exist in this account and region: check LAUNCHDARKLY_DYNAMODB_TABLE and the deployment",
            FailureCategory::AccessDenied => "the function may not use the flag table: check its IAM role (dynamodb:Query, GetItem, UpdateItem, TransactWriteItems on the table)",
            FailureCategory::WrongKeySchema => "the flag table's key schema is not LaunchDarkly's layout: use a table with partition key \"namespace\" (S) and sort key \"key\" (S)",
            FailureCategory::Unreachable => "DynamoDB did not answer in time: the sync is retried; check the table's metrics and the function's network",
            FailureCategory::Throttled => "DynamoDB is throttling the table: the sync is retried; check its capacity",
            FailureCategory::Unavailable => "DynamoDB answered with errors: the sync is retried; see the function's log",
            FailureCategory::Busy => "another sync is writing the table and brings the latest data",
        }
    }
}
