//! The lease that serializes sync jobs, and trigger tickets that let one sync answer for every
//! trigger that arrived before it fetched. Rows of the `[prefix:]$syncer-lease` namespace:
//! - `triggers`: `requested`, the last ticket handed out (an atomic counter), and
//!   `reconcileRequested`, the last ticket of a trigger that asked for a reconciling sync;
//! - `lease`: `owner` and `expiresAtMillis` while held; `covered` and `reconciled`, the highest
//!   ticket answered by a successful sync and by a successful reconciling sync;
//! - `fence-0` .. `fence-7`: `owner`, rewritten by each new holder before it reads or writes
//!   anything. Every fenced write checks one of them in the same transaction;
//! - `generation`: the data generation readers follow (see `generation.rs`).

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, TransactWriteItem,
};
use rand::Rng;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::dynamo::Table;
use crate::error::StoreError;
use crate::schema::{
    key_attributes, COVERED_ATTRIBUTE, EXPIRES_ATTRIBUTE, FENCE_SHARDS, LEASE_KEY, OWNER_ATTRIBUTE,
    RECONCILED_ATTRIBUTE, RECONCILE_REQUESTED_ATTRIBUTE, REQUESTED_ATTRIBUTE, TICKETS_KEY,
};
use crate::sync::Fence;

/// What a trigger needs from the sync that answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Any successful sync that fetched after the trigger arrived.
    Any,
    /// A successful sync that also compared stored items by content.
    Reconciled,
}

impl Coverage {
    fn attribute(self) -> &'static str {
        match self {
            Coverage::Any => COVERED_ATTRIBUTE,
            Coverage::Reconciled => RECONCILED_ATTRIBUTE,
        }
    }
}

/// A trigger's place in line, from [`SyncCoordinator::ticket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    number: u64,
    need: Coverage,
}

impl Ticket {
    /// The ticket number (tickets grow by one per trigger, across all processes).
    pub fn number(&self) -> u64 {
        self.number
    }
}

/// The outcome of [`SyncCoordinator::wait_turn`].
pub enum Turn {
    /// A sync that started fetching after this trigger arrived succeeded: nothing to do.
    Covered,
    /// This trigger holds the lease and must sync.
    Held(SyncLease),
}

/// Hands out tickets and the lease of one table and prefix. Built by
/// [`DynamoDbStore::coordinator`](crate::DynamoDbStore::coordinator).
#[derive(Clone, Debug)]
pub struct SyncCoordinator {
    table: Table,
    namespace: String,
    period: Duration,
}

impl SyncCoordinator {
    pub(crate) fn new(table: Table, namespace: String, period: Duration) -> Self {
        Self {
            table,
            namespace,
            period: period.max(Duration::from_secs(1)),
        }
    }

    /// How long a lease lasts without renewal: the longest a dead holder blocks others.
    pub fn lease_period(&self) -> Duration {
        self.period
    }

    fn row(&self, key: &str) -> HashMap<String, AttributeValue> {
        key_attributes(&self.namespace, key)
    }

    /// Takes a ticket for a trigger that just arrived. A trigger that needs a reconciling sync
    /// also records that need, so whichever sync answers it reconciles.
    pub async fn ticket(&self, need: Coverage) -> Result<Ticket, StoreError> {
        let mut request = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(self.row(TICKETS_KEY)))
            .expression_attribute_names("#requested", REQUESTED_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .return_values(ReturnValue::UpdatedNew);
        // Both sides read the old value, so both get the same new number.
        let next = "if_not_exists(#requested, :zero) + :one";
        request = match need {
            Coverage::Any => request.update_expression(format!("SET #requested = {next}")),
            Coverage::Reconciled => request
                .expression_attribute_names("#reconcile", RECONCILE_REQUESTED_ATTRIBUTE)
                .update_expression(format!("SET #requested = {next}, #reconcile = {next}")),
        };
        let output = request
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", self.table.name(), e))?;
        let number = output
            .attributes
            .as_ref()
            .and_then(|a| number(a, REQUESTED_ATTRIBUTE))
            .ok_or_else(|| StoreError::Setup("the ticket counter returned no number".into()))?;
        Ok(Ticket { number, need })
    }

