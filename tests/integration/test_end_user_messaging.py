"""EndUserMessagingProvider against a real pinpoint-sms-voice-v2 client with botocore's Stubber.

The Stubber checks every request against the service model and against the exact parameters we
expect, so these tests pin the wire shape without talking to AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from chalicelib.adapters.sms.end_user_messaging import CLIENT_CONFIG, EndUserMessagingProvider
from chalicelib.domain.errors import (
    ConsentRequired,
    ProviderError,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from chalicelib.domain.messages import MessageKind, OutboundSms

pytestmark = pytest.mark.integration

SENDER = "+15555550100"
OTHER_SENDER = "+15555550101"
PHONE = "+15555550123"
OPT_OUTS = "smscast-test-opt-outs"
MEDIA = "s3://smscast-test-media/shop-1/sale.jpg"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("pinpoint-sms-voice-v2", region_name="us-east-1")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def provider(client: Any, configuration_set: str | None = "smscast-test-events") -> EndUserMessagingProvider:
    return EndUserMessagingProvider(client, opt_out_list=OPT_OUTS, configuration_set=configuration_set)


def sms(kind: MessageKind = MessageKind.CAMPAIGN, body: str = "Sale: 20% off today", **extra: Any) -> OutboundSms:
    fields: dict[str, Any] = {"campaign_id": "camp-1"} if kind is MessageKind.CAMPAIGN else {}
    fields.update(extra)
    return OutboundSms(shop_id="shop-1", from_number=SENDER, to_number=PHONE, body=body, kind=kind, **fields)


def add_error(stubber: Stubber, method: str, code: str, status: int = 400, **modeled: str) -> None:
    stubber.add_client_error(
        method,
        service_error_code=code,
        service_message="human text that must not drive translation",
        http_status_code=status,
        modeled_fields=modeled or None,
    )


class TestSendText:
    def test_campaign_is_promotional_with_context_and_configuration_set(self, client: Any, stubber: Stubber) -> None:
        body = "x" * 161  # one over a single GSM-7 part
        stubber.add_response(
            "send_text_message",
            {"MessageId": "msg-1"},
            expected_params={
                "OriginationIdentity": SENDER,
                "DestinationPhoneNumber": PHONE,
                "MessageBody": body,
                "MessageType": "PROMOTIONAL",
                "ConfigurationSetName": "smscast-test-events",
                "Context": {"shop_id": "shop-1", "kind": "campaign", "campaign_id": "camp-1"},
            },
        )
        receipt = provider(client).send(sms(body=body))
        assert receipt.provider_message_id == "msg-1"
        assert receipt.parts == 2

    @pytest.mark.parametrize("kind", [MessageKind.REPLY, MessageKind.COMPLIANCE])
    def test_reply_and_compliance_are_transactional_without_empty_context(
        self, client: Any, stubber: Stubber, kind: MessageKind
    ) -> None:
        stubber.add_response(
            "send_text_message",
            {"MessageId": "msg-2"},
            expected_params={
                "OriginationIdentity": SENDER,
                "DestinationPhoneNumber": PHONE,
                "MessageBody": "Thanks! 😊",
                "MessageType": "TRANSACTIONAL",
                "Context": {"shop_id": "shop-1", "kind": kind.value},
            },
        )
        receipt = provider(client, configuration_set=None).send(sms(kind, body="Thanks! 😊", campaign_id=""))
        assert receipt.provider_message_id == "msg-2"
        assert receipt.parts == 1

    def test_blank_body_is_refused_before_calling_aws(self, client: Any, stubber: Stubber) -> None:
        with pytest.raises(ProviderRejected) as caught:
            provider(client).send(sms(body="   "))
        assert caught.value.details["reason"] == "EMPTY_BODY"


class TestSendMedia:
    def test_media_goes_through_send_media_message(self, client: Any, stubber: Stubber) -> None:
        stubber.add_response(
            "send_media_message",
            {"MessageId": "mms-1"},
            expected_params={
                "OriginationIdentity": SENDER,
                "DestinationPhoneNumber": PHONE,
                "MessageBody": "Look at this",
                "MediaUrls": [MEDIA],
                "ConfigurationSetName": "smscast-test-events",
                "Context": {"shop_id": "shop-1", "kind": "campaign", "campaign_id": "camp-1"},
            },
        )
        receipt = provider(client).send(sms(body="Look at this", media_urls=(MEDIA,)))
        assert receipt.provider_message_id == "mms-1"
        assert receipt.parts == 1

    def test_media_without_text_omits_the_body(self, client: Any, stubber: Stubber) -> None:
        stubber.add_response(
            "send_media_message",
            {"MessageId": "mms-2"},
            expected_params={
                "OriginationIdentity": SENDER,
                "DestinationPhoneNumber": PHONE,
                "MediaUrls": [MEDIA],
                "Context": {"shop_id": "shop-1", "kind": "reply"},
            },
        )
        assert (
            provider(client, configuration_set=None)
            .send(sms(MessageKind.REPLY, body="", media_urls=(MEDIA,)))
            .provider_message_id
            == "mms-2"
        )

    @pytest.mark.parametrize(
        ("urls", "reason"),
        [
            (("https://cdn.shopify.com/s/files/sale.jpg",), "MEDIA_URL_NOT_S3"),
            (("https://smscast-test-media.s3.amazonaws.com/sale.jpg",), "MEDIA_URL_NOT_S3"),
            (("s3://Bad_Bucket/sale.jpg",), "MEDIA_URL_NOT_S3"),
            ((MEDIA, "s3://smscast-test-media/second.jpg"), "TOO_MANY_MEDIA"),
        ],
    )
    def test_media_the_service_cannot_take_is_refused_before_calling_aws(
        self, client: Any, stubber: Stubber, urls: tuple[str, ...], reason: str
    ) -> None:
        with pytest.raises(ProviderRejected) as caught:
            provider(client).send(sms(media_urls=urls))
        assert caught.value.details["reason"] == reason


@pytest.mark.parametrize(
    ("code", "modeled", "expected", "reason"),
    [
        ("ThrottlingException", {}, ProviderThrottled, None),
        (
            "ServiceQuotaExceededException",
            {"Reason": "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"},
            ProviderThrottled,
            "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT",
        ),
        (
            "ConflictException",
            {"Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT"},
            ConsentRequired,
            "DESTINATION_PHONE_NUMBER_OPTED_OUT",
        ),
        ("ConflictException", {"Reason": "RESOURCE_NOT_ACTIVE"}, ProviderRejected, "RESOURCE_NOT_ACTIVE"),
        ("ValidationException", {"Reason": "INVALID_PARAMETER"}, ProviderRejected, "INVALID_PARAMETER"),
        ("ResourceNotFoundException", {"ResourceType": "phone-number"}, ProviderRejected, None),
        ("AccessDeniedException", {"Reason": "ACCOUNT_DISABLED"}, ProviderError, "ACCOUNT_DISABLED"),
        ("InternalServerException", {}, ProviderError, None),
    ],
)
@pytest.mark.parametrize("media", [False, True])
def test_send_errors_are_translated_by_code_and_reason(
    client: Any, stubber: Stubber, code: str, modeled: dict[str, str], expected: type[Exception], reason: str | None, media: bool
) -> None:
    status = 500 if code == "InternalServerException" else 400
    add_error(stubber, "send_media_message" if media else "send_text_message", code, status, **modeled)
    with pytest.raises(expected) as caught:
        provider(client).send(sms(media_urls=(MEDIA,) if media else ()))
    error = caught.value
    assert type(error) is expected  # not merely a subclass: AccessDenied must not look retryable
    assert isinstance(error.__cause__, ClientError)
    assert getattr(error, "details", {}).get("reason") == reason


class NoAnswer:
    """A client whose send calls fail below the API layer, as botocore raises network failures."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def send_text_message(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise self.error

    send_media_message = send_text_message


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # never connected: the provider did not see the message, so retrying later is safe
        (ConnectTimeoutError(endpoint_url="https://sms-voice.us-east-1.amazonaws.com"), ProviderUnavailable),
        (EndpointConnectionError(endpoint_url="https://sms-voice.us-east-1.amazonaws.com"), ProviderUnavailable),
        # the request went out and no answer came back: it may have been sent, so a plain (never retried) error
        (ReadTimeoutError(endpoint_url="https://sms-voice.us-east-1.amazonaws.com"), ProviderError),
        (ConnectionClosedError(endpoint_url="https://sms-voice.us-east-1.amazonaws.com"), ProviderError),
    ],
)
def test_network_failures_say_whether_the_message_may_have_left(error: Exception, expected: type[Exception]) -> None:
    client = NoAnswer(error)
    with pytest.raises(ProviderError) as caught:
        EndUserMessagingProvider(client, opt_out_list=OPT_OUTS).send(sms())  # type: ignore[arg-type]
    assert type(caught.value) is expected and caught.value.__cause__ is error and client.calls == 1
    assert isinstance(caught.value, ProviderThrottled) is (expected is ProviderUnavailable)


