"""Turns the JSON that `syncer sync` and `example-reader eval` print into readable demo lines.

    syncer sync | python scripts/demo_format.py summary
    example-reader eval FLAG --key WHO | python scripts/demo_format.py eval WHO
"""
import json
import sys


def summary(s):
    return (f"  {s['flags']} flags, {s['segments']} segments from LaunchDarkly: "
            f"{s['written']} written, {s['unchanged']} unchanged, {s['deleted']} deleted ({s['ms']} ms)")


def evaluation(r, who):
    reason = r["reason"]
    why = reason["kind"]
    if why == "RULE_MATCH":
        why += " " + reason.get("ruleId", "")
    elif why == "ERROR":
        why += " " + reason.get("errorKind", "")
    return f"  {r['flag']:<17} {who:<6} -> {json.dumps(r['value']):<16} ({why})"


if __name__ == "__main__":
    data = json.load(sys.stdin)
    if sys.argv[1] == "summary":
        print(summary(data))
    else:
        print(evaluation(data, sys.argv[2]))
