//! The data generation: one small row that a sync commits, fenced, after every write of that
//! sync has landed, so it never names data that is not there. Readers check it instead of
//! re-reading the table: same number, nothing changed; a later number, reload the items it and
//! the change log name since the reader's copy; further behind than the log reaches, reload
//! everything.
//!
//! A sync that is about to write first records the generation it is writing as `pending`; a
//! sync that finds a `pending` left behind (its writer died between its writes and its commit)
//! commits a full-reload generation, because the items of the dead sync are already stored and
//! no diff would name them again.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::archive::pointer::ArchiveRef;
use crate::report::ItemRef;
use crate::schema::{
    key_attributes, Kind, ARCHIVE_ATTRIBUTE, ARCHIVE_GENERATION_ATTRIBUTE, ARCHIVE_MAX_GENERATIONS,
    ARCHIVE_REFRESH_FRACTION, CHANGED_FLAGS_ATTRIBUTE, CHANGED_SEGMENTS_ATTRIBUTE,
    CHANGE_LOG_ATTRIBUTE, FULL_RELOAD_ATTRIBUTE, GENERATION_ATTRIBUTE, GENERATION_KEY,
    MAX_CHANGED_KEYS, MAX_CHANGE_LOG_GENERATIONS, MAX_CHANGE_LOG_KEY_BYTES, PENDING_ATTRIBUTE,
    SYNCED_AT_ATTRIBUTE,
};

type Row = HashMap<String, AttributeValue>;

/// What one generation changed against the one before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes {
    /// The generation.
    pub number: u64,
    /// The items it wrote or deleted.
    pub items: Vec<ItemRef>,
}

impl Changes {
    fn key_bytes(&self) -> usize {
        self.items.iter().map(|item| item.key.len()).sum()
    }

    fn from_map(map: &Row) -> Option<Self> {
        let number = match map.get(GENERATION_ATTRIBUTE) {
            Some(AttributeValue::N(n)) => n.parse().ok()?,
            _ => return None,
        };
        Some(Self {
            number,
            items: item_refs(map)?,
        })
    }

    fn to_map(&self) -> AttributeValue {
        let mut map = Row::new();
        map.insert(
            GENERATION_ATTRIBUTE.into(),
            AttributeValue::N(self.number.to_string()),
        );
        insert_item_refs(&mut map, &self.items);
        AttributeValue::M(map)
    }
}

/// The changed flags and segments a row or a change log entry names; `None` when malformed.
pub(crate) fn item_refs(map: &Row) -> Option<Vec<ItemRef>> {
    let keys = |name| match map.get(name) {
        Some(AttributeValue::L(keys)) => keys
            .iter()
            .map(|key| key.as_s().ok().cloned())
            .collect::<Option<Vec<String>>>(),
        None => Some(Vec::new()),
        _ => None,
    };
    let flags = keys(CHANGED_FLAGS_ATTRIBUTE)?;
    let segments = keys(CHANGED_SEGMENTS_ATTRIBUTE)?;
    Some(
        segments
            .into_iter()
            .map(|key| ItemRef::new(Kind::Segments, key))
            .chain(flags.into_iter().map(|key| ItemRef::new(Kind::Flags, key)))
            .collect(),
    )
}

pub(crate) fn insert_item_refs(map: &mut Row, items: &[ItemRef]) {
    let keys = |kind| {
        AttributeValue::L(
            items
                .iter()
                .filter(|item| item.kind == kind)
                .map(|item| AttributeValue::S(item.key.clone()))
                .collect(),
        )
    };
    map.insert(CHANGED_FLAGS_ATTRIBUTE.into(), keys(Kind::Flags));
    map.insert(CHANGED_SEGMENTS_ATTRIBUTE.into(), keys(Kind::Segments));
}

/// A committed data generation, as readers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    /// Grows by one with each sync that changed the data.
    pub number: u64,
    /// When the last successful sync (changing or not) finished.
    pub synced_at: SystemTime,
    /// The items this generation changed against `number - 1`; `None`: reload everything.
    pub changed: Option<Vec<ItemRef>>,
    /// The change log: what the generations before this one changed, newest first, as far
    /// back as it is kept (bounded; it ends at a generation that asked for a full reload).
    pub earlier: Vec<Changes>,
    /// A sync started writing this generation and has not committed it.
    pub pending: Option<u64>,
    /// The archive a cold reader may load, then follow the change log from.
    pub archive: Option<ArchiveRef>,
}

