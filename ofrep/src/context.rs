//! An OpenFeature evaluation context as a LaunchDarkly context.
//!
//! - `targetingKey` is the context key (`key` is accepted when `targetingKey` is absent).
//! - `kind` is the context kind; `user` when absent.
//! - `kind: "multi"` makes a multi-kind context: every other attribute is one kind's context,
//!   an object mapped by the same rules (`{"kind":"multi","user":{"targetingKey":"u1"},
//!   "org":{"targetingKey":"o1","plan":"pro"}}`).
//! - `name` and `anonymous` are LaunchDarkly's built-in attributes; `privateAttributes` (an
//!   array of attribute names or `/`-references) marks attributes private for events; every
//!   other attribute is a custom attribute with its JSON value.
//!
//! The result goes through LaunchDarkly's own context parser, so what it rejects (an empty
//! kind, `kind: "kind"`, a non-string `name`, ...) is rejected here with its message.

use launchdarkly_server_sdk::Context;
use serde_json::{Map, Value};

use crate::models::ErrorCode;

/// Why a context cannot be used, as OFREP's error codes tell it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// `TARGETING_KEY_MISSING`.
    #[error("{0}")]
    TargetingKeyMissing(String),
    /// `INVALID_CONTEXT`.
    #[error("{0}")]
    Invalid(String),
}

impl ContextError {
    /// The OFREP `errorCode`.
    pub fn code(&self) -> ErrorCode {
        match self {
            ContextError::TargetingKeyMissing(_) => ErrorCode::TargetingKeyMissing,
            ContextError::Invalid(_) => ErrorCode::InvalidContext,
        }
    }
}

/// The LaunchDarkly context for an OFREP `context` object.
///
/// ```
/// use launchdarkly_dynamo_ofrep::context::to_launchdarkly;
/// use launchdarkly_dynamo_ofrep::models::ErrorCode;
/// use serde_json::json;
///
/// let ofrep = json!({"targetingKey": "acme", "kind": "org", "plan": "pro"});
/// let context = to_launchdarkly(ofrep.as_object().unwrap()).unwrap();
/// assert_eq!(context.key(), "acme");
/// assert_eq!(context.kind().to_string(), "org");
///
/// let missing = json!({"plan": "pro"});
/// assert_eq!(to_launchdarkly(missing.as_object().unwrap()).unwrap_err().code(), ErrorCode::TargetingKeyMissing);
/// ```
pub fn to_launchdarkly(context: &Map<String, Value>) -> Result<Context, ContextError> {
    let json = match context.get("kind") {
        Some(Value::String(kind)) if kind == "multi" => multi_kind(context)?,
        Some(Value::String(kind)) => single_kind(kind, context)?,
        None => single_kind("user", context)?,
        Some(other) => {
            return Err(ContextError::Invalid(format!(
                "the context's \"kind\" must be a string, not {other}"
            )))
        }
    };
    serde_json::from_value::<Context>(json).map_err(|e| {
        ContextError::Invalid(format!(
            "not a valid LaunchDarkly context: {}",
            launchdarkly_message(&e)
        ))
    })
}

fn multi_kind(context: &Map<String, Value>) -> Result<Value, ContextError> {
    let mut contexts = Map::new();
    contexts.insert("kind".into(), Value::from("multi"));
    for (kind, attributes) in context {
        if kind == "kind" || kind == "targetingKey" {
            continue;
        }
        let Value::Object(attributes) = attributes else {
            return Err(ContextError::Invalid(format!(
                "in a multi-kind context every attribute but \"kind\" is one kind's context object; \"{kind}\" is {attributes}"
            )));
        };
        contexts.insert(kind.clone(), single_kind(kind, attributes)?);
    }
    if contexts.len() == 1 {
        return Err(ContextError::Invalid(
            "a multi-kind context needs at least one kind, e.g. {\"kind\":\"multi\",\"user\":{\"targetingKey\":\"u1\"}}".into(),
        ));
    }
    Ok(Value::Object(contexts))
}

