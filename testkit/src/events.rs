//! Lambda events as AWS sends them (shapes from the AWS documentation), for handler tests and
//! for invocations through the Runtime API stand-in.

use base64::Engine;
use serde_json::{json, Map, Value};

/// An HTTP request to turn into an event of any source.
#[derive(Clone, Debug)]
pub struct HttpCall<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a str>,
}

impl<'a> HttpCall<'a> {
    /// `GET path?query`.
    pub fn get(path: &'a str, query: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            method: "GET",
            path,
            query,
            headers: &[],
            body: None,
        }
    }

    /// `POST path` with a body and headers.
    pub fn post(path: &'a str, headers: &'a [(&'a str, &'a str)], body: &'a str) -> Self {
        Self {
            method: "POST",
            path,
            query: &[],
            headers,
            body: Some(body),
        }
    }

    fn headers(&self) -> Map<String, Value> {
        let mut headers: Map<String, Value> = Map::new();
        headers.insert(
            "host".into(),
            json!("abc123.execute-api.us-east-1.amazonaws.com"),
        );
        headers.insert("user-agent".into(), json!("testkit"));
        for (name, value) in self.headers {
            headers.insert((*name).to_string(), json!(value));
        }
        headers
    }

    fn query_map(&self) -> Value {
        if self.query.is_empty() {
            return Value::Null;
        }
        Value::Object(
            self.query
                .iter()
                .map(|(k, v)| ((*k).to_string(), json!(v)))
                .collect(),
        )
    }

    fn raw_query(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// An API Gateway REST API (payload v1.0) proxy event, body as text.
    pub fn rest_v1(&self, resource: &str) -> Value {
        json!({
            "resource": resource,
            "path": self.path,
            "httpMethod": self.method,
            "headers": self.headers(),
            "multiValueHeaders": {},
            "queryStringParameters": self.query_map(),
            "multiValueQueryStringParameters": null,
            "pathParameters": path_parameters(resource, self.path),
            "stageVariables": null,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "resourceId": "xyz",
                "resourcePath": resource,
                "httpMethod": self.method,
                "path": format!("/prod{}", self.path),
                "protocol": "HTTP/1.1",
                "stage": "prod",
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "requestTimeEpoch": 1_700_000_000_000u64,
                "identity": {"sourceIp": "192.0.2.1", "userAgent": "testkit"}
            },
            "body": self.body,
            "isBase64Encoded": false
        })
    }

    /// An HTTP API (payload v2.0) event, as API Gateway and function URLs send it; the body
    /// base64-encoded, as HTTP APIs do for payloads they do not treat as text.
    pub fn http_v2(&self, route: &str) -> Value {
        let body = self
            .body
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b));
        json!({
            "version": "2.0",
            "routeKey": format!("{} {}", self.method, route),
            "rawPath": self.path,
            "rawQueryString": self.raw_query(),
            "headers": self.headers(),
            "queryStringParameters": self.query_map(),
            "pathParameters": path_parameters(route, self.path),
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "abc123",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.1",
                    "userAgent": "testkit"
                },
                "requestId": "JKJaXmPLvHcESHA=",
                "routeKey": format!("{} {}", self.method, route),
                "stage": "$default",
                "time": "10/Mar/2024:00:00:00 +0000",
                "timeEpoch": 1_700_000_000_000u64
            },
            "body": body,
            "isBase64Encoded": body.is_some()
        })
    }

    /// An Application Load Balancer event.
    pub fn alb(&self) -> Value {
        json!({
            "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/abc"}},
            "httpMethod": self.method,
            "path": self.path,
            "queryStringParameters": if self.query.is_empty() { json!({}) } else { self.query_map() },
            "headers": self.headers(),
            "body": self.body.unwrap_or_default(),
            "isBase64Encoded": false
        })
    }
}

/// `{key}` from a route template such as `/flags/{key}`.
fn path_parameters(template: &str, path: &str) -> Value {
    let mut parameters = Map::new();
    for (part, actual) in template.split('/').zip(path.split('/')) {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            parameters.insert(name.to_string(), json!(actual));
        }
    }
    if parameters.is_empty() {
        Value::Null
    } else {
        Value::Object(parameters)
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An EventBridge scheduled event.
pub fn schedule() -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2024-03-10T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sync"],
        "detail": {}
    })
}

/// A `lambda_http` request from an event, exactly as `lambda_http::run` builds it.
pub fn request(event: &Value) -> lambda_http::Request {
    let lambda: lambda_http::request::LambdaRequest =
        serde_json::from_value(event.clone()).expect("a Lambda event");
    lambda.into()
}

/// A response as a test reads it.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// The body as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
}

/// Calls `app` with `request`, as `lambda_http::run` would, and reads the whole answer.
pub async fn call<S>(app: S, request: lambda_http::Request) -> Answer
where
    S: tower::Service<lambda_http::Request, Response = axum::response::Response>,
    S::Error: std::fmt::Debug,
{
    use tower::ServiceExt;
    let response = app.oneshot(request).await.expect("the router answers");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .expect("a readable body");
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}
