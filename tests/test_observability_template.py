"""template.yaml's observability names only what exists: the saved Logs Insights queries read fields of
docs/log-schema.json (or Logs Insights' own @fields), the dashboard graphs metrics of
vpce_remediator/telemetry.py with their exact dimension sets and this stack's functions, queue, log groups
and alarms, and the alarms watch every function and the failed-events queue and notify AlarmTopic.

Checked on the stack with the most in it (Observability=full, ConfigRule=on); with the rule off, the
dashboard, the queries and the alarms still name only what is deployed, and Observability=minimal keeps
the failed-events, function errors and Errors-metric alarms alone (test_template.py holds the resources of
each)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from vpce_remediator.telemetry import METRICS, NAMESPACE
from vpce_remediator.vocabulary import Reason

from tests.emulation.template import ROOT, deployed, function_environment, function_property, functions, load_template

pytestmark = pytest.mark.unit

TEMPLATE = deployed(load_template(), {"ConfigRule": "on"})
RESOURCES = TEMPLATE["Resources"]
# The other deployments: the defaults (no rule), and a member account's minimal observability.
DEFAULTS = deployed(load_template())
MINIMAL = deployed(load_template(), {"ConfigRule": "on", "Observability": "minimal"})
SCHEMA = json.loads((ROOT / "docs" / "log-schema.json").read_text())
FIELDS: dict[str, dict[str, Any]] = SCHEMA["properties"]
# The system fields Logs Insights adds to every event of a Standard log group.
BUILT_INS = {"@timestamp", "@message", "@logStream", "@log", "@ingestionTime"}
QUERIES = {"changes-last-day", "skipped-subnets", "errors", "one-vpc-edit-the-id"}
VPC_PLACEHOLDER = "vpc-REPLACE_ME"


def of_type(kind: str, template: dict[str, Any] = TEMPLATE) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def log_groups(template: dict[str, Any] = TEMPLATE) -> set[str]:
    return set(of_type("AWS::Logs::LogGroup", template))


def alarms(template: dict[str, Any] = TEMPLATE) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in of_type("AWS::CloudWatch::Alarm", template).items()}


def service_names() -> set[str]:
    """The service dimension Powertools adds to every metric: POWERTOOLS_SERVICE_NAME of each function."""
    return {function_environment(TEMPLATE, f)["POWERTOOLS_SERVICE_NAME"] for f in functions(TEMPLATE)}


def saved_queries(template: dict[str, Any] = TEMPLATE) -> dict[str, dict[str, Any]]:
    """Query definitions by name within the stack's folder (the Name after "${AWS::StackName}/")."""
    found = {}
    for properties in (q["Properties"] for q in of_type("AWS::Logs::QueryDefinition", template).values()):
        folder, _, name = properties["Name"]["Fn::Sub"].partition("/")
        assert folder == "${AWS::StackName}", properties["Name"]
        found[name] = properties
    return found


# --- A reader for the Logs Insights query language, as far as these queries use it -------------------
# Strict on purpose: a command, function or character it does not know is an error, so a query that
# starts using more of the language has to teach it here rather than slip past the field check.


class QueryError(ValueError):
    """The query uses something this reader does not know, or is malformed."""


