"""Logs, traces and metrics: one Powertools logger for all of smscast, correlation keys, the X-Ray tracer,
and the CloudWatch metrics (namespace, names, units and dimensions defined here once; infra/ alarms and
graphs them by these names).

Every module logs through a child of ``logger`` (``Logger(service=SERVICE, child=True, level=INHERIT)``),
so one level (``Settings.log_level``, applied by the composition root) and one set of correlation keys
hold on every line, whichever module writes it. Phone numbers never reach a log line: ``phone_ref``
stands in for them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from enum import Enum

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

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


# --- metrics -----------------------------------------------------------------------------------------------

NAMESPACE = "smscast"
# Every metric carries the deployment's resource prefix, so two stacks in one account never mix their figures.
DEPLOYMENT_DIMENSION = "Deployment"
REASON_DIMENSION = "Reason"
CURRENCY_DIMENSION = "Currency"


class Metric(str, Enum):
    """The names CloudWatch shows. Counts are emitted where a handler learns them from a service's answer."""

    SENT = "MessagesSent"  # campaign messages the provider accepted
    DELIVERED = "MessagesDelivered"  # final delivery receipts saying delivered (workers/delivery_receipts.py)
    UNDELIVERED = "MessagesUndelivered"  # final delivery receipts saying not delivered (also per Reason)
    UNREACHABLE = "NumbersUnreachable"  # subscribers newly marked unreachable by a carrier's permanent failure
    FAILED = "MessagesFailed"  # campaign messages settled as failed (also per Reason)
    DEFERRED = "MessagesDeferred"  # held for a quiet-hours release wave
    SKIPPED = "MessagesSkipped"  # settled without sending (also per Reason)
    THROTTLED = "SendsThrottled"  # recipients the provider throttled, queued again with backoff
    INBOUND = "InboundMessages"  # inbound SMS stored (redeliveries not counted)
    OPT_OUTS = "OptOuts"  # STOPs received
    CLICKS = "Clicks"  # counted short-link clicks
    ATTRIBUTED_REVENUE = "AttributedRevenue"  # order totals in the currency's minor units, per Currency


# Metrics that also get a per-reason series (the plain one stays the total that alarms and rates use).
BY_REASON: frozenset[Metric] = frozenset({Metric.FAILED, Metric.SKIPPED, Metric.UNDELIVERED})


def _publish(deployment: str, values: Mapping[Metric, float], extra: Mapping[str, str]) -> None:
    # EphemeralMetrics keeps its own metric set (Metrics shares one per process), so each call is one complete
    # EMF log line and no handler needs a flush decorator; CloudWatch turns the line into metrics, no API call.
    emf = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    emf.add_dimension(name=DEPLOYMENT_DIMENSION, value=deployment)
    for name, dimension in extra.items():
        emf.add_dimension(name=name, value=dimension)
    for metric, value in values.items():
        emf.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)
    emf.flush_metrics()


def count(deployment: str, values: Mapping[Metric, float], *, reasons: Mapping[Metric, Mapping[str, int]] | None = None) -> None:
    """Emit the non-zero ``values``, and for FAILED/SKIPPED their per-reason breakdown from ``reasons``."""
    nonzero = {metric: value for metric, value in values.items() if value}
    if nonzero:
        _publish(deployment, nonzero, {})
    for metric, by_reason in (reasons or {}).items():
        if metric not in BY_REASON:
            raise ValueError(f"{metric.value} has no per-reason series")
        for reason, value in sorted(by_reason.items()):
            if value:
                _publish(deployment, {metric: value}, {REASON_DIMENSION: reason})


def revenue(deployment: str, currency: str, minor_units: int) -> None:
    """Emit attributed order revenue (integer minor units: amounts in different currencies never add up)."""
    if minor_units:
        _publish(deployment, {Metric.ATTRIBUTED_REVENUE: minor_units}, {CURRENCY_DIMENSION: currency.upper()})
