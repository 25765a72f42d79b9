//! The OFREP routes as one axum `Router`, served by `lambda_http` in Lambda and by a local
//! server in the extension and `example-reader serve`. Handlers only route: the context comes
//! from [`crate::context`], the answer from the read engine, its form from [`crate::mapping`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use launchdarkly_dynamo_reader::Reader;
use launchdarkly_server_sdk::Context;
use sha2::{Digest, Sha256};

use crate::mapping::{judge, Failure};
use crate::models::{BulkItem, BulkResponse, ErrorCode, EvaluationRequest};

/// Path of the OFREP evaluation routes.
pub const PATH: &str = "/ofrep/v1/evaluate/flags";

/// Largest request body read. An evaluation request is a context: a few hundred bytes, and
/// LaunchDarkly itself refuses contexts far smaller than this. Parsing costs a multiple of the
/// body in memory, so the limit keeps a burst of large bodies far below a function's memory.
pub const MAX_BODY: usize = 32 * 1024;

/// The OFREP routes over `reader`.
///
/// ```no_run
/// # async fn example(reader: std::sync::Arc<launchdarkly_dynamo_reader::Reader>) -> std::io::Result<()> {
/// let app = launchdarkly_dynamo_ofrep::router(reader);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8016").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub fn router(reader: Arc<Reader>) -> Router {
    Router::new()
        .route(PATH, post(bulk).fallback(only_post))
        .route(&format!("{PATH}/{{key}}"), post(single).fallback(only_post))
        .with_state(reader)
}

async fn single(
    State(reader): State<Arc<Reader>>,
    Path(key): Path<String>,
    body: Body,
) -> Response {
    reader.check_before_answer_for(&key).await;
    let context = match request_context(body).await {
        Ok(context) => context,
        Err(failure) => return failure.about(Some(&key)).into_response(),
    };
    match reader.evaluate(&key, &context) {
        Ok(evaluation) => match judge(&evaluation) {
            Ok(success) => Json(success).into_response(),
            Err(failure) => failure.into_response(),
        },
        Err(unavailable) => {
            tracing::error!("OFREP answered 500 for \"{key}\": {}", unavailable.detail());
            Failure::unavailable(&unavailable)
                .about(Some(&key))
                .into_response()
        }
    }
}

async fn bulk(
    State(reader): State<Arc<Reader>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    reader.check_before_answer().await;
    let context = match request_context(body).await {
        Ok(context) => context,
        Err(failure) => return failure.into_response(),
    };
    let last_modified = query.get("flagConfigLastModified").map(String::as_str);
    if let Err(failure) = check_last_modified(last_modified) {
        return failure.into_response();
    }
    let evaluations = match reader.evaluate_all(&context) {
        Ok(evaluations) => evaluations,
        Err(unavailable) => {
            tracing::error!(
                "OFREP answered 500 for a bulk evaluation: {}",
                unavailable.detail()
            );
            return Failure::unavailable(&unavailable).into_response();
        }
    };
    let flags = evaluations
        .iter()
        .map(|evaluation| match judge(evaluation) {
            Ok(success) => BulkItem::Success(success),
            Err(failure) => BulkItem::Failure(failure.body),
        })
        .collect();
    let body = serde_json::to_vec(&BulkResponse { flags }).unwrap_or_default();
    let etag = etag_of(&body);
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let mut response = if matches_any(if_none_match, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_bytes(StatusCode::OK, body)
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

async fn only_post() -> Response {
    let mut response = Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::General,
        "OFREP evaluations are POST requests",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = Json(self.body).into_response();
        *response.status_mut() = self.status;
        response
    }
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A body beyond [`MAX_BODY`] is still read, and thrown away, up to this much (within
/// [`DRAIN_TIME`]), so that a client still sending it gets the 413 instead of a broken pipe.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// The `context` of an OFREP request body as a LaunchDarkly context.
async fn request_context(body: Body) -> Result<Context, Failure> {
    let Some(bytes) = read_limited(body).await else {
        // Too large, or the connection broke mid-body: say so rather than parse a cut body.
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::General,
            format!("the request body could not be read whole (at most {MAX_BODY} bytes)"),
        ));
    };
    parse_context(&bytes)
}

/// The body if it is at most [`MAX_BODY`] bytes; `None` otherwise (the rest drained, bounded).
async fn read_limited(body: Body) -> Option<Vec<u8>> {
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let read = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.ok()?;
            seen += chunk.len();
            if seen <= MAX_BODY {
                kept.extend_from_slice(&chunk);
            } else if seen > DRAIN_LIMIT {
                return None;
            }
        }
        Some(())
    };
    tokio::time::timeout(DRAIN_TIME, read)
        .await
        .ok()
        .flatten()?;
    (seen <= MAX_BODY).then_some(kept)
}

