//! The mirror as the SDK's persistent store: reads answer from memory (and start a check when
//! one is due); writes are refused, because a mirror only follows the table.

use std::collections::HashMap;

use launchdarkly_server_sdk::{
    AllData, DataKind, PersistentDataStore, PersistentDataStoreFactory, PersistentStoreError,
    SerializedItem,
};

use super::Mirror;
use crate::schema::Kind;

impl PersistentDataStoreFactory for Mirror {
    fn create_persistent_data_store(&self) -> Result<Box<dyn PersistentDataStore>, std::io::Error> {
        Ok(Box::new(MirrorStore(self.clone())))
    }
}

struct MirrorStore(Mirror);

impl MirrorStore {
    fn read(&self, kind: Kind, key: &str) -> Result<Option<SerializedItem>, PersistentStoreError> {
        self.0.check();
        self.0
            .get(kind, key)
            .map_err(|failure| PersistentStoreError::new(failure.to_string()))
    }
}

const READ_ONLY: &str =
    "this DynamoDB store is a read-only mirror (daemon mode): the syncer writes the table";

impl PersistentDataStore for MirrorStore {
    fn init(
        &mut self,
        _: AllData<SerializedItem, SerializedItem>,
    ) -> Result<(), PersistentStoreError> {
        Err(PersistentStoreError::new(READ_ONLY))
    }

    fn flag(&self, key: &str) -> Result<Option<SerializedItem>, PersistentStoreError> {
        self.read(Kind::Flags, key)
    }

    fn segment(&self, key: &str) -> Result<Option<SerializedItem>, PersistentStoreError> {
        self.read(Kind::Segments, key)
    }

    fn all_flags(&self) -> Result<HashMap<String, SerializedItem>, PersistentStoreError> {
        self.0.check();
        self.0
            .data()
            .map(|data| {
                data.items(Kind::Flags)
                    .iter()
                    .map(|(key, item)| (key.to_string(), item.to_serialized()))
                    .collect()
            })
            .map_err(|failure| PersistentStoreError::new(failure.to_string()))
    }

    fn upsert(
        &mut self,
        _: DataKind,
        _: &str,
        _: SerializedItem,
    ) -> Result<bool, PersistentStoreError> {
        Err(PersistentStoreError::new(READ_ONLY))
    }

    fn is_initialized(&self) -> bool {
        self.0.can_answer()
    }
}
