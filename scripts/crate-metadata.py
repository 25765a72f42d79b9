#!/usr/bin/env python3
"""Checks the metadata crates.io shows for the store crate, from `cargo metadata`.

    scripts/crate-metadata.py            what `make check-crate` requires
    scripts/crate-metadata.py --publish  also a repository URL (what `make publish-crate` requires)

The repository URL is left to whoever publishes: it must name the repository the crate is
published from, which this checkout cannot know.
"""

import json
import subprocess
import sys

CRATE = "launchdarkly-dynamo-store"
REQUIRED = ["description", "license", "documentation", "readme", "keywords", "categories"]


def package():
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for candidate in json.loads(out)["packages"]:
        if candidate["name"] == CRATE:
            return candidate
    sys.exit(f"crate-metadata: no package {CRATE} in the workspace")


def main():
    publishing = "--publish" in sys.argv[1:]
    crate = package()
    missing = [field for field in REQUIRED if not crate.get(field)]
    if publishing and not crate.get("repository"):
        missing.append("repository")
    if missing:
        print(
            f"crate-metadata: {CRATE} lacks {', '.join(missing)} in store/Cargo.toml"
            + (
                " (repository: the URL of the repository you publish from, e.g."
                ' repository = "https://github.com/<owner>/<repo>")'
                if "repository" in missing
                else ""
            ),
            file=sys.stderr,
        )
        sys.exit(1)
    if "Not a LaunchDarkly product" not in open("store/README.md", encoding="utf-8").read():
        sys.exit("crate-metadata: store/README.md must say it is not a LaunchDarkly product")
    print(f"crate-metadata: {CRATE} {crate['version']}: metadata complete"
          + ("" if crate.get("repository") else " (no repository URL yet: required by make publish-crate)"))


if __name__ == "__main__":
    main()
