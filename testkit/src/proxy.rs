//! An HTTP proxy in front of DynamoDB Local that makes it behave like a busy or failing AWS
//! DynamoDB on demand: partial batch writes (`UnprocessedItems`, items really not written),
//! throttling errors, an outage, and a slow network that holds write requests and delivers
//! them late; and, for readers, a DynamoDB that is down: answering `500 InternalServerError`
//! to everything, accepting connections and never answering, or refusing connections.
//! Everything else is forwarded untouched.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode};
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};

/// Faults the proxy injects, consumed as requests arrive.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// The next N `BatchWriteItem` requests forward only the first half of their items; the
    /// rest come back as `UnprocessedItems`, exactly as throttled DynamoDB answers.
    pub unprocessed_batches: usize,
    /// The next N `BatchWriteItem` requests are answered with
    /// `ProvisionedThroughputExceededException` without being forwarded.
    pub throttled_batches: usize,
    /// After this many more forwarded requests, every request is answered `503` (an outage).
    pub outage_after: Option<usize>,
    /// After this many more forwarded `TransactWriteItems` requests, the next one and every
    /// request after it are answered `503` (an outage that starts with a fenced data write).
    pub outage_after_transactions: Option<usize>,
    /// Requests whose body contains one of these strings stall until it is removed (for
    /// example `KeyConditionExpression`: every `Query`), the others are forwarded.
    pub stall_bodies_with: Vec<String>,
}

/// A DynamoDB that is down, for every request, until set back to [`Outage::None`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outage {
    /// Forward (the [`Faults`] still apply).
    #[default]
    None,
    /// Answer every request `500` with DynamoDB's `InternalServerError`.
    InternalServerError,
    /// Accept connections and requests, and never answer them (until the outage ends).
    Stall,
    /// Stop listening: connections are refused.
    Refuse,
}

#[derive(Default)]
struct ProxyState {
    faults: Faults,
    /// Requests received, by operation (`GetItem`, `Query`, ...), whatever was answered.
    received: std::collections::BTreeMap<String, usize>,
    batch_items_forwarded: usize,
    /// Capacity units DynamoDB reported for the requests forwarded (reads and writes apart).
    read_units: f64,
    write_units: f64,
    /// Targets (`DynamoDB_20120810.TransactWriteItems`, ...) of write requests held so far.
    held: Vec<String>,
    /// Answers DynamoDB gave to held requests once they were delivered.
    late_answers: Vec<(String, u16, String)>,
}

/// A running proxy; lives until the test process ends.
#[derive(Clone)]
pub struct DynamoProxy {
    endpoint: String,
    address: std::net::SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    gate: Arc<tokio::sync::watch::Sender<bool>>,
    outage: Arc<tokio::sync::watch::Sender<Outage>>,
    app: Router,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    state: Arc<Mutex<ProxyState>>,
    gate: Arc<tokio::sync::watch::Sender<bool>>,
    outage: Arc<tokio::sync::watch::Sender<Outage>>,
}

/// Operations that read.
const READ_TARGETS: [&str; 3] = [".GetItem", ".Query", ".BatchGetItem"];

/// Operations that write (the lease's renewals and fences included).
const WRITE_TARGETS: [&str; 5] = [
    ".PutItem",
    ".UpdateItem",
    ".DeleteItem",
    ".BatchWriteItem",
    ".TransactWriteItems",
];

