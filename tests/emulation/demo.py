"""`make demo`: the remediator's main job, locally, on the emulated account (moto + fidelity layer).

It builds a realistic VPC, sends the CloudTrail events EC2 would emit for it through the template's
own EventBridge patterns to the real handlers, with a short settle window (DEMO_SETTLE_SECONDS), and
prints what the intake queued, the one reconcile the burst got once the window closed, and a
before/after table of each subnet's compliance. Then it delivers every event again, out of order, to
show that duplicates cost nothing, and lets some drift settle. A second VPC, a spoke, is served by a hub
account's private hosted zones and gets no interface endpoint of its own. It ends with an opt-out (what
only that subnet needed is released) and a ``terraform destroy`` of the whole VPC, which EC2 refuses until the
remediator's ENIs and group are gone: the before/after table shows both.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections import Counter

import boto3
from moto import mock_aws
from vpce_remediator.cli import JsonLines
from vpce_remediator.cli import main as cli
from vpce_remediator.config import Settings
from vpce_remediator.dependencies import Dependencies
from vpce_remediator.observability import logger
from vpce_remediator.reconcile import plan_vpcs
from vpce_remediator.runtime import cli_dependencies
from vpce_remediator.vocabulary import Status

from tests.emulation.account import Vpc, happening_now, sample_event
from tests.emulation.bus import ChangeEvents
from tests.emulation.fidelity import enforce
from tests.emulation.lambda_runtime import Stack
from tests.emulation.loader import share_one_loader
from tests.emulation.queues import enforce_deduplication
from tests.emulation.scenarios import destroy

REGION = "eu-west-1"
# The template's default is 300 s; the demo's window is short, and real: the queue mapping waits it out.
DEMO_SETTLE_SECONDS = 2
# EC2 takes seconds to minutes to delete an endpoint's network interfaces; the demo's EC2 takes one, and
# the remediator checks again every second (ReleaseRecheckSeconds; the template's default is 30).
DEMO_ENI_RELEASE_SECONDS = 1.0


def build_account(ec2) -> Vpc:
    vpc = Vpc.create(ec2, "10.20.0.0/16")
    vpc.route_table("private-a")
    vpc.route_table("private-b")
    vpc.route_table("public", internet=True)
    vpc.subnet("app-a", "eu-west-1a", route_table="private-a")
    vpc.subnet("app-b", "eu-west-1b", route_table="private-b")
    vpc.subnet("app-c", "eu-west-1c")  # on the main route table
    vpc.subnet("web-a", "eu-west-1a", route_table="public")  # tagged, but public
    vpc.subnet("scratch-b", "eu-west-1b", policy=None, route_table="private-b")  # never opted in
    # The network team's S3 endpoint, on one table only: it is extended, not duplicated.
    ec2.create_vpc_endpoint(
        VpcId=vpc.id,
        ServiceName=f"com.amazonaws.{REGION}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[vpc.route_tables["private-a"]],
        TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": [{"Key": "Name", "Value": "network-team-s3"}]}],
    )
    return vpc


def compliance(deps: Dependencies, vpc: Vpc) -> dict[str, str]:
    """Each subnet's state, from the same read and plan the functions and the audit CLI use (read-only)."""
    (plan,) = plan_vpcs([vpc.id], deps, deps.policies())
    states: dict[str, list[str]] = {}
    for f in plan.findings:
        if f.status == Status.SKIPPED and f.service is None:
            states[f.subnet_id] = [f"skipped: {f.reason}"]
        elif f.status != Status.COMPLIANT:
            states.setdefault(f.subnet_id, []).append(f"{f.service} {'skipped' if f.status == Status.SKIPPED else 'missing'}")
        else:
            states.setdefault(f.subnet_id, [])
    return {subnet: ", ".join(parts) or "compliant" for subnet, parts in states.items()}