    /// Waits until a sync covers `ticket` or this caller holds the lease, until `deadline`.
    pub async fn wait_turn(&self, ticket: &Ticket, deadline: Instant) -> Result<Turn, StoreError> {
        let mut logged = false;
        loop {
            let lease_row = self.table.get(self.row(LEASE_KEY)).await?;
            if lease_row
                .as_ref()
                .and_then(|row| number(row, ticket.need.attribute()))
                .is_some_and(|covered| covered >= ticket.number)
            {
                return Ok(Turn::Covered);
            }
            let owner = format!("{:032x}", rand::rng().random::<u128>());
            if self.claim(&owner, ticket).await? {
                if let Some(lease) = self.fence(owner, deadline).await? {
                    return Ok(Turn::Held(lease));
                }
            }
            let delay = Duration::from_millis(rand::rng().random_range(100..=300));
            if Instant::now() + delay >= deadline {
                return Err(StoreError::LeaseBusy {
                    table: self.table.name().to_string(),
                });
            }
            if !logged {
                tracing::info!(
                    table = %self.table.name(),
                    "another sync is running; waiting for it (it may answer this trigger too)"
                );
                logged = true;
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Step 1: the lease row, if it is free (or expired) and no sync covered the ticket yet.
    async fn claim(&self, owner: &str, ticket: &Ticket) -> Result<bool, StoreError> {
        let now = now_millis();
        let result = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(self.row(LEASE_KEY)))
            .update_expression("SET #owner = :owner, #expires = :expires")
            .condition_expression(
                "(attribute_not_exists(#owner) OR #expires < :now) AND (attribute_not_exists(#covered) OR #covered < :ticket)",
            )
            .expression_attribute_names("#owner", OWNER_ATTRIBUTE)
            .expression_attribute_names("#expires", EXPIRES_ATTRIBUTE)
            .expression_attribute_names("#covered", ticket.need.attribute())
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .expression_attribute_values(":expires", millis_value(now + self.period_millis()))
            .expression_attribute_values(":now", millis_value(now))
            .expression_attribute_values(":ticket", AttributeValue::N(ticket.number.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(StoreError::dynamo("UpdateItem", self.table.name(), e)),
        }
    }

    /// Step 2: every fence row names the new owner, so no write of an earlier holder can land
    /// from now on. Only then does the holder read what to cover and start working.
    async fn fence(
        &self,
        owner: String,
        deadline: Instant,
    ) -> Result<Option<SyncLease>, StoreError> {
        let mut actions = Vec::with_capacity(FENCE_SHARDS + 1);
        let check = ConditionCheck::builder()
            .table_name(self.table.name())
            .set_key(Some(self.row(LEASE_KEY)))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", OWNER_ATTRIBUTE)
            .expression_attribute_values(":owner", AttributeValue::S(owner.clone()))
            .build()
            .map_err(|e| StoreError::Setup(e.to_string()))?;
        actions.push(TransactWriteItem::builder().condition_check(check).build());
        for shard in 0..FENCE_SHARDS {
            let mut item = self.row(&Fence::row_key(shard));
            item.insert(OWNER_ATTRIBUTE.into(), AttributeValue::S(owner.clone()));
            let put = Put::builder()
                .table_name(self.table.name())
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::Setup(e.to_string()))?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        let mut attempt = 0u32;
        loop {
            let result = self
                .table
                .client()
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => break,
                Err(err) => err,
            };
            let cancelled = err
                .as_service_error()
                .and_then(|e| match e {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                    _ => None,
                });
            let Some(cancelled) = cancelled else {
                return Err(StoreError::dynamo(
                    "TransactWriteItems",
                    self.table.name(),
                    err,
                ));
            };
            let lost = cancelled
                .cancellation_reasons()
                .first()
                .and_then(|r| r.code())
                == Some("ConditionalCheckFailed");
            if lost {
                return Ok(None);
            }
            attempt += 1;
            let delay = Duration::from_millis(
                rand::rng().random_range(10..=50 * u64::from(attempt.min(10))),
            );
            if Instant::now() + delay >= deadline {
                return Err(StoreError::dynamo(
                    "TransactWriteItems",
                    self.table.name(),
                    err,
                ));
            }
            tokio::time::sleep(delay).await;
        }
        let (tickets, lease_row) = futures::try_join!(
            self.table.get(self.row(TICKETS_KEY)),
            self.table.get(self.row(LEASE_KEY)),
        )?;
        let ticket_number = |name| {
            tickets
                .as_ref()
                .and_then(|row| number(row, name))
                .unwrap_or(0)
        };
        let covers = ticket_number(REQUESTED_ATTRIBUTE);
        let reconciled = lease_row
            .as_ref()
            .and_then(|row| number(row, RECONCILED_ATTRIBUTE))
            .unwrap_or(0);
        let must_reconcile = ticket_number(RECONCILE_REQUESTED_ATTRIBUTE) > reconciled;
        let fence = Fence {
            namespace: self.namespace.clone(),
            owner,
            lost: Arc::new(AtomicBool::new(false)),
        };
        let renewal = tokio::spawn(renew(self.clone(), fence.clone()));
        Ok(Some(SyncLease {
            coordinator: self.clone(),
            fence,
            covers,
            must_reconcile,
            renewal,
        }))
    }

    fn period_millis(&self) -> u64 {
        u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX / 4)
    }
}

/// Keeps the lease alive while its holder works; notices when it was taken over.
async fn renew(coordinator: SyncCoordinator, fence: Fence) {
    let every = coordinator.period / 3;
    loop {
        tokio::time::sleep(every).await;
        let now = now_millis();
        let result = coordinator
            .table
            .client()
            .update_item()
            .table_name(coordinator.table.name())
            .set_key(Some(coordinator.row(LEASE_KEY)))
            .update_expression("SET #expires = :expires")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", OWNER_ATTRIBUTE)
            .expression_attribute_names("#expires", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":owner", AttributeValue::S(fence.owner.clone()))
            .expression_attribute_values(
                ":expires",
                millis_value(now + coordinator.period_millis()),
            )
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                fence.mark_lost();
                tracing::warn!(
                    table = %coordinator.table.name(),
                    "this sync's lease was taken over by another sync; it stops writing"
                );
                return;
            }
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", coordinator.table.name(), e);
                tracing::warn!("renewing the sync lease failed, will retry: {err}");
            }
        }
    }
}

