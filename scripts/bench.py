"""`make bench`: what the remediator costs, measured on the emulation and on the build. It prints; it asserts nothing
(the call budgets are held by tests/test_budgets.py; both use the scenarios in tests/emulation/costs.py).

    make bench
    # or, after make dev build:
    env -u AWS_PROFILE AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=eu-west-1 \\
        PYTHONPATH=layers/remediator:. .venv/bin/python -m scripts.bench [--runs 25] [--fresh-runs 5] [--max-vpcs 1000]

1. The machine and the interpreters.
2. AWS calls per event (intake and reconcile, SettleSeconds=0), EC2 apart from SQS, SSM and the rest, and wall
   time (median) on the emulation: moto plus the fidelity layer, in process. The wall time is split into time inside
   AWS calls (botocore and moto) and the remediator's own code; only the latter carries over to Lambda, where each
   call costs network latency instead. Then the settle window: a 15-call VPC module apply, its events delivered as
   the calls happen and all at once (a one-second window): reconciles, EC2 reads and writes, conflicts, log volume.
3. The sweep at 10, 100 and 1000 VPCs: calls, time, log volume. moto answers each Describe in one page; the
   "1000-item pages" column replays the steady sweep with EC2-style pages of 1,000 items (tests/emulation/costs.Pages).
4. Cold import of each handler next to a bare `import boto3`, in fresh interpreters (best of N), under the dev
   venv's python3.11 and a throwaway python3.13 venv (the Lambda runtime) with only boto3 and the layer's
   requirements; with tracing off, and on when the code supports it.
5. The sam build output: sizes, and what the layer holds.

Everything runs offline: the AWS environment is forced to fake credentials and moto.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import glob
import hashlib
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
FUNCTIONS = {"IntakeFunction": "intake", "ReconcilerFunction": "reconciler", "SweepFunction": "sweep"}
BUILD = ROOT / ".aws-sam" / "build"
# The AWS SDK the Lambda Python runtime provides (and its dependencies); none of it belongs in the layer.
SDK_PACKAGES = ("boto3", "botocore", "s3transfer")
RUNTIME_PACKAGES = (*SDK_PACKAGES, "urllib3", "dateutil", "six", "jmespath")
OUT = sys.stdout


def say(line: str = "") -> None:
    print(line, file=OUT, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} MB"


def table(rows: list[tuple[str, ...]], indent: str = "  ") -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        say(indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            say(indent + "  ".join("-" * w for w in widths))


def ops(counter: Counter) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(counter.items())) or "-"


# --- 1. the machine ---------------------------------------------------------------------------------------------


def machine(py313: Path | None) -> None:
    say("== Machine ==")
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines() if line.startswith("model name")), "?"
    )
    say(f"  nproc: {os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})   CPU: {cpu}   {platform.machine()}")
    free = (
        subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout.splitlines()
        if shutil.which("free")
        else []
    )
    for line in free:
        say(f"  free -h | {line}")
    say(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}   {platform.platform()}")
    say(f"  python (dev venv): {platform.python_version()} {sys.executable}")
    version = _run([str(py313), "-c", "import platform; print(platform.python_version())"]).strip() if py313 else "n/a"
    say(f"  python3.13 (bench venv): {version} {py313 or ''}")
    versions = ", ".join(f"{p} {_version(p)}" for p in ("boto3", "botocore", "moto", "aws-lambda-powertools", "aws-sam-cli"))
    say(f"  {versions}")
    say()


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "n/a"


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}... failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return done.stdout


# --- measuring runs on the emulation ----------------------------------------------------------------------------


class Sink(io.TextIOBase):
    """Where the functions' stdout goes during a run (log records and EMF metrics): counted; the log records of the
    reconciler's settled reconciles are also read, for what they say."""

    def __init__(self) -> None:
        self.chars = 0
        self.lines = 0
        self.reconciles = 0
        self.conflicts = 0
        self.reconciler_chars = 0
        self.prompt_reconciles = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.chars += len(text)
        self.lines += text.count("\n")
        for line in text.splitlines():
            if '"function_name":"ReconcilerFunction"' in line:
                self.reconciler_chars += len(line) + 1
                self.reconciles += '"message":"summary"' in line and '"findings"' in line
                self.conflicts += '"outcome":"conflict"' in line
                self.prompt_reconciles += '"message":"summary"' in line and '"prompt":true' in line and '"findings"' in line
        return len(text)


SQS_OPERATIONS = frozenset({"SendMessage", "ChangeMessageVisibilityBatch"})


@dataclass
class Sample:
    cost: Any  # tests.emulation.costs.Cost
    wall: float
    in_calls: float
    log_bytes: int
    log_lines: int
    reconciles: int = 0  # settled reconciles (summary records of the reconciler)
    conflicts: int = 0  # change records with outcome conflict
    reconciler_log_bytes: int = 0
    prompt_reconciles: int = 0

    @property
    def own(self) -> float:
        return self.wall - self.in_calls


