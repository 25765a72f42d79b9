//! The archive: a compressed copy of a whole data set that a fenced sync keeps in rows of its
//! own ([`ARCHIVE_NAMESPACE`](crate::schema::ARCHIVE_NAMESPACE), read by no official SDK), so
//! that a reader's cold start reads one batch of parts instead of querying every item.
//!
//! - Named by the generation row: the sync that writes an archive writes its parts after its
//!   data, fenced like it, under a new id, and names them in the generation it commits, in the
//!   same write as the commit. A reader therefore never sees an archive ahead of the data, nor
//!   parts of two archives mixed.
//! - Bounded cost: an archive is rewritten only when the bytes changed since it would exceed
//!   [`ARCHIVE_REFRESH_FRACTION`](crate::schema::ARCHIVE_REFRESH_FRACTION) of it, after
//!   [`ARCHIVE_MAX_GENERATIONS`](crate::schema::ARCHIVE_MAX_GENERATIONS), or after a full
//!   reload. Each generation that keeps naming it also writes a small *change row* (the keys
//!   it changed) in its commit, so a cold reader loads the archive and then the items changed
//!   since, from the generation row's change log or, beyond it, from those rows.
//! - Checked: the pointer carries the parts count, the compressed bytes' CRC-32 and the
//!   decompressed length; an archive that does not match, or change rows that do not lead
//!   from it to the generation, are refused and the reader loads the table item by item.

mod codec;
mod io;

use std::collections::HashMap;
use std::io::Read;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::generation::Generation;
use crate::schema::{
    key_attributes, ARCHIVE_BYTES_ATTRIBUTE, ARCHIVE_CHANGED_BYTES_ATTRIBUTE,
    ARCHIVE_CHANGES_INFIX, ARCHIVE_CHECKSUM_ATTRIBUTE, ARCHIVE_DATA_ATTRIBUTE,
    ARCHIVE_GENERATION_ATTRIBUTE, ARCHIVE_ID_ATTRIBUTE, ARCHIVE_MAX_GENERATIONS,
    ARCHIVE_PARTS_ATTRIBUTE, ARCHIVE_PART_BYTES, ARCHIVE_REFRESH_FRACTION, SORT_KEY,
};
use crate::snapshot::Snapshot;

pub(crate) use codec::Items;

type Row = HashMap<String, AttributeValue>;

/// Bytes of a part row besides its data and keys (attribute names, the generation number).
const PART_OVERHEAD: usize = 64;

/// Why an archive could not be used; the reader then loads the table item by item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// A part named by the generation row is not in the table.
    #[error("part {index} of archive {id} is missing")]
    MissingPart {
        /// The archive.
        id: String,
        /// The part.
        index: u32,
    },
    /// The parts do not add up to what the generation row says.
    #[error("archive {id} does not match its checksum")]
    Checksum {
        /// The archive.
        id: String,
    },
    /// The bytes are not an archive of this format.
    #[error("the archive cannot be read: {0}")]
    Corrupt(String),
}

/// Which archive a generation names: what a reader needs to find and check its parts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveRef {
    /// The generation whose data it holds (at most the generation naming it).
    pub generation: u64,
    /// Its unique name; the sort keys of its parts start with it.
    pub id: String,
    /// How many parts it has.
    pub parts: u32,
    /// CRC-32 of the compressed bytes, all parts in order.
    pub checksum: u32,
    /// Length once decompressed.
    pub bytes: u64,
    /// Bytes of the items changed since it, over the generations that kept naming it.
    pub changed_bytes: u64,
}

impl ArchiveRef {
    /// The sort key of part `index`.
    fn part_key(&self, index: u32) -> String {
        format!("{}:{index}", self.id)
    }

    /// The archive id a part's or a change row's sort key names (ids hold no `:`).
    fn id_of_part(sort_key: &str) -> &str {
        sort_key.split_once(':').map_or(sort_key, |(id, _)| id)
    }

    /// The sort keys of this archive's change rows start with this.
    fn changes_prefix(&self) -> String {
        format!("{}:{ARCHIVE_CHANGES_INFIX}:", self.id)
    }

    /// The sort key of the change row of `generation`.
    fn change_key(&self, generation: u64) -> String {
        format!("{}{generation:020}", self.changes_prefix())
    }

