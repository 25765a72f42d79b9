//! Serializes syncs: a lease row, taken with a conditional write, in a namespace no SDK reads
//! (`[prefix:]$syncer-lease`). A sync fetches from LaunchDarkly only after taking it, so two
//! overlapping syncs apply in order and the later one always brings the newer data. The lease
//! expires by itself if its holder dies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use launchdarkly_dynamo_store::describe_aws_error;
use rand::Rng;
use tokio::time::Instant;

const LEASE_NAMESPACE: &str = "$syncer-lease";
const LEASE_KEY: &str = "lease";
const OWNER: &str = "owner";
const EXPIRES: &str = "expiresAtMillis";

/// Taking the lease failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("another sync kept the lease on table \"{table}\" for the whole time budget; this sync was not run (LaunchDarkly retries a failed webhook, and the other sync fetches the latest data anyway)")]
    Busy { table: String },
    #[error("taking the sync lease on table \"{table}\" failed: {message}")]
    Dynamo { table: String, message: String },
}

/// A held lease; release it when done.
pub struct Lease {
    client: Client,
    table: String,
    namespace: String,
    owner: String,
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn namespace(prefix: Option<&str>) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("{p}:{LEASE_NAMESPACE}"),
        _ => LEASE_NAMESPACE.to_string(),
    }
}

impl Lease {
    /// Takes the lease for `ttl`, waiting for a current holder until `deadline`.
    pub async fn acquire(
        client: &Client,
        table: &str,
        prefix: Option<&str>,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Self, LeaseError> {
        let namespace = namespace(prefix);
        let owner = format!("{:032x}", rand::rng().random::<u128>());
        let mut waited_for = 0u32;
        loop {
            let now = now_millis();
            let expires = now + u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX / 2);
            let result = client
                .put_item()
                .table_name(table)
                .item("namespace", AttributeValue::S(namespace.clone()))
                .item("key", AttributeValue::S(LEASE_KEY.to_string()))
                .item(OWNER, AttributeValue::S(owner.clone()))
                .item(EXPIRES, AttributeValue::N(expires.to_string()))
                .condition_expression("attribute_not_exists(#namespace) OR #expires < :now")
                .expression_attribute_names("#namespace", "namespace")
                .expression_attribute_names("#expires", EXPIRES)
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(Self {
                        client: client.clone(),
                        table: table.to_string(),
                        namespace,
                        owner,
                    })
                }
                Err(SdkError::ServiceError(e))
                    if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) => {}
                Err(err) => {
                    return Err(LeaseError::Dynamo {
                        table: table.to_string(),
                        message: error_text(&err),
                    })
                }
            }
            let delay = Duration::from_millis(rand::rng().random_range(50..=250));
            if Instant::now() + delay >= deadline {
                return Err(LeaseError::Busy {
                    table: table.to_string(),
                });
            }
            if waited_for == 0 {
                tracing::info!(
                    "another sync is running on table \"{table}\"; waiting for it to finish"
                );
            }
            waited_for += 1;
            tokio::time::sleep(delay).await;
        }
    }

    /// Gives the lease back (only if still ours). A failure only delays the next sync until
    /// the lease expires, so it is logged, not returned.
    pub async fn release(self) {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("namespace", AttributeValue::S(self.namespace.clone()))
            .key("key", AttributeValue::S(LEASE_KEY.to_string()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_values(":owner", AttributeValue::S(self.owner.clone()))
            .send()
            .await;
        if let Err(err) = result {
            let conditional = err
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception());
            if !conditional {
                tracing::warn!(
                    "could not release the sync lease on table \"{}\" ({}); the next sync waits until it expires",
                    self.table,
                    error_text(&err)
                );
            }
        }
    }
}

fn error_text<E, R>(err: &SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = describe_aws_error(err);
    format!("{code}: {message}")
}
