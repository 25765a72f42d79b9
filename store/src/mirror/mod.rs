//! A read-only, in-memory copy of one table's flags and segments, kept current by the data
//! generation the syncer commits: what daemon-mode readers evaluate from, so an answer never
//! waits on DynamoDB and a failing DynamoDB never turns an answer into an error.
//!
//! - Loading: the first load starts at once, in the background. Until it succeeds, reads fail
//!   with the reason ([`ReadFailure`]), never as if flags were missing.
//! - Freshness: at most once per [`MirrorSettings::freshness`] (on demand: [`Mirror::check`] from
//!   every read, [`Mirror::check_within`] where a caller can afford a short wait), one small
//!   `GetItem` of the generation row tells whether the data changed. The next generation names
//!   the items its sync changed, and only those are read; a reader further behind, or a
//!   generation that asks for it, reloads everything. A table no syncer of this project writes
//!   (official SDKs, Relay Proxy: no generation row) is reloaded whole once per
//!   [`MirrorSettings::fallback_ttl`].
//! - Outages: every DynamoDB call runs under a deadline. When one fails or stalls, the copy
//!   stays as it was and is served, marked stale ([`MirrorStatus`]); one WARN line on going
//!   stale, one INFO line on recovery, and the next check one freshness interval later.

mod ahead;
mod data;
mod item;
mod refresh;
mod sdk;
mod status;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use launchdarkly_server_sdk::SerializedItem;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::schema::Kind;
use crate::store::DynamoDbStore;

pub use data::{ItemMap, MirrorData};
pub use item::StoredItem;
pub use status::{FailureKind, MirrorState, MirrorStatus, ReadFailure};

use ahead::ReadAhead;
use status::Health;

/// How a [`Mirror`] keeps its copy current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorSettings {
    /// Longest time between two checks of the generation row while the copy is read (default
    /// 1 s): a synced change reaches readers within about this long.
    pub freshness: Duration,
    /// A table without a generation row (written by another writer) is reloaded whole this
    /// often (default 30 s, the official SDKs' cache TTL order).
    pub fallback_ttl: Duration,
    /// Deadline of one check of the generation row (default 800 ms).
    pub check_timeout: Duration,
    /// Deadline of a reload, whole or partial (default 5 s).
    pub load_timeout: Duration,
}

impl Default for MirrorSettings {
    fn default() -> Self {
        Self {
            freshness: Duration::from_secs(1),
            fallback_ttl: Duration::from_secs(30),
            check_timeout: Duration::from_millis(800),
            load_timeout: Duration::from_secs(5),
        }
    }
}