impl Generation {
    /// Key attributes of the generation row in the sync namespace `namespace`.
    pub(crate) fn key(namespace: &str) -> HashMap<String, AttributeValue> {
        key_attributes(namespace, GENERATION_KEY)
    }

    /// Reads a stored generation row; `None` when it is not one.
    pub(crate) fn from_row(row: &Row) -> Option<Self> {
        let number = |name| match row.get(name) {
            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
            _ => None,
        };
        let full = matches!(
            row.get(FULL_RELOAD_ATTRIBUTE),
            Some(AttributeValue::Bool(true))
        );
        let changed = if full { None } else { item_refs(row) };
        // A malformed log only costs a full reload: the reader cannot use it.
        let earlier = match row.get(CHANGE_LOG_ATTRIBUTE) {
            Some(AttributeValue::L(entries)) => entries
                .iter()
                .map(|entry| entry.as_m().ok().and_then(Changes::from_map))
                .collect::<Option<Vec<_>>>()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Some(Self {
            number: number(GENERATION_ATTRIBUTE)?,
            synced_at: UNIX_EPOCH + Duration::from_millis(number(SYNCED_AT_ATTRIBUTE).unwrap_or(0)),
            changed,
            earlier,
            pending: number(PENDING_ATTRIBUTE),
            archive: row
                .get(ARCHIVE_ATTRIBUTE)
                .and_then(ArchiveRef::from_attribute),
        })
    }

    /// The items changed since generation `have`, from this generation's changes and the
    /// change log; `None` when they reach back further than the log does (reload everything).
    pub fn changes_since(&self, have: u64) -> Option<Vec<ItemRef>> {
        if have >= self.number {
            return None;
        }
        let mut items = self.changed.clone()?;
        for (behind, wanted) in (have + 1..self.number).rev().enumerate() {
            let entry = self.earlier.get(behind).filter(|e| e.number == wanted)?;
            items.extend(entry.items.iter().cloned());
        }
        items.sort();
        items.dedup();
        Some(items)
    }

    /// The change log the next generation after this one keeps: this generation's changes
    /// and its own log, bounded; empty when this generation asked for a full reload.
    fn log_for_next(&self) -> Vec<Changes> {
        let Some(changed) = &self.changed else {
            return Vec::new();
        };
        let own = Changes {
            number: self.number,
            items: changed.clone(),
        };
        let mut log = Vec::new();
        let mut bytes = 0;
        for entry in std::iter::once(own).chain(self.earlier.iter().cloned()) {
            bytes += entry.key_bytes();
            if log.len() == MAX_CHANGE_LOG_GENERATIONS || bytes > MAX_CHANGE_LOG_KEY_BYTES {
                break;
            }
            log.push(entry);
        }
        log
    }

    /// The stored form of this generation in the sync namespace `namespace`.
    pub(crate) fn to_row(&self, namespace: &str) -> Row {
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
            Some(changed) => insert_item_refs(&mut row, changed),
        }
        if !self.earlier.is_empty() {
            let entries = self.earlier.iter().map(Changes::to_map).collect();
            row.insert(CHANGE_LOG_ATTRIBUTE.into(), AttributeValue::L(entries));
        }
        if let Some(pending) = self.pending {
            row.insert(
                PENDING_ATTRIBUTE.into(),
                AttributeValue::N(pending.to_string()),
            );
        }
        if let Some(archive) = &self.archive {
            row.insert(ARCHIVE_ATTRIBUTE.into(), archive.to_attribute());
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
            earlier: Vec::new(),
            pending: None,
            archive: None,
        });
        row.pending = Some(row.number + 1);
        row
    }

    /// What a successful sync commits after `previous`: with `changes`, the next generation
    /// naming them (or asking for a full reload when there are too many, when the history is
    /// new, or when a sync died half-way before); without, the same generation, later time.
    /// A new generation names no archive: the apply decides whether the last one still
    /// serves ([`ArchiveRef::serves`]) or writes another.
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
                // A reader can follow the log only up to a full reload, and only when the
                // previous generation's own changes are known.
                let earlier = match (previous, &changed) {
                    (Some(previous), Some(_)) if trusted => previous.log_for_next(),
                    _ => Vec::new(),
                };
                Generation {
                    number,
                    synced_at,
                    changed,
                    earlier,
                    pending: None,
                    archive: None,
                }
            }
        }
    }
}

