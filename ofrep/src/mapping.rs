//! From LaunchDarkly's evaluations to OFREP answers:
//! - the variation index is the `variant` (`"0"`, `"1"`, ...);
//! - `OFF` and `PREREQUISITE_FAILED` → `DISABLED`; `TARGET_MATCH` and `RULE_MATCH` →
//!   `TARGETING_MATCH`; a rule or fallthrough that served a percentage rollout (or an
//!   experiment) → `SPLIT`; any other `FALLTHROUGH` → `STATIC`. OpenFeature's `DEFAULT` would
//!   describe a fallthrough best, but OFREP allows only these on a success; LaunchDarkly's own
//!   reason is kept in `metadata`;
//! - unknown flag → 404 `FLAG_NOT_FOUND`; a stored flag the evaluator cannot read → 400
//!   `PARSE_ERROR`; a store that cannot answer → 500 `GENERAL` with its category and what to
//!   check, never a value as if the flag were missing;
//! - data served while DynamoDB cannot be read carries `metadata.stale` and its age.

use axum::http::StatusCode;
use launchdarkly_dynamo_reader::{Evaluation, Unavailable};
use launchdarkly_server_sdk::{EvalError, Reason as LdReason};

use crate::context::ContextError;
use crate::models::{ErrorCode, EvaluationFailure, EvaluationSuccess, Metadata, Reason};

/// An OFREP error answer: its status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: StatusCode,
    pub body: EvaluationFailure,
}

impl Failure {
    pub fn bad_request(code: ErrorCode, details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, details)
    }

    pub fn new(status: StatusCode, code: ErrorCode, details: impl Into<String>) -> Self {
        Self {
            status,
            body: EvaluationFailure {
                key: None,
                error_code: code,
                error_details: details.into(),
            },
        }
    }

    /// The same failure about flag `key`.
    pub fn about(mut self, key: Option<&str>) -> Self {
        self.body.key = key.map(str::to_string);
        self
    }

    /// A store that cannot answer: 500 `GENERAL`, with the category and what to check.
    pub fn unavailable(unavailable: &Unavailable) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::General,
            format!(
                "the flag store cannot answer ({}): {unavailable}",
                unavailable.kind().as_str()
            ),
        )
    }
}

impl From<ContextError> for Failure {
    fn from(err: ContextError) -> Self {
        Failure::bad_request(err.code(), err.to_string())
    }
}

/// A successful OFREP evaluation, or the failure LaunchDarkly's error reason means.
pub fn judge(evaluation: &Evaluation) -> Result<EvaluationSuccess, Failure> {
    let key = evaluation.flag.as_str();
    if let Some(error) = evaluation.error() {
        return Err(evaluation_error(key, error).about(Some(key)));
    }
    let mut metadata = reason_metadata(&evaluation.reason);
    if evaluation.freshness.stale {
        metadata.stale = Some(true);
        metadata.data_age_seconds = evaluation.freshness.age.map(|age| age.as_secs());
    }
    Ok(EvaluationSuccess {
        key: key.to_string(),
        variant: evaluation
            .value
            .as_ref()
            .and(evaluation.variation_index)
            .map(|index| index.to_string()),
        value: evaluation.value.clone(),
        reason: reason(&evaluation.reason, evaluation.rollout),
        metadata,
    })
}

fn reason(reason: &LdReason, rollout: bool) -> Reason {
    match reason {
        LdReason::Off | LdReason::PrerequisiteFailed { .. } => Reason::Disabled,
        LdReason::TargetMatch => Reason::TargetingMatch,
        LdReason::RuleMatch { .. } | LdReason::Fallthrough { .. } if rollout => Reason::Split,
        LdReason::RuleMatch { .. } => Reason::TargetingMatch,
        LdReason::Fallthrough { .. } => Reason::Static,
        LdReason::Error { .. } => Reason::Unknown,
    }
}

fn reason_metadata(reason: &LdReason) -> Metadata {
    let mut metadata = Metadata::default();
    match reason {
        LdReason::Off => metadata.reason_kind = Some("OFF"),
        LdReason::TargetMatch => metadata.reason_kind = Some("TARGET_MATCH"),
        LdReason::RuleMatch {
            rule_index,
            rule_id,
            in_experiment,
        } => {
            metadata.reason_kind = Some("RULE_MATCH");
            metadata.rule_index = Some(*rule_index);
            metadata.rule_id = Some(rule_id.clone()).filter(|id| !id.is_empty());
            metadata.in_experiment = in_experiment.then_some(true);
        }
        LdReason::PrerequisiteFailed { prerequisite_key } => {
            metadata.reason_kind = Some("PREREQUISITE_FAILED");
            metadata.prerequisite_key = Some(prerequisite_key.clone());
        }
        LdReason::Fallthrough { in_experiment } => {
            metadata.reason_kind = Some("FALLTHROUGH");
            metadata.in_experiment = in_experiment.then_some(true);
        }
        LdReason::Error { .. } => metadata.reason_kind = Some("ERROR"),
    }
    metadata
}

