"""Render smscast's data resources to CloudFormation, from the single definitions in chalicelib.

``python -m infra.template > infra/resources.json`` writes the merge template that
``chalice package --merge-template infra/resources.json`` folds into Chalice's own template.

Besides the tables, queues, topic and schedule group it holds what Chalice cannot express: the managed
policy that lets the functions reach those resources (Chalice's ``autogen_policy`` cannot see calls made
through the composition root), attached to Chalice's ``DefaultRole``; and the inbound topic's subscription
of the ``inbound_sms`` function with its on-failure queue. Those two refer to logical ids that only
Chalice's template defines (``CHALICE_RESOURCES``), so the file is linted merged over a stand-in of them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from chalice.utils import to_cfn_resource_name

from chalicelib.adapters.dynamo.tables import table_definitions
from chalicelib.adapters.resources import INBOUND_FAILURES, INBOUND_SMS_TOPIC, QueueSpec, TopicSpec, messaging_definitions

DEFAULT_PREFIX = "smscast-dev"
APP_ROLE = "DefaultRole"  # the logical id Chalice gives the role it manages for every function
APP_POLICY = "AppDataAccessPolicy"

# topic -> (Chalice function it invokes, queue that keeps events still failing after the retries, retries).
# SNS invokes Lambda asynchronously: 2 retries means three attempts before an inbound SMS is parked.
SNS_FUNCTIONS: tuple[tuple[TopicSpec, str, QueueSpec, int], ...] = ((INBOUND_SMS_TOPIC, "inbound_sms", INBOUND_FAILURES, 2),)

# Logical ids this template refers to but Chalice's template defines.
CHALICE_RESOURCES: dict[str, str] = {APP_ROLE: "AWS::IAM::Role"} | {
    to_cfn_resource_name(function): "AWS::Lambda::Function" for _, function, _, _ in SNS_FUNCTIONS
}
_IN_ACCOUNT = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:"  # then the service's resource path

_TABLE_ACTIONS = [
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
]
_QUEUE_ACTIONS = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
]
_SCHEDULE_ACTIONS = ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule", "scheduler:UpdateSchedule"]
_SMS_SEND_ACTIONS = ["sms-voice:SendMediaMessage", "sms-voice:SendTextMessage"]
_OPT_OUT_ACTIONS = ["sms-voice:DeleteOptedOutNumber", "sms-voice:DescribeOptedOutNumbers", "sms-voice:PutOptedOutNumber"]


def _of_type(resources: dict[str, dict[str, Any]], cfn_type: str) -> list[str]:
    return sorted(logical for logical, resource in resources.items() if resource["Type"] == cfn_type)


def _app_policy(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the functions do through PynamoDB and boto3, scoped to this deployment's resources."""
    tables = _of_type(resources, "AWS::DynamoDB::Table")
    queues = _of_type(resources, "AWS::SQS::Queue")
    table_arns: list[Any] = []
    for table in tables:
        table_arns += [{"Fn::GetAtt": [table, "Arn"]}, {"Fn::Sub": "${" + table + ".Arn}/index/*"}]
    statements: list[dict[str, Any]] = [
        {"Sid": "Tables", "Effect": "Allow", "Action": _TABLE_ACTIONS, "Resource": table_arns},
        {"Sid": "Queues", "Effect": "Allow", "Action": _QUEUE_ACTIONS, "Resource": [{"Fn::GetAtt": [q, "Arn"]} for q in queues]},
        {
            "Sid": "Schedules",
            "Effect": "Allow",
            "Action": _SCHEDULE_ACTIONS,
            "Resource": {"Fn::Sub": _IN_ACCOUNT % "scheduler" + "schedule/${ResourcePrefix}/*"},
        },
        # Sends may use any of the account's origination numbers and pools, so they cannot be listed here.
        {"Sid": "SendSms", "Effect": "Allow", "Action": _SMS_SEND_ACTIONS, "Resource": "*"},
        {
            "Sid": "OptOutList",
            "Effect": "Allow",
            "Action": _OPT_OUT_ACTIONS,
            "Resource": {"Fn::Sub": _IN_ACCOUNT % "sms-voice" + "opt-out-list/${ResourcePrefix}-opt-outs"},
        },
    ]
    return {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "Description": {"Fn::Sub": "Data access of the ${ResourcePrefix} functions"},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            "Roles": [{"Ref": APP_ROLE}],
        },
    }


