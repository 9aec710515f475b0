"""Concurrent reconciles of one VPC, against moto's server mode (shared state over real HTTP) with the
fidelity layer enforcing EC2's conflict rules: whatever the interleaving, the VPC ends with one endpoint
per service, one subnet per AZ, one security group and every route table associated.

Reconciles fed by the settle queue never overlap for one VPC (its FIFO message group is the VPC), but
others can: the sweep, `reconcile --apply` from the command line, a redrive, a second deployment. So
these tests run reconciler invocations for one VPC concurrently anyway, each in its own cold container,
with sweeps among them: the conflict rules, not the queue, must make that safe."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from vpce_remediator.settle import Call, Window

from tests.emulation.account import Vpc
from tests.emulation.fidelity import enforce
from tests.emulation.lambda_runtime import LambdaContext, Stack, cold_start
from tests.emulation.queues import batch_of
from tests.emulation.template import code_dir, handler_name

RECONCILER = "ReconcilerFunction"


def settled(vpc: Vpc, name: str) -> dict:
    """The reconciler's batch for one subnet's CreateSubnet, its window closed."""
    call = Call(f"create-{vpc.subnets[name]}", "CreateSubnet", 1_700_000_000.0, "arn:aws:sts::123456789012:assumed-role/x/y")
    return batch_of([(vpc.id, Window(vpc.id, (call,)).to_json())])


SERVICES = {"s3", "dynamodb", "ssm", "ssmmessages", "ec2messages"}


@pytest.fixture
def server(offline_aws, monkeypatch) -> Iterator[str]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    # Every client the functions build goes to the server, as it would go to EC2.
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        with enforce():
            yield url
    finally:
        import requests

        requests.post(f"{url}/moto-api/reset", timeout=10)
        moto.stop()


def fire(stack: Stack, jobs: list[tuple[str, Any]], monkeypatch) -> list[BaseException | dict]:
    """Each job in its own cold container and thread, released together, as a burst of events is.
    A job's event may be a function of its index, run in the thread first (to create resources)."""
    # One environment for all threads: both functions get the same variables from the template.
    for name, value in stack.environment(RECONCILER).items():
        monkeypatch.setenv(name, value)
    handlers = [cold_start(code_dir(stack.template, f), handler_name(stack.template, f)) for f, _ in jobs]
    barrier = threading.Barrier(len(jobs))
    results: list[BaseException | dict] = [{}] * len(jobs)

    def run(i: int) -> None:
        function_id, event = jobs[i]
        barrier.wait()
        try:
            if callable(event):
                event = event(i)
            results[i] = handlers[i](event, LambdaContext(function_name=function_id))
        except BaseException as exc:  # collected and asserted on below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "an invocation did not finish in 120 s"
    assert all(r for r in results), "an invocation returned nothing"
    return results


def assert_converged(vpc: Vpc, ec2) -> None:
    live = [e for e in vpc.endpoints() if e["State"] != "deleted"]
    by_service: dict[str, list[dict]] = {}
    for e in live:
        by_service.setdefault(e["ServiceName"].rsplit(".", 1)[1], []).append(e)
    assert {s: len(es) for s, es in by_service.items()} == dict.fromkeys(SERVICES, 1)
    tables = set(vpc.route_tables.values())
    for service in ("s3", "dynamodb"):
        assert set(by_service[service][0]["RouteTableIds"]) == tables
    az_of = {s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets()["Subnets"]}
    for service in ("ssm", "ssmmessages", "ec2messages"):
        azs = [az_of[s] for s in by_service[service][0]["SubnetIds"]]
        assert sorted(azs) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["vpce-remediator-endpoints"]}])
    assert len(groups["SecurityGroups"]) == 1


def test_subnets_created_while_their_events_race_converge(server, monkeypatch):
    # Given a VPC, and six workers that each create a route table and subnet and fire its event at once
    ec2 = boto3.session.Session(region_name="eu-west-1").client("ec2")
    vpc = Vpc.create(ec2)
    stack = Stack().provision()
    lock = threading.Lock()

    def create_then_fire(i: int) -> dict:
        with lock:  # the builder's bookkeeping is not thread-safe; EC2 calls themselves run concurrently
            vpc.route_table(f"rt-{i}")
            vpc.subnet(f"app-{i}", ["eu-west-1a", "eu-west-1b", "eu-west-1c"][i % 3], route_table=f"rt-{i}")
        return settled(vpc, f"app-{i}")

    jobs = [(RECONCILER, create_then_fire) for _ in range(6)]
    # When each run plans on a different view of the VPC
    results = fire(stack, jobs, monkeypatch)
    # Then every run succeeded and the VPC holds exactly what the policy needs
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert all(r == {"batchItemFailures": []} for r in results), results
    assert_converged(vpc, ec2)