class Meter:
    """The functions' calls (CallLog, as the tests count them), the time spent inside them, and what they log."""

    def __init__(self, session: Any) -> None:
        from tests.emulation.costs import CallLog

        self.calls = CallLog()
        self.in_calls = 0.0
        self.fidelity: Any = None  # the emulation's fidelity layer, set by emulation()
        session.events.register("before-call.*.*", self.calls.record)
        session.events.register("before-call.*.*", self._start)
        session.events.register("after-call.*.*", self._stop)

    def _start(self, context: dict, **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def _stop(self, context: dict, **_: Any) -> None:
        self.in_calls += time.perf_counter() - context.get("bench_started", time.perf_counter())

    def measure(self, run: Callable[[], Any]) -> Sample:
        from vpce_remediator.observability import logger

        from tests.emulation.costs import Cost

        self.calls.clear()
        self.in_calls = 0.0
        sink = Sink()
        handler = logger.registered_handler
        previous = handler.setStream(sink)
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(sink):
                run()
        finally:
            wall = time.perf_counter() - started
            if previous is not None:
                handler.setStream(previous)
        return Sample(
            Cost.of(self.calls.calls),
            wall,
            self.in_calls,
            sink.chars,
            sink.lines,
            sink.reconciles,
            sink.conflicts,
            sink.reconciler_chars,
            sink.prompt_reconciles,
        )


@contextlib.contextmanager
def emulation(eni_release_seconds: float = 0.0) -> Iterator[tuple[Any, Meter]]:
    """moto with the fidelity layer and moto's tag lookup indexed (same answers, linear time), as the tests run it;
    EC2 taking ``eni_release_seconds`` to delete an endpoint's network interfaces."""
    import boto3
    from moto import mock_aws
    from moto.ec2.models.tags import TagBackend
    from vpce_remediator.observability import logger

    from tests.emulation.costs import indexed_tag_lookup
    from tests.emulation.fidelity import enforce
    from tests.emulation.queues import enforce_deduplication

    original = TagBackend.describe_tags
    TagBackend.describe_tags = indexed_tag_lookup
    # moto's ~5,000 default AMIs cost set-up time and nothing measured uses them. Each cold container still
    # parses botocore's models itself, as in Lambda (tests share one loader; the bench does not).
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    previous = logger.registered_handler.setStream(Sink())  # records outside measured runs are dropped
    try:
        with mock_aws(), enforce() as fidelity, enforce_deduplication(), contextlib.redirect_stdout(Sink()):
            fidelity.eni_release_seconds = eni_release_seconds
            ec2 = boto3.session.Session(region_name=REGION).client("ec2")
            boto3.setup_default_session(region_name=REGION)
            meter = Meter(boto3.DEFAULT_SESSION)
            meter.fidelity = fidelity  # for scenarios that need the emulation's own knobs (hub zones)
            yield ec2, meter
    finally:
        boto3.DEFAULT_SESSION = None
        TagBackend.describe_tags = original
        if previous is not None:
            logger.registered_handler.setStream(previous)


def summarize(samples: list[Sample]) -> dict[str, str]:
    costs = {
        (tuple(sorted(s.cost.reads.items())), tuple(sorted(s.cost.writes.items())), tuple(sorted(s.cost.other.items())))
        for s in samples
    }
    first = samples[0].cost
    same = "" if len(costs) == 1 else " (varies)"
    return {
        "reads": f"{first.ec2_reads}{same}",
        "writes": f"{first.ec2_writes}{same}",
        "detail": f"reads: {ops(first.reads)}; writes: {ops(first.writes)}; other: {ops(first.other)}",
        "wall": ms(statistics.median(s.wall for s in samples)),
        "own": ms(statistics.median(s.own for s in samples)),
        "logs": size(statistics.median(s.log_bytes for s in samples)),
    }


# --- 2. events ---------------------------------------------------------------------------------------------------


def events(runs: int, fresh_runs: int) -> None:
    from tests.emulation.account import sample_event
    from tests.emulation.costs import AZS, big_vpc, remediated_big_vpc
    from tests.emulation.lambda_runtime import Stack

    say("== EC2 calls and handler time per event (VPC: 40 opted-in subnets, 10 route tables, 3 AZs; default policy) ==")
    say("  each event: the intake queues the call, the reconciler reconciles its VPC (SettleSeconds=0: at once).")
    say(f"  warm rows: median of {runs} invocations in one warm container; fresh rows: median of {fresh_runs}, each on a")
    say("  new VPC (and, for the last row, a new container: empty caches; imports are measured below, not here).")
    say("  'own code' = wall time minus time inside AWS calls (botocore + moto). 'log out' = stdout per invocation.")
    rows: list[tuple[str, ...]] = [("event", "EC2 reads", "EC2 writes", "wall (emulation)", "own code", "log out")]
    details: list[str] = []
    with emulation() as (ec2, meter):
        stack = Stack().provision()
        vpc = remediated_big_vpc(ec2, stack, meter.calls)

        def warm(name: str, make_event: Callable[[int], dict]) -> None:
            samples = []
            for i in range(runs):
                event = make_event(i)
                samples.append(meter.measure(lambda event=event: stack.publish(event)))
            _row(rows, details, name, samples)

        warm("no change: CreateSubnet redelivered (deduplicated)", lambda i: vpc.subnet_event("app-00"))
        warm("no change: another subnet's CreateSubnet", lambda i: _fresh_id(vpc.subnet_event(f"app-{i % 40:02d}"), i))

        def new_served_subnet(i: int) -> dict:
            vpc.subnet(f"late-{i}", AZS[i % 3], route_table=f"rt-{i % 10}")
            return vpc.subnet_event(f"late-{i}")

        warm("no change: new subnet in a served AZ", new_served_subnet)
        warm(
            "no change: CreateTags opt-in (lookup)",
            lambda i: _fresh_id(sample_event("create_tags_subnet_opt_in.json", subnet=vpc.subnets[f"app-{i % 40:02d}"]), i),
        )

        def fresh(name: str, prepare: Callable[[], tuple[Any, dict]]) -> None:
            samples = []
            for _ in range(fresh_runs):
                target, event = prepare()
                samples.append(meter.measure(lambda target=target, event=event: target.publish(event)))
            _row(rows, details, name, samples)

        def new_az(new_table: bool) -> Callable[[], tuple[Any, dict]]:
            def prepare() -> tuple[Any, dict]:
                two_az = remediated_big_vpc(ec2, stack, meter.calls, azs=AZS[:2], subnets=39)
                table = "rt-0"
                if new_table:
                    table = "rt-new"
                    two_az.route_table(table)
                two_az.subnet("app-new", AZS[2], route_table=table)
                return stack, two_az.subnet_event("app-new")

            return prepare

        fresh("new subnet in a new AZ (endpoints in 2 AZs)", new_az(False))
        fresh("  same, on a new route table", new_az(True))

        def cold() -> tuple[Any, dict]:
            return Stack().provision(), big_vpc(ec2).subnet_event("app-00")

        fresh("first event in a new container, no endpoints", cold)
    table(rows)
    say("  calls by operation (EC2 reads; EC2 writes; other services):")
    for line in details:
        say(f"    {line}")
    say()


def _fresh_id(event: dict, i: int) -> dict:
    """The event as another call of the same kind: a new eventID (the settle queue drops a repeated one)."""
    event["detail"]["eventID"] = f"bench-{i}-{event['detail']['eventID']}"
    return event


def settle(runs: int) -> None:
    from tests.emulation.account import Vpc
    from tests.emulation.lambda_runtime import Stack
    from tests.emulation.scenarios import private_tier

    say("== The settle window: one VPC module apply (3 route tables, 6 subnets tagged at creation, 6 associations) ==")
    say("  SettleSeconds=1 (real seconds). 'as they happen': each event to one warm intake as its call returns, Lambda's")
    say("  pollers receiving at once; 'all at once': each event to a cold intake, all queued before any is received.")
    say(f"  Median of {runs} applies, each on a new VPC (a warm reconciler after the first: the catalog is read once).")
    say("  The floor of a first remediation: 8 EC2 reads (3 snapshot, the catalog, 4 details) and 7 writes.")
    rows: list[tuple[str, ...]] = [
        ("delivery", "reconciles", "EC2 reads", "of which lookups", "EC2 writes", "conflicts", "SQS calls", "reconciler log")
    ]
    with emulation() as (ec2, meter):
        stack = Stack({"SettleSeconds": "1"}).provision()
        for delivery in ("as they happen", "all at once"):
            samples = []
            for _ in range(runs):
                vpc = Vpc.create(ec2, "10.20.0.0/16")
                steps = list(private_tier(vpc))

                def apply(steps: list = steps, delivery: str = delivery) -> None:
                    if delivery == "as they happen":
                        for step in steps:
                            stack.publish(step.make())
                            stack.deliver()
                    else:
                        for event in [step.make() for step in steps]:
                            stack.cold("IntakeFunction").publish(event)
                    stack.settle()

                samples.append(meter.measure(apply))
            s = samples[len(samples) // 2]
            writes = s.cost.writes
            rows.append(
                (
                    delivery,
                    str(s.reconciles),
                    str(s.cost.ec2_reads),
                    # the snapshot (3) and details (4) reads, the catalog if this reconciler had not read it: the rest
                    str(s.cost.ec2_reads - 7 - s.cost.reads["DescribeVpcEndpointServices"]),
                    f"{s.cost.ec2_writes} ({ops(writes)})",
                    str(s.conflicts),
                    ops(Counter({k: v for k, v in s.cost.other.items() if k in SQS_OPERATIONS})),
                    size(s.reconciler_log_bytes),
                )
            )
    table(rows)
    say()


# --- releases: opt-out and teardown ---------------------------------------------------------------------------------


def releases(runs: int) -> None:
    from tests.emulation.account import Vpc
    from tests.emulation.lambda_runtime import Stack
    from tests.emulation.scenarios import destroy, private_tier

    say("== Releases (Prune=own): the same tier (3 route tables, 6 subnets), remediated, then opted out or destroyed ==")
    say("  SettleSeconds=1, ReleaseRecheckSeconds=1; EC2 takes 1 s to delete an endpoint's network interfaces.")
    say("  'opt-out': all 6 subnets untagged, their DeleteTags in one window. 'terraform destroy': associations, then")
    say("  subnets and tables, then the VPC, each refused delete retried every 0.5 s with its CloudTrail refusal")
    say(f"  delivered at once. Median of {runs} runs, each on a new VPC; the remediator's calls only.")
    rows: list[tuple[str, ...]] = [
        ("scenario", "reconciles", "of which prompt", "EC2 reads", "EC2 writes", "refused deletes", "destroy took", "log")
    ]
    with emulation(eni_release_seconds=1.0) as (ec2, meter):
        stack = Stack({"SettleSeconds": "1", "ReleaseRecheckSeconds": "1"}).provision()
        for scenario in ("opt-out", "terraform destroy"):
            samples, outcomes = [], []
            for _ in range(runs):
                vpc = Vpc.create(ec2, "10.20.0.0/16")
                for step in private_tier(vpc):
                    stack.publish(step.make())
                stack.settle()

                def run(vpc: Vpc = vpc, scenario: str = scenario, outcomes: list = outcomes) -> None:
                    if scenario == "opt-out":
                        for name in sorted(vpc.subnets):
                            stack.publish(vpc.opt_out(name))
                    else:
                        outcomes.append(destroy(vpc, stack.publish, stack.deliver, retry_seconds=0.5, timeout=60))
                    stack.settle()

                samples.append(meter.measure(run))
            s = samples[len(samples) // 2]
            destroyed = sorted(outcomes, key=lambda o: o.seconds)[len(outcomes) // 2] if outcomes else None
            rows.append(
                (
                    scenario,
                    str(s.reconciles),
                    str(s.prompt_reconciles),
                    _grouped_reads(s.cost.reads),
                    f"{s.cost.ec2_writes} ({ops(s.cost.writes)})",
                    ops(destroyed.refused) if destroyed else "-",
                    f"{destroyed.seconds:.1f} s" if destroyed else "-",
                    size(s.reconciler_log_bytes),
                )
            )
    table(rows)
    say("  (the destroy's and the opt-out's own calls are not counted: they are the pipeline's, not the remediator's)")
    say()


def _row(rows: list, details: list, name: str, samples: list[Sample]) -> None:
    s = summarize(samples)
    rows.append((name, s["reads"], s["writes"], s["wall"], s["own"], s["logs"]))
    details.append(f"{name.strip()}: {s['detail']}")


# --- 3. the sweep --------------------------------------------------------------------------------------------------


def sweeps(max_vpcs: int, runs: int) -> None:
    from tests.emulation.account import load_event
    from tests.emulation.costs import Pages, region_counts, small_vpcs
    from tests.emulation.lambda_runtime import Stack

    sizes = [n for n in (10, 100, 1000) if n <= max_vpcs] or [max_vpcs]
    say("== The sweep (each VPC: 2 opted-in subnets, 1 route table + main; default policy) ==")
    say(f"  'steady' = a sweep after the VPCs were remediated: median of {runs} below 1000 VPCs, one run at 1000.")
    say("  moto returns each Describe in one page; '1000-item pages' replays the steady sweep with EC2-style pages of 1,000.")
    rows: list[tuple[str, ...]] = [
        ("VPCs", "items (subnets/RTs/endpoints)", "steady EC2 calls", "1000-item pages", "steady wall", "own code", "log out"),
    ]
    first_rows: list[tuple[str, ...]] = [
        ("VPCs", "new VPCs", "build (test client)", "remediating sweep: EC2 reads", "EC2 writes", "other", "wall"),
    ]
    with emulation() as (ec2, meter), Pages() as pages:
        stack = Stack().provision()
        built = 0
        event = load_event("scheduled_sweep.json")

        def sweep() -> None:
            result = stack.invoke("SweepFunction", event)
            assert result["status"] == "ok", result

        for target in sizes:
            started = time.perf_counter()
            small_vpcs(ec2, target - built, start=built)
            build_time = time.perf_counter() - started
            first = meter.measure(sweep)
            first_rows.append(
                (
                    str(target),
                    str(target - built),
                    f"{build_time:.1f} s",
                    _grouped_reads(first.cost.reads),
                    f"{first.cost.ec2_writes} ({ops(first.cost.writes)})",
                    ops(first.cost.other),
                    f"{first.wall:.1f} s",
                )
            )
            built = target
            steady = [meter.measure(sweep) for _ in range(runs if target < 1000 else 1)]
            pages.size = 1000
            paged = meter.measure(sweep)
            pages.size = None
            items = region_counts(ec2)
            s = summarize(steady)
            rows.append(
                (
                    str(target),
                    "/".join(str(items[k]) for k in ("DescribeSubnets", "DescribeRouteTables", "DescribeVpcEndpoints")),
                    f"{s['reads']} ({ops(steady[0].cost.reads)})"
                    + (f", writes {s['writes']}" if steady[0].cost.ec2_writes else ""),
                    str(paged.cost.ec2_reads),
                    s["wall"],
                    s["own"],
                    f"{s['logs']} ({steady[0].log_lines} lines)",
                )
            )
    table(rows)
    say("  the sweeps that remediated the new VPCs (cold container for the first: +1 catalog read):")
    table(first_rows, indent="    ")
    say()


def hubs(spokes: int, runs: int) -> None:
    from tests.emulation.account import load_event
    from tests.emulation.costs import small_vpcs
    from tests.emulation.lambda_runtime import Stack

    say(f"== Spokes served by a hub: {spokes} VPCs like the sweep's, their 3 interface services in a hub account's zones ==")
    say(f"  Median of {runs} steady runs; Route 53 is asked only where no endpoint of the VPC reaches a need.")
    rows: list[tuple[str, ...]] = [("run", "EC2 reads", "Route 53 calls", "EC2 writes", "wall", "own code")]
    with emulation() as (ec2, meter):
        stack = Stack().provision()
        vpcs = small_vpcs(ec2, spokes)
        for vpc in vpcs:
            for service in ("ssm", "ssmmessages", "ec2messages"):
                meter.fidelity.associate_hub_zone("222222222222", f"{service}.{REGION}.amazonaws.com", vpc.id)
        event = load_event("scheduled_sweep.json")

        def sweep() -> None:
            assert stack.invoke("SweepFunction", event)["status"] == "ok"

        meter.measure(sweep)  # remediates the gateway needs
        for name, run in (("steady sweep", sweep),):
            samples = [meter.measure(run) for _ in range(runs)]
            s = samples[len(samples) // 2]
            rows.append(
                (
                    name,
                    f"{s.cost.ec2_reads} ({ops(s.cost.reads)})",
                    str(s.cost.other["ListHostedZonesByVPC"]),
                    str(s.cost.ec2_writes),
                    ms(statistics.median(x.wall for x in samples)),
                    ms(statistics.median(x.own for x in samples)),
                )
            )
    table(rows)
    say()


def _grouped_reads(reads: Counter) -> str:
    from tests.emulation.costs import CATALOG, DETAILS, SNAPSHOT

    groups = {"snapshot": SNAPSHOT, "catalog": CATALOG, "details": DETAILS}
    parts = [f"{sum(reads[op] for op in group)} {name}" for name, group in groups.items() if any(reads[op] for op in group)]
    rest = sum(n for op, n in reads.items() if not any(op in g for g in groups.values()))
    return f"{sum(reads.values())} = " + " + ".join(parts + ([f"{rest} other"] if rest else []))


# --- 4. cold imports -------------------------------------------------------------------------------------------------


def find_py313(explicit: str | None) -> str | None:
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))[-1:]
    candidates += [shutil.which("python3.13") or ""]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def py313_venv(explicit: str | None, where: Path) -> tuple[Path | None, str]:
    """A throwaway python3.13 venv with boto3/botocore (the dev venv's versions) and what the layer installs, the way
    layers/remediator/Makefile installs it: requirements.txt with dependencies, requirements-tracing.txt without."""
    interpreter = find_py313(explicit)
    if interpreter is None:
        return None, "python3.13 not found"
    layer = ROOT / "layers" / "remediator"
    with_deps, no_deps = layer / "requirements.txt", layer / "requirements-tracing.txt"
    pins = [f"boto3=={_version('boto3')}", f"botocore=={_version('botocore')}"]
    texts = "".join(p.read_text() for p in (with_deps, no_deps) if p.exists())
    digest = hashlib.sha256((interpreter + " ".join(pins) + texts).encode()).hexdigest()[:12]
    python = where / "bin" / "python"
    stamp = where / f".installed-{digest}"
    if not stamp.exists():
        say(f"  (creating {where} with {interpreter}: {' '.join(pins)} + the layer's requirements)")
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        try:
            _run([interpreter, "-m", "venv", "--clear", str(where)])
            _run([*pip, *pins, "-r", str(with_deps)])
            if no_deps.exists():
                _run([*pip, "--no-deps", "-r", str(no_deps)])
        except RuntimeError as exc:
            return None, f"could not create the python3.13 venv: {exc}"
        stamp.touch()
    return python, ""


@functools.cache
def _function_env() -> dict[str, str]:
    """The environment template.yaml gives the event function (Powertools settings among it)."""
    from tests.emulation.lambda_runtime import Stack

    try:
        return Stack().environment("IntakeFunction")
    except Exception:  # the emulation cannot resolve something new in the template: import with defaults
        return {}


def _import_env(pythonpath: str, extra: dict[str, str]) -> dict[str, str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), **FAKE_AWS, **_function_env()}
    return {**base, "PYTHONPATH": pythonpath, **extra}


def time_import(python: str, module: str, pythonpath: str, extra: dict[str, str], runs: int, then: str = "") -> float:
    """Best of ``runs`` fresh interpreters: seconds to import ``module`` (then run ``then``), after one warm-up run
    that lets Python write bytecode where it may."""
    code = f"import time\nt = time.perf_counter()\nimport {module}\n{then}\nprint(repr(time.perf_counter() - t))"
    env = _import_env(pythonpath, extra)
    _run([python, "-c", code], env)
    return min(float(_run([python, "-c", code], env).strip()) for _ in range(runs))


IMPORT_GROUPS = {
    "AWS SDK (boto3, botocore, ...)": ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "jmespath", "six", "awscrt"),
    "Powertools": ("aws_lambda_powertools", "typing_extensions"),
    "X-Ray SDK": ("aws_xray_sdk", "wrapt"),
    "PyYAML": ("yaml", "_yaml"),
    "vpce_remediator + app": ("vpce_remediator", "app"),
}


def import_breakdown(python: str, pythonpath: str, extra: dict[str, str]) -> tuple[float, list[tuple[str, float]]]:
    """`import app` under -X importtime (one run): the total, and its self times summed by who first imported a
    module: each module counts for the nearest enclosing group above (the stdlib boto3 pulls in counts as the SDK)."""
    env = _import_env(pythonpath, extra)
    argv = [python, "-X", "importtime", "-c", "import app"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    pending: list[tuple[int, str, int, list]] = []  # -X importtime prints a module after its imports
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+\d+\s+\|( *)(\S+)$", line)
        if not match:
            continue
        depth = len(match.group(2)) // 2
        children = []
        while pending and pending[-1][0] > depth:
            children.insert(0, pending.pop())
        pending.append((depth, match.group(3), int(match.group(1)), children))
    by_group: Counter = Counter()

    def walk(node: tuple[int, str, int, list], group: str) -> None:
        _, name, self_us, children = node
        root = name.split(".")[0]
        group = next((g for g, roots in IMPORT_GROUPS.items() if root in roots and g != group), group)
        by_group[group] += self_us / 1e6
        for child in children:
            walk(child, group)

    for node in pending:
        walk(node, "(stdlib, interpreter)")
    return sum(by_group.values()), by_group.most_common()


def tracing_supported() -> bool:
    sources = [*(ROOT / "layers" / "remediator" / "vpce_remediator").glob("*.py"), *(ROOT / "functions").glob("*/app.py")]
    return any("Tracer" in p.read_text() for p in sources)


def cold_imports(py313: Path | None, why_not: str, runs: int) -> None:
    say(f"== Cold import of each handler (fresh interpreter per run, best of {runs}; budget: tracing off <= 1.5x boto3) ==")
    say("  source: PYTHONPATH=layers/remediator:functions/<name>, bytecode cached after a warm-up run.")
    say("  as built: PYTHONPATH=.aws-sam/build/RemediatorLayer/python:.aws-sam/build/<Function> with PYTHONDONTWRITEBYTECODE=1:")
    say("  what the build ships is all there is, as in Lambda (/opt and /var/task are read-only): the layer carries 3.13")
    say("  bytecode (layers/remediator/Makefile), so 3.13 loads it and 3.11 compiles; the function's app.py compiles.")
    say("  Layer packages shadow the interpreter's own, as /opt/python precedes the runtime's boto3.")
    say("  boto3 keeps its bytecode, as the runtime's does.")
    tracing = tracing_supported()
    interpreters = [("python3.11 (dev venv)", sys.executable)]
    if py313 is not None:
        interpreters.append(("python3.13 (bench venv)", str(py313)))
    else:
        say(f"  python3.13: n/a ({why_not})")
    built, lean = _copy_build()
    if lean is not None:
        say("  as built, SDK from the runtime: the same, with the layer's copies of runtime packages removed (what the")
        say(f"  layer would cost without them: {', '.join(RUNTIME_PACKAGES)}).")
    off = {"POWERTOOLS_TRACE_DISABLED": "true"}
    on = {"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "bench"}
    no_pyc = {**off, "PYTHONDONTWRITEBYTECODE": "1"}
    tracer = "from aws_lambda_powertools.tracing import Tracer\nTracer(service='vpce-remediator')"
    header = ["interpreter", "handler", "import boto3", "app (source)", "app (as built)"]
    header += ["as built, SDK from the runtime"] if lean is not None else []
    rows: list[tuple[str, ...]] = [(*header, "tracing on (source)")]
    breakdowns = []
    for label, python in interpreters:
        boto3_s = time_import(python, "boto3", "", {}, runs)

        def figure(seconds: float, budget: bool = True, boto3_s: float = boto3_s) -> str:
            ratio = seconds / boto3_s
            verdict = (" ok" if ratio <= 1.5 else " OVER") if budget else ""
            return f"{ms(seconds)} = {ratio:.2f}x{verdict}"

        for function_id, name in FUNCTIONS.items():
            source = f"{ROOT / 'layers' / 'remediator'}:{ROOT / 'functions' / name}"
            row = [label, name, ms(boto3_s), figure(time_import(python, "app", source, off, runs))]
            paths = {}
            for variant, copy in (("as built", built), ("SDK from the runtime", lean)):
                if copy is not None:
                    paths[variant] = f"{copy / 'RemediatorLayer' / 'python'}:{copy / function_id}"
                    row.append(figure(time_import(python, "app", paths[variant], no_pyc, runs)))
            if built is None:
                row.append("n/a (no build)")
            row.append(figure(time_import(python, "app", source, on, runs, then=tracer), budget=False) if tracing else "n/a")
            rows.append(tuple(row))
            if name == "reconciler":
                breakdowns.append((label, "source", *import_breakdown(python, source, off)))
                if "as built" in paths:
                    breakdowns.append((label, "as built", *import_breakdown(python, paths["as built"], no_pyc)))
    table(rows)
    if tracing:
        say("  tracing on: POWERTOOLS_TRACE_DISABLED=false in a Lambda-like environment (LAMBDA_TASK_ROOT set): the import plus")
        say("  Tracer(service=...), which the code builds at the first invocation when tracing is on (no budget).")
    else:
        say("  tracing on: n/a (the code has no Tracer yet)")
    say("  `import app` (reconciler), one -X importtime run each: self time of every module, counted for the group")
    say("  that first imported it (so the stdlib boto3 pulls in counts as SDK):")
    for label, variant, total, breakdown in breakdowns:
        say(f"    {label}, {variant} ({ms(total)} with -X importtime's overhead):")
        say("      " + ", ".join(f"{name} {ms(seconds)} ({seconds / total:.0%})" for name, seconds in breakdown))
    say()
    if built is not None:
        shutil.rmtree(built.parent.parent, ignore_errors=True)


def _copy_build() -> tuple[Path | None, Path | None]:
    """A copy of the sam build output, exactly as shipped (bytecode included), and, when the layer bundles
    packages the runtime provides, a second copy without them."""
    if not (BUILD / "RemediatorLayer").is_dir():
        return None, None
    base = Path(tempfile.mkdtemp(prefix="vpce-bench-"))
    built = base / "built" / "build"
    shutil.copytree(BUILD, built)
    layer = BUILD / "RemediatorLayer" / "python"
    bundled = [p.name for p in layer.iterdir() if p.name.removesuffix(".py") in RUNTIME_PACKAGES]
    if not bundled:
        return built, None
    lean = base / "lean" / "build"
    shutil.copytree(built, lean)
    for name in bundled:
        path = lean / "RemediatorLayer" / "python" / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return built, lean


# --- 5. the package ----------------------------------------------------------------------------------------------------


def package() -> None:
    say("== The sam build output (.aws-sam/build) ==")
    if not (BUILD / "RemediatorLayer").is_dir():
        say("  n/a: run make build first")
        say()
        return
    rows: list[tuple[str, ...]] = [("artifact", "files", "unzipped", "zipped (deflate)")]
    for name in (*FUNCTIONS, "RemediatorLayer"):
        files = [p for p in (BUILD / name).rglob("*") if p.is_file()]
        rows.append((name, str(len(files)), size(sum(p.stat().st_size for p in files)), size(_zipped(BUILD / name, files))))
    table(rows)
    layer = BUILD / "RemediatorLayer" / "python"
    entries = sorted(p.name for p in layer.iterdir())
    packages = [e for e in entries if not e.endswith((".dist-info", ".data")) and e != "requirements.txt"]
    sdk = [p for p in packages if p in SDK_PACKAGES]
    also = [p for p in packages if p.removesuffix(".py") in RUNTIME_PACKAGES and p not in SDK_PACKAGES]
    say(f"  boto3/botocore/s3transfer in the layer: {'YES: ' + ', '.join(sdk) if sdk else 'no'}")
    if also:
        say(f"  packages the runtime also provides, in the layer as dependencies of the layer's own: {', '.join(also)}")
    loaded = _loaded_from_layer(layer)
    direct = _imported_by_code()
    owners, why = _layer_provenance(layer)
    rows = [("layer top-level", "size", "loaded by the code?", "in the layer because")]
    for entry in packages:
        name = entry.removesuffix(".py")
        path = layer / entry
        bytes_ = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        if name in direct:
            used = "yes (imported by name)"
        elif name in loaded:
            used = "yes (by a dependency)"
        else:
            used = "no, never"
        if name in RUNTIME_PACKAGES:
            used += "; the runtime has it"
        dist = owners.get(name, "")
        part_of = f"part of {dist}: " if dist and dist != _normalized(name) else ""
        rows.append((entry, size(bytes_), used, part_of + why.get(dist, "?")))
    table(rows)
    metadata_dirs = [e for e in entries if e.endswith((".dist-info", ".data"))]
    say(f"  also: {', '.join(metadata_dirs)}" + (", requirements.txt" if "requirements.txt" in entries else ""))
    say()


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _layer_provenance(layer: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Which distribution each top-level entry of the layer belongs to, and why that distribution is there: named in
    layers/remediator/requirements.txt, or required (Requires-Dist, extras included) by distributions that are."""
    from email.parser import Parser

    wanted: dict[str, tuple[set[str], str]] = {}  # distribution -> (extras asked for, the file that asks)
    for path in sorted((ROOT / "layers" / "remediator").glob("requirements*.txt")):
        for line in path.read_text().splitlines():
            match = re.match(r"\s*([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", line)
            if match and not line.lstrip().startswith("#"):
                extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
                wanted[_normalized(match.group(1))] = (extras, path.name)
    owners: dict[str, str] = {}
    requires: dict[str, set[str]] = {}
    for info in layer.glob("*.dist-info"):
        meta = Parser().parsestr((info / "METADATA").read_text())
        dist = _normalized(meta["Name"])
        requires[dist] = set()
        for requirement in meta.get_all("Requires-Dist") or []:
            extra = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", requirement)
            if extra is None or extra.group(1) in wanted.get(dist, (set(), ""))[0]:
                requires[dist].add(_normalized(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]))
        top_level = info / "top_level.txt"
        tops = set(top_level.read_text().split()) if top_level.exists() else set()
        for row in (info / "RECORD").read_text().splitlines():
            parts = [p for p in Path(row.split(",")[0]).parts if p != ".."]
            if parts and parts[0] != info.name:
                tops.add(parts[0])
        for top in tops:
            owners.setdefault(top.removesuffix(".py"), dist)
    owners.setdefault("vpce_remediator", "vpce-remediator")
    why = {"vpce-remediator": "the project's code (layers/remediator)"}
    for dist in requires:
        if dist in wanted:
            why[dist] = wanted[dist][1]
        else:
            by = sorted(d for d, needs in requires.items() if dist in needs)
            why[dist] = "required by " + ", ".join(by) if by else "?"
    return owners, why


def _zipped(base: Path, files: list[Path]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(base))
    return buffer.tell()


def _imported_by_code() -> set[str]:
    """Top-level names of every import statement in the layer's package and the handlers (lazy ones included)."""
    return {module.split(".")[0] for module in _modules_named_by_code()}


def _modules_named_by_code() -> set[str]:
    """Full module names of every import statement in the layer's package and the handlers."""
    modules = set()
    sources = [*(ROOT / "layers" / "remediator" / "vpce_remediator").glob("*.py"), *(ROOT / "functions").glob("*/app.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module)
    return modules


def _loaded_from_layer(layer: Path) -> dict[str, str]:
    """Every top-level package that the code's imports (lazy ones included, and the Tracer the code builds when
    tracing is on) load from the layer, each with the first of the code's imports that pulled it in."""
    steps = [
        (m.split(".")[0], f"import {m}")
        for m in sorted(_modules_named_by_code())
        if m.split(".")[0] not in sys.stdlib_module_names
    ]
    if tracing_supported():
        steps.append(("aws_lambda_powertools", "from aws_lambda_powertools.tracing import Tracer; Tracer(service='probe')"))
    probe = (
        "import json, sys\n"
        f"layer, steps = {str(layer)!r}, {steps!r}\n"
        "seen, found = set(sys.modules), {}\n"
        "for label, code in steps:\n"
        "    try:\n"
        "        exec(code)\n"
        "    except Exception:\n"
        "        pass\n"
        "    for name, module in list(sys.modules.items()):\n"
        "        if name not in seen and (getattr(module, '__file__', None) or '').startswith(layer):\n"
        "            found.setdefault(name.split('.')[0], label)\n"
        "    seen |= set(sys.modules)\n"
        "print(json.dumps(found))\n"
    )
    tracing_on = {"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": "/var/task", "PYTHONDONTWRITEBYTECODE": "1"}
    env = _import_env(f"{layer}:{ROOT / 'functions' / 'reconciler'}", tracing_on)
    return json.loads(_run([sys.executable, "-c", probe], env).strip().splitlines()[-1])


# --- main ------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=25, help="invocations per warm event row (median)")
    parser.add_argument("--fresh-runs", type=int, default=5, help="fresh VPCs per changing/cold event row (median)")
    parser.add_argument("--settle-runs", type=int, default=3, help="applies per settle-window row (median)")
    parser.add_argument("--sweep-runs", type=int, default=3, help="steady sweeps per size below 1000 VPCs (median)")
    parser.add_argument("--max-vpcs", type=int, default=1000, help="largest sweep (10, 100, 1000 up to this)")
    parser.add_argument("--import-runs", type=int, default=5, help="fresh interpreters per import figure (best of)")
    parser.add_argument("--py313", help="python3.13 interpreter for the Lambda-runtime venv (default: pyenv or PATH)")
    parser.add_argument("--py313-venv", default=str(Path(tempfile.gettempdir()) / "vpce-remediator-bench-py313"))
    args = parser.parse_args(argv)
    # As the Makefile sets PYTHONPATH (layers/remediator and the repository root), for direct runs too.
    for path in (str(ROOT), str(ROOT / "layers" / "remediator")):
        if path not in sys.path:
            sys.path.insert(0, path)

    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(name, None)
    os.environ.update(FAKE_AWS)
    started = time.perf_counter()
    py313, why_not = py313_venv(args.py313, Path(args.py313_venv))
    machine(py313)
    step = time.perf_counter()
    events(args.runs, args.fresh_runs)
    say(f"  (events: {time.perf_counter() - step:.0f} s)\n")
    step = time.perf_counter()
    settle(args.settle_runs)
    say(f"  (settle window: {time.perf_counter() - step:.0f} s)\n")
    step = time.perf_counter()
    releases(args.settle_runs)
    say(f"  (releases: {time.perf_counter() - step:.0f} s)\n")
    step = time.perf_counter()
    hubs(min(100, args.max_vpcs), args.sweep_runs)
    say(f"  (hub spokes: {time.perf_counter() - step:.0f} s)\n")
    step = time.perf_counter()
    sweeps(args.max_vpcs, args.sweep_runs)
    say(f"  (sweeps: {time.perf_counter() - step:.0f} s)\n")
    step = time.perf_counter()
    cold_imports(py313, why_not, args.import_runs)
    say(f"  (imports: {time.perf_counter() - step:.0f} s)\n")
    package()
    say(f"bench finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
