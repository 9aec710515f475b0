"""The pure core stays pure: importing it loads no AWS SDK and no Powertools and reads no environment,
and its vocabulary covers what EC2 can answer. Run in fresh interpreters, so nothing the test process
has already imported can hide an import."""

from __future__ import annotations

import json
import subprocess
import sys

import botocore.session
import pytest
from vpce_remediator.vocabulary import GONE_STATES, LIVE_STATES, EndpointState

from tests.emulation.template import ROOT, load_template

pytestmark = pytest.mark.unit

PURE = (
    "plan",
    "settle",
    "triggers",
    "events",
    "rule_events",
    "compliance",
    "policy",
    "named_policies",
    "vocabulary",
    "models",
    "actions",
)
# Imports the pure modules, then reports what got imported and which environment variables were read.
PROBE = """
import json, os, sys
read = []
class Watched(type(os.environ)):
    def __getitem__(self, key):
        read.append(key)
        return super().__getitem__(key)
    def get(self, key, default=None):
        read.append(key)
        return super().get(key, default)
os.environ.__class__ = Watched
for name in sys.argv[1:]:
    __import__(f"vpce_remediator.{name}")
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore", "aws_lambda_powertools", "yaml", "aws_xray_sdk"})
print(json.dumps({"heavy": heavy, "read": read}))
"""


def probe(*modules: str) -> dict:
    env = {"PYTHONPATH": str(ROOT / "layers" / "remediator"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE, *modules], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", PURE)
def test_importing_a_pure_module_loads_no_sdk_and_reads_no_environment(module):
    assert probe(module) == {"heavy": [], "read": []}


def test_the_probe_sees_an_sdk_import_and_an_environment_read():
    # The probe can fail: the Logger (observability) is Powertools, and reads its settings from the environment.
    seen = probe("observability")
    assert "aws_lambda_powertools" in seen["heavy"] and seen["read"]
    assert {"boto3", "botocore"} <= set(probe("clients")["heavy"])


def test_every_endpoint_state_ec2_lists_is_either_live_or_gone():
    model = botocore.session.get_session().get_service_model("ec2")
    listed = {state.lower() for state in model.shape_for("VpcEndpoint").members["State"].enum}
    assert listed == set(EndpointState) == LIVE_STATES | GONE_STATES
    assert not LIVE_STATES & GONE_STATES
    assert all(EndpointState.is_live(s) for s in LIVE_STATES) and not any(EndpointState.is_live(s) for s in GONE_STATES)
    # EC2 answers in camel case; a state added later counts as live (a duplicate is worse than a late one)
    assert EndpointState.is_live("PendingAcceptance") and not EndpointState.is_live("Deleted")
    assert EndpointState.is_live("somethingNew")


def test_the_command_line_defaults_are_the_templates():
    from vpce_remediator.cli import DEFAULTS, parser

    parameters = load_template()["Parameters"]
    args = parser().parse_args(["audit"])
    assert (args.opt_in_tag_key, args.gateway_services, args.interface_services, args.prune) == (
        parameters["OptInTagKey"]["Default"],
        parameters["GatewayServices"]["Default"],
        parameters["InterfaceServices"]["Default"],
        parameters["Prune"]["Default"],
    )
    assert set(DEFAULTS.values()) == {args.opt_in_tag_key, args.gateway_services, args.interface_services, args.prune}


def test_one_service_name_pattern_and_one_set_of_default_aliases():
    from vpce_remediator import config, named_policies, policy

    for module in (config, named_policies):
        assert not [
            name
            for name, value in vars(module).items()
            if isinstance(value, type(policy.SERVICE_NAME)) and "SERVICE" in name.upper() and value is not policy.SERVICE_NAME
        ]
        assert not [name for name in vars(module) if "ALIAS" in name.upper() and name != "DEFAULT_ALIASES"]
    assert policy.PolicySet.with_default((), ()).resolve("TRUE ") is not None
