//! Turns LaunchDarkly's `latest-all` body into a snapshot, checking every item against the SDK's
//! model first: a body that does not parse is refused whole; one malformed item is left out and
//! its stored row kept.

use std::collections::BTreeMap;

use launchdarkly_dynamo_store::{Kind, Snapshot};
use launchdarkly_server_sdk::{Flag, Segment, SerializedItem};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The body is unusable as a whole; nothing may be written.
#[derive(Debug, thiserror::Error)]
#[error("the LaunchDarkly response is not a valid flag data set ({0}); nothing was written")]
pub struct InvalidBody(String);

/// An item that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub kind: &'static str,
    pub key: String,
    pub reason: String,
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
    #[serde(borrow)]
    flags: BTreeMap<String, &'a RawValue>,
    #[serde(borrow, default)]
    segments: BTreeMap<String, &'a RawValue>,
}

/// Parses and validates a `latest-all` body.
pub fn parse(body: &[u8]) -> Result<Parsed, InvalidBody> {
    let body: Body = serde_json::from_slice(body).map_err(|e| InvalidBody(e.to_string()))?;
    let mut parsed = Parsed {
        snapshot: Snapshot::default(),
        flags: body.flags.len(),
        segments: body.segments.len(),
        malformed: Vec::new(),
    };
    for (key, raw) in &body.flags {
        add::<Flag>(&mut parsed, Kind::Flags, key, raw, |f| f.version);
    }
    for (key, raw) in &body.segments {
        add::<Segment>(&mut parsed, Kind::Segments, key, raw, |s| s.version);
    }
    Ok(parsed)
}

fn add<T: serde::de::DeserializeOwned + Serialize>(
    parsed: &mut Parsed,
    kind: Kind,
    key: &str,
    raw: &RawValue,
    version: fn(&T) -> u64,
) {
    // Stored as the SDK itself would serialize it, so every reader sees one canonical form.
    let item = serde_json::from_str::<T>(raw.get()).and_then(|model| {
        serde_json::to_string(&model).map(|json| SerializedItem {
            version: version(&model),
            deleted: false,
            serialized_item: json,
        })
    });
    match item {
        Ok(item) => parsed.snapshot.insert(kind, key, item),
        Err(err) => {
            tracing::error!(
                "The {} \"{key}\" from LaunchDarkly does not parse as the SDK's model and was not written; its stored copy is kept: {err}",
                singular(kind)
            );
            parsed.snapshot.preserve(kind, key);
            parsed.malformed.push(Skipped {
                kind: kind.namespace(),
                key: key.to_string(),
                reason: format!("malformed: {err}"),
            });
        }
    }
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
        assert_eq!(parsed.snapshot.items(Kind::Segments)["s"].version, 2);
    }

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
            b"{\"segments\":{}}",
            br#"{"flags":{"f":{"key":"f""#,
        ] {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
