"""The committed CloudFormation template: current with the models, lint-clean, and true to what devstack creates."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint import api as cfnlint_api
from chalice.package import TemplateDeepMerger
from moto import mock_aws
from pynamodb.indexes import GlobalSecondaryIndex

from chalicelib.adapters.dynamo.tables import ALL_TABLES, SmscastTable, bind_tables, create_tables
from chalicelib.adapters.resources import QUEUES, TOPICS, create_messaging_resources, schedule_group_name
from chalicelib.settings import Settings, SmsProviderName
from infra.template import (
    ACCESS,
    CHALICE_RESOURCES,
    SCHEDULER_ROLE,
    SCHEDULER_ROLE_ENV,
    SNS_FUNCTIONS,
    SQS_FUNCTIONS,
    render_json,
    render_template,
    role_id,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "infra" / "resources.json"
PREFIX = "smscast-infratest"
REGION = "us-east-1"


def _resolve(value: Any, prefix: str) -> str:
    """Evaluate the only name forms the template uses: Ref ResourcePrefix and Fn::Sub of it."""
    if value == {"Ref": "ResourcePrefix"}:
        return prefix
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"].replace("${ResourcePrefix}", prefix)
    raise AssertionError(f"unexpected name expression {value!r}")


def _resources(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {logical: res for logical, res in template["Resources"].items() if res["Type"] == cfn_type}


def _by_name(template: dict[str, Any], cfn_type: str, name_prop: str) -> dict[str, dict[str, Any]]:
    """Resources of one type keyed by the name they get under PREFIX."""
    return {_resolve(res["Properties"][name_prop], PREFIX): res for res in _resources(template, cfn_type).values()}


def _key_schema(attributes: dict[str, Any]) -> list[dict[str, str]]:
    hash_keys = [a.attr_name for a in attributes.values() if a.is_hash_key]
    range_keys = [a.attr_name for a in attributes.values() if a.is_range_key]
    assert len(hash_keys) == 1 and len(range_keys) <= 1
    return [{"AttributeName": hash_keys[0], "KeyType": "HASH"}] + [{"AttributeName": r, "KeyType": "RANGE"} for r in range_keys]


def _expected_table(model: type[SmscastTable]) -> dict[str, Any]:
    """Key schema, key attribute types and GSIs read straight off the model's attributes."""
    key_types = {a.attr_name: a.attr_type for a in model.get_attributes().values() if a.is_hash_key or a.is_range_key}
    gsis = []
    for _, index in inspect.getmembers(model, lambda member: isinstance(member, GlobalSecondaryIndex)):
        index_attributes = type(index).Meta.attributes
        key_types.update({a.attr_name: a.attr_type for a in index_attributes.values() if a.is_hash_key or a.is_range_key})
        gsis.append(
            {
                "IndexName": index.Meta.index_name,
                "KeySchema": _key_schema(index_attributes),
                "Projection": {"ProjectionType": index.Meta.projection.projection_type},
            }
        )
    return {
        "KeySchema": _key_schema(model.get_attributes()),
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in sorted(key_types.items())],
        "GlobalSecondaryIndexes": sorted(gsis, key=lambda g: g["IndexName"]),
    }


def _table_shape(props: dict[str, Any]) -> dict[str, Any]:
    # describe_table adds status and sizes to each index: compare only what the template sets
    indexes = [
        {
            "IndexName": g["IndexName"],
            "KeySchema": g["KeySchema"],
            "Projection": {"ProjectionType": g["Projection"]["ProjectionType"]},
        }
        for g in props.get("GlobalSecondaryIndexes", [])
    ]
    return {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "GlobalSecondaryIndexes": sorted(indexes, key=lambda g: g["IndexName"]),
    }


def test_committed_template_is_what_the_models_render() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_json(), "infra/resources.json is stale: run `make infra`"


def _stand_in_for_chalice() -> dict[str, Any]:
    """The part of `chalice package`'s template this one refers to, reduced to what makes it valid (its role is
    config.json's placeholder, which the merge replaces; test_packaged_template.py checks the real output)."""
    resources: dict[str, Any] = {}
    for logical in CHALICE_RESOURCES:
        resources[logical] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Runtime": "python3.11",
                "Handler": "app.handler",
                "Role": "arn:aws:iam::000000000000:role/placeholder",
                "InlineCode": "def handler(event, context):\n    return None\n",
            },
        }
    return {"AWSTemplateFormatVersion": "2010-09-09", "Transform": "AWS::Serverless-2016-10-31", "Resources": resources}


