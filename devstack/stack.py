"""Assemble devstack: moto, the shared resource definitions, the demo shop, the pumps and the API server."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalice.local import LocalDevServer

from chalicelib.domain.links import DEFAULT_LINK_BASE
from devstack import web as devstack_web
from devstack import wiring
from devstack.config import (
    DEFAULT_CLOCK_FILE,
    DEVSTACK_SHOPIFY_SECRET,
    REPO_ROOT,
    DevstackConfig,
    remove_state,
    state_file_path,
    write_state,
)
from devstack.moto_server import MotoServer, StartCancelled
from devstack.pumps import Pump, SchedulerPump, SnsToLambdaPump, SqsToLambdaPump
from devstack.serving import build_server

LOG = logging.getLogger("devstack")

HOST = "127.0.0.1"
REGION = "us-east-1"
DEFAULT_PREFIX = "smscast-local"
DEMO_SHOP_ID = "demo.myshopify.com"
DEMO_SENDER = "+15550100000"  # NANP 555-01xx: fictional, so the demo can never text a real person
# devstack plays the operator too: it assigns the demo shop a pool of two numbers with their carrier rates, so
# the pool shows in Settings and campaigns spread over it; the first assigned is the primary.
DEMO_NUMBERS = ((DEMO_SENDER, 100), ("+15550100002", 20))
DEMO_SETTINGS = {"shop_name": "Demo Store", "timezone": "America/New_York"}
TAP_QUEUE_BASE = "devstack-inbound-sms-tap"


def configure_environment(
    endpoint: str, *, prefix: str, clock_file: str, api_url: str = DEFAULT_LINK_BASE, env: MutableMapping[str, str] | None = None
) -> None:
    """Point boto3 and PynamoDB at moto and set smscast's settings; must run before anything builds a client."""
    env = os.environ if env is None else env
    # Per-service endpoint overrides or a profile would send some calls to real AWS: drop them.
    for name in [n for n in env if n.startswith("AWS_ENDPOINT_URL_")]:
        del env[name]
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        env.pop(name, None)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "SMSCAST_STAGE": env.get("SMSCAST_STAGE", "local"),
            "SMSCAST_RESOURCE_PREFIX": prefix,
            "SMSCAST_SMS_PROVIDER": "sandbox",
            "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
            "SMSCAST_CLOCK_FILE": clock_file,
            # short links point at the stack's own API, which serves GET /r/{code}
            "SMSCAST_LINK_DOMAIN": api_url,
            # moto accepts any well-formed role and never assumes it; set here so a deployment's value in the
            # developer's shell cannot leak in (the account is moto's default one)
            "SMSCAST_SCHEDULER_ROLE_ARN": f"arn:aws:iam::123456789012:role/{prefix}-scheduler",
            # the app secret Shopify signs webhooks with; python -m devstack.shopify signs with the same one
            "SMSCAST_SHOPIFY_API_SECRET": DEVSTACK_SHOPIFY_SECRET,
        }
    )


class PortInUse(Exception):
    """The API port is taken."""


