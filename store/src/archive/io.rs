//! Archive I/O: a fenced apply writes an archive's parts and removes the parts of archives no
//! generation names any more; a reader reads the parts of the archive its generation names in
//! a few `BatchGetItem`s.

use super::{open, Archive, ArchiveError, ArchiveRef, Items, Row};
use crate::error::StoreError;
use crate::report::{ApplyReport, ItemRef};
use crate::schema::{key_attributes, Kind, SORT_KEY};
use crate::store::{ApplyOptions, DynamoDbStore};
use crate::table::WriteOp;

/// Parts asked for in one `BatchGetItem` (1 MiB of data).
const PARTS_PER_READ: usize = 4;

impl DynamoDbStore {
    /// Writes the parts of `archive`, fenced like the apply's data (the syncer's role has no
    /// unfenced write at all). No reader reads them until a commit names them.
    pub(crate) async fn write_archive(
        &self,
        archive: Archive,
        options: &ApplyOptions<'_>,
    ) -> Result<ArchiveRef, StoreError> {
        let reference = archive.reference.clone();
        let ops = archive
            .rows(self.namespaces().archive())
            .into_iter()
            .map(|(key, row, size)| WriteOp::put(ItemRef::new(Kind::Flags, key), row, size))
            .collect::<Result<Vec<_>, _>>()?;
        // Its own report: parts that failed are not data that failed.
        let mut own = ApplyReport::default();
        self.write_phase(ops, options, &mut own).await?;
        Ok(reference)
    }

    /// The items of the archive `reference`: `Ok(Err(..))` when its parts are missing or do
    /// not match it (the caller loads the table instead), `Err` when DynamoDB failed. Parts are
    /// never rewritten, so they are read at half the cost without a consistent read; a replica
    /// that has not seen a part yet only makes it missing, and then they are read again
    /// consistently.
    pub(crate) async fn read_archive(
        &self,
        reference: &ArchiveRef,
    ) -> Result<Result<Items, ArchiveError>, StoreError> {
        let namespace = self.namespaces().archive();
        let keys = || {
            (0..reference.parts)
                .map(|index| key_attributes(namespace, &reference.part_key(index)))
                .collect()
        };
        let rows = self.read_parts(keys(), false).await?;
        match open(reference, rows) {
            Err(ArchiveError::MissingPart { .. }) => {
                let rows = self.read_parts(keys(), true).await?;
                Ok(open(reference, rows))
            }
            opened => Ok(opened),
        }
    }

    /// The part rows of `keys`, a few parts per `BatchGetItem`: one answer of 16 MB of
    /// base64 JSON would more than double a small reader's peak memory for a moment.
    async fn read_parts(&self, keys: Vec<Row>, consistent: bool) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::with_capacity(keys.len());
        let mut keys = keys.into_iter().peekable();
        while keys.peek().is_some() {
            let batch = keys.by_ref().take(PARTS_PER_READ).collect();
            rows.extend(self.table().batch_get(batch, consistent).await?);
        }
        Ok(rows)
    }

    /// The change rows of the archive `reference` (the keys each generation since it changed),
    /// in one consistent query.
    pub(crate) async fn archive_change_rows(
        &self,
        reference: &ArchiveRef,
    ) -> Result<Vec<Row>, StoreError> {
        self.table()
            .query_prefix(self.namespaces().archive(), &reference.changes_prefix())
            .await
    }

    /// Deletes the parts and change rows of every archive except `keep` (the one just named,
    /// and the one before it, which a reader may still be reading). Returns how many parts it deleted.
    pub(crate) async fn remove_archives_except(
        &self,
        keep: &[&str],
        options: &ApplyOptions<'_>,
        report: &mut ApplyReport,
    ) -> Result<usize, StoreError> {
        let namespace = self.namespaces().archive();
        let rows = self.table().query(namespace, true).await?;
        let ops = rows
            .iter()
            .filter_map(|row| row.get(SORT_KEY)?.as_s().ok())
            .filter(|key| !keep.contains(&ArchiveRef::id_of_part(key)))
            .map(|key| {
                WriteOp::delete(
                    ItemRef::new(Kind::Flags, key.clone()),
                    key_attributes(namespace, key),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.write_phase(ops, options, report).await?.len())
    }
}
