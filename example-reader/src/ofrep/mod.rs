//! The OpenFeature Remote Evaluation Protocol (OFREP, `open-feature/protocol`
//! `service/openapi.yaml`, v0.3.0): `POST /ofrep/v1/evaluate/flags/{key}` and the bulk
//! `POST /ofrep/v1/evaluate/flags`, answered from the table like every other route, so OFREP
//! providers in any language evaluate LaunchDarkly flags without LaunchDarkly's SDK.
//!
//! What LaunchDarkly says becomes what OFREP says:
//! - the variation index is the `variant` (`"0"`, `"1"`, ...: flag data has no variation names);
//! - reasons: `OFF` and `PREREQUISITE_FAILED` → `DISABLED`; `TARGET_MATCH` and a `RULE_MATCH`
//!   → `TARGETING_MATCH`; a rule or fallthrough that served a percentage rollout (or an
//!   experiment) → `SPLIT`; any other `FALLTHROUGH` → `STATIC`. OpenFeature's `DEFAULT` would
//!   describe a fallthrough best, but OFREP's schema allows only `STATIC`, `TARGETING_MATCH`,
//!   `SPLIT`, `DISABLED` and `UNKNOWN` on a success; LaunchDarkly's own reason is kept in
//!   `metadata` (`reasonKind`, `ruleIndex`, `ruleId`, `inExperiment`, `prerequisiteKey`);
//! - errors: unknown flag → 404 `FLAG_NOT_FOUND`; bad JSON → 400 `PARSE_ERROR`; bad context →
//!   400 `TARGETING_KEY_MISSING` or `INVALID_CONTEXT`; a stored flag the SDK cannot read → 400
//!   `PARSE_ERROR`; a store that cannot be read or was never synced → 500 `GENERAL` with what
//!   is wrong, never a value as if the flag were missing;
//! - a flag that is off without an off variation has no value: a success without `value`
//!   (OFREP's "code default").

pub mod context;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use launchdarkly_server_sdk::Context;
use ld_dynamo_common::http::json_response;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::reader::{Evaluation, Reader};
use context::ContextError;

/// Path of the OFREP evaluation routes.
pub const PATH: &str = "/ofrep/v1/evaluate/flags";

/// An OFREP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /ofrep/v1/evaluate/flags/{key}`.
    Flag(String),
    /// `POST /ofrep/v1/evaluate/flags`.
    Bulk,
}

/// The OFREP route a path names (a REST API stage prefix may come first); `None` for any other
/// path, and for an OFREP path with more segments.
///
/// ```
/// use example_reader::ofrep::{route, Route};
///
/// assert_eq!(route("/ofrep/v1/evaluate/flags"), Some(Route::Bulk));
/// assert_eq!(route("/prod/ofrep/v1/evaluate/flags/new-checkout"), Some(Route::Flag("new-checkout".into())));
/// assert_eq!(route("/flags/new-checkout"), None);
/// ```
pub fn route(path: &str) -> Option<Route> {
    let rest = &path[path.find(PATH)? + PATH.len()..];
    match rest.trim_end_matches('/') {
        "" => Some(Route::Bulk),
        key if key.starts_with('/') && !key[1..].contains('/') => Some(Route::Flag(
            percent_encoding::percent_decode_str(&key[1..])
                .decode_utf8_lossy()
                .into_owned(),
        )),
        _ => None,
    }
}

/// What an OFREP request says.
#[derive(Clone, Debug)]
pub struct OfrepRequest<'a> {
    pub route: Route,
    /// The request's JSON body.
    pub body: &'a [u8],
    /// `If-None-Match` (bulk).
    pub if_none_match: Option<&'a str>,
    /// The `flagConfigLastModified` query parameter (bulk): a change notification's time. The
    /// answer is always computed from the current data, so it is only checked.
    pub flag_config_last_modified: Option<&'a str>,
}

/// Answers an OFREP request.
pub async fn answer(reader: &Reader, request: &OfrepRequest<'_>) -> Response<Body> {
    let key = match &request.route {
        Route::Flag(key) => Some(key.as_str()),
        Route::Bulk => None,
    };
    let context = match request_context(request.body) {
        Ok(context) => context,
        Err(failure) => return failure.response(key),
    };
    match key {
        Some(key) => single(reader, key, &context).await,
        None => {
            if let Err(failure) = check_last_modified(request.flag_config_last_modified) {
                return failure.response(None);
            }
            bulk(reader, &context, request.if_none_match).await
        }
    }
}