fn single_kind(kind: &str, attributes: &Map<String, Value>) -> Result<Value, ContextError> {
    let key = match attributes
        .get("targetingKey")
        .or_else(|| attributes.get("key"))
    {
        Some(Value::String(key)) if !key.is_empty() => key.clone(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(ContextError::TargetingKeyMissing(format!(
                "the \"{kind}\" context has no targetingKey"
            )))
        }
        Some(other) => {
            return Err(ContextError::Invalid(format!(
                "the \"{kind}\" context's targetingKey must be a string, not {other}"
            )))
        }
    };
    let mut json = Map::new();
    json.insert("kind".into(), Value::from(kind));
    json.insert("key".into(), Value::from(key));
    for (name, value) in attributes {
        match name.as_str() {
            "targetingKey" | "key" | "kind" | "_meta" => {}
            "privateAttributes" => {
                json.insert("_meta".into(), private_attributes(kind, value)?);
            }
            _ => {
                json.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(json))
}

fn private_attributes(kind: &str, value: &Value) -> Result<Value, ContextError> {
    let names = value
        .as_array()
        .filter(|names| names.iter().all(Value::is_string))
        .ok_or_else(|| {
            ContextError::Invalid(format!(
                "the \"{kind}\" context's privateAttributes must be an array of attribute names"
            ))
        })?;
    Ok(serde_json::json!({ "privateAttributes": names }))
}

/// serde's message without its "at line 1 column 2" tail, which means nothing to the caller.
fn launchdarkly_message(err: &serde_json::Error) -> String {
    let message = err.to_string();
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn ld(value: Value) -> Value {
        let context = to_launchdarkly(&map(value)).unwrap();
        serde_json::to_value(context).unwrap()
    }

    #[test]
    fn targeting_key_becomes_a_user_key_and_attributes_stay() {
        assert_eq!(
            ld(
                json!({"targetingKey": "u1", "email": "a@b.c", "age": 42, "tags": ["x"],
                "name": "Ann", "anonymous": true, "privateAttributes": ["email"]})
            ),
            json!({"kind": "user", "key": "u1", "email": "a@b.c", "age": 42.0, "tags": ["x"],
                "name": "Ann", "anonymous": true, "_meta": {"privateAttributes": ["email"]}})
        );
    }

    #[test]
    fn kind_and_key_fallback() {
        assert_eq!(
            ld(json!({"kind": "org", "key": "o1"})),
            json!({"kind": "org", "key": "o1"})
        );
    }

    #[test]
    fn multi_kind_contexts() {
        assert_eq!(
            ld(json!({"kind": "multi", "targetingKey": "ignored",
                "user": {"targetingKey": "u1"}, "org": {"targetingKey": "o1", "plan": "pro"}})),
            json!({"kind": "multi", "user": {"key": "u1"}, "org": {"key": "o1", "plan": "pro"}})
        );
    }

    #[test]
    fn a_missing_or_empty_key_is_targeting_key_missing() {
        for context in [
            json!({}),
            json!({"targetingKey": ""}),
            json!({"kind": "multi", "user": {"name": "x"}}),
        ] {
            let err = to_launchdarkly(&map(context.clone())).unwrap_err();
            assert_eq!(
                err.code(),
                ErrorCode::TargetingKeyMissing,
                "{context}: {err}"
            );
        }
    }

    #[test]
    fn what_launchdarkly_rejects_is_invalid_context() {
        for context in [
            json!({"targetingKey": 7}),
            json!({"targetingKey": "u", "kind": 3}),
            json!({"targetingKey": "u", "kind": "kind"}),
            json!({"targetingKey": "u", "kind": "bad kind!"}),
            json!({"targetingKey": "u", "name": 5}),
            json!({"targetingKey": "u", "privateAttributes": "email"}),
            json!({"kind": "multi"}),
            json!({"kind": "multi", "user": "u1"}),
        ] {
            let err = to_launchdarkly(&map(context.clone())).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidContext, "{context}: {err}");
            assert!(!err.to_string().contains("line 1"), "{err}");
        }
    }
}
