//! One immutable version of the copy: readers hold an `Arc` of it while they evaluate, and a
//! refresh swaps in a new one.

use std::collections::HashMap;
use std::sync::Arc;

use launchdarkly_server_sdk::SerializedItem;

use super::item::StoredItem;
use crate::archive::Items;
use crate::report::ItemRef;
use crate::schema::Kind;

/// The items of one kind by key. Keys and items are shared between versions of the copy, so
/// a refresh that changes a few items copies pointers, not the data set.
pub type ItemMap = HashMap<Arc<str>, Arc<StoredItem>>;

/// The flags and segments of one table and prefix as read at one point, tombstones included.
#[derive(Clone, Default)]
pub struct MirrorData {
    flags: ItemMap,
    segments: ItemMap,
    /// The data generation it corresponds to; `None` for a table without a generation row.
    generation: Option<u64>,
}

impl std::fmt::Debug for MirrorData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorData")
            .field("flags", &self.flags.len())
            .field("segments", &self.segments.len())
            .field("generation", &self.generation)
            .finish()
    }
}

impl MirrorData {
    pub(crate) fn new(
        flags: HashMap<String, SerializedItem>,
        segments: HashMap<String, SerializedItem>,
        generation: Option<u64>,
    ) -> Self {
        let shared = |items: HashMap<String, SerializedItem>| {
            items
                .into_iter()
                .map(|(key, item)| (Arc::from(key), Arc::new(StoredItem::from(item))))
                .collect()
        };
        Self {
            flags: shared(flags),
            segments: shared(segments),
            generation,
        }
    }

    /// A copy opened from an archive.
    pub(crate) fn from_items(mut items: Items, generation: Option<u64>) -> Self {
        let mut take = |kind| items.remove(&kind).unwrap_or_default();
        Self {
            flags: take(Kind::Flags),
            segments: take(Kind::Segments),
            generation,
        }
    }

    /// Every item of `kind`, by key.
    pub fn items(&self, kind: Kind) -> &ItemMap {
        match kind {
            Kind::Flags => &self.flags,
            Kind::Segments => &self.segments,
        }
    }

    /// The data generation this copy is at, if the table has one.
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// Live (not deleted) items of `kind`.
    pub fn live(&self, kind: Kind) -> usize {
        self.items(kind).values().filter(|i| !i.deleted).count()
    }

    /// This copy with the items read for a partial reload: `Some` replaces, `None` removes.
    pub(crate) fn with_changes(
        self,
        changes: Vec<(ItemRef, Option<SerializedItem>)>,
        generation: u64,
    ) -> Self {
        let mut next = self;
        next.generation = Some(generation);
        for (item, stored) in changes {
            let items = match item.kind {
                Kind::Flags => &mut next.flags,
                Kind::Segments => &mut next.segments,
            };
            match stored {
                Some(stored) => items.insert(Arc::from(item.key), Arc::new(stored.into())),
                None => items.remove(item.key.as_str()),
            };
        }
        next
    }
}