impl DynamoProxy {
    /// Starts a proxy to `upstream` (a DynamoDB endpoint URL) on a free loopback port.
    pub fn start(upstream: &str) -> Self {
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let gate = Arc::new(tokio::sync::watch::channel(false).0);
        let outage = Arc::new(tokio::sync::watch::channel(Outage::None).0);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            state: state.clone(),
            gate: gate.clone(),
            outage: outage.clone(),
        });
        let app = Router::new().fallback(handle).with_state(shared);
        let address = listen(
            app.clone(),
            "127.0.0.1:0".parse().expect("address"),
            outage.clone(),
        );
        Self {
            endpoint: format!("http://{address}"),
            address,
            state,
            gate,
            outage,
            app,
        }
    }

    /// Makes DynamoDB look down in the way `outage` says, or up again with [`Outage::None`].
    pub fn set_outage(&self, outage: Outage) {
        let before = self.outage.send_replace(outage);
        if before == Outage::Refuse && outage != Outage::Refuse {
            listen(self.app.clone(), self.address, self.outage.clone());
        }
    }

    /// From now on, write requests are held (the client keeps waiting) until
    /// [`release_writes`](Self::release_writes), as on a network that delivers them late.
    pub fn hold_writes(&self) {
        self.gate.send_replace(true);
    }

    /// Delivers every held write request to DynamoDB, and forwards writes at once again.
    pub fn release_writes(&self) {
        self.gate.send_replace(false);
    }

    /// Targets of the write requests held so far (e.g. `DynamoDB_20120810.TransactWriteItems`).
    pub fn held(&self) -> Vec<String> {
        self.state.lock().expect("proxy state").held.clone()
    }

    /// `(target, status, body)` of DynamoDB's answers to the held requests delivered so far.
    pub fn late_answers(&self) -> Vec<(String, u16, String)> {
        self.state.lock().expect("proxy state").late_answers.clone()
    }

    /// The URL to give to a DynamoDB client.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Replaces the faults to inject from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.state.lock().expect("proxy state").faults = faults;
    }

    /// The faults not injected yet.
    pub fn remaining_faults(&self) -> Faults {
        self.state.lock().expect("proxy state").faults.clone()
    }

    /// Requests received so far for `operation` (`GetItem`, `Query`, ...).
    pub fn received(&self, operation: &str) -> usize {
        let state = self.state.lock().expect("proxy state");
        state.received.get(operation).copied().unwrap_or(0)
    }

    /// Forgets the requests received so far.
    pub fn reset_received(&self) {
        self.state.lock().expect("proxy state").received.clear();
    }

    /// Read capacity units DynamoDB reported for the reads forwarded so far: the proxy asks
    /// every read and write it forwards for `ReturnConsumedCapacity: TOTAL` and adds up the
    /// answers (the client never asked, and its SDK ignores the extra field).
    pub fn read_units(&self) -> f64 {
        self.state.lock().expect("proxy state").read_units
    }

    /// Write capacity units DynamoDB reported for the writes forwarded so far.
    pub fn write_units(&self) -> f64 {
        self.state.lock().expect("proxy state").write_units
    }

    /// Forgets the capacity units counted so far.
    pub fn reset_units(&self) {
        let mut state = self.state.lock().expect("proxy state");
        state.read_units = 0.0;
        state.write_units = 0.0;
    }

    /// Write requests inside `BatchWriteItem` bodies forwarded so far.
    pub fn batch_items_forwarded(&self) -> usize {
        self.state
            .lock()
            .expect("proxy state")
            .batch_items_forwarded
    }
}

/// Serves `app` on `address` (port 0: a free one) until the outage becomes [`Outage::Refuse`],
/// when the listener is closed so connections are refused.
fn listen(
    app: Router,
    address: std::net::SocketAddr,
    outage: Arc<tokio::sync::watch::Sender<Outage>>,
) -> std::net::SocketAddr {
    let (sender, receiver) = std::sync::mpsc::channel();
    crate::rt().spawn(async move {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(address).expect("bind the proxy's port");
        let listener = socket.listen(1024).expect("listen");
        let _ = sender.send(listener.local_addr().expect("local address"));
        let mut changes = outage.subscribe();
        let refused = async move {
            let _ = changes.wait_for(|o| *o == Outage::Refuse).await;
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(refused)
            .await;
    });
    receiver.recv().expect("the proxy listens")
}

enum Action {
    Forward,
    Throttle,
    Outage,
    ForwardHalf,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(body) => body,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("proxy could not read the body: {e}"),
            )
        }
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Some(operation) = target.rsplit('.').next().filter(|o| !o.is_empty()) {
        *shared
            .state
            .lock()
            .expect("proxy state")
            .received
            .entry(operation.to_string())
            .or_default() += 1;
    }
    let outage = *shared.outage.borrow();
    match outage {
        Outage::InternalServerError => {
            let body = json!({
                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "message": "Internal server error"
            });
            return json_response(StatusCode::INTERNAL_SERVER_ERROR, body.to_string());
        }
        Outage::Stall => {
            let mut changes = shared.outage.subscribe();
            let _ = changes.wait_for(|o| *o != Outage::Stall).await;
        }
        Outage::None | Outage::Refuse => {}
    }
    stall_while_matching(&shared, &body).await;
    let is_batch = target.ends_with(".BatchWriteItem");
    let is_transaction = target.ends_with(".TransactWriteItems");
    let is_write = WRITE_TARGETS.iter().any(|t| target.ends_with(t));
    if is_write && *shared.gate.borrow() {
        shared
            .state
            .lock()
            .expect("proxy state")
            .held
            .push(target.clone());
        let mut gate = shared.gate.subscribe();
        let _ = gate.wait_for(|holding| !holding).await;
        let response = forward(&shared, &parts.headers, body).await;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
            .await
            .unwrap_or_default();
        shared
            .state
            .lock()
            .expect("proxy state")
            .late_answers
            .push((target, status, String::from_utf8_lossy(&bytes).into_owned()));
        return json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            bytes,
        );
    }
    let action = {
        let mut state = shared.state.lock().expect("proxy state");
        let faults = &mut state.faults;
        if is_transaction && faults.outage_after_transactions == Some(0) {
            faults.outage_after = Some(0);
        }
        if faults.outage_after == Some(0) {
            Action::Outage
        } else if is_batch && faults.throttled_batches > 0 {
            faults.throttled_batches -= 1;
            Action::Throttle
        } else {
            if let Some(n) = faults.outage_after.as_mut() {
                *n -= 1;
            }
            if let (true, Some(n)) = (is_transaction, faults.outage_after_transactions.as_mut()) {
                *n -= 1;
            }
            if is_batch && faults.unprocessed_batches > 0 {
                faults.unprocessed_batches -= 1;
                Action::ForwardHalf
            } else {
                Action::Forward
            }
        }
    };
    match action {
        Action::Outage => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected outage".to_string(),
        ),
        Action::Throttle => dynamo_error(
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        Action::Forward => {
            if is_batch {
                count_batch_items(&shared, &body);
            }
            let is_read = READ_TARGETS.iter().any(|t| target.ends_with(t));
            match is_read || is_write {
                true => forward_metered(&shared, &parts.headers, body, is_read).await,
                false => forward(&shared, &parts.headers, body).await,
            }
        }
        Action::ForwardHalf => forward_half(&shared, &parts.headers, body).await,
    }
}

