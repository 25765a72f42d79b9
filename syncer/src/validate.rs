//! Turns LaunchDarkly's `latest-all` body into a snapshot, checking everything before any write:
//! a body that is not an object with `flags` and `segments` objects is refused whole; an item
//! that is not an object with its own `key` and a non-negative integer `version`, does not
//! parse as the SDK's model, or has a key DynamoDB cannot store is left out and its stored row
//! kept. What is stored is LaunchDarkly's JSON for the item exactly as received: fields and
//! operators this SDK version does not know survive for the other SDKs reading the table.

use std::collections::BTreeMap;

use launchdarkly_dynamo_store::schema::unstorable_key_reason;
use launchdarkly_dynamo_store::{Kind, Snapshot};
use launchdarkly_server_sdk::{Flag, Segment, SerializedItem};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// The body is unusable as a whole; nothing may be written.
#[derive(Debug, thiserror::Error)]
#[error("the LaunchDarkly response is not a valid flag data set ({0}); nothing was written")]
pub struct InvalidBody(String);

/// An item that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Its kind, named by its namespace (`features`, `segments`) in JSON.
    #[serde(serialize_with = "namespace")]
    pub kind: Kind,
    pub key: String,
    pub reason: String,
}

fn namespace<S: serde::Serializer>(kind: &Kind, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(kind.namespace())
}

/// A validated data set.
pub struct Parsed {
    pub snapshot: Snapshot,
    pub flags: usize,
    pub segments: usize,
    pub malformed: Vec<Skipped>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    flags: Option<BTreeMap<String, &'a RawValue>>,
    #[serde(borrow, default)]
    segments: Option<BTreeMap<String, &'a RawValue>>,
}

/// The fields every item must carry, whatever its kind.
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    deleted: Option<bool>,
}

/// Parses and validates a `latest-all` body.
pub fn parse(body: &[u8]) -> Result<Parsed, InvalidBody> {
    let body: Body = serde_json::from_slice(body).map_err(|e| InvalidBody(e.to_string()))?;
    let missing = |name: &str| {
        InvalidBody(format!(
            "it has no \"{name}\" object; a partial data set would delete every stored {name}"
        ))
    };
    let flags = body.flags.ok_or_else(|| missing("flags"))?;
    let segments = body.segments.ok_or_else(|| missing("segments"))?;
    let mut parsed = Parsed {
        snapshot: Snapshot::default(),
        flags: flags.len(),
        segments: segments.len(),
        malformed: Vec::new(),
    };
    for (key, raw) in &flags {
        add::<Flag>(&mut parsed, Kind::Flags, key, raw);
    }
    for (key, raw) in &segments {
        add::<Segment>(&mut parsed, Kind::Segments, key, raw);
    }
    Ok(parsed)
}

fn add<T: serde::de::DeserializeOwned>(parsed: &mut Parsed, kind: Kind, key: &str, raw: &RawValue) {
    match check::<T>(key, raw) {
        Ok(item) => parsed.snapshot.insert(kind, key, item),
        Err(reason) => {
            tracing::error!(
                "The {} \"{key}\" from LaunchDarkly was not written and its stored copy is kept: {reason}",
                singular(kind)
            );
            parsed.snapshot.preserve(kind, key);
            parsed.malformed.push(Skipped {
                kind,
                key: key.to_string(),
                reason,
            });
        }
    }
}

/// The item as it will be stored, or why it cannot be.
fn check<T: serde::de::DeserializeOwned>(
    key: &str,
    raw: &RawValue,
) -> Result<SerializedItem, String> {
    if let Some(reason) = unstorable_key_reason(key) {
        return Err(format!("unstorable key: {reason}"));
    }
    // serde would also read a struct from an array: insist on an object.
    if !raw.get().starts_with('{') {
        return Err("malformed: not a JSON object".to_string());
    }
    let header: Header = serde_json::from_str(raw.get())
        .map_err(|e| format!("malformed: not a JSON object ({e})"))?;
    match &header.key {
        Some(Value::String(inner)) if inner == key => {}
        Some(Value::String(inner)) => {
            return Err(format!(
                "malformed: its \"key\" is \"{inner}\", not the key it is listed under"
            ))
        }
        _ => return Err("malformed: no string \"key\"".to_string()),
    }
    let version = header
        .version
        .as_ref()
        .and_then(Value::as_u64)
        .ok_or_else(|| "malformed: no non-negative integer \"version\"".to_string())?;
    // The SDK model is only a check here: what is stored is LaunchDarkly's own JSON.
    serde_json::from_str::<T>(raw.get())
        .map_err(|e| format!("malformed: not a valid item for the SDK ({e})"))?;
    Ok(SerializedItem {
        version,
        deleted: header.deleted.unwrap_or(false),
        serialized_item: raw.get().to_string(),
    })
}

