//! A local stand-in for the AWS Lambda Runtime API and Extensions API, so the real `bootstrap`
//! binaries answer invocations in tests as they do in Lambda: the documented endpoints
//! (`/2018-06-01/runtime/invocation/next`, `/{id}/response`, `/{id}/error`, `/init/error`,
//! `/2020-01-01/extension/register`, `/2020-01-01/extension/event/next`), their headers and their
//! long polls; and the Telemetry API's subscription (`PUT /2022-07-01/telemetry`), to which it
//! posts `platform.runtimeDone` when the runtime answers. Invocations are queued by the test;
//! extensions registered for `INVOKE` get one event per invocation and `SHUTDOWN` when the test
//! shuts the environment down. A test can also play the function's runtime itself
//! ([`LambdaApi::invoke_in_process`]), to run an external extension beside "any" function.
//!
//! [`LambdaApi::start_managed`] behaves as Lambda Managed Instances do: it refuses an
//! extension's registration for `INVOKE`, gives the processes it spawns
//! `AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances` and `AWS_LAMBDA_MAX_CONCURRENCY`,
//! hands out up to that many invocations at once, never freezes anything (no `INVOKE` events),
//! and sends `SHUTDOWN` with a deadline.

use std::collections::{HashMap, VecDeque};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:standin";

/// How an invocation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response` with this body.
    Response(Value),
    /// `POST /runtime/invocation/{id}/error`: the `Lambda-Runtime-Function-Error-Type` header
    /// and the body.
    Error { error_type: String, body: Value },
}

impl Outcome {
    /// The response body, or a panic naming the error.
    pub fn response(self) -> Value {
        match self {
            Outcome::Response(body) => body,
            Outcome::Error { error_type, body } => {
                panic!("the invocation failed: {error_type}: {body}")
            }
        }
    }
}

/// What happened, in order, with the time since the stand-in started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happened {
    /// The runtime took invocation `id` (its `next` returned).
    Delivered(String),
    /// The runtime answered invocation `id` (response or error).
    Answered(String),
    /// Extension `name` asked for its next event (it finished the previous one).
    ExtensionNext(String),
    /// An extension registered under `name`.
    Registered(String),
}

struct Extension {
    name: String,
    events: Vec<String>,
    queue: VecDeque<Value>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<(String, Value)>,
    outcomes: HashMap<String, Outcome>,
    init_error: Option<Value>,
    extension_errors: Vec<(String, Value)>,
    extensions: HashMap<String, Extension>,
    telemetry: Vec<String>,
    timeline: Vec<(Duration, Happened)>,
}

struct Shared {
    inner: Mutex<Inner>,
    changed: Notify,
    started: Instant,
    next_id: AtomicU64,
    invocation_timeout: Duration,
    /// Lambda Managed Instances: invocations served at once.
    managed: Option<usize>,
}

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let result = f(&mut self.inner.lock().expect("lambda stand-in state"));
        self.changed.notify_waiters();
        result
    }

    fn record(&self, inner: &mut Inner, happened: Happened) {
        inner.timeline.push((self.started.elapsed(), happened));
    }

    /// What the runtime's `next` does: takes the next queued invocation and gives `INVOKE` to
    /// the extensions registered for it.
    fn take_next(&self, inner: &mut Inner) -> Option<(String, Value)> {
        if let Some(limit) = self.managed {
            if in_flight(inner) >= limit {
                return None;
            }
        }
        let next = inner.queue.pop_front()?;
        let deadline = epoch_millis() + self.invocation_timeout.as_millis() as u64;
        for extension in inner.extensions.values_mut() {
            if extension.events.iter().any(|e| e == "INVOKE") {
                extension.queue.push_back(json!({
                    "eventType": "INVOKE",
                    "deadlineMs": deadline,
                    "requestId": next.0,
                    "invokedFunctionArn": FUNCTION_ARN,
                    "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-00000000-000000000000000000000000"},
                }));
            }
        }
        self.record(inner, Happened::Delivered(next.0.clone()));
        Some(next)
    }

    /// The runtime answered invocation `id`: keep the outcome, tell Telemetry API subscribers.
    fn answer(&self, id: String, outcome: Outcome) {
        let status = match &outcome {
            Outcome::Response(_) => "success",
            Outcome::Error { .. } => "error",
        };
        let destinations = self.with(|inner| {
            inner.outcomes.insert(id.clone(), outcome);
            self.record(inner, Happened::Answered(id.clone()));
            inner.telemetry.clone()
        });
        let batch = json!([{
            "time": "2026-01-01T00:00:00.000Z",
            "type": "platform.runtimeDone",
            "record": {"requestId": id, "status": status},
        }]);
        for destination in destinations {
            let batch = batch.clone();
            tokio::spawn(async move {
                let sent = reqwest::Client::new()
                    .post(&destination)
                    .header("content-type", "application/json")
                    .body(batch.to_string())
                    .send()
                    .await;
                if let Err(err) = sent {
                    tracing::warn!("telemetry to {destination} failed: {err}");
                }
            });
        }
    }

    /// Waits until `ready` returns something, re-checking on every change. A check that finds
    /// nothing notifies no one, so two waiters never wake each other in a loop.
    async fn wait_for<T>(&self, mut ready: impl FnMut(&mut Inner) -> Option<T>) -> T {
        loop {
            let notified = self.changed.notified();
            let found = ready(&mut self.inner.lock().expect("lambda stand-in state"));
            if let Some(value) = found {
                self.changed.notify_waiters();
                return value;
            }
            notified.await;
        }
    }
}