/// `flagConfigLastModified` is Unix seconds or an RFC 3339 date-time.
fn check_last_modified(value: Option<&str>) -> Result<(), Failure> {
    match value {
        None => Ok(()),
        Some(v) if v.parse::<u64>().is_ok() => Ok(()),
        Some(v) if chrono::DateTime::parse_from_rfc3339(v).is_ok() => Ok(()),
        Some(v) => Err(Failure::bad_request(
            "PARSE_ERROR",
            format!(
                "flagConfigLastModified must be Unix seconds or an RFC 3339 date-time, not {v:?}"
            ),
        )),
    }
}

async fn single(reader: &Reader, key: &str, context: &Context) -> Response<Body> {
    match reader.evaluation(key, context).await {
        Ok(evaluation) => match judge(key, &evaluation) {
            Ok(success) => json_response(StatusCode::OK, &success),
            Err(failure) => failure.response(Some(key)),
        },
        Err(unavailable) => {
            tracing::error!("OFREP answered 500 for \"{key}\": {unavailable}");
            Failure::general(unavailable.to_string()).response(Some(key))
        }
    }
}

async fn bulk(reader: &Reader, context: &Context, if_none_match: Option<&str>) -> Response<Body> {
    let evaluations = match reader.evaluations(context).await {
        Ok(evaluations) => evaluations,
        Err(unavailable) => {
            tracing::error!("OFREP answered 500 for a bulk evaluation: {unavailable}");
            return Failure::general(unavailable.to_string()).response(None);
        }
    };
    let flags: Vec<Value> = evaluations
        .iter()
        .map(|(key, evaluation)| match judge(key, evaluation) {
            Ok(success) => success,
            Err(failure) => failure.body(Some(key)),
        })
        .collect();
    let body = json!({ "flags": flags });
    let etag = etag_of(&body);
    let mut response = if matches_any(if_none_match, &etag) {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        json_response(StatusCode::OK, &body)
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// The `context` of an OFREP request body as a LaunchDarkly context.
fn request_context(body: &[u8]) -> Result<Context, Failure> {
    let request: Value = serde_json::from_slice(body).map_err(|e| {
        Failure::bad_request(
            "PARSE_ERROR",
            format!("the request body is not JSON: {e}; send {{\"context\":{{\"targetingKey\":\"...\"}}}}"),
        )
    })?;
    let Some(Value::Object(context)) = request.get("context") else {
        return Err(Failure::bad_request(
            "INVALID_CONTEXT",
            "the request body needs a \"context\" object, e.g. {\"context\":{\"targetingKey\":\"user-1\"}}".into(),
        ));
    };
    context::to_launchdarkly(context).map_err(Failure::from)
}

/// An OFREP error answer.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    code: &'static str,
    details: String,
}

impl Failure {
    fn bad_request(code: &'static str, details: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            details,
        }
    }

    fn general(details: String) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "GENERAL",
            details,
        }
    }

    fn body(&self, key: Option<&str>) -> Value {
        let mut body = json!({"errorCode": self.code, "errorDetails": self.details});
        if let Some(key) = key {
            body["key"] = Value::from(key);
        }
        body
    }

    fn response(&self, key: Option<&str>) -> Response<Body> {
        json_response(self.status, &self.body(key))
    }
}

impl From<ContextError> for Failure {
    fn from(err: ContextError) -> Self {
        Failure::bad_request(err.code(), err.to_string())
    }
}

/// A successful OFREP evaluation, or the failure LaunchDarkly's error reason means.
fn judge(key: &str, evaluation: &Evaluation) -> Result<Value, Failure> {
    let reason = &evaluation.reason;
    let kind = reason["kind"].as_str().unwrap_or_default();
    if kind == "ERROR" {
        return Err(evaluation_error(key, reason["errorKind"].as_str()));
    }
    let mut success = Map::new();
    success.insert("key".into(), Value::from(key));
    success.insert("reason".into(), Value::from(ofrep_reason(kind, evaluation)));
    if let Some(value) = &evaluation.value {
        success.insert("value".into(), value.clone());
        if let Some(index) = evaluation.variation_index {
            success.insert("variant".into(), Value::from(index.to_string()));
        }
    }
    let metadata = metadata(reason);
    if !metadata.is_empty() {
        success.insert("metadata".into(), Value::Object(metadata));
    }
    Ok(Value::Object(success))
}

