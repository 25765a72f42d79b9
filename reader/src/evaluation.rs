//! What an evaluation answers: the SDK's typed result, whether a rollout picked it, and how
//! fresh the data was; or why the store cannot answer at all.

use std::time::Duration;

use launchdarkly_dynamo_store::mirror::{FailureKind, ReadFailure};
use launchdarkly_server_sdk::{EvalError, Reason};
use serde_json::Value;

/// One flag evaluated for one context.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The flag key.
    pub flag: String,
    /// The value; `None` when the flag has no value to serve (an evaluation error, or a flag
    /// that is off without an off variation).
    pub value: Option<Value>,
    /// Index of the served variation.
    pub variation_index: Option<usize>,
    /// LaunchDarkly's reason.
    pub reason: Reason,
    /// True when a percentage rollout (or experiment) picked the variation.
    pub rollout: bool,
    /// How current the data it came from was.
    pub freshness: Freshness,
}

impl Evaluation {
    /// The evaluation error LaunchDarkly reported, if any (`FLAG_NOT_FOUND`, ...).
    pub fn error(&self) -> Option<EvalError> {
        match self.reason {
            Reason::Error { error } => Some(error),
            _ => None,
        }
    }
}

/// How current the data behind an answer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// True when the last check of DynamoDB failed and the answer comes from the data as last
    /// read.
    pub stale: bool,
    /// Time since DynamoDB last confirmed the data.
    pub age: Option<Duration>,
}

/// The store cannot answer: no data was ever read, or the table was never synced. Shown to
/// callers as its category and what to check ([`Unavailable::kind`]); the AWS detail, which
/// can name accounts and ARNs, goes to the log only ([`Unavailable::detail`]).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", .0.kind().hint())]
pub struct Unavailable(pub ReadFailure);

impl Unavailable {
    /// The category.
    pub fn kind(&self) -> FailureKind {
        self.0.kind()
    }

    /// The whole failure, for the log.
    pub fn detail(&self) -> String {
        self.0.to_string()
    }
}
