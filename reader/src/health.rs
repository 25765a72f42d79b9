//! A reader's health as a person and a monitor read it: store state, generation, data age,
//! last error (its category and what to check: no AWS detail).

use std::time::UNIX_EPOCH;

use launchdarkly_dynamo_common::rfc3339;
use launchdarkly_dynamo_store::mirror::{FailureKind, MirrorState, MirrorStatus};
use serde::Serialize;

/// The body of the health routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `LOADING`, `NEVER_SYNCED`, `MISCONFIGURED`, `CURRENT` or `STALE`.
    pub state: MirrorState,
    /// True when evaluations can be answered (from current or stale data).
    pub serving: bool,
    /// The data generation served (absent for a table another writer maintains).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Seconds since DynamoDB last confirmed the data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_age_seconds: Option<u64>,
    /// When the syncer last synced successfully (RFC 3339), if the table says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    /// Live flags and segments held.
    pub flags: usize,
    pub segments: usize,
    /// The last failure to read the store, if any (kept after recovery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
}

/// A failure to read the store, as callers may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub kind: FailureKind,
    pub hint: &'static str,
    /// When it happened (RFC 3339).
    pub at: Option<String>,
}

impl Health {
    /// The health a mirror status shows.
    pub fn of(status: &MirrorStatus) -> Self {
        Self {
            state: status.state,
            serving: matches!(status.state, MirrorState::Current | MirrorState::Stale),
            generation: status.generation,
            data_age_seconds: status.data_age().map(|age| age.as_secs()),
            last_sync: status.synced_at.filter(|at| *at > UNIX_EPOCH).map(rfc3339),
            flags: status.flags,
            segments: status.segments,
            last_error: status.last_error.as_ref().map(|failure| LastError {
                kind: failure.kind(),
                hint: failure.kind().hint(),
                at: status.last_error_at.map(rfc3339),
            }),
        }
    }
}
