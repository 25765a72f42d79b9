//! The table layout shared with LaunchDarkly's official DynamoDB integrations (Go, Node.js,
//! Python, Java, .NET, Relay Proxy): every attribute name, namespace and size rule lives here,
//! together with the encoding of items and the tolerant decoding of what other writers stored.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use launchdarkly_server_sdk::SerializedItem;
use serde::Deserialize;

/// Partition key attribute (S).
pub const PARTITION_KEY: &str = "namespace";
/// Sort key attribute (S).
pub const SORT_KEY: &str = "key";
/// Item version (N).
pub const VERSION_ATTRIBUTE: &str = "version";
/// Serialized flag or segment JSON (S).
pub const ITEM_JSON_ATTRIBUTE: &str = "item";

/// Namespace of feature flags, before the prefix.
pub const FEATURES_NAMESPACE: &str = "features";
/// Namespace of segments, before the prefix.
pub const SEGMENTS_NAMESPACE: &str = "segments";
/// Namespace and sort key of the "initialized" marker, before the prefix.
pub const INITED_KEY: &str = "$inited";

/// DynamoDB's limit on the size of a sort key value, in bytes of UTF-8.
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// Namespace of the rows that coordinate syncs (lease, fences, trigger tickets), before the
/// prefix. No SDK reads it.
pub const SYNC_NAMESPACE: &str = "$syncer-lease";
/// Sort key of the lease row in [`SYNC_NAMESPACE`].
pub const LEASE_KEY: &str = "lease";
/// Sort key of the trigger ticket counter in [`SYNC_NAMESPACE`].
pub const TICKETS_KEY: &str = "triggers";
/// Sort key prefix of the fence rows in [`SYNC_NAMESPACE`] (`fence-0` .. `fence-7`).
pub const FENCE_KEY_PREFIX: &str = "fence-";
/// Number of fence rows: fenced writes run at most this many transactions at once, each
/// checking its own fence row, so they never conflict with one another.
pub const FENCE_SHARDS: usize = 8;
/// The sync that holds the lease (S), on the lease and fence rows.
pub const OWNER_ATTRIBUTE: &str = "owner";
/// When the lease expires unless renewed, milliseconds since the Unix epoch (N).
pub const EXPIRES_ATTRIBUTE: &str = "expiresAtMillis";
/// Highest trigger ticket handed out (N), on the ticket row.
pub const REQUESTED_ATTRIBUTE: &str = "requested";
/// Highest ticket handed out to a trigger that asked for a reconciling sync (N), on the
/// ticket row.
pub const RECONCILE_REQUESTED_ATTRIBUTE: &str = "reconcileRequested";
/// Highest ticket covered by a successful sync (N), on the lease row.
pub const COVERED_ATTRIBUTE: &str = "covered";
/// Highest ticket covered by a successful reconciling sync (N), on the lease row.
pub const RECONCILED_ATTRIBUTE: &str = "reconciled";

