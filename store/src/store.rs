//! The async store: reads, conditional upserts and snapshot applies over one table and prefix.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use launchdarkly_server_sdk::{Flag, Segment, SerializedItem};

use crate::dynamo::{Table, WriteOp, WriteSettings};
use crate::error::StoreError;
use crate::report::{ApplyReport, ItemRef};
use crate::schema::{
    self, decode_item, item_attributes, key_attributes, marker_attributes, stored_version, Kind,
    Namespaces,
};
use crate::snapshot::{plan, Snapshot, StoredVersions};

/// Called by [`DynamoDbStore::upsert`] between its decision to write and the write itself, so
/// tests can make another writer race with it (the official stores' "concurrent modification"
/// test hook).
#[doc(hidden)]
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
        before_upsert: Option<BeforeUpsertHook>,
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

    fn table(&self) -> &Table {
        &self.inner.table
    }

    fn namespaces(&self) -> &Namespaces {
        &self.inner.namespaces
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
                        Some(aws_sdk_dynamodb::types::AttributeValue::S(key)) => key.as_str(),
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

    /// Makes the table equal to `snapshot` with the fewest writes.
    ///
    /// Reads the stored `(key, version)` of both kinds with a projection, puts only items that
    /// are new or whose version differs (segments first), then deletes stored items that are not
    /// in the snapshot, then writes the `$inited` marker if it is missing. Each phase starts only
    /// when the one before it fully succeeded, so a failure never deletes anything nor marks an
    /// incomplete table as initialized. Oversize items are skipped with one ERROR line each and
    /// their stored rows kept; items marked [`Snapshot::preserve`] are left as stored.
    ///
    /// Applying the same snapshot twice costs no writes the second time.
    pub async fn apply_snapshot(&self, snapshot: &Snapshot) -> Result<ApplyReport, StoreError> {
        let (flags, segments, initialized) = futures::try_join!(
            self.stored_versions(Kind::Flags),
            self.stored_versions(Kind::Segments),
            self.is_initialized(),
        )?;
        let stored = HashMap::from([(Kind::Flags, flags), (Kind::Segments, segments)]);
        let plan = plan(snapshot, &stored, self.namespaces());

        let mut report = ApplyReport {
            unchanged: plan.unchanged,
            preserved: plan.preserved,
            ..ApplyReport::default()
        };
        for item in &plan.oversize {
            log_oversize(item);
        }
        report.skipped_oversize = plan.oversize;

        for kind in Kind::ALL {
            let puts = plan
                .puts
                .iter()
                .filter(|(reference, _)| reference.kind == kind)
                .map(|(reference, item)| {
                    let attributes =
                        item_attributes(self.namespaces().of(kind), &reference.key, item);
                    WriteOp::put(reference.clone(), attributes)
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.write_phase(puts, &mut report, |report| &mut report.written)
                .await?;
        }
        // Flags first, so no stored flag is left pointing at a deleted segment.
        for kind in [Kind::Flags, Kind::Segments] {
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
            self.write_phase(deletes, &mut report, |report| &mut report.deleted)
                .await?;
        }
        if !initialized {
            self.table()
                .put(marker_attributes(self.namespaces()))
                .await?;
            report.marker_written = true;
        }
        Ok(report)
    }

    async fn stored_versions(&self, kind: Kind) -> Result<StoredVersions, StoreError> {
        let rows = self.table().query(self.namespaces().of(kind), true).await?;
        Ok(rows
            .iter()
            .filter_map(|row| match row.get(schema::SORT_KEY) {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(key)) => {
                    Some((key.clone(), stored_version(row)))
                }
                _ => None,
            })
            .collect())
    }

    async fn write_phase(
        &self,
        ops: Vec<WriteOp>,
        report: &mut ApplyReport,
        done: fn(&mut ApplyReport) -> &mut Vec<ItemRef>,
    ) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut outcome = self.table().batch_write(ops).await;
        report.batch_requests += outcome.requests;
        outcome.done.sort();
        done(report).extend(outcome.done);
        if outcome.failed.is_empty() {
            return Ok(());
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

/// Checks that a live item parses as the SDK's model, so one bad row cannot make the SDK drop
/// every flag of an all-flags read.
fn validate_model(kind: Kind, item: &SerializedItem) -> Result<(), String> {
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
