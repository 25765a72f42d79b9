//! API Gateway routes: `GET /flags/{key}` and `GET /flags`, over plain request and response
//! types so they are tested without Lambda.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::reader::{parse_context, Reader};

/// The parts of an HTTP request the reader uses.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
}

/// A JSON response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

impl Request {
    /// Reads an API Gateway HTTP API (v2) or REST API (v1) proxy event.
    pub fn from_event(event: &Value) -> Self {
        let method = event
            .pointer("/requestContext/http/method")
            .or_else(|| event.get("httpMethod"))
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let path = match event.pointer("/pathParameters/key").and_then(Value::as_str) {
            Some(key) => format!("/flags/{key}"),
            None => event
                .get("rawPath")
                .or_else(|| event.get("path"))
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_string(),
        };
        let query = event
            .get("queryStringParameters")
            .and_then(Value::as_object)
            .map(|params| {
                params
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            method,
            path,
            query,
        }
    }
}

impl Response {
    fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
        }
    }

    /// As an API Gateway proxy response.
    pub fn into_event(self) -> Value {
        json!({
            "statusCode": self.status,
            "headers": {"content-type": "application/json"},
            "body": self.body.to_string(),
        })
    }
}

/// Answers one request.
pub async fn handle(reader: &Reader, request: &Request) -> Response {
    if request.method != "GET" {
        return Response::error(405, "only GET is supported");
    }
    let path = request.path.trim_end_matches('/');
    let flag = match path.strip_prefix("/flags") {
        Some("") => None,
        Some(rest) if rest.starts_with('/') && rest.len() > 1 => Some(&rest[1..]),
        _ => return Response::error(404, "not found: use GET /flags/{key} or GET /flags"),
    };
    let context = match parse_context(
        request.query.get("context").map(String::as_str),
        request.query.get("key").map(String::as_str),
        request.query.get("kind").map(String::as_str),
    ) {
        Ok(context) => context,
        Err(err) => return Response::error(400, err.to_string()),
    };
    let body = match flag {
        Some(flag) => reader.evaluate(flag, &context),
        None => reader.evaluate_all(&context),
    };
    reader.flush_events().await;
    Response { status: 200, body }
}
