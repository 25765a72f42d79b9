//! Fences: rows every new lease holder rewrites with its name before it writes anything, and
//! that every fenced write checks in the same transaction, so DynamoDB refuses the writes of a
//! holder that lost the lease, even one already on the wire.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};

use crate::schema::{key_attributes, FENCE_KEY_PREFIX, OWNER_ATTRIBUTE};

/// What makes a write fenced: the fence rows of the coordination namespace must still name
/// `owner`. Shared with the lease, which flips `lost` when it learns it was taken over.
#[derive(Clone, Debug)]
pub struct Fence {
    pub namespace: String,
    pub owner: String,
    pub lost: Arc<AtomicBool>,
}

impl Fence {
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    pub fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// Sort key of fence row `shard`.
    pub fn row_key(shard: usize) -> String {
        format!("{FENCE_KEY_PREFIX}{shard}")
    }

    /// The check that fence row `shard` still names this owner.
    pub fn check(&self, table: &str, shard: usize) -> Result<TransactWriteItem, String> {
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key_attributes(&self.namespace, &Self::row_key(shard))))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", OWNER_ATTRIBUTE)
            .expression_attribute_values(":owner", AttributeValue::S(self.owner.clone()))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}
