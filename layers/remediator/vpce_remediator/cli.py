"""Command line: ``python -m vpce_remediator audit|reconcile``, on the same planning core as the functions.

``audit`` is read-only: a table of every opted-in subnet, each required endpoint and its state, and
(with --prune own, the default) a row for each release the next reconcile would make. Exit 0 when
every subnet is compliant as the Config rule judges it (compliance.py), 1 when one is not, 2 on error,
so pipelines can gate on it (releases do not change it). A gate must not pass by mistake: a --vpc-id that
does not exist, and a required service the Region does not offer (a typo such as 'sssm'), are errors (2),
not an empty or a skipped table. ``reconcile --apply`` applies the same plan once; without ``--apply`` it is
an audit.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from vpce_remediator.actions import BY_KIND
from vpce_remediator.compliance import evaluate
from vpce_remediator.config import Mode, Settings
from vpce_remediator.plan import Plan
from vpce_remediator.vocabulary import Compliance, Reason, Status

COMPLIANT_EXIT, NONCOMPLIANT_EXIT, ERROR_EXIT = 0, 1, 2
# The defaults are the template's parameter defaults (a test holds them equal).
DEFAULTS = {
    "opt_in_tag_key": "vpce-remediator/policy",
    "gateway_services": "s3,dynamodb",
    "interface_services": "ssm,ssmmessages,ec2messages",
    "prune": "own",
}


@dataclass(frozen=True)
class Row:
    vpc_id: str
    subnet_id: str
    az: str
    policy: str
    service: str
    state: str
    endpoint_id: str
    detail: str


def audit_rows(plans: Sequence[Plan]) -> list[Row]:
    """One row per opted-in subnet and required endpoint; subnets that never opted in are left out."""
    rows = []
    for plan in plans:
        for f in plan.findings:
            if f.reason == Reason.NOT_OPTED_IN:
                continue
            if f.status == Status.NONCOMPLIANT:
                state = BY_KIND[f.action].audit_state if f.action in BY_KIND else str(f.status)
            else:
                state = str(f.status)
            service = f"{f.service} ({f.endpoint_type.lower()})" if f.service and f.endpoint_type else "-"
            zone = f"zone {f.hosted_zone_id}" if f.hosted_zone_id else None
            detail = ", ".join(x for x in (f.reason, f.note, f"replaces {f.replaces}" if f.replaces else None, zone) if x)
            rows.append(Row(f.vpc_id, f.subnet_id, f.az or "-", f.policy or "-", service, state, f.endpoint_id or "-", detail))
        rows += release_rows(plan)
    return rows


def release_rows(plan: Plan) -> list[Row]:
    """One row per release of the plan (its own bookkeeping aside): what it would take away, and why."""
    rows = []
    for action in plan.releases:
        if action.bookkeeping:
            continue
        fields = action.describe()
        subnets = fields.get("removed_subnet_ids") or fields.get("subnet_ids") or ()
        what = fields.get("route_table_ids") or fields.get("subnet_ids") or ()
        detail = ", ".join(x for x in (fields.get("why"), action.kind, " ".join(what)) if x)
        service = (
            f"{fields['service']} ({str(fields['endpoint_type']).lower()})"
            if fields.get("endpoint_type")
            else fields.get("service", "-")
        )
        resource = fields.get("endpoint_id") or fields.get("group_id") or "-"
        rows.append(Row(plan.vpc_id, ",".join(subnets) or "-", "-", "-", service, action.audit_state, resource, detail))
    return rows


def exit_code(plans: Sequence[Plan]) -> int:
    # The Config rule's verdict: a subnet naming a policy nobody defined (a typo, or --policy-parameter
    # missing) is not compliant either, nor one that cannot get its interface endpoints (group name taken).
    failing = any(e.compliance is Compliance.NON_COMPLIANT for e in evaluate(plans).values())
    return NONCOMPLIANT_EXIT if failing else COMPLIANT_EXIT


def missing_services(plans: Sequence[Plan]) -> list[str]:
    """Required services the Region does not offer: in the functions a per-subnet skip (and an Errors count),
    for a gate an error, since a typo in a policy would otherwise pass it."""
    return sorted({str(f.service) for p in plans for f in p.findings if f.reason == Reason.SERVICE_UNAVAILABLE and f.service})


def printable(cell: str) -> str:
    """A cell without control, format or separator characters but the space (a newline in a tag value
    would forge a row): each becomes its escape, as Python writes it."""
    return "".join(repr(c)[1:-1] if c != " " and unicodedata.category(c)[0] in "CZ" else c for c in cell)


def print_table(rows: Sequence[Row], out: TextIO) -> None:
    header = Row("VPC", "SUBNET", "AZ", "POLICY", "SERVICE", "STATE", "ENDPOINT", "DETAIL")
    table = [astuple_str(header), *(tuple(printable(cell) for cell in astuple_str(r)) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n")


def astuple_str(row: Row) -> tuple[str, ...]:
    return tuple(str(v) for v in asdict(row).values())


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--region", help="AWS Region (default: the profile's or AWS_REGION)")
    common.add_argument("--profile", help="named AWS profile to use")
    common.add_argument("--vpc-id", action="append", dest="vpc_ids", help="limit to this VPC (repeatable)")
    common.add_argument("--opt-in-tag-key", default=DEFAULTS["opt_in_tag_key"])
    common.add_argument("--gateway-services", default=DEFAULTS["gateway_services"])
    common.add_argument("--interface-services", default=DEFAULTS["interface_services"])
    common.add_argument("--policy-parameter", default="", help="SSM parameter with named policies (as deployed)")
    common.add_argument(
        "--prune", choices=("own", "off"), default=DEFAULTS["prune"], help="plan releases of what it made (as deployed)"
    )
    common.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # an emulator (moto server) instead of AWS
    common.add_argument("--format", choices=("table", "json"), default="table")
    root = argparse.ArgumentParser(prog="python -m vpce_remediator", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("audit", parents=[common], help="show each opted-in subnet's state (read-only)")
    reconcile = commands.add_parser("reconcile", parents=[common], help="plan, and with --apply make the changes")
    reconcile.add_argument("--apply", action="store_true", help="make the changes (default: only show them)")
    return root


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = parser().parse_args(argv)
    # Imported here so that --help works without boto3 installed.
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from vpce_remediator.errors import RemediatorError
    from vpce_remediator.reconcile import plan_vpcs, reconcile
    from vpce_remediator.runtime import cli_dependencies

    apply = args.command == "reconcile" and args.apply
    try:
        settings = Settings.from_env(
            {
                "OPT_IN_TAG_KEY": args.opt_in_tag_key,
                "GATEWAY_SERVICES": args.gateway_services,
                "INTERFACE_SERVICES": args.interface_services,
                "MODE": Mode.REMEDIATE.value if apply else Mode.REPORT.value,
                "POLICY_PARAMETER_NAME": args.policy_parameter,
                "PRUNE": args.prune,
            }
        )
        session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
        deps = cli_dependencies(settings, _stderr_logger(err, "INFO" if apply else "WARNING"), session, args.endpoint_url)
        if args.vpc_ids:
            _check_vpcs_exist(deps.ec2, args.vpc_ids)
        if apply:
            reconcile(args.vpc_ids, deps)
        plans = plan_vpcs(args.vpc_ids, deps, deps.policies())
    except (RemediatorError, ClientError, BotoCoreError) as exc:
        err.write(f"error: {type(exc).__name__}: {exc}\n")
        return ERROR_EXIT
    rows = audit_rows(plans)
    if args.format == "json":
        out.write(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    else:
        print_table(rows, out)
    missing = missing_services(plans)
    if missing:
        region = session.region_name or "this Region"
        err.write(f"error: ServiceNotInRegion: required but not offered in {region}: {', '.join(missing)}\n")
        return ERROR_EXIT
    return exit_code(plans)


def _check_vpcs_exist(ec2: Any, vpc_ids: Sequence[str]) -> None:
    """An audit of a VPC that is not there must not pass as an empty, compliant one."""
    from botocore.exceptions import ClientError

    from vpce_remediator.errors import UnknownVpc

    try:
        found = {v["VpcId"] for v in ec2.describe_vpcs(VpcIds=list(vpc_ids))["Vpcs"]}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "InvalidVpcID.NotFound":
            raise
        raise UnknownVpc(exc.response["Error"].get("Message", "no such VPC")) from None
    gone = sorted(set(vpc_ids) - found)
    if gone:
        raise UnknownVpc(f"no such VPC: {', '.join(gone)}")


def _stderr_logger(err: TextIO, level: str) -> Any:
    return JsonLines(err, logging.getLevelName(level))


class JsonLines:
    """The records the functions log, as JSON lines on a stream: the CLI has no Lambda context to add."""

    def __init__(self, stream: TextIO, level: int):
        self.stream, self.level = stream, level
        self.keys: dict[str, Any] = {}

    def _log(self, level: int, message: str, extra: dict[str, Any] | None = None) -> None:
        if level >= self.level:
            record = {"level": logging.getLevelName(level), "message": message, **self.keys, **(extra or {})}
            self.stream.write(json.dumps({k: v for k, v in record.items() if v is not None}, default=str) + "\n")

    def debug(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._log(logging.DEBUG, message, extra)

    def info(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._log(logging.INFO, message, extra)

    def warning(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._log(logging.WARNING, message, extra)

    def error(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._log(logging.ERROR, message, extra)

    exception = error

    def append_keys(self, **keys: Any) -> None:
        self.keys.update(keys)

    def set_correlation_id(self, value: str | None) -> None:
        self.keys["correlation_id"] = value