/// Sort key of the data generation row in [`SYNC_NAMESPACE`]: what readers check to learn
/// that the data changed, and which items.
pub const GENERATION_KEY: &str = "generation";
/// The data generation number (N), on the generation row.
pub const GENERATION_ATTRIBUTE: &str = "generation";
/// When the sync that committed the generation finished, milliseconds since the Unix epoch
/// (N), on the generation row.
pub const SYNCED_AT_ATTRIBUTE: &str = "syncedAtMillis";
/// Keys of the flags the generation changed against the one before (L of S).
pub const CHANGED_FLAGS_ATTRIBUTE: &str = "changedFlags";
/// Keys of the segments the generation changed against the one before (L of S).
pub const CHANGED_SEGMENTS_ATTRIBUTE: &str = "changedSegments";
/// The change log: what each of the generations before this one changed, newest first (L of
/// M, each with [`GENERATION_ATTRIBUTE`], [`CHANGED_FLAGS_ATTRIBUTE`] and
/// [`CHANGED_SEGMENTS_ATTRIBUTE`]), so a reader several generations behind reads only the
/// items changed since its copy. Contiguous: it ends at the first generation that asked for a
/// full reload.
pub const CHANGE_LOG_ATTRIBUTE: &str = "changeLog";
/// True when readers must reload everything to reach this generation (BOOL).
pub const FULL_RELOAD_ATTRIBUTE: &str = "full";
/// The generation a sync started writing and has not committed yet (N): present after a sync
/// died half-way, so the next one tells readers to reload everything.
pub const PENDING_ATTRIBUTE: &str = "pending";
/// The archive pointer on the generation row (M): which compressed copy of the data set
/// ([`ARCHIVE_NAMESPACE`]) a reader may load instead of querying every item, with
/// [`ARCHIVE_GENERATION_ATTRIBUTE`], [`ARCHIVE_ID_ATTRIBUTE`], [`ARCHIVE_PARTS_ATTRIBUTE`],
/// [`ARCHIVE_CHECKSUM_ATTRIBUTE`] and [`ARCHIVE_BYTES_ATTRIBUTE`]. The archive holds the data
/// of the generation it names; the change log leads from there to the row's generation.
pub const ARCHIVE_ATTRIBUTE: &str = "archive";
/// The generation whose data an archive holds (N), in the archive pointer and on its parts.
pub const ARCHIVE_GENERATION_ATTRIBUTE: &str = "generation";
/// The archive's own name (S), unique per write: parts of two archives never mix.
pub const ARCHIVE_ID_ATTRIBUTE: &str = "id";
/// How many parts the archive has (N).
pub const ARCHIVE_PARTS_ATTRIBUTE: &str = "parts";
/// CRC-32 of the compressed archive, all parts in order (N).
pub const ARCHIVE_CHECKSUM_ATTRIBUTE: &str = "crc32";
/// Length of the archive once decompressed, bytes (N).
pub const ARCHIVE_BYTES_ATTRIBUTE: &str = "bytes";
/// Bytes of the keys and JSON of the items an archive holds (N, in the pointer), measured as
/// [`ARCHIVE_CHANGED_BYTES_ATTRIBUTE`] is: the base of its refresh rule.
pub const ARCHIVE_DATA_BYTES_ATTRIBUTE: &str = "dataBytes";
/// Bytes of the flags and segments changed since the archive, summed over the generations
/// that kept naming it (N, in the pointer): what decides its refresh.
pub const ARCHIVE_CHANGED_BYTES_ATTRIBUTE: &str = "changedBytes";
/// Partition (after the prefix) of the archive rows, a namespace no official SDK reads. The
/// sort key of a part is `<id>:<index>`, its bytes in [`ARCHIVE_DATA_ATTRIBUTE`]; the sort key
/// of a change row is `<id>:since:<generation, 20 digits>` ([`ARCHIVE_CHANGES_INFIX`]).
pub const ARCHIVE_NAMESPACE: &str = "$archive";
/// The bytes of one archive part (B).
pub const ARCHIVE_DATA_ATTRIBUTE: &str = "data";
/// Largest archive part: well under DynamoDB's 400 KB item limit.
pub const ARCHIVE_PART_BYTES: usize = 256 * 1024;
/// Between an archive's id and a generation number in the sort key of a *change row*: the
/// flags and segments ([`CHANGED_FLAGS_ATTRIBUTE`], [`CHANGED_SEGMENTS_ATTRIBUTE`]) one
/// generation after the archive changed, written in the same transaction that commits that
/// generation. A cold reader the change log on the generation row no longer reaches reads
/// them, so an archive serves far longer than that log.
pub const ARCHIVE_CHANGES_INFIX: &str = "since";
/// A sync writes a new archive when the bytes of the items changed since the current one
/// would exceed this fraction of it (1/8), so that a cold reader reads at most that much
/// besides the archive, and a one-flag change pays on average about 8 times its own size for
/// the archive's refreshes.
pub const ARCHIVE_REFRESH_FRACTION: u64 = 8;
/// ... or when this many generations kept naming it (the change rows a cold reader queries).
pub const ARCHIVE_MAX_GENERATIONS: u64 = 1000;
/// Sort key of the note of the last successful sync in [`SYNC_NAMESPACE`] (for `syncer status`).
pub const LAST_SYNC_KEY: &str = "last-sync";
/// Sort key of the note of the last failed sync in [`SYNC_NAMESPACE`].
pub const LAST_FAILURE_KEY: &str = "last-failure";
/// The note's text, JSON chosen by the writer (S), on the note rows.
pub const NOTE_ATTRIBUTE: &str = "note";
/// When the note was written, milliseconds since the Unix epoch (N), on the note rows.
pub const WRITTEN_AT_ATTRIBUTE: &str = "writtenAtMillis";