fn parse_context(bytes: &[u8]) -> Result<Context, Failure> {
    let request: EvaluationRequest = serde_json::from_slice(bytes).map_err(|e| {
        Failure::bad_request(
            ErrorCode::ParseError,
            format!("the request body is not JSON: {e}; send {{\"context\":{{\"targetingKey\":\"...\"}}}}"),
        )
    })?;
    let Some(serde_json::Value::Object(context)) = request.context else {
        return Err(Failure::bad_request(
            ErrorCode::InvalidContext,
            "the request body needs a \"context\" object, e.g. {\"context\":{\"targetingKey\":\"user-1\"}}",
        ));
    };
    crate::context::to_launchdarkly(&context).map_err(Failure::from)
}

/// `flagConfigLastModified` is Unix seconds or an RFC 3339 date-time. The answer is always
/// computed from the current data, so it is only checked.
fn check_last_modified(value: Option<&str>) -> Result<(), Failure> {
    match value {
        None => Ok(()),
        Some(v) if v.parse::<u64>().is_ok() => Ok(()),
        Some(v) if chrono::DateTime::parse_from_rfc3339(v).is_ok() => Ok(()),
        Some(v) => Err(Failure::bad_request(
            ErrorCode::ParseError,
            format!(
                "flagConfigLastModified must be Unix seconds or an RFC 3339 date-time, not {v:?}"
            ),
        )),
    }
}

/// A strong ETag for a bulk answer: it changes exactly when the answer changes.
fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
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

    #[test]
    fn request_bodies() {
        let code = |body: &str| parse_context(body.as_bytes()).unwrap_err().body.error_code;
        assert_eq!(code("not json"), ErrorCode::ParseError);
        assert_eq!(code("{}"), ErrorCode::InvalidContext);
        assert_eq!(code(r#"{"context": 1}"#), ErrorCode::InvalidContext);
        assert_eq!(code(r#"{"context": {}}"#), ErrorCode::TargetingKeyMissing);
        assert!(parse_context(br#"{"context": {"targetingKey": "u"}}"#).is_ok());
    }

    #[test]
    fn flag_config_last_modified_is_checked() {
        assert!(check_last_modified(None).is_ok());
        assert!(check_last_modified(Some("1771622898")).is_ok());
        assert!(check_last_modified(Some("2026-02-20T21:28:18Z")).is_ok());
        for bad in ["", "yesterday", "-1", "2026-02-20"] {
            let failure = check_last_modified(Some(bad)).unwrap_err();
            assert_eq!(failure.body.error_code, ErrorCode::ParseError, "{bad:?}");
        }
    }

    #[test]
    fn if_none_match() {
        let etag = etag_of(br#"{"flags":[]}"#);
        assert!(etag.starts_with('"') && etag.len() == 34);
        assert_ne!(etag, etag_of(br#"{"flags":[1]}"#));
        assert!(matches_any(Some(&etag), &etag));
        assert!(matches_any(Some(&format!("\"x\", W/{etag}")), &etag));
        assert!(matches_any(Some("*"), &etag));
        assert!(!matches_any(Some("\"other\""), &etag));
        assert!(!matches_any(None, &etag));
    }
}
