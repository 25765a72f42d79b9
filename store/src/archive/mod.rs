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
pub(crate) mod pointer;

use std::collections::{HashMap, VecDeque};
use std::io::Read;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::schema::{
    key_attributes, ARCHIVE_DATA_ATTRIBUTE, ARCHIVE_GENERATION_ATTRIBUTE, ARCHIVE_PART_BYTES,
    SORT_KEY,
};
use crate::snapshot::Snapshot;

pub(crate) use codec::Items;
pub use pointer::ArchiveRef;

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

/// An archive ready to be written: its pointer and its parts.
pub(crate) struct Archive {
    pub(crate) reference: ArchiveRef,
    parts: Vec<Vec<u8>>,
}

impl Archive {
    /// The archive of `snapshot` as the data of `generation`.
    pub(crate) fn build(snapshot: &Snapshot, generation: u64) -> Result<Self, ArchiveError> {
        let codec::Compressed {
            compressed,
            bytes,
            data_bytes,
        } = codec::compress(snapshot)?;
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
            data_bytes,
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
    // Decompressed as a stream over the parts, each freed once read: the compressed bytes
    // shrink as the items grow, and the decompressed archive is never in one buffer.
    codec::open(Parts::from(ordered), reference.bytes)
}

/// The parts of an archive read in order, each dropped as soon as it has been read.
struct Parts {
    parts: VecDeque<Vec<u8>>,
    at: usize,
}

impl From<Vec<Vec<u8>>> for Parts {
    fn from(parts: Vec<Vec<u8>>) -> Self {
        Self {
            parts: parts.into(),
            at: 0,
        }
    }
}

impl Read for Parts {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(part) = self.parts.front() {
            if self.at < part.len() {
                let n = buf.len().min(part.len() - self.at);
                buf[..n].copy_from_slice(&part[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            self.parts.pop_front();
            self.at = 0;
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Kind;
    use launchdarkly_server_sdk::SerializedItem;

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
        map.remove(crate::schema::ARCHIVE_CHECKSUM_ATTRIBUTE);
        assert_eq!(ArchiveRef::from_attribute(&AttributeValue::M(map)), None);
    }
}