/// The in-memory copy of a table's flags and segments, shared by every clone. Built by
/// [`DynamoDbStoreBuilder::build_mirror`](crate::DynamoDbStoreBuilder::build_mirror); give it
/// to the SDK as its persistent store factory (with the SDK's own cache off), or read it
/// directly.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use launchdarkly_dynamo_store::DynamoDbStoreBuilder;
/// use launchdarkly_server_sdk::{Client, ConfigBuilder, PersistentDataStoreBuilder};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let mirror = DynamoDbStoreBuilder::new("launchdarkly-staging")
///     .freshness(Duration::from_secs(1))
///     .build_mirror()
///     .await?;
/// // The mirror is the cache: the SDK's own would only delay changes.
/// let mut data_store = PersistentDataStoreBuilder::new(Arc::new(mirror.clone()));
/// data_store.no_caching();
/// let config = ConfigBuilder::new("sdk-key").daemon_mode(true).data_store(&data_store).build()?;
/// let client = Client::build(config)?;
/// client.start_with_default_executor();
/// mirror.check_within(Duration::from_secs(1)).await;
/// println!("{:?}", mirror.status().state);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Mirror {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynamoDbStore,
    settings: MirrorSettings,
    runtime: Handle,
    data: RwLock<Option<Arc<MirrorData>>>,
    /// Items read ahead for evaluations that came before the first copy.
    ahead: Mutex<ReadAhead>,
    health: Mutex<Health>,
    /// When the last check started; `None` before the first.
    last_check: Mutex<Option<Instant>>,
    refreshing: AtomicBool,
    /// Counts finished refreshes, for callers waiting on one.
    finished: watch::Sender<u64>,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("store", &self.inner.store)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl Mirror {
    /// A mirror of `store` whose refreshes run on `runtime`; the first load starts now.
    pub(crate) fn start(store: DynamoDbStore, settings: MirrorSettings, runtime: Handle) -> Self {
        let mirror = Self {
            inner: Arc::new(Inner {
                store,
                settings,
                runtime,
                data: RwLock::new(None),
                ahead: Mutex::new(ReadAhead::default()),
                health: Mutex::new(Health::default()),
                last_check: Mutex::new(None),
                refreshing: AtomicBool::new(false),
                finished: watch::channel(0).0,
            }),
        };
        mirror.check();
        mirror
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &MirrorSettings {
        &self.inner.settings
    }

    /// The store it copies.
    pub fn store(&self) -> &DynamoDbStore {
        &self.inner.store
    }

    /// Starts a check in the background if one is due (none for a freshness interval, none
    /// running). Never waits.
    pub fn check(&self) {
        self.start_refresh_if_due();
    }

    /// Starts a check if one is due, then waits at most `wait` for the check running to end.
    /// Returns true when no check is running any more (the copy is as current as DynamoDB
    /// allowed); false when the wait ran out (the copy is served as it is).
    pub async fn check_within(&self, wait: Duration) -> bool {
        self.start_refresh_if_due();
        self.await_check(wait).await
    }

    /// Waits at most `wait` for a check that is running to end; starts none. In Lambda, call it
    /// before the environment may freeze, so that no check is frozen half-way (its deadline
    /// would pass during the freeze and make the data look stale at the next thaw).
    pub async fn await_check(&self, wait: Duration) -> bool {
        let mut finished = self.inner.finished.subscribe();
        let seen = *finished.borrow_and_update();
        if !self.inner.refreshing.load(Ordering::SeqCst) {
            return true;
        }
        let ended = async move { finished.wait_for(|count| *count > seen).await.is_ok() };
        tokio::time::timeout(wait, ended).await.unwrap_or(false)
    }

    /// Waits at most `limit` for the first copy of the table: `Ok` once there is one (current,
    /// or stale after a later failure). Otherwise why not, at once when waiting cannot help
    /// (the table was never synced for this prefix, or the last attempt failed in a way only a
    /// fix of a setting, a policy or the table cures: a missing table, refused credentials, the
    /// wrong key schema), else at the limit with the last failure (or
    /// [`ReadFailure::Loading`]). Call it at startup to fail a service's init clearly instead of
    /// answering every evaluation with its default.
    pub async fn wait_for_first_load(&self, limit: Duration) -> Result<(), ReadFailure> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(outcome) = self.first_load_outcome() {
                return outcome;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.not_loaded());
            }
            let step = left.min(self.inner.settings.freshness);
            let started = Instant::now();
            self.check_within(step).await;
            if let Some(outcome) = self.first_load_outcome() {
                return outcome;
            }
            // The check ended before its interval: the next one is due only then.
            tokio::time::sleep(step.saturating_sub(started.elapsed())).await;
        }
    }

    /// What [`Self::wait_for_first_load`] answers now, if waiting longer cannot change it.
    fn first_load_outcome(&self) -> Option<Result<(), ReadFailure>> {
        match self.status().state {
            MirrorState::Current | MirrorState::Stale => Some(Ok(())),
            MirrorState::NeverSynced | MirrorState::Misconfigured => Some(Err(self.not_loaded())),
            MirrorState::Loading => None,
        }
    }

    /// True while the last check could not read DynamoDB (a table found never synced is an
    /// answer, not a failure). Cheap enough for every request, unlike [`Self::status`], which
    /// counts the copy's items.
    pub fn last_check_failed(&self) -> bool {
        self.inner.health.lock().is_ok_and(|health| {
            health.failing && !matches!(health.last_error, Some(ReadFailure::NeverSynced { .. }))
        })
    }

    /// How long since DynamoDB last confirmed what answers come from: the copy, or before it
    /// the point reads. Cheap enough for every request, like [`Self::last_check_failed`].
    pub fn data_age(&self) -> Option<Duration> {
        self.confirmed_at()
            .map(|at| SystemTime::now().duration_since(at).unwrap_or_default())
    }

    fn confirmed_at(&self) -> Option<SystemTime> {
        let copy = self.inner.health.lock().ok().and_then(|h| h.confirmed_at);
        let loaded = self.inner.data.read().is_ok_and(|d| d.is_some());
        match (copy, loaded) {
            (Some(at), _) => Some(at),
            // Answers before the copy come from point reads: as old as those.
            (None, false) => self.inner.ahead.lock().ok().and_then(|a| a.confirmed_at()),
            (None, true) => None,
        }
    }

    /// The copy, or why there is none yet.
    pub fn data(&self) -> Result<Arc<MirrorData>, ReadFailure> {
        let data = self.inner.data.read().ok().and_then(|d| d.clone());
        match data {
            Some(data) => Ok(data),
            None => Err(self.not_loaded()),
        }
    }

    /// One item from the copy (tombstones included), or why there is no copy. Before the
    /// first copy, an item [`Mirror::read_ahead`] read.
    pub fn get(&self, kind: Kind, key: &str) -> Result<Option<SerializedItem>, ReadFailure> {
        match self.data() {
            Ok(data) => Ok(data.items(kind).get(key).map(|item| item.to_serialized())),
            Err(failure) => {
                let Ok(ahead) = self.inner.ahead.lock() else {
                    return Err(failure);
                };
                match (ahead.get(kind, key), failure) {
                    (Some(item), _) => Ok(item),
                    (None, ReadFailure::Loading) => {
                        Err(ahead.failure().unwrap_or(ReadFailure::Loading))
                    }
                    (None, failure) => Err(failure),
                }
            }
        }
    }

    /// True when there is a copy, or items read ahead of it (a table known to be synced).
    pub fn can_answer(&self) -> bool {
        self.data().is_ok() || self.inner.ahead.lock().is_ok_and(|a| a.initialized())
    }

    /// Store state, generation, data age and last error, as health routes report them.
    pub fn status(&self) -> MirrorStatus {
        let data = self.inner.data.read().ok().and_then(|d| d.clone());
        let mut status = self.health().status(data.as_deref());
        status.confirmed_at = self.confirmed_at();
        status
    }

    fn not_loaded(&self) -> ReadFailure {
        self.health()
            .last_error
            .clone()
            .unwrap_or(ReadFailure::Loading)
    }

    fn health(&self) -> Health {
        self.inner
            .health
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    fn start_refresh_if_due(&self) {
        let due = match self.inner.last_check.lock() {
            Ok(mut last) => {
                let due = last.is_none_or(|at| at.elapsed() >= self.inner.settings.freshness);
                if due && !self.inner.refreshing.load(Ordering::SeqCst) {
                    *last = Some(Instant::now());
                }
                due
            }
            Err(_) => true,
        };
        if !due
            || self
                .inner
                .refreshing
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return;
        }
        let mirror = self.clone();
        self.inner.runtime.spawn(async move {
            mirror.refresh().await;
            mirror.inner.refreshing.store(false, Ordering::SeqCst);
            mirror.inner.finished.send_modify(|count| *count += 1);
        });
    }
}
