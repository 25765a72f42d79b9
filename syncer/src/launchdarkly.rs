//! The LaunchDarkly client: `GET {base}/sdk/latest-all` with the server-side SDK key, ETag
//! revalidation, bounded timeouts and retries of transient failures within the deadline.
//! Redirects are followed only within the origin of `LAUNCHDARKLY_BASE_URI`, and only a few:
//! data from any other host is never fetched, so it can never be written to the table.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, ETAG, IF_NONE_MATCH, LOCATION, RETRY_AFTER, USER_AGENT};
use reqwest::redirect;
use reqwest::StatusCode;
use tokio::time::Instant;

use crate::secrets::Secret;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_BASE: Duration = Duration::from_millis(250);
const RETRY_CAP: Duration = Duration::from_secs(5);
/// A `Retry-After` longer than this is not honoured as given: the sync has a budget to keep.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(10);
/// Connection failures (refused, DNS) rarely heal within a sync: give up after this many.
const CONNECT_ATTEMPTS: u32 = 2;
/// Same-origin redirects followed in one request; more is a loop or a misconfiguration.
pub const MAX_REDIRECTS: usize = 3;

/// What a fetch got.
#[derive(Debug)]
pub enum Fetched {
    /// `304`: the data is unchanged since the ETag given.
    NotModified,
    /// The full body and its ETag.
    Data { body: Bytes, etag: Option<String> },
}

/// Why a fetch failed. Nothing was written when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("LaunchDarkly refused the SDK key ({0}): check that the key is the environment's server-side SDK key")]
    Unauthorized(StatusCode),
    #[error("LaunchDarkly answered {status} to {url}: {snippet}")]
    Status {
        status: StatusCode,
        url: String,
        snippet: String,
    },
    #[error("LaunchDarkly was still failing after {attempts} attempt(s) within the time budget; last error: {last}")]
    GaveUp { attempts: u32, last: String },
    #[error("could not connect to LaunchDarkly at {base_uri} after {attempts} attempts ({reason}): check LAUNCHDARKLY_BASE_URI and that the function can reach it (VPC, NAT, DNS)")]
    Unreachable {
        base_uri: String,
        attempts: u32,
        reason: String,
    },
    #[error("LAUNCHDARKLY_BASE_URI {base_uri} redirected to another origin ({location}); nothing was fetched from there nor written: set LAUNCHDARKLY_BASE_URI to the URL that serves the data")]
    CrossOriginRedirect { base_uri: String, location: String },
    #[error("LAUNCHDARKLY_BASE_URI {base_uri} redirected more than {MAX_REDIRECTS} times (a redirect loop?); nothing was written: set LAUNCHDARKLY_BASE_URI to the URL that serves the data")]
    TooManyRedirects { base_uri: String },
    #[error("the LaunchDarkly response is larger than {limit_mb} MiB (LAUNCHDARKLY_MAX_RESPONSE_MB); nothing was written: raise the limit and the function's memory together")]
    TooLarge { limit_mb: u64 },
    #[error("could not read the data file {path} ({reason}); nothing was written")]
    File { path: String, reason: String },
}

