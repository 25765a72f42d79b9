//! The SDK's synchronous `PersistentDataStore`, on top of the async store.

use std::collections::HashMap;

use launchdarkly_server_sdk::{
    AllData, DataKind, PersistentDataStore, PersistentStoreError, SerializedItem,
};

use crate::bridge::Bridge;
use crate::schema::Kind;
use crate::snapshot::Snapshot;
use crate::store::DynamoDbStore;

/// What the SDK gets from [`DynamoDbStoreBuilder`](crate::DynamoDbStoreBuilder).
pub(crate) struct SdkDataStore {
    store: DynamoDbStore,
    bridge: Bridge,
}

impl SdkDataStore {
    pub(crate) fn new(store: DynamoDbStore, bridge: Bridge) -> Self {
        Self { store, bridge }
    }

    fn get(&self, kind: Kind, key: &str) -> Result<Option<SerializedItem>, PersistentStoreError> {
        let store = self.store.clone();
        let key = key.to_string();
        Ok(self
            .bridge
            .run(async move { store.get(kind, &key).await })?)
    }
}

impl PersistentDataStore for SdkDataStore {
    fn init(
        &mut self,
        all_data: AllData<SerializedItem, SerializedItem>,
    ) -> Result<(), PersistentStoreError> {
        let store = self.store.clone();
        let snapshot = Snapshot::from(all_data);
        let report = self
            .bridge
            .run(async move { store.apply_snapshot(&snapshot).await })?;
        tracing::debug!(
            table = %self.store.table_name(),
            written = report.written.len(),
            unchanged = report.unchanged,
            deleted = report.deleted.len(),
            "initialized the LaunchDarkly data in DynamoDB"
        );
        Ok(())
    }

    fn flag(&self, key: &str) -> Result<Option<SerializedItem>, PersistentStoreError> {
        self.get(Kind::Flags, key)
    }

    fn segment(&self, key: &str) -> Result<Option<SerializedItem>, PersistentStoreError> {
        self.get(Kind::Segments, key)
    }

    fn all_flags(&self) -> Result<HashMap<String, SerializedItem>, PersistentStoreError> {
        let store = self.store.clone();
        Ok(self
            .bridge
            .run(async move { store.all(Kind::Flags).await })?)
    }

    fn upsert(
        &mut self,
        kind: DataKind,
        key: &str,
        serialized_item: SerializedItem,
    ) -> Result<bool, PersistentStoreError> {
        let store = self.store.clone();
        let kind = Kind::from(&kind);
        let key = key.to_string();
        Ok(self
            .bridge
            .run(async move { store.upsert(kind, &key, &serialized_item).await })?)
    }

    fn is_initialized(&self) -> bool {
        let store = self.store.clone();
        match self.bridge.run(async move { store.is_initialized().await }) {
            Ok(initialized) => initialized,
            Err(err) => {
                tracing::warn!(
                    "could not tell whether the LaunchDarkly data is initialized: {err}"
                );
                false
            }
        }
    }
}