/// Holds a request while its body matches one of [`Faults::stall_bodies_with`].
async fn stall_while_matching(shared: &Shared, body: &Bytes) {
    let text = String::from_utf8_lossy(body);
    loop {
        let stalled = {
            let state = shared.state.lock().expect("proxy state");
            let patterns = &state.faults.stall_bodies_with;
            patterns
                .iter()
                .any(|pattern| text.contains(pattern.as_str()))
        };
        if !stalled {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn count_batch_items(shared: &Shared, body: &Bytes) {
    let items: usize = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("RequestItems").cloned())
        .and_then(|v| {
            v.as_object().map(|tables| {
                tables
                    .values()
                    .filter_map(Value::as_array)
                    .map(Vec::len)
                    .sum()
            })
        })
        .unwrap_or(0);
    shared
        .state
        .lock()
        .expect("proxy state")
        .batch_items_forwarded += items;
}

async fn forward_half(shared: &Shared, headers: &HeaderMap, body: Bytes) -> Response<Body> {
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return forward(shared, headers, body).await;
    };
    let mut held_back = serde_json::Map::new();
    if let Some(tables) = request
        .get_mut("RequestItems")
        .and_then(Value::as_object_mut)
    {
        for (table, writes) in tables.iter_mut() {
            if let Some(writes) = writes.as_array_mut() {
                let keep = writes.len() / 2;
                held_back.insert(table.clone(), Value::Array(writes.split_off(keep)));
            }
        }
        tables.retain(|_, writes| writes.as_array().is_some_and(|w| !w.is_empty()));
    }
    let nothing_left = request
        .get("RequestItems")
        .and_then(Value::as_object)
        .is_none_or(|tables| tables.is_empty());
    let mut answer = if nothing_left {
        json!({ "UnprocessedItems": {} })
    } else {
        let forwarded = Bytes::from(request.to_string());
        count_batch_items(shared, &forwarded);
        let response = forward(shared, headers, forwarded).await;
        if response.status() != StatusCode::OK {
            return response;
        }
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
            .await
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}))
    };
    let unprocessed = answer
        .as_object_mut()
        .map(|o| o.entry("UnprocessedItems").or_insert_with(|| json!({})));
    if let Some(Value::Object(unprocessed)) = unprocessed {
        for (table, writes) in held_back {
            unprocessed.insert(table, writes);
        }
    }
    json_response(StatusCode::OK, answer.to_string())
}

/// Forwards a read or write asking for its consumed capacity, and counts it.
async fn forward_metered(
    shared: &Shared,
    headers: &HeaderMap,
    body: Bytes,
    is_read: bool,
) -> Response<Body> {
    let body = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut request)) => {
            request.insert("ReturnConsumedCapacity".into(), json!("TOTAL"));
            Bytes::from(Value::Object(request).to_string())
        }
        _ => body,
    };
    let response = forward(shared, headers, body).await;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let units = serde_json::from_slice::<Value>(&bytes)
        .map(|answer| consumed_units(&answer["ConsumedCapacity"]))
        .unwrap_or(0.0);
    let mut state = shared.state.lock().expect("proxy state");
    match is_read {
        true => state.read_units += units,
        false => state.write_units += units,
    }
    drop(state);
    json_response(status, bytes)
}

/// The capacity units of one `ConsumedCapacity` answer: an object, or one per table.
fn consumed_units(consumed: &Value) -> f64 {
    match consumed {
        Value::Array(tables) => tables.iter().map(consumed_units).sum(),
        other => other["CapacityUnits"].as_f64().unwrap_or(0.0),
    }
}

async fn forward(shared: &Shared, headers: &HeaderMap, body: Bytes) -> Response<Body> {
    let mut request = shared.http.post(&shared.upstream).body(body);
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    match request.send().await {
        Ok(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let bytes = response.bytes().await.unwrap_or_default();
            json_response(status, bytes)
        }
        Err(e) => plain(
            StatusCode::BAD_GATEWAY,
            format!("proxy could not reach DynamoDB: {e}"),
        ),
    }
}

fn dynamo_error(code: &str, message: &str) -> Response<Body> {
    let body =
        json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": message });
    json_response(StatusCode::BAD_REQUEST, body.to_string())
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .body(body.into())
        .unwrap_or_default()
}

fn plain(status: StatusCode, message: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(message))
        .unwrap_or_default()
}
