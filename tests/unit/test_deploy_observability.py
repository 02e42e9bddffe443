"""Deployment-facing pieces: the Shopify secret read from Parameter Store by name, and the EMF metrics."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from chalicelib.domain.errors import ConfigurationError
from chalicelib.domain.sending import SendState
from chalicelib.observability import DEPLOYMENT_DIMENSION, NAMESPACE, Metric, count, revenue
from chalicelib.services import orders
from chalicelib.services.ports import OrderOutcome
from chalicelib.services.sending import BatchReport
from chalicelib.settings import SECRET_PARAMETER_ENV, Settings
from tests.unit.test_orders import order, setup, tap

BASE = {"AWS_REGION": "us-east-1", "SMSCAST_STAGE": "prod"}
NAME = "/smscast/prod/shopify-api-secret"


class TestShopifySecret:
    def test_read_by_name_once_at_start(self) -> None:
        reads: list[str] = []

        def read(name: str) -> str:
            reads.append(name)
            return "s3cret"

        settings = Settings.from_env({**BASE, SECRET_PARAMETER_ENV: NAME}, read_secret=read)
        assert settings.shopify_api_secret == "s3cret"
        assert reads == [NAME]

    def test_the_plain_variable_of_devstack_and_tests_needs_no_read(self) -> None:
        def refuse(name: str) -> str:
            raise AssertionError("no read expected")

        env = {**BASE, "SMSCAST_SHOPIFY_API_SECRET": "local", SECRET_PARAMETER_ENV: NAME}
        assert Settings.from_env(env, read_secret=refuse).shopify_api_secret == "local"
        assert Settings.from_env(BASE, read_secret=refuse).shopify_api_secret is None

    @pytest.mark.parametrize("name", ["no-slash", "/spaces in/name", "/x;rm"])
    def test_a_bad_parameter_name_fails_at_start_up(self, name: str) -> None:
        with pytest.raises(ConfigurationError, match=SECRET_PARAMETER_ENV):
            Settings.from_env({**BASE, SECRET_PARAMETER_ENV: name}, read_secret=lambda _: "x")

    def test_an_unreadable_or_empty_parameter_fails_at_start_up_naming_it(self) -> None:
        def denied(name: str) -> str:
            raise PermissionError("AccessDenied")

        with pytest.raises(ConfigurationError, match=NAME):
            Settings.from_env({**BASE, SECRET_PARAMETER_ENV: NAME}, read_secret=denied)
        with pytest.raises(ConfigurationError, match="empty"):
            Settings.from_env({**BASE, SECRET_PARAMETER_ENV: NAME}, read_secret=lambda _: "")

    def test_the_opt_out_list_and_configuration_set_come_from_the_template(self) -> None:
        settings = Settings.from_env({**BASE, "SMSCAST_OPT_OUT_LIST": "x-opt-outs", "SMSCAST_CONFIGURATION_SET": "x-sms"})
        assert (settings.opt_out_list, settings.configuration_set) == ("x-opt-outs", "x-sms")
        assert Settings.from_env(BASE).opt_out_list == "smscast-prod-opt-outs"


def _emf(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


class TestMetrics:
    def test_counts_are_one_emf_line_and_reasons_get_their_own(self, capsys: pytest.CaptureFixture[str]) -> None:
        count("smscast-prod", {Metric.SENT: 3, Metric.FAILED: 1, Metric.DEFERRED: 0}, reasons={Metric.FAILED: {"rejected": 1}})
        total, by_reason = _emf(capsys)
        (directive,) = total["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        assert {m["Name"] for m in directive["Metrics"]} == {"MessagesSent", "MessagesFailed"}  # zeros are left out
        assert total[DEPLOYMENT_DIMENSION] == "smscast-prod" and total["MessagesSent"] == [3.0]
        assert by_reason["Reason"] == "rejected" and by_reason["MessagesFailed"] == [1.0]

    def test_only_failed_and_skipped_have_reasons(self) -> None:
        with pytest.raises(ValueError):
            count("smscast-prod", {}, reasons={Metric.SENT: {"x": 1}})

    def test_revenue_is_per_currency_in_minor_units(self, capsys: pytest.CaptureFixture[str]) -> None:
        revenue("smscast-prod", "usd", 4250)
        revenue("smscast-prod", "usd", 0)
        (line,) = _emf(capsys)
        assert (line["Currency"], line["AttributedRevenue"]) == ("USD", [4250.0])

    def test_the_send_worker_emits_a_batch_report(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from chalicelib.workers import campaign_sends

        class Stub:
            class settings:
                resource_prefix = "smscast-prod"

        monkeypatch.setattr(campaign_sends, "container", lambda: Stub)
        report = BatchReport(sent=5, failed=2, skipped=1, retried=["+1", "+2", "+3"])
        report.reasons = Counter({(SendState.FAILED, "rejected"): 2, (SendState.SKIPPED, "frequency_cap"): 1})
        campaign_sends._emit(report)
        total, *per_reason = _emf(capsys)
        assert (total["MessagesSent"], total["MessagesFailed"], total["MessagesSkipped"], total["SendsThrottled"]) == (
            [5.0],
            [2.0],
            [1.0],
            [3.0],
        )
        assert sorted((line["Reason"], next(k for k in line if k.startswith("Messages"))) for line in per_reason) == [
            ("frequency_cap", "MessagesSkipped"),
            ("rejected", "MessagesFailed"),
        ]


class TestReasonsAndRevenueReachTheEdges:
    def test_place_order_tells_the_attribution_it_counted_once(self) -> None:
        ports, a, _ = setup()
        tap(ports, a)
        placed = orders.place_order(ports, order())
        assert placed.outcome is OrderOutcome.COUNTED and placed.attribution is not None
        assert placed.attribution.campaign_id == a
        again = orders.place_order(ports, order())
        assert (again.outcome, again.attribution) == (OrderOutcome.DUPLICATE, None)

    def test_an_unattributed_order_carries_no_attribution(self) -> None:
        ports, _, _ = setup()
        assert orders.place_order(ports, order(phone="+12125559999")).attribution is None
