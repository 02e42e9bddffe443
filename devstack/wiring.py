"""Which local callable plays which Lambda function: the devstack twin of the app's event handlers.

Add a worker here when the app gains one (the campaign engine adds its queues and its starter).
Handlers take ``(event, context)`` exactly as Lambda calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.adapters.resources import QueueSpec

LambdaHandler = Callable[[dict[str, Any], Any], Any]

# SQS queue -> (function name, handler returning {"batchItemFailures": [...]}).
SQS_WORKERS: dict[QueueSpec, tuple[str, LambdaHandler]] = {}

# Lambda function name (as a Scheduler target ARN names it) -> handler, for schedules that invoke Lambda.
SCHEDULED_FUNCTIONS: dict[str, LambdaHandler] = {}

INBOUND_FUNCTION_NAME = "inbound_sms"


def inbound_sms_handler() -> LambdaHandler:
    """The SNS-triggered inbound SMS handler; imported late so the environment is set first."""
    from chalicelib.workers.inbound_sms import handle_sns_event

    return handle_sns_event
