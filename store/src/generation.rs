//! The data generation: one small row that a sync commits, fenced, after every write of that
//! sync has landed, so it never names data that is not there. Readers check it instead of
//! re-reading the table: same number, nothing changed; the next number, reload the items it
//! names; anything else, reload everything.
//!
//! A sync that is about to write first records the generation it is writing as `pending`; a
//! sync that finds a `pending` left behind (its writer died between its writes and its commit)
//! commits a full-reload generation, because the items of the dead sync are already stored and
//! no diff would name them again.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::report::ItemRef;
use crate::schema::{
    key_attributes, Kind, CHANGED_FLAGS_ATTRIBUTE, CHANGED_SEGMENTS_ATTRIBUTE,
    FULL_RELOAD_ATTRIBUTE, GENERATION_ATTRIBUTE, GENERATION_KEY, MAX_CHANGED_KEYS,
    PENDING_ATTRIBUTE, SYNCED_AT_ATTRIBUTE,
};

/// A committed data generation, as readers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    /// Grows by one with each sync that changed the data.
    pub number: u64,
    /// When the last successful sync (changing or not) finished.
    pub synced_at: SystemTime,
    /// The items this generation changed against `number - 1`; `None`: reload everything.
    pub changed: Option<Vec<ItemRef>>,
    /// A sync started writing this generation and has not committed it.
    pub pending: Option<u64>,
}

impl Generation {
    /// Key attributes of the generation row in the sync namespace `namespace`.
    pub(crate) fn key(namespace: &str) -> HashMap<String, AttributeValue> {
        key_attributes(namespace, GENERATION_KEY)
    }

    /// Reads a stored generation row; `None` when it is not one.
    pub(crate) fn from_row(row: &HashMap<String, AttributeValue>) -> Option<Self> {
        let number = |name| match row.get(name) {
            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
            _ => None,
        };
        let keys = |name| match row.get(name) {
            Some(AttributeValue::L(keys)) => keys
                .iter()
                .map(|key| key.as_s().ok().cloned())
                .collect::<Option<Vec<String>>>(),
            None => Some(Vec::new()),
            _ => None,
        };
        let full = matches!(
            row.get(FULL_RELOAD_ATTRIBUTE),
            Some(AttributeValue::Bool(true))
        );
        let changed = match (
            full,
            keys(CHANGED_FLAGS_ATTRIBUTE),
            keys(CHANGED_SEGMENTS_ATTRIBUTE),
        ) {
            (false, Some(flags), Some(segments)) => Some(
                segments
                    .into_iter()
                    .map(|key| ItemRef::new(Kind::Segments, key))
                    .chain(flags.into_iter().map(|key| ItemRef::new(Kind::Flags, key)))
                    .collect(),
            ),
            _ => None,
        };
        Some(Self {
            number: number(GENERATION_ATTRIBUTE)?,
            synced_at: UNIX_EPOCH + Duration::from_millis(number(SYNCED_AT_ATTRIBUTE).unwrap_or(0)),
            changed,
            pending: number(PENDING_ATTRIBUTE),
        })
    }

