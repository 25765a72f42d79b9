//! A local stand-in for LaunchDarkly's SDK endpoint `GET /sdk/latest-all`: the real path, the
//! `Authorization` check, `ETag` / `If-None-Match`, and on demand the failures a real service
//! shows (error statuses, slow answers, bodies cut off mid-transfer or truncated JSON).

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

/// One answer to give instead of the normal one, in order of arrival.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Answer this status with a short body (429 with `Retry-After: 0`).
    Status(u16),
    /// Answer normally, after this delay (the data is taken when the request arrives).
    Slow(Duration),
    /// Send half of the body, then cut the connection.
    CutOff,
    /// Answer 200 with this raw text as the body.
    Raw(String),
    /// Answer `307 Temporary Redirect` to this location (absolute, or a path on this host).
    Redirect(String),
    /// Answer 200 and send the body in pieces of `bytes`, one every `every`.
    Trickle { bytes: usize, every: Duration },
}

struct Inner {
    sdk_key: String,
    data: Value,
    queued: VecDeque<Behavior>,
    requests: usize,
    not_modified: usize,
    if_none_match: Vec<Option<String>>,
}

/// A running stand-in; lives until the test process ends.
#[derive(Clone)]
pub struct LaunchDarkly {
    base_uri: String,
    inner: Arc<Mutex<Inner>>,
}

impl LaunchDarkly {
    /// Starts serving `data` (`{"flags":{..},"segments":{..}}`) to requests with `sdk_key`.
    pub fn start(sdk_key: &str, data: Value) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            sdk_key: sdk_key.to_string(),
            data,
            queued: VecDeque::new(),
            requests: 0,
            not_modified: 0,
            if_none_match: Vec::new(),
        }));
        let address = crate::serve(
            Router::new()
                .route("/sdk/latest-all", get(latest_all))
                .with_state(inner.clone()),
        );
        Self {
            base_uri: format!("http://{address}"),
            inner,
        }
    }

    /// The base URI to configure (`LAUNCHDARKLY_BASE_URI`).
    pub fn base_uri(&self) -> &str {
        &self.base_uri
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("stand-in state"))
    }

    /// Replaces the whole data set.
    pub fn set_data(&self, data: Value) {
        self.with(|inner| inner.data = data);
    }

    /// The data set served now.
    pub fn data(&self) -> Value {
        self.with(|inner| inner.data.clone())
    }

    /// Queues answers for the next requests.
    pub fn queue(&self, behaviors: impl IntoIterator<Item = Behavior>) {
        self.with(|inner| inner.queued.extend(behaviors));
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.with(|inner| inner.requests)
    }

    /// `304 Not Modified` answers given so far.
    pub fn not_modified(&self) -> usize {
        self.with(|inner| inner.not_modified)
    }

    /// The `If-None-Match` header of each request so far.
    pub fn if_none_match(&self) -> Vec<Option<String>> {
        self.with(|inner| inner.if_none_match.clone())
    }
}

fn etag(body: &str) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

async fn latest_all(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response<Body> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (authorized, behavior, body) = {
        let mut inner = inner.lock().expect("stand-in state");
        inner.requests += 1;
        inner.if_none_match.push(header("if-none-match"));
        (
            header("authorization").as_deref() == Some(inner.sdk_key.as_str()),
            inner.queued.pop_front(),
            inner.data.to_string(),
        )
    };
    if !authorized {
        return text(
            StatusCode::UNAUTHORIZED,
            json!({"code": "unauthorized", "message": "Invalid SDK key"}).to_string(),
        );
    }
    match behavior {
        Some(Behavior::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = text(status, format!("{{\"message\":\"injected {code}\"}}"));
            if code == 429 {
                response
                    .headers_mut()
                    .insert("retry-after", "0".parse().expect("header value"));
            }
            return response;
        }
        Some(Behavior::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Behavior::CutOff) => {
            let half = body.as_bytes()[..body.len() / 2].to_vec();
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::other("connection cut by the stand-in")),
            ];
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("etag", etag(&body))
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap_or_default();
        }
        Some(Behavior::Raw(raw)) => return text(StatusCode::OK, raw),
        Some(Behavior::Redirect(location)) => {
            return Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("location", location)
                .body(Body::empty())
                .unwrap_or_default();
        }
        Some(Behavior::Trickle { bytes, every }) => return trickle(body, bytes, every),
        None => {}
    }
    let tag = etag(&body);
    if header("if-none-match").as_deref() == Some(tag.as_str()) {
        inner.lock().expect("stand-in state").not_modified += 1;
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("etag", tag)
            .body(Body::empty())
            .unwrap_or_default();
    }
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("etag", tag)
        .body(Body::from(body))
        .unwrap_or_default()
}

/// The body in pieces, one every `every`: a server (or a proxy) that answers but never finishes.
fn trickle(body: String, bytes: usize, every: Duration) -> Response<Body> {
    let pieces: Vec<Vec<u8>> = body
        .into_bytes()
        .chunks(bytes.max(1))
        .map(<[u8]>::to_vec)
        .collect();
    let stream = futures::stream::unfold(pieces.into_iter(), move |mut pieces| async move {
        let piece = pieces.next()?;
        tokio::time::sleep(every).await;
        Some((Ok::<_, std::io::Error>(piece), pieces))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// The `X-LD-Signature` LaunchDarkly sends with a webhook: the hex HMAC-SHA256 of `body`
/// under the webhook's secret.
pub fn sign_webhook(secret: &[u8], body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
