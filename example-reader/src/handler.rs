//! The HTTP routes, over `lambda_http`'s typed requests (API Gateway REST v1 and HTTP API v2,
//! ALB, function URLs, the local `serve` command and the Lambda extension): `GET /flags/{key}`,
//! `GET /flags`, and OFREP's `POST /ofrep/v1/evaluate/flags[/{key}]` (see [`crate::ofrep`]).

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use ld_dynamo_common::http::json_response;
use serde_json::json;

use crate::ofrep;
use crate::reader::{parse_context, Reader};

/// Answers one request. A store that cannot be read, or a table never synced, answers `503`
/// (OFREP: `500` with errorCode `GENERAL`) with what is wrong: never as if the flags were
/// missing.
pub async fn handle(reader: &Reader, request: &Request) -> Response<Body> {
    if let Some(route) = ofrep::route(path(request)) {
        if request.method() != Method::POST {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "OFREP evaluations are POST requests",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let query = request.query_string_parameters_ref();
        let ofrep_request = ofrep::OfrepRequest {
            route,
            body: request.body(),
            if_none_match: request
                .headers()
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok()),
            flag_config_last_modified: query.and_then(|q| q.first("flagConfigLastModified")),
        };
        return ofrep::answer(reader, &ofrep_request).await;
    }
    if request.method() != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported");
    }
    let Some(route) = route(request) else {
        return error(
            StatusCode::NOT_FOUND,
            "not found: use GET /flags/{key}, GET /flags, or OFREP's POST /ofrep/v1/evaluate/flags[/{key}]",
        );
    };
    let query = request.query_string_parameters_ref();
    let parameter = |name: &str| query.and_then(|q| q.first(name));
    let context = match parse_context(parameter("context"), parameter("key"), parameter("kind")) {
        Ok(context) => context,
        Err(err) => return error(StatusCode::BAD_REQUEST, &err.to_string()),
    };
    let answer = match route {
        Route::Flag(flag) => reader.evaluate(&flag, &context).await,
        Route::All => reader.evaluate_all(&context).await,
    };
    match answer {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(unavailable) => {
            tracing::error!("answered 503: {unavailable}");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "unavailable", "error": unavailable.to_string()}),
            )
        }
    }
}

enum Route {
    Flag(String),
    All,
}

/// The route from the `{key}` path parameter when API Gateway gives one, else from the path
/// (a REST API stage prefix such as `/prod` is allowed in front).
fn route(request: &Request) -> Option<Route> {
    if let Some(key) = request.path_parameters_ref().and_then(|p| p.first("key")) {
        return Some(Route::Flag(key.to_string()));
    }
    let path = path(request);
    let rest = &path[path.find("/flags")? + "/flags".len()..];
    match rest.trim_end_matches('/') {
        "" => Some(Route::All),
        key if key.starts_with('/') && !key[1..].contains('/') => {
            Some(Route::Flag(key[1..].to_string()))
        }
        _ => None,
    }
}

/// The request path as the client sent it.
fn path(request: &Request) -> &str {
    match request.raw_http_path() {
        "" => request.uri().path(),
        path => path,
    }
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": message }))
}
