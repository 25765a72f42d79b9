"""OFREP conformance of a running server against the official OpenAPI document.

    python conformance/ofrep.py --url http://127.0.0.1:8016 --down-url http://127.0.0.1:8017 \
        --flag payments-enabled --report-dir target/ofrep-conformance

1. Explicit cases, one per status code the server produces (200, 304, 400 with each error code,
   404, 500), each response validated against the document's schema for that status.
2. Schemathesis: property-based requests generated from the document (examples, coverage and
   fuzzing phases, fixed seed), every response checked (status codes, content types, headers,
   schemas, negative data rejected).

Two changes are made to the document before checking, and only these:

- A correction. As published it rejects every success it describes: `evaluationSuccess`
  combines the value schemas with `oneOf`, and `codeDefaultFlag` (an object with no
  constraints) matches every success, so a response with a `value` always matches two of them
  (and an integer matches both `integerFlag` and `floatFlag`); the document's own example fails
  it. `oneOf` is read as `anyOf` there.
- LaunchDarkly's context rules, declared. The document allows any `context` with a string
  `targetingKey`; a LaunchDarkly context also needs a non-empty key, a kind made of letters,
  digits, `.`, `_` and `-` (not `kind`; `multi` is the multi-kind form, checked by the explicit
  cases and the unit tests), a string (or null) `name`, a boolean (or null) `anonymous` and a list of
  `privateAttributes`. The server answers other contexts 400 (`TARGETING_KEY_MISSING` or
  `INVALID_CONTEXT`, as OFREP defines); declaring the rules lets schemathesis check both sides:
  every context inside them is evaluated, every one outside them is refused.
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "ofrep-openapi.yaml")
SINGLE = "/ofrep/v1/evaluate/flags/{key}"
BULK = "/ofrep/v1/evaluate/flags"


LAUNCHDARKLY_CONTEXT_RULES = {
    "targetingKey": {"type": "string", "minLength": 1},
    # `kind` itself and `multi` are also special; the explicit cases and unit tests cover them.
    "kind": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"},
    "name": {"type": ["string", "null"]},
    "anonymous": {"type": ["boolean", "null"]},
    "privateAttributes": {"type": "array", "items": {"type": "string"}},
}


def corrected(spec):
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    for part in schemas["evaluationSuccess"]["allOf"]:
        if "oneOf" in part:
            part["anyOf"] = part.pop("oneOf")
    schemas["context"]["properties"].update(LAUNCHDARKLY_CONTEXT_RULES)
    return spec


def call(base, path, body, headers=None):
    request = urllib.request.Request(
        base + path, data=body.encode(), method="POST",
        headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Checker:
    def __init__(self, spec):
        self.spec = spec
        self.failures = []
        self.passed = 0

    def response_schema(self, path, status):
        response = self.spec["paths"][path]["post"]["responses"].get(str(status))
        if response is None:
            return None, False
        content = response.get("content", {}).get("application/json")
        return (content or {}).get("schema"), True

    def check(self, name, base, path, route, body, status, headers=None, expect=None):
        got, response_headers, raw = call(base, path, body, headers)
        problems = []
        if got != status:
            problems.append(f"status {got}, expected {status}")
        schema, documented = self.response_schema(route, got)
        if not documented:
            problems.append(f"status {got} is not documented for {route}")
        parsed = None
        if raw:
            content_type = response_headers.get("content-type", response_headers.get("Content-Type", ""))
            if "application/json" not in content_type:
                problems.append(f"content-type {content_type!r}")
            try:
                parsed = json.loads(raw)
            except ValueError:
                problems.append(f"body is not JSON: {raw[:200]!r}")
        if schema is not None and parsed is not None:
            validator = jsonschema.Draft202012Validator({**schema, "components": self.spec["components"]})
            problems += [f"schema: {e.message[:200]}" for e in validator.iter_errors(parsed)]
        if expect and parsed is not None:
            for key, value in expect.items():
                if parsed.get(key) != value:
                    problems.append(f"{key} = {parsed.get(key)!r}, expected {value!r}")
        if problems:
            self.failures.append(f"{name}: " + "; ".join(problems) + f" (body {raw[:300]!r})")
        else:
            self.passed += 1
        return response_headers, parsed


def explicit_cases(checker, url, down_url, flag):
    context = json.dumps({"context": {"targetingKey": "conformance-user"}})
    single = f"/ofrep/v1/evaluate/flags/{flag}"
    checker.check("200 single", url, single, SINGLE, context, 200, expect={"key": flag})
    headers, _ = checker.check("200 bulk", url, BULK, BULK, context, 200)
    etag = headers.get("ETag") or headers.get("etag")
    if not etag:
        checker.failures.append("200 bulk: no ETag header")
    else:
        checker.check("304 bulk with If-None-Match", url, BULK, BULK, context, 304, {"If-None-Match": etag})
    checker.check("404 unknown flag", url, "/ofrep/v1/evaluate/flags/no-such-flag", SINGLE, context, 404,
                  expect={"errorCode": "FLAG_NOT_FOUND", "key": "no-such-flag"})
    bad = [
        ("PARSE_ERROR", "{not json"),
        ("TARGETING_KEY_MISSING", json.dumps({"context": {}})),
        ("INVALID_CONTEXT", json.dumps({"context": {"targetingKey": "u", "kind": "kind"}})),
        ("INVALID_CONTEXT", json.dumps({"context": "not an object"})),
    ]
    for code, body in bad:
        checker.check(f"400 {code} single", url, single, SINGLE, body, 400, expect={"errorCode": code, "key": flag})
        checker.check(f"400 {code} bulk", url, BULK, BULK, body, 400, expect={"errorCode": code})
    checker.check("500 store down single", down_url, single, SINGLE, context, 500, expect={"errorCode": "GENERAL"})
    checker.check("500 store down bulk", down_url, BULK, BULK, context, 500, expect={"errorCode": "GENERAL"})


def schemathesis(spec_path, url, report_dir):
    command = [
        os.path.join(os.path.dirname(sys.executable), "schemathesis"), "run", spec_path,
        "--url", url,
        "--checks", "all",
        # The document declares optional API-key and bearer authentication; the extension
        # listens on localhost only and the reader sits behind API Gateway's IAM auth, so
        # neither asks for credentials of its own.
        "--exclude-checks", "ignored_auth",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "60",
        "--seed", "20261123",
        # One worker: CPython 3.11 can fail parsing hypothesis's lambdas from two threads at once
        # ("AST constructor recursion depth mismatch").
        "--workers", "1",
        "--report", "junit",
        "--report-junit-path", os.path.join(report_dir, "schemathesis-junit.xml"),
        "--warnings", "off",
    ]
    return subprocess.run(command, check=False).returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL of a server over a synced table")
    parser.add_argument("--down-url", required=True, help="base URL of a server whose store cannot be read")
    parser.add_argument("--flag", required=True, help="a flag in the synced table")
    parser.add_argument("--report-dir", default="target/ofrep-conformance")
    args = parser.parse_args()
    os.makedirs(args.report_dir, exist_ok=True)
    with open(SPEC) as f:
        spec = corrected(yaml.safe_load(f))
    spec_path = os.path.join(args.report_dir, "ofrep-openapi.corrected.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)

    checker = Checker(spec)
    explicit_cases(checker, args.url, args.down_url, args.flag)
    for failure in checker.failures:
        print(f"FAILED {failure}")
    print(f"OFREP explicit cases: {checker.passed} passed, {len(checker.failures)} failed")
    fuzzed = schemathesis(spec_path, args.url, args.report_dir)
    print(f"OFREP schemathesis run: {'passed' if fuzzed == 0 else 'FAILED'}")
    sys.exit(1 if checker.failures or fuzzed else 0)


if __name__ == "__main__":
    main()