def _lint(template: dict[str, Any]) -> list[str]:
    matches = cfnlint_api.lint(json.dumps(template, indent=2), regions=[REGION])
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches]


def test_committed_template_parameters() -> None:
    template = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Parameters"]["ResourcePrefix"]["Default"] == "smscast-dev"


@pytest.mark.parametrize("include_sandbox", [False, True], ids=["committed", "with-sandbox"])
def test_cfn_lint_finds_nothing_once_merged_as_chalice_does(include_sandbox: bool) -> None:
    ours = json.loads(COMMITTED.read_text(encoding="utf-8") if not include_sandbox else render_json(include_sandbox=True))
    assert _lint(TemplateDeepMerger().merge(ours, _stand_in_for_chalice())) == []


def test_only_the_chalice_resources_are_missing_on_its_own() -> None:
    """The stand-in must not hide a real mistake: alone, the only complaints are the ids Chalice supplies."""
    problems = _lint(json.loads(COMMITTED.read_text(encoding="utf-8")))
    assert problems, "expected references to Chalice's resources"
    # the functions' overrides (their own role, the API's secret name) lack what only Chalice's half has
    unexplained = [
        p for p in problems if not any(f"'{logical}'" in p or f"Resources/{logical}/" in p for logical in CHALICE_RESOURCES)
    ]
    assert unexplained == []


def test_wired_functions_exist_in_the_chalice_app() -> None:
    import app  # the Chalice app object; building it makes no AWS calls

    functions = {f.name for f in app.app.pure_lambda_functions}
    assert {function for _, function, _, _ in SNS_FUNCTIONS} <= functions
    assert {f.function for f in SQS_FUNCTIONS} <= functions


def test_every_deployed_model_is_a_table_with_its_keys_and_indexes() -> None:
    tables = _by_name(json.loads(COMMITTED.read_text(encoding="utf-8")), "AWS::DynamoDB::Table", "TableName")
    deployed = [m for m in ALL_TABLES if not m.sandbox_only]
    assert sorted(tables) == sorted(f"{PREFIX}-{m.base_name}" for m in deployed)
    for model in deployed:
        props = tables[f"{PREFIX}-{model.base_name}"]["Properties"]
        assert _table_shape(props) == _expected_table(model), model.__name__
        assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_sandbox_tables_appear_only_when_asked_for() -> None:
    sandbox_names = {f"{PREFIX}-{m.base_name}" for m in ALL_TABLES if m.sandbox_only}
    assert sandbox_names, "the sandbox provider's tables are expected to exist"
    assert not sandbox_names & set(_by_name(render_template(), "AWS::DynamoDB::Table", "TableName"))
    with_sandbox = _by_name(render_template(include_sandbox=True), "AWS::DynamoDB::Table", "TableName")
    for model in ALL_TABLES:
        assert _table_shape(with_sandbox[f"{PREFIX}-{model.base_name}"]["Properties"]) == _expected_table(model), model.__name__


def test_every_queue_topic_and_the_schedule_group_are_in_the_template() -> None:
    template = json.loads(COMMITTED.read_text(encoding="utf-8"))
    queues = _by_name(template, "AWS::SQS::Queue", "QueueName")
    assert sorted(queues) == sorted([s.name(PREFIX) for s in QUEUES] + [s.dlq_name(PREFIX) for s in QUEUES])
    sqs_resources = _resources(template, "AWS::SQS::Queue").items()
    logical_of = {_resolve(res["Properties"]["QueueName"], PREFIX): logical for logical, res in sqs_resources}
    for spec in QUEUES:
        props = queues[spec.name(PREFIX)]["Properties"]
        assert props["VisibilityTimeout"] == spec.visibility_timeout
        assert props["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [logical_of[spec.dlq_name(PREFIX)], "Arn"]},
            "maxReceiveCount": spec.max_receive_count,
        }
    # the alarm topic is the operator's (devstack has no alarms): every other topic is an app topic
    app_topics = {n for n in _by_name(template, "AWS::SNS::Topic", "TopicName") if n != f"{PREFIX}-alarms"}
    assert sorted(app_topics) == sorted(t.name(PREFIX) for t in TOPICS)
    assert list(_by_name(template, "AWS::Scheduler::ScheduleGroup", "Name")) == [schedule_group_name(PREFIX)]


