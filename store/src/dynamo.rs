//! DynamoDB I/O: every request the store sends, with pagination, conditional writes and batch
//! writes that retry unprocessed items instead of dropping them.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::stream::{self, StreamExt};
use rand::Rng;
use tokio::time::Instant;

use crate::error::{describe_aws_error, is_throttling_code, StoreError};
use crate::report::ItemRef;
use crate::schema::{PARTITION_KEY, SORT_KEY, VERSION_ATTRIBUTE};

/// DynamoDB accepts at most 25 requests in one `BatchWriteItem`.
pub const MAX_BATCH_SIZE: usize = 25;

const BACKOFF_BASE: Duration = Duration::from_millis(25);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Tuning of batch writes.
#[derive(Clone, Debug)]
pub struct WriteSettings {
    /// Batches in flight at once.
    pub concurrency: usize,
    /// How long unprocessed or throttled items are retried before the write gives up.
    pub deadline: Duration,
}

impl Default for WriteSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            deadline: Duration::from_secs(30),
        }
    }
}

/// One put or delete in a batch, with the item it concerns.
pub struct WriteOp {
    pub item: ItemRef,
    pub request: WriteRequest,
}

impl WriteOp {
    pub fn put(
        item: ItemRef,
        attributes: HashMap<String, AttributeValue>,
    ) -> Result<Self, StoreError> {
        let put = PutRequest::builder()
            .set_item(Some(attributes))
            .build()
            .map_err(|e| StoreError::Setup(format!("building a PutRequest: {e}")))?;
        Ok(Self {
            item,
            request: WriteRequest::builder().put_request(put).build(),
        })
    }

    pub fn delete(item: ItemRef, key: HashMap<String, AttributeValue>) -> Result<Self, StoreError> {
        let delete = DeleteRequest::builder()
            .set_key(Some(key))
            .build()
            .map_err(|e| StoreError::Setup(format!("building a DeleteRequest: {e}")))?;
        Ok(Self {
            item,
            request: WriteRequest::builder().delete_request(delete).build(),
        })
    }
}

/// What a batch write did.
#[derive(Default)]
pub struct BatchOutcome {
    pub done: Vec<ItemRef>,
    pub failed: Vec<ItemRef>,
    pub requests: usize,
    /// The last error that made items fail, if any.
    pub cause: Option<String>,
}

/// One table, through one client.
#[derive(Clone, Debug)]
pub struct Table {
    client: Client,
    name: String,
    write: WriteSettings,
}

