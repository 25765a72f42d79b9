//! Fence rows: `fence-0` .. `fence-7`, rewritten with its name by every new lease holder before
//! it reads or writes anything. Each fenced transaction checks one of them, so DynamoDB
//! refuses the writes of a holder that lost the lease, even one already on the wire.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use launchdarkly_dynamo_store::schema::{key_attributes, FENCE_KEY_PREFIX, OWNER_ATTRIBUTE};
use launchdarkly_dynamo_store::{Fence, StoreError};

/// The fence of one lease holder: the fence rows of `namespace` must still name `owner`.
/// Shared with the lease's renewal, which marks it lost when it learns it was taken over.
#[derive(Clone, Debug)]
pub(crate) struct FenceRows {
    pub(crate) namespace: String,
    pub(crate) owner: String,
    lost: Arc<AtomicBool>,
}

impl FenceRows {
    pub(crate) fn new(namespace: String, owner: String) -> Self {
        Self {
            namespace,
            owner,
            lost: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Sort key of fence row `shard`.
    pub(crate) fn row_key(shard: usize) -> String {
        format!("{FENCE_KEY_PREFIX}{shard}")
    }
}

impl Fence for FenceRows {
    fn check(&self, table: &str, shard: usize) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key_attributes(&self.namespace, &Self::row_key(shard))))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", OWNER_ATTRIBUTE)
            .expression_attribute_values(":owner", AttributeValue::S(self.owner.clone()))
            .build()
            .map_err(|e| StoreError::Setup(format!("building a fence check: {e}")))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }
}
