"""Which local callable plays which Lambda function: the devstack twin of the app's event handlers.

Handlers take ``(event, context)`` exactly as Lambda calls them. The SQS-fed functions, their queues and
batch sizes come from ``infra.template.SQS_FUNCTIONS``, the same list the deployed event source mappings
are rendered from, so devstack cannot drift from AWS.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.resources import QueueSpec

LambdaHandler = Callable[[dict[str, Any], Any], Any]

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

    handler: LambdaHandler = handle_sns_event  # typed here: the tracer's decorator erases the signature
    return handler


def sqs_workers() -> list[SqsWorker]:
    """Every SQS-fed function with its ``chalicelib.workers.<name>.handle_sqs_event``; imported late so the
    environment is set first. A mapped function without a worker fails here, as its deployment would."""
    from infra.template import SQS_FUNCTIONS  # imports the table models: only once the environment is set

    workers: list[SqsWorker] = []
    for spec in SQS_FUNCTIONS:
        module = importlib.import_module(f"chalicelib.workers.{spec.function}")
        workers.append(SqsWorker(spec.queue, spec.function, module.handle_sqs_event, spec.batch_size))
    return workers
