"""The one composition root: builds settings, AWS clients, adapters and use-case ports, lazily.

Nothing here runs at import time, so moto (tests) and devstack can point boto3 elsewhere first.
Handlers call ``container()``; tests install their own with ``use_container``.
"""

from __future__ import annotations

import json
import threading
import time
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.adapters.clock import FileOffsetClock, SystemClock
from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.claims import DynamoClaims
from chalicelib.adapters.dynamo.conversations import DynamoConversations
from chalicelib.adapters.dynamo.idempotency import DynamoIdempotencyStore
from chalicelib.adapters.dynamo.inbox import DynamoInboxRepository, DynamoReplyRepository
from chalicelib.adapters.dynamo.ledger import DynamoContactHistory, DynamoSendLedger
from chalicelib.adapters.dynamo.links import DynamoLinkStore
from chalicelib.adapters.dynamo.list_jobs import DynamoListJobs
from chalicelib.adapters.dynamo.orders import DynamoOrderStore
from chalicelib.adapters.dynamo.pacer import DynamoPacer
from chalicelib.adapters.dynamo.privacy import (
    DynamoContactData,
    DynamoInboxData,
    DynamoPrivacyExports,
    DynamoReplyData,
    DynamoSendHistoryData,
    DynamoShopData,
    DynamoSuppressions,
    DynamoThreadData,
)
from chalicelib.adapters.dynamo.rate_limits import DynamoRateLimiter
from chalicelib.adapters.dynamo.segments import DynamoSegmentRepository
from chalicelib.adapters.dynamo.shops import DynamoShopRepository
from chalicelib.adapters.dynamo.subscribers import DynamoSubscriberStore
from chalicelib.adapters.dynamo.tables import bind_tables
from chalicelib.adapters.export_files import S3ExportFiles, S3ImportFiles
from chalicelib.adapters.media import HttpsFetcher, S3MediaLibrary
from chalicelib.adapters.queues import QueueLocator, SqsJobQueue, SqsListJobQueue, SqsWebhookQueue
from chalicelib.adapters.resources import (
    CAMPAIGN_JOBS,
    CAMPAIGN_SENDS,
    DELIVERY_RECEIPTS,
    LIST_JOBS,
    SHOPIFY_WEBHOOKS,
    schedule_group_name,
)
from chalicelib.adapters.scheduler import EventBridgeSchedules
from chalicelib.adapters.sms.consent_guard import ConsentGuard
from chalicelib.adapters.sms.end_user_messaging import CLIENT_CONFIG, EndUserMessagingProvider
from chalicelib.adapters.sms.sandbox import SandboxProvider
from chalicelib.domain.sending import SENDS_IN_FLIGHT
from chalicelib.observability import apply_log_level
from chalicelib.services.idempotency import IdempotencyStore
from chalicelib.services.ports import Clock, Ports, SmsProvider
from chalicelib.settings import Settings, SmsProviderName

# Seconds before the sandbox's delivery receipt can be read: a carrier's answer takes seconds, and the send's
# outcome is settled by then, as it usually is in AWS (a receipt that comes first is simply tried again).
SANDBOX_RECEIPT_DELAY = 2


