//! DynamoDB I/O: every request the store sends, with pagination, conditional writes, batch
//! writes that retry unprocessed items instead of dropping them, and fenced transactional
//! writes that DynamoDB refuses once another writer holds the fence. Transactions and their
//! cancellations are read in one place, and every retry waits with one backoff.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest, ReturnValue,
    TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::backoff::full_jitter;
use crate::error::{describe_aws_error, is_throttling_code, StoreError};
use crate::fence::Fence;
use crate::report::ItemRef;
use crate::schema::{FENCE_SHARDS, PARTITION_KEY, SORT_KEY, VERSION_ATTRIBUTE};

/// DynamoDB accepts at most 25 requests in one `BatchWriteItem`.
pub(crate) const MAX_BATCH_SIZE: usize = 25;
/// DynamoDB accepts at most 100 keys in one `BatchGetItem`.
const MAX_BATCH_GET_KEYS: usize = 100;
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
pub(crate) struct WriteSettings {
    /// Batches in flight at once.
    pub(crate) concurrency: usize,
    /// How long unprocessed or throttled items are retried before the write gives up.
    pub(crate) deadline: Duration,
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
pub(crate) struct WriteOp {
    pub(crate) item: ItemRef,
    request: WriteRequest,
    size: usize,
}

impl WriteOp {
    pub(crate) fn put(
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

    pub(crate) fn delete(
        item: ItemRef,
        key: HashMap<String, AttributeValue>,
    ) -> Result<Self, StoreError> {
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
pub(crate) struct BatchOutcome {
    pub(crate) done: Vec<ItemRef>,
    pub(crate) failed: Vec<ItemRef>,
    pub(crate) requests: usize,
    /// The last error that made items fail, if any.
    pub(crate) cause: Option<String>,
    /// A fenced write found that another writer holds the fence.
    pub(crate) lease_lost: bool,
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
enum Attempt {
    Written,
    /// The condition of the first action failed.
    Refused,
    Retry {
        code: String,
        message: String,
    },
    Failed {
        code: String,
        message: String,
    },
}

/// How a transaction ended after its retries.
enum TransactionEnd {
    Written,
    Refused,
    /// The caller's fence was already known to be lost: nothing was sent.
    Stopped,
    Failed {
        code: String,
        message: String,
    },
}

/// The end of [`Table::transact`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transacted {
    /// Every action was applied.
    Written,
    /// The condition of the first action failed, so nothing was applied.
    Refused,
}

/// One `UpdateItem`: an update expression, an optional condition, and their placeholders.
///
/// ```
/// use aws_sdk_dynamodb::types::AttributeValue;
/// use launchdarkly_dynamo_store::schema::key_attributes;
/// use launchdarkly_dynamo_store::Update;
///
/// let update = Update::new(key_attributes("$syncer-lease", "triggers"), "SET #n = if_not_exists(#n, :zero) + :one")
///     .name("#n", "requested")
///     .value(":zero", AttributeValue::N("0".into()))
///     .value(":one", AttributeValue::N("1".into()));
/// # let _ = update;
/// ```
#[derive(Clone, Debug)]
pub struct Update {
    key: HashMap<String, AttributeValue>,
    expression: String,
    condition: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    /// Applies `expression` to the row with key attributes `key`.
    pub fn new(key: HashMap<String, AttributeValue>, expression: impl Into<String>) -> Self {
        Self {
            key,
            expression: expression.into(),
            condition: None,
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    /// Applies the update only when `condition` holds.
    pub fn condition(mut self, condition: impl Into<String>) -> Self {
        self.condition = Some(condition.into());
        self
    }

    /// Names the attribute `attribute` by `placeholder` (`#name`) in the expressions.
    pub fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    /// Gives `placeholder` (`:value`) the value `value` in the expressions.
    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }
}

/// One table, through one client: every DynamoDB request of the store and of writers built on
/// it. Cloning is cheap and shares the client.
#[derive(Clone, Debug)]
pub struct Table {
    client: Client,
    name: String,
    write: WriteSettings,
}

impl Table {
    pub(crate) fn new(client: Client, name: String, write: WriteSettings) -> Self {
        Self {
            client,
            name,
            write,
        }
    }

    /// The table's name.
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

    /// The rows of `keys`, in one `BatchGetItem` per 100 keys; keys DynamoDB leaves
    /// unprocessed (throttling, 16 MB per answer) are asked again with backoff. Rows that do
    /// not exist are simply absent from the answer, in no particular order. Consistent reads
    /// cost twice as much: only rows that are never rewritten may be read without.
    pub(crate) async fn batch_get(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
        consistent: bool,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut rows = Vec::with_capacity(keys.len());
        let mut pending: VecDeque<_> = keys.into();
        let mut attempt = 0;
        while !pending.is_empty() {
            let take = pending.len().min(MAX_BATCH_GET_KEYS);
            let asked = KeysAndAttributes::builder()
                .set_keys(Some(pending.drain(..take).collect()))
                .consistent_read(consistent)
                .build()
                .map_err(|e| StoreError::Setup(format!("building a BatchGetItem: {e}")))?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.name, asked)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("BatchGetItem", &self.name, e))?;
            if let Some(mut found) = output.responses {
                rows.extend(found.remove(&self.name).unwrap_or_default());
            }
            let unprocessed = output
                .unprocessed_keys
                .and_then(|mut left| left.remove(&self.name))
                .map(|left| left.keys)
                .unwrap_or_default();
            if !unprocessed.is_empty() {
                tokio::time::sleep(full_jitter(attempt, BACKOFF_BASE, BACKOFF_CAP)).await;
                attempt += 1;
                pending.extend(unprocessed);
            }
        }
        Ok(rows)
    }

    /// Every row of `namespace`, paginated to the end, consistent reads. With `versions_only`,
    /// only the sort key and version are read (the cheap read of what is stored).
    pub(crate) async fn query(
        &self,
        namespace: &str,
        versions_only: bool,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        self.query_rows(namespace, None, versions_only).await
    }

    /// The rows of `namespace` whose sort key starts with `prefix`, as [`Self::query`].
    pub(crate) async fn query_prefix(
        &self,
        namespace: &str,
        prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        self.query_rows(namespace, Some(prefix), false).await
    }

    async fn query_rows(
        &self,
        namespace: &str,
        prefix: Option<&str>,
        versions_only: bool,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut rows = Vec::new();
        let mut start_key = None;
        let condition = match prefix {
            Some(_) => "#namespace = :namespace AND begins_with(#key, :prefix)",
            None => "#namespace = :namespace",
        };
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.name)
                .consistent_read(true)
                .key_condition_expression(condition)
                .expression_attribute_names("#namespace", PARTITION_KEY)
                .expression_attribute_values(":namespace", AttributeValue::S(namespace.to_string()))
                .set_exclusive_start_key(start_key);
            if let Some(prefix) = prefix {
                request = request
                    .expression_attribute_names("#key", SORT_KEY)
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string()));
            }
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

