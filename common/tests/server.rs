//! The readers' local server under clients that misbehave: headers that never finish, idle
//! connections, oversized heads, more connections than its cap. Each test serves a one-route
//! app on a port of its own and talks raw HTTP/1.1 over TCP.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use launchdarkly_dynamo_common::server::{serve, ServerLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const REQUEST: &[u8] = b"GET /ok HTTP/1.1\r\nhost: localhost\r\n\r\n";

async fn server(limits: ServerLimits) -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/ok", get(|| async { "ok" }));
    tokio::spawn(serve(listener, app, limits));
    port
}

fn limits() -> ServerLimits {
    ServerLimits {
        max_connections: 16,
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        max_head_bytes: 8 * 1024,
    }
}

/// Reads until the server closes the connection (3 s at most): what it sent, and when it closed.
async fn until_closed(stream: &mut TcpStream) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break Some(started.elapsed()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => break None,
        }
    };
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

/// One well-behaved request on a new connection: the status line.
async fn status_line(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    status_line_on(&mut stream).await
}

/// One well-behaved request on `stream`: the status line of its answer (2 s at most).
async fn status_line_on(stream: &mut TcpStream) -> String {
    stream.write_all(REQUEST).await.unwrap();
    let mut buffer = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer))
        .await
        .expect("answered within 2 s")
        .unwrap();
    String::from_utf8_lossy(&buffer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_finish_are_cut_off_at_the_header_timeout() {
    let port = server(limits()).await;
    let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    slow.write_all(b"GET /ok HTTP/1.1\r\nhost: loc")
        .await
        .unwrap();
    let (_, closed) = until_closed(&mut slow).await;
    let closed = closed.expect("closed by the server");
    assert!(
        closed >= Duration::from_millis(250),
        "closed after {closed:?}"
    );
    assert_eq!(status_line(port).await, "HTTP/1.1 200 OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let port = server(limits()).await;
    let mut idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    idle.write_all(REQUEST).await.unwrap();
    let (answer, closed) = until_closed(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    let closed = closed.expect("closed by the server once idle");
    assert!(
        closed >= Duration::from_millis(250),
        "closed after {closed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_head_is_refused_and_others_are_answered() {
    let port = server(limits()).await;
    let mut big = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "GET /ok HTTP/1.1\r\nhost: localhost\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    // The server may close before it has read everything: a failed write is a refusal too.
    let _ = big.write_all(head.as_bytes()).await;
    let (answer, closed) = until_closed(&mut big).await;
    assert!(closed.is_some(), "the connection was closed");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "never served: {answer}"
    );
    assert_eq!(status_line(port).await, "HTTP/1.1 200 OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_longest_idle_connection_makes_room() {
    let port = server(ServerLimits {
        max_connections: 4,
        idle_timeout: Duration::from_secs(60),
        header_timeout: Duration::from_secs(60),
        ..limits()
    })
    .await;
    let mut oldest = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A fifth client is answered at once; the longest idle of the four was closed for it.
    assert_eq!(status_line(port).await, "HTTP/1.1 200 OK");
    let (_, closed) = until_closed(&mut oldest).await;
    assert!(closed.is_some(), "the longest-idle connection was closed");
    // A newer idle connection is still served.
    let mut newer = others.pop().unwrap();
    assert_eq!(status_line_on(&mut newer).await, "HTTP/1.1 200 OK");
}