class Container:
    """Everything wired for one deployment; each piece is built on first use and then reused."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        sms: SmsProvider | None = None,
        ports: Ports | None = None,
        idempotency: IdempotencyStore | None = None,
    ) -> None:
        self.settings = settings
        apply_log_level(settings.log_level)
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._clock = clock
        self._sms = sms
        self._idempotency = idempotency
        if ports is not None:
            self.ports = ports  # tests: every use case runs on the given ports (fakes)
        bind_tables(settings.resource_prefix, settings.region)

    @cached_property
    def session(self) -> boto3.session.Session:
        return boto3.session.Session(region_name=self.settings.region)

    def client(self, service: str, config: Config | None = None) -> Any:
        """A boto3 client, built once per service; AWS_ENDPOINT_URL (devstack) is honoured by boto3 itself."""
        with self._lock:  # creating clients from one session is not thread-safe
            if service not in self._clients:
                # Up to SENDS_IN_FLIGHT sends run at once, and some reach other clients (the sandbox's receipts
                # go to SQS): a pool as large keeps them from queueing on botocore's default of 10 connections.
                config = config or Config(max_pool_connections=SENDS_IN_FLIGHT)
                self._clients[service] = self.session.client(service, config=config)  # type: ignore[call-overload]
            return self._clients[service]

    @cached_property
    def clock(self) -> Clock:
        if self._clock is not None:
            return self._clock
        if self.settings.clock_file:
            return FileOffsetClock(self.settings.clock_file)
        return SystemClock()

    @cached_property
    def subscribers(self) -> DynamoSubscriberStore:
        return DynamoSubscriberStore(self.clock)

    @cached_property
    def sms(self) -> SmsProvider:
        provider: SmsProvider
        if self._sms is not None:
            provider = self._sms
        elif self.settings.sms_provider is SmsProviderName.SANDBOX:
            provider = SandboxProvider(self.clock, receipts=self._publish_receipt)
        else:
            provider = EndUserMessagingProvider(
                self.client("pinpoint-sms-voice-v2", CLIENT_CONFIG),
                opt_out_list=self.settings.opt_out_list,
                configuration_set=self.settings.configuration_set,
            )
        # Consent is checked again right before the provider, whatever the caller checked.
        return ConsentGuard(provider, self.subscribers)

    def _publish_receipt(self, event: dict[str, Any]) -> None:
        """The sandbox's stand-in for the configuration set's event destination: straight onto the queue the
        delivery-events topic feeds, a few seconds later, as a carrier's receipt would come."""
        self.client("sqs").send_message(
            QueueUrl=self.queues.url(DELIVERY_RECEIPTS), MessageBody=json.dumps(event), DelaySeconds=SANDBOX_RECEIPT_DELAY
        )

    @cached_property
    def queues(self) -> QueueLocator:
        return QueueLocator(self.client("sqs"), self.settings.resource_prefix)

    @cached_property
    def jobs(self) -> SqsJobQueue:
        return SqsJobQueue(
            self.client("sqs"),
            jobs_queue_url=lambda: self.queues.url(CAMPAIGN_JOBS),
            sends_queue_url=lambda: self.queues.url(CAMPAIGN_SENDS),
        )

    @cached_property
    def schedules(self) -> EventBridgeSchedules:
        return EventBridgeSchedules(
            self.client("scheduler"),
            group=schedule_group_name(self.settings.resource_prefix),
            target_queue_arn=lambda: self.queues.arn(CAMPAIGN_JOBS),
            role_arn=self.settings.scheduler_role_arn,
        )

    @cached_property
    def media(self) -> S3MediaLibrary:
        # devstack has no internet: importing a real link fails there with media_unreachable (see README)
        return S3MediaLibrary(self.client("s3"), self.settings.media_bucket, HttpsFetcher())

    @cached_property
    def _files_s3(self) -> Any:
        # A client of its own: download links are signed with SigV4 (the only signature every region takes, and
        # the one whose X-Amz-Expires bounds the link), whatever the shared S3 client defaults to.
        with self._lock:
            return self.session.client("s3", config=Config(signature_version="s3v4"))

    @cached_property
    def export_files(self) -> S3ExportFiles:
        return S3ExportFiles(self._files_s3, self.settings.exports_bucket)

    @cached_property
    def import_files(self) -> S3ImportFiles:
        return S3ImportFiles(self._files_s3, self.settings.exports_bucket)

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        # Only requests with an Idempotency-Key reach this, so tests on fake ports without one never touch AWS.
        return self._idempotency if self._idempotency is not None else DynamoIdempotencyStore()

    @cached_property
    def ports(self) -> Ports:
        exports = DynamoPrivacyExports()
        links, orders = DynamoLinkStore(), DynamoOrderStore()
        return Ports(
            clock=self.clock,
            shops=DynamoShopRepository(self.clock),
            subscribers=self.subscribers,
            conversations=DynamoConversations(),
            claims=DynamoClaims(),
            sms=self.sms,
            campaigns=DynamoCampaignRepository(),
            ledger=DynamoSendLedger(),
            contacts=DynamoContactHistory(),
            pacer=DynamoPacer(self.clock),
            concurrent_sends=SENDS_IN_FLIGHT,
            segments=DynamoSegmentRepository(self.clock),
            schedules=self.schedules,
            jobs=self.jobs,
            sleep=time.sleep,
            inbox=DynamoInboxRepository(),
            replies=DynamoReplyRepository(),
            media=self.media,
            links=links,
            orders=orders,
            webhooks=SqsWebhookQueue(self.client("sqs"), queue_url=lambda: self.queues.url(SHOPIFY_WEBHOOKS)),
            suppressions=DynamoSuppressions(),
            exports=exports,
            shop_data=DynamoShopData(),
            export_files=self.export_files,
            rate_limits=DynamoRateLimiter(),
            import_files=self.import_files,
            list_jobs=DynamoListJobs(),
            list_job_queue=SqsListJobQueue(self.client("sqs"), queue_url=lambda: self.queues.url(LIST_JOBS)),
            # Every store that holds data about one person (customers/data_request and customers/redact).
            personal_data=[
                self.subscribers,
                DynamoThreadData(),
                DynamoInboxData(),
                DynamoReplyData(),
                DynamoContactData(),
                DynamoSendHistoryData(),
                exports,
                links,
                orders,
            ],
            allow_fictional_numbers=self.settings.allow_fictional_numbers,
            link_base=self.settings.link_domain,
            signup_limits=self.settings.signup_limits,
        )


_container: Container | None = None


def container() -> Container:
    """The process-wide container, built from the environment on first call."""
    global _container
    if _container is None:
        _container = Container(Settings.from_env())
    return _container


def use_container(replacement: Container | None) -> None:
    """Install a container (tests, devstack); None forgets it so the next call rebuilds from env."""
    global _container
    _container = replacement
