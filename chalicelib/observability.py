"""Logs and traces: one Powertools logger for all of smscast, correlation keys, and the X-Ray tracer.

Every module logs through a child of ``logger`` (``Logger(service=SERVICE, child=True, level=INHERIT)``),
so one level (``Settings.log_level``, applied by the composition root) and one set of correlation keys
hold on every line, whichever module writes it. Phone numbers never reach a log line: ``phone_ref``
stands in for them.
"""

from __future__ import annotations

import hashlib
import logging

from aws_lambda_powertools import Logger, Tracer

SERVICE = "smscast"
# A child created with this level defers to the parent's, so the level applied below reaches every module.
INHERIT = logging.NOTSET
CORRELATION_KEYS = ("shop_id", "campaign_id", "phone_ref")

# The module and function that wrote a line, since all of them share one service name.
logger = Logger(service=SERVICE, location="%(name)s.%(funcName)s:%(lineno)d")
# Off outside Lambda (tests, devstack) by Powertools itself; in Lambda it patches botocore, so every
# DynamoDB, SQS, Scheduler and SMS call shows in the function's X-Ray trace (`xray: true` in .chalice).
tracer = Tracer(service=SERVICE)


def apply_log_level(level: str) -> None:
    """Set smscast's log level (a logging level name such as INFO or DEBUG) for every module at once."""
    logger.setLevel(level.upper())


def phone_ref(phone: str) -> str:
    """A phone number's stand-in for logs: the first 12 hex digits of its SHA-256, the same on every line."""
    return hashlib.sha256(phone.encode("utf-8")).hexdigest()[:12]


def correlate(*, shop_id: str | None = None, campaign_id: str | None = None, phone: str | None = None) -> None:
    """Set the correlation keys the following log lines carry; the ones not given are removed, so nothing
    carries over from the previous record of a batch."""
    logger.remove_keys(list(CORRELATION_KEYS))
    keys = {"shop_id": shop_id, "campaign_id": campaign_id, "phone_ref": phone_ref(phone) if phone else None}
    logger.append_keys(**{name: value for name, value in keys.items() if value})
