//! Retry delays: exponential backoff with full jitter, the one implementation every writer and
//! reader of the pipeline uses.

use std::time::Duration;

use rand::Rng;

/// A delay drawn uniformly from `[0, min(cap, base × 2^attempt)]` (attempt 0 is the first
/// retry): spreads out retries of many clients that failed at the same moment.
///
/// ```
/// use std::time::Duration;
/// use launchdarkly_dynamo_store::backoff::full_jitter;
///
/// let delay = full_jitter(3, Duration::from_millis(25), Duration::from_secs(2));
/// assert!(delay <= Duration::from_millis(200));
/// ```
pub fn full_jitter(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(cap);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_stays_under_the_cap() {
        let base = Duration::from_millis(10);
        let cap = Duration::from_millis(500);
        for attempt in 0..40 {
            let ceiling = base
                .saturating_mul(2u32.saturating_pow(attempt.min(16)))
                .min(cap);
            for _ in 0..20 {
                assert!(
                    full_jitter(attempt, base, cap) <= ceiling,
                    "attempt {attempt}"
                );
            }
        }
    }
}
