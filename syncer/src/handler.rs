//! One handler for every trigger, over `lambda_http`'s typed requests: webhooks from API Gateway
//! (REST v1, HTTP API v2), an Application Load Balancer or a function URL; and every other event
//! (EventBridge schedules, manual invokes with any JSON), which `lambda_http` passes through with
//! the event as the body.

use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use launchdarkly_dynamo_common::http::json_response;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::failure::{ErrorBody, FailureCategory};
use crate::metrics;
use crate::sync::{Summary, SyncError, SyncRequest, Syncer, Trigger};
use crate::webhook::{self, WebhookAuth};

/// API Gateway gives up on an integration after 30 s: answer a webhook before that
/// (LaunchDarkly retries a failed delivery; the schedule catches up).
const API_GATEWAY_BUDGET: std::time::Duration = std::time::Duration::from_secs(27);

/// What a webhook caller learns of a failure; the details are in the function's log.
const INTERNAL_ERROR: &str = "the sync failed; see the function's log";

/// A failed sync for a non-HTTP trigger: Lambda reports it as a failed invocation.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HandlerError(#[from] SyncError);

impl From<HandlerError> for lambda_http::lambda_runtime::Diagnostic {
    fn from(err: HandlerError) -> Self {
        Self {
            error_type: "SyncFailed".to_string(),
            error_message: err.to_string(),
        }
    }
}

/// Handles one invocation, within `deadline`.
pub async fn handle(
    syncer: &Syncer,
    request: Request,
    deadline: Instant,
) -> Result<Response<Body>, HandlerError> {
    if matches!(
        request.request_context_ref(),
        Some(RequestContext::PassThrough)
    ) {
        let sync = match passed_through(request.body()) {
            PassedThrough::Status => return Ok(status_response(syncer).await),
            PassedThrough::Sync(sync) => sync,
        };
        let summary = run_sync(syncer, sync, deadline).await?;
        return Ok(json_response(StatusCode::OK, &to_json(&summary)));
    }
    Ok(handle_webhook(syncer, &request, deadline).await)
}

/// What a non-HTTP event asks for.
enum PassedThrough {
    /// A manual invoke with `{"status": true}` (`make status`): the report, no sync.
    Status,
    Sync(SyncRequest),
}

async fn status_response(syncer: &Syncer) -> Response<Body> {
    match syncer.status().await {
        Ok(report) => json_response(
            StatusCode::OK,
            &serde_json::to_value(&report).unwrap_or(Value::Null),
        ),
        Err(err) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("could not read the sync status: {err}"),
        ),
    }
}

/// A scheduled event from EventBridge, or a manual invoke with any other payload; only a
/// manual invoke (IAM-authorized, never the internet) may ask for `{"allowMassDelete": true}`
/// or `{"status": true}`.
fn passed_through(body: &[u8]) -> PassedThrough {
    let event: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let flag = |name: &str| event.get(name).and_then(Value::as_bool) == Some(true);
    let scheduled = event.get("source").and_then(Value::as_str) == Some("aws.events")
        || event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    if scheduled {
        return PassedThrough::Sync(Trigger::Schedule.into());
    }
    if flag("status") {
        return PassedThrough::Status;
    }
    PassedThrough::Sync(SyncRequest {
        trigger: Trigger::Manual,
        allow_mass_delete: flag("allowMassDelete"),
    })
}

async fn run_sync(
    syncer: &Syncer,
    request: impl Into<SyncRequest>,
    deadline: Instant,
) -> Result<Summary, SyncError> {
    let request = request.into();
    let trigger = request.trigger;
    let started = Instant::now();
    match syncer.sync(request, deadline).await {
        Ok(summary) => {
            log_summary(&summary);
            metrics::succeeded(syncer.table(), &summary).emit();
            Ok(summary)
        }
        Err(err) => {
            tracing::error!(trigger = ?trigger, "sync failed, the table was left as it was: {err}");
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            metrics::failed(syncer.table(), trigger, &err, ms).emit();
            Err(err)
        }
    }
}

