//! The SSM Parameter Store calls the Lambdas make (`GetParameter`, for secrets): SigV4-signed
//! JSON over HTTPS, with the AWS configuration's credentials, region and endpoint, the same
//! timeouts as the AWS clients and retries of throttling and server errors.
//!
//! Why not the AWS SDK's `aws-sdk-ssm`: for one operation it was the largest crate of the build,
//! about 150 s of CPU in every release build of every architecture and on its critical path
//! (docs/performance.md#build-times). Signing is the SDK's own (`aws-sigv4`).
//!
//! Endpoint: `AWS_ENDPOINT_URL_SSM`, else the configuration's `AWS_ENDPOINT_URL` (or profile
//! `endpoint_url`), else `https://ssm[-fips].<region>.amazonaws.com` (`.amazonaws.com.cn` in
//! China regions). Other partitions need `AWS_ENDPOINT_URL_SSM`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use launchdarkly_dynamo_store::error_chain;

use crate::aws::{ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, OPERATION_TIMEOUT};

/// Parameters are at most 8 KB (advanced tier); anything much larger is not SSM.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Attempts of one call (the AWS SDK's standard retry mode makes 3).
const ATTEMPTS: u32 = 3;
const RETRY_BASE: Duration = Duration::from_millis(100);
const RETRY_CAP: Duration = Duration::from_secs(2);
const SERVICE: &str = "ssm";

type HttpClient = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A failed SSM call: what AWS answered, or why no answer came. Never holds a parameter value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SsmError {
    /// SSM answered with an error (`ParameterNotFound`, `AccessDeniedException`, ...).
    #[error("{code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    /// No credentials could be had from the configuration's chain.
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    /// No answer within the timeouts.
    #[error("no answer from SSM within {0:?}")]
    Timeout(Duration),
    /// The request could not be made or the answer could not be read.
    #[error("{0}")]
    Transport(String),
}

impl SsmError {
    /// The AWS error code, or the kind of failure (`no credentials`, `timeout`, `dispatch
    /// failure`), as the store words them for DynamoDB.
    pub fn code(&self) -> &str {
        match self {
            Self::Service { code, .. } => code,
            Self::Credentials(_) => "no credentials",
            Self::Timeout(_) => "timeout",
            Self::Transport(_) => "dispatch failure",
        }
    }

    /// What happened, without the code.
    pub fn message(&self) -> String {
        match self {
            Self::Service { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Service { status, code, .. } => {
                *status >= 500
                    || matches!(
                        code.as_str(),
                        "ThrottlingException" | "Throttling" | "TooManyRequestsException"
                    )
            }
            Self::Timeout(_) | Self::Transport(_) => true,
            Self::Credentials(_) => false,
        }
    }
}

/// An SSM client: cheap to clone, built once per process.
#[derive(Clone)]
pub struct SsmClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Made at the first call (reading the system's root certificates costs a reader that never
    /// calls SSM); `Err` when none could be loaded: every call then says so.
    http: std::sync::OnceLock<Result<HttpClient, String>>,
    endpoint: String,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
}

impl SsmClient {
    /// A client on the AWS configuration (`crate::aws::load_config`).
    pub fn new(aws: &SdkConfig) -> Self {
        let region = aws.region().map_or_else(String::new, |r| r.to_string());
        let endpoint = std::env::var("AWS_ENDPOINT_URL_SSM")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .or_else(|| aws.endpoint_url().map(str::to_string))
            .unwrap_or_else(|| regional_endpoint(&region, aws.use_fips() == Some(true)));
        Self::with_endpoint(&endpoint, &region, aws.credentials_provider())
    }

