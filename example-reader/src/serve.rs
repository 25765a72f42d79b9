//! The reader's routes on a local HTTP server: `example-reader serve` (to try the API on a
//! laptop without AWS) and the Lambda extension's OFREP endpoint on `localhost`. Each request
//! becomes the `lambda_http` request the Lambda would get.

use std::sync::Arc;

use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::http::StatusCode;
use lambda_http::{Body, RequestExt};
use ld_dynamo_common::http::json_response;
use tokio::net::TcpListener;

use crate::handler::handle;
use crate::reader::Reader;

/// Serves the reader's routes on `127.0.0.1:port` until the process stops.
pub async fn serve(reader: Arc<Reader>, port: u16) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(
        "serving the reader's API on http://{}",
        listener.local_addr()?
    );
    serve_on(reader, listener).await?;
    Ok(())
}

/// Serves the reader's routes on an already bound listener until the process stops.
pub async fn serve_on(reader: Arc<Reader>, listener: TcpListener) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let reader = reader.clone();
        async move { answer(&reader, request).await }
    });
    axum::serve(listener, app).await
}

/// Largest request body read; evaluation requests are a context, far smaller.
const MAX_BODY: usize = 1024 * 1024;

async fn answer(reader: &Reader, request: axum::extract::Request) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        // Too large, or the connection broke mid-body: say so rather than parse a cut body.
        let response = json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({"error": "the request body could not be read whole (at most 1 MiB)"}),
        );
        let (parts, body) = response.into_parts();
        return axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_vec()));
    };
    let query: QueryMap = parts
        .uri
        .query()
        .and_then(|q| q.parse().ok())
        .unwrap_or_default();
    let request = lambda_http::Request::from_parts(parts, Body::from(bytes.to_vec()))
        .with_query_string_parameters(query);
    let (parts, body) = handle(reader, &request).await.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_vec()))
}
