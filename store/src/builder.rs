//! The public face: a builder that makes the async store and plugs into the SDK as its
//! `PersistentDataStoreFactory`.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::Client;
use launchdarkly_server_sdk::{PersistentDataStore, PersistentDataStoreFactory};

use crate::bridge::Bridge;
use crate::error::StoreError;
use crate::mirror::{Mirror, MirrorSettings};
use crate::sdk::SdkDataStore;
#[cfg(feature = "test-support")]
use crate::store::BeforeUpsertHook;
use crate::store::DynamoDbStore;
use crate::table::WriteSettings;

/// Timeouts applied when the store loads the AWS configuration itself, so an unreachable
/// endpoint gives an error instead of a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone)]
enum ClientSource {
    /// The standard AWS chain: environment, profile, `AWS_ENDPOINT_URL`, region.
    Default,
    Client(Client),
}

/// Configures a DynamoDB data store for LaunchDarkly.
///
/// Give it to the SDK with `PersistentDataStoreBuilder::new(Arc::new(builder))`, or call
/// [`DynamoDbStoreBuilder::build`] for the async [`DynamoDbStore`]. See the
/// [crate documentation](crate) for complete examples.
#[derive(Clone)]
pub struct DynamoDbStoreBuilder {
    table: String,
    prefix: Option<String>,
    source: ClientSource,
    write: WriteSettings,
    #[cfg(feature = "test-support")]
    before_upsert: Option<BeforeUpsertHook>,
    mirror: MirrorSettings,
}

impl DynamoDbStoreBuilder {
    /// A store over `table`, which must already exist with partition key `namespace` (S) and
    /// sort key `key` (S). An empty name is reported as [`StoreError::EmptyTableName`] when the
    /// store is built.
    ///
    /// Also installs rustls's aws-lc-rs crypto provider as the process default if none is
    /// installed yet: the AWS SDK and the LaunchDarkly SDK enable two different providers, and
    /// with both rustls refuses to choose, so the SDK would panic when it builds its HTTPS
    /// transport (streaming, analytics events).
    pub fn new(table: impl Into<String>) -> Self {
        install_crypto_provider();
        Self {
            table: table.into(),
            prefix: None,
            source: ClientSource::Default,
            write: WriteSettings::default(),
            #[cfg(feature = "test-support")]
            before_upsert: None,
            mirror: MirrorSettings::default(),
        }
    }

    /// Shares the table with other data sets: a non-empty prefix `p` stores items under the
    /// namespaces `p:features`, `p:segments` and `p:$inited`, as the official SDKs do.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.prefix = (!prefix.is_empty()).then_some(prefix);
        self
    }

    /// Uses a ready DynamoDB client (its own timeouts and retries apply).
    pub fn client(mut self, client: Client) -> Self {
        self.source = ClientSource::Client(client);
        self
    }

    /// How many `BatchWriteItem` requests a snapshot apply keeps in flight (default 8).
    pub fn batch_write_concurrency(mut self, concurrency: usize) -> Self {
        self.write.concurrency = concurrency.max(1);
        self
    }

    /// How long throttled or unprocessed batch items are retried before an apply fails and
    /// names them (default 30 s).
    pub fn write_deadline(mut self, deadline: Duration) -> Self {
        self.write.deadline = deadline;
        self
    }

    /// How often a [`Mirror`] checks whether the synced data changed (default 1 s): changes
    /// reach its readers within about this long.
    pub fn freshness(mut self, freshness: Duration) -> Self {
        self.mirror.freshness = freshness;
        self
    }

    /// All the settings of the [`Mirror`] that [`build_mirror`](Self::build_mirror) makes.
    pub fn mirror_settings(mut self, settings: MirrorSettings) -> Self {
        self.mirror = settings;
        self
    }

    /// Builds a read-only in-memory [`Mirror`] of the table for daemon-mode readers, on the
    /// current tokio runtime: answers from memory, fresh within the freshness interval while
    /// a syncer of this project maintains the table, and served as last read through DynamoDB
    /// outages. Its first load starts at once, in the background.
    pub async fn build_mirror(&self) -> Result<Mirror, StoreError> {
        let store = self.build().await?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| StoreError::Setup(format!("a mirror needs a tokio runtime: {e}")))?;
        Ok(Mirror::start(store, self.mirror.clone(), runtime))
    }

    /// Runs `hook` before each upsert's write (the official stores' concurrent-modification
    /// test hook). Only with the `test-support` feature.
    #[cfg(feature = "test-support")]
    pub fn before_upsert_hook(mut self, hook: BeforeUpsertHook) -> Self {
        self.before_upsert = Some(hook);
        self
    }

    /// Builds the async store. Loads the AWS configuration if no client was given.
    pub async fn build(&self) -> Result<DynamoDbStore, StoreError> {
        if self.table.trim().is_empty() {
            return Err(StoreError::EmptyTableName);
        }
        let client = match &self.source {
            ClientSource::Client(client) => client.clone(),
            ClientSource::Default => Client::new(&default_sdk_config().await),
        };
        DynamoDbStore::new(
            client,
            self.table.clone(),
            self.prefix.clone(),
            self.write.clone(),
            #[cfg(feature = "test-support")]
            self.before_upsert.clone(),
        )
    }
}

/// Installs aws-lc-rs (the AWS SDK's provider) as rustls's process default, unless the
/// application already installed one.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: fine either way.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// The standard AWS configuration chain with the store's timeouts.
async fn default_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

impl PersistentDataStoreFactory for DynamoDbStoreBuilder {
    fn create_persistent_data_store(&self) -> Result<Box<dyn PersistentDataStore>, std::io::Error> {
        let build = || -> Result<SdkDataStore, StoreError> {
            if self.table.trim().is_empty() {
                return Err(StoreError::EmptyTableName);
            }
            let bridge = Bridge::new()?;
            let builder = self.clone();
            let store = bridge.run(async move { builder.build().await })?;
            Ok(SdkDataStore::new(store, bridge))
        };
        match build() {
            Ok(store) => Ok(Box::new(store)),
            Err(err) => Err(std::io::Error::other(err.to_string())),
        }
    }
}
