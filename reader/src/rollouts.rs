//! Whether an evaluation's variation was picked by a percentage rollout. LaunchDarkly's reason
//! says which rule matched, not whether that rule split traffic; OpenFeature's `SPLIT` reason
//! needs the second fact, read here from the flag's JSON in the mirror (no DynamoDB request).

use launchdarkly_server_sdk::Reason;
use serde::Deserialize;

#[derive(Deserialize)]
struct FlagModel {
    #[serde(default)]
    rules: Vec<Serving>,
    #[serde(default)]
    fallthrough: Serving,
}

#[derive(Deserialize, Default)]
struct Serving {
    rollout: Option<serde::de::IgnoredAny>,
}

/// True when `reason` points at a rule or fallthrough of `flag_json` that serves a rollout.
pub(crate) fn served_by_rollout(flag_json: &str, reason: &Reason) -> bool {
    let rule = match reason {
        Reason::RuleMatch { rule_index, .. } => Some(*rule_index),
        Reason::Fallthrough { .. } => None,
        _ => return false,
    };
    let Ok(flag) = serde_json::from_str::<FlagModel>(flag_json) else {
        return false;
    };
    match rule {
        Some(index) => flag.rules.get(index).is_some_and(|r| r.rollout.is_some()),
        None => flag.fallthrough.rollout.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_fallthrough_rollouts_are_told_apart() {
        let flag = r#"{"key":"f","rules":[{"variation":0},{"rollout":{"variations":[]}}],
            "fallthrough":{"rollout":{"variations":[]}}}"#;
        let rule = |rule_index| Reason::RuleMatch {
            rule_index,
            rule_id: String::new(),
            in_experiment: false,
        };
        assert!(!served_by_rollout(flag, &rule(0)));
        assert!(served_by_rollout(flag, &rule(1)));
        assert!(!served_by_rollout(flag, &rule(7)));
        assert!(served_by_rollout(
            flag,
            &Reason::Fallthrough {
                in_experiment: false
            }
        ));
        assert!(!served_by_rollout(flag, &Reason::Off));
        let fixed = r#"{"fallthrough":{"variation":1}}"#;
        assert!(!served_by_rollout(
            fixed,
            &Reason::Fallthrough {
                in_experiment: false
            }
        ));
    }
}