impl Table {
    pub fn new(client: Client, name: String, write: WriteSettings) -> Self {
        Self {
            client,
            name,
            write,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `GetItem` with a consistent read.
    pub async fn get(
        &self,
        key: HashMap<String, AttributeValue>,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", &self.name, e))?;
        Ok(output.item)
    }

    /// Every row of `namespace`, paginated to the end, consistent reads. With `projection`,
    /// only the sort key and version are read (the cheap read of what is stored).
    pub async fn query(
        &self,
        namespace: &str,
        versions_only: bool,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut rows = Vec::new();
        let mut start_key = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.name)
                .consistent_read(true)
                .key_condition_expression("#namespace = :namespace")
                .expression_attribute_names("#namespace", PARTITION_KEY)
                .expression_attribute_values(":namespace", AttributeValue::S(namespace.to_string()))
                .set_exclusive_start_key(start_key);
            if versions_only {
                request = request
                    .projection_expression("#key, #version")
                    .expression_attribute_names("#key", SORT_KEY)
                    .expression_attribute_names("#version", VERSION_ATTRIBUTE);
            }
            let output = request
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", &self.name, e))?;
            rows.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => return Ok(rows),
            }
        }
    }

    /// Unconditional `PutItem`.
    pub async fn put(&self, attributes: HashMap<String, AttributeValue>) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(attributes))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", &self.name, e))?;
        Ok(())
    }

    /// `PutItem` that only replaces a row with a lower version (or creates it). Returns false
    /// when the stored version is equal or higher.
    pub async fn put_if_newer(
        &self,
        attributes: HashMap<String, AttributeValue>,
        version: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(attributes))
            .condition_expression(
                "attribute_not_exists(#namespace) or attribute_not_exists(#key) or :version > #version",
            )
            .expression_attribute_names("#namespace", PARTITION_KEY)
            .expression_attribute_names("#key", SORT_KEY)
            .expression_attribute_names("#version", VERSION_ATTRIBUTE)
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    PutItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::dynamo("PutItem", &self.name, e)),
        }
    }

    /// Writes `ops` with `BatchWriteItem` in chunks of 25, several chunks in flight. Unprocessed
    /// items and throttled requests are retried with exponential backoff and full jitter until
    /// the deadline; what is still not written then is reported as failed, never dropped.
    pub async fn batch_write(&self, ops: Vec<WriteOp>) -> BatchOutcome {
        let deadline = Instant::now() + self.write.deadline;
        let mut chunks = Vec::with_capacity(ops.len().div_ceil(MAX_BATCH_SIZE));
        let mut ops = ops.into_iter().peekable();
        while ops.peek().is_some() {
            chunks.push(ops.by_ref().take(MAX_BATCH_SIZE).collect::<Vec<_>>());
        }
        let outcomes: Vec<BatchOutcome> = stream::iter(chunks)
            .map(|chunk| self.write_chunk(chunk, deadline))
            .buffer_unordered(self.write.concurrency.max(1))
            .collect()
            .await;
        let mut total = BatchOutcome::default();
        for outcome in outcomes {
            total.done.extend(outcome.done);
            total.failed.extend(outcome.failed);
            total.requests += outcome.requests;
            if outcome.cause.is_some() {
                total.cause = outcome.cause;
            }
        }
        total
    }

    async fn write_chunk(&self, chunk: Vec<WriteOp>, deadline: Instant) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        // Unprocessed items come back as bare requests: find their item by (namespace, key).
        let mut pending: HashMap<(String, String), WriteOp> = chunk
            .into_iter()
            .map(|op| (request_key(&op.request), op))
            .collect();
        let mut attempt: u32 = 0;
        loop {
            let requests: Vec<WriteRequest> =
                pending.values().map(|op| op.request.clone()).collect();
            outcome.requests += 1;
            let result = self
                .client
                .batch_write_item()
                .request_items(&self.name, requests)
                .send()
                .await;
            let retry_cause = match result {
                Ok(output) => {
                    let unprocessed: Vec<(String, String)> = output
                        .unprocessed_items
                        .and_then(|mut tables| tables.remove(&self.name))
                        .unwrap_or_default()
                        .iter()
                        .map(request_key)
                        .collect();
                    let mut still_pending = HashMap::with_capacity(unprocessed.len());
                    for key in unprocessed {
                        if let Some(op) = pending.remove(&key) {
                            still_pending.insert(key, op);
                        }
                    }
                    outcome.done.extend(pending.into_values().map(|op| op.item));
                    pending = still_pending;
                    if pending.is_empty() {
                        return outcome;
                    }
                    "DynamoDB returned them as UnprocessedItems (throttled)".to_string()
                }
                Err(err) => {
                    let (code, message) = describe_aws_error(&err);
                    let cause = format!("{code}: {message}");
                    let throttled = err
                        .as_service_error()
                        .and_then(ProvideErrorMetadata::code)
                        .is_some_and(is_throttling_code);
                    if !throttled {
                        outcome
                            .failed
                            .extend(pending.into_values().map(|op| op.item));
                        outcome.cause = Some(cause);
                        return outcome;
                    }
                    cause
                }
            };
            let delay = backoff(attempt);
            if Instant::now() + delay > deadline {
                outcome
                    .failed
                    .extend(pending.into_values().map(|op| op.item));
                outcome.cause = Some(retry_cause);
                return outcome;
            }
            tracing::debug!(
                table = %self.name,
                items = pending.len(),
                attempt,
                "retrying unwritten batch items after {delay:?}: {retry_cause}"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^attempt)].
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_CAP);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// `(namespace, key)` of a put or delete request.
fn request_key(request: &WriteRequest) -> (String, String) {
    let attributes = request
        .put_request()
        .map(|put| put.item())
        .or_else(|| request.delete_request().map(|delete| delete.key()));
    let text = |name: &str| match attributes.and_then(|a| a.get(name)) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    (text(PARTITION_KEY), text(SORT_KEY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..40 {
            let ceiling = BACKOFF_BASE
                .saturating_mul(2u32.saturating_pow(attempt.min(16)))
                .min(BACKOFF_CAP);
            assert!(backoff(attempt) <= ceiling, "attempt {attempt}");
        }
    }
}
