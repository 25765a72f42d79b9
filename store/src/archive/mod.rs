//! The archive: a compressed copy of a whole data set that a fenced sync keeps in rows of its
//! own ([`ARCHIVE_NAMESPACE`](crate::schema::ARCHIVE_NAMESPACE), read by no official SDK), so
//! that a reader's cold start reads a few hundred kilobytes in one batch instead of querying
//! every item.
//!
//! - Named by the generation row: the sync that writes an archive writes its parts after its
//!   data, fenced like it, under a new id, and names them in the generation it commits, in the
//!   same write as the commit. A reader therefore never sees an archive ahead of the data, nor
//!   parts of two archives mixed.
//! - Bounded cost: an archive is rewritten only when the items changed since it exceed
//!   [`ARCHIVE_REFRESH_AFTER_CHANGES`], or when the change log no longer reaches it; between
//!   refreshes the generation row keeps naming it, and a reader loads it and then the items
//!   changed since (read from the change log).
//! - Checked: the pointer carries the parts count, the compressed bytes' CRC-32 and the
//!   decompressed length; an archive that does not match is refused and the reader loads the
//!   table item by item instead.

mod codec;
mod io;

use std::collections::HashMap;
use std::io::Read;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::generation::Generation;
use crate::schema::{
    key_attributes, ARCHIVE_BYTES_ATTRIBUTE, ARCHIVE_CHECKSUM_ATTRIBUTE, ARCHIVE_DATA_ATTRIBUTE,
    ARCHIVE_GENERATION_ATTRIBUTE, ARCHIVE_ID_ATTRIBUTE, ARCHIVE_PARTS_ATTRIBUTE,
    ARCHIVE_PART_BYTES, ARCHIVE_REFRESH_AFTER_CHANGES, SORT_KEY,
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
}

impl ArchiveRef {
    /// The sort key of part `index`.
    fn part_key(&self, index: u32) -> String {
        format!("{}:{index}", self.id)
    }

    /// The archive id a part's sort key names.
    fn id_of_part(sort_key: &str) -> &str {
        sort_key.rsplit_once(':').map_or(sort_key, |(id, _)| id)
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
        })
    }

    /// Whether `next`, about to be committed, may keep naming this archive: a reader must reach
    /// `next` from it through the change log, reading at most
    /// [`ARCHIVE_REFRESH_AFTER_CHANGES`] items.
    pub(crate) fn serves(&self, next: &Generation) -> bool {
        self.generation == next.number
            || next
                .changes_since(self.generation)
                .is_some_and(|changed| changed.len() <= ARCHIVE_REFRESH_AFTER_CHANGES)
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

    #[test]
    fn an_archive_serves_while_the_change_log_reaches_it_with_few_changes() {
        let archive = ArchiveRef {
            generation: 4,
            id: "4-x".into(),
            parts: 1,
            checksum: 0,
            bytes: 0,
        };
        let flags = |n: usize| -> Vec<ItemRef> {
            (0..n)
                .map(|i| ItemRef::new(Kind::Flags, format!("f{i}")))
                .collect()
        };
        let at = |number, changed, earlier| Generation {
            number,
            synced_at: UNIX_EPOCH,
            changed,
            earlier,
            pending: None,
            archive: None,
        };
        assert!(archive.serves(&at(4, None, Vec::new())));
        let log = vec![crate::generation::Changes {
            number: 5,
            items: flags(3),
        }];
        assert!(archive.serves(&at(6, Some(flags(2)), log.clone())));
        // Too many changes since it, a full reload, or a log that no longer reaches it.
        assert!(!archive.serves(&at(
            5,
            Some(flags(ARCHIVE_REFRESH_AFTER_CHANGES + 1)),
            Vec::new()
        )));
        assert!(!archive.serves(&at(5, None, Vec::new())));
        assert!(!archive.serves(&at(7, Some(flags(1)), log)));
    }
}
