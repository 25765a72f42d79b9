//! Test harness shared by the workspace's tests.
//!
//! DynamoDB is always the real Amazon DynamoDB Local, started once per test run by
//! `launchdarkly-dynamo-local run` ([`local`], through `scripts/with-local-aws.sh`, which
//! `make test` calls); tests get their own table each.

pub mod dynamodb;
pub mod events;
pub mod events_sink;
pub mod lambda;
pub mod launchdarkly;
pub mod local;
pub mod logs;
pub mod proxy;
pub mod ssm;

use std::sync::OnceLock;

use tokio::runtime::Runtime;

/// A runtime that lives for the whole test process, for background servers and for setup code
/// of synchronous tests (so pooled connections never outlive the runtime that made them).
pub fn rt() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("testkit")
            .enable_all()
            .build()
            .expect("the test runtime starts")
    })
}

/// Runs a future to completion on [`rt`].
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    rt().block_on(future)
}

/// Serves `app` on a free loopback port from [`rt`] and returns the address. Safe to call from
/// any context, async tests included: the listener belongs to the long-lived runtime.
pub fn serve(app: axum::Router) -> std::net::SocketAddr {
    let (sender, receiver) = std::sync::mpsc::channel();
    rt().spawn(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let _ = sender.send(listener.local_addr().expect("local address"));
        let _ = axum::serve(listener, app).await;
    });
    receiver.recv().expect("the server started")
}
