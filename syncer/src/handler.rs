//! One handler for every trigger: API Gateway webhooks (REST or HTTP API events), EventBridge
//! schedules, and manual invokes with any JSON.

use base64::Engine;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::sync::{SyncError, Syncer, Trigger};
use crate::webhook;

const API_GATEWAY_BUDGET: std::time::Duration = std::time::Duration::from_secs(27);

/// A failed sync for a non-HTTP trigger: Lambda reports it as a failed invocation.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HandlerError(#[from] SyncError);

/// Handles one Lambda event.
pub async fn handle(
    syncer: &Syncer,
    event: Value,
    deadline: Instant,
) -> Result<Value, HandlerError> {
    if let Some(request) = HttpRequest::from_event(&event) {
        return Ok(handle_webhook(syncer, request, deadline).await);
    }
    let trigger = if event.get("source").and_then(Value::as_str) == Some("aws.events")
        || event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
    {
        Trigger::Schedule
    } else {
        Trigger::Manual
    };
    let summary = run_sync(syncer, trigger, deadline).await?;
    Ok(to_json(&summary))
}

async fn run_sync(
    syncer: &Syncer,
    trigger: Trigger,
    deadline: Instant,
) -> Result<crate::sync::Summary, SyncError> {
    match syncer.sync(trigger, deadline).await {
        Ok(summary) => {
            tracing::info!(
                trigger = ?summary.trigger,
                flags = summary.flags,
                segments = summary.segments,
                written = summary.written,
                unchanged = summary.unchanged,
                deleted = summary.deleted,
                skipped = summary.skipped.len(),
                not_modified = summary.not_modified,
                ms = summary.ms,
                repaired = summary.repaired,
                covered = summary.covered,
                "sync {}: {} flags, {} segments; {} written, {} repaired, {} unchanged, {} deleted, {} skipped{}",
                summary.status,
                summary.flags,
                summary.segments,
                summary.written,
                summary.repaired,
                summary.unchanged,
                summary.deleted,
                summary.skipped.len(),
                if summary.covered { " (covered by another sync that fetched after this trigger)" } else { "" }
            );

            Ok(summary)
        }
        Err(err) => {
            tracing::error!(trigger = ?trigger, "sync failed, the table was left as it was: {err}");
            Err(err)
        }
    }
}

/// The parts of an API Gateway event the webhook needs.
struct HttpRequest {
    method: String,
    signature: Option<String>,
    body: Vec<u8>,
}

impl HttpRequest {
    /// Reads a REST API (v1) or HTTP API (v2) proxy event; `None` for any other event.
    fn from_event(event: &Value) -> Option<Self> {
        let method = event
            .get("httpMethod")
            .or_else(|| event.pointer("/requestContext/http/method"))
            .and_then(Value::as_str)?
            .to_ascii_uppercase();
        let signature = event
            .get("headers")
            .and_then(Value::as_object)
            .and_then(|headers| {
                headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("x-ld-signature"))
                    .and_then(|(_, value)| value.as_str())
            })
            .map(str::to_string);
        let raw = event
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let body = if event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap_or_default()
        } else {
            raw.as_bytes().to_vec()
        };
        Some(Self {
            method,
            signature,
            body,
        })
    }
}

async fn handle_webhook(syncer: &Syncer, request: HttpRequest, deadline: Instant) -> Value {
    if request.method != "POST" {
        return response(
            405,
            json!({"status": "error", "error": "only POST is accepted"}),
        );
    }
    match syncer.webhook_secret().await {
        Ok(Some(secret)) => {
            if let Err(err) = webhook::verify(
                secret.expose().as_bytes(),
                &request.body,
                request.signature.as_deref(),
            ) {
                tracing::warn!("webhook refused with 401, no sync run: {err}; check that the secret in LaunchDarkly matches the webhook secret parameter");
                return response(
                    401,
                    json!({"status": "error", "error": "invalid webhook signature"}),
                );
            }
        }
        Ok(None) => {}
        Err(err) => {
            tracing::error!(
                "webhook not processed: {err}; check the IAM permission ssm:GetParameter on it"
            );
            return response(500, json!({"status": "error", "error": INTERNAL_ERROR}));
        }
    }
    // The body is an audit entry, possibly out of order: it is never applied as data. Every
    // webhook triggers a full fetch. API Gateway gives up on an integration after 29 s, so
    // answer before that (LaunchDarkly retries a failed delivery; the schedule catches up).
    let deadline = deadline.min(Instant::now() + API_GATEWAY_BUDGET);
    // The caller is on the internet: counts only. Item keys, AWS errors and parameter names go
    // to the log line `run_sync` writes.
    match run_sync(syncer, Trigger::Webhook, deadline).await {
        Ok(summary) => response(
            200,
            json!({
                "status": summary.status,
                "written": summary.written,
                "deleted": summary.deleted,
                "unchanged": summary.unchanged,
                "skipped": summary.skipped.len(),
                "notModified": summary.not_modified,
                "covered": summary.covered,
            }),
        ),
        Err(err) if err.is_transient() => response(
            503,
            json!({"status": "error", "error": "the sync did not complete; it will be retried"}),
        ),
        Err(_) => response(500, json!({"status": "error", "error": INTERNAL_ERROR})),
    }
}

/// What a webhook caller learns of a failure; the details are in the function's log.
const INTERNAL_ERROR: &str = "the sync failed; see the function's log";

fn to_json(summary: &crate::sync::Summary) -> Value {
    serde_json::to_value(summary)
        .unwrap_or_else(|e| json!({"status": "ok", "error": e.to_string()}))
}

/// An API Gateway proxy response.
fn response(status: u16, body: Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
    })
}