def _logical_id(base_name: str, suffix: str) -> str:
    # the naming messaging_definitions uses, so the wiring finds its topic and queue
    return "".join(part.capitalize() for part in base_name.split("-")) + suffix


def _sns_wiring(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Subscribe each SNS-triggered function to its topic and park what still fails on its queue."""
    wiring: dict[str, dict[str, Any]] = {}
    for topic, function, failures, retries in SNS_FUNCTIONS:
        topic_id, queue_id = _logical_id(topic.base_name, "Topic"), _logical_id(failures.base_name, "Queue")
        missing = {topic_id, queue_id} - set(resources)
        if missing:
            raise KeyError(f"messaging_definitions() no longer defines {sorted(missing)}")
        function_id = to_cfn_resource_name(function)
        wiring[f"{function_id}Subscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"Protocol": "lambda", "TopicArn": {"Ref": topic_id}, "Endpoint": {"Fn::GetAtt": [function_id, "Arn"]}},
        }
        wiring[f"{function_id}InvokePermission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": function_id},
                "Principal": "sns.amazonaws.com",
                "SourceArn": {"Ref": topic_id},
            },
        }
        wiring[f"{function_id}InvokeConfig"] = {
            "Type": "AWS::Lambda::EventInvokeConfig",
            # Lambda checks the role may send to the destination when the config is created
            "DependsOn": [APP_POLICY],
            "Properties": {
                "FunctionName": {"Ref": function_id},
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": retries,
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
            },
        }
    return wiring


def _outputs(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    outputs: dict[str, dict[str, Any]] = {}
    for table in _of_type(resources, "AWS::DynamoDB::Table"):
        outputs[f"{table}Name"] = {"Description": "DynamoDB table name", "Value": {"Ref": table}}
    for queue in _of_type(resources, "AWS::SQS::Queue"):
        outputs[f"{queue}Url"] = {"Description": "SQS queue URL", "Value": {"Ref": queue}}
        outputs[f"{queue}Arn"] = {"Description": "SQS queue ARN", "Value": {"Fn::GetAtt": [queue, "Arn"]}}
    for topic in _of_type(resources, "AWS::SNS::Topic"):
        outputs[f"{topic}Arn"] = {"Description": "SNS topic ARN", "Value": {"Ref": topic}}
    for group in _of_type(resources, "AWS::Scheduler::ScheduleGroup"):
        outputs[f"{group}Name"] = {"Description": "EventBridge Scheduler group", "Value": {"Ref": group}}
    return outputs


def render_template(*, include_sandbox: bool = False) -> dict[str, Any]:
    """The template as a dict; ``include_sandbox`` adds the sandbox provider's tables (never next to real sending)."""
    data = {**table_definitions(include_sandbox=include_sandbox), **messaging_definitions()}
    resources: dict[str, dict[str, Any]] = {**data, APP_POLICY: _app_policy(data), **_sns_wiring(data)}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "smscast data resources (tables, queues, topics, schedule group) and the functions' access to them",
        "Parameters": {
            "ResourcePrefix": {
                "Type": "String",
                "Default": DEFAULT_PREFIX,
                # the same rule chalicelib.settings applies to SMSCAST_RESOURCE_PREFIX
                "AllowedPattern": "^[A-Za-z0-9-]+$",
                "Description": "Start of every resource name; must equal the functions' SMSCAST_RESOURCE_PREFIX",
            }
        },
        "Resources": resources,
        "Outputs": _outputs(data),
    }


def render_json(*, include_sandbox: bool = False) -> str:
    """The template as deterministic JSON text (sorted keys, two-space indent, final newline)."""
    return json.dumps(render_template(include_sandbox=include_sandbox), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the template to stdout."""
    parser = argparse.ArgumentParser(prog="python -m infra.template", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--include-sandbox", action="store_true", help="add the sandbox SMS provider's tables")
    args = parser.parse_args(argv)
    sys.stdout.write(render_json(include_sandbox=args.include_sandbox))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
