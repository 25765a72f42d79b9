//! The archive pointer on the generation row: which archive a generation names, and the sort
//! keys of its parts and change rows. Apart from the archive's bytes so that the report and
//! the generation can name an archive without depending on how it is written.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::schema::{
    ARCHIVE_BYTES_ATTRIBUTE, ARCHIVE_CHANGED_BYTES_ATTRIBUTE, ARCHIVE_CHANGES_INFIX,
    ARCHIVE_CHECKSUM_ATTRIBUTE, ARCHIVE_DATA_BYTES_ATTRIBUTE, ARCHIVE_GENERATION_ATTRIBUTE,
    ARCHIVE_ID_ATTRIBUTE, ARCHIVE_PARTS_ATTRIBUTE,
};

/// Which archive a generation names: what a reader needs to find and check its parts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveRef {
    /// The generation whose data it holds (at most the generation naming it).
    pub generation: u64,
    /// Its unique name; the sort keys of its parts start with it.
    pub id: String,
    /// How many parts it has.
    pub parts: u32,
    /// CRC-32 of the compressed bytes, all parts in order.
    pub checksum: u32,
    /// Length once decompressed.
    pub bytes: u64,
    /// Bytes of the keys and JSON of the items it holds (large ones are smaller in it).
    pub data_bytes: u64,
    /// Bytes of the items changed since it, over the generations that kept naming it.
    pub changed_bytes: u64,
}

impl ArchiveRef {
    /// The sort key of part `index`.
    pub(crate) fn part_key(&self, index: u32) -> String {
        format!("{}:{index}", self.id)
    }

    /// The archive id a part's or a change row's sort key names (ids hold no `:`).
    pub(crate) fn id_of_part(sort_key: &str) -> &str {
        sort_key.split_once(':').map_or(sort_key, |(id, _)| id)
    }

    /// The sort keys of this archive's change rows start with this.
    pub(crate) fn changes_prefix(&self) -> String {
        format!("{}:{ARCHIVE_CHANGES_INFIX}:", self.id)
    }

    /// The sort key of the change row of `generation`.
    pub(crate) fn change_key(&self, generation: u64) -> String {
        format!("{}{generation:020}", self.changes_prefix())
    }

    /// The pointer as stored on the generation row.
    pub(crate) fn to_attribute(&self) -> AttributeValue {
        let number = |n: u64| AttributeValue::N(n.to_string());
        AttributeValue::M(HashMap::from([
            (
                ARCHIVE_GENERATION_ATTRIBUTE.to_string(),
                number(self.generation),
            ),
            (
                ARCHIVE_ID_ATTRIBUTE.to_string(),
                AttributeValue::S(self.id.clone()),
            ),
            (
                ARCHIVE_PARTS_ATTRIBUTE.to_string(),
                number(self.parts.into()),
            ),
            (
                ARCHIVE_CHECKSUM_ATTRIBUTE.to_string(),
                number(self.checksum.into()),
            ),
            (ARCHIVE_BYTES_ATTRIBUTE.to_string(), number(self.bytes)),
            (
                ARCHIVE_DATA_BYTES_ATTRIBUTE.to_string(),
                number(self.data_bytes),
            ),
            (
                ARCHIVE_CHANGED_BYTES_ATTRIBUTE.to_string(),
                number(self.changed_bytes),
            ),
        ]))
    }

    /// Reads a stored pointer; `None` when it is not one (the reader then ignores it).
    pub(crate) fn from_attribute(value: &AttributeValue) -> Option<Self> {
        let map = value.as_m().ok()?;
        let number = |name: &str| map.get(name)?.as_n().ok()?.parse::<u64>().ok();
        Some(Self {
            generation: number(ARCHIVE_GENERATION_ATTRIBUTE)?,
            id: map.get(ARCHIVE_ID_ATTRIBUTE)?.as_s().ok()?.clone(),
            parts: u32::try_from(number(ARCHIVE_PARTS_ATTRIBUTE)?).ok()?,
            checksum: u32::try_from(number(ARCHIVE_CHECKSUM_ATTRIBUTE)?).ok()?,
            bytes: number(ARCHIVE_BYTES_ATTRIBUTE)?,
            data_bytes: number(ARCHIVE_DATA_BYTES_ATTRIBUTE)?,
            changed_bytes: number(ARCHIVE_CHANGED_BYTES_ATTRIBUTE).unwrap_or(0),
        })
    }
}
