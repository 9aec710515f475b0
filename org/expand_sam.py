"""Turns the packaged SAM template into plain CloudFormation that a SERVICE_MANAGED StackSet accepts.

A StackSet with service-managed permissions refuses any template that uses a transform or macro, and
AWS::Serverless-2016-10-31 is one: CreateStackSet answers "Transform is not supported in SERVICE_MANAGED
permission model", with or without CAPABILITY_AUTO_EXPAND (see docs/scale.md). `sam package` only uploads
the code and rewrites CodeUri/ContentUri to S3; the transform stays. This script runs the SAM translator
itself (samtranslator, which aws-sam-cli installs and `sam validate` uses) on the packaged template, offline,
and writes the expanded template as JSON.

    .venv/bin/python org/expand_sam.py packaged.yaml --output stackset.json \\
        [--regional-bucket 'my-artifacts-${AWS::Region}'] [--parameters org/stackset-params.json] [--list-artifacts]

--regional-bucket   Lambda reads code only from a bucket in the function's own Region, so one template for
                    many Regions points every function and layer at a per-Region bucket (an Fn::Sub on
                    ${AWS::Region}); the keys stay those `sam package` wrote. deploy-stackset.sh copies the
                    objects into each Region's bucket.
--parameters        a StackSet parameters file ([{"ParameterKey": ..., "ParameterValue": ...}]) whose keys must
                    all be template parameters (CreateStackSet would refuse the others); values are checked
                    against AllowedValues.
--list-artifacts    prints "bucket key" for every code object the template references, one per line.

Exit status: 0, or 2 with a message on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

CODE_PROPERTY = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}
MAX_TEMPLATE_BODY = 51_200  # bytes: above this, CreateStackSet needs --template-url (the script always uses one)


class Refused(Exception):
    pass


class _NoManagedPolicies:
    """The translator asks IAM for AWS managed policy ARNs only when a function names one in Policies; this
    template gives both functions an explicit Role, so nothing may ask (and nothing goes to AWS)."""

    def load(self) -> dict[str, str]:
        raise Refused("the template names an AWS managed policy; expand it with IAM access, or use ARNs")


def expand(packaged: dict[str, Any], region: str) -> dict[str, Any]:
    """The translator wants a Region for its pseudo parameters; one that leaks into the result as a literal would
    pin every stack instance to it, so that is refused."""
    import os

    from samtranslator.translator.transform import transform

    os.environ["AWS_DEFAULT_REGION"] = region  # read by the translator's boto3 session, for pseudo parameters only
    before = json.dumps(packaged, default=str)

    for logical_id, resource in packaged.get("Resources", {}).items():
        uri = resource.get("Properties", {}).get("CodeUri") or resource.get("Properties", {}).get("ContentUri")
        if resource.get("Type", "").startswith("AWS::Serverless::") and isinstance(uri, str) and not uri.startswith("s3://"):
            raise Refused(f"{logical_id} points at local code ({uri}): run sam package first")
    expanded = transform(packaged, {}, _NoManagedPolicies())  # type: ignore[arg-type]
    left = [k for k, r in expanded["Resources"].items() if r["Type"].startswith("AWS::Serverless::")]
    if "Transform" in expanded or left:
        raise Refused(f"the expansion still needs a transform: {left or expanded.get('Transform')}")
    if json.dumps(expanded).count(region) > before.count(region):
        raise Refused(f"the expansion wrote the Region {region} into the template as a literal")
    return expanded


def artifacts(template: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for resource in template["Resources"].values():
        code = resource.get("Properties", {}).get(CODE_PROPERTY.get(resource["Type"], ""), {})
        if isinstance(code.get("S3Bucket"), str) and code.get("S3Key"):
            found.append((code["S3Bucket"], code["S3Key"]))
    return sorted(set(found))


def regionalize(template: dict[str, Any], bucket: str) -> int:
    """Points every function's and layer's code at ``bucket`` (an Fn::Sub string); returns how many."""
    changed = 0
    for resource in template["Resources"].values():
        code = resource.get("Properties", {}).get(CODE_PROPERTY.get(resource["Type"], ""))
        if isinstance(code, dict) and "S3Bucket" in code:
            code["S3Bucket"] = {"Fn::Sub": bucket}
            changed += 1
    return changed


def check_parameters(template: dict[str, Any], path: Path) -> None:
    declared = template.get("Parameters", {})
    for item in json.loads(path.read_text()):
        key, value = item["ParameterKey"], item.get("ParameterValue")
        if key not in declared:
            raise Refused(f"{path}: {key} is not a parameter of the template (it has {', '.join(sorted(declared))})")
        allowed = declared[key].get("AllowedValues")
        if allowed is not None and value is not None and str(value) not in {str(a) for a in allowed}:
            raise Refused(f"{path}: {key}={value!r} is not one of {allowed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packaged", type=Path, help="the template `sam package` wrote")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--regional-bucket", help="Fn::Sub string naming the per-Region code bucket")
    parser.add_argument("--parameters", type=Path, help="StackSet parameters file to check against the template")
    parser.add_argument("--list-artifacts", action="store_true")
    parser.add_argument("--region", default="us-east-1", help="Region the translator assumes (it must not leak)")
    args = parser.parse_args(argv)
    from samtranslator.yaml_helper import yaml_parse

    try:
        template = expand(yaml_parse(args.packaged.read_text()), args.region)
        objects = artifacts(template)
        if args.regional_bucket:
            if "${AWS::Region}" not in args.regional_bucket:
                raise Refused("--regional-bucket must contain ${AWS::Region}")
            regionalize(template, args.regional_bucket)
        if args.parameters:
            check_parameters(template, args.parameters)
    except Refused as exc:
        print(f"expand_sam: {exc}", file=sys.stderr)
        return 2
    body = json.dumps(template, indent=1, sort_keys=False)
    args.output.write_text(body + "\n")
    size = len(body.encode())
    over = " (over the 51,200-byte TemplateBody limit: upload it, use --template-url)" if size > MAX_TEMPLATE_BODY else ""
    print(f"expand_sam: {args.output}: {len(template['Resources'])} resources, {size} bytes{over}", file=sys.stderr)
    if args.list_artifacts:
        for bucket, key in objects:
            print(bucket, key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