def _role_statements(template: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each function's role statements by Sid."""
    roles = {}
    for access in ACCESS:
        (policy,) = template["Resources"][role_id(access.function_id)]["Properties"]["Policies"]
        roles[access.function_id] = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    return roles


def test_functions_may_reach_every_table_and_their_queues() -> None:
    template = render_template(include_sandbox=True)
    tables = set(_resources(template, "AWS::DynamoDB::Table"))
    reached: set[str] = set()
    for function, statements in _role_statements(template).items():
        granted_tables = {r["Fn::GetAtt"][0] for r in statements["Tables"]["Resource"] if "Fn::GetAtt" in r}
        granted_indexes = {r["Fn::Sub"] for r in statements["Tables"]["Resource"] if "Fn::Sub" in r}
        assert granted_tables == tables, function
        assert granted_indexes == {"${" + t + ".Arn}/index/*" for t in tables}, function
        for sid in ("Queues", "Consume", "ParkFailures"):
            if sid in statements:
                resources = statements[sid]["Resource"]
                reached |= {r["Fn::GetAtt"][0] for r in (resources if isinstance(resources, list) else [resources])}
    # every queue that is not a DLQ is written or read by some function (DLQs are read by a person)
    queues = {q for q in _resources(template, "AWS::SQS::Queue") if not q.endswith("DeadLetterQueue")}
    assert reached == queues


def _queue_logical_id(template: dict[str, Any], name: str) -> str:
    (logical,) = [
        logical
        for logical, res in _resources(template, "AWS::SQS::Queue").items()
        if _resolve(res["Properties"]["QueueName"], PREFIX) == name
    ]
    return logical


def test_the_scheduler_role_may_only_send_to_the_campaign_jobs_queue() -> None:
    template = json.loads(COMMITTED.read_text(encoding="utf-8"))
    role = template["Resources"][SCHEDULER_ROLE]
    assert role["Type"] == "AWS::IAM::Role"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    (policy,) = role["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    jobs_queue = _queue_logical_id(template, f"{PREFIX}-campaign-jobs")
    assert statement == {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": [jobs_queue, "Arn"]}}


def test_functions_may_pass_only_the_scheduler_role_and_only_to_scheduler() -> None:
    template = json.loads(COMMITTED.read_text(encoding="utf-8"))
    schedulers = 0
    for function, statements in _role_statements(template).items():
        passing = [
            s for s in statements.values() if "iam:PassRole" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        ]
        if "Schedules" not in statements:
            assert passing == [], function
            continue
        schedulers += 1
        assert passing == [
            {
                "Sid": "PassSchedulerRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": {"Fn::GetAtt": [SCHEDULER_ROLE, "Arn"]},
                "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            }
        ], function
        schedules = statements["Schedules"]
        assert {"scheduler:CreateSchedule", "scheduler:UpdateSchedule"} <= set(schedules["Action"])
        assert _resolve(schedules["Resource"], PREFIX).endswith(f":schedule/{PREFIX}/*")
    assert schedulers == 3  # the API, the jobs worker and the send worker


def test_every_function_is_told_the_scheduler_role() -> None:
    template = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert template["Transform"] == "AWS::Serverless-2016-10-31"  # Chalice's template is SAM: Globals apply
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables[SCHEDULER_ROLE_ENV] == {"Fn::GetAtt": [SCHEDULER_ROLE, "Arn"]}
    assert template["Outputs"][f"{SCHEDULER_ROLE}Arn"]["Value"] == {"Fn::GetAtt": [SCHEDULER_ROLE, "Arn"]}


def test_campaign_queues_feed_their_functions_with_partial_batch_failures() -> None:
    template = json.loads(COMMITTED.read_text(encoding="utf-8"))
    mappings = {
        res["Properties"]["FunctionName"]["Ref"]: res for res in _resources(template, "AWS::Lambda::EventSourceMapping").values()
    }
    expected = {
        "CampaignJobs": ("campaign-jobs", 10, 2),
        "CampaignSends": ("campaign-sends", 50, 10),
        "ShopifyWebhooks": ("shopify-webhooks", 10, 2),
        "DeliveryReceipts": ("delivery-receipts", 100, 5),
        "ListJobs": ("list-jobs", 1, 2),
    }
    functions = {f.function for f in SQS_FUNCTIONS}
    assert functions == {"campaign_jobs", "campaign_sends", "shopify_webhooks", "delivery_receipts", "list_jobs"}
    assert set(mappings) == set(expected)  # Chalice names @app.lambda_function(name="campaign_jobs") CampaignJobs
    for function_id, (queue, batch_size, concurrency) in expected.items():
        mapping = mappings[function_id]
        props = mapping["Properties"]
        assert props["EventSourceArn"] == {"Fn::GetAtt": [_queue_logical_id(template, f"{PREFIX}-{queue}"), "Arn"]}
        assert props["BatchSize"] == batch_size
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["ScalingConfig"] == {"MaximumConcurrency": concurrency}
        # the role must be allowed to receive before Lambda accepts the mapping
        assert mapping["DependsOn"] == [role_id(function_id)]
        assert CHALICE_RESOURCES[function_id] == "AWS::Lambda::Function"


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_chalice_stage_settings_agree_with_the_template(stage: str) -> None:
    from chalice.config import Config

    disk = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    assert disk["automatic_layer"] is False
    stage_config = Config(chalice_stage=stage, user_provided_params={"project_dir": str(ROOT)}, config_from_disk=disk)
    settings = Settings.from_env({**stage_config.environment_variables, "AWS_REGION": REGION})
    assert (settings.stage, settings.resource_prefix) == (stage, f"smscast-{stage}")
    assert settings.sms_provider is SmsProviderName.END_USER_MESSAGING and not settings.allow_fictional_numbers
    consumers = [(function, failures) for _, function, failures, _ in SNS_FUNCTIONS]
    consumers += [(f.function, f.queue) for f in SQS_FUNCTIONS]
    for function, queue in consumers:
        function_config = stage_config.scope(stage, function)
        assert function_config.xray_enabled is True
        # AWS advises a queue's visibility timeout of at least six times its consumer's timeout
        assert 6 * function_config.lambda_timeout <= queue.visibility_timeout, function


@pytest.fixture
def models_in_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto with fake credentials; the models are bound to PREFIX and put back afterwards."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)  # a developer's profile or devstack endpoint must not catch these calls
    saved = [(m, m.Meta.table_name, m.Meta.region, getattr(m.Meta, "host", None)) for m in ALL_TABLES]
    try:
        with mock_aws():
            bind_tables(PREFIX, REGION)
            yield
    finally:
        for model, table_name, region, host in saved:
            model.Meta.table_name, model.Meta.region = table_name, region
            model.Meta.host = host  # type: ignore[attr-defined]
            model._connection = None


@pytest.mark.usefixtures("models_in_moto")
def test_template_matches_what_devstack_creates() -> None:
    """The two renderings of one definition, CloudFormation's and create_tables/create_messaging_resources, agree."""
    template = render_template(include_sandbox=True)
    create_tables(include_sandbox=True)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for name, resource in _by_name(template, "AWS::DynamoDB::Table", "TableName").items():
        table: dict[str, Any] = dict(dynamodb.describe_table(TableName=name)["Table"])
        assert _table_shape(table) == _table_shape(resource["Properties"]), name

    sqs, sns = boto3.client("sqs", region_name=REGION), boto3.client("sns", region_name=REGION)
    scheduler = boto3.client("scheduler", region_name=REGION)
    create_messaging_resources(sqs, sns, scheduler, PREFIX)
    queues = _by_name(template, "AWS::SQS::Queue", "QueueName")
    for name, resource in queues.items():
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        live = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        props = resource["Properties"]
        if "VisibilityTimeout" in props:
            assert int(live["VisibilityTimeout"]) == props["VisibilityTimeout"], name
        if "RedrivePolicy" in props:
            assert json.loads(live["RedrivePolicy"])["maxReceiveCount"] == props["RedrivePolicy"]["maxReceiveCount"], name
            assert json.loads(live["RedrivePolicy"])["deadLetterTargetArn"].endswith(f":{name}-dlq"), name
    live_topics = {arn["TopicArn"].rsplit(":", 1)[1] for arn in sns.list_topics()["Topics"]}
    assert set(_by_name(template, "AWS::SNS::Topic", "TopicName")) - {f"{PREFIX}-alarms"} == live_topics
    for group in _by_name(template, "AWS::Scheduler::ScheduleGroup", "Name"):
        assert scheduler.get_schedule_group(Name=group)["Name"] == group
