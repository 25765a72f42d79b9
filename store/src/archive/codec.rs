//! The bytes of an archive: every flag and segment of a data set in a small binary framing,
//! DEFLATE-compressed. Framing instead of JSON so that opening an archive costs one pass over
//! the bytes (no escaping, no tree), and each item stays the JSON string the SDK parses lazily.
//!
//! ```text
//! "LDA1" then, per item: kind (b'f' | b's'), key length (u32 LE), key,
//!                        version (u64 LE), deleted (0 | 1), [JSON length (u32 LE), JSON]
//! ```
//! A deleted item carries no JSON; it opens as the Rust SDK's own tombstone.

use std::collections::HashMap;
use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use launchdarkly_server_sdk::SerializedItem;

use super::ArchiveError;
use crate::schema::{tombstone_json, Kind};
use crate::snapshot::Snapshot;

const MAGIC: &[u8; 4] = b"LDA1";

/// Largest archive a reader opens, decompressed: far above any LaunchDarkly environment, low
/// enough that a damaged pointer cannot make a reader allocate without bound.
pub(super) const MAX_OPENED_BYTES: u64 = 1 << 30;

/// Flags and segments by key, as a mirror holds them.
pub(crate) type Items = HashMap<Kind, HashMap<String, SerializedItem>>;

/// The compressed archive of `snapshot` and its length before compression.
pub(super) fn compress(snapshot: &Snapshot) -> Result<(Vec<u8>, u64), ArchiveError> {
    let framed = frame(snapshot)?;
    let bytes = framed.len() as u64;
    // Level 1: a third of the time of the default level for a few percent more bytes; the
    // syncer pays it, within its time budget, at every refresh.
    let mut encoder =
        DeflateEncoder::new(Vec::with_capacity(framed.len() / 6), Compression::fast());
    encoder
        .write_all(&framed)
        .and_then(|()| encoder.finish())
        .map(|compressed| (compressed, bytes))
        .map_err(|e| ArchiveError::Corrupt(format!("compressing: {e}")))
}

fn frame(snapshot: &Snapshot) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Vec::with_capacity(1 << 20);
    out.extend_from_slice(MAGIC);
    for kind in Kind::ALL {
        for (key, item) in snapshot.items(kind) {
            out.push(kind_byte(kind));
            put_bytes(&mut out, key.as_bytes())?;
            out.extend_from_slice(&item.version.to_le_bytes());
            out.push(u8::from(item.deleted));
            if !item.deleted {
                put_bytes(&mut out, item.serialized_item.as_bytes())?;
            }
        }
    }
    Ok(out)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), ArchiveError> {
    let length = u32::try_from(bytes.len())
        .map_err(|_| ArchiveError::Corrupt("an item of 4 GB or more".to_string()))?;
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn kind_byte(kind: Kind) -> u8 {
    match kind {
        Kind::Flags => b'f',
        Kind::Segments => b's',
    }
}

/// Decompresses an archive that must be exactly `bytes` long and reads its items.
pub(super) fn open(compressed: &[u8], bytes: u64) -> Result<Items, ArchiveError> {
    if bytes > MAX_OPENED_BYTES {
        return Err(ArchiveError::Corrupt(format!(
            "it claims {bytes} bytes, over the {MAX_OPENED_BYTES} a reader opens"
        )));
    }
    let capacity = usize::try_from(bytes).unwrap_or(0);
    let mut framed = Vec::with_capacity(capacity);
    DeflateDecoder::new(compressed)
        .take(bytes + 1)
        .read_to_end(&mut framed)
        .map_err(|e| ArchiveError::Corrupt(format!("decompressing: {e}")))?;
    if framed.len() as u64 != bytes {
        return Err(ArchiveError::Corrupt(format!(
            "{} bytes decompressed, {bytes} expected",
            framed.len()
        )));
    }
    unframe(&framed)
}

fn unframe(framed: &[u8]) -> Result<Items, ArchiveError> {
    let mut reader = Frames {
        rest: framed
            .strip_prefix(MAGIC)
            .ok_or_else(|| ArchiveError::Corrupt("not an archive of this format".to_string()))?,
    };
    let mut items: Items = Kind::ALL.iter().map(|k| (*k, HashMap::new())).collect();
    while !reader.rest.is_empty() {
        let kind = match reader.take(1)? {
            [b'f'] => Kind::Flags,
            [b's'] => Kind::Segments,
            _ => return Err(ArchiveError::Corrupt("an unknown item kind".to_string())),
        };
        let key = reader.text()?;
        let version = u64::from_le_bytes(reader.array()?);
        let deleted = reader.take(1)? != [0];
        let serialized_item = match deleted {
            true => tombstone_json(version),
            false => reader.text()?,
        };
        let item = SerializedItem {
            version,
            deleted,
            serialized_item,
        };
        items.entry(kind).or_default().insert(key, item);
    }
    Ok(items)
}

/// A cursor over the framed bytes.
struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Frames<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ArchiveError> {
        if self.rest.len() < n {
            return Err(ArchiveError::Corrupt(
                "it ends in the middle of an item".to_string(),
            ));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ArchiveError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn text(&mut self) -> Result<String, ArchiveError> {
        let length = u32::from_le_bytes(self.array()?) as usize;
        let bytes = self.take(length)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ArchiveError::Corrupt("a key or item that is not UTF-8".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(version: u64, deleted: bool, json: &str) -> SerializedItem {
        SerializedItem {
            version,
            deleted,
            serialized_item: json.to_string(),
        }
    }

    fn sample() -> Snapshot {
        let mut snapshot = Snapshot::default();
        snapshot.insert(
            Kind::Flags,
            "on",
            item(3, false, r#"{"key":"on","version":3}"#),
        );
        snapshot.insert(Kind::Flags, "gone", item(9, true, "ignored"));
        snapshot.insert(Kind::Segments, "beta", item(1, false, r#"{"key":"beta"}"#));
        snapshot
    }

    #[test]
    fn an_archive_opens_as_it_was_written_with_tombstones_in_the_sdks_shape() {
        let (compressed, bytes) = compress(&sample()).unwrap();
        let items = open(&compressed, bytes).unwrap();
        let flags = &items[&Kind::Flags];
        assert_eq!(flags.len(), 2);
        assert_eq!(flags["on"].serialized_item, r#"{"key":"on","version":3}"#);
        assert!(!flags["on"].deleted);
        assert_eq!(flags["gone"].version, 9);
        assert!(flags["gone"].deleted);
        assert_eq!(flags["gone"].serialized_item, tombstone_json(9));
        assert_eq!(items[&Kind::Segments]["beta"].version, 1);
    }

    #[test]
    fn damaged_or_mislabelled_bytes_are_refused() {
        let (compressed, bytes) = compress(&sample()).unwrap();
        assert!(open(&compressed, bytes + 1).is_err(), "longer than written");
        assert!(
            open(&compressed, bytes - 1).is_err(),
            "shorter than written"
        );
        assert!(open(&compressed[..compressed.len() / 2], bytes).is_err());
        assert!(open(b"not deflate at all", bytes).is_err());
        assert!(open(&compressed, MAX_OPENED_BYTES + 1).is_err());
        // Valid DEFLATE of something that is not an archive.
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(b"LDA2 something else").unwrap();
        let other = encoder.finish().unwrap();
        assert!(open(&other, 19).is_err());
        // The right magic, then an item cut short.
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(b"LDA1f\x05\x00\x00\x00ab").unwrap();
        assert!(open(&encoder.finish().unwrap(), 11).is_err());
    }
}
