"""Render smscast's data resources to CloudFormation, from the single definitions in chalicelib.

``python -m infra.template > infra/resources.json`` writes the merge template that
``chalice package --merge-template infra/resources.json`` folds into Chalice's own template.

Besides the tables, queues, topic, schedule group and media bucket it holds what Chalice cannot express: the managed
policy that lets the functions reach those resources (Chalice's ``autogen_policy`` cannot see calls made
through the composition root), attached to Chalice's ``DefaultRole``; the inbound topic's subscription
of the ``inbound_sms`` function with its on-failure queue; the campaign queues' event source mappings to
the ``campaign_jobs`` and ``campaign_sends`` functions; and the role EventBridge Scheduler assumes to put
jobs on the campaign-jobs queue, whose ARN reaches every function as SMSCAST_SCHEDULER_ROLE_ARN through
SAM ``Globals`` (Chalice's template is SAM, so the merged template applies them), as does the media bucket's
name (SMSCAST_MEDIA_BUCKET: bucket names are global, so the template's carries the account and region). The wiring refers to
logical ids that only Chalice's template defines (``CHALICE_RESOURCES``), so the file is linted merged over
a stand-in of them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalice.utils import to_cfn_resource_name

from chalicelib.adapters.dynamo.tables import table_definitions
from chalicelib.adapters.resources import (
    CAMPAIGN_JOBS,
    CAMPAIGN_SENDS,
    INBOUND_FAILURES,
    INBOUND_SMS_TOPIC,
    MEDIA_BUCKET,
    SHOPIFY_WEBHOOKS,
    QueueSpec,
    TopicSpec,
    messaging_definitions,
)

DEFAULT_PREFIX = "smscast-dev"
APP_ROLE = "DefaultRole"  # the logical id Chalice gives the role it manages for every function
APP_POLICY = "AppDataAccessPolicy"

# topic -> (Chalice function it invokes, queue that keeps events still failing after the retries, retries).
# SNS invokes Lambda asynchronously: 2 retries means three attempts before an inbound SMS is parked.
SNS_FUNCTIONS: tuple[tuple[TopicSpec, str, QueueSpec, int], ...] = ((INBOUND_SMS_TOPIC, "inbound_sms", INBOUND_FAILURES, 2),)


@dataclass(frozen=True)
class SqsFunction:
    """A Chalice function fed by an SQS queue through an event source mapping (devstack's pumps copy it)."""

    queue: QueueSpec
    function: str  # the name in @app.lambda_function(name=...)
    batch_size: int
    max_concurrency: int  # ScalingConfig.MaximumConcurrency: Lambda allows 2..1000


# Sending is paced per shop by a shared sliding-window log (the shop's MPS), so more concurrent send workers
# than that window admits would only sleep on it while holding their batches invisible; ten keeps several shops
# moving at once. Jobs (start, plan a page, release a wave) are few and each one fans out to many sends,
# so two (Lambda's minimum) is plenty and keeps the planner from flooding the sends queue.
SQS_FUNCTIONS: tuple[SqsFunction, ...] = (
    SqsFunction(CAMPAIGN_JOBS, "campaign_jobs", batch_size=10, max_concurrency=2),
    # five batches of recipients per invocation keep one invocation well inside its timeout while paced
    SqsFunction(CAMPAIGN_SENDS, "campaign_sends", batch_size=5, max_concurrency=10),
    # webhooks are light (a few reads and writes each); ten per invocation, two at a time keeps bursts gentle
    SqsFunction(SHOPIFY_WEBHOOKS, "shopify_webhooks", batch_size=10, max_concurrency=2),
)
SCHEDULER_ROLE = "SchedulerRole"
SCHEDULER_ROLE_ENV = "SMSCAST_SCHEDULER_ROLE_ARN"
SCHEDULED_QUEUE = CAMPAIGN_JOBS  # the only target campaign schedules have
MEDIA_BUCKET_ENV = "SMSCAST_MEDIA_BUCKET"

# Logical ids this template refers to but Chalice's template defines.
CHALICE_RESOURCES: dict[str, str] = (
    {APP_ROLE: "AWS::IAM::Role"}
    | {to_cfn_resource_name(function): "AWS::Lambda::Function" for _, function, _, _ in SNS_FUNCTIONS}
    | {to_cfn_resource_name(f.function): "AWS::Lambda::Function" for f in SQS_FUNCTIONS}
)
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
# Put: the media library stores imported images. Get: End User Messaging's SendMediaMessage reads the object
# with the caller's permissions, so the sending functions need it too.
_MEDIA_ACTIONS = ["s3:GetObject", "s3:PutObject"]
_OPT_OUT_ACTIONS = ["sms-voice:DeleteOptedOutNumber", "sms-voice:DescribeOptedOutNumbers", "sms-voice:PutOptedOutNumber"]


def _of_type(resources: dict[str, dict[str, Any]], cfn_type: str) -> list[str]:
    return sorted(logical for logical, resource in resources.items() if resource["Type"] == cfn_type)


def _app_policy(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the functions do through PynamoDB and boto3, scoped to this deployment's resources."""
    tables = _of_type(resources, "AWS::DynamoDB::Table")
    queues = _of_type(resources, "AWS::SQS::Queue")
    buckets = _of_type(resources, "AWS::S3::Bucket")
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
        {
            # CreateSchedule/UpdateSchedule name the role Scheduler will assume: only that role, only for Scheduler.
            "Sid": "PassSchedulerRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": {"Fn::GetAtt": [SCHEDULER_ROLE, "Arn"]},
            "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        },
        # Sends may use any of the account's origination numbers and pools, so they cannot be listed here.
        {"Sid": "SendSms", "Effect": "Allow", "Action": _SMS_SEND_ACTIONS, "Resource": "*"},
        {
            "Sid": "OptOutList",
            "Effect": "Allow",
            "Action": _OPT_OUT_ACTIONS,
            "Resource": {"Fn::Sub": _IN_ACCOUNT % "sms-voice" + "opt-out-list/${ResourcePrefix}-opt-outs"},
        },
        {
            "Sid": "Media",
            "Effect": "Allow",
            "Action": _MEDIA_ACTIONS,
            "Resource": [{"Fn::Sub": "${" + b + ".Arn}/*"} for b in buckets],
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


def _scheduler_role(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The role schedules run as: may send to the campaign-jobs queue and nothing else."""
    queue_id = _logical_id(SCHEDULED_QUEUE.base_name, "Queue")
    if queue_id not in resources:
        raise KeyError(f"messaging_definitions() no longer defines {queue_id}")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
                # only schedules of this account's group may use it (confused-deputy protection)
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": {"Ref": "AWS::AccountId"},
                        "aws:SourceArn": {"Fn::Sub": _IN_ACCOUNT % "scheduler" + "schedule-group/${ResourcePrefix}"},
                    }
                },
            }
        ],
    }
    send = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": [queue_id, "Arn"]}}],
    }
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": {"Fn::Sub": "EventBridge Scheduler puts ${ResourcePrefix} campaign jobs on their queue"},
            "AssumeRolePolicyDocument": trust,
            "Policies": [{"PolicyName": "SendCampaignJobs", "PolicyDocument": send}],
        },
    }


def _sqs_wiring(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Feed each SQS-triggered function from its queue, reporting partial batch failures."""
    wiring: dict[str, dict[str, Any]] = {}
    for spec in SQS_FUNCTIONS:
        queue_id = _logical_id(spec.queue.base_name, "Queue")
        if queue_id not in resources:
            raise KeyError(f"messaging_definitions() no longer defines {queue_id}")
        function_id = to_cfn_resource_name(spec.function)
        wiring[f"{function_id}EventSourceMapping"] = {
            "Type": "AWS::Lambda::EventSourceMapping",
            # Lambda checks the role may receive from the queue when the mapping is created
            "DependsOn": [APP_POLICY],
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
                "FunctionName": {"Ref": function_id},
                "BatchSize": spec.batch_size,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": spec.max_concurrency},
                "Enabled": True,
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
    for bucket in _of_type(resources, "AWS::S3::Bucket"):
        outputs[f"{bucket}Name"] = {"Description": "S3 bucket name", "Value": {"Ref": bucket}}
    outputs[f"{SCHEDULER_ROLE}Arn"] = {
        "Description": f"The role campaign schedules run as ({SCHEDULER_ROLE_ENV})",
        "Value": {"Fn::GetAtt": [SCHEDULER_ROLE, "Arn"]},
    }
    return outputs


def render_template(*, include_sandbox: bool = False) -> dict[str, Any]:
    """The template as a dict; ``include_sandbox`` adds the sandbox provider's tables (never next to real sending)."""
    data = {**table_definitions(include_sandbox=include_sandbox), **messaging_definitions()}
    resources: dict[str, dict[str, Any]] = {
        **data,
        APP_POLICY: _app_policy(data),
        SCHEDULER_ROLE: _scheduler_role(data),
        **_sns_wiring(data),
        **_sqs_wiring(data),
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        # Chalice's template carries the same transform; here it lets the file hold Globals and lint alone.
        "Transform": "AWS::Serverless-2016-10-31",
        # SAM merges these variables into every function's own (Chalice's config.json ones), so the API and
        # the workers all know the role their schedules run as without a per-stage account id in config.
        "Globals": {
            "Function": {
                "Environment": {
                    "Variables": {
                        SCHEDULER_ROLE_ENV: {"Fn::GetAtt": [SCHEDULER_ROLE, "Arn"]},
                        MEDIA_BUCKET_ENV: {"Ref": MEDIA_BUCKET.logical_id},
                    }
                }
            }
        },
        "Description": (
            "smscast data resources (tables, queues, topics, schedule group, media bucket) and the functions' access to them"
        ),
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