fn evaluation_error(key: &str, error: EvalError) -> Failure {
    match error {
        EvalError::FlagNotFound => Failure::new(
            StatusCode::NOT_FOUND,
            ErrorCode::FlagNotFound,
            format!("flag \"{key}\" is not in the flag store: it does not exist in this LaunchDarkly environment, or was deleted"),
        ),
        EvalError::MalformedFlag => Failure::bad_request(
            ErrorCode::ParseError,
            format!("flag \"{key}\" is stored in a form LaunchDarkly's evaluator cannot read (check the flag in LaunchDarkly, then resync)"),
        ),
        other => Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::General,
            format!("flag \"{key}\" could not be evaluated: {other:?}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use launchdarkly_dynamo_reader::Freshness;
    use serde_json::{json, Value};
    use std::time::Duration;

    fn evaluation(
        value: Value,
        index: Option<usize>,
        reason: LdReason,
        rollout: bool,
    ) -> Evaluation {
        Evaluation {
            flag: "f".into(),
            value: (!value.is_null()).then_some(value),
            variation_index: index,
            reason,
            rollout,
            freshness: Freshness {
                stale: false,
                age: Some(Duration::from_secs(1)),
            },
        }
    }

    fn rule(in_experiment: bool) -> LdReason {
        LdReason::RuleMatch {
            rule_index: 0,
            rule_id: String::new(),
            in_experiment,
        }
    }

    #[test]
    fn reasons_map_onto_the_ofrep_enum() {
        let fallthrough = LdReason::Fallthrough {
            in_experiment: false,
        };
        let prerequisite = LdReason::PrerequisiteFailed {
            prerequisite_key: "p".into(),
        };
        let cases = [
            (LdReason::Off, false, Reason::Disabled, "OFF"),
            (prerequisite, false, Reason::Disabled, "PREREQUISITE_FAILED"),
            (
                LdReason::TargetMatch,
                false,
                Reason::TargetingMatch,
                "TARGET_MATCH",
            ),
            (rule(false), false, Reason::TargetingMatch, "RULE_MATCH"),
            (rule(false), true, Reason::Split, "RULE_MATCH"),
            (fallthrough.clone(), false, Reason::Static, "FALLTHROUGH"),
            (fallthrough, true, Reason::Split, "FALLTHROUGH"),
        ];
        for (ld, rollout, expected, kind) in cases {
            let success = judge(&evaluation(json!(1), Some(1), ld.clone(), rollout)).unwrap();
            assert_eq!(success.reason, expected, "{ld:?}");
            assert_eq!(success.variant.as_deref(), Some("1"));
            assert_eq!(success.metadata.reason_kind, Some(kind));
        }
    }

    #[test]
    fn rule_details_and_staleness_go_to_metadata() {
        let ld = LdReason::RuleMatch {
            rule_index: 2,
            rule_id: "r2".into(),
            in_experiment: true,
        };
        let mut stale = evaluation(json!({"a": 1}), Some(0), ld, true);
        stale.freshness = Freshness {
            stale: true,
            age: Some(Duration::from_secs(42)),
        };
        let success = judge(&stale).unwrap();
        assert_eq!(
            serde_json::to_value(success).unwrap(),
            json!({"key": "f", "value": {"a": 1}, "variant": "0", "reason": "SPLIT",
                "metadata": {"reasonKind": "RULE_MATCH", "ruleIndex": 2, "ruleId": "r2",
                    "inExperiment": true, "stale": true, "dataAgeSeconds": 42}})
        );
    }

    #[test]
    fn off_without_an_off_variation_is_a_code_default() {
        let success = judge(&evaluation(Value::Null, None, LdReason::Off, false)).unwrap();
        assert_eq!(
            serde_json::to_value(success).unwrap(),
            json!({"key": "f", "reason": "DISABLED", "metadata": {"reasonKind": "OFF"}})
        );
    }

    #[test]
    fn error_reasons_become_ofrep_errors() {
        let cases = [
            (EvalError::FlagNotFound, 404, ErrorCode::FlagNotFound),
            (EvalError::MalformedFlag, 400, ErrorCode::ParseError),
            (EvalError::Exception, 500, ErrorCode::General),
        ];
        for (error, status, code) in cases {
            let failed = evaluation(Value::Null, None, LdReason::Error { error }, false);
            let failure = judge(&failed).unwrap_err();
            assert_eq!(
                (failure.status.as_u16(), failure.body.error_code),
                (status, code)
            );
            assert_eq!(failure.body.key.as_deref(), Some("f"));
        }
    }
}
