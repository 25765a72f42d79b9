//! One flag or segment of the copy. Items read from DynamoDB keep their JSON as it came; items
//! opened from an archive keep it as the archive carries it, large ones compressed on their
//! own, and are inflated each time they are read (once per cache period behind the SDK). A
//! copy of a large environment then takes well under half of its JSON's size in memory, and
//! opening the archive copies bytes instead of inflating every item.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::DeflateDecoder;
use launchdarkly_server_sdk::SerializedItem;

/// An item of the copy: its version, whether it is a tombstone, and its JSON.
///
/// ```
/// use launchdarkly_dynamo_store::mirror::StoredItem;
/// use launchdarkly_server_sdk::SerializedItem;
///
/// let item = StoredItem::from(SerializedItem {
///     version: 2,
///     deleted: false,
///     serialized_item: r#"{"key":"my-flag","version":2}"#.to_string(),
/// });
/// assert_eq!(item.json(), r#"{"key":"my-flag","version":2}"#);
/// assert_eq!(item.to_serialized().version, 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredItem {
    /// The item's version.
    pub version: u64,
    /// True for a tombstone (a deleted item the SDK must not resurrect).
    pub deleted: bool,
    json: Json,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Json {
    Plain(String),
    /// DEFLATE of `len` bytes of JSON.
    Deflated {
        bytes: Box<[u8]>,
        len: u32,
    },
}

impl StoredItem {
    /// A live item whose JSON is deflated in `bytes`: `len` is the JSON's length.
    pub(crate) fn deflated(version: u64, bytes: Box<[u8]>, len: u32) -> Self {
        Self {
            version,
            deleted: false,
            json: Json::Deflated { bytes, len },
        }
    }

    /// The item's JSON, as LaunchDarkly sent it (the SDK's tombstone for a deleted item). An
    /// item that cannot be inflated (its archive passed its checksum, so only a defect of the
    /// writer could cause it) logs one ERROR line and reads as empty, which every parser
    /// refuses: the flag is answered as malformed, never as missing.
    pub fn json(&self) -> Cow<'_, str> {
        match &self.json {
            Json::Plain(json) => Cow::Borrowed(json),
            Json::Deflated { bytes, len } => match inflate(bytes, *len) {
                Ok(json) => Cow::Owned(json),
                Err(reason) => {
                    tracing::error!(
                        version = self.version,
                        "An item of the archive could not be inflated ({reason}): it is answered as malformed until the next archive; report this as a defect"
                    );
                    Cow::Borrowed("")
                }
            },
        }
    }

    /// The item as the SDK's store trait takes it.
    pub fn to_serialized(&self) -> SerializedItem {
        SerializedItem {
            version: self.version,
            deleted: self.deleted,
            serialized_item: self.json().into_owned(),
        }
    }

    /// Bytes its JSON takes in memory.
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        match &self.json {
            Json::Plain(json) => json.len(),
            Json::Deflated { bytes, .. } => bytes.len(),
        }
    }
}

impl From<SerializedItem> for StoredItem {
    fn from(item: SerializedItem) -> Self {
        Self {
            version: item.version,
            deleted: item.deleted,
            json: Json::Plain(item.serialized_item),
        }
    }
}

fn inflate(bytes: &[u8], len: u32) -> Result<String, String> {
    let mut json = String::with_capacity(len as usize);
    DeflateDecoder::new(bytes)
        .take(u64::from(len) + 1)
        .read_to_string(&mut json)
        .map_err(|e| e.to_string())?;
    match json.len() == len as usize {
        true => Ok(json),
        false => Err(format!("{} bytes inflated, {len} expected", json.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::DeflateEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn deflate(text: &str) -> Box<[u8]> {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap().into_boxed_slice()
    }

    #[test]
    fn a_deflated_item_reads_as_its_json_and_holds_fewer_bytes() {
        let json = format!(r#"{{"key":"f","values":[{}]}}"#, "\"user\",".repeat(200));
        let item = StoredItem::deflated(3, deflate(&json), json.len() as u32);
        assert_eq!(item.json(), json);
        assert!(item.held_bytes() < json.len() / 4, "{}", item.held_bytes());
        let serialized = item.to_serialized();
        assert_eq!(
            (
                serialized.version,
                serialized.deleted,
                serialized.serialized_item
            ),
            (3, false, json)
        );
    }

    #[test]
    fn an_item_that_does_not_inflate_to_its_length_reads_as_empty() {
        let json = r#"{"key":"f","version":1}"#;
        let longer = StoredItem::deflated(1, deflate(json), json.len() as u32 + 1);
        assert_eq!(longer.json(), "");
        let shorter = StoredItem::deflated(1, deflate(json), json.len() as u32 - 1);
        assert_eq!(shorter.json(), "");
        let garbage = StoredItem::deflated(1, Box::new([0xff; 8]), 10);
        assert_eq!(garbage.json(), "");
    }
}
