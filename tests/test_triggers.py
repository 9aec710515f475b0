"""The trigger table on the sample events: which VPCs (or which lookup) each call asks for. Pure."""

from __future__ import annotations

import pytest
from vpce_remediator.errors import InvalidEvent
from vpce_remediator.events import parse_api_call
from vpce_remediator.triggers import ASSOCIATION, ROUTE_TABLE, SUBNET, VPC_ENDPOINT, Targets, targets

from tests.emulation.account import load_event

pytestmark = pytest.mark.unit

KEY = "vpce-remediator/policy"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # A create also tells which VPC the new resource is in: later calls about it need no lookup
        (
            "create_subnet.json",
            Targets(vpc_ids=("vpc-0a1b2c3d4e5f60718",), learned={"subnet-0f1e2d3c4b5a69788": "vpc-0a1b2c3d4e5f60718"}),
        ),
        (
            "create_route_table.json",
            Targets(vpc_ids=("vpc-0a1b2c3d4e5f60718",), learned={"rtb-07a8b9c0d1e2f3a4b": "vpc-0a1b2c3d4e5f60718"}),
        ),
        ("create_tags_subnet_opt_in.json", Targets(lookup=SUBNET, lookup_ids=("subnet-0f1e2d3c4b5a69788",))),
        # An association also names the subnet and the association: remembered with the table's VPC, so a
        # later disassociation (which names only the association) resolves without a lookup
        (
            "associate_route_table.json",
            Targets(
                lookup=ROUTE_TABLE,
                lookup_ids=("rtb-07a8b9c0d1e2f3a4b",),
                remembered=("subnet-0f1e2d3c4b5a69788", "rtbassoc-0b1c2d3e4f5a6b7c8"),
            ),
        ),
        (
            "replace_route_table_association.json",
            Targets(
                lookup=ROUTE_TABLE,
                lookup_ids=("rtb-07a8b9c0d1e2f3a4b",),
                remembered=("rtbassoc-0e9d8c7b6a5f4e3d2", "rtbassoc-0d4c3b2a1f0e9d8c7"),
            ),
        ),
        ("delete_vpc_endpoints.json", Targets(lookup=VPC_ENDPOINT, lookup_ids=("vpce-0123456789abcdef0",))),
        ("modify_vpc_endpoint.json", Targets(lookup=VPC_ENDPOINT, lookup_ids=("vpce-0123456789abcdef0",))),
        ("create_tags_other.json", Targets(ignored="not_the_opt_in_tag")),
        ("delete_tags_subnet_opt_out.json", Targets(lookup=SUBNET, lookup_ids=("subnet-0f1e2d3c4b5a69788",))),
        # Deletes name what is gone: resolved from memory, or else to where the remediator's endpoints serve nothing
        ("delete_subnet.json", Targets(lookup=SUBNET, lookup_ids=("subnet-0f1e2d3c4b5a69788",), deletes=True)),
        ("delete_route_table.json", Targets(lookup=ROUTE_TABLE, lookup_ids=("rtb-07a8b9c0d1e2f3a4b",), deletes=True)),
        ("disassociate_route_table.json", Targets(lookup=ASSOCIATION, lookup_ids=("rtbassoc-0b1c2d3e4f5a6b7c8",), deletes=True)),
        # A delete EC2 refused: the subnet still exists (looked up) and is leaving; the VPC names itself
        (
            "delete_subnet_refused.json",
            Targets(lookup=SUBNET, lookup_ids=("subnet-0f1e2d3c4b5a69788",), refused="subnet-0f1e2d3c4b5a69788"),
        ),
        ("delete_vpc_refused.json", Targets(vpc_ids=("vpc-0a1b2c3d4e5f60718",), refused="vpc-0a1b2c3d4e5f60718")),
    ],
)
def test_each_sample_event_resolves_to_its_targets(name, expected):
    assert targets(parse_api_call(load_event(name)), KEY) == expected


def test_several_endpoints_in_one_delete_are_all_looked_up():
    event = load_event("delete_vpc_endpoints.json")
    item = event["detail"]["requestParameters"]["DeleteVpcEndpointsRequest"]["VpcEndpointId"]
    event["detail"]["requestParameters"]["DeleteVpcEndpointsRequest"]["VpcEndpointId"] = [
        item,
        {"tag": 2, "content": "vpce-0fedcba9876543210"},
    ]
    assert targets(parse_api_call(event), KEY).lookup_ids == ("vpce-0123456789abcdef0", "vpce-0fedcba9876543210")


def test_the_opt_in_tag_on_something_other_than_a_subnet_needs_nothing():
    event = load_event("create_tags_subnet_opt_in.json")
    event["detail"]["requestParameters"]["resourcesSet"]["items"] = [{"resourceId": "i-0c1d2e3f4a5b6c7d8"}]
    assert targets(parse_api_call(event), KEY) == Targets(ignored="no_subnet_tagged")


def test_a_different_opt_in_key_makes_the_same_tag_irrelevant():
    assert targets(parse_api_call(load_event("create_tags_subnet_opt_in.json")), "endpoints").ignored == "not_the_opt_in_tag"


