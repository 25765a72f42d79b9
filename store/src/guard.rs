//! The guard against mass deletion: a data set that would delete every stored flag, or a large
//! share of them, is far more often a mistake (the SDK key of another, empty environment, a
//! Relay Proxy serving nothing yet) than a clean-up. It is refused before anything is written.

/// How many of the stored flags one apply may delete.
///
/// ```
/// use launchdarkly_dynamo_store::DeletionLimit;
///
/// let limit = DeletionLimit::share(50);
/// assert!(limit.refuses(10, 10)); // every stored flag
/// assert!(limit.refuses(40, 60)); // more than half, and more than a handful
/// assert!(!limit.refuses(3, 5)); // a handful is always allowed, unless it is all of them
/// assert!(!DeletionLimit::Unlimited.refuses(10, 10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionLimit {
    /// Refuse deleting every stored flag, or more than this percentage of them when more than
    /// [`DeletionLimit::ALWAYS_ALLOWED`] would go.
    Share(u8),
    /// Delete whatever the data set no longer has (a deliberate clean-up).
    Unlimited,
}

impl DeletionLimit {
    /// Deleting this many flags is never refused for its share alone (small environments
    /// often lose several of a few flags at once), unless they are every stored flag.
    pub const ALWAYS_ALLOWED: usize = 5;

    /// A share limit in percent (values above 100 mean 100).
    pub fn share(percent: u8) -> Self {
        DeletionLimit::Share(percent.min(100))
    }

    /// True when deleting `deleting` of the `stored` flags is refused.
    pub fn refuses(self, deleting: usize, stored: usize) -> bool {
        match self {
            DeletionLimit::Unlimited => false,
            _ if deleting == 0 => false,
            DeletionLimit::Share(_) if deleting >= stored => true,
            DeletionLimit::Share(percent) => {
                deleting > Self::ALWAYS_ALLOWED && deleting * 100 > stored * usize::from(percent)
            }
        }
    }

    /// The share allowed, in percent (100 when unlimited).
    pub fn percent(self) -> u8 {
        match self {
            DeletionLimit::Share(percent) => percent,
            DeletionLimit::Unlimited => 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_is_refused_even_a_single_one() {
        assert!(DeletionLimit::share(100).refuses(1, 1));
        assert!(DeletionLimit::share(100).refuses(25, 25));
        assert!(!DeletionLimit::share(100).refuses(24, 25));
    }

    #[test]
    fn the_share_counts_beyond_a_handful() {
        let limit = DeletionLimit::share(50);
        assert!(!limit.refuses(5, 6));
        assert!(!limit.refuses(6, 12));
        assert!(limit.refuses(7, 12));
        assert!(!limit.refuses(0, 0));
        assert!(!limit.refuses(0, 10));
        assert!(DeletionLimit::share(0).refuses(6, 1000));
        assert!(!DeletionLimit::share(0).refuses(5, 1000));
    }
}
