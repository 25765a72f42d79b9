//! A local HTTP/1 server for the readers' routes (the extension's OFREP on localhost,
//! `example-reader serve`) that bad or idle clients cannot take over: headers must arrive
//! within a deadline and stay small, idle connections are closed, and at the connection cap
//! the longest-idle connection makes room for a new one, so a well-behaved client is answered
//! while a thousand idle ones are connected and the process stays far below Lambda's 1,024
//! file descriptors. Request bodies are bounded by the routes themselves.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt;

/// What a client may hold of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Open connections at most; the longest-idle one is closed to admit another.
    pub max_connections: usize,
    /// A request's headers must be complete this long after the server starts reading them.
    pub header_timeout: Duration,
    /// A connection with no request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers) read, in bytes.
    pub max_head_bytes: usize,
}

impl ServerLimits {
    /// The defaults, with room for every invocation an environment serves at once
    /// (`AWS_LAMBDA_MAX_CONCURRENCY` on Lambda Managed Instances), each with a few connections.
    pub fn for_this_environment() -> Self {
        let default = Self::default();
        let wanted = crate::max_concurrency().map_or(0, |n| n.saturating_mul(4));
        Self {
            max_connections: default.max_connections.max(wanted),
            ..default
        }
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_head_bytes: 16 * 1024,
        }
    }
}

/// One open connection, as the cap sees it.
struct Slot {
    busy: AtomicUsize,
    idle_since_millis: AtomicU64,
    close: Notify,
}

#[derive(Default)]
struct Connections {
    next: u64,
    open: HashMap<u64, Arc<Slot>>,
}

/// Serves `app` on `listener` within `limits` until the listener fails for good.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
) -> std::io::Result<()> {
    let connections = Arc::new(Mutex::new(Connections::default()));
    let started = Instant::now();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of descriptors or a connection reset before accept: not fatal.
                tracing::warn!("accepting a connection failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some((id, slot)) = admit(&connections, limits.max_connections, started) else {
            tracing::warn!(
                "{} connections are all busy; a new one was closed",
                limits.max_connections
            );
            continue;
        };
        let app = app.clone();
        let connections = connections.clone();
        tokio::spawn(async move {
            run_connection(stream, app, slot, limits, started).await;
            if let Ok(mut connections) = connections.lock() {
                connections.open.remove(&id);
            }
        });
    }
}

/// A slot for a new connection; at the cap, the longest-idle connection is told to close.
/// `None` when every connection is busy answering.
fn admit(
    connections: &Mutex<Connections>,
    cap: usize,
    started: Instant,
) -> Option<(u64, Arc<Slot>)> {
    let mut connections = connections.lock().ok()?;
    if connections.open.len() >= cap {
        let idlest = connections
            .open
            .iter()
            .filter(|(_, slot)| slot.busy.load(Ordering::SeqCst) == 0)
            .min_by_key(|(_, slot)| slot.idle_since_millis.load(Ordering::SeqCst))
            .map(|(id, _)| *id)?;
        if let Some(slot) = connections.open.remove(&idlest) {
            slot.close.notify_one();
        }
    }
    let id = connections.next;
    connections.next += 1;
    let slot = Arc::new(Slot {
        busy: AtomicUsize::new(0),
        idle_since_millis: AtomicU64::new(millis_since(started)),
        close: Notify::new(),
    });
    connections.open.insert(id, slot.clone());
    Some((id, slot))
}

fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn run_connection(
    stream: TcpStream,
    app: Router,
    slot: Arc<Slot>,
    limits: ServerLimits,
    started: Instant,
) {
    let _ = stream.set_nodelay(true);
    let tracked = slot.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let app = app.clone();
        let slot = tracked.clone();
        async move {
            slot.busy.fetch_add(1, Ordering::SeqCst);
            let response = app.oneshot(request).await;
            slot.busy.fetch_sub(1, Ordering::SeqCst);
            slot.idle_since_millis
                .store(millis_since(started), Ordering::SeqCst);
            Ok::<_, Infallible>(match response {
                Ok(response) => response,
                Err(never) => match never {},
            })
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let tick = (limits.idle_timeout / 4).max(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = slot.close.notified() => return,
            () = tokio::time::sleep(tick) => {
                let idle_for = millis_since(started)
                    .saturating_sub(slot.idle_since_millis.load(Ordering::SeqCst));
                let idle = slot.busy.load(Ordering::SeqCst) == 0;
                if idle && Duration::from_millis(idle_for) >= limits.idle_timeout {
                    return;
                }
            }
        }
    }
}