@dataclass
class Devstack:
    """The whole local runtime; ``start`` brings it up, ``stop`` tears it down (idempotent)."""

    port: int = 8000
    state_file: Path = field(default_factory=state_file_path)
    clock_file: Path = DEFAULT_CLOCK_FILE
    prefix: str = DEFAULT_PREFIX
    moto_log: str | None = None
    invocation_lock: threading.Lock = field(default_factory=threading.Lock)
    moto: MotoServer | None = None
    server: LocalDevServer | None = None
    pumps: list[Pump] = field(default_factory=list)
    config: DevstackConfig | None = None
    _server_thread: threading.Thread | None = None
    _stopped: bool = False

    def start(self, cancelled: Callable[[], bool] = lambda: False) -> DevstackConfig:
        """Start moto, create resources, seed the demo shop, start pumps and the API; write the state file last.

        ``cancelled`` is asked between steps: once it says yes, start raises ``StartCancelled`` and ``stop``
        cleans up whatever had started. Checking between steps, rather than raising from a signal handler,
        never leaves a lock or a half-made client behind.
        """

        def checkpoint() -> None:
            if cancelled():
                raise StartCancelled("stop requested while starting")

        self.clock_file.parent.mkdir(parents=True, exist_ok=True)
        _require_free_port(HOST, self.port)  # fail before starting anything if the API port is taken
        self.moto = MotoServer(HOST, log_path=self.moto_log)
        self.moto.start(cancelled=cancelled)
        configure_environment(
            self.moto.endpoint, prefix=self.prefix, clock_file=str(self.clock_file), api_url=f"http://{HOST}:{self.port}"
        )

        # Imported only now: the app and the composition root must see the environment set above.
        from chalicelib.adapters.clock import FileOffsetClock
        from chalicelib.adapters.dynamo.tables import create_tables
        from chalicelib.adapters.resources import (
            INBOUND_FAILURES,
            INBOUND_SMS_TOPIC,
            create_messaging_resources,
            schedule_group_name,
        )
        from chalicelib.composition import Container, use_container
        from chalicelib.services import numbers
        from chalicelib.services.shops import create_shop
        from chalicelib.settings import Settings

        checkpoint()
        # One clock for the app and the pumps: the file `python -m devstack.clock` moves.
        clock = FileOffsetClock(str(self.clock_file))
        container = Container(Settings.from_env(), clock=clock)
        use_container(container)
        create_tables()
        checkpoint()
        sqs, sns, scheduler = container.client("sqs"), container.client("sns"), container.client("scheduler")
        # the media bucket too: MMS campaigns store their image there (importing one needs internet, see README)
        created = create_messaging_resources(sqs, sns, scheduler, self.prefix, s3=container.client("s3"))
        _, api_key = create_shop(container.ports, shop_id=DEMO_SHOP_ID, settings=DEMO_SETTINGS)
        for number, mps in DEMO_NUMBERS:
            numbers.assign(container.ports, number, DEMO_SHOP_ID, mps=mps)
        LOG.info("resources ready: %s", ", ".join(sorted(created)))
        checkpoint()

        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        from app import app

        # Only HTTP requests share one lock (Chalice keeps the current request on the app object). Each pump
        # plays a separate Lambda function and runs beside the API, as in AWS: a long send batch must not
        # stall the dashboard. The container was fully built above (create_shop), so threads share no lazy init.
        self.config = DevstackConfig(
            api_url=f"http://{HOST}:{self.port}",
            api_key=api_key,
            sender_number=DEMO_SENDER,
            aws_endpoint=self.moto.endpoint,
            region=REGION,
            resource_prefix=self.prefix,
            clock_file=str(self.clock_file),
            shop_id=DEMO_SHOP_ID,
        )
        # The phone simulator and clock badge routes exist only here, never in a deployment.
        devstack_web.register(app, self.config)
        self.server = build_server(app, HOST, self.port, self.invocation_lock, str(REPO_ROOT))

        topic_arn = created[INBOUND_SMS_TOPIC.name(self.prefix)]
        tap_url, subscription_arn = _tap_topic(sqs, sns, topic_arn, f"{self.prefix}-{TAP_QUEUE_BASE}")
        self.pumps.append(
            SnsToLambdaPump(
                sqs=sqs,
                tap_queue_url=tap_url,
                subscription_arn=subscription_arn,
                failure_queue_url=created[INBOUND_FAILURES.name(self.prefix)],
                handler=wiring.inbound_sms_handler(),
                function_name=wiring.INBOUND_FUNCTION_NAME,
                region=REGION,
                clock=clock,
            )
        )
        for worker in wiring.sqs_workers():
            url = created[worker.queue.name(self.prefix)]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.pumps.append(
                SqsToLambdaPump(
                    sqs=sqs,
                    queue_url=url,
                    queue_arn=arn,
                    handler=worker.handler,
                    function_name=worker.function_name,
                    region=REGION,
                    batch_size=worker.batch_size,
                )
            )
            LOG.info("pump: %s -> %s (batches of %d)", worker.queue.name(self.prefix), worker.function_name, worker.batch_size)
        self.pumps.append(
            SchedulerPump(
                scheduler=scheduler,
                sqs=sqs,
                group_name=schedule_group_name(self.prefix),
                clock=clock,
            )
        )
        checkpoint()
        for pump in self.pumps:
            pump.start()
        self._server_thread = threading.Thread(target=self.server.server.serve_forever, name="api", daemon=True)
        self._server_thread.start()

        checkpoint()  # a stop asked for during start-up must never leave a state file behind
        write_state(self.config, self.state_file)
        return self.config

    def stop(self) -> None:
        """Remove the state file, stop the API and the pumps, then moto (so pumps never see it vanish)."""
        if self._stopped:
            return
        self._stopped = True
        if self.config is not None:
            remove_state(self.state_file)
        if self.server is not None and self._server_thread is not None:
            self.server.shutdown()
        if self.server is not None:
            self.server.server.server_close()
        for pump in self.pumps:
            pump.stop()
        for pump in self.pumps:
            pump.join(timeout=10)
        if self.moto is not None:
            self.moto.stop()

    def kill(self) -> None:
        """Stop at once (a second Ctrl-C, or a stop that overran): state file gone, moto SIGKILLed, no waiting.

        The caller exits the process right after, which ends the pumps and the API server (daemon threads).
        """
        if self.config is not None:
            remove_state(self.state_file)
        if self.moto is not None:
            self.moto.kill()


def _require_free_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"port {port} on {host} is in use: stop what holds it or set SMSCAST_PORT") from exc


def _tap_topic(sqs: Any, sns: Any, topic_arn: str, queue_name: str) -> tuple[str, str]:
    """A devstack-only queue subscribed to the topic: SNS cannot call a local function, but moto delivers to SQS."""
    url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)
    return url, str(subscription["SubscriptionArn"])


def banner(config: DevstackConfig) -> str:
    """What devstack prints once it is ready."""
    return "\n".join(
        [
            "",
            "smscast devstack is ready",
            f"  api_url        {config.api_url}",
            f"  api_key        {config.api_key}",
            f"  sender_number  {config.sender_number}",
            f"  shop_id        {config.shop_id}",
            f"  aws_endpoint   {config.aws_endpoint}  (moto; region {config.region}, prefix {config.resource_prefix})",
            f"  clock_file     {config.clock_file}",
            "",
            f'  try: curl -H "Authorization: Bearer {config.api_key}" {config.api_url}/settings',
            '       python -m devstack.phone +15551230000 "JOIN"',
            "       python -m devstack.phone +15551230000 --received",
            "       python -m devstack.clock +9h",
            "  Ctrl-C stops everything.",
            "",
        ]
    )