OWN_AGENT = "Boto3/1.43.0 md/Botocore#1.43.0 ua/2.1 os/linux lang/python#3.13 vpce-remediator"
OWN_ROLE = "arn:aws:iam::123456789012:role/vpce-remediator-ReconcilerRole-0ABCDEF12345"


def made_by_the_remediator(event: dict) -> dict:
    """The event as CloudTrail records a call of the remediator's reconciler role."""
    identity = event["detail"]["userIdentity"]
    identity["arn"] = "arn:aws:sts::123456789012:assumed-role/vpce-remediator-ReconcilerRole-0ABCDEF12345/fn"
    identity["sessionContext"]["sessionIssuer"]["arn"] = OWN_ROLE
    event["detail"]["userAgent"] = OWN_AGENT
    return event


def own_targets(event: dict) -> Targets:
    return targets(parse_api_call(event), KEY, frozenset({OWN_ROLE}))


def test_the_remediators_own_adds_are_ignored():
    event = made_by_the_remediator(load_event("modify_vpc_endpoint.json"))
    event["detail"]["requestParameters"]["ModifyVpcEndpointRequest"] = {
        "VpcEndpointId": "vpce-0123456789abcdef0",
        "AddRouteTableId": {"tag": 1, "content": "rtb-07a8b9c0d1e2f3a4b"},
    }
    assert own_targets(event) == Targets(ignored="own_call")


def test_the_remediators_user_agent_from_anyone_else_is_reconciled_and_flagged():
    # Anyone can set AWS_SDK_UA_APP_ID=vpce-remediator: the call is judged by who made it
    event = load_event("modify_vpc_endpoint.json")
    event["detail"]["userAgent"] = OWN_AGENT
    assert own_targets(event) == Targets(lookup=VPC_ENDPOINT, lookup_ids=("vpce-0123456789abcdef0",), claims_own=True)
    # and the remediator's role without its user agent is still its own
    quiet = made_by_the_remediator(load_event("modify_vpc_endpoint.json"))
    quiet["detail"]["requestParameters"]["ModifyVpcEndpointRequest"] = {"VpcEndpointId": "vpce-0123456789abcdef0"}
    quiet["detail"]["userAgent"] = "Boto3/1.43.0"
    assert own_targets(quiet) == Targets(ignored="own_call")


@pytest.mark.parametrize("name", ["modify_vpc_endpoint.json", "delete_vpc_endpoints.json"])
def test_the_remediators_own_releases_are_reconciled_again(name):
    # A subnet may have opted in while the release ran: the next reconcile puts back what it needs
    event = made_by_the_remediator(load_event(name))  # the modify removes a route table
    assert own_targets(event) == Targets(lookup=VPC_ENDPOINT, lookup_ids=("vpce-0123456789abcdef0",))


def test_deleting_every_tag_of_a_subnet_removes_the_opt_in_tag_too():
    event = load_event("delete_tags_subnet_opt_out.json")
    del event["detail"]["requestParameters"]["tagSet"]
    assert targets(parse_api_call(event), KEY).lookup_ids == ("subnet-0f1e2d3c4b5a69788",)
    event["detail"]["requestParameters"]["tagSet"] = {"items": [{"key": "Name"}]}
    assert targets(parse_api_call(event), KEY) == Targets(ignored="not_the_opt_in_tag")


@pytest.mark.parametrize("code", ["Client.UnauthorizedOperation", "Server.InternalError", "Client.InvalidSubnetID.NotFound"])
def test_a_delete_that_failed_for_another_reason_changed_nothing(code):
    event = load_event("delete_subnet_refused.json")
    event["detail"]["errorCode"] = code
    assert targets(parse_api_call(event), KEY) == Targets(ignored="failed_call")


def test_a_vpc_that_was_deleted_needs_nothing():
    event = load_event("delete_vpc_refused.json")
    del event["detail"]["errorCode"]
    assert targets(parse_api_call(event), KEY) == Targets(ignored="deleted")


def test_a_trigger_without_its_ids_is_an_invalid_event():
    event = load_event("associate_route_table.json")
    event["detail"]["requestParameters"] = {"subnetId": "subnet-0f1e2d3c4b5a69788"}
    with pytest.raises(InvalidEvent, match="AssociateRouteTable names no route-table id"):
        targets(parse_api_call(event), KEY)


def test_the_command_lines_user_agent_is_not_a_claim_to_be_the_functions():
    from vpce_remediator import CLI_USER_AGENT

    event = load_event("modify_vpc_endpoint.json")
    for agent, claims in (
        (f"Boto3/1.35 md/Botocore#1.35 ua/2.0 {CLI_USER_AGENT}", False),
        ("Boto3/1.35 md/Botocore#1.35 ua/2.0 vpce-remediator", True),
        ("aws-cli/2.17.0 app/vpce-remediator", True),
        ("terraform-provider-aws/5.76.0 vpce-remediator-fork/1.0", False),
    ):
        event["detail"]["userAgent"] = agent
        assert targets(parse_api_call(event), KEY, frozenset({OWN_ROLE})).claims_own is claims, agent