    /// `UpdateItem`, conditional when the update has a condition. Returns the updated
    /// attributes, or `None` when the condition did not hold (nothing was changed).
    pub async fn update(
        &self,
        update: Update,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(update.key))
            .update_expression(update.expression)
            .set_condition_expression(update.condition)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values((!update.values.is_empty()).then_some(update.values))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(output.attributes.unwrap_or_default())),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(None)
            }
            Err(e) => Err(StoreError::dynamo("UpdateItem", &self.name, e)),
        }
    }

    /// One `TransactWriteItems` of `actions`, retried with backoff while DynamoDB reports
    /// conflicts or throttling, until `deadline`. [`Transacted::Refused`] when the condition of
    /// the first action failed.
    pub async fn transact(
        &self,
        actions: Vec<TransactWriteItem>,
        deadline: Instant,
    ) -> Result<Transacted, StoreError> {
        let mut requests = 0;
        match self
            .transact_until(&actions, deadline, || false, &mut requests)
            .await
        {
            TransactionEnd::Written => Ok(Transacted::Written),
            // Nothing was sent, so nothing was applied.
            TransactionEnd::Refused | TransactionEnd::Stopped => Ok(Transacted::Refused),
            TransactionEnd::Failed { code, message } => Err(StoreError::dynamo_parts(
                "TransactWriteItems",
                &self.name,
                code,
                message,
            )),
        }
    }

    /// `PutItem` that only replaces a row with a lower version (or creates it). Returns false
    /// when the stored version is equal or higher.
    pub(crate) async fn put_if_newer(
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
    pub(crate) async fn batch_write(
        &self,
        ops: Vec<WriteOp>,
        limit: Option<Instant>,
    ) -> BatchOutcome {
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
    /// taken it, even a request that was already on the wire. Transactions are cut at 99
    /// writes and about 1 MB; up to [`FENCE_SHARDS`] run at once, each with its own fence
    /// check so they never conflict. Throttling and conflicts are retried until the deadline.
    pub(crate) async fn transact_write(
        &self,
        ops: Vec<WriteOp>,
        fence: &dyn Fence,
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
        fence: &dyn Fence,
        shard: usize,
        deadline: Instant,
    ) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut actions = Vec::with_capacity(chunk.len() + 1);
        let mut items = Vec::with_capacity(chunk.len());
        let fence_check = fence
            .check(&self.name, shard)
            .map_err(|e| e.to_string())
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
        let end = self
            .transact_until(
                &actions,
                deadline,
                || fence.is_lost(),
                &mut outcome.requests,
            )
            .await;
        match end {
            TransactionEnd::Written => outcome.done.extend(items),
            TransactionEnd::Refused | TransactionEnd::Stopped => {
                fence.mark_lost();
                outcome.lease_lost = true;
                outcome.fail(items, "another sync took the lease".to_string());
            }
            TransactionEnd::Failed { code, message } => {
                outcome.fail(items, format!("{code}: {message}"));
            }
        }
        outcome
    }

    /// Sends one transaction until it is written, refused or failed for good, retrying
    /// conflicts and throttling with backoff until `deadline`. `stopped` is asked before each
    /// attempt (a fence known to be lost sends nothing more).
    async fn transact_until(
        &self,
        actions: &[TransactWriteItem],
        deadline: Instant,
        stopped: impl Fn() -> bool,
        requests: &mut usize,
    ) -> TransactionEnd {
        let mut attempt: u32 = 0;
        loop {
            if stopped() {
                return TransactionEnd::Stopped;
            }
            *requests += 1;
            let request = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.to_vec()))
                .send();
            let (code, message) = match tokio::time::timeout_at(deadline, request).await {
                Err(_) => {
                    return TransactionEnd::Failed {
                        code: "timeout".into(),
                        message: "the time budget ran out".into(),
                    }
                }
                Ok(result) => match classify_transaction(result) {
                    Attempt::Written => return TransactionEnd::Written,
                    Attempt::Refused => return TransactionEnd::Refused,
                    Attempt::Failed { code, message } => {
                        return TransactionEnd::Failed { code, message }
                    }
                    Attempt::Retry { code, message } => (code, message),
                },
            };
            let delay = full_jitter(attempt, BACKOFF_BASE, BACKOFF_CAP);
            if Instant::now() + delay > deadline {
                return TransactionEnd::Failed { code, message };
            }
            tracing::debug!(table = %self.name, attempt, "retrying a transaction after {delay:?}: {code}: {message}");
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
            outcome.requests += 1;
            let retry_cause = match self.send_batch(&pending).await {
                Ok(unprocessed) => {
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
                Err(BatchFailure::Throttled(cause)) => cause,
                Err(BatchFailure::Failed(cause)) => {
                    outcome.fail(pending.into_values().map(|op| op.item), cause);
                    return outcome;
                }
            };
            let delay = full_jitter(attempt, BACKOFF_BASE, BACKOFF_CAP);
            if Instant::now() + delay > deadline {
                outcome.fail(pending.into_values().map(|op| op.item), retry_cause);
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

    /// One `BatchWriteItem` of the pending writes; returns the keys DynamoDB left unprocessed.
    async fn send_batch(
        &self,
        pending: &HashMap<(String, String), WriteOp>,
    ) -> Result<Vec<(String, String)>, BatchFailure> {
        let requests: Vec<WriteRequest> = pending.values().map(|op| op.request.clone()).collect();
        let result = self
            .client
            .batch_write_item()
            .request_items(&self.name, requests)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .unprocessed_items
                .and_then(|mut tables| tables.remove(&self.name))
                .unwrap_or_default()
                .iter()
                .map(request_key)
                .collect()),
            Err(err) => {
                let (code, message) = describe_aws_error(&err);
                let cause = format!("{code}: {message}");
                let throttled = err
                    .as_service_error()
                    .and_then(ProvideErrorMetadata::code)
                    .is_some_and(is_throttling_code);
                Err(match throttled {
                    true => BatchFailure::Throttled(cause),
                    false => BatchFailure::Failed(cause),
                })
            }
        }
    }
}

