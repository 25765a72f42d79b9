//! What a person on call reads about a table's syncs (`syncer status`): the data generation
//! and when it was last confirmed, the lease holder if a sync is running, and the notes syncs
//! leave about their last success and their last failure. Notes are best effort: they are
//! written after the sync and its lease are done, and losing one loses nothing but the note.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use launchdarkly_dynamo_store::schema::{
    key_attributes, EXPIRES_ATTRIBUTE, LAST_FAILURE_KEY, LAST_SYNC_KEY, LEASE_KEY, NOTE_ATTRIBUTE,
    OWNER_ATTRIBUTE, WRITTEN_AT_ATTRIBUTE,
};
use launchdarkly_dynamo_store::{DynamoDbStore, Generation, StoreError};

/// Which note a sync leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// About the last sync that succeeded.
    LastSync,
    /// About the last sync that failed.
    LastFailure,
}

impl NoteKind {
    fn key(self) -> &'static str {
        match self {
            NoteKind::LastSync => LAST_SYNC_KEY,
            NoteKind::LastFailure => LAST_FAILURE_KEY,
        }
    }
}

/// A note as read back: the writer's text and when it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncNote {
    /// What the sync wrote.
    pub text: String,
    /// When it wrote it.
    pub written_at: SystemTime,
}

/// The sync that holds the lease now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The holder's random name (the fence rows carry it too).
    pub owner: String,
    /// When the lease runs out unless its holder renews it.
    pub expires_at: SystemTime,
}

/// Everything `syncer status` shows about a table's syncs.
#[derive(Clone, Debug)]
pub struct SyncStatus {
    /// The `$inited` marker is there: SDKs read this table as synced.
    pub initialized: bool,
    /// The data generation the last changing sync committed (its time: the last success).
    pub generation: Option<Generation>,
    /// `None` when no sync holds a lease that has not expired.
    pub holder: Option<LeaseHolder>,
    /// The note of the last sync that succeeded.
    pub last_sync: Option<SyncNote>,
    /// The note of the last sync that failed.
    pub last_failure: Option<SyncNote>,
}

impl SyncNote {
    /// Records a note about a sync in `store`'s table (any text; `syncer` writes its JSON
    /// summary or error).
    pub async fn write(
        store: &DynamoDbStore,
        kind: NoteKind,
        text: &str,
    ) -> Result<(), StoreError> {
        let mut row = key_attributes(store.sync_namespace(), kind.key());
        row.insert(NOTE_ATTRIBUTE.into(), AttributeValue::S(text.to_string()));
        row.insert(
            WRITTEN_AT_ATTRIBUTE.into(),
            AttributeValue::N(millis(SystemTime::now()).to_string()),
        );
        store.table().put(row).await
    }
}

impl SyncStatus {
    /// Reads the state of `store`'s syncs (five small reads, in parallel).
    pub async fn read(store: &DynamoDbStore) -> Result<SyncStatus, StoreError> {
        let row = |key| {
            store
                .table()
                .get(key_attributes(store.sync_namespace(), key))
        };
        let (initialized, generation, lease, last_sync, last_failure) = futures::try_join!(
            store.is_initialized(),
            store.generation(),
            row(LEASE_KEY),
            row(LAST_SYNC_KEY),
            row(LAST_FAILURE_KEY),
        )?;
        Ok(SyncStatus {
            initialized,
            generation,
            holder: lease.as_ref().and_then(holder),
            last_sync: last_sync.as_ref().and_then(note),
            last_failure: last_failure.as_ref().and_then(note),
        })
    }
}

fn holder(row: &HashMap<String, AttributeValue>) -> Option<LeaseHolder> {
    let owner = row.get(OWNER_ATTRIBUTE)?.as_s().ok()?.clone();
    let expires_at = at(row.get(EXPIRES_ATTRIBUTE)?)?;
    (expires_at > SystemTime::now()).then_some(LeaseHolder { owner, expires_at })
}

fn note(row: &HashMap<String, AttributeValue>) -> Option<SyncNote> {
    Some(SyncNote {
        text: row.get(NOTE_ATTRIBUTE)?.as_s().ok()?.clone(),
        written_at: at(row.get(WRITTEN_AT_ATTRIBUTE)?)?,
    })
}

fn at(value: &AttributeValue) -> Option<SystemTime> {
    let millis: u64 = value.as_n().ok()?.parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_millis(millis))
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
