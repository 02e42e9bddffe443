"""EventBridgeSchedules against moto: the exact one-time schedule, moving it, cancelling it, name limits, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.adapters.queues import QueueLocator
from chalicelib.adapters.resources import CAMPAIGN_JOBS, create_messaging_resources, schedule_group_name
from chalicelib.adapters.scheduler import EventBridgeSchedules, schedule_name
from chalicelib.domain.errors import ConfigurationError, TransientError
from chalicelib.domain.jobs import ReleaseWave, StartCampaign, job_to_json
from tests.integration.conftest import TEST_PREFIX, TEST_REGION

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/test-scheduler"
GROUP = schedule_group_name(TEST_PREFIX)


@dataclass
class Env:
    scheduler: Any
    schedules: EventBridgeSchedules
    jobs_arn: str
    requests: list[tuple[str, dict[str, Any]]]  # (operation, params) of every Scheduler call made

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.scheduler.get_schedule(Name=name, GroupName=GROUP))

    def names(self) -> list[str]:
        return sorted(s["Name"] for s in self.scheduler.list_schedules(GroupName=GROUP)["Schedules"])


@pytest.fixture
def env(aws: None) -> Iterator[Env]:
    sqs, sns = boto3.client("sqs", region_name=TEST_REGION), boto3.client("sns", region_name=TEST_REGION)
    scheduler = boto3.client("scheduler", region_name=TEST_REGION)
    create_messaging_resources(sqs, sns, scheduler, TEST_PREFIX)
    requests: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        requests.append((model.name, dict(params)))

    scheduler.meta.events.register("provide-client-params.scheduler.*", record)
    locator = QueueLocator(sqs, TEST_PREFIX)
    schedules = EventBridgeSchedules(scheduler, group=GROUP, target_queue_arn=lambda: locator.arn(CAMPAIGN_JOBS), role_arn=ROLE)
    yield Env(scheduler, schedules, locator.arn(CAMPAIGN_JOBS), requests)


START = StartCampaign("alpha.myshopify.com", "c-1")


class TestAt:
    def test_creates_a_one_time_schedule_in_the_store_timezone_that_queues_the_job(self, env: Env) -> None:
        env.schedules.at("start-c-1", datetime(2030, 3, 10, 9, 30), "America/Chicago", START)

        schedule = env.get("start-c-1")
        assert schedule["ScheduleExpression"] == "at(2030-03-10T09:30:00)"
        assert schedule["ScheduleExpressionTimezone"] == "America/Chicago"
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert schedule["ActionAfterCompletion"] == "DELETE"
        assert schedule["State"] == "ENABLED"
        assert schedule["GroupName"] == GROUP
        target = schedule["Target"]
        assert target["Arn"] == env.jobs_arn and target["Arn"].endswith(":test-campaign-jobs")
        assert target["RoleArn"] == ROLE
        assert json.loads(target["Input"]) == job_to_json(START)

    def test_an_existing_schedule_is_moved_with_its_whole_definition(self, env: Env) -> None:
        env.schedules.at("start-c-1", datetime(2030, 3, 10, 9, 30), "America/Chicago", START)
        wave = ReleaseWave("alpha.myshopify.com", "c-1", datetime(2030, 3, 11, 14, 0, tzinfo=timezone.utc))

        env.schedules.at("start-c-1", datetime(2030, 3, 11, 8, 0, 59, 999999), "America/New_York", wave)

        assert env.names() == ["start-c-1"]
        schedule = env.get("start-c-1")
        assert schedule["ScheduleExpression"] == "at(2030-03-11T08:00:59)"  # whole seconds, as Scheduler wants
        assert schedule["ScheduleExpressionTimezone"] == "America/New_York"
        assert json.loads(schedule["Target"]["Input"]) == job_to_json(wave)
        assert schedule["State"] == "ENABLED"
        # UpdateSchedule resets what it is not given: the move must repeat every field of the create.
        operations = [op for op, _ in env.requests if op.endswith("Schedule") and not op.startswith("Get")]
        assert operations == ["CreateSchedule", "CreateSchedule", "UpdateSchedule"]
        first_create, update = env.requests[0][1], env.requests[2][1]
        assert set(update) - {"ClientToken"} == set(first_create) - {"ClientToken"}
        assert update["ActionAfterCompletion"] == "DELETE" and update["FlexibleTimeWindow"] == {"Mode": "OFF"}

    def test_without_move_an_existing_schedule_is_left_alone_in_one_call(self, env: Env) -> None:
        wave = ReleaseWave("alpha.myshopify.com", "c-1", datetime(2030, 3, 11, 14, 0, tzinfo=timezone.utc))
        env.schedules.at("wave-c-1-1", datetime(2030, 3, 11, 14, 0), "UTC", wave, move=False)
        env.schedules.at("wave-c-1-1", datetime(2030, 3, 12, 14, 0), "UTC", wave, move=False)
        operations = [op for op, _ in env.requests if op.endswith("Schedule") and not op.startswith("Get")]
        assert operations == ["CreateSchedule", "CreateSchedule"]  # the second hits the conflict and stops
        assert env.get("wave-c-1-1")["ScheduleExpression"] == "at(2030-03-11T14:00:00)"

    def test_an_aware_time_is_taken_as_the_instant_it_names(self, env: Env) -> None:
        instant = datetime(2030, 7, 1, 16, 0, tzinfo=timezone.utc)
        env.schedules.at("start-c-1", instant, "America/Los_Angeles", START)
        assert env.get("start-c-1")["ScheduleExpression"] == "at(2030-07-01T09:00:00)"  # PDT

    def test_names_outside_schedulers_alphabet_or_length_are_shortened_stably(self, env: Env) -> None:
        long_a = "wave/" + "x" * 80 + "-a"
        long_b = "wave/" + "x" * 80 + "-b"
        env.schedules.at(long_a, datetime(2030, 1, 1, 9, 0), "UTC", START)
        env.schedules.at(long_b, datetime(2030, 1, 1, 9, 0), "UTC", START)

        names = env.names()
        assert len(names) == 2 and names == sorted([schedule_name(long_a), schedule_name(long_b)])
        for name in names:
            assert len(name) <= 64 and name.startswith("wave-xxx")
        env.schedules.cancel(long_a)
        assert env.names() == [schedule_name(long_b)]

    def test_the_queue_arn_is_looked_up_on_first_use_not_when_built(self, env: Env) -> None:
        calls: list[int] = []

        def arn() -> str:
            calls.append(1)
            return env.jobs_arn

        schedules = EventBridgeSchedules(env.scheduler, group=GROUP, target_queue_arn=arn, role_arn=ROLE)
        assert calls == []
        schedules.at("start-c-9", datetime(2030, 1, 1, 9, 0), "UTC", START)
        assert calls == [1]

    def test_an_unknown_timezone_is_refused_before_calling_aws(self, env: Env) -> None:
        with pytest.raises(ConfigurationError):
            env.schedules.at("start-c-1", datetime(2030, 1, 1, 9, 0), "Mars/Olympus_Mons", START)
        assert env.requests == []


class TestCancel:
    def test_cancel_deletes_and_a_second_cancel_is_fine(self, env: Env) -> None:
        env.schedules.at("start-c-1", datetime(2030, 3, 10, 9, 30), "America/Chicago", START)
        env.schedules.at("start-c-2", datetime(2030, 3, 10, 9, 30), "America/Chicago", START)

        env.schedules.cancel("start-c-1")
        env.schedules.cancel("start-c-1")
        env.schedules.cancel("never-made")

        assert env.names() == ["start-c-2"]


class TestErrors:
    """AWS errors moto cannot produce, played by botocore's Stubber on a real client."""

    @pytest.fixture
    def stubbed(self, aws: None) -> Iterator[tuple[EventBridgeSchedules, Stubber]]:
        client = boto3.client("scheduler", region_name=TEST_REGION)
        arn = "arn:aws:sqs:us-east-1:123456789012:test-campaign-jobs"
        with Stubber(client) as stubber:
            yield EventBridgeSchedules(client, group=GROUP, target_queue_arn=arn, role_arn=ROLE), stubber
            stubber.assert_no_pending_responses()

    def test_throttling_is_transient(self, stubbed: tuple[EventBridgeSchedules, Stubber]) -> None:
        schedules, stubber = stubbed
        stubber.add_client_error("create_schedule", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(TransientError) as caught:
            schedules.at("start-c-1", datetime(2030, 1, 1, 9, 0), "UTC", START)
        assert caught.value.details == {"aws_code": "ThrottlingException"}

    @pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException"])
    def test_access_and_validation_problems_are_configuration_errors(
        self, stubbed: tuple[EventBridgeSchedules, Stubber], code: str
    ) -> None:
        schedules, stubber = stubbed
        stubber.add_client_error("create_schedule", service_error_code=code, http_status_code=400)
        with pytest.raises(ConfigurationError):
            schedules.at("start-c-1", datetime(2030, 1, 1, 9, 0), "UTC", START)

    def test_a_schedule_that_fired_between_create_and_update_is_created_again(
        self, stubbed: tuple[EventBridgeSchedules, Stubber]
    ) -> None:
        schedules, stubber = stubbed
        arn = {"ScheduleArn": "arn:aws:scheduler:us-east-1:123456789012:schedule/test/start-c-1"}
        stubber.add_client_error("create_schedule", service_error_code="ConflictException", http_status_code=409)
        stubber.add_client_error("update_schedule", service_error_code="ResourceNotFoundException", http_status_code=404)
        stubber.add_response("create_schedule", arn)
        schedules.at("start-c-1", datetime(2030, 1, 1, 9, 0), "UTC", START)

    def test_cancel_translates_errors_other_than_not_found(self, stubbed: tuple[EventBridgeSchedules, Stubber]) -> None:
        schedules, stubber = stubbed
        stubber.add_client_error("delete_schedule", service_error_code="InternalServerException", http_status_code=500)
        with pytest.raises(TransientError):
            schedules.cancel("start-c-1")


def test_schedule_names_fit_scheduler_and_keep_what_already_fits() -> None:
    assert schedule_name("wave-c-1-29000000") == "wave-c-1-29000000"
    assert schedule_name("a.b_c-D") == "a.b_c-D"
    odd = schedule_name("start-shop.myshopify.com#c 1")
    assert odd != schedule_name("start-shop.myshopify.com#c_1")
    assert all(ch.isalnum() or ch in "-_." for ch in odd) and len(odd) <= 64
    assert len(schedule_name("x" * 64)) == 64 and schedule_name("x" * 65) != "x" * 64
    with pytest.raises(ValueError):
        schedule_name("")


def test_store_wall_time_is_what_the_expression_holds_across_dst() -> None:
    # 02:30 on the spring-forward day does not exist in New York: the wall time is passed as given and
    # Scheduler resolves it; the adapter never converts a naive time through UTC.
    from chalicelib.adapters.scheduler import at_expression

    assert at_expression(datetime(2030, 3, 10, 2, 30), "America/New_York") == "at(2030-03-10T02:30:00)"
    aware = datetime(2030, 11, 3, 1, 30, tzinfo=ZoneInfo("America/New_York"), fold=1)  # the second 01:30 (EST)
    assert at_expression(aware.astimezone(timezone.utc), "America/Chicago") == "at(2030-11-03T01:30:00)"  # still CDT there
