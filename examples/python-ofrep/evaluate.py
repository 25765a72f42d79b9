"""Evaluates flags through OFREP with OpenFeature's Python SDK, as a Python function using the
launchdarkly-ofrep layer does. Reads a JSON list of cases on stdin:
    [{"flag": "new-checkout", "type": "boolean", "default": false,
      "context": {"targetingKey": "user-1", "plan": "pro"}}, ...]
and prints one JSON list with each case's value, reason, variant, error code and metadata.

    OFREP_ENDPOINT=http://127.0.0.1:8016 python evaluate.py < cases.json

The endpoint is OpenFeature's OFREP_ENDPOINT variable (default: the extension on port 8016), or
the first argument.
"""

import json
import os
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext


def enum_value(value):
    return getattr(value, "value", value)


def main() -> None:
    endpoint = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OFREP_ENDPOINT", "http://127.0.0.1:8016")
    api.set_provider(OFREPProvider(base_url=endpoint, timeout=2.0))
    client = api.get_client()
    details = {
        "boolean": client.get_boolean_details,
        "string": client.get_string_details,
        "integer": client.get_integer_details,
        "float": client.get_float_details,
        "object": client.get_object_details,
    }
    results = []
    for case in json.load(sys.stdin):
        attributes = dict(case.get("context", {}))
        context = EvaluationContext(attributes.pop("targetingKey", None), attributes)
        detail = details[case["type"]](case["flag"], case["default"], context)
        results.append({
            "flag": case["flag"],
            "value": detail.value,
            "reason": enum_value(detail.reason),
            "variant": detail.variant,
            "errorCode": enum_value(detail.error_code),
            "metadata": dict(detail.flag_metadata or {}),
        })
    print(json.dumps(results))


if __name__ == "__main__":
    main()
