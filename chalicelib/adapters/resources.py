"""Queues, topics, the schedule group and the media bucket, defined once (tables live in adapters/dynamo/tables.py).

devstack and the tests create these with ``create_messaging_resources``; ``infra/`` renders them with
``messaging_definitions``. Names carry the deployment prefix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue with its dead-letter queue."""

    base_name: str
    visibility_timeout: int  # seconds; at least six times the consumer Lambda's timeout, as AWS advises
    max_receive_count: int = 5  # deliveries before a message is parked on the DLQ

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.base_name}"

    def dlq_name(self, prefix: str) -> str:
        return f"{prefix}-{self.base_name}-dlq"


@dataclass(frozen=True)
class TopicSpec:
    """An SNS topic."""

    base_name: str

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.base_name}"


# Inbound SMS arrive on SNS and go straight to the inbound handler; what fails there three times is
# parked on this queue (the Lambda's on-failure destination) so nothing a subscriber texted is lost.
INBOUND_FAILURES = QueueSpec("inbound-sms-failures", visibility_timeout=60, max_receive_count=5)
# Campaign jobs (start, plan a page, release a quiet-hours wave); EventBridge Scheduler targets this queue.
CAMPAIGN_JOBS = QueueSpec("campaign-jobs", visibility_timeout=360, max_receive_count=5)
# Recipient batches for the send worker (many recipients per message).
CAMPAIGN_SENDS = QueueSpec("campaign-sends", visibility_timeout=360, max_receive_count=5)
# Verified Shopify webhooks: the route answers Shopify at once and the webhook worker does the work.
SHOPIFY_WEBHOOKS = QueueSpec("shopify-webhooks", visibility_timeout=360, max_receive_count=5)
# Carriers' delivery receipts, subscribed to the delivery-events topic: a queue (not the topic invoking a function
# per event) so one worker invocation records a whole poll of receipts in a few ledger transactions.
DELIVERY_RECEIPTS = QueueSpec("delivery-receipts", visibility_timeout=180, max_receive_count=10)
# CSV imports and exports of whole lists: a queue of their own, so a 100,000-row import never delays a campaign's
# start on campaign-jobs. The visibility timeout is six times the list-jobs function's 900 s.
LIST_JOBS = QueueSpec("list-jobs", visibility_timeout=5400, max_receive_count=5)
QUEUES: tuple[QueueSpec, ...] = (INBOUND_FAILURES, CAMPAIGN_JOBS, CAMPAIGN_SENDS, SHOPIFY_WEBHOOKS, DELIVERY_RECEIPTS, LIST_JOBS)

INBOUND_SMS_TOPIC = TopicSpec("inbound-sms")
# End User Messaging's configuration set publishes every message's delivery events here (infra/ wires it); the
# delivery-receipts queue subscribes to it with raw delivery (its body is the event itself).
DELIVERY_EVENTS_TOPIC = TopicSpec("delivery-events")
TOPICS: tuple[TopicSpec, ...] = (INBOUND_SMS_TOPIC, DELIVERY_EVENTS_TOPIC)
TOPIC_QUEUES: tuple[tuple[TopicSpec, QueueSpec], ...] = ((DELIVERY_EVENTS_TOPIC, DELIVERY_RECEIPTS),)

# The event types the configuration set sends to DELIVERY_EVENTS_TOPIC (pinpoint-sms-voice-v2's EventType enum):
# each SMS and MMS outcome the carrier reports, not the in-flight PENDING/QUEUED/SENT steps, which only add
# volume (SNS is billed per publish) and change nothing a merchant sees.
DELIVERY_EVENT_TYPES: tuple[str, ...] = (
    "TEXT_DELIVERED",
    "TEXT_SUCCESSFUL",
    "TEXT_INVALID",
    "TEXT_INVALID_MESSAGE",
    "TEXT_UNREACHABLE",
    "TEXT_CARRIER_UNREACHABLE",
    "TEXT_BLOCKED",
    "TEXT_CARRIER_BLOCKED",
    "TEXT_SPAM",
    "TEXT_UNKNOWN",
    "TEXT_TTL_EXPIRED",
    "TEXT_PROTECT_BLOCKED",
    "MEDIA_DELIVERED",
    "MEDIA_SUCCESSFUL",
    "MEDIA_INVALID",
    "MEDIA_INVALID_MESSAGE",
    "MEDIA_UNREACHABLE",
    "MEDIA_CARRIER_UNREACHABLE",
    "MEDIA_BLOCKED",
    "MEDIA_CARRIER_BLOCKED",
    "MEDIA_SPAM",
    "MEDIA_UNKNOWN",
    "MEDIA_TTL_EXPIRED",
    "MEDIA_FILE_INACCESSIBLE",
    "MEDIA_FILE_TYPE_UNSUPPORTED",
    "MEDIA_FILE_SIZE_EXCEEDED",
)