COMMANDS = {"fields", "display", "filter", "stats", "sort", "limit", "dedup"}
KEYWORDS = {"and", "or", "not", "in", "like", "as", "by", "asc", "desc"}
FUNCTIONS = {
    # aggregations (stats)
    *("count", "count_distinct", "latest", "earliest", "min", "max", "avg", "sum", "pct", "stddev"),
    *("sortsfirst", "sortslast", "bin"),
    # general, string and date functions
    *("ispresent", "isempty", "isblank", "coalesce", "concat", "strlen", "tolower", "toupper", "trim"),
    *("ltrim", "rtrim", "replace", "substr", "strcontains", "abs", "ceil", "floor", "datefloor", "dateceil"),
    *("frommillis", "tomillis"),
}
_TOKEN = re.compile(
    r"""
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<quoted>`[^`]+`)
    | (?P<number>\d+(?:\.\d+)?[A-Za-z]*)
    | (?P<name>@?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    | (?P<op>!=|<=|>=|==|[=<>,()\[\]*+\-/%|])
    | (?P<space>\s+)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string, name, number or op
    text: str


def tokenize(query: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            raise QueryError(f"unexpected {query[position]!r} at {position} in {query!r}")
        kind, text = match.lastgroup, match.group()
        if kind == "quoted":
            kind, text = "name", text[1:-1]
        if kind != "space":
            tokens.append(Token(kind, text))
        position = match.end()
    return tokens


def commands(query: str) -> Iterator[tuple[str, list[Token]]]:
    """(command, its tokens) for each stage of the pipeline."""
    stage: list[Token] = []
    for token in [*tokenize(query), Token("op", "|")]:
        if token != Token("op", "|"):
            stage.append(token)
            continue
        if not stage or stage[0].kind != "name" or stage[0].text.lower() not in COMMANDS:
            raise QueryError(f"unknown or missing command at {' '.join(t.text for t in stage)!r}")
        yield stage[0].text.lower(), stage[1:]
        stage = []


def query_fields(query: str) -> set[str]:
    """Every log field the query reads: string literals, keywords, functions, numbers and the names the
    query itself defines with `as` are not fields."""
    fields: set[str] = set()
    aliases: set[str] = set()
    for _, body in commands(query):
        for i, token in enumerate(body):
            if token.kind != "name":
                continue
            following = body[i + 1] if i + 1 < len(body) else None
            preceding = body[i - 1] if i else None
            if following == Token("op", "("):
                if token.text.lower() not in FUNCTIONS:
                    raise QueryError(f"unknown function {token.text}()")
            elif token.text.lower() in KEYWORDS:
                pass
            elif preceding is not None and preceding.kind == "name" and preceding.text.lower() == "as":
                aliases.add(token.text)
            elif token.text not in aliases:
                fields.add(token.text)
    return fields


def compared_values(query: str) -> list[tuple[str, str]]:
    """(field, literal) for every `field = "x"`, `field != "x"` and `field in ["x", ...]` in a filter."""
    pairs = []
    for command, body in commands(query):
        if command != "filter":
            continue
        for i, token in enumerate(body[:-2]):
            if token.kind != "name" or token.text.lower() in KEYWORDS:
                continue
            operator, operand = body[i + 1], body[i + 2]
            if operator.text in ("=", "==", "!=") and operand.kind == "string":
                pairs.append((token.text, operand.text[1:-1]))
            elif operator.text.lower() == "in" and operand == Token("op", "["):
                for item in body[i + 3 :]:
                    if item == Token("op", "]"):
                        break
                    if item.kind == "string":
                        pairs.append((token.text, item.text[1:-1]))
    return pairs


def field_problem(field: str) -> str | None:
    if field.startswith("@"):
        return None if field in BUILT_INS else "not a Logs Insights system field"
    head, _, rest = field.partition(".")
    if head not in FIELDS:
        return "not in docs/log-schema.json"
    kind = FIELDS[head].get("type")
    kinds = {kind} if isinstance(kind, str) else set(kind or ())
    nested = bool(kinds & {"array", "object"})
    # Logs Insights flattens JSON arrays and objects into name.0, name.1, name.key: the bare name is empty.
    if nested and not rest:
        return "an array/object: Logs Insights only has its elements (name.0, name.key)"
    if rest and not nested:
        return "not an array/object, so it has no elements"
    return None


def value_problem(field: str, value: str) -> str | None:
    allowed = FIELDS.get(field, {}).get("enum") or ([FIELDS[field]["const"]] if "const" in FIELDS.get(field, {}) else None)
    return None if allowed is None or value in allowed else f"{value!r} is not one of {allowed}"


def problems(query: str) -> dict[str, str]:
    found = {f: p for f in query_fields(query) if (p := field_problem(f))}
    found |= {f"{f} = {v!r}": p for f, v in compared_values(query) if (p := value_problem(f, v))}
    return found


def normalized(query: str) -> str:
    return " ".join(query.split())


# --- the reader itself -----------------------------------------------------------------------------


def test_the_reader_finds_fields_everywhere_and_ignores_literals_functions_and_aliases():
    query = (
        'fields @timestamp, vpc_id | filter record = "decision" and reason != "vpc_id_typo" and outcome in ["skipped"]'
        " | stats count(*) as n, latest(policy) as p by bin(1h), subnet_id | sort n desc | limit 20"
    )
    assert query_fields(query) == {"@timestamp", "vpc_id", "record", "reason", "outcome", "policy", "subnet_id"}
    assert compared_values(query) == [("record", "decision"), ("reason", "vpc_id_typo"), ("outcome", "skipped")]
    assert problems(query) == {}


@pytest.mark.parametrize(
    ("query", "bad"),
    [
        ('fields @timestamp, vpcid | filter record = "change"', "vpcid"),
        ("fields @timestamps", "@timestamps"),
        ('filter vpc = "vpc-1"', "vpc"),
        ("stats count(*) as n by bogus_field", "bogus_field"),
        ("fields vpc_id | sort last_seen desc", "last_seen"),
        ("fields `weird.name`", "weird.name"),
        ("fields subnet_ids", "subnet_ids"),
        ("fields vpc_id.0", "vpc_id.0"),
        ('filter outcome = "skiped"', "outcome = 'skiped'"),
        ('filter level = "ERROR" or outcome in ["failed", "conflicts"]', "outcome = 'conflicts'"),
        ('filter record = "changes"', "record = 'changes'"),
    ],
)
def test_the_reader_rejects_a_field_or_value_the_schema_does_not_define(query, bad):
    assert bad in problems(query)


def test_the_reader_accepts_elements_of_flattened_arrays():
    assert problems('fields subnet_ids.0, route_table_ids.1 | filter subnet_ids.0 = "subnet-1"') == {}


@pytest.mark.parametrize(
    "query",
    [
        'parse @message "* *" as a, b',  # a command it does not read
        "fields frobnicate(vpc_id)",  # an unknown function
        'filter record = "change',  # an unterminated string
        "fields vpc_id | | sort @timestamp",  # an empty stage
        "fields vpc_id; drop",  # a character outside the language
    ],
)
def test_the_reader_refuses_what_it_does_not_understand(query):
    with pytest.raises(QueryError):
        problems(query)


# --- (a) and (b): the saved queries ----------------------------------------------------------------


def test_the_four_saved_queries_are_in_the_stack_folder():
    assert set(saved_queries()) == QUERIES


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_each_saved_query_searches_every_function_log_group(name):
    groups = saved_queries()[name]["LogGroupNames"]
    assert all(set(g) == {"Ref"} for g in groups)
    assert {g["Ref"] for g in groups} == log_groups()
    of_functions = {function_property(TEMPLATE, f, "LoggingConfig")["LogGroup"]["Ref"] for f in functions(TEMPLATE)}
    assert of_functions == log_groups() and len(groups) == len(of_functions)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_each_saved_query_names_only_fields_and_values_the_log_schema_defines(name):
    query = saved_queries()[name]["QueryString"]
    assert problems(query) == {}
    assert len(query_fields(query)) >= 4  # the reader saw the query, not nothing


def test_each_saved_query_answers_its_question():
    queries = {name: normalized(q["QueryString"]) for name, q in saved_queries().items()}
    assert ("record", "change") in compared_values(queries["changes-last-day"])
    assert queries["changes-last-day"].endswith("| sort @timestamp desc")
    skipped = compared_values(queries["skipped-subnets"])
    assert {("record", "decision"), ("outcome", "skipped"), ("reason", Reason.NOT_OPTED_IN)} <= set(skipped)
    assert f'reason != "{Reason.NOT_OPTED_IN}"' in queries["skipped-subnets"]  # untagged subnets are skipped by design
    assert {("level", "ERROR"), ("outcome", "failed"), ("outcome", "conflict")} <= set(compared_values(queries["errors"]))
    # Runs that die where the logger never sees them leave only Lambda's own lines, without fields.
    assert '@message like "[ERROR]"' in queries["errors"] and '@message like "Task timed out"' in queries["errors"]
    # and what the Errors metric counts without failing a run: what its alarm's reader looks for
    needs_a_person = {("error", "ImpersonatedOwnCall"), ("reason", Reason.GROUP_UNTRUSTED), ("reason", Reason.GROUP_NAME_TAKEN)}
    assert needs_a_person | {("reason", Reason.SERVICE_UNAVAILABLE)} <= set(compared_values(queries["errors"]))
    assert compared_values(queries["one-vpc-edit-the-id"]) == [("vpc_id", VPC_PLACEHOLDER)]


# --- (c): the dashboard ----------------------------------------------------------------------------

SQS_METRICS = {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible", "ApproximateAgeOfOldestMessage"}
PSEUDO = {"AWS::Region", "AWS::StackName", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix"}


def substitute(text: str, template: dict[str, Any] = TEMPLATE, variables: dict[str, Any] | None = None) -> str:
    """Fn::Sub as CloudFormation does it, with markers for the values: ${AWS::Region} -> <AWS::Region>,
    ${Resource} -> <Resource>, ${Resource.Attr} -> <Resource.Attr>, ${!Literal} -> ${Literal}; a variable
    of the two-argument form -> its value, itself substituted (a string, or an Fn::Sub of its own)."""

    def value(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("!"):
            return "${" + inner[1:] + "}"
        if inner in (variables or {}):
            chosen = variables[inner]  # type: ignore[index]
            return substitute(chosen["Fn::Sub"], template) if isinstance(chosen, dict) else str(chosen)
        if inner in PSEUDO:
            return f"<{inner}>"
        name = inner.split(".", 1)[0]
        if name in template["Parameters"]:
            return str(template["Parameters"][name]["Default"])  # a number stays a JSON number
        assert name in template["Resources"], f"${{{inner}}} names nothing the template deploys"
        return f"<{inner}>"

    return re.sub(r"\$\{([^}]*)\}", value, text)


def dashboard(template: dict[str, Any] = TEMPLATE) -> dict[str, Any]:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    text, variables = (body, {}) if isinstance(body, str) else body
    return json.loads(substitute(text, template, variables))


def widgets(kind: str, template: dict[str, Any] = TEMPLATE) -> list[dict[str, Any]]:
    return [w["properties"] for w in dashboard(template)["widgets"] if w["type"] == kind]


def marker(value: str) -> str:
    """The template name a marker stands for: <IntakeLogGroup> -> IntakeLogGroup."""
    assert value.startswith("<") and value.endswith(">"), f"{value!r} is hard-coded, not from the template"
    return value[1:-1]


@dataclass(frozen=True)
class Graphed:
    namespace: str
    name: str
    dimensions: dict[str, str]  # name -> value; a SEARCH only fixes the names (values are "*")


_SEARCH = re.compile(r"SEARCH\(\s*'\{(?P<schema>[^}]*)\}(?P<terms>[^']*)'\s*,\s*'(?P<stat>\w+)'\s*,\s*(?P<period>\d+)\s*\)")


def graphed() -> list[Graphed]:
    """Every metric the dashboard's metric widgets draw, explicit ones and SEARCH expressions alike."""
    found = []
    for properties in widgets("metric"):
        previous: list[str] = []
        for entry in properties["metrics"]:
            options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
            plain = [v for v in entry if not isinstance(v, dict)]
            if not plain:
                search = _SEARCH.fullmatch(options["expression"])
                assert search, f"not a SEARCH expression this test reads: {options['expression']}"
                namespace, *keys = (part.strip() for part in search["schema"].split(","))
                (name,) = re.findall(r'MetricName="([^"]+)"', search["terms"])
                found.append(Graphed(namespace, name, dict.fromkeys(keys, "*")))
                continue
            plain = [previous[i] if v == "." else v for i, v in enumerate(plain)]  # "." repeats the line above
            previous = plain
            namespace, name, *pairs = plain
            found.append(Graphed(namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def test_the_dashboard_body_is_json_once_substituted_and_names_only_template_things():
    body = dashboard()
    assert body["widgets"]
    for widget in body["widgets"]:
        if widget["type"] in ("metric", "log"):
            assert widget["properties"]["region"] == "<AWS::Region>"
    name = RESOURCES["Dashboard"]["Properties"]["DashboardName"]["Fn::Sub"]
    # Dashboards are global: the Region keeps one stack name deployable in several Regions.
    assert "${AWS::StackName}" in name and "${AWS::Region}" in name


def test_every_custom_metric_is_graphed_with_its_exact_dimension_set():
    custom = [g for g in graphed() if g.namespace == NAMESPACE]
    for metric in custom:
        assert metric.name in METRICS, metric
        key = METRICS[metric.name][1]
        assert set(metric.dimensions) == {"service"} | ({key} if key else set()), metric
        if metric.dimensions["service"] != "*":
            assert {metric.dimensions["service"]} == service_names(), metric
    assert {g.name for g in custom} == set(METRICS)
    # A metric split by a dimension is graphed per value through SEARCH; a hard-coded value would go stale.
    for metric in custom:
        if METRICS[metric.name][1]:
            assert metric.dimensions == dict.fromkeys(metric.dimensions, "*"), metric


def test_function_and_queue_metrics_name_this_stacks_resources():
    function_ids = set(functions(TEMPLATE))
    by_metric: dict[str, set[str]] = {}
    for metric in graphed():
        if metric.namespace == "AWS/Lambda":
            assert set(metric.dimensions) == {"FunctionName"}, metric
            function_id = marker(metric.dimensions["FunctionName"])
            assert function_id in function_ids, metric
            by_metric.setdefault(metric.name, set()).add(function_id)
        elif metric.namespace == "AWS/SQS":
            assert metric.name in SQS_METRICS, metric
            queue, attribute = marker(metric.dimensions["QueueName"]).split(".")
            assert RESOURCES[queue]["Type"] == "AWS::SQS::Queue" and attribute == "QueueName"
            by_metric.setdefault(metric.name, set()).add(queue)
        else:
            assert metric.namespace == NAMESPACE, metric
    for name in ("Errors", "Throttles", "Duration"):
        assert by_metric[name] == function_ids, name
    # Both parking lots, and how long calls wait in the settle queue
    assert {"FailedEventsQueue", "SettleDeadLetterQueue", "SettleQueue"} <= by_metric["ApproximateNumberOfMessagesVisible"]
    assert by_metric["ApproximateAgeOfOldestMessage"] == {"SettleQueue"}


def test_the_settle_queue_graph_marks_the_window():
    (age,) = [w for w in widgets("metric") if any(len(m) > 1 and m[1] == "ApproximateAgeOfOldestMessage" for m in w["metrics"])]
    (window,) = age["annotations"]["horizontal"]
    assert window["value"] == TEMPLATE["Parameters"]["SettleSeconds"]["Default"]


def test_the_sweep_duration_graph_marks_the_sweep_timeout():
    (sweep,) = [w for w in widgets("metric") if any(m[1] == "SweepDuration" for m in w["metrics"] if len(m) > 1)]
    (timeout,) = sweep["annotations"]["horizontal"]
    assert timeout["value"] == function_property(TEMPLATE, "SweepFunction", "Timeout") * 1000


def test_the_log_widgets_run_the_saved_queries_on_the_stacks_log_groups():
    queries = {normalized(q["QueryString"]): name for name, q in saved_queries().items()}
    shown = []
    for properties in widgets("log"):
        match = re.fullmatch(r"((?:SOURCE '[^']+' \| )+)(.*)", normalized(properties["query"]))
        assert match, properties["query"]
        sources = {marker(s) for s in re.findall(r"SOURCE '([^']+)'", match[1])}
        assert sources == log_groups()
        assert match[2] in queries, f"the widget {properties['title']!r} runs a query that is not saved"
        shown.append(queries[match[2]])
    assert sorted(shown) == sorted(QUERIES)


def test_the_vpc_box_fills_the_one_vpc_view():
    (variable,) = dashboard()["variables"]
    assert variable["type"] == "pattern" and variable["pattern"] == VPC_PLACEHOLDER and variable["inputType"] == "input"
    assert VPC_PLACEHOLDER in saved_queries()["one-vpc-edit-the-id"]["QueryString"]


def test_the_alarm_widget_shows_every_alarm():
    (properties,) = widgets("alarm")
    shown = {marker(arn) for arn in properties["alarms"]}
    assert shown == {f"{alarm}.Arn" for alarm in alarms()}


def test_with_the_rule_off_the_dashboard_the_queries_and_the_alarms_name_only_what_is_deployed():
    assert "ConfigRuleFunction" not in DEFAULTS["Resources"] and "ConfigRuleFunction" in RESOURCES
    # dashboard() asserts that every ${...} it substitutes names something DEFAULTS deploys
    (shown,) = widgets("alarm", DEFAULTS)
    assert {marker(arn) for arn in shown["alarms"]} == {f"{alarm}.Arn" for alarm in alarms(DEFAULTS)}
    for properties in widgets("log", DEFAULTS):
        assert {marker(s) for s in re.findall(r"SOURCE '([^']+)'", properties["query"])} == log_groups(DEFAULTS)
    for query in saved_queries(DEFAULTS).values():
        assert {g["Ref"] for g in query["LogGroupNames"]} == log_groups(DEFAULTS)
    graphs = {w["properties"].get("title"): w["properties"] for w in dashboard(DEFAULTS)["widgets"]}
    assert {marker(m[3]) for m in graphs["Function throttles"]["metrics"]} == set(functions(DEFAULTS))


def test_minimal_observability_keeps_the_failure_alarms_and_nothing_billed_beyond():
    assert set(alarms(MINIMAL)) == {
        "FailedEventsAlarm",
        "IntakeErrorsAlarm",
        "ReconcilerErrorsAlarm",
        "SweepErrorsAlarm",
        "ConfigRuleErrorsAlarm",
        # what only a person can fix (a planted group, a spoofed own call) is counted in Errors alone
        "ErrorsMetricAlarm",
    }
    for function_id in functions(MINIMAL):
        assert alarms_on("AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": function_id}}], MINIMAL)
    assert not of_type("AWS::CloudWatch::Dashboard", MINIMAL)
    assert not {"DashboardName", "DashboardUrl"} & set(MINIMAL["Outputs"])
    # Saved queries cost nothing: a member account keeps them
    assert set(saved_queries(MINIMAL)) == QUERIES