def print_table(vpc: Vpc, columns: dict[str, dict[str, str]], tables: dict[str, str]) -> None:
    """One row per subnet: where it is, then its state in each of ``columns`` (title -> subnet id -> state)."""
    rows = [("subnet", "az", "route table", *columns)]
    for name, subnet_id in vpc.subnets.items():
        rows.append((name, vpc.azs[name], tables[subnet_id], *(states[subnet_id] for states in columns.values())))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def route_tables_of(vpc: Vpc) -> dict[str, str]:
    """Subnet id -> the name of its route table ("main" without an explicit one)."""
    names = {v: k for k, v in vpc.route_tables.items()}
    explicit = {s: t["RouteTableId"] for t in _tables(vpc) for s in _associated(t)}
    return {subnet_id: names.get(explicit.get(subnet_id, ""), "main") for subnet_id in vpc.subnets.values()}


def _ours(endpoint: dict) -> bool:
    return {"Key": "managed-by", "Value": "vpce-remediator"} in endpoint.get("Tags", [])


def _tables(vpc: Vpc) -> list[dict]:
    return vpc.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc.id]}])["RouteTables"]


def _associated(table: dict) -> set[str]:
    return {a["SubnetId"] for a in table.get("Associations", []) if a.get("SubnetId")}


def print_log(records: list[dict], names: dict[str, str]) -> None:
    """The remediation log as an operator reads it: what the intake queued, then each reconcile (its
    summary first) with its changes and warnings."""
    queued = [r for r in records if r.get("message") == "queued"]
    if queued:
        calls = Counter(r["event_name"] for r in queued)
        kinds = ", ".join(f"{n}x{c}" for c, n in calls.items())
        print(f"  intake queued {len(queued)} calls ({kinds}); the window closes at {queued[-1]['settle_due']} at the earliest")
    runs: dict[str, list[dict]] = {}
    for r in records:
        if r.get("trigger") in ("settled", "sweep") and r.get("record") in ("decision", "change", "summary"):
            runs.setdefault(f"{r['function_request_id']}/{r.get('correlation_id')}", []).append(r)
    for group in runs.values():
        summary = next((r for r in group if r["message"] == "summary" and "findings" in r), None)
        if summary is None:
            continue
        when = f", {summary['settled_after_seconds']} s after its first call" if "settled_after_seconds" in summary else ""
        if summary.get("prompt"):
            when += " (prompt: a refused delete, or a recheck; it only releases)"
        covers = f" covering {len(summary['event_ids'])} calls" if "event_ids" in summary else ""
        print(f"  one reconcile of {', '.join(summary['vpcs'])}{covers}{when}: {summary.get('changes') or 'no change'}")
        for r in group:
            if r.get("record") == "change":
                target = r.get("endpoint_id") or r.get("security_group_id") or ", ".join(r.get("endpoint_ids", []))
                added = r.get("route_table_ids") or r.get("subnet_ids") or r.get("cidrs") or []
                what = r.get("endpoint_service") or ("security group" if r.get("security_group_id") else "its endpoints")
                arrow = "->" if r["outcome"] in ("released", "moved", "deleted", "kept", "unmarked") else "<-"
                cost = f"  US${r['estimated_monthly_usd_added']:+}/month" if "estimated_monthly_usd_added" in r else ""
                names_ = ", ".join(names.get(a, a) for a in added) or ("nothing left to serve" if r.get("endpoint_id") else "")
                if r["action"] == "mark_leaving":
                    names_ += " leaving"
                print(f"    {r['outcome']:<9} {r['action']:<22} {what:<12} {target}  {arrow} {names_}{cost}")
            elif r.get("record") == "decision" and r["level"] != "INFO":
                print(f"    {r['level'].lower():<9} {names.get(r.get('subnet_id'), r.get('subnet_id'))}: {r.get('reason')}")