def opt_out_list_name(prefix: str) -> str:
    """The End User Messaging opt-out list every STOP is mirrored on (SMSCAST_OPT_OUT_LIST's default)."""
    return f"{prefix}-opt-outs"


def configuration_set_name(prefix: str) -> str:
    """The End User Messaging configuration set sends name, so their delivery events reach the topic."""
    return f"{prefix}-sms"


@dataclass(frozen=True)
class BucketSpec:
    """A private, encrypted S3 bucket whose objects expire."""

    base_name: str
    logical_id: str
    expire_after_days: int
    # Multipart uploads left unfinished (a writer that died mid-stream) are deleted after this many days.
    abort_uploads_after_days: int | None = None

    def name(self, prefix: str) -> str:
        """The name devstack and tests use (and SMSCAST_MEDIA_BUCKET's default); AWS deployments add the
        account and region, because bucket names are global (see ``messaging_definitions``)."""
        return f"{prefix}-{self.base_name}"


# MMS images imported from merchants' links; End User Messaging sends media only from S3. A campaign can be
# scheduled up to a year ahead, so objects live 400 days: long enough for the latest send, then gone.
MEDIA_BUCKET = BucketSpec("media", "MediaBucket", expire_after_days=400)
# CSV exports of a shop's subscribers and CSV imports with their reports (personal data): downloaded (or imported)
# right after they are written, gone a day later; shop/redact deletes a shop's files at once.
EXPORTS_BUCKET = BucketSpec("exports", "ExportsBucket", expire_after_days=1, abort_uploads_after_days=1)
BUCKETS: tuple[BucketSpec, ...] = (MEDIA_BUCKET, EXPORTS_BUCKET)
# SSE-S3, not a customer KMS key: End User Messaging reads the object with the sender's s3:GetObject, and a
# KMS key would need a grant of its own. (CloudFormation and the S3 API spell the same settings differently.)
_ENCRYPTION_API = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]}
_ENCRYPTION_CFN = {
    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
}
_NO_PUBLIC_ACCESS = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def _rule_id(spec: BucketSpec) -> str:
    return f"expire-after-{spec.expire_after_days}-days"


def _logical(base_name: str) -> str:
    """The CloudFormation logical id stem of a resource: ``delivery-events`` -> ``DeliveryEvents``."""
    return "".join(part.capitalize() for part in base_name.split("-"))


def schedule_group_name(prefix: str) -> str:
    """The EventBridge Scheduler group that holds every one-time campaign and release schedule."""
    return prefix


def create_messaging_resources(sqs: Any, sns: Any, scheduler: Any, prefix: str, *, s3: Any = None) -> dict[str, str]:
    """Create queues (with DLQs), topics, the schedule group and, given an S3 client, the buckets; returns
    names to URLs/ARNs (a bucket maps to its own name)."""
    created: dict[str, str] = {}
    for spec in QUEUES:
        dlq_url = sqs.create_queue(QueueName=spec.dlq_name(prefix), Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=spec.name(prefix),
            Attributes={
                "VisibilityTimeout": str(spec.visibility_timeout),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}),
            },
        )["QueueUrl"]
        created[spec.name(prefix)] = url
        created[spec.dlq_name(prefix)] = dlq_url
    for topic in TOPICS:
        created[topic.name(prefix)] = sns.create_topic(Name=topic.name(prefix))["TopicArn"]
    for topic, queue in TOPIC_QUEUES:
        _subscribe_queue(sqs, sns, created[topic.name(prefix)], created[queue.name(prefix)])
    group = schedule_group_name(prefix)
    try:
        scheduler.create_schedule_group(Name=group)
    except scheduler.exceptions.ConflictException:
        pass
    created[group] = group
    if s3 is not None:
        for bucket in BUCKETS:
            created[bucket.name(prefix)] = _create_bucket(s3, bucket, prefix)
    return created