/// Most changed keys a generation names; a larger change asks readers for a full reload.
pub const MAX_CHANGED_KEYS: usize = 200;

/// Most earlier generations the change log keeps.
pub const MAX_CHANGE_LOG_GENERATIONS: usize = 64;

/// Most bytes of keys the change log keeps (the oldest entries go first): with
/// [`MAX_CHANGED_KEYS`] keys of at most [`MAX_SORT_KEY_BYTES`], the generation row stays well
/// under DynamoDB's 400 KB, and a check that reads it stays a few read units.
pub const MAX_CHANGE_LOG_KEY_BYTES: usize = 32 * 1024;

/// DynamoDB's hard limit is 400 KB per item; the official stores compare their estimate to this.
pub const MAX_ITEM_SIZE: usize = 400_000;
/// Overhead the official stores add to their item size estimate.
const ITEM_SIZE_OVERHEAD: usize = 100;

/// The two kinds of data the SDK stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Feature flags, namespace `features`.
    Flags,
    /// Segments, namespace `segments`.
    Segments,
}

impl Kind {
    /// Both kinds, segments first: a reader that sees a new flag should find its segments.
    pub const ALL: [Kind; 2] = [Kind::Segments, Kind::Flags];

    /// The namespace name without prefix, as used in log lines and reports.
    pub fn namespace(self) -> &'static str {
        match self {
            Kind::Flags => FEATURES_NAMESPACE,
            Kind::Segments => SEGMENTS_NAMESPACE,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.namespace())
    }
}

impl From<&launchdarkly_server_sdk::DataKind> for Kind {
    fn from(kind: &launchdarkly_server_sdk::DataKind) -> Self {
        match kind {
            launchdarkly_server_sdk::DataKind::Flag => Kind::Flags,
            launchdarkly_server_sdk::DataKind::Segment => Kind::Segments,
        }
    }
}

/// Namespaces of one table prefix. A non-empty prefix `p` turns `features` into `p:features`;
/// the sort key of data items never carries the prefix, the marker's does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespaces {
    features: String,
    segments: String,
    inited: String,
    sync: String,
    archive: String,
}

impl Namespaces {
    /// Namespaces for `prefix` (empty or `None`: no prefix and no colon).
    pub fn new(prefix: Option<&str>) -> Self {
        let with_prefix = |name: &str| match prefix {
            Some(p) if !p.is_empty() => format!("{p}:{name}"),
            _ => name.to_string(),
        };
        Self {
            features: with_prefix(FEATURES_NAMESPACE),
            segments: with_prefix(SEGMENTS_NAMESPACE),
            inited: with_prefix(INITED_KEY),
            sync: with_prefix(SYNC_NAMESPACE),
            archive: with_prefix(ARCHIVE_NAMESPACE),
        }
    }

    /// Partition key of the rows that coordinate syncs.
    pub fn sync(&self) -> &str {
        &self.sync
    }

    /// Partition key of the archive parts.
    pub fn archive(&self) -> &str {
        &self.archive
    }

