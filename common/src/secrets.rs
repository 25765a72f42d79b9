//! Secrets (SDK key, webhook secret), given directly or read from SSM Parameter Store at run
//! time, cached per container and re-read after a TTL so a rotation needs no redeploy.

use std::time::Duration;

use tokio::sync::Mutex;

use crate::ssm::SsmClient;
use tokio::time::Instant;

/// A secret value; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    Value(Secret),
    /// The name of an SSM parameter (String or SecureString).
    Parameter(String),
}

/// Reading a secret from SSM failed (the message never contains the value).
#[derive(Debug, thiserror::Error)]
#[error("reading the SSM parameter \"{name}\" failed: {code}: {message}")]
pub struct SecretError {
    pub name: String,
    pub code: String,
    pub message: String,
}

/// One secret with its cache.
pub struct CachedSecret {
    source: SecretSource,
    ssm: SsmClient,
    ttl: Duration,
    cached: Mutex<Option<(Option<Secret>, Instant)>>,
}

impl CachedSecret {
    pub fn new(source: SecretSource, ssm: SsmClient, ttl: Duration) -> Self {
        Self {
            source,
            ssm,
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The parameter name, when the secret lives in SSM.
    pub fn parameter(&self) -> Option<&str> {
        match &self.source {
            SecretSource::Parameter(name) => Some(name),
            SecretSource::Value(_) => None,
        }
    }

    /// The secret; `None` when its SSM parameter does not exist.
    pub async fn get(&self) -> Result<Option<Secret>, SecretError> {
        let name = match &self.source {
            SecretSource::Value(secret) => return Ok(Some(secret.clone())),
            SecretSource::Parameter(name) => name,
        };
        let mut cached = self.cached.lock().await;
        if let Some((value, fetched)) = cached.as_ref() {
            if fetched.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        let value = self.fetch(name).await?;
        *cached = Some((value.clone(), Instant::now()));
        Ok(value)
    }

    async fn fetch(&self, name: &str) -> Result<Option<Secret>, SecretError> {
        match self.ssm.get_parameter(name).await {
            Ok(value) => Ok(value.filter(|v| !v.is_empty()).map(Secret::new)),
            Err(err) => Err(SecretError {
                name: name.to_string(),
                code: err.code().to_string(),
                message: err.message(),
            }),
        }
    }
}
