//! Every route of the reader, written once as an axum `Router`: `lambda_http` serves it in
//! Lambda ([`lambda_app`]), the bounded local server in `example-reader serve` ([`app`]).
//!
//! - `GET /flags/{key}?context=<JSON>` (or `?key=<key>&kind=<kind>`): one flag, with
//!   LaunchDarkly's reason; an unknown flag in a readable table is a `null` value with the
//!   `FLAG_NOT_FOUND` reason.
//! - `GET /flags`: every flag's value.
//! - OFREP's `POST /ofrep/v1/evaluate/flags[/{key}]` ([`launchdarkly_dynamo_ofrep`]).
//! - `GET /health` ([`launchdarkly_dynamo_reader::routes`]).
//!
//! A store that cannot answer is `503` with its category and what to check, never a missing
//! flag; data served while DynamoDB cannot be read says `"stale": true` and its age.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use launchdarkly_dynamo_reader::{parse_context, Evaluation, FailureKind, Reader, Unavailable};
use serde::Serialize;
use serde_json::{json, Map, Value};
use tower::util::MapRequest;
use tower::ServiceExt;

/// The reader's routes.
pub fn app(reader: Arc<Reader>) -> Router {
    Router::new()
        .route("/flags", get(all_flags))
        .route("/flags/{key}", get(one_flag))
        .with_state(reader.clone())
        .merge(launchdarkly_dynamo_ofrep::router(reader.clone()))
        .merge(launchdarkly_dynamo_reader::routes::health_router(reader))
        .fallback(not_found)
}

/// The service Lambda runs: the reader's routes as API Gateway, ALB and function URLs call
/// them, where a REST API's stage (`/prod/flags/...`) is not part of the route. (The stage is
/// removed before routing, which a `Router` layer would run after.)
pub type LambdaApp = MapRequest<Router, fn(lambda_http::Request) -> lambda_http::Request>;

/// [`app`] for Lambda.
pub fn lambda_app(reader: Arc<Reader>) -> LambdaApp {
    app(reader).map_request(without_stage as fn(lambda_http::Request) -> lambda_http::Request)
}

fn without_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| s != "$default") else {
        return request;
    };
    let prefix = format!("/{stage}");
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if let Some(rest) = path_and_query.strip_prefix(&prefix) {
        if rest.starts_with('/') || rest.is_empty() || rest.starts_with('?') {
            let rest = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("/{rest}")
            };
            if let Ok(uri) = rest.parse() {
                *request.uri_mut() = uri;
            }
        }
    }
    request
}

type Params = Query<HashMap<String, String>>;

async fn one_flag(
    State(reader): State<Arc<Reader>>,
    Path(key): Path<String>,
    Query(query): Params,
) -> Response {
    reader.check_before_answer_for(&key).await;
    let context = match context_of(&query) {
        Ok(context) => context,
        Err(err) => return error(StatusCode::BAD_REQUEST, &err.to_string()),
    };
    match reader.evaluate(&key, &context) {
        Ok(evaluation) => Json(flag_body(&evaluation)).into_response(),
        Err(unavailable) => unavailable_response(&unavailable),
    }
}

async fn all_flags(State(reader): State<Arc<Reader>>, Query(query): Params) -> Response {
    reader.check_before_answer().await;
    let context = match context_of(&query) {
        Ok(context) => context,
        Err(err) => return error(StatusCode::BAD_REQUEST, &err.to_string()),
    };
    match reader.evaluate_all(&context) {
        Ok(evaluations) => Json(all_flags_body(&evaluations)).into_response(),
        Err(unavailable) => unavailable_response(&unavailable),
    }
}

fn context_of(
    query: &HashMap<String, String>,
) -> Result<launchdarkly_server_sdk::Context, launchdarkly_dynamo_reader::BadContext> {
    let parameter = |name: &str| query.get(name).map(String::as_str);
    parse_context(parameter("context"), parameter("key"), parameter("kind"))
}

/// One line for a person: `flag  context-key -> value (REASON detail)`, stale data marked.
pub fn flag_line(evaluation: &Evaluation, context_key: &str) -> String {
    let reason = serde_json::to_value(&evaluation.reason).unwrap_or(Value::Null);
    let text = |name: &str| reason.get(name).and_then(Value::as_str).unwrap_or_default();
    let detail = match text("kind") {
        "RULE_MATCH" => text("ruleId"),
        "ERROR" => text("errorKind"),
        "PREREQUISITE_FAILED" => text("prerequisiteKey"),
        _ => "",
    };
    let why = [text("kind"), detail].join(" ");
    let value = evaluation.value.clone().unwrap_or(Value::Null).to_string();
    let stale = if evaluation.freshness.stale {
        ", stale data"
    } else {
        ""
    };
    format!(
        "{:<17} {context_key:<6} -> {value:<16} ({}{stale})",
        evaluation.flag,
        why.trim_end()
    )
}

/// `{"flags":{key:value}}`.
pub fn all_flags_body(evaluations: &[Evaluation]) -> Value {
    let flags: Map<String, Value> = evaluations
        .iter()
        .map(|e| (e.flag.clone(), e.value.clone().unwrap_or(Value::Null)))
        .collect();
    let mut body = json!({ "flags": flags });
    if let Some(first) = evaluations.first() {
        add_freshness(&mut body, first);
    }
    body
}

/// `{"flag","value","variationIndex","reason"}`, LaunchDarkly's reason JSON included.
pub fn flag_body(evaluation: &Evaluation) -> Value {
    let mut body = json!({
        "flag": evaluation.flag,
        "value": evaluation.value.clone().unwrap_or(Value::Null),
        "variationIndex": evaluation.variation_index,
        "reason": evaluation.reason,
    });
    add_freshness(&mut body, evaluation);
    body
}

fn add_freshness(body: &mut Value, evaluation: &Evaluation) {
    if evaluation.freshness.stale {
        body["stale"] = Value::from(true);
        if let Some(age) = evaluation.freshness.age {
            body["dataAgeSeconds"] = Value::from(age.as_secs());
        }
    }
}

/// The one shape of every error the reader answers or prints: `{"status": ..., "error": ...}`,
/// with the failure's `kind` when the store cannot answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// `unavailable` (the store cannot answer) or `error` (the request is wrong).
    pub status: &'static str,
    /// The failure's category: what callers may see instead of AWS's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<FailureKind>,
    /// What went wrong, in one sentence.
    pub error: String,
}

impl ErrorBody {
    /// A request the reader refuses.
    pub fn refused(error: impl Into<String>) -> Self {
        Self {
            status: "error",
            kind: None,
            error: error.into(),
        }
    }

    /// The store cannot answer: its category and `error` (the hint for callers, the whole
    /// detail for the operator's own command).
    pub fn unavailable(unavailable: &Unavailable, error: impl Into<String>) -> Self {
        Self {
            status: "unavailable",
            kind: Some(unavailable.kind()),
            error: error.into(),
        }
    }
}

fn unavailable_response(unavailable: &Unavailable) -> Response {
    tracing::error!("answered 503: {}", unavailable.detail());
    let body = ErrorBody::unavailable(unavailable, unavailable.to_string());
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not found: use GET /flags/{key}, GET /flags, GET /health, or OFREP's POST /ofrep/v1/evaluate/flags[/{key}]",
    )
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(ErrorBody::refused(message))).into_response()
}