    /// Partition key value for `kind`.
    pub fn of(&self, kind: Kind) -> &str {
        match kind {
            Kind::Flags => &self.features,
            Kind::Segments => &self.segments,
        }
    }

    /// Partition key and sort key of the "initialized" marker (the same string).
    pub fn inited(&self) -> &str {
        &self.inited
    }
}

/// Key attributes of one item, for `GetItem` and `DeleteRequest`.
pub fn key_attributes(namespace: &str, key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            PARTITION_KEY.to_string(),
            AttributeValue::S(namespace.to_string()),
        ),
        (SORT_KEY.to_string(), AttributeValue::S(key.to_string())),
    ])
}

/// The marker item: exactly its two key attributes.
pub fn marker_attributes(namespaces: &Namespaces) -> HashMap<String, AttributeValue> {
    key_attributes(namespaces.inited(), namespaces.inited())
}

/// The attributes written for a flag or segment: key attributes, `version` and `item`, nothing
/// else (tombstones included: `item` is never omitted).
pub fn item_attributes(
    namespace: &str,
    key: &str,
    item: &SerializedItem,
) -> HashMap<String, AttributeValue> {
    let mut attributes = key_attributes(namespace, key);
    attributes.insert(
        VERSION_ATTRIBUTE.to_string(),
        AttributeValue::N(item.version.to_string()),
    );
    attributes.insert(
        ITEM_JSON_ATTRIBUTE.to_string(),
        AttributeValue::S(item.serialized_item.clone()),
    );
    attributes
}

/// Why DynamoDB cannot store `key` as a sort key, if it cannot: empty, or over 1024 bytes.
pub fn unstorable_key_reason(key: &str) -> Option<String> {
    if key.is_empty() {
        Some("the key is empty, which DynamoDB cannot store as a sort key".to_string())
    } else if key.len() > MAX_SORT_KEY_BYTES {
        Some(format!(
            "the key is {} bytes long; DynamoDB sort keys hold at most {MAX_SORT_KEY_BYTES}",
            key.len()
        ))
    } else {
        None
    }
}

/// The official stores' size estimate: 100 + Σ (name length + value length), numbers counted
/// as their decimal string.
pub fn estimated_item_size(namespace: &str, key: &str, item: &SerializedItem) -> usize {
    ITEM_SIZE_OVERHEAD
        + PARTITION_KEY.len()
        + namespace.len()
        + SORT_KEY.len()
        + key.len()
        + VERSION_ATTRIBUTE.len()
        + decimal_len(item.version)
        + ITEM_JSON_ATTRIBUTE.len()
        + item.serialized_item.len()
}

fn decimal_len(mut n: u64) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// True when the item fits under DynamoDB's item size limit by the official estimate.
pub fn fits_in_item(namespace: &str, key: &str, item: &SerializedItem) -> bool {
    estimated_item_size(namespace, key, item) <= MAX_ITEM_SIZE
}

/// Why a stored row could not be turned into a [`SerializedItem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The sort key attribute is missing or not a string.
    MissingKey,
    /// Neither the `version` attribute nor the JSON carries a usable version.
    MissingVersion,
    /// `item` is neither a JSON object nor `null`.
    NotJsonObject(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::MissingKey => write!(f, "the sort key \"{SORT_KEY}\" is missing"),
            DecodeError::MissingVersion => write!(
                f,
                "no version: neither a numeric \"{VERSION_ATTRIBUTE}\" attribute nor a \"version\" in the JSON"
            ),
            DecodeError::NotJsonObject(why) => {
                write!(f, "\"{ITEM_JSON_ATTRIBUTE}\" is not a JSON object: {why}")
            }
        }
    }
}

/// The top-level fields of a stored item JSON that decide how it is read. Unknown fields are
/// skipped without building them, so this stays cheap on large flags.
#[derive(Deserialize)]
struct ItemHeader {
    #[serde(default)]
    deleted: Option<bool>,
    #[serde(default)]
    version: Option<u64>,
}

