//! The async store: reads, conditional upserts and snapshot applies over one table and prefix.

use std::collections::{HashMap, HashSet};
use std::future::Future;
#[cfg(feature = "test-support")]
use std::pin::Pin;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use launchdarkly_server_sdk::{Flag, Segment, SerializedItem};

use aws_sdk_dynamodb::types::AttributeValue;
use tokio::time::Instant;

use crate::archive::{Archive, ArchiveRef};
use crate::error::StoreError;
use crate::fence::Fence;
use crate::generation::Generation;
use crate::guard::DeletionLimit;
use crate::report::{ApplyReport, ItemRef};
use crate::schema::{
    self, decode_item, item_attributes, key_attributes, marker_attributes, stored_version, Kind,
    Namespaces, GENERATION_KEY,
};
use crate::snapshot::{plan, Compare, Plan, Snapshot, StoredRow, StoredRows};
use crate::table::{Table, WriteOp, WriteSettings};

/// Called by [`DynamoDbStore::upsert`] between its decision to write and the write itself, so
/// tests can make another writer race with it (the official stores' "concurrent modification"
/// test hook). Only with the `test-support` feature.
#[cfg(feature = "test-support")]
pub type BeforeUpsertHook =
    Arc<dyn Fn(Kind, String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A LaunchDarkly data store over one DynamoDB table and prefix, with an async API.
///
/// This is the API for writers that are not the SDK (such as a sync job) and for async code.
/// The SDK itself uses it through [`DynamoDbStoreBuilder`](crate::DynamoDbStoreBuilder), which
/// implements the SDK's `PersistentDataStoreFactory`. Cloning is cheap and shares the client.
#[derive(Clone)]
pub struct DynamoDbStore {
    inner: Arc<Inner>,
}

struct Inner {
    table: Table,
    namespaces: Namespaces,
    prefix: Option<String>,
    #[cfg(feature = "test-support")]
    before_upsert: Option<BeforeUpsertHook>,
}

impl std::fmt::Debug for DynamoDbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbStore")
            .field("table", &self.inner.table.name())
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

impl DynamoDbStore {
    pub(crate) fn new(
        client: Client,
        table: String,
        prefix: Option<String>,
        write: WriteSettings,
        #[cfg(feature = "test-support")] before_upsert: Option<BeforeUpsertHook>,
    ) -> Result<Self, StoreError> {
        if table.trim().is_empty() {
            return Err(StoreError::EmptyTableName);
        }
        let prefix = prefix.filter(|p| !p.is_empty());
        Ok(Self {
            inner: Arc::new(Inner {
                table: Table::new(client, table, write),
                namespaces: Namespaces::new(prefix.as_deref()),
                prefix,
                #[cfg(feature = "test-support")]
                before_upsert,
            }),
        })
    }

    /// The table this store reads and writes.
    pub fn table_name(&self) -> &str {
        self.inner.table.name()
    }

    /// The key prefix, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.inner.prefix.as_deref()
    }

    /// The table, for writers built on this store (the sync machinery's own rows).
    pub fn table(&self) -> &Table {
        &self.inner.table
    }

    pub(crate) fn namespaces(&self) -> &Namespaces {
        &self.inner.namespaces
    }

    /// The namespace of the sync machinery's rows (lease, fences, generation, notes), with the
    /// prefix. No SDK reads it.
    pub fn sync_namespace(&self) -> &str {
        self.namespaces().sync()
    }

    /// One item by key, tombstones included (`deleted = true`). `Ok(None)` when absent.
    pub async fn get(&self, kind: Kind, key: &str) -> Result<Option<SerializedItem>, StoreError> {
        let namespace = self.namespaces().of(kind);
        let Some(row) = self.table().get(key_attributes(namespace, key)).await? else {
            return Ok(None);
        };
        decode_item(&row)
            .map(|(_, item)| Some(item))
            .map_err(|reason| StoreError::UnreadableItem {
                table: self.table_name().to_string(),
                item: ItemRef::new(kind, key),
                reason: reason.to_string(),
            })
    }

    /// The items `items` names, as stored (`None`: not in the table), in consistent
    /// `BatchGetItem`s of 100: what a catch-up reads.
    pub(crate) async fn get_many(
        &self,
        items: &[ItemRef],
    ) -> Result<Vec<(ItemRef, Option<SerializedItem>)>, StoreError> {
        let namespaces = self.namespaces();
        let keys = items
            .iter()
            .map(|item| key_attributes(namespaces.of(item.kind), &item.key))
            .collect();
        let mut found: HashMap<ItemRef, Option<SerializedItem>> =
            items.iter().map(|item| (item.clone(), None)).collect();
        for row in self.table().batch_get(keys, true).await? {
            let namespace = row.get(schema::PARTITION_KEY).and_then(|n| n.as_s().ok());
            let Some(kind) = Kind::ALL
                .into_iter()
                .find(|k| namespace.map(String::as_str) == Some(namespaces.of(*k)))
            else {
                continue;
            };
            let (key, item) = decode_item(&row).map_err(|reason| {
                let key = row.get(schema::SORT_KEY).and_then(|k| k.as_s().ok());
                StoreError::UnreadableItem {
                    table: self.table_name().to_string(),
                    item: ItemRef::new(kind, key.cloned().unwrap_or_default()),
                    reason: reason.to_string(),
                }
            })?;
            found.insert(ItemRef::new(kind, key), Some(item));
        }
        Ok(items
            .iter()
            .map(|item| {
                let stored = found.remove(item).flatten();
                (item.clone(), stored)
            })
            .collect())
    }

    /// Every item of a kind, keyed by the table's sort key, tombstones included.
    ///
    /// A row that cannot be read (not JSON, no version, or not a valid flag or segment for the
    /// SDK) is left out with one ERROR line naming it, instead of failing the whole read.
    pub async fn all(&self, kind: Kind) -> Result<HashMap<String, SerializedItem>, StoreError> {
        let rows = self
            .table()
            .query(self.namespaces().of(kind), false)
            .await?;
        let mut items = HashMap::with_capacity(rows.len());
        for row in rows {
            let checked = decode_item(&row)
                .map_err(|e| e.to_string())
                .and_then(|(key, item)| validate_model(kind, &item).map(|()| (key, item)));
            match checked {
                Ok((key, item)) => {
                    items.insert(key, item);
                }
                Err(reason) => {
                    let key = match row.get(schema::SORT_KEY) {
                        Some(AttributeValue::S(key)) => key.as_str(),
                        _ => "<no key>",
                    };
                    tracing::error!(
                        table = %self.table_name(),
                        "The item \"{key}\" in \"{kind}\" could not be read and was skipped: {reason}; rewrite it with a LaunchDarkly sync"
                    );
                }
            }
        }
        Ok(items)
    }

    /// Writes `item` unless the stored version is equal or higher (a stored tombstone blocks
    /// older versions). Returns whether it was written. An item over DynamoDB's size limit is
    /// not written: one ERROR line names it and the result is `Ok(false)`.
    pub async fn upsert(
        &self,
        kind: Kind,
        key: &str,
        item: &SerializedItem,
    ) -> Result<bool, StoreError> {
        let namespace = self.namespaces().of(kind);
        if !schema::fits_in_item(namespace, key, item) {
            log_oversize(&ItemRef::new(kind, key));
            return Ok(false);
        }
        #[cfg(feature = "test-support")]
        if let Some(hook) = &self.inner.before_upsert {
            hook(kind, key.to_string()).await;
        }
        self.table()
            .put_if_newer(item_attributes(namespace, key, item), item.version)
            .await
    }

    /// Whether the `$inited` marker exists, whoever wrote it.
    pub async fn is_initialized(&self) -> Result<bool, StoreError> {
        let marker = self.namespaces().inited();
        Ok(self
            .table()
            .get(key_attributes(marker, marker))
            .await?
            .is_some())
    }

    /// Makes the table equal to `snapshot` with the fewest writes: [`Self::apply`] with the
    /// default options (version diff, unfenced, the store's write deadline).
    pub async fn apply_snapshot(&self, snapshot: &Snapshot) -> Result<ApplyReport, StoreError> {
        self.apply(snapshot, ApplyOptions::default()).await
    }

    /// Makes the table equal to `snapshot` with the fewest writes.
    ///
    /// Reads what is stored (keys and versions, or whole items with [`Compare::Content`]),
    /// puts only items that are new or differ (segments first), then deletes stored items that
    /// are not in the snapshot, then writes the `$inited` marker if it is missing. Each phase
    /// starts only when the one before it fully succeeded, so a failure never deletes anything
    /// nor marks an incomplete table as initialized. Oversize items are skipped with one ERROR
    /// line each and their stored rows kept; items marked [`Snapshot::preserve`] are left as
    /// stored. With a fence ([`ApplyOptions::fenced_by`]) every write is refused by DynamoDB
    /// once the fence is lost (another sync took the lease over), and the data generation
    /// readers follow is announced before the first write and committed after the last; with a
    /// deadline every phase stops at it.
    ///
    /// Applying the same snapshot twice costs no writes the second time.
    pub async fn apply(
        &self,
        snapshot: &Snapshot,
        options: ApplyOptions<'_>,
    ) -> Result<ApplyReport, StoreError> {
        let fenced = options.fence.is_some();
        let stored = self.read_stored(&options).await?;
        let mut plan = plan(snapshot, &stored.rows, self.namespaces(), options.compare);
        self.check_deletions(&plan, stored.rows[&Kind::Flags].len(), &options)?;
        let mut report = start_report(&mut plan);
        let changes = plan.changes();
        let changing = !changes.is_empty() || !stored.initialized;
        if fenced && changing {
            let announced = Generation::announce(stored.previous.as_ref());
            self.write_generation(&announced, &options, &mut report)
                .await?;
        }
        self.write_data(&plan, stored.initialized, &options, &mut report)
            .await?;
        // Only now, with every write of this sync acknowledged: it never names data that is
        // not there.
        let mut generation = fenced
            .then(|| Generation::commit(stored.previous.as_ref(), changing.then_some(changes)));
        let previous_archive = stored.previous.as_ref().and_then(|p| p.archive.as_ref());
        let mut archived = None;
        // A sync that changed nothing commits the same generation: same archive, no change row.
        let idle = generation
            .as_ref()
            .zip(stored.previous.as_ref())
            .is_some_and(|(next, previous)| next.number == previous.number);
        if let Some(next) = generation.as_mut() {
            next.archive = match idle {
                true => previous_archive.cloned(),
                false => {
                    let changed_bytes = changed_bytes(snapshot, next.changed.as_deref());
                    previous_archive.and_then(|a| a.kept_by(next, changed_bytes))
                }
            };
            if next.archive.is_none() {
                archived = self
                    .archive(snapshot, next.number, &options, &mut report)
                    .await?;
                next.archive.clone_from(&archived);
            }
        }
        let change_row = generation.as_ref().filter(|_| !idle).and_then(|next| {
            let archive = next.archive.as_ref()?;
            archive.change_row(self.namespaces().archive(), next)
        });
        let finish = Finish {
            marker: !stored.initialized,
            generation,
            change_row,
        };
        self.finish(finish, &options, &mut report).await?;
        if let Some(written) = archived {
            let keep = [
                Some(written.id.as_str()),
                previous_archive.map(|a| a.id.as_str()),
            ];
            self.remove_old_archives(&keep.into_iter().flatten().collect::<Vec<_>>(), &options)
                .await;
            report.archive = Some(written);
        }
        report.written.sort();
        report.repaired.sort();
        report.deleted.sort();
        Ok(report)
    }

    /// Writes an archive of `snapshot` as the data of `generation`, when the table will hold
    /// exactly the snapshot (nothing preserved, nothing too large to store). A failed archive
    /// costs readers only their fast cold start: one WARN line, and the generation names none.
    async fn archive(
        &self,
        snapshot: &Snapshot,
        generation: u64,
        options: &ApplyOptions<'_>,
        report: &mut ApplyReport,
    ) -> Result<Option<ArchiveRef>, StoreError> {
        if !report.preserved.is_empty() || !report.skipped_oversize.is_empty() {
            tracing::info!(
                table = %self.table_name(),
                "no archive for generation {generation}: the table keeps items this sync did not write, so readers load it item by item until a complete sync"
            );
            return Ok(None);
        }
        let archive = match Archive::build(snapshot, generation) {
            Ok(archive) => archive,
            Err(e) => {
                tracing::warn!(table = %self.table_name(), "no archive for generation {generation}: {e}");
                return Ok(None);
            }
        };
        report.archive_bytes = archive.compressed_bytes();
        match self.write_archive(archive, options).await {
            Ok(reference) => Ok(Some(reference)),
            Err(e @ StoreError::LeaseLost { .. }) => Err(e),
            Err(e) => {
                tracing::warn!(table = %self.table_name(), "no archive for generation {generation}, readers load the table item by item: {e}");
                Ok(None)
            }
        }
    }

    /// Deletes archives no generation names any more; a failure leaves them for the next one.
    async fn remove_old_archives(&self, keep: &[&str], options: &ApplyOptions<'_>) {
        let mut own = ApplyReport::default();
        if let Err(e) = self.remove_archives_except(keep, options, &mut own).await {
            tracing::warn!(table = %self.table_name(), "old archive parts were not deleted (the next archive tries again): {e}");
        }
    }

    /// What an apply compares against, read at once: the stored rows of both kinds, the
    /// `$inited` marker, and (fenced) the generation.
    async fn read_stored(&self, options: &ApplyOptions<'_>) -> Result<Stored, StoreError> {
        let versions_only = options.compare == Compare::Versions;
        let fenced = options.fence.is_some();
        let reads = async {
            futures::try_join!(
                self.stored_rows(Kind::Flags, versions_only),
                self.stored_rows(Kind::Segments, versions_only),
                self.is_initialized(),
                async {
                    match fenced {
                        true => self.generation().await,
                        false => Ok(None),
                    }
                },
            )
        };
        let (flags, segments, initialized, previous) = self
            .within(options.deadline, "reading what the table holds", reads)
            .await??;
        Ok(Stored {
            rows: HashMap::from([(Kind::Flags, flags), (Kind::Segments, segments)]),
            initialized,
            previous,
        })
    }

    /// The planned puts, then the planned deletes, each phase only after the one before it.
    async fn write_data(
        &self,
        plan: &Plan<'_>,
        initialized: bool,
        options: &ApplyOptions<'_>,
        report: &mut ApplyReport,
    ) -> Result<(), StoreError> {
        // Segments before flags, so no flag is stored pointing at a missing segment. A table
        // without the `$inited` marker is read by nobody (every SDK treats it as empty), so its
        // first sync writes everything at once.
        let put_phases: &[&[Kind]] = match initialized {
            true => &[&[Kind::Segments], &[Kind::Flags]],
            false => &[&[Kind::Segments, Kind::Flags]],
        };
        for kinds in put_phases {
            self.write_puts(plan, kinds, options, report).await?;
        }
        // Flags first, so no stored flag is left pointing at a deleted segment.
        for kind in [Kind::Flags, Kind::Segments] {
            self.write_deletes(plan, kind, options, report).await?;
        }
        Ok(())
    }

    /// Puts the planned items of `kinds` in one write phase.
    async fn write_puts(
        &self,
        plan: &Plan<'_>,
        kinds: &[Kind],
        options: &ApplyOptions<'_>,
        report: &mut ApplyReport,
    ) -> Result<(), StoreError> {
        let puts = plan
            .puts
            .iter()
            .filter(|put| kinds.contains(&put.item.kind))
            .map(|put| {
                let namespace = self.namespaces().of(put.item.kind);
                let size = schema::estimated_item_size(namespace, &put.item.key, put.data);
                let attributes = item_attributes(namespace, &put.item.key, put.data);
                WriteOp::put(put.item.clone(), attributes, size)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let repairs: HashSet<&ItemRef> = plan
            .puts
            .iter()
            .filter(|put| put.repair)
            .map(|put| &put.item)
            .collect();
        let done = self.write_phase(puts, options, report).await?;
        let (repaired, written): (Vec<ItemRef>, Vec<ItemRef>) =
            done.into_iter().partition(|item| repairs.contains(item));
        report.repaired.extend(repaired);
        report.written.extend(written);
        Ok(())
    }

    /// Deletes the planned stored items of `kind` in one write phase.
    async fn write_deletes(
        &self,
        plan: &Plan<'_>,
        kind: Kind,
        options: &ApplyOptions<'_>,
        report: &mut ApplyReport,
    ) -> Result<(), StoreError> {
        let deletes = plan
            .deletes
            .iter()
            .filter(|reference| reference.kind == kind)
            .map(|reference| {
                WriteOp::delete(
                    reference.clone(),
                    key_attributes(self.namespaces().of(kind), &reference.key),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let done = self.write_phase(deletes, options, report).await?;
        report.deleted.extend(done);
        Ok(())
    }

    /// The last writes of an apply, after every data write: the `$inited` marker if it was
    /// missing, and the generation commit. Fenced, both go in one transaction.
    async fn finish(
        &self,
        finish: Finish,
        options: &ApplyOptions<'_>,
        report: &mut ApplyReport,
    ) -> Result<(), StoreError> {
        let Some(generation) = finish.generation else {
            if finish.marker {
                self.write_marker(options, report).await?;
                report.marker_written = true;
            }
            return Ok(());
        };
        let mut ops = Vec::with_capacity(2);
        if finish.marker {
            let marker = self.namespaces().inited();
            ops.push(WriteOp::put(
                ItemRef::new(Kind::Flags, marker),
                marker_attributes(self.namespaces()),
                0,
            )?);
        }
        if let Some(row) = finish.change_row {
            // In the commit's own transaction: a change row exists exactly when its
            // generation does.
            ops.push(WriteOp::put(
                ItemRef::new(Kind::Flags, "change row"),
                row,
                0,
            )?);
        }
        ops.push(self.generation_op(&generation)?);
        self.write_phase(ops, options, report).await?;
        report.marker_written = finish.marker;
        report.generation = Some(generation.number);
        Ok(())
    }

    async fn write_marker(
        &self,
        options: &ApplyOptions<'_>,
        report: &mut ApplyReport,
    ) -> Result<(), StoreError> {
        if options.fence.is_none() {
            let put = self.table().put(marker_attributes(self.namespaces()));
            return self
                .within(options.deadline, "writing the $inited marker", put)
                .await?;
        }
        let marker = self.namespaces().inited();
        let op = WriteOp::put(
            ItemRef::new(Kind::Flags, marker),
            marker_attributes(self.namespaces()),
            0,
        )?;
        self.write_phase(vec![op], options, report).await.map(drop)
    }

    /// The data generation the last sync committed, if a syncer maintains one on this table.
    pub async fn generation(&self) -> Result<Option<Generation>, StoreError> {
        let row = self
            .table()
            .get(Generation::key(self.namespaces().sync()))
            .await?;
        Ok(row.as_ref().and_then(Generation::from_row))
    }

    /// Refuses a plan that deletes more stored flags than the options allow, before any write.
    fn check_deletions(
        &self,
        plan: &Plan<'_>,
        stored: usize,
        options: &ApplyOptions<'_>,
    ) -> Result<(), StoreError> {
        let deleting = plan
            .deletes
            .iter()
            .filter(|item| item.kind == Kind::Flags)
            .count();
        let limit = options.deletion_limit;
        if limit.refuses(deleting, stored) {
            return Err(StoreError::MassDeletion {
                table: self.table_name().to_string(),
                deleting,
                stored,
                limit_percent: limit.percent(),
            });
        }
        Ok(())
    }

    /// Writes the generation row, fenced like the data.
    async fn write_generation(
        &self,
        generation: &Generation,
        options: &ApplyOptions<'_>,
        report: &mut ApplyReport,
    ) -> Result<(), StoreError> {
        let op = self.generation_op(generation)?;
        self.write_phase(vec![op], options, report).await.map(drop)
    }

    fn generation_op(&self, generation: &Generation) -> Result<WriteOp, StoreError> {
        WriteOp::put(
            ItemRef::new(Kind::Flags, GENERATION_KEY),
            generation.to_row(self.namespaces().sync()),
            0,
        )
    }

    /// Runs `work` until `deadline`, if there is one.
    async fn within<T>(
        &self,
        deadline: Option<Instant>,
        phase: &'static str,
        work: impl Future<Output = T>,
    ) -> Result<T, StoreError> {
        match deadline {
            None => Ok(work.await),
            Some(deadline) => {
                tokio::time::timeout_at(deadline, work)
                    .await
                    .map_err(|_| StoreError::Deadline {
                        table: self.table_name().to_string(),
                        phase,
                    })
            }
        }
    }

    async fn stored_rows(&self, kind: Kind, versions_only: bool) -> Result<StoredRows, StoreError> {
        let rows = self
            .table()
            .query(self.namespaces().of(kind), versions_only)
            .await?;
        // Moved out of the rows, not copied: a reconciling sync holds every stored item.
        Ok(rows
            .into_iter()
            .filter_map(|mut row| {
                let version = stored_version(&row);
                match row.remove(schema::SORT_KEY) {
                    Some(AttributeValue::S(key)) => Some((
                        key,
                        StoredRow {
                            version,
                            item: match row.remove(schema::ITEM_JSON_ATTRIBUTE) {
                                Some(AttributeValue::S(item)) => Some(item),
                                _ => None,
                            },
                        },
                    )),
                    _ => None,
                }
            })
            .collect())
    }

    /// Writes one phase, fenced or not; returns the items written (sorted) or fails naming
    /// those that were not.
    pub(crate) async fn write_phase(
        &self,
        ops: Vec<WriteOp>,
        options: &ApplyOptions<'_>,
        report: &mut ApplyReport,
    ) -> Result<Vec<ItemRef>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut outcome = match options.fence {
            Some(fence) => {
                self.table()
                    .transact_write(ops, fence, options.deadline)
                    .await
            }
            None => self.table().batch_write(ops, options.deadline).await,
        };
        report.batch_requests += outcome.requests;
        outcome.done.sort();
        if outcome.failed.is_empty() {
            return Ok(outcome.done);
        }
        if outcome.lease_lost {
            return Err(StoreError::LeaseLost {
                table: self.table_name().to_string(),
            });
        }
        outcome.failed.sort();
        report.failed = outcome.failed.clone();
        Err(StoreError::Incomplete {
            table: self.table_name().to_string(),
            failed: outcome.failed,
            cause: outcome.cause.unwrap_or_else(|| "unknown".to_string()),
            report: Box::new(report.clone()),
        })
    }
}

/// What the table holds before an apply.
struct Stored {
    rows: HashMap<Kind, StoredRows>,
    initialized: bool,
    previous: Option<Generation>,
}

/// The report of an apply before its writes: what the plan leaves as it is, and the oversize
/// items it skips (one ERROR line each).
fn start_report(plan: &mut Plan<'_>) -> ApplyReport {
    for item in &plan.oversize {
        log_oversize(item);
    }
    ApplyReport {
        unchanged: plan.unchanged,
        preserved: std::mem::take(&mut plan.preserved),
        skipped_oversize: std::mem::take(&mut plan.oversize),
        ..ApplyReport::default()
    }
}

/// The closing writes of an apply.
struct Finish {
    marker: bool,
    generation: Option<Generation>,
    /// The keys the generation changed, beside the archive it keeps naming.
    change_row: Option<HashMap<String, AttributeValue>>,
}

/// Bytes of the items `changed` names, as `snapshot` has them (a deleted one counts its key):
/// what the archive's refresh rule adds up.
fn changed_bytes(snapshot: &Snapshot, changed: Option<&[ItemRef]>) -> u64 {
    changed
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let json = snapshot
                .items(item.kind)
                .get(&item.key)
                .map_or(0, |stored| stored.serialized_item.len());
            (item.key.len() + json) as u64
        })
        .sum()
}

/// How [`DynamoDbStore::apply`] compares, fences and bounds its work.
///
/// ```
/// use launchdarkly_dynamo_store::{ApplyOptions, Compare};
///
/// let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
/// let options = ApplyOptions::default().compare(Compare::Content).deadline(deadline);
/// # let _ = options;
/// ```
#[derive(Clone, Copy)]
pub struct ApplyOptions<'a> {
    fence: Option<&'a dyn Fence>,
    deadline: Option<Instant>,
    compare: Compare,
    deletion_limit: DeletionLimit,
}

impl Default for ApplyOptions<'_> {
    fn default() -> Self {
        Self {
            fence: None,
            deadline: None,
            compare: Compare::default(),
            deletion_limit: DeletionLimit::Unlimited,
        }
    }
}

