//! One check of the store: read the generation row, then reload nothing, the items changed
//! since the copy (the generation's own and its change log's), or everything; record the
//! outcome and log state changes once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use launchdarkly_server_sdk::SerializedItem;
use tokio::time::Instant;

use super::data::MirrorData;
use super::status::{FailureKind, ReadFailure};
use super::Mirror;
use crate::archive::ArchiveRef;
use crate::error::StoreError;
use crate::generation::Generation;
use crate::report::ItemRef;
use crate::schema::Kind;
use crate::store::validate_model;

/// What a check found to do.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The copy is current.
    Nothing,
    /// Read these items, then the copy is at `generation`.
    Items(Vec<ItemRef>, u64),
    /// Reload everything.
    Everything,
}

/// What to do with the copy `data` when the generation row says `generation`.
fn next_step(
    data: Option<&MirrorData>,
    generation: Option<&Generation>,
    fallback_due: bool,
) -> Step {
    let Some(data) = data else {
        return Step::Everything;
    };
    match (data.generation(), generation) {
        (None, None) if fallback_due => Step::Everything,
        (None, None) => Step::Nothing,
        (Some(have), Some(now)) if have == now.number => Step::Nothing,
        // Behind, within what the generation row's change log reaches: only what changed.
        (Some(have), Some(now)) if have < now.number => match now.changes_since(have) {
            Some(changed) => Step::Items(changed, now.number),
            None => Step::Everything,
        },
        _ => Step::Everything,
    }
}

impl Mirror {
    /// Checks the store once and records what happened.
    pub(super) async fn refresh(&self) {
        let outcome = self.read_changes().await;
        self.record(outcome);
    }

    /// One check: the generation row, then whatever it says changed.
    async fn read_changes(&self) -> Result<Option<SystemTime>, ReadFailure> {
        let settings = &self.inner.settings;
        let store = &self.inner.store;
        let generation = self
            .bounded(
                settings.check_timeout,
                "reading the data generation",
                store.generation(),
            )
            .await?;
        let data = self.inner.data.read().ok().and_then(|d| d.clone());
        let fallback_due = self
            .health()
            .full_load_at
            .is_none_or(|at| at.elapsed() >= settings.fallback_ttl);
        let synced_at = generation.as_ref().map(|g| g.synced_at);
        match next_step(data.as_deref(), generation.as_ref(), fallback_due) {
            Step::Nothing => {}
            Step::Items(changed, number) => {
                let Some(data) = data else {
                    return Err(ReadFailure::Loading);
                };
                let changes = self.read_items(changed, Some(&data)).await?;
                // Readers keep the copy they hold until the swap: the next one is a new map.
                self.swap(MirrorData::clone(&data).with_changes(changes, number));
            }
            Step::Everything => {
                let loaded = self.load_whole(generation.as_ref()).await?;
                self.swap(loaded);
                if let Ok(mut health) = self.inner.health.lock() {
                    health.full_load_at = Some(Instant::now());
                }
            }
        }
        Ok(synced_at)
    }

    /// A whole copy: from the archive the generation names when it can be used, else item by
    /// item.
    async fn load_whole(&self, generation: Option<&Generation>) -> Result<MirrorData, ReadFailure> {
        if let Some(now) = generation {
            if let Some(archive) = &now.archive {
                if let Some(data) = self.load_archived(now, archive).await? {
                    return Ok(data);
                }
            }
        }
        self.load_everything(generation.map(|g| g.number)).await
    }