def terraform_apply(ec2) -> Vpc:
    """Six subnets across three AZs, each on its own route table, created within a second."""
    vpc = Vpc.create(ec2)
    for i, az in enumerate(["eu-west-1a", "eu-west-1b", "eu-west-1c"] * 2):
        vpc.route_table(f"rt-{i}")
        vpc.subnet(f"app-{i}", az, route_table=f"rt-{i}")
    return vpc


@pytest.mark.parametrize("copies", [1, 3])
def test_a_burst_of_events_for_one_vpc_ends_with_exactly_the_needed_endpoints(server, copies, monkeypatch):
    ec2 = boto3.session.Session(region_name="eu-west-1").client("ec2")
    vpc = terraform_apply(ec2)
    stack = Stack().provision()
    # Each subnet's window reconciled `copies` times (a redrive, say), all at once
    jobs = [(RECONCILER, settled(vpc, name)) for name in vpc.subnets for _ in range(copies)]
    results = fire(stack, jobs, monkeypatch)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert all(r == {"batchItemFailures": []} for r in results), results
    assert_converged(vpc, ec2)


def test_events_and_a_sweep_racing_converge(server, monkeypatch):
    ec2 = boto3.session.Session(region_name="eu-west-1").client("ec2")
    vpc = terraform_apply(ec2)
    stack = Stack().provision()
    jobs = [(RECONCILER, settled(vpc, name)) for name in vpc.subnets]
    jobs += [("SweepFunction", {"id": "sweep", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})] * 2
    results = fire(stack, jobs, monkeypatch)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert_converged(vpc, ec2)


def test_two_plans_made_on_different_views_cannot_create_two_endpoints(vpc, ec2):
    """The race EC2 would not catch by itself: two runs wanting disjoint route tables on a new S3 endpoint."""
    import io

    from vpce_remediator.apply import apply_actions
    from vpce_remediator.cli import JsonLines
    from vpce_remediator.config import Mode, Settings
    from vpce_remediator.reconcile import plan_vpcs, reconcile
    from vpce_remediator.runtime import cli_dependencies
    from vpce_remediator.vocabulary import Outcome

    key = "vpce-remediator/policy"
    deps = cli_dependencies(
        Settings(key, ("s3",), (), Mode.REMEDIATE), JsonLines(io.StringIO(), 0), boto3.session.Session(region_name="eu-west-1")
    )
    vpc.route_table("rt-0")
    vpc.route_table("rt-1")
    a = vpc.subnet("a", "eu-west-1a", route_table="rt-0")
    b = vpc.subnet("b", "eu-west-1b", policy=None, route_table="rt-1")
    # Given run A planned while only a was opted in, and run B after b opted in and a left
    (plan_a,) = plan_vpcs([vpc.id], deps, deps.policies())
    ec2.create_tags(Resources=[b], Tags=[{"Key": key, "Value": "default"}])
    ec2.delete_tags(Resources=[a], Tags=[{"Key": key}])
    (plan_b,) = plan_vpcs([vpc.id], deps, deps.policies())
    assert plan_a.actions[0].route_table_ids != plan_b.actions[0].route_table_ids
    # When both apply, B's create carries the same endpoint identity: EC2 refuses it as a conflict
    apply_actions(deps.ec2, plan_a.actions, dry_run=False)
    outcomes = apply_actions(deps.ec2, plan_b.actions, dry_run=False)
    assert [(o.result, o.error_code) for o in outcomes] == [(Outcome.CONFLICT, "IdempotentParameterMismatch")]
    # Then B's re-read attaches its table to A's endpoint, and (Prune=own) gives up a's, which opted out:
    # one S3 endpoint, on the table of the one opted-in subnet
    reconcile([vpc.id], deps)
    (s3,) = vpc.endpoints("s3")
    assert set(s3["RouteTableIds"]) == {vpc.route_tables["rt-1"]}