/// What a fetch leaves of its budget: its last attempt ends this much before the deadline.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// The data set of `syncer sync --from-file`: the file's bytes, at most `max_body` of them.
pub fn read_data_file(path: &std::path::Path, max_body: u64) -> Result<Fetched, FetchError> {
    let failed = |reason: String| FetchError::File {
        path: path.display().to_string(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| failed(e.to_string()))?
        .len();
    if size > max_body {
        return Err(failed(format!(
            "{size} bytes, more than LAUNCHDARKLY_MAX_RESPONSE_MB allows"
        )));
    }
    let body = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    Ok(Fetched::Data {
        body: Bytes::from(body),
        etag: None,
    })
}

/// Fetches all flags and segments.
#[derive(Clone)]
pub struct LaunchDarklyClient {
    http: reqwest::Client,
    base_uri: String,
    url: String,
    request_timeout: Duration,
    max_body: u64,
}

impl LaunchDarklyClient {
    pub fn new(
        base_uri: &str,
        request_timeout: Duration,
        max_body: u64,
    ) -> Result<Self, reqwest::Error> {
        let base_uri = base_uri.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(same_origin_redirects(&base_uri))
            .build()?;
        Ok(Self {
            http,
            url: format!("{base_uri}/sdk/latest-all"),
            base_uri,
            request_timeout,
            max_body,
        })
    }

    /// The URL fetched.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fetches, retrying 429, 5xx, timeouts, network errors and cut-off bodies with backoff
    /// until `deadline`. 401/403 and other 4xx fail at once; a host that refuses connections
    /// or does not resolve fails after two tries.
    pub async fn fetch_all(
        &self,
        sdk_key: &Secret,
        etag: Option<&str>,
        deadline: Instant,
    ) -> Result<Fetched, FetchError> {
        let mut attempt: u32 = 0;
        let mut connect_failures: u32 = 0;
        loop {
            attempt += 1;
            // Each attempt ends a little before the budget, so the fetch says why it failed
            // (a timeout, LaunchDarkly's status) instead of the budget's deadline cutting it off.
            let remaining = deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(DEADLINE_MARGIN);
            let (retry_after, last) = match self
                .attempt(sdk_key, etag, remaining.min(self.request_timeout))
                .await
            {
                Ok(fetched) => return Ok(fetched),
                Err(Attempt::Fatal(err)) => return Err(err),
                Err(Attempt::Unreachable(reason)) => {
                    connect_failures += 1;
                    if connect_failures >= CONNECT_ATTEMPTS {
                        return Err(FetchError::Unreachable {
                            base_uri: self.base_uri.clone(),
                            attempts: connect_failures,
                            reason,
                        });
                    }
                    (None, reason)
                }
                Err(Attempt::Retry {
                    retry_after,
                    reason,
                }) => (retry_after, reason),
            };
            let delay = retry_delay(attempt, retry_after);
            if Instant::now() + delay + DEADLINE_MARGIN >= deadline {
                return Err(FetchError::GaveUp {
                    attempts: attempt,
                    last,
                });
            }
            tracing::warn!(
                "LaunchDarkly fetch attempt {attempt} failed ({last}); retrying in {delay:?}"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        sdk_key: &Secret,
        etag: Option<&str>,
        timeout: Duration,
    ) -> Result<Fetched, Attempt> {
        let mut request = self
            .http
            .get(&self.url)
            .header(AUTHORIZATION, sdk_key.expose())
            .header(
                USER_AGENT,
                concat!(
                    "launchdarkly-dynamo-store-syncer/",
                    env!("CARGO_PKG_VERSION")
                ),
            )
            .timeout(timeout);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_redirect() {
                Attempt::Fatal(FetchError::TooManyRedirects {
                    base_uri: self.base_uri.clone(),
                })
            } else if e.is_connect() {
                Attempt::Unreachable(describe(&e))
            } else {
                Attempt::retry(describe(&e))
            }
        })?;
        self.read_response(response).await
    }

    /// What one answer of LaunchDarkly means: data, not modified, or why not.
    async fn read_response(&self, response: reqwest::Response) -> Result<Fetched, Attempt> {
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match status {
            StatusCode::NOT_MODIFIED => Ok(Fetched::NotModified),
            // The policy stopped at a redirect to another origin.
            s if s.is_redirection() => Err(Attempt::Fatal(FetchError::CrossOriginRedirect {
                base_uri: self.base_uri.clone(),
                location: header(LOCATION)
                    .map_or_else(|| "no Location".to_string(), |l| origin_of(&l)),
            })),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(Attempt::Fatal(FetchError::Unauthorized(status)))
            }
            s if s.is_success() => {
                let etag = header(ETAG);
                let body = self.read_body(response).await?;
                Ok(Fetched::Data { body, etag })
            }
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                let retry_after = header(RETRY_AFTER)
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Err(Attempt::Retry {
                    retry_after,
                    reason: format!("HTTP {s}"),
                })
            }
            s => {
                let body = response.text().await.unwrap_or_default();
                Err(Attempt::Fatal(FetchError::Status {
                    status: s,
                    url: self.url.clone(),
                    snippet: body.chars().take(200).collect(),
                }))
            }
        }
    }
}

/// Follows a redirect only to the origin (scheme, host, port) of `base_uri`, at most
/// [`MAX_REDIRECTS`] times; any other redirect is answered to the caller as it is.
fn same_origin_redirects(base_uri: &str) -> redirect::Policy {
    let origin = reqwest::Url::parse(base_uri).ok().map(|url| url.origin());
    redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if Some(attempt.url().origin()) == origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The origin of a redirect target, for the log: never its path or query (they may hold tokens).
fn origin_of(location: &str) -> String {
    match reqwest::Url::parse(location) {
        Ok(url) => url.origin().ascii_serialization(),
        Err(_) => "a relative or malformed Location".to_string(),
    }
}

/// Full-jitter exponential backoff, or the server's `Retry-After` if longer, capped at
/// [`RETRY_AFTER_CAP`] so a hostile or confused header cannot stall the sync.
fn retry_delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let jitter = launchdarkly_dynamo_common::backoff::full_jitter(attempt, RETRY_BASE, RETRY_CAP);
    retry_after
        .unwrap_or(Duration::ZERO)
        .min(RETRY_AFTER_CAP)
        .max(jitter)
}

impl LaunchDarklyClient {
    /// Reads the body up to the size limit. A body cut off mid-transfer is an error here
    /// (length or chunking mismatch), retried like any transient failure.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Bytes, Attempt> {
        let too_large = || {
            Attempt::Fatal(FetchError::TooLarge {
                limit_mb: self.max_body / (1024 * 1024),
            })
        };
        let announced = response.content_length();
        if announced.is_some_and(|n| n > self.max_body) {
            return Err(too_large());
        }
        // Sized once when the length is announced: growing by doubling would briefly hold
        // the old and the new buffer, three times the body.
        let capacity = announced.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        let mut body = bytes::BytesMut::with_capacity(capacity);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > self.max_body {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body.freeze()),
                Err(e) => {
                    return Err(Attempt::retry(format!(
                        "the response body was cut off: {}",
                        describe(&e)
                    )))
                }
            }
        }
    }
}

enum Attempt {
    Fatal(FetchError),
    /// The connection could not be made (refused, DNS failure, connect timeout).
    Unreachable(String),
    Retry {
        retry_after: Option<Duration>,
        reason: String,
    },
}

impl Attempt {
    fn retry(reason: String) -> Self {
        Attempt::Retry {
            retry_after: None,
            reason,
        }
    }
}

fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_string()
    } else {
        err.to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_honoured_but_clamped() {
        for attempt in 1..20 {
            assert!(retry_delay(attempt, None) <= RETRY_CAP);
            assert_eq!(
                retry_delay(attempt, Some(Duration::from_secs(86_400))),
                RETRY_AFTER_CAP
            );
            assert!(retry_delay(attempt, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
        }
    }
}