def test_the_dashboard_url_output_points_at_the_dashboard():
    url = TEMPLATE["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url.endswith("#dashboards:name=${Dashboard}") and "region=${AWS::Region}" in url
    assert TEMPLATE["Outputs"]["DashboardName"]["Value"] == {"Ref": "Dashboard"}


# --- (d): the alarms -------------------------------------------------------------------------------


def alarms_on(namespace: str, metric: str, dimensions: list[dict[str, Any]], template: dict[str, Any] = TEMPLATE) -> list[str]:
    return [
        name
        for name, a in alarms(template).items()
        if a.get("Namespace") == namespace and a.get("MetricName") == metric and a.get("Dimensions") == dimensions
    ]


# Invoked asynchronously, so throttled invocations wait in Lambda's queue; the reconciler is invoked by
# its queue mapping, which never exceeds MaxConcurrency: a starved reconciler shows as SettleBacklogAlarm.
ASYNC = ["IntakeFunction", "SweepFunction"]


@pytest.mark.parametrize("function_id", list(functions(TEMPLATE)))
def test_each_function_has_an_errors_alarm(function_id):
    (alarm,) = alarms_on("AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": function_id}}])
    assert alarms()[alarm]["Statistic"] == "Sum"


@pytest.mark.parametrize("function_id", ASYNC)
def test_each_asynchronously_invoked_function_has_a_throttles_alarm(function_id):
    (alarm,) = alarms_on("AWS/Lambda", "Throttles", [{"Name": "FunctionName", "Value": {"Ref": function_id}}])
    assert alarms()[alarm]["Statistic"] == "Sum"