    /// A client for the SSM endpoint `endpoint` (a local stand-in, in tests).
    pub fn with_endpoint(
        endpoint: &str,
        region: &str,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: std::sync::OnceLock::new(),
                endpoint: endpoint.trim_end_matches('/').to_string() + "/",
                region: region.to_string(),
                credentials,
            }),
        }
    }

    /// The value of the parameter `name`, decrypted; `None` when it does not exist.
    pub async fn get_parameter(&self, name: &str) -> Result<Option<String>, SsmError> {
        let answer = self
            .call(
                "GetParameter",
                &serde_json::json!({"Name": name, "WithDecryption": true}),
            )
            .await;
        match answer {
            Ok(body) => Ok(body
                .pointer("/Parameter/Value")
                .and_then(Value::as_str)
                .map(str::to_string)),
            Err(SsmError::Service { code, .. }) if code == "ParameterNotFound" => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// One SSM JSON operation (`GetParameter`, `PutParameter`, ...) with its request body: the
    /// answer's body, after up to 3 attempts for throttling, server errors and timeouts, all
    /// within 15 s.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, SsmError> {
        let body = Bytes::from(body.to_string());
        let attempts = async {
            let mut attempt = 0;
            loop {
                let result = self.attempt(operation, body.clone()).await;
                attempt += 1;
                match result {
                    Err(err) if err.is_retryable() && attempt < ATTEMPTS => {
                        tokio::time::sleep(crate::backoff::full_jitter(
                            attempt, RETRY_BASE, RETRY_CAP,
                        ))
                        .await;
                    }
                    other => return other,
                }
            }
        };
        tokio::time::timeout(OPERATION_TIMEOUT, attempts)
            .await
            .unwrap_or(Err(SsmError::Timeout(OPERATION_TIMEOUT)))
    }

    async fn attempt(&self, operation: &str, body: Bytes) -> Result<Value, SsmError> {
        let http = self
            .inner
            .http
            .get_or_init(http_client)
            .as_ref()
            .map_err(|e| SsmError::Transport(e.clone()))?;
        let request = self.signed_request(operation, body).await?;
        let exchange = async {
            let response = http
                .request(request)
                .await
                .map_err(|e| SsmError::Transport(error_chain(&e)))?;
            let status = response.status().as_u16();
            let header_code = response
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| SsmError::Transport(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, SsmError>((status, header_code, bytes))
        };
        let (status, header_code, bytes) = tokio::time::timeout(ATTEMPT_TIMEOUT, exchange)
            .await
            .map_err(|_| SsmError::Timeout(ATTEMPT_TIMEOUT))??;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if (200..300).contains(&status) {
            return json.ok_or_else(|| {
                SsmError::Transport(format!(
                    "HTTP {status} that is not an SSM answer (not JSON)"
                ))
            });
        }
        Err(service_error(status, header_code.as_deref(), json.as_ref()))
    }

    async fn signed_request(
        &self,
        operation: &str,
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, SsmError> {
        let provider = self.inner.credentials.as_ref().ok_or_else(|| {
            SsmError::Credentials("the AWS configuration has no credential source".to_string())
        })?;
        let identity = provider
            .provide_credentials()
            .await
            .map_err(|e| SsmError::Credentials(error_chain(&e)))?
            .into();
        let target = format!("AmazonSSM.{operation}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.inner.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SsmError::Transport(format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.inner.endpoint.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| SsmError::Transport(format!("signing for {}: {e}", self.inner.endpoint)))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| SsmError::Transport(format!("signing: {e}")))?
            .into_parts();
        let mut builder = http::Request::post(&self.inner.endpoint);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let mut request = builder.body(Full::new(body)).map_err(|e| {
            SsmError::Transport(format!("the endpoint {}: {e}", self.inner.endpoint))
        })?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// SSM's public endpoint of `region`.
fn regional_endpoint(region: &str, fips: bool) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let service = if fips { "ssm-fips" } else { "ssm" };
    format!("https://{service}.{region}.{suffix}")
}

/// HTTPS (and plain HTTP, for local stand-ins) with the system's root certificates, over
/// aws-lc-rs as the AWS clients are.
fn http_client() -> Result<HttpClient, String> {
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .map_err(|e| format!("no TLS root certificates could be loaded: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Ok(hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https))
}

/// The error of an SSM answer: the code from the body's `__type` (or the `x-amzn-ErrorType`
/// header), without its namespace (`com.amazonaws.ssm#`) or suffix (`:http://...`).
fn service_error(status: u16, header_code: Option<&str>, body: Option<&Value>) -> SsmError {
    let field = |key: &str| body.and_then(|b| b.get(key)).and_then(Value::as_str);
    let raw_code = field("__type").or(header_code);
    let code = raw_code.map_or_else(
        || {
            if status >= 500 {
                "unavailable".to_string()
            } else {
                format!("HTTP {status}")
            }
        },
        |c| {
            let c = c.rsplit('#').next().unwrap_or(c);
            c.split(':').next().unwrap_or(c).to_string()
        },
    );
    let message = field("message").or_else(|| field("Message")).map_or_else(
        || format!("HTTP {status} without a message"),
        str::to_string,
    );
    SsmError::Service {
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    use aws_credential_types::Credentials;
    use axum::http::{HeaderMap, StatusCode};

    /// What the stand-in received: headers and body of each request.
    type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

    /// An SSM stand-in that throttles the first request and answers the others with a value.
    async fn throttling_once() -> (String, Received) {
        let received: Received = Arc::default();
        let seen = received.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move {
                    let mut seen = seen.lock().unwrap();
                    seen.push((headers, body));
                    if seen.len() == 1 {
                        (StatusCode::BAD_REQUEST, r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
                    } else {
                        (StatusCode::OK, r#"{"Parameter":{"Name":"/ld/sdkkey","Type":"SecureString","Value":"sdk-123"}}"#)
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (endpoint, received)
    }

    fn credentials() -> Credentials {
        Credentials::new("AKIDEXAMPLE", "secret-example", None, None, "test")
    }

    /// The signature the request's own headers and body give, recomputed as SSM would.
    fn expected_authorization(endpoint: &str, headers: &HeaderMap, body: &[u8]) -> String {
        let header = |name: &str| headers[name].to_str().unwrap();
        let time = chrono::NaiveDateTime::parse_from_str(header("x-amz-date"), "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        let identity = credentials().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("ssm")
            .time(time.into())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signed = [
            ("content-type", header("content-type")),
            ("x-amz-target", header("x-amz-target")),
            ("x-amz-date", header("x-amz-date")),
        ];
        let signable = SignableRequest::new(
            "POST",
            format!("{endpoint}/"),
            signed.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let (headers, _) = instructions.into_parts();
        headers
            .iter()
            .find(|h| h.name() == "authorization")
            .map(|h| h.value().to_string())
            .unwrap()
    }

    #[tokio::test]
    async fn a_throttled_get_parameter_is_retried_and_sent_as_signed() {
        let (endpoint, received) = throttling_once().await;
        let provider = SharedCredentialsProvider::new(credentials());
        let client = SsmClient::with_endpoint(&endpoint, "eu-west-1", Some(provider));

        let value = client.get_parameter("/ld/sdkkey").await.unwrap();

        assert_eq!(value.as_deref(), Some("sdk-123"));
        let received = received.lock().unwrap();
        assert_eq!(received.len(), 2, "one throttled attempt, one answered");
        let (headers, body) = &received[1];
        assert_eq!(headers["x-amz-target"], "AmazonSSM.GetParameter");
        assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
        let request: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            request,
            serde_json::json!({"Name": "/ld/sdkkey", "WithDecryption": true})
        );
        let authorization = headers["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && authorization.contains("/eu-west-1/ssm/aws4_request"),
            "{authorization}"
        );
        assert_eq!(
            authorization,
            expected_authorization(&endpoint, headers, body)
        );
    }

    #[tokio::test]
    async fn no_credentials_and_no_server_are_errors_that_say_so() {
        let client = SsmClient::with_endpoint("http://127.0.0.1:9", "eu-west-1", None);
        let err = client.get_parameter("/ld/sdkkey").await.unwrap_err();
        assert_eq!(err.code(), "no credentials");

        let provider = SharedCredentialsProvider::new(credentials());
        let client = SsmClient::with_endpoint("http://127.0.0.1:9", "eu-west-1", Some(provider));
        let err = client.get_parameter("/ld/sdkkey").await.unwrap_err();
        assert_eq!(err.code(), "dispatch failure", "{err}");
        assert!(err.message().contains("onnect"), "{err}");
    }

    #[test]
    fn public_endpoints_follow_the_partition() {
        assert_eq!(
            regional_endpoint("eu-west-1", false),
            "https://ssm.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("us-east-1", true),
            "https://ssm-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("cn-north-1", false),
            "https://ssm.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn error_codes_lose_their_namespace_and_suffix() {
        let body =
            serde_json::json!({"__type": "com.amazonaws.ssm#ParameterNotFound", "message": "gone"});
        let err = service_error(400, None, Some(&body));
        assert_eq!(err.code(), "ParameterNotFound");
        assert_eq!(err.message(), "gone");
        assert!(!err.is_retryable());
        let err = service_error(
            400,
            Some("ThrottlingException:http://internal.amazon.com/"),
            None,
        );
        assert_eq!(err.code(), "ThrottlingException");
        assert!(err.is_retryable());
        let err = service_error(503, None, None);
        assert_eq!(err.code(), "unavailable");
        assert!(err.is_retryable());
        let body = serde_json::json!({"__type": "AccessDeniedException", "Message": "not allowed"});
        let err = service_error(400, None, Some(&body));
        assert_eq!(
            (err.code(), err.message().as_str()),
            ("AccessDeniedException", "not allowed")
        );
    }
}