/// How an archive follows the generations after it (beside [`Generation`], whose change
/// keys it writes and reads).
impl ArchiveRef {
    /// The pointer `next`, about to be committed with `changed_bytes` of changed items, names
    /// when it keeps this archive; `None` when a new one is due: after a full reload (no
    /// change row could say what changed), when the changed bytes would exceed
    /// 1/[`ARCHIVE_REFRESH_FRACTION`] of the archive, or after [`ARCHIVE_MAX_GENERATIONS`].
    pub(crate) fn kept_by(&self, next: &Generation, changed_bytes: u64) -> Option<ArchiveRef> {
        if self.generation == next.number {
            return Some(self.clone());
        }
        next.changed.as_ref()?;
        let total = self.changed_bytes.saturating_add(changed_bytes);
        let fresh_enough = total <= self.data_bytes / ARCHIVE_REFRESH_FRACTION
            && next.number.saturating_sub(self.generation) <= ARCHIVE_MAX_GENERATIONS
            && next.number > self.generation;
        fresh_enough.then(|| ArchiveRef {
            changed_bytes: total,
            ..self.clone()
        })
    }

    /// The change row `next` writes beside its commit while it names this archive: the keys
    /// it changed. `None` when it names the archive of its own generation.
    pub(crate) fn change_row(&self, namespace: &str, next: &Generation) -> Option<Row> {
        let changed = next.changed.as_ref()?;
        if next.number == self.generation {
            return None;
        }
        let mut row = key_attributes(namespace, &self.change_key(next.number));
        row.insert(
            ARCHIVE_GENERATION_ATTRIBUTE.to_string(),
            AttributeValue::N(next.number.to_string()),
        );
        insert_item_refs(&mut row, changed);
        Some(row)
    }