/// A running Lambda API stand-in; lives until the test process ends.
#[derive(Clone)]
pub struct LambdaApi {
    address: std::net::SocketAddr,
    shared: Arc<Shared>,
}

impl LambdaApi {
    /// Starts the stand-in on a free loopback port.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a stand-in that behaves as Lambda Managed Instances, with `max_concurrency`
    /// invocations at once.
    pub fn start_managed(max_concurrency: usize) -> Self {
        Self::start_with(Some(max_concurrency))
    }

    fn start_with(managed: Option<usize>) -> Self {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
            started: Instant::now(),
            next_id: AtomicU64::new(1),
            invocation_timeout: Duration::from_secs(30),
            managed,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/2020-01-01/extension/register", post(register))
            .route("/2020-01-01/extension/event/next", get(extension_next))
            .route("/2020-01-01/extension/init/error", post(extension_error))
            .route("/2020-01-01/extension/exit/error", post(extension_error))
            .route(
                "/2022-07-01/telemetry",
                axum::routing::put(subscribe_telemetry),
            )
            .with_state(shared.clone());
        let address = crate::serve(app);
        Self { address, shared }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` (host and port, no scheme).
    pub fn runtime_api(&self) -> String {
        self.address.to_string()
    }

    /// Queues an invocation and waits for the runtime's answer (30 s at most).
    pub async fn invoke(&self, payload: Value) -> Outcome {
        let id = format!(
            "req-{}",
            self.shared.next_id.fetch_add(1, Ordering::Relaxed)
        );
        self.shared
            .with(|inner| inner.queue.push_back((id.clone(), payload)));
        let wait = self
            .shared
            .wait_for(|inner| inner.outcomes.get(&id).cloned());
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("invocation {id} got no answer within 30 s"))
    }

    /// Sends `SHUTDOWN` to the extensions registered for it.
    pub fn shutdown_extensions(&self) {
        let deadline = epoch_millis() + 2_000;
        self.shared.with(|inner| {
            for extension in inner.extensions.values_mut() {
                if extension.events.iter().any(|e| e == "SHUTDOWN") {
                    extension.queue.push_back(json!({
                        "eventType": "SHUTDOWN",
                        "shutdownReason": "spindown",
                        "deadlineMs": deadline,
                    }));
                }
            }
        });
    }

    /// The body the runtime posted to `/runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<Value> {
        self.shared.with(|inner| inner.init_error.clone())
    }

    /// What extensions posted to `/extension/init/error` and `/extension/exit/error`: the
    /// `Lambda-Extension-Function-Error-Type` header and the body.
    pub fn extension_errors(&self) -> Vec<(String, Value)> {
        self.shared.with(|inner| inner.extension_errors.clone())
    }

    /// Plays the function's runtime for one invocation: takes it as the runtime's `next` would
    /// (extensions get `INVOKE`), runs `function` on the payload and answers with its result
    /// (Telemetry API subscribers get `platform.runtimeDone`).
    pub async fn invoke_in_process<F, Fut>(&self, payload: Value, function: F) -> Value
    where
        F: FnOnce(Value) -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        let id = format!(
            "req-{}",
            self.shared.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let (id, payload) = self
            .shared
            .with(|inner| {
                inner.queue.push_back((id, payload));
                self.shared.take_next(inner)
            })
            .expect("the invocation just queued");
        let result = function(payload).await;
        self.shared.answer(id, Outcome::Response(result.clone()));
        result
    }

    /// Names of the extensions registered so far.
    pub fn extensions(&self) -> Vec<String> {
        self.shared.with(|inner| {
            let mut names: Vec<String> =
                inner.extensions.values().map(|e| e.name.clone()).collect();
            names.sort();
            names
        })
    }

    /// Everything that happened so far, in order.
    pub fn timeline(&self) -> Vec<(Duration, Happened)> {
        self.shared.with(|inner| inner.timeline.clone())
    }

    /// How many times `happened` is in the timeline.
    pub fn count(&self, happened: &Happened) -> usize {
        self.shared
            .with(|inner| inner.timeline.iter().filter(|(_, h)| h == happened).count())
    }

    /// Waits until `happened` is in the timeline `times` times (10 s at most); returns whether
    /// it was.
    pub async fn wait_for_count(&self, happened: &Happened, times: usize) -> bool {
        let wait = self.shared.wait_for(|inner| {
            (inner.timeline.iter().filter(|(_, h)| h == happened).count() >= times).then_some(())
        });
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_ok()
    }

    /// Waits until `happened` is in the timeline (10 s at most); returns whether it was.
    pub async fn wait_until(&self, happened: &Happened) -> bool {
        let wait = self.shared.wait_for(|inner| {
            inner
                .timeline
                .iter()
                .any(|(_, h)| h == happened)
                .then_some(())
        });
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_ok()
    }

    /// Starts `binary` as Lambda would: with the Runtime API address and the function
    /// variables `lambda_runtime` reads, plus `env`.
    pub fn spawn(&self, binary: &str, env: &[(&str, &str)]) -> Child {
        self.spawn_with(binary, env, Stdio::null())
    }

    /// [`spawn`](Self::spawn), with the function's stdout (where Lambda's log lines and EMF
    /// metrics go) piped to the caller.
    pub fn spawn_with_stdout(&self, binary: &str, env: &[(&str, &str)]) -> Child {
        self.spawn_with(binary, env, Stdio::piped())
    }

    /// [`spawn`](Self::spawn) without the variables that say "Lambda Managed Instances", as
    /// a binary that does not look for them would behave.
    pub fn spawn_unaware(&self, binary: &str, env: &[(&str, &str)]) -> Child {
        let mut command = self.command(binary, env, Stdio::null());
        command
            .env_remove("AWS_LAMBDA_INITIALIZATION_TYPE")
            .env_remove("AWS_LAMBDA_MAX_CONCURRENCY");
        command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"))
    }

    fn spawn_with(&self, binary: &str, env: &[(&str, &str)], stdout: Stdio) -> Child {
        self.command(binary, env, stdout)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"))
    }

    fn command(&self, binary: &str, env: &[(&str, &str)], stdout: Stdio) -> Command {
        let mut command = binary_command(binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_api())
            .env("AWS_LAMBDA_FUNCTION_NAME", "standin")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/standin")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "standin-stream")
            .env("_HANDLER", "bootstrap")
            .stdout(stdout)
            .stderr(Stdio::null());
        if let Some(limit) = self.shared.managed {
            command
                .env("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances")
                .env("AWS_LAMBDA_MAX_CONCURRENCY", limit.to_string());
        }
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }
}

/// Invocations delivered and not answered yet.
fn in_flight(inner: &Inner) -> usize {
    let mut open = std::collections::HashSet::new();
    for (_, happened) in &inner.timeline {
        match happened {
            Happened::Delivered(id) => {
                open.insert(id.clone());
            }
            Happened::Answered(id) => {
                open.remove(id);
            }
            _ => {}
        }
    }
    open.len()
}

/// A command starting `binary`: directly, or through the emulator that
/// `LAMBDA_BINARY_RUNNER` names (`make test` runs the aarch64 builds with
/// `qemu-aarch64-static -L /usr/aarch64-linux-gnu`, Debian's user-mode emulation). Signals
/// sent to the child reach the emulated program: qemu forwards them.
pub fn binary_command(binary: &str) -> Command {
    let runner = std::env::var("LAMBDA_BINARY_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut command = Command::new(emulator);
            command.args(words).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// The binary to run as a Lambda function: the cargo-lambda release build (`bootstrap`, what
/// is deployed) when `LAMBDA_BINARIES_DIR` names it (`make test` does), else `fallback` (the
/// test profile's build of the same binary).
pub fn function_binary(name: &str, fallback: &str) -> String {
    deployed(&[name, "bootstrap"]).unwrap_or_else(|| fallback.to_string())
}

/// The extension executable to run: the one in the layer `make build` unpacked
/// (`$LAMBDA_BINARIES_DIR/layers/<name>/extensions/<name>`, what is deployed) when
/// `LAMBDA_BINARIES_DIR` is set, else `fallback` (the test profile's build).
pub fn layer_extension(name: &str, fallback: &str) -> String {
    deployed(&["layers", name, "extensions", name]).unwrap_or_else(|| fallback.to_string())
}

/// `$LAMBDA_BINARIES_DIR/<parts>`, which must exist and, when `LAMBDA_BINARIES_ARCH` is set
/// (`x86_64` or `aarch64`), be an executable of that architecture: a run meant for the arm64
/// builds cannot pass on x86_64 ones.
fn deployed(parts: &[&str]) -> Option<String> {
    let dir = std::env::var("LAMBDA_BINARIES_DIR")
        .ok()
        .filter(|d| !d.is_empty())?;
    let path = parts
        .iter()
        .fold(std::path::PathBuf::from(dir), |p, part| p.join(part));
    assert!(
        path.exists(),
        "LAMBDA_BINARIES_DIR is set but {} does not exist: run `make build` first",
        path.display()
    );
    if let Ok(expected) = std::env::var("LAMBDA_BINARIES_ARCH") {
        let found = elf_machine(&path);
        assert_eq!(
            found,
            expected,
            "{} is built for {found}, not {expected}",
            path.display()
        );
    }
    Some(path.to_string_lossy().into_owned())
}

/// The architecture an ELF executable is built for, from its header's `e_machine`.
fn elf_machine(path: &std::path::Path) -> String {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut header))
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(
        header.starts_with(b"\x7fELF"),
        "{} is not an ELF file",
        path.display()
    );
    match u16::from_le_bytes([header[18], header[19]]) {
        0x3e => "x86_64".into(),
        0xb7 => "aarch64".into(),
        other => format!("ELF machine {other:#x}"),
    }
}

/// A loopback port free right now, for a process under test to listen on.
///
/// Chosen below the kernel's ephemeral range (`ip_local_port_range`): a port bound to `:0`
/// and released comes from that range, where any outgoing connection of the run (DynamoDB and
/// HTTP clients of tests running beside this one) can take it before the server binds it, and
/// the server then fails to start. Below the range only another `free_port` can, one chance in
/// thousands, and the bind checks here catch a port that is taken already.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    const LOWEST: u16 = 10_000;
    let below = ephemeral_range_start().filter(|low| *low > LOWEST + 1_000);
    if let Some(below) = below {
        for _ in 0..1_000 {
            let random = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            let port = LOWEST + u16::try_from(random % u64::from(below - LOWEST)).unwrap_or(0);
            let free = |host: &str| std::net::TcpListener::bind((host, port)).is_ok();
            if free("127.0.0.1") && free("0.0.0.0") {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The first port of the kernel's ephemeral range, where it knows one (Linux).
fn ephemeral_range_start() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Waits (10 s at most) for `child` to exit and returns its exit status.
pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the function did not exit within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM to a child process, as Lambda does before it shuts an environment down.
pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {}", child.id());
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let (id, payload) = shared.wait_for(|inner| shared.take_next(inner)).await;
    let deadline = epoch_millis() + shared.invocation_timeout.as_millis() as u64;
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &id)
        .header("lambda-runtime-deadline-ms", deadline.to_string())
        .header("lambda-runtime-invoked-function-arn", FUNCTION_ARN)
        .header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0",
        )
        .body(Body::from(payload.to_string()))
        .unwrap_or_default()
}

/// A request header as text (empty when absent or not text).
fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn accepted() -> Response<Body> {
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(Body::from(r#"{"status":"OK"}"#))
        .unwrap_or_default()
}

async fn invocation_response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response<Body> {
    shared.answer(id, Outcome::Response(json_or_text(&body)));
    accepted()
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_string();
    shared.answer(
        id,
        Outcome::Error {
            error_type,
            body: json_or_text(&body),
        },
    );
    accepted()
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> Response<Body> {
    shared.with(|inner| inner.init_error = Some(json_or_text(&body)));
    accepted()
}

async fn register(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let name = header(&headers, "lambda-extension-name");
    let events: Vec<String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("events").cloned())
        .and_then(|e| serde_json::from_value(e).ok())
        .unwrap_or_default();
    if shared.managed.is_some() && events.iter().any(|e| e == "INVOKE") {
        // Lambda Managed Instances have no INVOKE events: registering for them fails the Init
        // (this body is the stand-in's own wording; what counts is the refusal).
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"errorType": "Extension.InvalidEventType",
                       "errorMessage": "INVOKE events are not supported on Lambda Managed Instances"})
                .to_string(),
            ))
            .unwrap_or_default();
    }
    let id = format!("ext-{}", shared.next_id.fetch_add(1, Ordering::Relaxed));
    shared.with(|inner| {
        inner.extensions.insert(
            id.clone(),
            Extension {
                name: name.clone(),
                events,
                queue: VecDeque::new(),
            },
        );
        shared.record(inner, Happened::Registered(name));
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("lambda-extension-identifier", id)
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"functionName": "standin", "functionVersion": "$LATEST", "handler": "bootstrap"})
                .to_string(),
        ))
        .unwrap_or_default()
}

