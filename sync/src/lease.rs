//! The lease that serializes sync jobs, and trigger tickets that let one sync answer for every
//! trigger that arrived before it fetched. Rows of the `[prefix:]$syncer-lease` namespace:
//! - `triggers`: `requested`, the last ticket handed out (an atomic counter), and
//!   `reconcileRequested`, the last ticket of a trigger that asked for a reconciling sync;
//! - `lease`: `owner` and `expiresAtMillis` while held; `covered` and `reconciled`, the highest
//!   ticket answered by a successful sync and by a successful reconciling sync;
//! - `fence-0` .. `fence-7`: `owner`, rewritten by each new holder before it reads or writes
//!   anything (see `fence.rs`).
//!
//! Every request goes through the store's [`Table`]: one conditional update, one transaction.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use launchdarkly_dynamo_store::backoff::full_jitter;
use launchdarkly_dynamo_store::schema::{
    key_attributes, COVERED_ATTRIBUTE, EXPIRES_ATTRIBUTE, FENCE_SHARDS, LEASE_KEY, OWNER_ATTRIBUTE,
    RECONCILED_ATTRIBUTE, RECONCILE_REQUESTED_ATTRIBUTE, REQUESTED_ATTRIBUTE, TICKETS_KEY,
};
use launchdarkly_dynamo_store::{DynamoDbStore, Fence, StoreError, Table, Transacted, Update};
use rand::Rng;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::LeaseError;
use crate::fence::FenceRows;

/// The shortest lease period: its holder renews it every third of the period, and a renewal
/// must have time to land before the lease runs out.
pub const MIN_LEASE_PERIOD: Duration = Duration::from_secs(2);

/// How long a waiting trigger sleeps between looks at the lease, at most (full jitter).
const WAIT_BASE: Duration = Duration::from_millis(100);
const WAIT_CAP: Duration = Duration::from_millis(300);

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

/// Hands out tickets and the lease of one table and prefix.
#[derive(Clone, Debug)]
pub struct SyncCoordinator {
    table: Table,
    namespace: String,
    period: Duration,
}