/// Why a `BatchWriteItem` request failed as a whole.
enum BatchFailure {
    /// Worth retrying after a backoff.
    Throttled(String),
    /// Not worth retrying: the pending writes fail with this cause.
    Failed(String),
}

/// Splits writes into transactions of at most 99 writes and about 1 MB each.
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

/// Reads the outcome of one transaction attempt. A failed condition on action 0 (the fence,
/// or the caller's guard) means the transaction was refused; conflicts and throttling are
/// worth retrying.
fn classify_transaction(
    result: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
    >,
) -> Attempt {
    let err = match result {
        Ok(_) => return Attempt::Written,
        Err(err) => err,
    };
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    {
        let reasons = cancelled.cancellation_reasons();
        let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
        if code(0) == "ConditionalCheckFailed" {
            return Attempt::Refused;
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
        let code = "TransactionCanceledException".to_string();
        let message = format!("({text})");
        return if retry || failing.is_empty() {
            Attempt::Retry { code, message }
        } else {
            Attempt::Failed { code, message }
        };
    }
    let (code, message) = describe_aws_error(&err);
    if is_throttling_code(&code)
        || matches!(
            code.as_str(),
            "TransactionInProgressException" | "TransactionConflictException"
        )
    {
        Attempt::Retry { code, message }
    } else {
        Attempt::Failed { code, message }
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