def print_events(events: list[dict]) -> None:
    """What a team routing the remediator's events to chat or ticketing receives."""
    print(f"\n{len(events)} events published on the default bus (source vpce-remediator), e.g. for chat or ticketing:")
    for e in events:
        d = e["detail"]
        what = d.get("endpoint_service") or "security group"
        cost = f"  US${d['estimated_monthly_usd_added']:+}/month" if "estimated_monthly_usd_added" in d else ""
        target = d.get("endpoint_id") or d.get("security_group_id")
        print(f"  {e['detail-type']}: {d['outcome']} {d['action']} {what} {target}{cost}")


def print_metrics(out: str, lead: str = "Metrics written as EMF so far") -> None:
    """The EMF records CloudWatch turns into metrics (namespace VpceRemediator), summed by name and dimension."""
    totals: Counter = Counter()
    for line in out.splitlines():
        doc = json.loads(line) if line.startswith("{") else {}
        for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = doc[metric["Name"]]
                dims = ",".join(f"{k}={doc[k]}" for k in directive["Dimensions"][0] if k != "service")
                totals[f"{metric['Name']}{{{dims}}}"] += sum(value) if isinstance(value, list) else value
    print(f"\n{lead}: {', '.join(f'{k} {v:g}' for k, v in sorted(totals.items()))}")


def print_record(records: list[dict]) -> None:
    change = next(r for r in reversed(records) if r.get("record") == "change")
    print(f"\n{len(records)} JSON log records in all; one change record in full, as CloudWatch shows it:")
    print("  " + json.dumps(change, indent=2).replace("\n", "\n  "))