    /// The pointer as stored on the generation row.
    pub(crate) fn to_attribute(&self) -> AttributeValue {
        let number = |n: u64| AttributeValue::N(n.to_string());
        AttributeValue::M(HashMap::from([
            (
                ARCHIVE_GENERATION_ATTRIBUTE.to_string(),
                number(self.generation),
            ),
            (
                ARCHIVE_ID_ATTRIBUTE.to_string(),
                AttributeValue::S(self.id.clone()),
            ),
            (
                ARCHIVE_PARTS_ATTRIBUTE.to_string(),
                number(self.parts.into()),
            ),
            (
                ARCHIVE_CHECKSUM_ATTRIBUTE.to_string(),
                number(self.checksum.into()),
            ),
            (ARCHIVE_BYTES_ATTRIBUTE.to_string(), number(self.bytes)),
            (
                ARCHIVE_CHANGED_BYTES_ATTRIBUTE.to_string(),
                number(self.changed_bytes),
            ),
        ]))
    }

    /// Reads a stored pointer; `None` when it is not one (the reader then ignores it).
    pub(crate) fn from_attribute(value: &AttributeValue) -> Option<Self> {
        let map = value.as_m().ok()?;
        let number = |name: &str| map.get(name)?.as_n().ok()?.parse::<u64>().ok();
        Some(Self {
            generation: number(ARCHIVE_GENERATION_ATTRIBUTE)?,
            id: map.get(ARCHIVE_ID_ATTRIBUTE)?.as_s().ok()?.clone(),
            parts: u32::try_from(number(ARCHIVE_PARTS_ATTRIBUTE)?).ok()?,
            checksum: u32::try_from(number(ARCHIVE_CHECKSUM_ATTRIBUTE)?).ok()?,
            bytes: number(ARCHIVE_BYTES_ATTRIBUTE)?,
            changed_bytes: number(ARCHIVE_CHANGED_BYTES_ATTRIBUTE).unwrap_or(0),
        })
    }

    /// The pointer `next`, about to be committed with `changed_bytes` of changed items, names
    /// when it keeps this archive; `None` when a new one is due: after a full reload (no
    /// change row could say what changed), when the changed bytes would exceed
    /// 1/[`ARCHIVE_REFRESH_FRACTION`] of the archive, or after [`ARCHIVE_MAX_GENERATIONS`].
    pub(crate) fn kept_by(&self, next: &Generation, changed_bytes: u64) -> Option<ArchiveRef> {
        if self.generation == next.number {
            return Some(self.clone());
        }
        next.changed.as_ref()?;
        let total = self.changed_bytes.saturating_add(changed_bytes);
        let fresh_enough = total <= self.bytes / ARCHIVE_REFRESH_FRACTION
            && next.number.saturating_sub(self.generation) <= ARCHIVE_MAX_GENERATIONS
            && next.number > self.generation;
        fresh_enough.then(|| ArchiveRef {
            changed_bytes: total,
            ..self.clone()
        })
    }

    /// The change row `next` writes beside its commit while it names this archive: the keys
    /// it changed. `None` when it names the archive of its own generation.
    pub(crate) fn change_row(&self, namespace: &str, next: &Generation) -> Option<Row> {
        let changed = next.changed.as_ref()?;
        if next.number == self.generation {
            return None;
        }
        let mut row = key_attributes(namespace, &self.change_key(next.number));
        row.insert(
            ARCHIVE_GENERATION_ATTRIBUTE.to_string(),
            AttributeValue::N(next.number.to_string()),
        );
        crate::generation::insert_item_refs(&mut row, changed);
        Some(row)
    }

    /// The items changed from this archive to generation `now`, from its change rows; `None`
    /// unless they name every generation in between exactly once.
    pub(crate) fn changes_to(&self, now: u64, rows: &[Row]) -> Option<Vec<crate::report::ItemRef>> {
        let mut by_generation = std::collections::BTreeMap::new();
        for row in rows {
            let number = row
                .get(ARCHIVE_GENERATION_ATTRIBUTE)?
                .as_n()
                .ok()?
                .parse::<u64>()
                .ok()?;
            if number > self.generation && number <= now {
                by_generation.insert(number, crate::generation::item_refs(row)?);
            }
        }
        let expected = now.checked_sub(self.generation)?;
        if by_generation.len() as u64 != expected {
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        Some(
            by_generation
                .into_values()
                .flatten()
                .filter(|item| seen.insert(item.clone()))
                .collect(),
        )
    }
}

/// An archive ready to be written: its pointer and its parts.
pub(crate) struct Archive {
    pub(crate) reference: ArchiveRef,
    parts: Vec<Vec<u8>>,
}

impl Archive {
    /// The archive of `snapshot` as the data of `generation`.
    pub(crate) fn build(snapshot: &Snapshot, generation: u64) -> Result<Self, ArchiveError> {
        let (compressed, bytes) = codec::compress(snapshot)?;
        let checksum = crc32fast::hash(&compressed);
        let parts: Vec<Vec<u8>> = compressed
            .chunks(ARCHIVE_PART_BYTES)
            .map(<[u8]>::to_vec)
            .collect();
        let reference = ArchiveRef {
            generation,
            id: format!("{generation}-{:016x}", rand::random::<u64>()),
            parts: u32::try_from(parts.len())
                .map_err(|_| ArchiveError::Corrupt("too many parts".to_string()))?,
            checksum,
            bytes,
            changed_bytes: 0,
        };
        Ok(Self { reference, parts })
    }