def metric_math(alarm: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """An alarm's returned expression and its metrics by id."""
    queries = alarms()[alarm]["Metrics"]
    (returned,) = [q for q in queries if q.get("ReturnData")]
    expression = returned["Expression"]
    return (expression["Fn::Sub"] if isinstance(expression, dict) else expression), {
        q["Id"]: q["MetricStat"]["Metric"] for q in queries if "MetricStat" in q
    }


def test_both_parking_lots_have_one_alarm():
    expression, metrics = metric_math("FailedEventsAlarm")
    parked = {m["Dimensions"][0]["Value"]["Fn::GetAtt"][0]: i for i, m in metrics.items()}
    assert set(parked) == {"FailedEventsQueue", "SettleDeadLetterQueue"}
    assert {m["MetricName"] for m in metrics.values()} == {"ApproximateNumberOfMessagesVisible"}
    # An idle queue publishes no datapoints: each term is filled with 0, and they are added.
    assert expression == " + ".join(f"FILL({parked[q]}, 0)" for q in ("FailedEventsQueue", "SettleDeadLetterQueue"))


def test_the_settle_backlog_alarm_fires_at_three_windows_and_never_within_a_window():
    expression, metrics = metric_math("SettleBacklogAlarm")
    (age,) = metrics.values()
    assert (age["MetricName"], age["Dimensions"][0]["Value"]) == (
        "ApproximateAgeOfOldestMessage",
        {"Fn::GetAtt": ["SettleQueue", "QueueName"]},
    )
    assert expression == "IF(age > 3 * ${SettleSeconds} AND age > 900, 1, 0)"
    alarm = alarms()["SettleBacklogAlarm"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    # Fifteen minutes in a row: a window still folding in a late call does not page anyone.
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
    assert [q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q] == [300]


def test_every_alarm_notifies_the_alarm_topic_and_an_email_can_subscribe():
    assert RESOURCES["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    for name, alarm in alarms().items():
        assert {"Ref": "AlarmTopic"} in alarm["AlarmActions"], name
    subscription = load_template()["Resources"]["AlarmEmailSubscription"]  # AlarmEmail is empty by default
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def test_errors_alarms_fire_on_the_first_error_and_idle_is_healthy():
    for name, alarm in alarms().items():
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        if name != "SettleBacklogAlarm" and (alarm.get("MetricName") == "Errors" or "Metrics" in alarm):
            assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (1, 1), name


def test_throttle_alarms_wait_for_throttling_that_does_not_drain():
    for function_id in ASYNC:
        (name,) = alarms_on("AWS/Lambda", "Throttles", [{"Name": "FunctionName", "Value": {"Ref": function_id}}])
        alarm = alarms()[name]
        window = alarm["Period"] * alarm["EvaluationPeriods"]
        assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"], name  # every period, not some
        assert window >= 15 * 60, name
    # One sweep overlapping a running one is throttled until that one ends (at most its timeout), then
    # retried at most 5 minutes later: the sweep alarm's window must outlast that.
    sweep = alarms()["SweepThrottlesAlarm"]
    assert sweep["Period"] * sweep["EvaluationPeriods"] > function_property(TEMPLATE, "SweepFunction", "Timeout") + 300


def test_the_custom_errors_alarm_sums_every_kind_of_the_errors_metric():
    (query,) = alarms()["ErrorsMetricAlarm"]["Metrics"]
    match = re.fullmatch(
        r"SELECT SUM\((?P<metric>\w+)\) FROM SCHEMA\((?P<schema>[^)]*)\)(?: WHERE service = '(?P<service>[^']*)')?",
        query["Expression"],
    )
    assert match, query["Expression"]
    namespace, *keys = (k.strip() for k in match["schema"].split(","))
    assert (namespace, match["metric"]) == (NAMESPACE, "Errors")
    assert set(keys) == {METRICS["Errors"][1], "service"}
    assert match["service"] is None or {match["service"]} == service_names()
    assert query["ReturnData"] is True and query["Period"] == 300