def _records(stream: io.StringIO) -> list[dict]:
    records = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    stream.truncate(0)
    stream.seek(0)
    return records


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # ~5,000 AMIs nothing here uses
    share_one_loader()
    with mock_aws(), enforce() as fidelity, enforce_deduplication():
        fidelity.eni_release_seconds = DEMO_ENI_RELEASE_SECONDS
        ec2 = boto3.session.Session(region_name=REGION).client("ec2")
        calls: Counter = Counter()
        boto3.setup_default_session(region_name=REGION)
        boto3.DEFAULT_SESSION.events.register("before-call.ec2.*", lambda model, **_: calls.update([model.name]))
        stack = Stack({"SettleSeconds": str(DEMO_SETTLE_SECONDS), "ReleaseRecheckSeconds": "1"}).provision()
        settings = Settings.from_env(stack.environment("ReconcilerFunction"))
        reader = cli_dependencies(settings, JsonLines(io.StringIO(), 0), boto3.session.Session(region_name=REGION))
        stream = io.StringIO()
        logger.registered_handler.setStream(stream)
        bus = ChangeEvents()  # a rule on the default bus for source vpce-remediator, into a queue

        print("== vpce-remediator demo: emulated account, region eu-west-1 (moto + EC2 fidelity rules) ==\n")
        vpc = build_account(ec2)
        before = compliance(reader, vpc)
        events = [happening_now(vpc.route_table_event(name)) for name in vpc.route_tables]
        events += [happening_now(vpc.subnet_event(n)) for n in vpc.subnets]
        print(f"Built {vpc.id}: {len(vpc.subnets)} subnets in 3 AZs, {len(vpc.route_tables)} route tables + main.")
        print(f"Sending its {len(events)} CloudTrail events through the template's EventBridge rules, as the calls happen,")
        print(f"with SettleSeconds={DEMO_SETTLE_SECONDS} (the template's default is 300)...\n")
        emf = io.StringIO()  # the functions' EMF metric records go to stdout; keep them out of the story
        with contextlib.redirect_stdout(emf):
            delivered = [d for event in events for d in stack.publish(event)]
            stack.deliver()  # Lambda's pollers receive at once: the window opens, and nothing is reconciled yet
            waiting = dict(calls)
            started = time.monotonic()
            stack.settle()  # ...until it closes
        print(f"{len(delivered)} intake invocations; EC2 calls before the window closed: {waiting or 'none'}")
        print(f"The window closed {time.monotonic() - started:.1f} s later; EC2 calls in all: {dict(calls)}\n")
        names = {v: k for k, v in {**vpc.subnets, **vpc.route_tables, "main": vpc.main_route_table}.items()}
        records = _records(stream)
        print("Remediation log:")
        print_log(records, names)
        print_record(records)
        print_events(bus.received())
        print_metrics(emf.getvalue())

        calls.clear()
        with contextlib.redirect_stdout(emf):
            for event in reversed(events):
                stack.publish(event)
            stack.settle()
        _records(stream)
        print(
            f"\nRedelivered all {len(events)} events in reverse order: the settle queue dropped them as duplicates "
            f"(same eventIDs within five minutes). EC2 calls: {dict(calls) or 'none'}.\n"
        )

        print("Drift: someone deletes the SSM endpoint, and someone opts scratch-b in by tagging it...")
        ssm = next(e["VpcEndpointId"] for e in vpc.endpoints("ssm"))
        ec2.delete_vpc_endpoints(VpcEndpointIds=[ssm])
        scratch = vpc.subnets["scratch-b"]
        ec2.create_tags(Resources=[scratch], Tags=[{"Key": settings.opt_in_tag_key, "Value": "default"}])
        with contextlib.redirect_stdout(emf):
            for event in (
                happening_now(sample_event("delete_vpc_endpoints.json", endpoint=ssm)),
                happening_now(sample_event("create_tags_subnet_opt_in.json", subnet=scratch)),
            ):
                stack.publish(event)
            stack.settle()
        drift = _records(stream)
        print_log(drift, {**names, scratch: "scratch-b"})
        restored = {r.get("replaces_endpoint_id") for r in drift if r.get("reason") == "endpoint_deleted"}
        print(f"  (one reconcile for both calls; it names the deleted endpoint it restores: {', '.join(sorted(restored))})\n")

        tables = route_tables_of(vpc)
        remediated = compliance(reader, vpc)
        print("Subnet compliance:")
        print_table(vpc, {"before": before, "after": remediated}, tables)
        endpoints = [e for e in vpc.endpoints() if e["State"] != "deleted"]
        print(f"\nLive endpoints in {vpc.id}:")
        for e in sorted(endpoints, key=lambda e: e["ServiceName"]):
            where = e["RouteTableIds"] if e["VpcEndpointType"] == "Gateway" else e["SubnetIds"]
            print(f"  {e['VpcEndpointId']}  {e['VpcEndpointType']:<9} {e['ServiceName']:<36} {', '.join(where)}")

        print("\nThe audit CLI on the same account (python -m vpce_remediator audit --region eu-west-1):")
        code = cli(["audit", "--region", REGION])
        print(f"exit code {code}: 0 compliant, 1 not, 2 error")

        print("\nA spoke served by a hub: a second VPC whose interface services a shared-services account (222222222222)")
        print("serves from its own VPC, through private hosted zones it associates with the spoke...")
        spoke = Vpc.create(ec2, "10.30.0.0/16")
        zones = {
            s: fidelity.associate_hub_zone("222222222222", f"{s}.{REGION}.amazonaws.com", spoke.id)
            for s in settings.interface_services
        }
        for az in ("eu-west-1a", "eu-west-1b"):
            spoke.subnet(f"spoke-{az[-1]}", az)
        with contextlib.redirect_stdout(emf):
            for name in spoke.subnets:
                stack.publish(happening_now(spoke.subnet_event(name)))
            stack.settle()
        _records(stream)
        made = sorted(e["ServiceName"].rsplit(".", 1)[1] for e in spoke.endpoints() if e["State"] != "deleted")
        saved = len(zones) * len(spoke.subnets) * settings.endpoint_az_hour_usd * 730
        print(f"  endpoints made in {spoke.id}: {', '.join(made)} (gateway, free); interface services served centrally:")
        for service, zone in zones.items():
            print(f"    {service:<12} zone {zone} (owner 222222222222)")
        price = settings.endpoint_az_hour_usd
        print(f"  not paid for: {len(zones)} services x {len(spoke.subnets)} AZs = US${saved:.2f} a month at US${price}/AZ-hour")

        print("\nA planted group: in a third VPC, someone who may tag creates a group named vpce-remediator-endpoints,")
        print("tagged managed-by = vpce-remediator, open to all traffic from 0.0.0.0/0; then a subnet there opts in...")
        planted_vpc = Vpc.create(ec2, "10.40.0.0/16")
        planted_vpc.plant_group()
        planted_vpc.subnet("planted-a", "eu-west-1a")
        metrics_before = len(emf.getvalue())
        with contextlib.redirect_stdout(emf):
            stack.publish(happening_now(planted_vpc.subnet_event("planted-a")))
            stack.settle()
        skipped = [r for r in _records(stream) if r.get("reason") == "security_group_untrusted"]
        made = sorted(e["ServiceName"].rsplit(".", 1)[1] for e in planted_vpc.endpoints() if e["State"] != "deleted")
        print(f"  endpoints made: {', '.join(made)} (gateway: no group); interface services skipped at WARNING:")
        print(f"    {', '.join(r['endpoint_service'] for r in skipped)}: {skipped[0]['reason'] if skipped else 'none'}")
        print_metrics(emf.getvalue()[metrics_before:], "  Metrics of that reconcile (Errors is what the errors alarm watches)")

        print("\nOpt-out: app-c's opt-in tag is removed (DeleteTags); what only it needed is released (Prune=own)...")
        with contextlib.redirect_stdout(emf):
            stack.publish(vpc.opt_out("app-c"))
            stack.settle()
        print_log(_records(stream), names)
        print_events([e for e in bus.received() if e["detail"]["outcome"] in ("released", "deleted", "moved")])
        opted_out = compliance(reader, vpc)

        print("\nTeardown: terraform destroy of the whole VPC. The network team deletes its S3 endpoint; then the")
        print("route table associations, subnets and tables go, then the VPC. EC2 refuses a subnet while an ENI")
        print("is in it, and the VPC while a security group is left; Terraform retries (here every 0.5 s)...")
        theirs = [e["VpcEndpointId"] for e in vpc.endpoints("s3") if e["State"] != "deleted" and not _ours(e)]
        ec2.delete_vpc_endpoints(VpcEndpointIds=theirs)
        remediator = {"endpoints": len(vpc.managed_endpoints()), "groups": len(vpc.managed_groups())}
        with contextlib.redirect_stdout(emf):
            stack.publish(happening_now(sample_event("delete_vpc_endpoints.json", endpoint=theirs[0])))
            result = destroy(vpc, stack.publish, stack.deliver, retry_seconds=0.5, timeout=60)
            stack.settle()
        print_log(_records(stream), names)
        refused = ", ".join(f"{kind} x{n}" for kind, n in sorted(result.refused.items()))
        print(f"  destroy {'completed' if result.complete else 'FAILED'} in {result.seconds:.1f} s; EC2 refused {refused} first")

        print("\nSubnet compliance, from the first build to the teardown:")
        gone = {subnet: "deleted" for subnet in before}
        columns = {"before": before, "remediated": remediated, "after opt-out": opted_out, "after destroy": gone}
        print_table(vpc, columns, tables)
        mine = ec2.describe_vpc_endpoints(
            Filters=[{"Name": "tag:managed-by", "Values": ["vpce-remediator"]}, {"Name": "vpc-id", "Values": [vpc.id]}]
        )["VpcEndpoints"]
        print(
            f"\nThe remediator's resources in the VPC: {remediator['endpoints']} endpoints and {remediator['groups']} group "
            f"before the destroy; {sum(e['State'] != 'deleted' for e in mine)} endpoints and "
            f"{len(vpc.managed_groups())} groups left (the VPC is gone)."
        )


if __name__ == "__main__":
    main()