def test_the_sms_client_makes_one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore would otherwise resend after a 5xx or a read timeout: a message that may have gone out, twice
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("pinpoint-sms-voice-v2", region_name="us-east-1", config=CLIENT_CONFIG)
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_opt_out_text_in_the_message_alone_is_not_an_opt_out(client: Any, stubber: Stubber) -> None:
    stubber.add_client_error(
        "send_text_message",
        service_error_code="ConflictException",
        service_message="DESTINATION_PHONE_NUMBER_OPTED_OUT",
        modeled_fields={"Reason": "MESSAGE_TYPE_MISMATCH"},
    )
    with pytest.raises(ProviderRejected) as caught:
        provider(client).send(sms())
    assert not isinstance(caught.value, ConsentRequired)


class TestOptOutList:
    def test_add_puts_the_number_on_the_deployment_list(self, client: Any, stubber: Stubber) -> None:
        stubber.add_response(
            "put_opted_out_number",
            {"OptOutListName": OPT_OUTS, "OptedOutNumber": PHONE},
            expected_params={"OptOutListName": OPT_OUTS, "OptedOutNumber": PHONE},
        )
        # One list per deployment: one call covers every number of the shop's pool (the stubber fails a second).
        provider(client).add_opt_out([SENDER, OTHER_SENDER], PHONE)

    def test_add_errors_are_translated(self, client: Any, stubber: Stubber) -> None:
        add_error(stubber, "put_opted_out_number", "ThrottlingException")
        with pytest.raises(ProviderThrottled):
            provider(client).add_opt_out([SENDER], PHONE)

    def test_remove_deletes_the_number_from_the_deployment_list(self, client: Any, stubber: Stubber) -> None:
        stubber.add_response(
            "delete_opted_out_number",
            {"OptOutListName": OPT_OUTS, "OptedOutNumber": PHONE},
            expected_params={"OptOutListName": OPT_OUTS, "OptedOutNumber": PHONE},
        )
        provider(client).remove_opt_out([SENDER], PHONE)

    def test_removing_a_number_that_is_not_listed_is_fine(self, client: Any, stubber: Stubber) -> None:
        add_error(
            stubber, "delete_opted_out_number", "ResourceNotFoundException", ResourceType="opted-out-number", ResourceId=PHONE
        )
        provider(client).remove_opt_out([SENDER], PHONE)

    def test_a_missing_opt_out_list_is_not_hidden(self, client: Any, stubber: Stubber) -> None:
        add_error(
            stubber, "delete_opted_out_number", "ResourceNotFoundException", ResourceType="opt-out-list", ResourceId=OPT_OUTS
        )
        with pytest.raises(ProviderRejected) as caught:
            provider(client).remove_opt_out([SENDER], PHONE)
        assert caught.value.details["resource_type"] == "opt-out-list"

    def test_remove_errors_are_translated(self, client: Any, stubber: Stubber) -> None:
        add_error(stubber, "delete_opted_out_number", "ValidationException", Reason="INVALID_PARAMETER")
        with pytest.raises(ProviderRejected) as caught:
            provider(client).remove_opt_out([SENDER], PHONE)
        assert caught.value.details["reason"] == "INVALID_PARAMETER"