fn singular(kind: Kind) -> &'static str {
    match kind {
        Kind::Flags => "flag",
        Kind::Segments => "segment",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAG: &str = r#"{"key":"f","version":3,"on":true,"targets":[],"rules":[],"prerequisites":[],"fallthrough":{"variation":0},"offVariation":1,"variations":[true,false],"salt":"s"}"#;

    #[test]
    fn valid_body() {
        let body = format!(
            r#"{{"flags":{{"f":{FLAG}}},"segments":{{"s":{{"key":"s","version":2,"included":[],"excluded":[],"rules":[],"salt":"x"}}}}}}"#
        );
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!((parsed.flags, parsed.segments), (1, 1));
        assert!(parsed.malformed.is_empty());
        assert_eq!(parsed.snapshot.items(Kind::Flags)["f"].version, 3);
        assert_eq!(
            parsed.snapshot.items(Kind::Flags)["f"].serialized_item,
            FLAG
        );
        assert_eq!(parsed.snapshot.items(Kind::Segments)["s"].version, 2);
    }

    #[test]
    fn items_are_kept_byte_for_byte_unknown_fields_and_operators_included() {
        let flag = r#"{ "key": "f", "version": 3, "on": true, "futureField": {"x": [1, 2]},
            "targets": [], "prerequisites": [],
            "rules": [{"id": "r", "clauses": [{"attribute": "a", "op": "someFutureOp", "values": ["v"], "negate": false}], "variation": 0, "trackEvents": false}],
            "fallthrough": {"variation": 0}, "offVariation": 1, "variations": [true, false], "salt": "s" }"#;
        let body = format!(r#"{{"flags":{{"f":{flag}}},"segments":{{}}}}"#);
        let parsed = parse(body.as_bytes()).unwrap();
        assert!(parsed.malformed.is_empty());
        assert_eq!(
            parsed.snapshot.items(Kind::Flags)["f"].serialized_item,
            flag
        );
    }

    #[test]
    fn items_without_their_own_key_or_a_usable_version_are_skipped() {
        let long = "k".repeat(1025);
        let cases = [
            (
                "f",
                r#"{"key":"other","version":1}"#,
                "not the key it is listed under",
            ),
            ("f", r#"{"version":1}"#, "no string \"key\""),
            ("f", r#"{"key":7,"version":1}"#, "no string \"key\""),
            ("f", r#"{"key":"f","version":-1}"#, "non-negative integer"),
            ("f", r#"{"key":"f","version":1.5}"#, "non-negative integer"),
            ("f", r#"{"key":"f"}"#, "non-negative integer"),
            ("f", r#"[1,2]"#, "not a JSON object"),
            ("f", r#""text""#, "not a JSON object"),
            ("", r#"{"key":"","version":1}"#, "empty"),
            (long.as_str(), r#"{"key":"x","version":1}"#, "1025 bytes"),
        ];
        for (key, item, reason) in cases {
            let body = format!(
                r#"{{"flags":{{"good":{FLAG_GOOD},{}:{item}}},"segments":{{}}}}"#,
                serde_json::to_string(key).unwrap()
            );
            let parsed = parse(body.as_bytes()).unwrap();
            assert_eq!(parsed.snapshot.len(Kind::Flags), 1, "{item}");
            assert_eq!(parsed.malformed.len(), 1, "{item}");
            assert_eq!(parsed.malformed[0].key, key);
            assert!(
                parsed.malformed[0].reason.contains(reason),
                "{item}: {}",
                parsed.malformed[0].reason
            );
        }
    }

    const FLAG_GOOD: &str = r#"{"key":"good","version":1,"on":false,"targets":[],"rules":[],"prerequisites":[],"variations":[true],"offVariation":0,"fallthrough":{"variation":0},"salt":"s"}"#;

    #[test]
    fn one_malformed_flag_is_preserved_not_written() {
        let body = format!(
            r#"{{"flags":{{"f":{FLAG},"bad":{{"key":"bad","version":"x"}}}},"segments":{{}}}}"#
        );
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.flags, 2);
        assert_eq!(parsed.snapshot.len(Kind::Flags), 1);
        assert_eq!(parsed.malformed.len(), 1);
        assert_eq!(parsed.malformed[0].key, "bad");
        assert_eq!(
            parsed
                .snapshot
                .preserved()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["features/bad"]
        );
    }

    #[test]
    fn unusable_bodies_are_refused_whole() {
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"null",
            b"{\"segments\":{}}",
            b"{\"flags\":{}}",
            b"{\"flags\":{},\"segments\":null}",
            b"{\"flags\":[],\"segments\":{}}",
            b"{\"flags\":{},\"segments\":\"x\"}",
            br#"{"flags":{"f":{"key":"f""#,
        ] {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let err = parse(b"{\"flags\":{}}").err().unwrap().to_string();
        assert!(err.contains("no \"segments\" object"), "{err}");
    }
}