fn ofrep_reason(kind: &str, evaluation: &Evaluation) -> &'static str {
    let split = evaluation.rollout || evaluation.reason["inExperiment"] == true;
    match kind {
        "OFF" | "PREREQUISITE_FAILED" => "DISABLED",
        "TARGET_MATCH" => "TARGETING_MATCH",
        "RULE_MATCH" | "FALLTHROUGH" if split => "SPLIT",
        "RULE_MATCH" => "TARGETING_MATCH",
        "FALLTHROUGH" => "STATIC",
        _ => "UNKNOWN",
    }
}

/// LaunchDarkly's reason, flattened to OFREP metadata (strings, numbers and booleans only).
fn metadata(reason: &Value) -> Map<String, Value> {
    let mut metadata = Map::new();
    if let Some(kind) = reason["kind"].as_str() {
        metadata.insert("reasonKind".into(), Value::from(kind));
    }
    for name in ["ruleIndex", "ruleId", "inExperiment", "prerequisiteKey"] {
        if let Some(value) = reason.get(name).filter(|v| !v.is_null()) {
            metadata.insert(name.into(), value.clone());
        }
    }
    metadata
}

fn evaluation_error(key: &str, error_kind: Option<&str>) -> Failure {
    match error_kind {
        Some("FLAG_NOT_FOUND") => Failure {
            status: StatusCode::NOT_FOUND,
            code: "FLAG_NOT_FOUND",
            details: format!("flag \"{key}\" is not in the flag store: it does not exist in this LaunchDarkly environment, or was deleted"),
        },
        Some("MALFORMED_FLAG") => Failure::bad_request(
            "PARSE_ERROR",
            format!("flag \"{key}\" is stored in a form LaunchDarkly's evaluator cannot read (check the flag in LaunchDarkly, then resync)"),
        ),
        Some("USER_NOT_SPECIFIED") => Failure::bad_request(
            "TARGETING_KEY_MISSING",
            "the context has no key".into(),
        ),
        other => Failure::general(format!(
            "flag \"{key}\" could not be evaluated: {}",
            other.unwrap_or("unknown error")
        )),
    }
}