def _queue_policy(queue_arn: Any, topic_arn: Any) -> dict[str, Any]:
    """The queue policy that lets exactly this topic deliver to the queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


def _subscribe_queue(sqs: Any, sns: Any, topic_arn: str, queue_url: str) -> None:
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(_queue_policy(queue_arn, topic_arn))})
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )


def _create_bucket(s3: Any, spec: BucketSpec, prefix: str) -> str:
    name = spec.name(prefix)
    region = s3.meta.region_name
    try:
        if region == "us-east-1":  # the one region that refuses a LocationConstraint naming itself
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=_NO_PUBLIC_ACCESS)
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=_ENCRYPTION_API)
    rule: dict[str, Any] = {
        "ID": _rule_id(spec),
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"Days": spec.expire_after_days},
    }
    if spec.abort_uploads_after_days is not None:
        rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": spec.abort_uploads_after_days}
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [rule]})
    return name


def _lifecycle_cfn(spec: BucketSpec) -> dict[str, Any]:
    rule: dict[str, Any] = {"Id": _rule_id(spec), "Status": "Enabled", "ExpirationInDays": spec.expire_after_days}
    if spec.abort_uploads_after_days is not None:
        rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": spec.abort_uploads_after_days}
    return rule


def messaging_definitions() -> dict[str, dict[str, Any]]:
    """CloudFormation resources for the queues, DLQs, topics and schedule group."""
    resources: dict[str, dict[str, Any]] = {}
    for spec in QUEUES:
        logical = "".join(part.capitalize() for part in spec.base_name.split("-"))
        resources[f"{logical}DeadLetterQueue"] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": "${ResourcePrefix}-" + spec.base_name + "-dlq"},
                "MessageRetentionPeriod": 1209600,
                "SqsManagedSseEnabled": True,
            },
        }
        resources[f"{logical}Queue"] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": "${ResourcePrefix}-" + spec.base_name},
                "VisibilityTimeout": spec.visibility_timeout,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [f"{logical}DeadLetterQueue", "Arn"]},
                    "maxReceiveCount": spec.max_receive_count,
                },
            },
        }
    for topic in TOPICS:
        logical = "".join(part.capitalize() for part in topic.base_name.split("-"))
        resources[f"{logical}Topic"] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": {"Fn::Sub": "${ResourcePrefix}-" + topic.base_name}},
        }
    for topic, queue in TOPIC_QUEUES:
        topic_id = _logical(topic.base_name) + "Topic"
        queue_id = _logical(queue.base_name) + "Queue"
        resources[f"{queue_id}Subscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": topic_id},
                "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": [queue_id, "Arn"]},
                "RawMessageDelivery": True,
            },
        }
        resources[f"{queue_id}Policy"] = {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": queue_id}],
                "PolicyDocument": _queue_policy({"Fn::GetAtt": [queue_id, "Arn"]}, {"Ref": topic_id}),
            },
        }
    resources["ScheduleGroup"] = {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": {"Name": {"Ref": "ResourcePrefix"}}}
    for bucket in BUCKETS:
        resources[bucket.logical_id] = {
            "Type": "AWS::S3::Bucket",
            # Campaigns still point at these objects: a stack deletion or replacement must not take them along.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": {"Fn::Sub": "${ResourcePrefix}-" + bucket.base_name + "-${AWS::AccountId}-${AWS::Region}"},
                "BucketEncryption": _ENCRYPTION_CFN,
                "PublicAccessBlockConfiguration": _NO_PUBLIC_ACCESS,
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {"Rules": [_lifecycle_cfn(bucket)]},
            },
        }
    return resources