async fn extension_next(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    let id = header(&headers, "lambda-extension-identifier");
    let known = shared.with(|inner| {
        let name = inner.extensions.get(&id).map(|e| e.name.clone());
        if let Some(name) = &name {
            shared.record(inner, Happened::ExtensionNext(name.clone()));
        }
        name.is_some()
    });
    if !known {
        return Response::builder()
            .status(StatusCode::FORBIDDEN)
            .body(Body::from(
                r#"{"errorType":"Extension.UnknownExtensionIdentifier"}"#,
            ))
            .unwrap_or_default();
    }
    let event = shared
        .wait_for(|inner| inner.extensions.get_mut(&id)?.queue.pop_front())
        .await;
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("lambda-extension-event-identifier", "event")
        .body(Body::from(event.to_string()))
        .unwrap_or_default()
}

async fn extension_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let error_type = header(&headers, "lambda-extension-function-error-type");
    shared.with(|inner| {
        inner
            .extension_errors
            .push((error_type, json_or_text(&body)))
    });
    accepted()
}

/// `PUT /2022-07-01/telemetry`: Lambda posts to `sandbox.localdomain`, which is this host here.
async fn subscribe_telemetry(State(shared): State<Arc<Shared>>, body: Bytes) -> Response<Body> {
    let destination = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["destination"]["URI"].as_str().map(str::to_string));
    let Some(destination) = destination else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Body::from(r#"{"errorType":"ValidationError"}"#))
            .unwrap_or_default();
    };
    let destination = destination.replace("sandbox.localdomain", "127.0.0.1");
    shared.with(|inner| inner.telemetry.push(destination));
    Response::builder()
        .status(StatusCode::OK)
        .body(Body::from("OK"))
        .unwrap_or_default()
}
