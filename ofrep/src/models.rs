//! OFREP's wire types (`open-feature/protocol` `service/openapi.yaml`, v0.3.0): what a request
//! carries and what every answer looks like. Reasons and error codes are enums, so an answer
//! outside the schema cannot be built.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of both evaluation requests.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EvaluationRequest {
    /// The evaluation context; required.
    #[serde(default)]
    pub context: Option<Value>,
}

/// Why a value was served. OFREP allows only these on a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// The flag is on and served its fixed fallthrough.
    Static,
    /// A target or rule matched.
    TargetingMatch,
    /// A percentage rollout (or experiment) picked the variation.
    Split,
    /// The flag is off, or a prerequisite failed.
    Disabled,
    /// Anything else.
    Unknown,
}

/// OFREP's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The body or a parameter cannot be read, or the stored flag cannot be.
    ParseError,
    /// The context has no targeting key.
    TargetingKeyMissing,
    /// The context is not usable.
    InvalidContext,
    /// The flag does not exist.
    FlagNotFound,
    /// Anything else, a store that cannot answer included.
    General,
}

/// LaunchDarkly's side of an answer, as OFREP metadata (strings, numbers and booleans only).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// LaunchDarkly's reason kind (`RULE_MATCH`, `FALLTHROUGH`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_kind: Option<&'static str>,
    /// The matched rule's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_index: Option<usize>,
    /// The matched rule's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// True when the variation was picked by an experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_experiment: Option<bool>,
    /// The prerequisite that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prerequisite_key: Option<String>,
    /// True when DynamoDB could not be read at the last check and the answer comes from the
    /// flag data as last read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<bool>,
    /// Seconds since DynamoDB last confirmed the data (with `stale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_age_seconds: Option<u64>,
}

impl Metadata {
    fn is_empty(&self) -> bool {
        *self == Metadata::default()
    }
}

/// A successful evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvaluationSuccess {
    /// The flag key.
    pub key: String,
    /// The value; absent when the flag has none to serve (OFREP's "code default").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Why.
    pub reason: Reason,
    /// The variation index as a string (LaunchDarkly variations have no names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// LaunchDarkly's reason and the data's freshness.
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
}

/// A failed evaluation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationFailure {
    /// The flag key, when the failure concerns one flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What kind of failure.
    pub error_code: ErrorCode,
    /// What is wrong and what to do, for a person.
    pub error_details: String,
}

/// One flag of a bulk answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BulkItem {
    /// Evaluated.
    Success(EvaluationSuccess),
    /// Not evaluated.
    Failure(EvaluationFailure),
}

/// The bulk answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BulkResponse {
    /// Every flag.
    pub flags: Vec<BulkItem>,
}
