//! A DynamoDB persistent data store for the [LaunchDarkly Rust server SDK], using exactly the
//! table layout of LaunchDarkly's official DynamoDB integrations (Go, Node.js, Python, Java,
//! .NET and the Relay Proxy): they read what this store writes, and it reads what they write.
//!
//! The table must exist, with partition key `namespace` (S) and sort key `key` (S). The store
//! never creates it.
//!
//! # A service that writes flags (the SDK connected to LaunchDarkly)
//!
//! ```no_run
//! use std::sync::Arc;
//! use launchdarkly_dynamo_store::DynamoDbStoreBuilder;
//! use launchdarkly_server_sdk::{Client, ConfigBuilder, PersistentDataStoreBuilder};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let store = DynamoDbStoreBuilder::new("launchdarkly-staging").prefix("my-app");
//! let data_store = PersistentDataStoreBuilder::new(Arc::new(store));
//! let config = ConfigBuilder::new("sdk-key").data_store(&data_store).build()?;
//! let client = Client::build(config)?;
//! client.start_with_default_executor();
//! # Ok(()) }
//! ```
//!
//! # A Lambda that only reads the table (daemon mode)
//!
//! In daemon mode the SDK never connects to LaunchDarkly for flag data. Give it a [`Mirror`]:
//! an in-memory copy of the table that answers from memory, follows the data generation this
//! project's syncer commits (fresh within about a second, for one small read per second),
//! and keeps answering from the data it has while DynamoDB fails or stalls.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use launchdarkly_dynamo_store::DynamoDbStoreBuilder;
//! use launchdarkly_server_sdk::{Client, ConfigBuilder, ContextBuilder, PersistentDataStoreBuilder};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let mirror = DynamoDbStoreBuilder::new("launchdarkly-staging").build_mirror().await?;
//! let mut data_store = PersistentDataStoreBuilder::new(Arc::new(mirror.clone()));
//! data_store.no_caching(); // the mirror is the cache
//! let config = ConfigBuilder::new("sdk-key")
//!     .daemon_mode(true)
//!     .data_store(&data_store)
//!     .build()?;
//! let client = Client::build(config)?;
//! client.start_with_default_executor();
//! // A wrong table name or missing access fails here, with the reason, not as defaults.
//! mirror.wait_for_first_load(Duration::from_secs(5)).await?;
//! let context = ContextBuilder::new("user-123").build()?;
//! let enabled = client.bool_variation(&context, "my-flag", false);
//! # let _ = enabled; Ok(()) }
//! ```
//!
//! The store itself also works in daemon mode, with the SDK's TTL cache
//! (`PersistentDataStoreBuilder::new(Arc::new(DynamoDbStoreBuilder::new(table)))`), as the
//! official stores do.
//!
//! # Writers that are not the SDK
//!
//! [`DynamoDbStore::apply_snapshot`] makes the table equal to a full data set with the fewest
//! writes: only new or changed versions are put, removed keys deleted, the `$inited` marker
//! written last. Nothing is deleted unless every write succeeded.
//!
//! ```no_run
//! use launchdarkly_dynamo_store::{DynamoDbStoreBuilder, Kind, Snapshot};
//! use launchdarkly_server_sdk::SerializedItem;
//!
//! # async fn example() -> Result<(), launchdarkly_dynamo_store::StoreError> {
//! let store = DynamoDbStoreBuilder::new("launchdarkly-staging").build().await?;
//! let mut snapshot = Snapshot::default();
//! snapshot.insert(Kind::Flags, "my-flag", SerializedItem {
//!     version: 4,
//!     deleted: false,
//!     serialized_item: r#"{"key":"my-flag","version":4,"on":true,"variations":[true,false],"fallthrough":{"variation":0},"offVariation":1,"salt":"s"}"#.into(),
//! });
//! let report = store.apply_snapshot(&snapshot).await?;
//! println!("{} written, {} unchanged, {} deleted", report.written.len(), report.unchanged, report.deleted.len());
//! # Ok(()) }
//! ```
//!
//! # Sync jobs that may overlap
//!
//! [`ApplyOptions::fenced_by`] makes every write of an apply conditional on a [`Fence`]:
//! DynamoDB refuses them all once the fence is lost, even a request already sent. A fenced
//! apply also commits the data [`Generation`] that a [`Mirror`] follows. This project's syncer
//! takes its fence from the lease of `launchdarkly-dynamo-sync`, which builds on [`Table`].
//!
//! # Not a LaunchDarkly product
//!
//! An independent project, not made, endorsed or supported by LaunchDarkly. It supports
//! `launchdarkly-server-sdk` 3.2.x (with `launchdarkly-server-sdk-evaluation` 2.2.x) on Rust
//! 1.95 or newer.
//!
//! [LaunchDarkly Rust server SDK]: https://docs.rs/launchdarkly-server-sdk

#![warn(missing_docs)]

mod archive;
pub mod backoff;
mod bridge;
mod builder;
mod error;
mod fence;
mod generation;
mod guard;
pub mod mirror;
mod report;
pub mod schema;
mod sdk;
mod snapshot;
mod store;
mod table;

pub use archive::{ArchiveError, ArchiveRef};
pub use builder::DynamoDbStoreBuilder;
pub use error::{describe_aws_error, error_chain, StoreError};
pub use fence::Fence;
pub use generation::Generation;
pub use guard::DeletionLimit;
pub use mirror::{Mirror, MirrorSettings, MirrorStatus};
pub use report::{ApplyReport, ItemRef};
pub use schema::Kind;
pub use snapshot::{Compare, Snapshot};
#[cfg(feature = "test-support")]
pub use store::BeforeUpsertHook;
pub use store::{ApplyOptions, DynamoDbStore};
pub use table::{Table, Transacted, Update};

// The crate README's example compiles as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