def _number(phone: str, number_type: str = "TOLL_FREE", status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "PhoneNumberArn": f"arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-{phone[1:]}",
        "PhoneNumberId": f"phone-{phone[1:]}",
        "PhoneNumber": phone,
        "Status": status,
        "IsoCountryCode": "US",
        "MessageType": "TRANSACTIONAL",
        "NumberCapabilities": ["SMS"],
        "NumberType": number_type,
        "MonthlyLeasingPrice": "2.00",
        "TwoWayEnabled": True,
        "SelfManagedOptOutsEnabled": True,
        "OptOutListName": OPT_OUTS,
        "DeletionProtectionEnabled": False,
        "CreatedTimestamp": datetime(2026, 1, 1, tzinfo=timezone.utc),
    }


class TestNumberKind:
    def test_finds_the_number_on_a_later_page(self, client: Any, stubber: Stubber) -> None:
        stubber.add_response(
            "describe_phone_numbers",
            {"PhoneNumbers": [_number(OTHER_SENDER, "SHORT_CODE")], "NextToken": "page-2"},
            expected_params={"MaxResults": 50},
        )
        stubber.add_response(
            "describe_phone_numbers",
            {"PhoneNumbers": [_number(SENDER)]},
            expected_params={"MaxResults": 50, "NextToken": "page-2"},
        )
        assert provider(client).number_kind(SENDER) == "TOLL_FREE"

    def test_a_number_the_account_does_not_have_is_none(self, client: Any, stubber: Stubber) -> None:
        stubber.add_response(
            "describe_phone_numbers",
            {"PhoneNumbers": [_number(OTHER_SENDER), _number(SENDER, status="DELETED")]},
            expected_params={"MaxResults": 50},
        )
        assert provider(client).number_kind(SENDER) is None

    def test_errors_are_translated(self, client: Any, stubber: Stubber) -> None:
        add_error(stubber, "describe_phone_numbers", "AccessDeniedException")
        with pytest.raises(ProviderError):
            provider(client).number_kind(SENDER)
