//! HTTP plumbing for the Lambdas' `lambda_http` handlers.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::Value;

/// A JSON response. For an event `lambda_http` passes through (not HTTP), the body becomes the
/// invocation's result.
pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
