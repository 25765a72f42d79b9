//! OpenFeature's Remote Evaluation Protocol (OFREP, `open-feature/protocol`
//! `service/openapi.yaml`, v0.3.0) over the pipeline's read engine, so OFREP providers in any
//! language evaluate LaunchDarkly flags from the DynamoDB table without LaunchDarkly's SDK:
//! `POST /ofrep/v1/evaluate/flags/{key}` and the bulk `POST /ofrep/v1/evaluate/flags` (strong
//! `ETag`, `If-None-Match`).
//!
//! Layers, as in flagd: [`models`] (the wire types), [`context`] (OpenFeature context →
//! LaunchDarkly context), [`mapping`] (LaunchDarkly evaluation → OFREP answer) and [`routes`]
//! (handlers that only route).

pub mod context;
pub mod mapping;
pub mod models;
pub mod routes;

pub use routes::{router, MAX_BODY, PATH};
