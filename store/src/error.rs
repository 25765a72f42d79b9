//! Typed errors of the store, each with a message a person can act on.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use launchdarkly_server_sdk::PersistentStoreError;

use crate::report::{ApplyReport, ItemRef};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The builder was given an empty table name.
    #[error("the DynamoDB table name is empty: set the name of an existing table whose partition key is \"namespace\" (S) and sort key is \"key\" (S)")]
    EmptyTableName,

    /// A DynamoDB request failed (after the AWS SDK's own retries).
    #[error("DynamoDB {operation} on table \"{table}\" failed: {code}: {message}{hint}")]
    Dynamo {
        /// The DynamoDB operation, e.g. `Query`.
        operation: &'static str,
        /// The table name.
        table: String,
        /// The AWS error code, or the kind of transport failure.
        code: String,
        /// The error message.
        message: String,
        /// What to check, when the code says it.
        hint: &'static str,
    },

    /// Some writes of a batch were still unprocessed when the write deadline passed, or failed.
    /// Nothing that depends on them (deletes, the "initialized" marker) was written.
    #[error("DynamoDB BatchWriteItem on table \"{table}\" could not write {} item(s) before the deadline ({cause}): {}; nothing was deleted and the \"$inited\" marker was not written, so the previous data stays readable: retry the sync", failed.len(), list_keys(failed))]
    Incomplete {
        /// The table name.
        table: String,
        /// The items that were not written or deleted.
        failed: Vec<ItemRef>,
        /// The last error seen, or "throttled" for unprocessed items.
        cause: String,
        /// What was done before giving up.
        report: Box<ApplyReport>,
    },

    /// Another sync took the lease over while this one was writing. DynamoDB refused this
    /// sync's remaining writes; the other sync brings newer data.
    #[error("another sync took over the sync lease on table \"{table}\" while this sync was writing (it was too slow to renew it, or was paused); this sync stopped, none of its remaining writes can land, and the other sync writes the newer data")]
    LeaseLost {
        /// The table name.
        table: String,
    },

    /// The time budget ran out.
    #[error("the time budget ran out while {phase} on table \"{table}\"; nothing was deleted and the previous data stays readable: DynamoDB is slow or throttling (check the table's metrics), or raise the sync timeout")]
    Deadline {
        /// The table name.
        table: String,
        /// What the store was doing.
        phase: &'static str,
    },

    /// A stored row could not be read as a flag or segment.
    #[error("the item \"{}\" in \"{}\" of table \"{table}\" could not be read: {reason}; rewrite it with a LaunchDarkly sync", item.key, item.kind)]
    UnreadableItem {
        /// The table name.
        table: String,
        /// The row.
        item: ItemRef,
        /// What is wrong with it.
        reason: String,
    },

    /// The data set would delete more of the stored flags than the apply's
    /// [`DeletionLimit`](crate::DeletionLimit) allows. Nothing was written.
    #[error("refusing to delete {deleting} of the {stored} flags stored in table \"{table}\" (the limit is every flag, or more than {limit_percent}% of them): nothing was written")]
    MassDeletion {
        /// The table name.
        table: String,
        /// Flags the data set no longer has.
        deleting: usize,
        /// Flags stored.
        stored: usize,
        /// The share allowed.
        limit_percent: u8,
    },

    /// Loading the AWS configuration or starting the store's runtime failed.
    #[error("could not set up the DynamoDB store: {0}")]
    Setup(String),
}

fn list_keys(items: &[ItemRef]) -> String {
    const SHOWN: usize = 20;
    let mut listed: Vec<String> = items.iter().take(SHOWN).map(ToString::to_string).collect();
    if items.len() > SHOWN {
        listed.push(format!("and {} more", items.len() - SHOWN));
    }
    listed.join(", ")
}