/// A strong ETag for a bulk answer: it changes exactly when the answer changes.
fn etag_of(body: &Value) -> String {
    let digest = Sha256::digest(body.to_string().as_bytes());
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// `If-None-Match` matching (RFC 9110: weak comparison, `*`, a comma-separated list).
fn matches_any(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|header| {
        header
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluation(value: Value, index: Option<usize>, reason: Value, rollout: bool) -> Evaluation {
        Evaluation {
            value: (!value.is_null()).then_some(value),
            variation_index: index,
            reason,
            rollout,
        }
    }

    #[test]
    fn routes() {
        assert_eq!(route("/ofrep/v1/evaluate/flags"), Some(Route::Bulk));
        assert_eq!(route("/ofrep/v1/evaluate/flags/"), Some(Route::Bulk));
        assert_eq!(
            route("/prod/ofrep/v1/evaluate/flags/my-flag"),
            Some(Route::Flag("my-flag".into()))
        );
        assert_eq!(
            route("/ofrep/v1/evaluate/flags/a%20b"),
            Some(Route::Flag("a b".into()))
        );
        assert_eq!(route("/ofrep/v1/evaluate/flags/a/b"), None);
        assert_eq!(route("/flags/x"), None);
    }

    #[test]
    fn reasons_map_onto_the_ofrep_enum() {
        let cases = [
            (json!({"kind": "OFF"}), false, "DISABLED"),
            (
                json!({"kind": "PREREQUISITE_FAILED", "prerequisiteKey": "p"}),
                false,
                "DISABLED",
            ),
            (json!({"kind": "TARGET_MATCH"}), false, "TARGETING_MATCH"),
            (
                json!({"kind": "RULE_MATCH", "ruleIndex": 0}),
                false,
                "TARGETING_MATCH",
            ),
            (json!({"kind": "RULE_MATCH", "ruleIndex": 0}), true, "SPLIT"),
            (
                json!({"kind": "RULE_MATCH", "ruleIndex": 0, "inExperiment": true}),
                false,
                "SPLIT",
            ),
            (json!({"kind": "FALLTHROUGH"}), false, "STATIC"),
            (json!({"kind": "FALLTHROUGH"}), true, "SPLIT"),
        ];
        for (reason, rollout, expected) in cases {
            let success =
                judge("f", &evaluation(json!(1), Some(1), reason.clone(), rollout)).unwrap();
            assert_eq!(success["reason"], expected, "{reason}");
            assert_eq!(success["variant"], "1");
            assert_eq!(success["metadata"]["reasonKind"], reason["kind"]);
        }
    }

    #[test]
    fn rule_details_go_to_metadata() {
        let reason =
            json!({"kind": "RULE_MATCH", "ruleIndex": 2, "ruleId": "r2", "inExperiment": true});
        let success = judge("f", &evaluation(json!({"a": 1}), Some(0), reason, false)).unwrap();
        assert_eq!(
            success,
            json!({"key": "f", "value": {"a": 1}, "variant": "0", "reason": "SPLIT",
                "metadata": {"reasonKind": "RULE_MATCH", "ruleIndex": 2, "ruleId": "r2", "inExperiment": true}})
        );
    }

    #[test]
    fn off_without_an_off_variation_is_a_code_default() {
        let success = judge(
            "f",
            &evaluation(Value::Null, None, json!({"kind": "OFF"}), false),
        )
        .unwrap();
        assert_eq!(
            success,
            json!({"key": "f", "reason": "DISABLED", "metadata": {"reasonKind": "OFF"}})
        );
    }

    #[test]
    fn error_reasons_become_ofrep_errors() {
        let cases = [
            ("FLAG_NOT_FOUND", 404, "FLAG_NOT_FOUND"),
            ("MALFORMED_FLAG", 400, "PARSE_ERROR"),
            ("USER_NOT_SPECIFIED", 400, "TARGETING_KEY_MISSING"),
            ("EXCEPTION", 500, "GENERAL"),
        ];
        for (kind, status, code) in cases {
            let reason = json!({"kind": "ERROR", "errorKind": kind});
            let failure = judge("f", &evaluation(Value::Null, None, reason, false)).unwrap_err();
            assert_eq!((failure.status.as_u16(), failure.code), (status, code));
            assert_eq!(failure.body(Some("f"))["key"], "f");
        }
    }

    #[test]
    fn request_bodies() {
        let code = |body: &str| {
            request_context(body.as_bytes())
                .map(|_| ())
                .unwrap_err()
                .code
        };
        assert_eq!(code("not json"), "PARSE_ERROR");
        assert_eq!(code("{}"), "INVALID_CONTEXT");
        assert_eq!(code(r#"{"context": 1}"#), "INVALID_CONTEXT");
        assert_eq!(code(r#"{"context": {}}"#), "TARGETING_KEY_MISSING");
        assert!(request_context(br#"{"context": {"targetingKey": "u"}}"#).is_ok());
    }

    #[test]
    fn flag_config_last_modified_is_checked() {
        assert!(check_last_modified(None).is_ok());
        assert!(check_last_modified(Some("1771622898")).is_ok());
        assert!(check_last_modified(Some("2026-02-20T21:28:18Z")).is_ok());
        for bad in ["", "yesterday", "-1", "2026-02-20"] {
            assert_eq!(
                check_last_modified(Some(bad)).unwrap_err().code,
                "PARSE_ERROR",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn if_none_match() {
        let etag = etag_of(&json!({"flags": []}));
        assert!(etag.starts_with('"') && etag.len() == 34);
        assert_ne!(etag, etag_of(&json!({"flags": [1]})));
        assert!(matches_any(Some(&etag), &etag));
        assert!(matches_any(Some(&format!("\"x\", W/{etag}")), &etag));
        assert!(matches_any(Some("*"), &etag));
        assert!(!matches_any(Some("\"other\""), &etag));
        assert!(!matches_any(None, &etag));
    }
}