    /// The stored form of this generation in the sync namespace `namespace`.
    pub(crate) fn to_row(&self, namespace: &str) -> HashMap<String, AttributeValue> {
        let mut row = Self::key(namespace);
        row.insert(
            GENERATION_ATTRIBUTE.into(),
            AttributeValue::N(self.number.to_string()),
        );
        let millis = self
            .synced_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4));
        row.insert(
            SYNCED_AT_ATTRIBUTE.into(),
            AttributeValue::N(millis.to_string()),
        );
        match &self.changed {
            None => {
                row.insert(FULL_RELOAD_ATTRIBUTE.into(), AttributeValue::Bool(true));
            }
            Some(changed) => {
                let keys = |kind| {
                    AttributeValue::L(
                        changed
                            .iter()
                            .filter(|item| item.kind == kind)
                            .map(|item| AttributeValue::S(item.key.clone()))
                            .collect(),
                    )
                };
                row.insert(CHANGED_FLAGS_ATTRIBUTE.into(), keys(Kind::Flags));
                row.insert(CHANGED_SEGMENTS_ATTRIBUTE.into(), keys(Kind::Segments));
            }
        }
        if let Some(pending) = self.pending {
            row.insert(
                PENDING_ATTRIBUTE.into(),
                AttributeValue::N(pending.to_string()),
            );
        }
        row
    }

    /// The row a sync writes before its first data write: `previous` (or an empty history)
    /// with `pending` naming the generation it is about to commit.
    pub(crate) fn announce(previous: Option<&Generation>) -> Generation {
        let mut row = previous.cloned().unwrap_or(Generation {
            number: 0,
            synced_at: UNIX_EPOCH,
            changed: None,
            pending: None,
        });
        row.pending = Some(row.number + 1);
        row
    }

    /// What a successful sync commits after `previous`: with `changes`, the next generation
    /// naming them (or asking for a full reload when there are too many, when the history is
    /// new, or when a sync died half-way before); without, the same generation, later time.
    pub(crate) fn commit(
        previous: Option<&Generation>,
        changes: Option<Vec<ItemRef>>,
    ) -> Generation {
        let synced_at = SystemTime::now();
        match (previous, changes) {
            (Some(previous), None) if previous.pending.is_none() => Generation {
                synced_at,
                pending: None,
                ..previous.clone()
            },
            (previous, changes) => {
                let number = previous.map_or(0, |p| p.number) + 1;
                let trusted = previous.is_some_and(|p| p.pending.is_none());
                let changed =
                    changes.filter(|changes| trusted && changes.len() <= MAX_CHANGED_KEYS);
                Generation {
                    number,
                    synced_at,
                    changed,
                    pending: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(n: usize) -> Vec<ItemRef> {
        (0..n)
            .map(|i| ItemRef::new(Kind::Flags, format!("f{i}")))
            .collect()
    }

    #[test]
    fn a_row_reads_back_as_written() {
        let generation = Generation {
            number: 7,
            synced_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            changed: Some(vec![
                ItemRef::new(Kind::Segments, "s"),
                ItemRef::new(Kind::Flags, "f"),
            ]),
            pending: Some(8),
        };
        let row = generation.to_row("p:$syncer-lease");
        assert_eq!(Generation::from_row(&row), Some(generation.clone()));
        let full = Generation {
            changed: None,
            pending: None,
            ..generation
        };
        assert_eq!(Generation::from_row(&full.to_row("x")), Some(full));
    }

    #[test]
    fn the_first_generation_and_one_after_a_dead_sync_reload_everything() {
        let first = Generation::commit(None, Some(changes(1)));
        assert_eq!((first.number, first.changed.clone()), (1, None));
        let next = Generation::commit(Some(&first), Some(changes(2)));
        assert_eq!((next.number, next.changed.clone()), (2, Some(changes(2))));
        let announced = Generation::announce(Some(&next));
        assert_eq!(announced.pending, Some(3));
        let after_death = Generation::commit(Some(&announced), Some(changes(1)));
        assert_eq!(
            (
                after_death.number,
                after_death.changed.clone(),
                after_death.pending
            ),
            (3, None, None)
        );
        let unchanged_after_death = Generation::commit(Some(&announced), None);
        assert_eq!(
            (unchanged_after_death.number, unchanged_after_death.changed),
            (3, None)
        );
    }

    #[test]
    fn a_sync_without_changes_keeps_the_number_and_too_many_changes_reload_everything() {
        let base = Generation::commit(Some(&Generation::commit(None, None)), Some(changes(1)));
        let same = Generation::commit(Some(&base), None);
        assert_eq!(
            (same.number, same.changed.clone()),
            (base.number, base.changed.clone())
        );
        assert!(same.synced_at >= base.synced_at);
        let big = Generation::commit(Some(&base), Some(changes(MAX_CHANGED_KEYS + 1)));
        assert_eq!((big.number, big.changed), (base.number + 1, None));
    }
}
