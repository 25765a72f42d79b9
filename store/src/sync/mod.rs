//! The machinery of writers that are not the SDK (sync jobs), apart from the SDK's store
//! surface: the lease that serializes them, the fences that make DynamoDB refuse the writes of
//! a writer that lost it, trigger tickets, and the data generation each sync commits for
//! readers. All of it lives in the `[prefix:]$syncer-lease` namespace, which no SDK reads.

mod fence;
pub(crate) mod generation;
mod guard;
mod lease;
mod status;

pub(crate) use fence::Fence;
pub use generation::Generation;
pub use guard::DeletionLimit;
pub use lease::{Coverage, SyncCoordinator, SyncLease, Ticket, Turn};
pub use status::{LeaseHolder, NoteKind, SyncNote, SyncStatus};
