//! The sync machinery of this project's syncer, apart from the LaunchDarkly store it writes:
//! the lease that serializes sync jobs, the fence rows that make DynamoDB refuse the writes of
//! a holder that lost it, trigger tickets that let one sync answer every trigger that arrived
//! before it fetched, and the notes `syncer status` reads. Everything lives in the
//! `[prefix:]$syncer-lease` namespace, which no SDK reads, and goes through the store's
//! [`Table`](launchdarkly_dynamo_store::Table).
//!
//! ```no_run
//! use std::time::Duration;
//! use launchdarkly_dynamo_store::{ApplyOptions, Compare, DynamoDbStoreBuilder, Snapshot};
//! use launchdarkly_dynamo_sync::{Coverage, SyncCoordinator, Turn};
//!
//! # async fn example(snapshot_from_launchdarkly: impl Fn() -> Snapshot)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! let store = DynamoDbStoreBuilder::new("launchdarkly-staging").build().await?;
//! let coordinator = SyncCoordinator::new(&store, Duration::from_secs(10))?;
//! let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
//! let ticket = coordinator.ticket(Coverage::Any).await?;
//! match coordinator.wait_turn(&ticket, deadline).await? {
//!     Turn::Covered => println!("another sync that fetched after this trigger succeeded"),
//!     Turn::Held(lease) => {
//!         // Fetch only now, under the lease, so this sync brings the newest data.
//!         let snapshot = snapshot_from_launchdarkly();
//!         let options = ApplyOptions::default()
//!             .fenced_by(&lease)
//!             .deadline(deadline)
//!             .compare(Compare::Versions);
//!         let result = store.apply(&snapshot, options).await;
//!         lease.release(result.is_ok().then_some(Coverage::Any)).await;
//!         result?;
//!     }
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod error;
mod fence;
mod lease;
mod status;

pub use error::LeaseError;
pub use lease::{Coverage, SyncCoordinator, SyncLease, Ticket, Turn, MIN_LEASE_PERIOD};
pub use status::{LeaseHolder, NoteKind, SyncNote, SyncStatus};
