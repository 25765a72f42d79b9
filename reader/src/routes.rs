//! The health route every reader serves: `GET /health`, 200 while evaluations can be answered
//! (from current or stale data), 503 while they cannot, with the [`Health`] body.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::health::Health;
use crate::reader::Reader;

/// Path of the health route.
pub const HEALTH_PATH: &str = "/health";

/// `GET /health` over `reader`.
pub fn health_router(reader: Arc<Reader>) -> Router {
    Router::new()
        .route(HEALTH_PATH, get(health))
        .with_state(reader)
}

async fn health(State(reader): State<Arc<Reader>>) -> Response {
    reader.check();
    let health: Health = reader.health();
    let status = if health.serving {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}
