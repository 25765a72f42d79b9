//! Retry delays: the store's full-jitter backoff, so the pipeline has one.

pub use launchdarkly_dynamo_store::backoff::full_jitter;
