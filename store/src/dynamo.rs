//! DynamoDB I/O: every request the store sends, with pagination, conditional writes, batch
//! writes that retry unprocessed items instead of dropping them, and fenced transactional
//! writes that DynamoDB refuses once another writer holds the lease.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::backoff::full_jitter;
use crate::error::{describe_aws_error, is_throttling_code, StoreError};
use crate::report::ItemRef;
use crate::schema::{FENCE_SHARDS, PARTITION_KEY, SORT_KEY, VERSION_ATTRIBUTE};
use crate::sync::Fence;

/// DynamoDB accepts at most 25 requests in one `BatchWriteItem`.
pub const MAX_BATCH_SIZE: usize = 25;
/// DynamoDB accepts at most 100 actions in one `TransactWriteItems`; one is the fence check.
const MAX_TRANSACTION_WRITES: usize = 99;
/// DynamoDB refuses transactions over 4 MB. Each one in flight is held about three times
/// (the writes, the request, its JSON), so transactions stay near 1 MB: the memory a sync
/// needs is then set by the data, not by how many transactions run at once.
const MAX_TRANSACTION_BYTES: usize = 1_000_000;

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

/// One put or delete, with the item it concerns and its estimated size.
pub struct WriteOp {
    pub item: ItemRef,
    pub request: WriteRequest,
    size: usize,
}

impl WriteOp {
    pub fn put(
        item: ItemRef,
        attributes: HashMap<String, AttributeValue>,
        size: usize,
    ) -> Result<Self, StoreError> {
        let put = PutRequest::builder()
            .set_item(Some(attributes))
            .build()
            .map_err(|e| StoreError::Setup(format!("building a PutRequest: {e}")))?;
        Ok(Self {
            item,
            request: WriteRequest::builder().put_request(put).build(),
            size,
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
            size: 0,
        })
    }
}

/// The same write as one action of a transaction on `table` (the attributes are moved).
fn transact_item(request: WriteRequest, table: &str) -> Result<TransactWriteItem, String> {
    let WriteRequest {
        put_request,
        delete_request,
        ..
    } = request;
    if let Some(put) = put_request {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(put.item))
            .build()
            .map_err(|e| e.to_string())?;
        return Ok(TransactWriteItem::builder().put(put).build());
    }
    let key = delete_request.map(|delete| delete.key).unwrap_or_default();
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// What a batch or fenced write did.
#[derive(Default)]
pub struct BatchOutcome {
    pub done: Vec<ItemRef>,
    pub failed: Vec<ItemRef>,
    pub requests: usize,
    /// The last error that made items fail, if any.
    pub cause: Option<String>,
    /// A fenced write found that another writer holds the lease.
    pub lease_lost: bool,
}

impl BatchOutcome {
    fn absorb(&mut self, other: BatchOutcome) {
        self.done.extend(other.done);
        self.failed.extend(other.failed);
        self.requests += other.requests;
        if other.cause.is_some() {
            self.cause = other.cause;
        }
        self.lease_lost |= other.lease_lost;
    }

    fn fail(&mut self, items: impl IntoIterator<Item = ItemRef>, cause: String) {
        self.failed.extend(items);
        self.cause = Some(cause);
    }
}

/// How one transaction attempt ended.
enum TransactionResult {
    Written,
    Retry(String),
    LeaseLost,
    Failed(String),
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

    pub fn client(&self) -> &Client {
        &self.client
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

    /// The retry deadline of one write phase: the store's write deadline, capped by `limit`.
    fn retry_deadline(&self, limit: Option<Instant>) -> Instant {
        let own = Instant::now() + self.write.deadline;
        limit.map_or(own, |limit| limit.min(own))
    }

    /// Writes `ops` with `BatchWriteItem` in chunks of 25, several chunks in flight. Unprocessed
    /// items and throttled requests are retried with exponential backoff and full jitter until
    /// the deadline; what is still not written then is reported as failed, never dropped.
    pub async fn batch_write(&self, ops: Vec<WriteOp>, limit: Option<Instant>) -> BatchOutcome {
        let deadline = self.retry_deadline(limit);
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
            total.absorb(outcome);
        }
        total
    }

    /// Writes `ops` with `TransactWriteItems`, each transaction carrying a check that the fence
    /// still names this writer, so DynamoDB itself refuses every write once another writer has
    /// taken the lease, even a request that was already on the wire. Transactions are cut at
    /// 99 writes and about 3.5 MB; up to [`FENCE_SHARDS`] run at once, each on its own fence
    /// row so they never conflict. Throttling and conflicts are retried until the deadline.
    pub async fn transact_write(
        &self,
        ops: Vec<WriteOp>,
        fence: &Fence,
        limit: Option<Instant>,
    ) -> BatchOutcome {
        let deadline = self.retry_deadline(limit);
        let queue = &Mutex::new(transaction_chunks(ops));
        let workers = self.write.concurrency.clamp(1, FENCE_SHARDS);
        let outcomes = futures::future::join_all((0..workers).map(|shard| async move {
            let mut outcome = BatchOutcome::default();
            loop {
                let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                let Some(chunk) = next else {
                    return outcome;
                };
                let result = self.write_transaction(chunk, fence, shard, deadline).await;
                outcome.absorb(result);
            }
        }))
        .await;
        let mut total = BatchOutcome::default();
        for outcome in outcomes {
            total.absorb(outcome);
        }
        total
    }

