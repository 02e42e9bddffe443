"""The template `chalice package --merge-template infra/resources.json` builds, as `make deploy` ships it.

Packaging takes a while (it fetches Linux wheels from PyPI), so it runs once per module; `make infra-check`
runs this file outside the xdist run for the same reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint import api as cfnlint_api
from moto import mock_aws

from chalicelib.adapters.dynamo.tables import ALL_TABLES
from chalicelib.adapters.resources import QUEUES, TOPICS, create_messaging_resources
from chalicelib.api.web import ASSETS
from chalicelib.settings import SECRET_PARAMETER_ENV
from infra.template import (
    ACCESS,
    ALARM_TOPIC,
    SQS_FUNCTIONS,
    STAR_RESOURCE_ACTIONS,
    Access,
    render_template,
    role_id,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
STAGE = "dev"
PREFIX = f"smscast-{STAGE}"
SECRET_NAME = "/smscast/dev/shopify-api-secret"


def _package(project: Path, out: Path) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": REGION}
    chalice = Path(sys.executable).parent / "chalice"
    subprocess.run(
        [str(chalice), "package", "--stage", STAGE, "--merge-template", "infra/resources.json", str(out)],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package") / "out"
    _package(ROOT, out)
    return out


@pytest.fixture(scope="module")
def packaged(package_dir: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((package_dir / "sam.json").read_text(encoding="utf-8"))
    return template


def _of_type(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {logical: res for logical, res in template["Resources"].items() if res["Type"] == cfn_type}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- lint and shape ----------------------------------------------------------------------------------------


def test_cfn_lint_finds_nothing_in_the_packaged_template(packaged: dict[str, Any]) -> None:
    matches = cfnlint_api.lint(json.dumps(packaged, indent=2), regions=[REGION])
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_functions_run_python_3_11_with_tracing(packaged: dict[str, Any]) -> None:
    functions = _of_type(packaged, "AWS::Serverless::Function")
    assert set(functions) == {access.function_id for access in ACCESS}
    for logical, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.11", logical
        assert props["Tracing"] == "Active", logical  # X-Ray: API -> SQS -> worker traces join up
        assert props["Architectures"] == ["x86_64"], logical


def test_data_resources_are_the_rendered_ones(packaged: dict[str, Any]) -> None:
    """Chalice's merge must not change a table, queue or topic: they stay what infra/template.py renders
    (which tests/integration/test_infra_template.py compares with what devstack creates)."""
    rendered = render_template()
    for cfn_type in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::S3::Bucket"):
        assert _of_type(packaged, cfn_type) == _of_type(rendered, cfn_type), cfn_type


def test_every_queue_table_and_topic_is_one_devstack_creates(packaged: dict[str, Any]) -> None:
    def name(value: Any) -> str:
        return str(value["Fn::Sub"]).replace("${ResourcePrefix}", PREFIX)

    queues = {name(r["Properties"]["QueueName"]) for r in _of_type(packaged, "AWS::SQS::Queue").values()}
    assert queues == {s.name(PREFIX) for s in QUEUES} | {s.dlq_name(PREFIX) for s in QUEUES}
    topics = {logical: name(r["Properties"]["TopicName"]) for logical, r in _of_type(packaged, "AWS::SNS::Topic").items()}
    # the alarm topic is for the operator's alarms, not the app: devstack has no alarms to send
    assert set(topics.values()) == {t.name(PREFIX) for t in TOPICS} | {topics[ALARM_TOPIC]}
    tables = {name(r["Properties"]["TableName"]) for r in _of_type(packaged, "AWS::DynamoDB::Table").values()}
    assert tables == {f"{PREFIX}-{m.base_name}" for m in ALL_TABLES if not m.sandbox_only}


def test_every_sqs_trigger_reports_partial_batch_failures_and_every_queue_has_a_dlq(packaged: dict[str, Any]) -> None:
    mappings = _of_type(packaged, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(SQS_FUNCTIONS)
    for logical, mapping in mappings.items():
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], logical
    queues = _of_type(packaged, "AWS::SQS::Queue")
    for logical, queue in queues.items():
        if not logical.endswith("DeadLetterQueue"):
            assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] >= 1, logical


def test_every_parking_queue_has_a_depth_alarm_to_the_alarm_topic(packaged: dict[str, Any]) -> None:
    alarms = _of_type(packaged, "AWS::CloudWatch::Alarm")
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in alarms.values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    parking = {q for q in _of_type(packaged, "AWS::SQS::Queue") if q.endswith("DeadLetterQueue")} | {"InboundSmsFailuresQueue"}
    assert watched == parking
    assert {"SendFailureRateAlarm", "SendThrottlingAlarm"} <= set(alarms)
    for logical, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": ALARM_TOPIC}], logical
    assert packaged["Outputs"][f"{ALARM_TOPIC}Arn"]["Value"] == {"Ref": ALARM_TOPIC}


def test_end_user_messaging_is_wired_and_its_names_reach_the_functions(packaged: dict[str, Any]) -> None:
    (config_set,) = _of_type(packaged, "AWS::SMSVOICE::ConfigurationSet").values()
    (destination,) = config_set["Properties"]["EventDestinations"]
    assert destination["SnsDestination"] == {"TopicArn": {"Ref": "DeliveryEventsTopic"}}
    assert {"TEXT_DELIVERED", "TEXT_CARRIER_UNREACHABLE", "MEDIA_DELIVERED"} <= set(destination["MatchingEventTypes"])
    policies = _of_type(packaged, "AWS::SNS::TopicPolicy")
    published = {p["Properties"]["Topics"][0]["Ref"] for p in policies.values()}
    assert published == {"DeliveryEventsTopic", "InboundSmsTopic"}
    for policy in policies.values():
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "sms-voice.amazonaws.com"} and statement["Action"] == "sns:Publish"
    variables = packaged["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["SMSCAST_OPT_OUT_LIST"] == {"Ref": "OptOutList"}
    assert variables["SMSCAST_CONFIGURATION_SET"] == {"Ref": "ConfigurationSet"}
    # what the README's one-time update-phone-number command needs
    assert {"OptOutListName", "TwoWayChannelRoleArn", "InboundSmsTopicArn", "ConfigurationSetName"} <= set(packaged["Outputs"])


def test_only_the_api_is_told_where_the_secret_is_and_no_secret_is_in_the_template(packaged: dict[str, Any]) -> None:
    for logical, function in _of_type(packaged, "AWS::Serverless::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert "SMSCAST_SHOPIFY_API_SECRET" not in variables, logical
        if logical == "APIHandler":
            assert variables[SECRET_PARAMETER_ENV] == {"Ref": "ShopifyApiSecretParameter"}
        else:
            assert SECRET_PARAMETER_ENV not in variables, logical
    assert "SMSCAST_SHOPIFY_API_SECRET" not in packaged["Globals"]["Function"]["Environment"]["Variables"]


def test_the_dashboard_files_ship_in_the_deployment_package(package_dir: Path) -> None:
    with zipfile.ZipFile(package_dir / "deployment.zip") as archive:
        names = set(archive.namelist())
    assert {f"chalicelib/web/{name}" for name in ASSETS} | {"chalicelib/web/index.html", "app.py"} <= names


# --- least privilege ---------------------------------------------------------------------------------------


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Properties"].get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def _expected_actions(access: Access) -> set[str]:
    actions = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", *STAR_RESOURCE_ACTIONS}
    actions |= {
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
    }
    if access.consumes:
        actions |= {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    if access.sends_to:
        actions |= {"sqs:SendMessage", "sqs:GetQueueUrl"}
    if access.parks_failures_on:
        actions |= {"sqs:SendMessage"}
    if access.schedules:
        actions |= {"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "iam:PassRole", "sqs:GetQueueAttributes"}
    if access.cancels_schedules:
        actions |= {"scheduler:DeleteSchedule"}
    if access.sends_sms:
        actions |= {"sms-voice:SendTextMessage"}
    if access.sends_mms:
        actions |= {"sms-voice:SendMediaMessage", "s3:GetObject"}
    if access.opt_out_list:
        actions |= {"sms-voice:PutOptedOutNumber", "sms-voice:DeleteOptedOutNumber"}
    if access.imports_media:
        actions |= {"s3:PutObject"}
    if access.writes_exports:
        actions |= {"s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"}
    if access.reads_imports:
        actions |= {"s3:GetObject"}
    if access.erases_files:
        actions |= {"s3:ListBucket", "s3:DeleteObject"}
    if access.reads_shopify_secret:
        actions |= {"ssm:GetParameter"}
    if access.retries_soon:
        actions |= {"sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"}
    return actions


@pytest.mark.parametrize("access", ACCESS, ids=[a.function_id for a in ACCESS])
def test_each_function_has_its_own_role_with_only_what_it_uses(packaged: dict[str, Any], access: Access) -> None:
    function = packaged["Resources"][access.function_id]
    assert function["Properties"]["Role"] == {"Fn::GetAtt": [role_id(access.function_id), "Arn"]}
    role = packaged["Resources"][role_id(access.function_id)]
    assert role["Type"] == "AWS::IAM::Role"
    assert "ManagedPolicyArns" not in role["Properties"]
    granted = {action for s in _statements(role) for action in _listed(s["Action"])}
    assert granted == _expected_actions(access)
    # no other policy in the stack attaches to this role
    for logical, policy in {**_of_type(packaged, "AWS::IAM::Policy"), **_of_type(packaged, "AWS::IAM::ManagedPolicy")}.items():
        assert {"Ref": role_id(access.function_id)} not in policy["Properties"].get("Roles", []), logical


def test_roles_are_only_the_functions_scheduler_and_two_way_ones(packaged: dict[str, Any]) -> None:
    expected = {role_id(a.function_id) for a in ACCESS} | {"SchedulerRole", "TwoWayChannelRole"}
    assert set(_of_type(packaged, "AWS::IAM::Role")) == expected  # in particular no Chalice DefaultRole


def test_no_statement_grants_every_action_or_every_resource_without_a_reason(packaged: dict[str, Any]) -> None:
    for logical, role in _of_type(packaged, "AWS::IAM::Role").items():
        for statement in _statements(role):
            assert statement["Effect"] == "Allow"
            actions = _listed(statement["Action"])
            assert all("*" not in action for action in actions), (logical, actions)
            for resource in _listed(statement["Resource"]):
                if resource == "*":
                    assert set(actions) <= set(STAR_RESOURCE_ACTIONS), (logical, actions)
                else:
                    text = json.dumps(resource)
                    # one of this stack's resources, or an ARN pattern inside this account (and the table's indexes)
                    scoped = ("Fn::GetAtt" in resource or "Ref" in resource) or "${AWS::AccountId}" in text or ".Arn}" in text
                    assert scoped, (logical, resource)


# --- the stack in moto's CloudFormation --------------------------------------------------------------------

# What moto's CloudFormation cannot create, and why the deployable rest is still checked there.
NOT_IN_MOTO: dict[str, str] = {
    "AWS::Serverless::Function": "SAM's transform (and Lambda code from the package) is not run by moto",
    "AWS::Serverless::Api": "SAM's transform is not run by moto",
    "AWS::Lambda::Permission": "needs the functions",
    "AWS::Lambda::EventSourceMapping": "needs the functions",
    "AWS::Lambda::EventInvokeConfig": "needs the functions",
    # the inbound topic's subscribes a function; the delivery-events topic's queue subscription is created (and
    # delivered through) by devstack from the same definition (tests/e2e, test_devstack_campaign)
    "AWS::SNS::Subscription": "the inbound one subscribes a function",
    "AWS::SQS::QueuePolicy": "moto 5's CloudFormation lists a queue policy under an empty logical id",
    "AWS::SMSVOICE::OptOutList": "moto has no End User Messaging resources",
    "AWS::SMSVOICE::ConfigurationSet": "moto has no End User Messaging resources",
    "AWS::Scheduler::ScheduleGroup": "moto's CloudFormation has no Scheduler resources",
    "AWS::CloudWatch::Dashboard": "moto's CloudFormation has no dashboards",
    "AWS::CloudWatch::Alarm": "moto 5's CloudFormation parses no alarms (cfn-lint checks them above)",
    "AWS::SNS::TopicPolicy": "moto 5's CloudFormation has no topic policies (cfn-lint checks them above)",
}


def _moto_subset(template: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in template["Resources"].items() if v["Type"] not in NOT_IN_MOTO}
    # The roles name the configuration set and opt-out list by GetAtt: in moto they stand as plain ARNs.
    text = json.dumps(kept)
    for logical, arn in {
        "ConfigurationSet": "arn:aws:sms-voice:us-east-1:123456789012:configuration-set/x",
        "OptOutList": "arn:aws:sms-voice:us-east-1:123456789012:opt-out-list/x",
    }.items():
        text = text.replace(json.dumps({"Fn::GetAtt": [logical, "Arn"]}), json.dumps(arn))
    resources = json.loads(text)
    for resource in resources.values():
        resource.pop("DependsOn", None)  # DependsOn may name a resource left out above
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": template["Parameters"],
        "Resources": resources,
    }


@pytest.fixture
def moto_cloudformation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


@pytest.mark.usefixtures("moto_cloudformation")
def test_the_stack_deploys_in_moto_and_its_resources_appear(packaged: dict[str, Any]) -> None:
    types_in_template = {r["Type"] for r in packaged["Resources"].values()}
    assert set(NOT_IN_MOTO) <= types_in_template, "a listed exception is stale"
    subset = _moto_subset(packaged)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName=PREFIX,
        TemplateBody=json.dumps(subset),
        Parameters=[
            {"ParameterKey": "ResourcePrefix", "ParameterValue": PREFIX},
            {"ParameterKey": "ShopifyApiSecretParameter", "ParameterValue": SECRET_NAME},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=PREFIX)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    created = {r["LogicalResourceId"] for r in cloudformation.list_stack_resources(StackName=PREFIX)["StackResourceSummaries"]}
    assert created == set(subset["Resources"])

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    sqs, sns = boto3.client("sqs", region_name=REGION), boto3.client("sns", region_name=REGION)
    tables = set(dynamodb.list_tables()["TableNames"])
    assert tables == {f"{PREFIX}-{m.base_name}" for m in ALL_TABLES if not m.sandbox_only}
    queue_names = {url.rsplit("/", 1)[1] for url in sqs.list_queues()["QueueUrls"]}
    assert queue_names == {s.name(PREFIX) for s in QUEUES} | {s.dlq_name(PREFIX) for s in QUEUES}
    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in sns.list_topics()["Topics"]}
    assert topics == {t.name(PREFIX) for t in TOPICS} | {f"{PREFIX}-alarms"}
    roles = {r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]}
    assert len(roles) == len(_of_type(subset, "AWS::IAM::Role"))

    # devstack's creation from the same definitions makes exactly these again (its calls are idempotent on names)
    created_by_app = create_messaging_resources(sqs, sns, boto3.client("scheduler", region_name=REGION), PREFIX)
    assert {url.rsplit("/", 1)[1] for url in sqs.list_queues()["QueueUrls"]} == queue_names
    assert {n for n in created_by_app if n.endswith(tuple(t.base_name for t in TOPICS))} <= topics


# --- make package on a fresh clone -------------------------------------------------------------------------


def test_make_package_works_on_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("git and make are needed")
    clone = tmp_path / "clone"
    # the committed tree, as a store would get it (CI runs on a clean checkout, so that is the tree under test)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    # the same requirements, so the Makefile's stamp is satisfied and nothing is installed
    (clone / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(
        ["make", "package", "STAGE=dev", "REGION=us-east-1"], cwd=clone, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = clone / "build" / "package" / "dev"
    template = json.loads((out / "sam.json").read_text(encoding="utf-8"))
    assert set(_of_type(template, "AWS::Serverless::Function")) == {a.function_id for a in ACCESS}
    assert (out / "deployment.zip").stat().st_size > 1_000_000


def test_the_qr_code_png_leaves_api_gateway_as_binary_and_segno_ships(packaged: dict[str, Any], package_dir: Path) -> None:
    """GET /signup/qr.png answers base64 (Chalice); API Gateway turns it back into bytes only for a binary media
    type of the API, and the function draws it with segno, which must be in the deployment package."""
    (api,) = _of_type(packaged, "AWS::Serverless::Api").values()
    assert "image/png" in api["Properties"]["DefinitionBody"]["x-amazon-apigateway-binary-media-types"]
    assert "image/svg+xml" not in api["Properties"]["DefinitionBody"]["x-amazon-apigateway-binary-media-types"]
    with zipfile.ZipFile(package_dir / "deployment.zip") as deployment:
        assert "segno/__init__.py" in deployment.namelist()
