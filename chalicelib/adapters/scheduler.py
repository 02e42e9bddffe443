"""The ``Schedules`` port on EventBridge Scheduler: one-time ``at()`` schedules that put a job on the
campaign-jobs queue in the store's timezone and delete themselves after firing."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import ClientError

from chalicelib.adapters.aws_errors import error_code, translate
from chalicelib.domain.errors import ConfigurationError, SmscastError
from chalicelib.domain.jobs import Job, job_to_json

MAX_NAME_LENGTH = 64  # Scheduler's limit for schedule (and group) names
_NAME_OK = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")
_NAME_BAD_CHARS = re.compile(r"[^0-9a-zA-Z\-_.]")
_HASH_LENGTH = 16  # hex digits of sha256: collisions between distinct names are out of reach

_RETRYABLE = {"ThrottlingException", "InternalServerException", "ServiceQuotaExceededException", "ServiceUnavailable"}


def schedule_name(name: str) -> str:
    """The Scheduler name for ``name``: itself when it fits ``[0-9a-zA-Z-_.]{1,64}``, else a readable prefix
    plus a hash of the whole name, so the same name always maps to the same schedule (cancel finds it)."""
    if not name:
        raise ValueError("a schedule needs a name")
    if _NAME_OK.match(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    readable = _NAME_BAD_CHARS.sub("-", name)[: MAX_NAME_LENGTH - _HASH_LENGTH - 1]
    return f"{readable}-{digest}"


def at_expression(when: datetime, timezone: str) -> str:
    """``at(YYYY-MM-DDThh:mm:ss)`` in wall time of ``timezone``; an aware ``when`` is converted to it first."""
    if when.tzinfo is not None:
        when = when.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


def _translate(exc: ClientError, action: str) -> SmscastError:
    return translate(exc, service="EventBridge Scheduler", action=action, retryable=_RETRYABLE)


class EventBridgeSchedules:
    """Implements ``services.ports.Schedules``; every schedule lives in the deployment's group."""

    def __init__(self, client: Any, *, group: str, target_queue_arn: Callable[[], str] | str, role_arn: str) -> None:
        if not _NAME_OK.match(group):
            raise ConfigurationError(f"schedule group name {group!r} does not fit [0-9a-zA-Z-_.]{{1,64}}")
        self._client = client
        self._group = group
        self._target_queue_arn = target_queue_arn
        self._role_arn = role_arn

    def _queue_arn(self) -> str:
        # Resolved on first use, not at construction, so building the container makes no AWS call.
        return self._target_queue_arn() if callable(self._target_queue_arn) else self._target_queue_arn

    def definition(self, name: str, when: datetime, timezone: str, job: Job) -> dict[str, Any]:
        """The full CreateSchedule/UpdateSchedule request: UpdateSchedule replaces every field, so both send all."""
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(f"unknown timezone {timezone!r} for schedule {name!r}") from exc
        return {
            "Name": schedule_name(name),
            "GroupName": self._group,
            "ScheduleExpression": at_expression(when, timezone),
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},  # campaigns start when the merchant said, not within a window
            "ActionAfterCompletion": "DELETE",  # one-time: nothing is left behind to count against quotas
            "State": "ENABLED",
            "Description": f"smscast: {name}"[:512],
            "Target": {"Arn": self._queue_arn(), "RoleArn": self._role_arn, "Input": json.dumps(job_to_json(job))},
        }

    def at(self, name: str, when: datetime, timezone: str, job: Job, *, move: bool = True) -> None:
        """Create or move the schedule ``name`` to the naive wall time ``when`` in ``timezone``. With
        ``move=False`` an existing schedule is left as it is (its name already fixes time and job)."""
        request = self.definition(name, when, timezone, job)
        try:
            self._client.create_schedule(**request)
            return
        except ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise _translate(exc, f"create schedule {request['Name']}") from exc
            if not move:
                return
        # It exists: move it. If it fired (and deleted itself) in between, creating it again is what was asked.
        try:
            self._client.update_schedule(**request)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise _translate(exc, f"update schedule {request['Name']}") from exc
            try:
                self._client.create_schedule(**request)
            except ClientError as again:
                raise _translate(again, f"create schedule {request['Name']}") from again

    def cancel(self, name: str) -> None:
        """Delete the schedule; a missing one (never made, already fired, cancelled twice) is fine."""
        try:
            self._client.delete_schedule(Name=schedule_name(name), GroupName=self._group)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return
            raise _translate(exc, f"delete schedule {name}") from exc