impl ItemHeader {
    fn is_deleted(&self) -> bool {
        self.deleted.unwrap_or(false)
    }
}

/// True when a stored `item` attribute is a tombstone in any official writer's shape: missing,
/// JSON `null`, or an object whose top-level `deleted` is `true`.
pub fn is_tombstone(json: Option<&str>) -> bool {
    match json.map(str::trim) {
        None | Some("null") => true,
        Some(json) => serde_json::from_str::<ItemHeader>(json).is_ok_and(|h| h.is_deleted()),
    }
}

/// Reads one stored row written by any official integration.
///
/// `deleted` is true when `item` is missing, is JSON `null`, or is an object whose top-level
/// `deleted` is `true` (Go and Relay write a full flag with `"key":"$deleted"`; Python and Node
/// write a small object, sometimes without `key`; Java and .NET write `null`). The version comes
/// from the `version` attribute, falling back to the JSON's `version`.
pub fn decode_item(
    attributes: &HashMap<String, AttributeValue>,
) -> Result<(String, SerializedItem), DecodeError> {
    let key = match attributes.get(SORT_KEY) {
        Some(AttributeValue::S(key)) => key.clone(),
        _ => return Err(DecodeError::MissingKey),
    };
    let attribute_version = match attributes.get(VERSION_ATTRIBUTE) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
        _ => None,
    };
    let json = match attributes.get(ITEM_JSON_ATTRIBUTE) {
        Some(AttributeValue::S(json)) => Some(json.as_str()),
        _ => None,
    };
    let header = match json.map(str::trim) {
        None | Some("null") => None,
        Some(json) => Some(
            serde_json::from_str::<ItemHeader>(json)
                .map_err(|e| DecodeError::NotJsonObject(e.to_string()))?,
        ),
    };
    let deleted = header.as_ref().is_none_or(ItemHeader::is_deleted);
    let version = attribute_version
        .or_else(|| header.as_ref().and_then(|h| h.version))
        .ok_or(DecodeError::MissingVersion)?;
    let serialized_item = match (deleted, json) {
        (false, Some(json)) => json.to_string(),
        // The SDK reads `deleted` and `version` and ignores the JSON of a tombstone; hand it the
        // Rust SDK's own tombstone shape so nothing downstream sees a foreign one.
        _ => tombstone_json(version),
    };
    Ok((
        key,
        SerializedItem {
            version,
            deleted,
            serialized_item,
        },
    ))
}

