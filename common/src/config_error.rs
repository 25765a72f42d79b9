//! The error of settings that are missing, contradict one another or are invalid: its own
//! module, so the AWS setup and the settings can both name it without importing each other.

/// A setting is missing or contradicts another.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set: {1}")]
    Missing(&'static str, &'static str),
    #[error("{0} and {1} are both set: set only one")]
    Conflict(&'static str, &'static str),
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, String),
}