    /// The archive `now` names, then the items changed since it; `None` when the archive cannot
    /// be used (missing parts, a checksum that does not match, a change log that does not
    /// reach it), with one WARN line.
    async fn load_archived(
        &self,
        now: &Generation,
        archive: &ArchiveRef,
    ) -> Result<Option<MirrorData>, ReadFailure> {
        let store = &self.inner.store;
        let in_log = now.changes_since(archive.generation);
        // Beyond the generation row's change log, the archive's own change rows lead to `now`.
        let change_rows = async {
            match in_log.is_none() && archive.generation < now.number {
                true => store.archive_change_rows(archive).await.map(Some),
                false => Ok(None),
            }
        };
        let reads = async {
            futures::try_join!(
                store.read_archive(archive),
                store.is_initialized(),
                change_rows
            )
        };
        let read = self
            .bounded(
                self.inner.settings.load_timeout,
                "reading the archive",
                reads,
            )
            .await;
        let (opened, initialized, change_rows) = match read {
            // A role granted only what readers needed before the archive (GetItem, Query):
            // still served, at the old cost.
            Err(failure) if failure.kind() == FailureKind::AccessDenied => {
                tracing::warn!(
                    table = %store.table_name(),
                    "the archive cannot be read, so the flag data is loaded item by item (slower, more read units): grant dynamodb:BatchGetItem on the table: {failure}"
                );
                return Ok(None);
            }
            read => read?,
        };
        if !initialized {
            return Err(self.never_synced());
        }
        let since = in_log.or_else(|| archive.changes_to(now.number, &change_rows?));
        let (items, since) = match (opened, since) {
            (Ok(items), _) if archive.generation == now.number => {
                return Ok(Some(MirrorData::from_items(items, Some(now.number))));
            }
            (Ok(items), Some(since)) => (items, since),
            (Ok(_), None) => {
                tracing::warn!(
                    table = %store.table_name(),
                    "the changes since the archive of generation {} do not lead to generation {}, so the flag data is loaded item by item",
                    archive.generation, now.number
                );
                return Ok(None);
            }
            (Err(e), _) => {
                tracing::warn!(
                    table = %store.table_name(),
                    "the archive of generation {} cannot be used, so the flag data is loaded item by item: {e}",
                    archive.generation
                );
                return Ok(None);
            }
        };
        let data = MirrorData::from_items(items, Some(archive.generation));
        let changes = self.read_items(since, Some(&data)).await?;
        Ok(Some(data.with_changes(changes, now.number)))
    }

    fn never_synced(&self) -> ReadFailure {
        let store = &self.inner.store;
        ReadFailure::NeverSynced {
            table: store.table_name().to_string(),
            prefix: store.prefix().map(str::to_string),
        }
    }

    async fn load_everything(&self, generation: Option<u64>) -> Result<MirrorData, ReadFailure> {
        let store = &self.inner.store;
        let reads = async {
            futures::try_join!(
                store.all(Kind::Flags),
                store.all(Kind::Segments),
                store.is_initialized()
            )
        };
        let (flags, segments, initialized) = self
            .bounded(
                self.inner.settings.load_timeout,
                "loading every flag and segment",
                reads,
            )
            .await?;
        if !initialized {
            return Err(self.never_synced());
        }
        Ok(MirrorData::new(flags, segments, generation))
    }

    /// The stored form of each changed item (`None`: gone). An item the SDK could not read is
    /// left as the copy has it, with one ERROR line.
    async fn read_items(
        &self,
        changed: Vec<ItemRef>,
        current: Option<&MirrorData>,
    ) -> Result<Vec<(ItemRef, Option<SerializedItem>)>, ReadFailure> {
        let store = &self.inner.store;
        let reads = async { store.get_many(&changed).await };
        let read = self
            .bounded(
                self.inner.settings.load_timeout,
                "reading the changed items",
                reads,
            )
            .await?;
        Ok(read
            .into_iter()
            .map(|(item, stored)| match stored {
                Some(stored) => match validate_model(item.kind, &stored) {
                    Ok(()) => (item, Some(stored)),
                    Err(reason) => {
                        tracing::error!(
                            table = %store.table_name(),
                            "The item \"{}\" in \"{}\" could not be read and the previous copy is kept: {reason}; rewrite it with a LaunchDarkly sync",
                            item.key, item.kind
                        );
                        let previous = current
                            .and_then(|d| d.items(item.kind).get(item.key.as_str()).map(|i| i.to_serialized()));
                        (item, previous)
                    }
                },
                None => (item, None),
            })
            .collect())
    }

    fn swap(&self, data: MirrorData) {
        if let Ok(mut slot) = self.inner.data.write() {
            *slot = Some(Arc::new(data));
        }
        // The copy answers from now on.
        if let Ok(mut ahead) = self.inner.ahead.lock() {
            *ahead = Default::default();
        }
    }