/// The tombstone JSON the Rust SDK itself produces.
pub fn tombstone_json(version: u64) -> String {
    format!(r#"{{"deleted":true,"key":"$deleted","version":{version}}}"#)
}

/// The stored `version` attribute of a row read with a projection, if it has a usable one.
pub fn stored_version(attributes: &HashMap<String, AttributeValue>) -> Option<u64> {
    match attributes.get(VERSION_ATTRIBUTE) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        key: Option<&str>,
        version: Option<&str>,
        item: Option<&str>,
    ) -> HashMap<String, AttributeValue> {
        let mut attributes = HashMap::new();
        attributes.insert(PARTITION_KEY.into(), AttributeValue::S("features".into()));
        if let Some(key) = key {
            attributes.insert(SORT_KEY.into(), AttributeValue::S(key.into()));
        }
        if let Some(version) = version {
            attributes.insert(VERSION_ATTRIBUTE.into(), AttributeValue::N(version.into()));
        }
        if let Some(item) = item {
            attributes.insert(ITEM_JSON_ATTRIBUTE.into(), AttributeValue::S(item.into()));
        }
        attributes
    }

    #[test]
    fn prefix_changes_namespace_only() {
        let none = Namespaces::new(None);
        assert_eq!(none.of(Kind::Flags), "features");
        assert_eq!(none.of(Kind::Segments), "segments");
        assert_eq!(none.inited(), "$inited");
        assert_eq!(Namespaces::new(Some("")), none);
        let p = Namespaces::new(Some("testprefix"));
        assert_eq!(p.of(Kind::Flags), "testprefix:features");
        assert_eq!(p.of(Kind::Segments), "testprefix:segments");
        assert_eq!(p.inited(), "testprefix:$inited");
        assert_eq!(p.sync(), "testprefix:$syncer-lease");
        assert_eq!(none.sync(), "$syncer-lease");
    }

    #[test]
    fn sort_key_limits() {
        assert!(unstorable_key_reason("").is_some());
        assert!(unstorable_key_reason(&"k".repeat(MAX_SORT_KEY_BYTES)).is_none());
        assert!(unstorable_key_reason(&"k".repeat(MAX_SORT_KEY_BYTES + 1)).is_some());
        // Bytes, not characters: 342 three-byte characters are 1026 bytes.
        assert!(unstorable_key_reason(&"€".repeat(342)).is_some());
    }

    #[test]
    fn live_item_is_passed_through_verbatim() {
        let json = r#"{"key":"f","version":3,"on":true}"#;
        let (key, item) = decode_item(&row(Some("f"), Some("3"), Some(json))).unwrap();
        assert_eq!(key, "f");
        assert_eq!(item.version, 3);
        assert!(!item.deleted);
        assert_eq!(item.serialized_item, json);
    }

    #[test]
    fn every_foreign_tombstone_reads_as_deleted() {
        let cases = [
            (
                "rust sdk",
                Some(r#"{"deleted":true,"key":"$deleted","version":7}"#),
            ),
            (
                "go full flag",
                Some(r#"{"key":"$deleted","version":7,"on":false,"deleted":true,"variations":[]}"#),
            ),
            ("java null", Some("null")),
            (
                "python spacing",
                Some(r#"{"key": "f", "version": 7, "deleted": true}"#),
            ),
            ("node keyless", Some(r#"{"version":7,"deleted":true}"#)),
            ("missing item", None),
        ];
        for (name, json) in cases {
            let (key, item) = decode_item(&row(Some("f"), Some("7"), json)).unwrap();
            assert_eq!(key, "f", "{name}");
            assert!(item.deleted, "{name}");
            assert_eq!(item.version, 7, "{name}");
            assert_eq!(item.serialized_item, tombstone_json(7), "{name}");
        }
    }

    #[test]
    fn version_falls_back_to_json() {
        let (_, item) =
            decode_item(&row(Some("f"), None, Some(r#"{"key":"f","version":12}"#))).unwrap();
        assert_eq!(item.version, 12);
        assert!(!item.deleted);
    }

    #[test]
    fn unusable_rows_are_errors() {
        let error = |row| decode_item(&row).err();
        assert_eq!(
            error(row(None, Some("1"), Some("{}"))),
            Some(DecodeError::MissingKey)
        );
        assert_eq!(
            error(row(Some("f"), None, Some("{}"))),
            Some(DecodeError::MissingVersion)
        );
        assert!(matches!(
            error(row(Some("f"), Some("1"), Some("{not json"))),
            Some(DecodeError::NotJsonObject(_))
        ));
    }

    #[test]
    fn size_estimate_matches_the_official_formula() {
        let item = SerializedItem {
            version: 123,
            deleted: false,
            serialized_item: "x".repeat(50),
        };
        // 100 + "namespace"+"features" + "key"+"k" + "version"+"123" + "item"+50
        assert_eq!(
            estimated_item_size("features", "k", &item),
            100 + 9 + 8 + 3 + 1 + 7 + 3 + 4 + 50
        );
        let limit = SerializedItem {
            version: 1,
            deleted: false,
            serialized_item: "x".repeat(MAX_ITEM_SIZE - (100 + 9 + 8 + 3 + 1 + 7 + 1 + 4)),
        };
        assert!(fits_in_item("features", "k", &limit));
        let over = SerializedItem {
            serialized_item: format!("{}x", limit.serialized_item),
            ..limit
        };
        assert!(!fits_in_item("features", "k", &over));
    }
}