impl<'a> ApplyOptions<'a> {
    /// Every write carries `fence`'s check: DynamoDB refuses it once the fence is lost (for
    /// the sync lease: another sync took it), even if the request was already sent. A fenced
    /// apply also commits the data generation readers follow.
    pub fn fenced_by(mut self, fence: &'a dyn Fence) -> Self {
        self.fence = Some(fence);
        self
    }

    /// No phase (reads, puts, deletes, marker) runs past `deadline`.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// How stored items are compared with the snapshot.
    pub fn compare(mut self, compare: Compare) -> Self {
        self.compare = compare;
        self
    }

    /// Refuse (with [`StoreError::MassDeletion`], before any write) a snapshot that deletes
    /// more stored flags than `limit` allows. Unlimited by default, as the SDK's `init` is.
    pub fn deletion_limit(mut self, limit: DeletionLimit) -> Self {
        self.deletion_limit = limit;
        self
    }
}

/// Checks that a live item parses as the SDK's model, so one bad row cannot make the SDK drop
/// every flag of an all-flags read.
pub(crate) fn validate_model(kind: Kind, item: &SerializedItem) -> Result<(), String> {
    if item.deleted {
        return Ok(());
    }
    let parsed = match kind {
        Kind::Flags => serde_json::from_str::<Flag>(&item.serialized_item).map(drop),
        Kind::Segments => serde_json::from_str::<Segment>(&item.serialized_item).map(drop),
    };
    parsed.map_err(|e| format!("not a valid {kind} item for the SDK: {e}"))
}

fn log_oversize(item: &ItemRef) {
    tracing::error!(
        "The item \"{}\" in \"{}\" was too large to store in DynamoDB and was dropped",
        item.key,
        item.kind
    );
}
