//! Which of a flag's rules (and its fallthrough) serve a percentage rollout. LaunchDarkly's
//! evaluation reason says which rule matched, not whether that rule split traffic; OpenFeature's
//! `SPLIT` reason needs the second fact. The SDK's own reads of the store are watched and each
//! flag's rollout shape kept beside its cache, so knowing costs no extra DynamoDB request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use launchdarkly_server_sdk::{
    AllData, DataKind, PersistentDataStore, PersistentDataStoreFactory, PersistentStoreError,
    SerializedItem,
};
use serde::Deserialize;

/// Rollout shapes of the flags the SDK has read, by flag key.
#[derive(Clone, Default)]
pub struct Rollouts(Arc<RwLock<HashMap<String, Shape>>>);

#[derive(Clone, Debug, Default, PartialEq)]
struct Shape {
    rules: Vec<bool>,
    fallthrough: bool,
}

/// Where an evaluation's variation came from, as the LaunchDarkly reason names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    Rule(usize),
    Fallthrough,
}

impl Rollouts {
    /// True when `served` of `flag` is a percentage rollout (as of the SDK's last read).
    pub fn is_rollout(&self, flag: &str, served: Served) -> bool {
        let Ok(shapes) = self.0.read() else {
            return false;
        };
        shapes.get(flag).is_some_and(|shape| match served {
            Served::Rule(index) => shape.rules.get(index).copied().unwrap_or(false),
            Served::Fallthrough => shape.fallthrough,
        })
    }

    fn record(&self, key: &str, item: &SerializedItem) {
        let shape = (!item.deleted)
            .then(|| Shape::of(&item.serialized_item))
            .flatten();
        if let Ok(mut shapes) = self.0.write() {
            match shape {
                Some(shape) => shapes.insert(key.to_string(), shape),
                None => shapes.remove(key),
            };
        }
    }

    /// Wraps the store factory the SDK will use so that its flag reads are recorded here.
    pub fn watching<F>(&self, factory: F) -> Watching<F> {
        Watching {
            factory,
            rollouts: self.clone(),
        }
    }
}

#[derive(Deserialize)]
struct FlagModel {
    #[serde(default)]
    rules: Vec<Serving>,
    #[serde(default)]
    fallthrough: Serving,
}

#[derive(Deserialize, Default)]
struct Serving {
    rollout: Option<serde_json::Value>,
}

impl Shape {
    /// The shape of a flag's JSON; `None` when it cannot be read (the SDK reports that itself).
    fn of(flag_json: &str) -> Option<Self> {
        let flag: FlagModel = serde_json::from_str(flag_json).ok()?;
        Some(Self {
            rules: flag.rules.iter().map(|r| r.rollout.is_some()).collect(),
            fallthrough: flag.fallthrough.rollout.is_some(),
        })
    }
}

/// A store factory whose stores record the flags they return.
pub struct Watching<F> {
    factory: F,
    rollouts: Rollouts,
}

impl<F: PersistentDataStoreFactory> PersistentDataStoreFactory for Watching<F> {
    fn create_persistent_data_store(&self) -> Result<Box<dyn PersistentDataStore>, std::io::Error> {
        Ok(Box::new(WatchedStore {
            inner: self.factory.create_persistent_data_store()?,
            rollouts: self.rollouts.clone(),
        }))
    }
}

struct WatchedStore {
    inner: Box<dyn PersistentDataStore>,
    rollouts: Rollouts,
}

impl PersistentDataStore for WatchedStore {
    fn init(
        &mut self,
        all_data: AllData<SerializedItem, SerializedItem>,
    ) -> Result<(), PersistentStoreError> {
        self.inner.init(all_data)
    }

    fn flag(&self, key: &str) -> Result<Option<SerializedItem>, PersistentStoreError> {
        let item = self.inner.flag(key)?;
        if let Some(item) = &item {
            self.rollouts.record(key, item);
        }
        Ok(item)
    }

    fn segment(&self, key: &str) -> Result<Option<SerializedItem>, PersistentStoreError> {
        self.inner.segment(key)
    }

    fn all_flags(&self) -> Result<HashMap<String, SerializedItem>, PersistentStoreError> {
        let flags = self.inner.all_flags()?;
        for (key, item) in &flags {
            self.rollouts.record(key, item);
        }
        Ok(flags)
    }

    fn upsert(
        &mut self,
        kind: DataKind,
        key: &str,
        serialized_item: SerializedItem,
    ) -> Result<bool, PersistentStoreError> {
        self.inner.upsert(kind, key, serialized_item)
    }

    fn is_initialized(&self) -> bool {
        self.inner.is_initialized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(json: &str) -> SerializedItem {
        SerializedItem {
            version: 1,
            deleted: false,
            serialized_item: json.to_string(),
        }
    }

    #[test]
    fn rules_and_fallthrough_rollouts_are_told_apart() {
        let rollouts = Rollouts::default();
        rollouts.record(
            "f",
            &item(
                r#"{"key":"f","rules":[{"variation":0},{"rollout":{"variations":[]}}],
                "fallthrough":{"rollout":{"variations":[]}}}"#,
            ),
        );
        assert!(!rollouts.is_rollout("f", Served::Rule(0)));
        assert!(rollouts.is_rollout("f", Served::Rule(1)));
        assert!(!rollouts.is_rollout("f", Served::Rule(7)));
        assert!(rollouts.is_rollout("f", Served::Fallthrough));
        assert!(!rollouts.is_rollout("other", Served::Fallthrough));
    }

    #[test]
    fn a_newer_version_or_a_deletion_replaces_the_shape() {
        let rollouts = Rollouts::default();
        rollouts.record("f", &item(r#"{"fallthrough":{"rollout":{}}}"#));
        rollouts.record("f", &item(r#"{"fallthrough":{"variation":1}}"#));
        assert!(!rollouts.is_rollout("f", Served::Fallthrough));
        rollouts.record("f", &item(r#"{"fallthrough":{"rollout":{}}}"#));
        let mut deleted = item("");
        deleted.deleted = true;
        rollouts.record("f", &deleted);
        assert!(!rollouts.is_rollout("f", Served::Fallthrough));
    }
}