    /// The items changed from this archive to generation `now`, from its change rows; `None`
    /// unless they name every generation in between exactly once.
    pub(crate) fn changes_to(&self, now: u64, rows: &[Row]) -> Option<Vec<crate::report::ItemRef>> {
        let mut by_generation = std::collections::BTreeMap::new();
        for row in rows {
            let number = row
                .get(ARCHIVE_GENERATION_ATTRIBUTE)?
                .as_n()
                .ok()?
                .parse::<u64>()
                .ok()?;
            if number > self.generation && number <= now {
                by_generation.insert(number, item_refs(row)?);
            }
        }
        let expected = now.checked_sub(self.generation)?;
        if by_generation.len() as u64 != expected {
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        Some(
            by_generation
                .into_values()
                .flatten()
                .filter(|item| seen.insert(item.clone()))
                .collect(),
        )
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
            earlier: vec![Changes {
                number: 6,
                items: vec![
                    ItemRef::new(Kind::Segments, "t"),
                    ItemRef::new(Kind::Flags, "g"),
                ],
            }],
            pending: Some(8),
            archive: Some(ArchiveRef {
                generation: 5,
                id: "5-00ab".into(),
                parts: 3,
                checksum: 4_000_000_000,
                bytes: 1_234_567,
                data_bytes: 2_345_678,
                changed_bytes: 4_321,
            }),
        };
        let row = generation.to_row("p:$syncer-lease");
        assert_eq!(Generation::from_row(&row), Some(generation.clone()));
        let full = Generation {
            changed: None,
            earlier: Vec::new(),
            pending: None,
            archive: None,
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

    #[test]
    fn the_change_log_follows_generations_within_its_bounds_and_breaks_at_full_reloads() {
        let first = Generation::commit(None, Some(changes(1)));
        let mut now = Generation::commit(Some(&first), Some(changes(2)));
        for _ in 0..5 {
            now = Generation::commit(Some(&now), Some(changes(1)));
        }
        assert_eq!(now.number, 7);
        // Generations 2..6 are in the log; 1 asked for a full reload, so it ends there.
        let logged: Vec<u64> = now.earlier.iter().map(|c| c.number).collect();
        assert_eq!(logged, [6, 5, 4, 3, 2]);
        assert_eq!(now.changes_since(1).map(|c| c.len()), Some(2));
        assert_eq!(now.changes_since(0), None);
        assert_eq!(now.changes_since(7), None);
        let stored = Generation::from_row(&now.to_row("x")).unwrap();
        assert_eq!(
            (&stored.changed, &stored.earlier),
            (&now.changed, &now.earlier)
        );

        // An idle sync keeps the log, a large change or a dead sync empties it.
        let idle = Generation::commit(Some(&now), None);
        assert_eq!(idle.earlier, now.earlier);
        let big = Generation::commit(Some(&now), Some(changes(MAX_CHANGED_KEYS + 1)));
        assert!(big.earlier.is_empty());
        let after_big = Generation::commit(Some(&big), Some(changes(1)));
        assert!(after_big.earlier.is_empty());
        assert_eq!(after_big.changes_since(big.number - 1), None);
        let dead = Generation::commit(Some(&Generation::announce(Some(&now))), Some(changes(1)));
        assert!(dead.earlier.is_empty());

        // Bounded in generations and in key bytes.
        let mut long = Generation::commit(Some(&first), Some(changes(1)));
        for _ in 0..MAX_CHANGE_LOG_GENERATIONS + 10 {
            long = Generation::commit(Some(&long), Some(changes(1)));
        }
        assert_eq!(long.earlier.len(), MAX_CHANGE_LOG_GENERATIONS);
        let wide: Vec<ItemRef> = (0..MAX_CHANGED_KEYS)
            .map(|i| ItemRef::new(Kind::Flags, format!("{i}-{}", "k".repeat(1000))))
            .collect();
        let mut heavy = Generation::commit(Some(&first), Some(wide.clone()));
        for _ in 0..3 {
            heavy = Generation::commit(Some(&heavy), Some(wide.clone()));
        }
        let bytes: usize = heavy.earlier.iter().map(Changes::key_bytes).sum();
        assert!(bytes <= MAX_CHANGE_LOG_KEY_BYTES, "{bytes}");
        assert!(heavy.changes_since(heavy.number - 1).is_some());
    }

    fn archive_at(generation: u64, bytes: u64) -> ArchiveRef {
        ArchiveRef {
            generation,
            id: format!("{generation}-x"),
            parts: 1,
            checksum: 0,
            bytes,
            data_bytes: bytes,
            changed_bytes: 0,
        }
    }

    fn flags(n: usize) -> Vec<ItemRef> {
        (0..n)
            .map(|i| ItemRef::new(Kind::Flags, format!("f{i}")))
            .collect()
    }

    fn at(number: u64, changed: Option<Vec<ItemRef>>) -> Generation {
        Generation {
            number,
            synced_at: UNIX_EPOCH,
            changed,
            earlier: Vec::new(),
            pending: None,
            archive: None,
        }
    }

    #[test]
    fn an_archive_is_kept_until_the_bytes_changed_since_it_reach_an_eighth_of_it() {
        let archive = archive_at(4, 8_000);
        assert_eq!(archive.kept_by(&at(4, None), 0), Some(archive.clone()));
        let kept = archive.kept_by(&at(5, Some(flags(2))), 600).unwrap();
        assert_eq!(kept.changed_bytes, 600);
        let kept = kept.kept_by(&at(6, Some(flags(1))), 400).unwrap();
        assert_eq!((kept.generation, kept.changed_bytes), (4, 1_000));
        // Over an eighth, a full reload, or too many generations: a new archive.
        assert_eq!(kept.kept_by(&at(7, Some(flags(1))), 1), None);
        assert_eq!(archive.kept_by(&at(5, None), 0), None);
        let far = 4 + ARCHIVE_MAX_GENERATIONS + 1;
        assert_eq!(archive.kept_by(&at(far, Some(flags(1))), 0), None);
    }

    #[test]
    fn change_rows_lead_from_the_archive_only_when_every_generation_is_there() {
        let archive = archive_at(4, 8_000);
        let rows: Vec<Row> = (5..=7)
            .map(|n| {
                let changed = vec![ItemRef::new(Kind::Flags, format!("f{}", n % 2))];
                archive
                    .change_row("$archive", &at(n, Some(changed)))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            rows[0][crate::schema::SORT_KEY].as_s().unwrap(),
            &format!("4-x:since:{:020}", 5)
        );
        assert_eq!(
            ArchiveRef::id_of_part(rows[0][crate::schema::SORT_KEY].as_s().unwrap()),
            "4-x"
        );
        assert_eq!(
            archive.changes_to(7, &rows),
            Some(vec![
                ItemRef::new(Kind::Flags, "f1"),
                ItemRef::new(Kind::Flags, "f0")
            ])
        );
        assert_eq!(archive.changes_to(6, &rows).map(|c| c.len()), Some(2));
        // A missing generation, or a generation row ahead of the rows: refused.
        assert_eq!(
            archive.changes_to(7, &[rows[0].clone(), rows[2].clone()]),
            None
        );
        assert_eq!(archive.changes_to(8, &rows), None);
        assert_eq!(archive.change_row("$archive", &at(4, Some(flags(1)))), None);
    }
}