fn log_summary(summary: &Summary) {
    tracing::info!(
        trigger = ?summary.trigger,
        flags = summary.flags,
        segments = summary.segments,
        written = summary.written,
        repaired = summary.repaired,
        unchanged = summary.unchanged,
        deleted = summary.deleted,
        skipped = summary.skipped.len(),
        not_modified = summary.not_modified,
        covered = summary.covered,
        ms = summary.ms,
        "sync {}: {} flags, {} segments; {} written, {} repaired, {} unchanged, {} deleted, {} skipped{}",
        summary.status,
        summary.flags,
        summary.segments,
        summary.written,
        summary.repaired,
        summary.unchanged,
        summary.deleted,
        summary.skipped.len(),
        if summary.covered {
            " (covered by another sync that fetched after this trigger)"
        } else {
            ""
        }
    );
}

async fn handle_webhook(syncer: &Syncer, request: &Request, deadline: Instant) -> Response<Body> {
    if request.method() != Method::POST {
        return error_response(StatusCode::METHOD_NOT_ALLOWED, "only POST is accepted");
    }
    if let Some(refusal) = authenticate(syncer, request).await {
        return refusal;
    }
    // The body is an audit entry, possibly out of order: it is never applied as data. Every
    // webhook triggers a full fetch.
    let deadline = deadline.min(Instant::now() + API_GATEWAY_BUDGET);
    // The caller is on the internet: counts only. Item keys, AWS errors and parameter names go
    // to the log line `run_sync` writes.
    match run_sync(syncer, Trigger::Webhook, deadline).await {
        Ok(summary) => json_response(
            StatusCode::OK,
            &json!({
                "status": summary.status,
                "written": summary.written,
                "deleted": summary.deleted,
                "unchanged": summary.unchanged,
                "skipped": summary.skipped.len(),
                "notModified": summary.not_modified,
                "covered": summary.covered,
            }),
        ),
        Err(err) => failure_response(&err),
    }
}

/// A failed sync's answer: its category and what to check (the error itself is in the log).
/// 503 for what a retry may not see, so LaunchDarkly redelivers; 500 for settings to fix.
fn failure_response(err: &SyncError) -> Response<Body> {
    let category = FailureCategory::of(err);
    let (status, message) = match category.is_transient() {
        true => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the sync did not complete; it will be retried",
        ),
        false => (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR),
    };
    json_response(status, &ErrorBody::failed(category, message).to_value())
}

/// Checks the webhook's signature as configured; `Some` is the answer to a refused webhook.
async fn authenticate(syncer: &Syncer, request: &Request) -> Option<Response<Body>> {
    match syncer.webhook_auth().await {
        WebhookAuth::Verify(secret) => {
            let signature = request
                .headers()
                .get("x-ld-signature")
                .and_then(|v| v.to_str().ok());
            let err =
                webhook::verify(secret.expose().as_bytes(), request.body(), signature).err()?;
            tracing::warn!("webhook refused with 401, no sync run: {err}; check that the secret in LaunchDarkly matches the webhook secret parameter");
            Some(error_response(
                StatusCode::UNAUTHORIZED,
                "invalid webhook signature",
            ))
        }
        WebhookAuth::Unsigned => None,
        WebhookAuth::Refused(reason) => {
            tracing::error!("webhook refused with 401, no sync run: {reason}");
            Some(error_response(
                StatusCode::UNAUTHORIZED,
                "webhook signatures cannot be checked; see the function's log",
            ))
        }
        WebhookAuth::Unreadable(err) => {
            tracing::error!(
                "webhook refused with 503, no sync run: {err}; check the function's IAM permission ssm:GetParameter (and kms:Decrypt) on it"
            );
            Some(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "webhook signatures cannot be checked now; see the function's log",
            ))
        }
    }
}

fn to_json(summary: &Summary) -> Value {
    serde_json::to_value(summary).unwrap_or_else(|e| ErrorBody::new(e.to_string()).to_value())
}

fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &ErrorBody::new(message).to_value())
}
