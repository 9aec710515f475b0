"""template.yaml as plain CloudFormation, for scanners that read resources but not SAM's (checkov runs its IAM
checks, CKV_AWS_107-111 and the rest, on the roles and policies the SAM transform writes). Local code paths
become placeholder S3 URIs first (nothing is uploaded or read); org/expand_sam.py does the expansion, offline.

    .venv/bin/python scripts/expand_for_scan.py template.yaml OUTPUT.json [Parameter=default ...]

Scanners evaluate a resource's Condition with the parameters' defaults and skip what it leaves out, so each
``Parameter=value`` replaces a default first (make checkov scans once with every optional part on).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from org.expand_sam import expand

PLACEHOLDER_BUCKET = "scan-only-placeholder"


def with_placeholder_code(template: dict[str, Any]) -> dict[str, Any]:
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
    return template


def with_defaults(template: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    parameters = template.get("Parameters", {})
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        if name not in parameters:
            raise SystemExit(f"expand_for_scan: {name} is not a parameter of the template")
        parameters[name]["Default"] = value
    return template


def main(argv: list[str]) -> int:
    from samtranslator.yaml_helper import yaml_parse

    source, output = Path(argv[0]), Path(argv[1])
    template = with_defaults(with_placeholder_code(yaml_parse(source.read_text())), argv[2:])
    expanded = expand(template, "us-east-1")
    output.write_text(json.dumps(expanded, indent=1) + "\n")
    print(f"expand_for_scan: {output}: {len(expanded['Resources'])} resources", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