/// The held lease: renewed in the background until finished or dropped.
pub struct SyncLease {
    coordinator: SyncCoordinator,
    fence: Fence,
    covers: u64,
    must_reconcile: bool,
    renewal: JoinHandle<()>,
}

impl std::fmt::Debug for SyncLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncLease")
            .field("table", &self.coordinator.table.name())
            .field("covers", &self.covers)
            .finish()
    }
}

impl SyncLease {
    /// The highest ticket handed out when the lease was taken: a successful sync that fetches
    /// after this point answers every trigger up to it.
    pub fn covers(&self) -> u64 {
        self.covers
    }

    /// True when a trigger this sync answers asked for a reconciling sync: the holder must
    /// compare by content and release with [`Coverage::Reconciled`].
    pub fn must_reconcile(&self) -> bool {
        self.must_reconcile
    }

    /// True once the holder learned that another sync took the lease over.
    pub fn is_lost(&self) -> bool {
        self.fence.is_lost()
    }

    /// Stops renewing, as a frozen or paused holder would: the lease expires after one period.
    #[doc(hidden)]
    pub fn stop_renewing(&self) {
        self.renewal.abort();
    }

    pub(crate) fn fence(&self) -> &Fence {
        &self.fence
    }

    /// Gives the lease back. With `succeeded`, first records that every ticket up to
    /// [`covers`](Self::covers) is answered (by any sync, and with
    /// [`Coverage::Reconciled`] by a reconciling one too). Failures only delay the next
    /// sync until the lease expires, so they are logged, not returned.
    pub async fn release(self, succeeded: Option<Coverage>) {
        self.renewal.abort();
        let coordinator = &self.coordinator;
        let mut set = Vec::new();
        let mut request = coordinator
            .table
            .client()
            .update_item()
            .table_name(coordinator.table.name())
            .set_key(Some(coordinator.row(LEASE_KEY)))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", OWNER_ATTRIBUTE)
            .expression_attribute_names("#expires", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":owner", AttributeValue::S(self.fence.owner.clone()));
        if let Some(coverage) = succeeded {
            request = request
                .expression_attribute_names("#covered", COVERED_ATTRIBUTE)
                .expression_attribute_values(":covers", AttributeValue::N(self.covers.to_string()));
            set.push("#covered = :covers");
            if coverage == Coverage::Reconciled {
                request = request.expression_attribute_names("#reconciled", RECONCILED_ATTRIBUTE);
                set.push("#reconciled = :covers");
            }
        }
        let expression = if set.is_empty() {
            "REMOVE #owner, #expires".to_string()
        } else {
            format!("SET {} REMOVE #owner, #expires", set.join(", "))
        };
        let result = request.update_expression(expression).send().await;
        match result {
            Ok(_) => {}
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                tracing::warn!(
                    table = %coordinator.table.name(),
                    "the sync lease had been taken over before this sync released it; the other sync continues"
                );
            }
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", coordinator.table.name(), e);
                tracing::warn!(
                    "could not release the sync lease ({err}); the next sync waits until it expires ({:?} at most)",
                    coordinator.period
                );
            }
        }
    }
}

impl Drop for SyncLease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

fn number(row: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    match row.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

fn millis_value(millis: u64) -> AttributeValue {
    AttributeValue::N(millis.to_string())
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4))
}