    async fn write_transaction(
        &self,
        chunk: Vec<WriteOp>,
        fence: &Fence,
        shard: usize,
        deadline: Instant,
    ) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut actions = Vec::with_capacity(chunk.len() + 1);
        let mut items = Vec::with_capacity(chunk.len());
        let fence_check = fence
            .check(&self.name, shard)
            .map(|check| actions.push(check));
        // The writes move into the transaction; only their names stay for the outcome.
        let built = fence_check.and_then(|()| {
            chunk.into_iter().try_for_each(|op| {
                actions.push(transact_item(op.request, &self.name)?);
                items.push(op.item);
                Ok::<_, String>(())
            })
        });
        if let Err(e) = built {
            outcome.fail(items, format!("building a transaction: {e}"));
            return outcome;
        }
        let chunk = items;
        let mut attempt: u32 = 0;
        loop {
            if fence.is_lost() {
                outcome.lease_lost = true;
                outcome.fail(chunk, "another sync took the lease".to_string());
                return outcome;
            }
            outcome.requests += 1;
            let request = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .send();
            let result = match tokio::time::timeout_at(deadline, request).await {
                Ok(result) => classify_transaction(result),
                Err(_) => TransactionResult::Failed("the time budget ran out".to_string()),
            };
            let cause = match result {
                TransactionResult::Written => {
                    outcome.done.extend(chunk);
                    return outcome;
                }
                TransactionResult::LeaseLost => {
                    fence.mark_lost();
                    outcome.lease_lost = true;
                    outcome.fail(chunk, "another sync took the lease".to_string());
                    return outcome;
                }
                TransactionResult::Failed(cause) => {
                    outcome.fail(chunk, cause);
                    return outcome;
                }
                TransactionResult::Retry(cause) => cause,
            };
            let delay = full_jitter(attempt, BACKOFF_BASE, BACKOFF_CAP);
            if Instant::now() + delay > deadline {
                outcome.fail(chunk, cause);
                return outcome;
            }
            tracing::debug!(table = %self.name, attempt, "retrying a fenced transaction after {delay:?}: {cause}");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
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
            let delay = full_jitter(attempt, BACKOFF_BASE, BACKOFF_CAP);
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

/// Splits writes into transactions of at most 99 writes and about 3.5 MB each.
fn transaction_chunks(ops: Vec<WriteOp>) -> VecDeque<Vec<WriteOp>> {
    let mut chunks = VecDeque::new();
    let mut current: Vec<WriteOp> = Vec::new();
    let mut bytes = 0;
    for op in ops {
        let full =
            current.len() == MAX_TRANSACTION_WRITES || bytes + op.size > MAX_TRANSACTION_BYTES;
        if full && !current.is_empty() {
            chunks.push_back(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += op.size;
        current.push(op);
    }
    if !current.is_empty() {
        chunks.push_back(current);
    }
    chunks
}

/// Reads the outcome of a fenced transaction. The fence check is action 0, so a failed
/// condition there means the lease is gone; conflicts and throttling are worth retrying.
fn classify_transaction(
    result: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
    >,
) -> TransactionResult {
    let err = match result {
        Ok(_) => return TransactionResult::Written,
        Err(err) => err,
    };
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    {
        let reasons = cancelled.cancellation_reasons();
        let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
        if code(0) == "ConditionalCheckFailed" {
            return TransactionResult::LeaseLost;
        }
        let failing = reasons
            .iter()
            .filter_map(|r| r.code().filter(|c| *c != "None").map(|c| (c, r.message())))
            .collect::<Vec<_>>();
        let retry = failing.iter().any(|(c, _)| {
            matches!(*c, "TransactionConflict" | "ThrottlingError") || is_throttling_code(c)
        });
        let text = failing
            .iter()
            .map(|(c, m)| format!("{c}: {}", m.unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; ");
        let text = format!("TransactionCanceledException ({text})");
        return if retry || failing.is_empty() {
            TransactionResult::Retry(text)
        } else {
            TransactionResult::Failed(text)
        };
    }
    let (code, message) = describe_aws_error(&err);
    let cause = format!("{code}: {message}");
    if is_throttling_code(&code)
        || matches!(
            code.as_str(),
            "TransactionInProgressException" | "TransactionConflictException"
        )
    {
        TransactionResult::Retry(cause)
    } else {
        TransactionResult::Failed(cause)
    }
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
