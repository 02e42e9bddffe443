"""Render smscast's data resources to CloudFormation, from the single definitions in chalicelib.

``python -m infra.template > infra/resources.json`` writes the merge template that
``chalice package --merge-template infra/resources.json`` folds into Chalice's own template.

Besides the tables, queues, topics, schedule group and media bucket it holds what Chalice cannot express:
one IAM role per function (``ACCESS``: only what that function's use cases touch; Chalice's own role is switched
off in .chalice/config.json and each function's ``Role`` is overridden here), End User Messaging's opt-out list
and configuration set (delivery events to their topic) with the topic policies and the two-way SMS role; the
inbound topic's subscription of the ``inbound_sms`` function with its on-failure queue; the campaign queues'
event source mappings (partial batch responses); the role EventBridge Scheduler assumes to put jobs on the
campaign-jobs queue; alarms on every dead-letter queue, the send failure rate and throttling, with their topic;
and a CloudWatch dashboard. Values every function needs (the scheduler role's ARN, the media bucket, the
opt-out list and configuration set names) reach them through SAM ``Globals`` (Chalice's template is SAM, so
the merged template applies them). The wiring refers to logical ids that only Chalice's template defines
(``CHALICE_RESOURCES``), so the file is linted merged over a stand-in of them, and the packaged template is
checked whole by tests/integration/test_packaged_template.py.
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
    DELIVERY_EVENT_TYPES,
    DELIVERY_EVENTS_TOPIC,
    DELIVERY_RECEIPTS,
    EXPORTS_BUCKET,
    INBOUND_FAILURES,
    INBOUND_SMS_TOPIC,
    LIST_JOBS,
    MEDIA_BUCKET,
    SHOPIFY_WEBHOOKS,
    QueueSpec,
    TopicSpec,
    messaging_definitions,
)
from chalicelib.observability import CURRENCY_DIMENSION, DEPLOYMENT_DIMENSION, NAMESPACE, REASON_DIMENSION, SERVICE, Metric
from chalicelib.settings import SECRET_PARAMETER_ENV

DEFAULT_PREFIX = "smscast-dev"

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
    # MaximumBatchingWindowInSeconds: Lambda requires one of at least 1 s for a batch size over 10.
    batching_window: int = 0


# Sending is paced per sender number by its pacer (domain/pacing.py), so more concurrent send workers than a
# shop's numbers can keep busy would only wait on it while holding their batches invisible; ten keeps several shops
# moving at once. Jobs (start, plan a page, release a wave) are few and each one fans out to many sends, so two
# (Lambda's minimum) is plenty and keeps the planner from flooding the sends queue.
SQS_FUNCTIONS: tuple[SqsFunction, ...] = (
    SqsFunction(CAMPAIGN_JOBS, "campaign_jobs", batch_size=10, max_concurrency=2),
    # Fifty batches (up to 24,500 recipients) per invocation, sent through one pipeline (services/sending.py): a
    # worker idles only between invocations (its last answers, the poller, the next reads: about a quarter of a
    # second), so an invocation must hold many seconds of a fast number's sending (24.5 s at 1,000 MPS; five
    # batches gave one worker 0.89 of it, fifty 0.99: bench/pacing.py). What a slower number cannot send by the
    # deadline is handed back to the queue unread. Over ten records Lambda needs a batching window: a Send Now's
    # first batch may wait up to that second for company when the queue is short.
    SqsFunction(CAMPAIGN_SENDS, "campaign_sends", batch_size=50, max_concurrency=10, batching_window=1),
    # webhooks are light (a few reads and writes each); ten per invocation, two at a time keeps bursts gentle
    SqsFunction(SHOPIFY_WEBHOOKS, "shopify_webhooks", batch_size=10, max_concurrency=2),
    # receipts follow a campaign at its sending rate: 100 per poll go into a few ledger transactions
    SqsFunction(DELIVERY_RECEIPTS, "delivery_receipts", batch_size=100, max_concurrency=5, batching_window=2),
    # CSV imports and exports: one job per invocation (an import may use all of it, checkpointing and re-queueing
    # itself near the deadline), two at a time so a few merchants' imports never crowd DynamoDB.
    SqsFunction(LIST_JOBS, "list_jobs", batch_size=1, max_concurrency=2),
)
SCHEDULER_ROLE = "SchedulerRole"
SCHEDULER_ROLE_ENV = "SMSCAST_SCHEDULER_ROLE_ARN"
SCHEDULED_QUEUE = CAMPAIGN_JOBS  # the only target campaign schedules have
MEDIA_BUCKET_ENV = "SMSCAST_MEDIA_BUCKET"
EXPORTS_BUCKET_ENV = "SMSCAST_EXPORTS_BUCKET"
API_FUNCTION = "APIHandler"  # the logical id Chalice gives the function behind every REST route

OPT_OUT_LIST = "OptOutList"
CONFIGURATION_SET = "ConfigurationSet"
TWO_WAY_ROLE = "TwoWayChannelRole"
ALARM_TOPIC = "AlarmTopic"  # operations only (not an app resource, so devstack has none)
DASHBOARD = "Dashboard"
SECRET_PARAMETER = "ShopifyApiSecretParameter"  # the template parameter holding the SSM parameter's *name*


@dataclass(frozen=True)
class Access:
    """What one function does in AWS beyond logs and traces; its role allows exactly this (see _function_role)."""

    function_id: str  # Chalice's logical id of the function
    consumes: QueueSpec | None = None  # its event source mapping receives and deletes from this queue
    sends_to: tuple[QueueSpec, ...] = ()  # SendMessage(Batch), and GetQueueUrl to find them by name
    parks_failures_on: QueueSpec | None = None  # Lambda's on-failure destination sends here with the function's role
    schedules: bool = False  # creates and moves one-time schedules (and passes the scheduler role to them)
    cancels_schedules: bool = False
    sends_sms: bool = False  # SendTextMessage
    sends_mms: bool = False  # SendMediaMessage, which reads the image from the media bucket as the caller
    opt_out_list: bool = False  # mirrors STOP/START on the End User Messaging opt-out list
    imports_media: bool = False  # stores imported MMS images
    writes_exports: bool = False  # streams CSV exports into the exports bucket and presigns their download
    reads_imports: bool = False  # reads uploaded CSV files (HeadObject, ranged GetObject) from the exports bucket
    erases_files: bool = False  # shop/redact: lists and deletes the shop's files in the exports bucket
    reads_shopify_secret: bool = False
    # ChangeMessageVisibility on the consumed queue (found by name): records to retry come back sooner
    retries_soon: bool = False


# Each function's reach, from the use cases its handler runs (chalicelib/services; the README lists them):
ACCESS: tuple[Access, ...] = (
    # every REST route: campaigns (schedule/cancel a start; Send Now queues the first planning job, never a send
    # batch), Inbox replies (send now, or schedule), image imports, opt-outs, and the Shopify webhook route's queue.
    Access(
        API_FUNCTION,
        sends_to=(CAMPAIGN_JOBS, SHOPIFY_WEBHOOKS, LIST_JOBS),
        schedules=True,
        cancels_schedules=True,
        sends_sms=True,
        sends_mms=True,
        opt_out_list=True,
        imports_media=True,
        writes_exports=True,  # also signs the import's upload form (a presigned POST is a PutObject)
        reads_imports=True,  # starting an import checks the upload is there (HeadObject)
        reads_shopify_secret=True,
    ),
    # STOP/HELP/confirmation answers and the opt-out list; a failing event is parked on its failure queue
    # by Lambda with the function's own role (the EventInvokeConfig destination).
    Access(to_cfn_resource_name("inbound_sms"), parks_failures_on=INBOUND_FAILURES, sends_sms=True, opt_out_list=True),
    # start, plan pages (more jobs, send batches), release waves, scheduled Inbox replies (which may move).
    Access(
        to_cfn_resource_name("campaign_jobs"),
        consumes=CAMPAIGN_JOBS,
        sends_to=(CAMPAIGN_JOBS, CAMPAIGN_SENDS),
        schedules=True,
        cancels_schedules=True,
        sends_sms=True,
        sends_mms=True,  # a scheduled reply may carry an image
    ),
    # campaign sends: requeues and throttling retries go back on its own queue; quiet hours schedule a wave.
    Access(
        to_cfn_resource_name("campaign_sends"),
        consumes=CAMPAIGN_SENDS,
        sends_to=(CAMPAIGN_SENDS,),
        schedules=True,
        sends_sms=True,
        sends_mms=True,
    ),
    # customers (consent, mirrored on the opt-out list), orders, privacy; app/uninstalled cancels start schedules.
    Access(
        to_cfn_resource_name("shopify_webhooks"),
        consumes=SHOPIFY_WEBHOOKS,
        cancels_schedules=True,
        opt_out_list=True,
        erases_files=True,  # shop/redact deletes the shop's imports, reports and exports at once
    ),
    # delivery receipts: the ledger, counters and subscribers only; receipts ahead of their outcome return in 10 s.
    Access(to_cfn_resource_name("delivery_receipts"), consumes=DELIVERY_RECEIPTS, retries_soon=True),
    # CSV imports (read the upload, write report parts and the report) and exports; re-queues an import near its
    # deadline on its own queue.
    Access(
        to_cfn_resource_name("list_jobs"), consumes=LIST_JOBS, sends_to=(LIST_JOBS,), writes_exports=True, reads_imports=True
    ),
)

# Logical ids this template refers to but Chalice's template defines.
CHALICE_RESOURCES: dict[str, str] = {access.function_id: "AWS::Lambda::Function" for access in ACCESS}
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
# What Lambda's event source mapping does with the function's role (it polls, the function never does).
_CONSUME_ACTIONS = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
# SendMessageBatch is authorised as SendMessage; the queue locator finds URLs by name (GetQueueUrl).
_SEND_ACTIONS = ["sqs:GetQueueUrl", "sqs:SendMessage"]
_RETRY_ACTIONS = ["sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"]  # ChangeMessageVisibilityBatch authorises as this
_SCHEDULE_ACTIONS = ["scheduler:CreateSchedule", "scheduler:UpdateSchedule"]
_CANCEL_ACTIONS = ["scheduler:DeleteSchedule"]
_OPT_OUT_ACTIONS = ["sms-voice:DeleteOptedOutNumber", "sms-voice:PutOptedOutNumber"]
# X-Ray's write actions have no resource-level permissions: AWS accepts only "*" for them.
_TRACE_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
# Every action that is granted on "*", with why: a test refuses "*" for anything else.
STAR_RESOURCE_ACTIONS: dict[str, str] = {action: "X-Ray has no resource-level permissions" for action in _TRACE_ACTIONS}
# Metrics need no cloudwatch:PutMetricData: Powertools writes them as EMF log lines, which CloudWatch turns into
# metrics from the function's own log group.


def _of_type(resources: dict[str, dict[str, Any]], cfn_type: str) -> list[str]:
    return sorted(logical for logical, resource in resources.items() if resource["Type"] == cfn_type)


def _queue_arn(spec: QueueSpec) -> dict[str, Any]:
    return {"Fn::GetAtt": [_logical_id(spec.base_name, "Queue"), "Arn"]}


def _function_role(access: Access, resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One function's role: logs to its own log group, traces, every table, and only what ``access`` says."""
    tables = _of_type(resources, "AWS::DynamoDB::Table")
    table_arns: list[Any] = []
    for table in tables:
        table_arns += [{"Fn::GetAtt": [table, "Arn"]}, {"Fn::Sub": "${" + table + ".Arn}/index/*"}]
    # SAM names a function <stack>-<logical id>-<suffix>, and its log group /aws/lambda/<that name>: the role cannot
    # name the function itself (the function depends on the role), so it names this stack's group for that id.
    log_group = _IN_ACCOUNT % "logs" + "log-group:/aws/lambda/${AWS::StackName}-" + access.function_id + "-*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [{"Fn::Sub": log_group}, {"Fn::Sub": log_group + ":*"}],
        },
        {"Sid": "Traces", "Effect": "Allow", "Action": _TRACE_ACTIONS, "Resource": "*"},
        # Every handler reaches shops, subscribers, the ledger and most other tables through the repositories.
        {"Sid": "Tables", "Effect": "Allow", "Action": _TABLE_ACTIONS, "Resource": table_arns},
    ]
    if access.consumes is not None:
        statements.append(
            {"Sid": "Consume", "Effect": "Allow", "Action": _CONSUME_ACTIONS, "Resource": _queue_arn(access.consumes)}
        )
    if access.retries_soon and access.consumes is not None:
        statements.append(
            {"Sid": "RetrySoon", "Effect": "Allow", "Action": _RETRY_ACTIONS, "Resource": _queue_arn(access.consumes)}
        )
    if access.sends_to:
        statements.append(
            {"Sid": "Queues", "Effect": "Allow", "Action": _SEND_ACTIONS, "Resource": [_queue_arn(q) for q in access.sends_to]}
        )
    if access.parks_failures_on is not None:
        park = {
            "Sid": "ParkFailures",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": _queue_arn(access.parks_failures_on),
        }
        statements.append(park)
    schedule_arn = {"Fn::Sub": _IN_ACCOUNT % "scheduler" + "schedule/${ResourcePrefix}/*"}
    if access.schedules:
        statements += [
            {"Sid": "Schedules", "Effect": "Allow", "Action": _SCHEDULE_ACTIONS, "Resource": schedule_arn},
            # A schedule's target is the campaign-jobs queue, whose ARN the locator reads (GetQueueAttributes).
            {
                "Sid": "ScheduleTarget",
                "Effect": "Allow",
                "Action": "sqs:GetQueueAttributes",
                "Resource": _queue_arn(SCHEDULED_QUEUE),
            },
            {
                # CreateSchedule/UpdateSchedule name the role Scheduler will assume: only that role, only for Scheduler.
                "Sid": "PassSchedulerRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": {"Fn::GetAtt": [SCHEDULER_ROLE, "Arn"]},
                "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            },
        ]
    if access.cancels_schedules:
        statements.append({"Sid": "CancelSchedules", "Effect": "Allow", "Action": _CANCEL_ACTIONS, "Resource": schedule_arn})
    sms_actions = ["sms-voice:SendTextMessage"] if access.sends_sms else []
    sms_actions += ["sms-voice:SendMediaMessage"] if access.sends_mms else []
    if sms_actions:
        statements.append(
            {
                # The sender numbers and pools are assigned by the operator after the deploy, so they are named by
                # this account's and region's ARN pattern; a send also names the configuration set and the number's
                # opt-out list, which are this stack's own.
                "Sid": "SendSms",
                "Effect": "Allow",
                "Action": sorted(sms_actions),
                "Resource": [
                    {"Fn::Sub": _IN_ACCOUNT % "sms-voice" + "phone-number/*"},
                    {"Fn::Sub": _IN_ACCOUNT % "sms-voice" + "pool/*"},
                    {"Fn::GetAtt": [CONFIGURATION_SET, "Arn"]},
                    {"Fn::GetAtt": [OPT_OUT_LIST, "Arn"]},
                ],
            }
        )
    if access.sends_mms:
        # End User Messaging's SendMediaMessage reads the image with the caller's permissions.
        read = {
            "Sid": "ReadMedia",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": {"Fn::Sub": "${" + MEDIA_BUCKET.logical_id + ".Arn}/*"},
        }
        statements.append(read)
    if access.opt_out_list:
        statements.append(
            {
                "Sid": "OptOutList",
                "Effect": "Allow",
                "Action": _OPT_OUT_ACTIONS,
                "Resource": {"Fn::GetAtt": [OPT_OUT_LIST, "Arn"]},
            }
        )
    if access.imports_media:
        statements.append(
            {
                "Sid": "StoreMedia",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": {"Fn::Sub": "${" + MEDIA_BUCKET.logical_id + ".Arn}/*"},
            }
        )
    if access.writes_exports:
        # A multipart upload needs only PutObject (and AbortMultipartUpload to drop a failed one); the presigned
        # download link is signed with this role, so GetObject too.
        statements.append(
            {
                "Sid": "WriteExports",
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                "Resource": {"Fn::Sub": "${" + EXPORTS_BUCKET.logical_id + ".Arn}/*"},
            }
        )
    if access.reads_imports and not access.writes_exports:
        statements.append(
            {
                "Sid": "ReadImports",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": {"Fn::Sub": "${" + EXPORTS_BUCKET.logical_id + ".Arn}/*"},
            }
        )
    if access.erases_files:
        # ListObjectsV2 is authorised as s3:ListBucket on the bucket; DeleteObjects as s3:DeleteObject per key.
        statements += [
            {
                "Sid": "ListShopFiles",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": {"Fn::GetAtt": [EXPORTS_BUCKET.logical_id, "Arn"]},
            },
            {
                "Sid": "EraseShopFiles",
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": {"Fn::Sub": "${" + EXPORTS_BUCKET.logical_id + ".Arn}/*"},
            },
        ]
    if access.reads_shopify_secret:
        # The name arrives as a parameter starting with "/"; a SecureString under the account's default
        # aws/ssm key needs no kms:Decrypt grant of its own (a customer managed key would).
        statements.append(
            {
                "Sid": "ShopifySecret",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": {"Fn::Sub": _IN_ACCOUNT % "ssm" + "parameter${" + SECRET_PARAMETER + "}"},
            }
        )
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": {"Fn::Sub": "${ResourcePrefix} " + access.function_id + " function"},
            "AssumeRolePolicyDocument": trust,
            "Policies": [{"PolicyName": "Access", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}],
        },
    }


def role_id(function_id: str) -> str:
    """The logical id of a function's own role."""
    return f"{function_id}Role"


def _function_overrides() -> dict[str, dict[str, Any]]:
    """What the merge changes on Chalice's functions: each gets its own role (config.json's iam_role_arn is a
    placeholder so Chalice makes none), and the API alone is told where the Shopify secret is kept."""
    overrides: dict[str, dict[str, Any]] = {}
    for access in ACCESS:
        properties: dict[str, Any] = {"Role": {"Fn::GetAtt": [role_id(access.function_id), "Arn"]}}
        if access.reads_shopify_secret:
            properties["Environment"] = {"Variables": {SECRET_PARAMETER_ENV: {"Ref": SECRET_PARAMETER}}}
        overrides[access.function_id] = {"Type": "AWS::Serverless::Function", "Properties": properties}
    return overrides


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
            "DependsOn": [role_id(function_id)],
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
            "DependsOn": [role_id(function_id)],
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
                "FunctionName": {"Ref": function_id},
                "BatchSize": spec.batch_size,
                **({"MaximumBatchingWindowInSeconds": spec.batching_window} if spec.batching_window else {}),
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
    # What the README's one-time update-phone-number command needs (CloudFormation cannot update a number).
    if OPT_OUT_LIST in resources:
        outputs[f"{OPT_OUT_LIST}Name"] = {
            "Description": "--opt-out-list-name of each sender number",
            "Value": {"Ref": OPT_OUT_LIST},
        }
        outputs[f"{CONFIGURATION_SET}Name"] = {
            "Description": "End User Messaging configuration set (delivery events)",
            "Value": {"Ref": CONFIGURATION_SET},
        }
        outputs[f"{TWO_WAY_ROLE}Arn"] = {
            "Description": "--two-way-channel-role of each sender number",
            "Value": {"Fn::GetAtt": [TWO_WAY_ROLE, "Arn"]},
        }
    if DASHBOARD in resources:
        outputs[f"{DASHBOARD}Name"] = {"Description": "CloudWatch dashboard", "Value": {"Ref": DASHBOARD}}
    return outputs


def _messaging(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """End User Messaging's side: the opt-out list, the configuration set whose delivery events reach their
    topic, the topics' policies letting the service publish, and the role two-way SMS posts inbound messages with.
    Phone numbers are not here: CloudFormation cannot adopt an existing number, so the README's one-time
    command points a number at the inbound topic with these resources' names (the stack's Outputs)."""
    inbound, delivery = _logical_id(INBOUND_SMS_TOPIC.base_name, "Topic"), _logical_id(DELIVERY_EVENTS_TOPIC.base_name, "Topic")
    missing = {inbound, delivery} - set(resources)
    if missing:
        raise KeyError(f"messaging_definitions() no longer defines {sorted(missing)}")
    from_this_account = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}

    def may_publish(topic: str) -> dict[str, Any]:
        return {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": topic}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EndUserMessagingPublishes",
                            "Effect": "Allow",
                            "Principal": {"Service": "sms-voice.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": {"Ref": topic},
                            "Condition": from_this_account,  # confused-deputy protection
                        }
                    ],
                },
            },
        }

    return {
        OPT_OUT_LIST: {
            "Type": "AWS::SMSVOICE::OptOutList",
            # Consent records: a stack deletion must not forget who texted STOP (the README's destroy step says so).
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {"OptOutListName": {"Fn::Sub": "${ResourcePrefix}-opt-outs"}},
        },
        f"{delivery}Policy": may_publish(delivery),
        f"{inbound}Policy": may_publish(inbound),
        CONFIGURATION_SET: {
            "Type": "AWS::SMSVOICE::ConfigurationSet",
            # End User Messaging checks it may publish when the destination is created
            "DependsOn": [f"{delivery}Policy"],
            "Properties": {
                "ConfigurationSetName": {"Fn::Sub": "${ResourcePrefix}-sms"},
                "EventDestinations": [
                    {
                        "EventDestinationName": "delivery-events",
                        "Enabled": True,
                        "MatchingEventTypes": list(DELIVERY_EVENT_TYPES),
                        "SnsDestination": {"TopicArn": {"Ref": delivery}},
                    }
                ],
            },
        },
        TWO_WAY_ROLE: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": {"Fn::Sub": "End User Messaging posts inbound SMS to the ${ResourcePrefix} inbound topic"},
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sms-voice.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": from_this_account,
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "PublishInboundSms",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": inbound}}],
                        },
                    }
                ],
            },
        },
    }


# --- alarms and the dashboard ------------------------------------------------------------------------------

# A failure rate above 5% over 15 minutes (with at least 20 attempts, so three unlucky sends do not page anyone).
FAILURE_RATE_THRESHOLD = 5.0
FAILURE_RATE_MIN_ATTEMPTS = 20
# Pacing keeps sends under the number's MPS, so sustained provider throttling means the MPS setting is wrong.
THROTTLED_THRESHOLD = 50  # recipients throttled in each of three 5-minute periods


def _metric(name: str) -> dict[str, Any]:
    return {
        "Namespace": NAMESPACE,
        "MetricName": name,
        "Dimensions": [
            {"Name": DEPLOYMENT_DIMENSION, "Value": {"Ref": "ResourcePrefix"}},
            {"Name": "service", "Value": SERVICE},
        ],
    }


def _alarms(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The alarm topic, one alarm per dead-letter queue (anything parked needs a person), the send failure
    rate and sustained throttling."""
    notify = {"AlarmActions": [{"Ref": ALARM_TOPIC}], "OKActions": [{"Ref": ALARM_TOPIC}]}
    alarms: dict[str, dict[str, Any]] = {
        ALARM_TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::Sub": "${ResourcePrefix}-alarms"}}}
    }
    parked = [q for q in _of_type(resources, "AWS::SQS::Queue") if q.endswith("DeadLetterQueue")]
    # the inbound failure queue is where Lambda parks inbound SMS: a message there is a DLQ in all but name
    parked.append(_logical_id(INBOUND_FAILURES.base_name, "Queue"))
    for queue in parked:
        alarms[f"{queue}DepthAlarm"] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": {"Fn::Sub": "${" + queue + ".QueueName} holds messages that failed every retry"},
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                **notify,
            },
        }
    sent, failed = _metric(Metric.SENT.value), _metric(Metric.FAILED.value)
    alarms["SendFailureRateAlarm"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": f"More than {FAILURE_RATE_THRESHOLD:g}% of campaign sends failed over 15 minutes",
            "Metrics": [
                {"Id": "sent", "MetricStat": {"Metric": sent, "Period": 900, "Stat": "Sum"}, "ReturnData": False},
                {"Id": "failed", "MetricStat": {"Metric": failed, "Period": 900, "Stat": "Sum"}, "ReturnData": False},
                {
                    "Id": "rate",
                    "Label": "failure rate (%)",
                    # no rate below the minimum volume: IF() answers 0 there
                    "Expression": f"IF((FILL(sent,0)+FILL(failed,0)) >= {FAILURE_RATE_MIN_ATTEMPTS}, "
                    "100*FILL(failed,0)/(FILL(sent,0)+FILL(failed,0)), 0)",
                    "ReturnData": True,
                },
            ],
            "EvaluationPeriods": 1,
            "Threshold": FAILURE_RATE_THRESHOLD,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            **notify,
        },
    }
    alarms["SendThrottlingAlarm"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": "End User Messaging keeps throttling campaign sends: check the sender number's MPS setting",
            **_metric(Metric.THROTTLED.value),
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 3,
            "Threshold": THROTTLED_THRESHOLD,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            **notify,
        },
    }
    return alarms


def _dashboard(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One CloudWatch dashboard: the app's metrics, every queue's depth and the functions' errors and throttles."""
    app = ["${AWS::Region}", "${ResourcePrefix}"]  # substituted by Fn::Sub below
    dims = [DEPLOYMENT_DIMENSION, app[1], "service", SERVICE]

    def app_metrics(*metrics: Metric) -> list[list[str]]:
        return [[NAMESPACE, m.value, *dims] for m in metrics]

    def widget(title: str, metrics: list[Any], *, stat: str = "Sum", x: int, y: int, width: int = 12) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": width,
            "height": 6,
            "properties": {
                "title": title,
                "region": app[0],
                "stat": stat,
                "period": 300,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }

    queues = _of_type(resources, "AWS::SQS::Queue")
    functions = [access.function_id for access in ACCESS]
    per_reason = [
        {
            "expression": f'SEARCH(\'{{{NAMESPACE},{DEPLOYMENT_DIMENSION},{REASON_DIMENSION},service}} MetricName="{m.value}" '
            f"{DEPLOYMENT_DIMENSION}=\"{app[1]}\"', 'Sum', 300)",
            "label": m.value,
            "id": f"r{i}",
        }
        for i, m in enumerate((Metric.FAILED, Metric.SKIPPED))
    ]
    revenue_search = {
        "expression": f"SEARCH('{{{NAMESPACE},{CURRENCY_DIMENSION},{DEPLOYMENT_DIMENSION},service}} "
        f'MetricName="{Metric.ATTRIBUTED_REVENUE.value}" {DEPLOYMENT_DIMENSION}="{app[1]}"\', \'Sum\', 3600)',
        "label": "minor units",
        "id": "rev",
    }
    body = {
        "widgets": [
            widget(
                "Campaign messages",
                app_metrics(Metric.SENT, Metric.DELIVERED, Metric.UNDELIVERED, Metric.FAILED, Metric.DEFERRED, Metric.SKIPPED),
                x=0,
                y=0,
            ),
            widget("Failed and skipped by reason", [[e] for e in per_reason], x=12, y=0),
            widget("Provider throttling", app_metrics(Metric.THROTTLED), x=0, y=6, width=8),
            widget(
                "Inbound, opt-outs and clicks", app_metrics(Metric.INBOUND, Metric.OPT_OUTS, Metric.CLICKS), x=8, y=6, width=8
            ),
            widget("Attributed revenue by currency", [[revenue_search]], x=16, y=6, width=8),
            widget(
                "Queue depths",
                [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${" + q + ".QueueName}"] for q in queues],
                stat="Maximum",
                x=0,
                y=12,
            ),
            widget(
                "Function errors and throttles",
                [["AWS/Lambda", metric, "FunctionName", "${" + f + "}"] for f in functions for metric in ("Errors", "Throttles")],
                x=12,
                y=12,
            ),
        ]
    }
    text = json.dumps(body, sort_keys=True)
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": {"Fn::Sub": "${ResourcePrefix}"}, "DashboardBody": {"Fn::Sub": text}},
    }


def render_template(*, include_sandbox: bool = False) -> dict[str, Any]:
    """The template as a dict; ``include_sandbox`` adds the sandbox provider's tables (never next to real sending)."""
    data = {**table_definitions(include_sandbox=include_sandbox), **messaging_definitions()}
    resources: dict[str, dict[str, Any]] = {
        **data,
        **_messaging(data),
        SCHEDULER_ROLE: _scheduler_role(data),
        **{role_id(access.function_id): _function_role(access, data) for access in ACCESS},
        **_function_overrides(),
        **_sns_wiring(data),
        **_sqs_wiring(data),
        **_alarms(data),
        DASHBOARD: _dashboard(data),
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        # Chalice's template carries the same transform; here it lets the file hold Globals and lint alone.
        "Transform": "AWS::Serverless-2016-10-31",
        # SAM merges these variables into every function's own (Chalice's config.json ones), so the API and
        # the workers all know the role their schedules run as, the bucket, the opt-out list and the
        # configuration set without a per-stage account id in config.
        "Globals": {
            "Function": {
                "Environment": {
                    "Variables": {
                        SCHEDULER_ROLE_ENV: {"Fn::GetAtt": [SCHEDULER_ROLE, "Arn"]},
                        MEDIA_BUCKET_ENV: {"Ref": MEDIA_BUCKET.logical_id},
                        EXPORTS_BUCKET_ENV: {"Ref": EXPORTS_BUCKET.logical_id},
                        "SMSCAST_OPT_OUT_LIST": {"Ref": OPT_OUT_LIST},
                        "SMSCAST_CONFIGURATION_SET": {"Ref": CONFIGURATION_SET},
                        # not secret: the Shopify app's client id (the session tokens' audience)
                        "SMSCAST_SHOPIFY_API_KEY": {"Ref": "ShopifyApiKey"},
                        "SMSCAST_LINK_DOMAIN": {"Ref": "LinkDomain"},
                    }
                }
            }
        },
        "Description": (
            "smscast: data resources, End User Messaging opt-out list and configuration set, the functions' roles, "
            "alarms and dashboard (merged into Chalice's functions and API by chalice package)"
        ),
        "Parameters": {
            "ResourcePrefix": {
                "Type": "String",
                "Default": DEFAULT_PREFIX,
                # the same rule chalicelib.settings applies to SMSCAST_RESOURCE_PREFIX
                "AllowedPattern": "^[A-Za-z0-9-]+$",
                "Description": "Start of every resource name; must equal the functions' SMSCAST_RESOURCE_PREFIX",
            },
            SECRET_PARAMETER: {
                "Type": "String",
                # the same rule chalicelib.settings applies to SMSCAST_SHOPIFY_API_SECRET_PARAMETER
                "AllowedPattern": "^/[A-Za-z0-9_.\\-/]+$",
                "Description": "Name (not value) of the SSM SecureString holding the Shopify app's API secret",
            },
            "ShopifyApiKey": {
                "Type": "String",
                "Default": "",
                "Description": "The Shopify app's client id (not secret); empty: Shopify session tokens are refused",
            },
            "LinkDomain": {
                "Type": "String",
                "Default": "",
                "AllowedPattern": "^(https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~/-]*)?)?$",
                "Description": "https base of tracked links (<LinkDomain>/r/<code>), e.g. the EndpointURL output",
            },
        },
        "Resources": resources,
        "Outputs": _outputs(resources),
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