    /// Compressed size.
    pub(crate) fn compressed_bytes(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    /// The rows of its parts in the archive partition `namespace`, with their sort keys and
    /// sizes (a transaction carries at most 4 MB).
    fn rows(self, namespace: &str) -> Vec<(String, Row, usize)> {
        let reference = self.reference;
        self.parts
            .into_iter()
            .zip(0..)
            .map(|(bytes, index)| {
                let key = reference.part_key(index);
                let size = bytes.len() + namespace.len() + key.len() + PART_OVERHEAD;
                let mut row = key_attributes(namespace, &key);
                row.insert(
                    ARCHIVE_DATA_ATTRIBUTE.to_string(),
                    AttributeValue::B(bytes.into()),
                );
                row.insert(
                    ARCHIVE_GENERATION_ATTRIBUTE.to_string(),
                    AttributeValue::N(reference.generation.to_string()),
                );
                (key, row, size)
            })
            .collect()
    }
}

/// The items of the archive `reference` from its part rows, read in any order.
pub(crate) fn open(reference: &ArchiveRef, rows: Vec<Row>) -> Result<Items, ArchiveError> {
    let mut parts: HashMap<String, Vec<u8>> = rows
        .into_iter()
        .filter_map(|mut row| {
            let key = match row.remove(SORT_KEY)? {
                AttributeValue::S(key) => key,
                _ => return None,
            };
            match row.remove(ARCHIVE_DATA_ATTRIBUTE)? {
                AttributeValue::B(bytes) => Some((key, bytes.into_inner())),
                _ => None,
            }
        })
        .collect();
    let ordered = (0..reference.parts)
        .map(|index| {
            parts
                .remove(&reference.part_key(index))
                .ok_or_else(|| ArchiveError::MissingPart {
                    id: reference.id.clone(),
                    index,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut checksum = crc32fast::Hasher::new();
    ordered.iter().for_each(|part| checksum.update(part));
    if checksum.finalize() != reference.checksum {
        return Err(ArchiveError::Checksum {
            id: reference.id.clone(),
        });
    }
    // Decompressed as a stream over the parts: never the whole archive in one buffer.
    let compressed = ordered.iter().map(Vec::as_slice).fold(
        Box::new(std::io::empty()) as Box<dyn Read + '_>,
        |read, part| Box::new(read.chain(part)),
    );
    codec::open(compressed, reference.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ItemRef;
    use crate::schema::Kind;
    use launchdarkly_server_sdk::SerializedItem;
    use std::time::UNIX_EPOCH;

    fn snapshot(flags: usize, json_bytes: usize) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for i in 0..flags {
            // Random hex (half of it survives compression), so that the archive takes parts.
            let noise: String = (0..json_bytes / 16)
                .map(|_| format!("{:016x}", rand::random::<u64>()))
                .collect();
            let json = format!(r#"{{"key":"f{i}","version":1,"salt":"{noise}"}}"#);
            snapshot.insert(
                Kind::Flags,
                format!("f{i}"),
                SerializedItem {
                    version: 1,
                    deleted: false,
                    serialized_item: json,
                },
            );
        }
        snapshot
    }

    #[test]
    fn a_large_archive_is_cut_into_parts_that_open_in_any_order() {
        let archive = Archive::build(&snapshot(16, 100_000), 7).unwrap();
        assert!(archive.reference.parts >= 3, "{:?}", archive.reference);
        let reference = archive.reference.clone();
        let mut rows: Vec<Row> = archive
            .rows("p:$archive")
            .into_iter()
            .map(|r| r.1)
            .collect();
        assert!(rows.iter().all(|row| match &row[ARCHIVE_DATA_ATTRIBUTE] {
            AttributeValue::B(bytes) => bytes.as_ref().len() <= ARCHIVE_PART_BYTES,
            _ => false,
        }));
        rows.reverse();
        let items = open(&reference, rows.clone()).unwrap();
        assert_eq!(items[&Kind::Flags].len(), 16);

        // One part missing, a part of another archive, a wrong checksum: refused.
        let missing = open(&reference, rows[1..].to_vec());
        assert!(matches!(missing, Err(ArchiveError::MissingPart { .. })));
        let other = Archive::build(&snapshot(16, 100_000), 7).unwrap();
        let other_id = other.reference.id.clone();
        assert_ne!(other_id, reference.id);
        let mut mixed: Vec<Row> = other.rows("p:$archive").into_iter().map(|r| r.1).collect();
        for row in &mut mixed {
            let key = row[SORT_KEY]
                .as_s()
                .unwrap()
                .replace(&other_id, &reference.id);
            row.insert(SORT_KEY.to_string(), AttributeValue::S(key));
        }
        mixed[0] = rows.last().unwrap().clone();
        assert!(matches!(
            open(&reference, mixed),
            Err(ArchiveError::Checksum { .. })
        ));
    }

    #[test]
    fn the_pointer_reads_back_and_a_malformed_one_is_ignored() {
        let reference = Archive::build(&snapshot(2, 64), 3).unwrap().reference;
        let stored = reference.to_attribute();
        assert_eq!(ArchiveRef::from_attribute(&stored), Some(reference.clone()));
        assert_eq!(
            ArchiveRef::id_of_part(&reference.part_key(12)),
            reference.id
        );
        assert_eq!(
            ArchiveRef::from_attribute(&AttributeValue::S("x".into())),
            None
        );
        let AttributeValue::M(mut map) = stored else {
            unreachable!()
        };
        map.remove(ARCHIVE_CHECKSUM_ATTRIBUTE);
        assert_eq!(ArchiveRef::from_attribute(&AttributeValue::M(map)), None);
    }

    fn archive_at(generation: u64, bytes: u64) -> ArchiveRef {
        ArchiveRef {
            generation,
            id: format!("{generation}-x"),
            parts: 1,
            checksum: 0,
            bytes,
            changed_bytes: 0,
        }
    }

    fn flags(n: usize) -> Vec<ItemRef> {
        (0..n)
            .map(|i| ItemRef::new(Kind::Flags, format!("f{i}")))
            .collect()
    }

    fn at(number: u64, changed: Option<Vec<ItemRef>>) -> Generation {
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
    fn an_archive_is_kept_until_the_bytes_changed_since_it_reach_an_eighth_of_it() {
        let archive = archive_at(4, 8_000);
        assert_eq!(archive.kept_by(&at(4, None), 0), Some(archive.clone()));
        let kept = archive.kept_by(&at(5, Some(flags(2))), 600).unwrap();
        assert_eq!(kept.changed_bytes, 600);
        let kept = kept.kept_by(&at(6, Some(flags(1))), 400).unwrap();
        assert_eq!((kept.generation, kept.changed_bytes), (4, 1_000));
        // Over an eighth, a full reload, or too many generations: a new archive.
        assert_eq!(kept.kept_by(&at(7, Some(flags(1))), 1), None);
        assert_eq!(archive.kept_by(&at(5, None), 0), None);
        let far = 4 + ARCHIVE_MAX_GENERATIONS + 1;
        assert_eq!(archive.kept_by(&at(far, Some(flags(1))), 0), None);
    }

    #[test]
    fn change_rows_lead_from_the_archive_only_when_every_generation_is_there() {
        let archive = archive_at(4, 8_000);
        let rows: Vec<Row> = (5..=7)
            .map(|n| {
                let changed = vec![ItemRef::new(Kind::Flags, format!("f{}", n % 2))];
                archive
                    .change_row("$archive", &at(n, Some(changed)))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            rows[0][SORT_KEY].as_s().unwrap(),
            &format!("4-x:since:{:020}", 5)
        );
        assert_eq!(
            ArchiveRef::id_of_part(rows[0][SORT_KEY].as_s().unwrap()),
            "4-x"
        );
        assert_eq!(
            archive.changes_to(7, &rows),
            Some(vec![
                ItemRef::new(Kind::Flags, "f1"),
                ItemRef::new(Kind::Flags, "f0")
            ])
        );
        assert_eq!(archive.changes_to(6, &rows).map(|c| c.len()), Some(2));
        // A missing generation, or a generation row ahead of the rows: refused.
        assert_eq!(
            archive.changes_to(7, &[rows[0].clone(), rows[2].clone()]),
            None
        );
        assert_eq!(archive.changes_to(8, &rows), None);
        assert_eq!(archive.change_row("$archive", &at(4, Some(flags(1)))), None);
    }
}
