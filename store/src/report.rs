//! What a snapshot apply did, item by item.

use serde::Serialize;

use crate::archive::pointer::ArchiveRef;
use crate::schema::Kind;

/// One flag or segment, by kind and key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ItemRef {
    /// `features` or `segments`.
    #[serde(serialize_with = "serialize_kind")]
    pub kind: Kind,
    /// The flag or segment key.
    pub key: String,
}

fn serialize_kind<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.namespace())
}

impl ItemRef {
    /// A reference to `key` of `kind`.
    pub fn new(kind: Kind, key: impl Into<String>) -> Self {
        Self {
            kind,
            key: key.into(),
        }
    }
}

impl std::fmt::Display for ItemRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.key)
    }
}

/// The outcome of [`DynamoDbStore::apply_snapshot`](crate::DynamoDbStore::apply_snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Items written because they were new or their version differed.
    pub written: Vec<ItemRef>,
    /// Items stored at the same version but with other content, rewritten (content compare).
    pub repaired: Vec<ItemRef>,
    /// Items already stored as the snapshot has them: not written.
    pub unchanged: usize,
    /// Stored items that were not in the snapshot and were deleted.
    pub deleted: Vec<ItemRef>,
    /// Items over DynamoDB's size limit: not written, their stored row (if any) kept.
    pub skipped_oversize: Vec<ItemRef>,
    /// Items the caller asked to keep as stored (for example, unreadable upstream).
    pub preserved: Vec<ItemRef>,
    /// Items that could not be written or deleted.
    pub failed: Vec<ItemRef>,
    /// Whether the `$inited` marker was written by this apply (false when it already existed).
    pub marker_written: bool,
    /// `BatchWriteItem` (or, fenced, `TransactWriteItems`) requests sent, retries included.
    pub batch_requests: usize,
    /// The data generation a fenced apply committed for readers (unfenced applies: `None`).
    pub generation: Option<u64>,
    /// The archive this apply wrote and named (`None`: the last one still serves, or none).
    pub archive: Option<ArchiveRef>,
    /// Compressed size of that archive, bytes.
    pub archive_bytes: usize,
}

impl ApplyReport {
    /// Number of DynamoDB item writes (puts and deletes, the marker included).
    pub fn item_writes(&self) -> usize {
        self.written.len()
            + self.repaired.len()
            + self.deleted.len()
            + usize::from(self.marker_written)
    }
}
