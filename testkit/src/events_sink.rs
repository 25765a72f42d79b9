//! A stand-in for LaunchDarkly's events endpoint (`POST /bulk`): records every payload with its
//! `Authorization` header, and on demand holds deliveries until released, to observe when events
//! are sent relative to responses.

use std::io::Read;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

struct Inner {
    received: Mutex<Vec<(String, Value)>>,
    gate: tokio::sync::watch::Sender<bool>,
    arrived: Mutex<usize>,
}

/// A running sink; lives until the test process ends.
#[derive(Clone)]
pub struct EventsSink {
    base_uri: String,
    inner: Arc<Inner>,
}

impl EventsSink {
    /// Starts the sink on a free loopback port.
    pub fn start() -> Self {
        let inner = Arc::new(Inner {
            received: Mutex::new(Vec::new()),
            gate: tokio::sync::watch::channel(false).0,
            arrived: Mutex::new(0),
        });
        let address = crate::serve(
            Router::new()
                .route("/bulk", post(bulk))
                .with_state(inner.clone()),
        );
        Self {
            base_uri: format!("http://{address}"),
            inner,
        }
    }

    /// The events base URI to configure (`LAUNCHDARKLY_EVENTS_URI`).
    pub fn base_uri(&self) -> &str {
        &self.base_uri
    }

    /// Deliveries completed so far: `(Authorization, payload)`.
    pub fn received(&self) -> Vec<(String, Value)> {
        self.inner.received.lock().expect("sink state").clone()
    }

    /// Deliveries that reached the sink so far, held ones included.
    pub fn arrived(&self) -> usize {
        *self.inner.arrived.lock().expect("sink state")
    }

    /// True when some completed delivery mentions `text` (a context key, a flag key).
    pub fn mentions(&self, text: &str) -> bool {
        self.received()
            .iter()
            .any(|(_, body)| body.to_string().contains(text))
    }

    /// From now on, deliveries wait (unanswered) until [`release`](Self::release).
    pub fn hold(&self) {
        self.inner.gate.send_replace(true);
    }

    /// Answers every held delivery and stops holding.
    pub fn release(&self) {
        self.inner.gate.send_replace(false);
    }
}

async fn bulk(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    *inner.arrived.lock().expect("sink state") += 1;
    let mut gate = inner.gate.subscribe();
    let _ = gate.wait_for(|holding| !holding).await;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    inner
        .received
        .lock()
        .expect("sink state")
        .push((auth, payload(&headers, &body)));
    StatusCode::ACCEPTED
}

/// Event payloads may be gzip-compressed.
fn payload(headers: &HeaderMap, body: &[u8]) -> Value {
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        == Some("gzip");
    let text = if gzip {
        let mut text = String::new();
        match flate2::read::GzDecoder::new(body).read_to_string(&mut text) {
            Ok(_) => text,
            Err(e) => return Value::String(format!("undecodable gzip body: {e}")),
        }
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}