    /// Runs one DynamoDB step under `limit`.
    async fn bounded<T>(
        &self,
        limit: Duration,
        what: &'static str,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ReadFailure> {
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(ReadFailure::Store(Arc::new(err))),
            Err(_) => Err(ReadFailure::Timeout {
                table: self.inner.store.table_name().to_string(),
                what,
                limit,
            }),
        }
    }

    /// Records a check's outcome; logs only changes of state.
    fn record(&self, outcome: Result<Option<SystemTime>, ReadFailure>) {
        let loaded = self.inner.data.read().is_ok_and(|d| d.is_some());
        let Ok(mut health) = self.inner.health.lock() else {
            return;
        };
        let table = self.inner.store.table_name();
        let now = SystemTime::now();
        match outcome {
            Ok(synced_at) => {
                if health.failing {
                    tracing::info!(
                        table,
                        "the flag store answers again: serving current flag data"
                    );
                }
                health.failing = false;
                health.failing_since = None;
                health.never_synced = false;
                health.confirmed_at = Some(now);
                health.generation_synced_at = synced_at;
            }
            Err(failure) => {
                let never_synced = matches!(failure, ReadFailure::NeverSynced { .. });
                if !health.failing {
                    match (loaded, &health.confirmed_at) {
                        (true, Some(at)) => tracing::warn!(
                            table,
                            "the flag store cannot be read; answering from the flag data read {}s ago until it can: {failure}",
                            now.duration_since(*at).unwrap_or_default().as_secs()
                        ),
                        _ if never_synced => tracing::warn!(table, "no flag data to serve yet: {failure}"),
                        _ => tracing::error!(table, "the flag store cannot be read, so flags cannot be evaluated: {failure}"),
                    }
                    health.failing_since = Some(now);
                }
                health.failing = true;
                health.never_synced = never_synced && !loaded;
                health.last_error = Some(failure);
                health.last_error_at = Some(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::UNIX_EPOCH;

    fn at(generation: Option<u64>) -> MirrorData {
        MirrorData::new(HashMap::new(), HashMap::new(), generation)
    }

    fn row(number: u64, changed: Option<Vec<ItemRef>>) -> Generation {
        Generation {
            number,
            synced_at: UNIX_EPOCH,
            changed,
            earlier: Vec::new(),
            pending: None,
            archive: None,
        }
    }

    #[test]
    fn the_next_generation_reads_its_items_and_anything_else_reloads() {
        let one = vec![ItemRef::new(Kind::Flags, "f")];
        assert_eq!(
            next_step(None, Some(&row(3, None)), false),
            Step::Everything
        );
        assert_eq!(
            next_step(Some(&at(Some(3))), Some(&row(3, None)), true),
            Step::Nothing
        );
        assert_eq!(
            next_step(Some(&at(Some(3))), Some(&row(4, Some(one.clone()))), false),
            Step::Items(one.clone(), 4)
        );
        assert_eq!(
            next_step(Some(&at(Some(3))), Some(&row(4, None)), false),
            Step::Everything
        );
        assert_eq!(
            next_step(Some(&at(Some(2))), Some(&row(4, Some(one))), false),
            Step::Everything
        );
        assert_eq!(
            next_step(Some(&at(Some(5))), Some(&row(4, None)), false),
            Step::Everything
        );
        assert_eq!(
            next_step(Some(&at(None)), Some(&row(1, None)), false),
            Step::Everything
        );
        assert_eq!(next_step(Some(&at(Some(1))), None, false), Step::Everything);
    }

    #[test]
    fn a_copy_several_generations_behind_reads_what_the_change_log_names() {
        let item = |key: &str| ItemRef::new(Kind::Flags, key);
        let changes = |number, keys: &[&str]| crate::generation::Changes {
            number,
            items: keys.iter().map(|k| item(k)).collect(),
        };
        let mut now = row(6, Some(vec![item("f")]));
        now.earlier = vec![changes(5, &["e", "f"]), changes(4, &["d"])];
        assert_eq!(
            next_step(Some(&at(Some(3))), Some(&now), false),
            Step::Items(vec![item("d"), item("e"), item("f")], 6)
        );
        assert_eq!(
            next_step(Some(&at(Some(5))), Some(&now), false),
            Step::Items(vec![item("f")], 6)
        );
        // Further behind than the log reaches, or a gap in it: everything.
        assert_eq!(
            next_step(Some(&at(Some(2))), Some(&now), false),
            Step::Everything
        );
        now.earlier = vec![changes(5, &["e"]), changes(3, &["c"])];
        assert_eq!(
            next_step(Some(&at(Some(3))), Some(&now), false),
            Step::Everything
        );
    }

    #[test]
    fn a_table_without_generation_reloads_once_per_fallback_ttl() {
        assert_eq!(next_step(Some(&at(None)), None, false), Step::Nothing);
        assert_eq!(next_step(Some(&at(None)), None, true), Step::Everything);
    }
}
