//! The harness's HTTP protocol: capabilities, create, command, close, exit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Notify;

use crate::client::SdkClient;
use crate::protocol::{Command, CreateInstance};

/// What the service can do; the harness picks its suites from this.
const CAPABILITIES: [&str; 2] = ["server-side", "persistent-data-store-dynamodb"];

#[derive(Default)]
struct Service {
    clients: Mutex<HashMap<u64, Arc<SdkClient>>>,
    next_id: AtomicU64,
    exit: Notify,
}

impl Service {
    fn client(&self, id: u64) -> Option<Arc<SdkClient>> {
        self.clients.lock().ok()?.get(&id).cloned()
    }
}

/// Serves until the harness sends `DELETE /` (or the process is stopped).
pub async fn serve(port: u16) -> anyhow::Result<()> {
    let service = Arc::new(Service::default());
    let app = Router::new()
        .route("/", get(status).post(create).delete(exit))
        .route("/clients/{id}", post(command))
        .route("/clients/{id}", delete(close))
        .with_state(service.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::warn!(
        "contract-tests service listening on {}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { service.exit.notified().await })
        .await?;
    Ok(())
}

async fn status() -> Json<serde_json::Value> {
    Json(json!({
        "name": "launchdarkly-dynamo-store (Rust server SDK)",
        "capabilities": CAPABILITIES,
    }))
}

async fn create(State(service): State<Arc<Service>>, Json(body): Json<CreateInstance>) -> Response {
    let tag = body.tag.unwrap_or_default();
    match SdkClient::start(body.configuration).await {
        Ok(client) => {
            let id = service.next_id.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut clients) = service.clients.lock() {
                clients.insert(id, Arc::new(client));
            }
            (
                StatusCode::CREATED,
                [(header::LOCATION, format!("/clients/{id}"))],
            )
                .into_response()
        }
        Err(err) => {
            tracing::error!("{tag}: could not create the client: {err:#}");
            (StatusCode::BAD_REQUEST, format!("{err:#}")).into_response()
        }
    }
}

async fn command(
    State(service): State<Arc<Service>>,
    Path(id): Path<u64>,
    Json(body): Json<Command>,
) -> Response {
    let Some(client) = service.client(id) else {
        return (StatusCode::NOT_FOUND, format!("no client {id}")).into_response();
    };
    match (body.command.as_str(), body.evaluate) {
        ("evaluate", Some(params)) => match client.evaluate(params) {
            Ok(evaluation) => Json(evaluation).into_response(),
            Err(err) => (StatusCode::BAD_REQUEST, err).into_response(),
        },
        (other, _) => (
            StatusCode::BAD_REQUEST,
            format!("unsupported command \"{other}\""),
        )
            .into_response(),
    }
}

async fn close(State(service): State<Arc<Service>>, Path(id): Path<u64>) -> StatusCode {
    let removed = service.clients.lock().ok().and_then(|mut c| c.remove(&id));
    match removed {
        Some(client) => {
            client.close();
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn exit(State(service): State<Arc<Service>>) -> StatusCode {
    service.exit.notify_one();
    StatusCode::NO_CONTENT
}