impl SyncCoordinator {
    /// The coordinator of `store`'s table and prefix. `lease_period` is how long a lease lasts
    /// without renewal (its holder renews it every third of that), so a holder that dies
    /// blocks others for at most that long; it must be at least [`MIN_LEASE_PERIOD`].
    pub fn new(store: &DynamoDbStore, lease_period: Duration) -> Result<Self, LeaseError> {
        if lease_period < MIN_LEASE_PERIOD {
            return Err(LeaseError::PeriodTooShort {
                period: lease_period,
                minimum: MIN_LEASE_PERIOD,
            });
        }
        Ok(Self {
            table: store.table().clone(),
            namespace: store.sync_namespace().to_string(),
            period: lease_period,
        })
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
    pub async fn ticket(&self, need: Coverage) -> Result<Ticket, LeaseError> {
        // Both sides read the old value, so both get the same new number.
        let next = "if_not_exists(#requested, :zero) + :one";
        let expression = match need {
            Coverage::Any => format!("SET #requested = {next}"),
            Coverage::Reconciled => format!("SET #requested = {next}, #reconcile = {next}"),
        };
        let mut update = Update::new(self.row(TICKETS_KEY), expression)
            .name("#requested", REQUESTED_ATTRIBUTE)
            .value(":one", AttributeValue::N("1".into()))
            .value(":zero", AttributeValue::N("0".into()));
        if need == Coverage::Reconciled {
            update = update.name("#reconcile", RECONCILE_REQUESTED_ATTRIBUTE);
        }
        let updated = self.table.update(update).await?;
        let number = updated
            .as_ref()
            .and_then(|row| number(row, REQUESTED_ATTRIBUTE))
            .ok_or_else(|| StoreError::Setup("the ticket counter returned no number".into()))?;
        Ok(Ticket { number, need })
    }

    /// Waits until a sync covers `ticket` or this caller holds the lease, until `deadline`.
    pub async fn wait_turn(&self, ticket: &Ticket, deadline: Instant) -> Result<Turn, LeaseError> {
        let mut attempt: u32 = 0;
        loop {
            if self.is_covered(ticket).await? {
                return Ok(Turn::Covered);
            }
            let owner = format!("{:032x}", rand::rng().random::<u128>());
            if self.claim(&owner, ticket).await? {
                if let Some(lease) = self.fence(owner, deadline).await? {
                    return Ok(Turn::Held(lease));
                }
            }
            // Never a busy loop: at least the base, at most the cap.
            let delay = WAIT_BASE + full_jitter(attempt, WAIT_BASE, WAIT_CAP - WAIT_BASE);
            if Instant::now() + delay >= deadline {
                return Err(LeaseError::Busy {
                    table: self.table.name().to_string(),
                });
            }
            if attempt == 0 {
                tracing::info!(
                    table = %self.table.name(),
                    "another sync is running; waiting for it (it may answer this trigger too)"
                );
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Whether a successful sync (of the kind the ticket needs) covered it already.
    async fn is_covered(&self, ticket: &Ticket) -> Result<bool, StoreError> {
        let lease_row = self.table.get(self.row(LEASE_KEY)).await?;
        Ok(lease_row
            .as_ref()
            .and_then(|row| number(row, ticket.need.attribute()))
            .is_some_and(|covered| covered >= ticket.number))
    }

    /// Step 1: the lease row, if it is free (or expired) and no sync covered the ticket yet.
    async fn claim(&self, owner: &str, ticket: &Ticket) -> Result<bool, StoreError> {
        let now = now_millis();
        let update = Update::new(
            self.row(LEASE_KEY),
            "SET #owner = :owner, #expires = :expires",
        )
        .condition(
            "(attribute_not_exists(#owner) OR #expires < :now) AND (attribute_not_exists(#covered) OR #covered < :ticket)",
        )
        .name("#owner", OWNER_ATTRIBUTE)
        .name("#expires", EXPIRES_ATTRIBUTE)
        .name("#covered", ticket.need.attribute())
        .value(":owner", AttributeValue::S(owner.to_string()))
        .value(":expires", millis_value(now + self.period_millis()))
        .value(":now", millis_value(now))
        .value(":ticket", AttributeValue::N(ticket.number.to_string()));
        Ok(self.table.update(update).await?.is_some())
    }

    /// Step 2: every fence row names the new owner, so no write of an earlier holder can land
    /// from now on. Only then does the holder read what to cover and start working.
    async fn fence(
        &self,
        owner: String,
        deadline: Instant,
    ) -> Result<Option<SyncLease>, StoreError> {
        let actions = self.takeover(&owner)?;
        if self.table.transact(actions, deadline).await? == Transacted::Refused {
            return Ok(None);
        }
        let (covers, must_reconcile) = self.what_to_cover().await?;
        let fence = FenceRows::new(self.namespace.clone(), owner);
        let renewal = tokio::spawn(renew(self.clone(), fence.clone()));
        Ok(Some(SyncLease {
            coordinator: self.clone(),
            fence,
            covers,
            must_reconcile,
            renewal,
        }))
    }

    /// The fence takeover: the lease row still names `owner` (action 0), and every fence row
    /// is rewritten with it.
    fn takeover(&self, owner: &str) -> Result<Vec<TransactWriteItem>, StoreError> {
        let setup = |e: aws_sdk_dynamodb::error::BuildError| {
            StoreError::Setup(format!("building the fence takeover: {e}"))
        };
        let mut actions = Vec::with_capacity(FENCE_SHARDS + 1);
        let check = ConditionCheck::builder()
            .table_name(self.table.name())
            .set_key(Some(self.row(LEASE_KEY)))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", OWNER_ATTRIBUTE)
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .build()
            .map_err(setup)?;
        actions.push(TransactWriteItem::builder().condition_check(check).build());
        for shard in 0..FENCE_SHARDS {
            let mut item = self.row(&FenceRows::row_key(shard));
            item.insert(OWNER_ATTRIBUTE.into(), AttributeValue::S(owner.to_string()));
            let put = Put::builder()
                .table_name(self.table.name())
                .set_item(Some(item))
                .build()
                .map_err(setup)?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(actions)
    }

    /// The highest ticket handed out, and whether one of the tickets up to it asked for a
    /// reconciling sync that no reconciling sync answered yet.
    async fn what_to_cover(&self) -> Result<(u64, bool), StoreError> {
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
        let reconciled = lease_row
            .as_ref()
            .and_then(|row| number(row, RECONCILED_ATTRIBUTE))
            .unwrap_or(0);
        Ok((
            ticket_number(REQUESTED_ATTRIBUTE),
            ticket_number(RECONCILE_REQUESTED_ATTRIBUTE) > reconciled,
        ))
    }

    /// The update that renews `owner`'s lease for one more period.
    fn renewal(&self, owner: &str) -> Update {
        Update::new(self.row(LEASE_KEY), "SET #expires = :expires")
            .condition("#owner = :owner")
            .name("#owner", OWNER_ATTRIBUTE)
            .name("#expires", EXPIRES_ATTRIBUTE)
            .value(":owner", AttributeValue::S(owner.to_string()))
            .value(
                ":expires",
                millis_value(now_millis() + self.period_millis()),
            )
    }

    /// The update that gives `owner`'s lease back, recording `covered` tickets as answered.
    fn release(&self, owner: &str, covered: Option<(Coverage, u64)>) -> Update {
        let mut set = Vec::new();
        if covered.is_some() {
            set.push("#covered = :covers");
        }
        if matches!(covered, Some((Coverage::Reconciled, _))) {
            set.push("#reconciled = :covers");
        }
        let expression = match set.is_empty() {
            true => "REMOVE #owner, #expires".to_string(),
            false => format!("SET {} REMOVE #owner, #expires", set.join(", ")),
        };
        let mut update = Update::new(self.row(LEASE_KEY), expression)
            .condition("#owner = :owner")
            .name("#owner", OWNER_ATTRIBUTE)
            .name("#expires", EXPIRES_ATTRIBUTE)
            .value(":owner", AttributeValue::S(owner.to_string()));
        if let Some((coverage, covers)) = covered {
            update = update
                .name("#covered", COVERED_ATTRIBUTE)
                .value(":covers", AttributeValue::N(covers.to_string()));
            if coverage == Coverage::Reconciled {
                update = update.name("#reconciled", RECONCILED_ATTRIBUTE);
            }
        }
        update
    }

    fn period_millis(&self) -> u64 {
        u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX / 4)
    }
}

/// Keeps the lease alive while its holder works; notices when it was taken over.
async fn renew(coordinator: SyncCoordinator, fence: FenceRows) {
    let every = coordinator.period / 3;
    loop {
        tokio::time::sleep(every).await;
        match coordinator
            .table
            .update(coordinator.renewal(&fence.owner))
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => {
                fence.mark_lost();
                tracing::warn!(
                    table = %coordinator.table.name(),
                    "this sync's lease was taken over by another sync; it stops writing"
                );
                return;
            }
            Err(err) => tracing::warn!("renewing the sync lease failed, will retry: {err}"),
        }
    }
}

/// The held lease: renewed in the background until released or dropped. Pass it to
/// `ApplyOptions::fenced_by` so every write of the sync is fenced by it.
pub struct SyncLease {
    coordinator: SyncCoordinator,
    fence: FenceRows,
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

    /// Stops renewing, as a frozen or paused holder would: the lease expires after one period.
    #[cfg(feature = "test-support")]
    pub fn stop_renewing(&self) {
        self.renewal.abort();
    }

    /// Gives the lease back. With `succeeded`, first records that every ticket up to
    /// [`covers`](Self::covers) is answered (by any sync, and with
    /// [`Coverage::Reconciled`] by a reconciling one too). Failures only delay the next
    /// sync until the lease expires, so they are logged, not returned.
    pub async fn release(self, succeeded: Option<Coverage>) {
        self.renewal.abort();
        let coordinator = &self.coordinator;
        let covered = succeeded.map(|coverage| (coverage, self.covers));
        let update = coordinator.release(&self.fence.owner, covered);
        match coordinator.table.update(update).await {
            Ok(Some(_)) => {}
            Ok(None) => tracing::warn!(
                table = %coordinator.table.name(),
                "the sync lease had been taken over before this sync released it; the other sync continues"
            ),
            Err(err) => tracing::warn!(
                "could not release the sync lease ({err}); the next sync waits until it expires ({:?} at most)",
                coordinator.period
            ),
        }
    }
}

/// The lease fences the writes of its holder.
impl Fence for SyncLease {
    fn check(
        &self,
        table: &str,
        shard: usize,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        self.fence.check(table, shard)
    }

    fn is_lost(&self) -> bool {
        self.fence.is_lost()
    }

    fn mark_lost(&self) {
        self.fence.mark_lost();
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
