"""Which local callable plays which Lambda function: the devstack twin of the app's event handlers.

Add a worker here when the app gains one. Handlers take ``(event, context)`` exactly as Lambda calls them.
The SQS-fed functions, their queues and batch sizes come from ``infra.template.SQS_FUNCTIONS``, the same
list the deployed event source mappings are rendered from, so devstack cannot drift from AWS.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.resources import QueueSpec

LOG = logging.getLogger("devstack.wiring")

LambdaHandler = Callable[[dict[str, Any], Any], Any]

# Lambda function name (as a Scheduler target ARN names it) -> handler, for schedules that invoke Lambda.
# Campaign schedules target the campaign-jobs queue instead, so nothing is registered here.
SCHEDULED_FUNCTIONS: dict[str, LambdaHandler] = {}

INBOUND_FUNCTION_NAME = "inbound_sms"


@dataclass(frozen=True)
class SqsWorker:
    """One SQS-fed function as devstack runs it."""

    queue: QueueSpec
    function_name: str
    handler: LambdaHandler
    batch_size: int


def inbound_sms_handler() -> LambdaHandler:
    """The SNS-triggered inbound SMS handler; imported late so the environment is set first."""
    from chalicelib.workers.inbound_sms import handle_sns_event

    return handle_sns_event


def sqs_handler_path(function_name: str) -> str:
    """Where the handler of an SQS-fed function lives: ``chalicelib.workers.<name>.handle_sqs_event``."""
    return f"chalicelib.workers.{function_name}.handle_sqs_event"


def load_handler(dotted_path: str) -> LambdaHandler | None:
    """Import ``module.attribute``; None (with a log line) when the module or attribute does not exist yet.

    Only absence is tolerated: a module that exists but fails to import (a bug in it) still raises.
    """
    module_name, _, attribute = dotted_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            LOG.warning("%s does not exist yet: its queue is not consumed in devstack (messages wait on it)", module_name)
            return None
        raise
    handler = getattr(module, attribute, None)
    if not callable(handler):
        LOG.warning("%s has no callable %s: its queue is not consumed in devstack (messages wait on it)", module_name, attribute)
        return None
    return handler  # type: ignore[no-any-return]


def sqs_workers() -> list[SqsWorker]:
    """The SQS-fed functions whose handlers exist; imported late so the environment is set first."""
    from infra.template import SQS_FUNCTIONS  # imports the table models: only once the environment is set

    workers: list[SqsWorker] = []
    for spec in SQS_FUNCTIONS:
        handler = load_handler(sqs_handler_path(spec.function))
        if handler is not None:
            workers.append(SqsWorker(spec.queue, spec.function, handler, spec.batch_size))
    return workers