impl StoreError {
    /// Builds a [`StoreError::Dynamo`] from an AWS SDK error, keeping the AWS error code.
    pub(crate) fn dynamo<E>(
        operation: &'static str,
        table: &str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, message) = describe_aws_error(&err);
        Self::dynamo_parts(operation, table, code, message)
    }

    /// Builds a [`StoreError::Dynamo`] from an error code and message already read.
    pub(crate) fn dynamo_parts(
        operation: &'static str,
        table: &str,
        code: String,
        message: String,
    ) -> Self {
        let hint = match code.as_str() {
            "ResourceNotFoundException" => " (does the table exist in this region and account? The store never creates it)",
            "AccessDeniedException" | "UnrecognizedClientException" => {
                " (check the credentials and that the IAM policy allows this action on the table)"
            }
            NO_CREDENTIALS => " (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; in Lambda the function's role provides them)",
            "dispatch failure" | "timeout" => " (is the DynamoDB endpoint reachable? Check AWS_REGION, AWS_ENDPOINT_URL and the network)",
            "ValidationException" if is_key_schema_message(&message) => {
                " (the table's key schema is not LaunchDarkly's layout: it needs partition key \"namespace\" (S) and sort key \"key\" (S); create a table with those keys)"
            }
            UNAVAILABLE => " (DynamoDB, or something in front of it, is failing: the previous data stays readable; retry later)",
            NOT_DYNAMODB => " (the endpoint did not answer like DynamoDB: check AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB and AWS_REGION)",
            _ => "",
        };
        StoreError::Dynamo {
            operation,
            table: table.to_string(),
            code,
            message,
            hint,
        }
    }

    /// The AWS error code of a DynamoDB failure, if this is one.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            StoreError::Dynamo { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The code given to answers that carry no AWS error code or cannot be read at all.
const NOT_DYNAMODB: &str = "not a DynamoDB answer";
/// The code given to requests that could not be signed: no credentials anywhere in the chain.
const NO_CREDENTIALS: &str = "no credentials";
/// The code given to server errors without an AWS error code (an outage, a proxy failing).
const UNAVAILABLE: &str = "unavailable";

/// DynamoDB's messages for a key that does not match the table's key schema.
fn is_key_schema_message(message: &str) -> bool {
    [
        "key element does not match the schema",
        "required keys was not given a value",
        "missed key schema element",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// The AWS error code (or transport failure kind) and message of any AWS SDK error (DynamoDB,
/// SSM, ...), with the transport's underlying cause spelled out, for log lines a person can
/// act on. The one description of AWS errors the pipeline uses.
pub fn describe_aws_error<E>(err: &SdkError<E, HttpResponse>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            match inner.code() {
                Some(code) => (
                    code.to_string(),
                    inner
                        .message()
                        .map_or_else(|| inner.to_string(), str::to_string),
                ),
                None => {
                    let status = service.raw().status();
                    let code = if status.is_server_error() {
                        UNAVAILABLE
                    } else {
                        NOT_DYNAMODB
                    };
                    (
                        code.to_string(),
                        format!("HTTP {} without an AWS error code", status.as_u16()),
                    )
                }
            }
        }
        SdkError::ResponseError(response) => (
            NOT_DYNAMODB.to_string(),
            format!(
                "HTTP {} that could not be read as an AWS answer",
                response.raw().status().as_u16()
            ),
        ),
        SdkError::TimeoutError(_) => (
            "timeout".to_string(),
            "no answer within the configured timeout".to_string(),
        ),
        SdkError::DispatchFailure(_) if is_missing_credentials(&error_chain(err)) => (
            NO_CREDENTIALS.to_string(),
            "no AWS credentials were found (environment, profile, container or instance role)"
                .to_string(),
        ),
        SdkError::DispatchFailure(_) => ("dispatch failure".to_string(), error_chain(err)),
        other => ("request failed".to_string(), error_chain(other)),
    }
}

/// The credential chain's failures, as the AWS SDK words them (with or without instance
/// metadata to ask).
fn is_missing_credentials(chain: &str) -> bool {
    ["loading credentials", "no credentials found in chain"]
        .iter()
        .any(|words| chain.contains(words))
}

/// The whole `source()` chain of `err` on one line (each cause once): transport errors hide the
/// useful part deep inside. Used for every AWS error description, here and in the pipeline's
/// own SSM client.
///
/// ```
/// let err = std::io::Error::other("connection refused");
/// assert_eq!(launchdarkly_dynamo_store::error_chain(&err), "connection refused");
/// ```
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// True for errors worth retrying in the store's own batch loop: throttling and capacity.
pub(crate) fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "Throttling"
            | "TooManyRequestsException"
    )
}

impl From<StoreError> for PersistentStoreError {
    fn from(err: StoreError) -> Self {
        PersistentStoreError::new(err.to_string())
    }
}
