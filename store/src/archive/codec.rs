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
use std::io::{BufReader, Read, Write};
use std::sync::Arc;

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use launchdarkly_server_sdk::SerializedItem;

use super::ArchiveError;
use crate::mirror::ItemMap;
use crate::schema::{tombstone_json, Kind};
use crate::snapshot::Snapshot;

const MAGIC: &[u8; 4] = b"LDA1";

/// Largest archive a reader opens, decompressed: far above any LaunchDarkly environment, low
/// enough that a damaged pointer cannot make a reader allocate without bound.
pub(super) const MAX_OPENED_BYTES: u64 = 1 << 30;

/// Flags and segments by key, as a mirror holds them.
pub(crate) type Items = HashMap<Kind, ItemMap>;

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

/// Decompresses an archive that must be exactly `bytes` long and reads its items, as a
/// stream: the decompressed bytes are never held whole, only the items they frame.
pub(super) fn open(compressed: impl Read, bytes: u64) -> Result<Items, ArchiveError> {
    if bytes > MAX_OPENED_BYTES {
        return Err(ArchiveError::Corrupt(format!(
            "it claims {bytes} bytes, over the {MAX_OPENED_BYTES} a reader opens"
        )));
    }
    let mut frames = Frames {
        source: BufReader::with_capacity(64 << 10, DeflateDecoder::new(compressed)),
        read: 0,
        bytes,
    };
    if frames.take(MAGIC.len())? != MAGIC {
        return Err(ArchiveError::Corrupt(
            "not an archive of this format".to_string(),
        ));
    }
    let mut items: Items = Kind::ALL.iter().map(|k| (*k, HashMap::new())).collect();
    while let Some(kind) = frames.next_kind()? {
        let key = Arc::from(frames.text()?);
        let version = u64::from_le_bytes(frames.array()?);
        let deleted = frames.array::<1>()? != [0];
        let serialized_item = match deleted {
            true => tombstone_json(version),
            false => frames.text()?,
        };
        let item = SerializedItem {
            version,
            deleted,
            serialized_item,
        };
        items.entry(kind).or_default().insert(key, Arc::new(item));
    }
    if frames.read != bytes {
        return Err(ArchiveError::Corrupt(format!(
            "{} bytes decompressed, {bytes} expected",
            frames.read
        )));
    }
    Ok(items)
}

/// A cursor over the decompressed bytes, which refuses to read past the length the pointer
/// names (so a damaged length field cannot make a reader allocate without bound).
struct Frames<R> {
    source: R,
    read: u64,
    bytes: u64,
}

impl<R: Read> Frames<R> {
    /// The kind of the next item, or `None` at the end of the stream.
    fn next_kind(&mut self) -> Result<Option<Kind>, ArchiveError> {
        let mut byte = [0];
        match self.source.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => self.read += 1,
            Err(e) => return Err(ArchiveError::Corrupt(format!("decompressing: {e}"))),
        }
        if self.read > self.bytes {
            return Err(self.longer());
        }
        match byte {
            [b'f'] => Ok(Some(Kind::Flags)),
            [b's'] => Ok(Some(Kind::Segments)),
            _ => Err(ArchiveError::Corrupt("an unknown item kind".to_string())),
        }
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>, ArchiveError> {
        if self.read + n as u64 > self.bytes {
            return Err(self.longer());
        }
        let mut bytes = vec![0; n];
        self.source
            .read_exact(&mut bytes)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    ArchiveError::Corrupt("it ends in the middle of an item".to_string())
                }
                _ => ArchiveError::Corrupt(format!("decompressing: {e}")),
            })?;
        self.read += n as u64;
        Ok(bytes)
    }

    fn longer(&self) -> ArchiveError {
        ArchiveError::Corrupt(format!("longer than the {} bytes expected", self.bytes))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ArchiveError> {
        let mut array = [0; N];
        array.copy_from_slice(&self.take(N)?);
        Ok(array)
    }

    fn text(&mut self) -> Result<String, ArchiveError> {
        let length = u32::from_le_bytes(self.array()?) as usize;
        String::from_utf8(self.take(length)?)
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
        let items = open(compressed.as_slice(), bytes).unwrap();
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
        assert!(
            open(compressed.as_slice(), bytes + 1).is_err(),
            "longer than written"
        );
        assert!(
            open(compressed.as_slice(), bytes - 1).is_err(),
            "shorter than written"
        );
        assert!(open(&compressed[..compressed.len() / 2], bytes).is_err());
        assert!(open(&b"not deflate at all"[..], bytes).is_err());
        assert!(open(compressed.as_slice(), MAX_OPENED_BYTES + 1).is_err());
        // Valid DEFLATE of something that is not an archive.
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(b"LDA2 something else").unwrap();
        let other = encoder.finish().unwrap();
        assert!(open(other.as_slice(), 19).is_err());
        // The right magic, then an item cut short.
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(b"LDA1f\x05\x00\x00\x00ab").unwrap();
        assert!(open(encoder.finish().unwrap().as_slice(), 11).is_err());
        // A length field far beyond the archive's length is refused before it is allocated.
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(b"LDA1f\xff\xff\xff\xffab").unwrap();
        let opened = open(encoder.finish().unwrap().as_slice(), 11);
        assert!(
            matches!(&opened, Err(e) if e.to_string().contains("longer than")),
            "{:?}",
            opened.err()
        );
    }
}
