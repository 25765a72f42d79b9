//! Fenced writes: a condition every transaction of a fenced apply carries, checked by DynamoDB
//! in the same transaction, so a writer that lost its right to write cannot land anything, not
//! even a request already on the wire. The store only checks the fence; who owns it (the
//! sync lease of `launchdarkly-dynamo-sync`) is decided outside this crate.

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::error::StoreError;

/// What makes a write fenced. Implemented by whatever grants the right to write (a lease).
pub trait Fence: Send + Sync {
    /// The condition check carried, as its first action, by every transaction of shard
    /// `shard` (`0..FENCE_SHARDS`): up to that many transactions run at once, each on its own
    /// condition so they never conflict with one another.
    fn check(&self, table: &str, shard: usize) -> Result<TransactWriteItem, StoreError>;

    /// True once the writer knows it lost the fence: no further attempt is sent.
    fn is_lost(&self) -> bool;

    /// Records that DynamoDB refused the check: the fence is gone.
    fn mark_lost(&self);
}
