//! The JSON the harness sends and expects (sdk-test-harness `servicedef`). Parsed leniently:
//! every option the harness does not use arrives as an explicit `null`, and unknown fields are
//! ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /`: create a client.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateInstance {
    #[serde(default)]
    pub tag: Option<String>,
    pub configuration: Configuration,
}

/// The SDK configuration a test asks for.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    pub credential: String,
    #[serde(default)]
    pub start_wait_time_ms: Option<u64>,
    #[serde(default)]
    pub streaming: Option<Streaming>,
    #[serde(default)]
    pub polling: Option<Polling>,
    #[serde(default)]
    pub events: Option<Events>,
    #[serde(default)]
    pub persistent_data_store: Option<PersistentDataStore>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Streaming {
    #[serde(default)]
    pub base_uri: Option<String>,
    #[serde(default)]
    pub initial_retry_delay_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Polling {
    #[serde(default)]
    pub base_uri: Option<String>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Events {
    #[serde(default)]
    pub base_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentDataStore {
    pub store: Store,
    #[serde(default)]
    pub cache: Option<Cache>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub dsn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cache {
    #[serde(default)]
    pub mode: Option<CacheMode>,
    #[serde(default)]
    pub ttl: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    Off,
    Ttl,
    Infinite,
}

/// `POST /clients/{id}`: one command.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    pub command: String,
    #[serde(default)]
    pub evaluate: Option<Evaluate>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluate {
    pub flag_key: String,
    #[serde(default)]
    pub context: Option<Value>,
    #[serde(default)]
    pub value_type: Option<String>,
    #[serde(default)]
    pub default_value: Value,
    #[serde(default)]
    pub detail: bool,
}

/// The answer to `evaluate`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variation_index: Option<isize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_absent_option_may_be_an_explicit_null() {
        let body = r#"{"tag":"t","configuration":{"credential":"test-sdk-key","startWaitTimeMs":null,
            "initCanFail":null,"serviceEndpoints":null,"streaming":null,"polling":null,"events":null,
            "tags":null,"clientSide":null,"bigSegments":null,"hooks":null,"wrapper":null,"proxy":null,
            "persistentDataStore":{"store":{"type":"dynamodb","prefix":null,"dsn":"http://127.0.0.1:8000"},
            "cache":{"mode":"ttl","ttl":null}}}}"#;
        let create: CreateInstance = serde_json::from_str(body).unwrap();
        let store = create.configuration.persistent_data_store.unwrap();
        assert_eq!(store.store.kind, "dynamodb");
        assert_eq!(store.store.prefix, None);
        assert_eq!(store.cache.unwrap().mode, Some(CacheMode::Ttl));
        assert!(create.configuration.streaming.is_none());
    }

    #[test]
    fn evaluate_commands_parse_with_or_without_detail() {
        let body = r#"{"command":"evaluate","evaluate":{"flagKey":"f","context":{"kind":"user","key":"u"},
            "valueType":"any","defaultValue":"default","detail":true},"evaluateAll":null}"#;
        let command: Command = serde_json::from_str(body).unwrap();
        let evaluate = command.evaluate.unwrap();
        assert_eq!(evaluate.flag_key, "f");
        assert!(evaluate.detail);
    }
}
