"""The SMS port over AWS End User Messaging SMS (boto3 ``pinpoint-sms-voice-v2``).

Errors are translated by the botocore error ``Code`` and, where the service models one, its ``Reason``
field; never by message text, which AWS may reword at any time. What matters most is whether the message
may have left: throttling, quota and connection failures before the request went out definitely did not
send it (retry later is safe); validation, conflicts and missing resources are refusals (final); a 5xx, a
read timeout or a dropped connection may have sent it (a plain ProviderError: never retried).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ProxyConnectionError,
)

from chalicelib.domain.encoding import MAX_CHARACTERS, measure
from chalicelib.domain.errors import (
    ConsentRequired,
    ProviderError,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
    SmscastError,
)
from chalicelib.domain.messages import MessageKind, OutboundSms, SendReceipt
from chalicelib.domain.sending import SENDS_IN_FLIGHT

if TYPE_CHECKING:
    from mypy_boto3_pinpoint_sms_voice_v2 import PinpointSMSVoiceV2Client

# From the service model (MediaUrlList / MediaUrlValue): one media file per MMS, and it must be an object
# in an S3 bucket named as s3://bucket/key. The service fetches it itself, so https links (a shop's CDN,
# even an S3 https URL) are refused. botocore checks neither rule client-side, so we do, with a clear reason.
MAX_MEDIA_PER_MESSAGE = 1
MAX_MEDIA_URL_LENGTH = 2048
_S3_MEDIA_URL = re.compile(r"s3://([a-z0-9.-]{3,63})/(.+)", re.DOTALL)

# ContextMap: at most 5 entries, keys 1-100 non-blank characters, values 1-800 characters that neither
# start nor end with whitespace.
_CONTEXT_VALUE_MAX = 800

# botocore on its own retries 5xx answers and read timeouts, which would send again a message that may
# already have gone out: the SMS client makes one attempt and services/outbound.py decides what follows.
# A worker's campaign messages are sent in parallel, each at its slot (up to two groups of them in flight): one
# pooled connection per message, so none waits for a connection and misses its slot.
CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, max_pool_connections=SENDS_IN_FLIGHT)

# Raised before a connection carried the request: the provider never saw the message.
_NOT_CONNECTED = (ConnectTimeoutError, EndpointConnectionError, ProxyConnectionError)

_OPTED_OUT = "DESTINATION_PHONE_NUMBER_OPTED_OUT"
_THROTTLED_CODES = frozenset({"ThrottlingException", "ServiceQuotaExceededException"})
_REJECTED_CODES = frozenset({"ValidationException", "ResourceNotFoundException", "ConflictException"})


def check_sendable(sms: OutboundSms) -> None:
    """Raise ProviderRejected for a message End User Messaging is certain to refuse (shared with the sandbox)."""
    if len(sms.body) > MAX_CHARACTERS:
        raise ProviderRejected(
            f"message body is {len(sms.body)} characters; End User Messaging accepts at most {MAX_CHARACTERS}",
            details={"reason": "BODY_TOO_LONG"},
        )
    if not sms.media_urls:
        if not sms.body.strip():
            raise ProviderRejected("a text message needs a non-blank body", details={"reason": "EMPTY_BODY"})
        return
    if len(sms.media_urls) > MAX_MEDIA_PER_MESSAGE:
        raise ProviderRejected(
            f"End User Messaging sends {MAX_MEDIA_PER_MESSAGE} media file per MMS, not {len(sms.media_urls)}",
            details={"reason": "TOO_MANY_MEDIA"},
        )
    for url in sms.media_urls:
        if len(url) > MAX_MEDIA_URL_LENGTH or not _S3_MEDIA_URL.fullmatch(url):
            raise ProviderRejected(
                "MMS media must be an object in an S3 bucket, given as s3://bucket/key "
                f"(End User Messaging does not fetch http(s) links): {url[:200]!r}",
                details={"reason": "MEDIA_URL_NOT_S3", "media_url": url[:200]},
            )


def parts_of(sms: OutboundSms) -> int:
    """Billed parts: an MMS travels as one message however long its text; an SMS as many parts as its body needs."""
    return 1 if sms.media_urls else measure(sms.body).parts


def _context(sms: OutboundSms) -> dict[str, str]:
    """Context logged to the event destination with each delivery event; only non-empty values are allowed."""
    raw = {"shop_id": sms.shop_id, "kind": sms.kind.value, "campaign_id": sms.campaign_id}
    context: dict[str, str] = {}
    for key, value in raw.items():
        text = (value or "").strip()[:_CONTEXT_VALUE_MAX].rstrip()
        if text:
            context[key] = text
    return context


def _translate(exc: ClientError, *, phone: str) -> SmscastError:
    """Map a botocore ClientError to the domain error hierarchy."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    # Modeled error fields (Reason, ResourceType) are parsed to the top level of the response.
    reason = exc.response.get("Reason") or error.get("Reason")
    details: dict[str, object] = {"aws_code": code}
    if reason:
        details["reason"] = str(reason)
    resource_type = exc.response.get("ResourceType")
    if resource_type:
        details["resource_type"] = str(resource_type)
    label = f"{code}: {reason}" if reason else code
    if code in _THROTTLED_CODES:
        return ProviderThrottled(f"End User Messaging asked to slow down ({label})", details=details)
    if code == "ConflictException" and reason == _OPTED_OUT:
        return ConsentRequired(f"{phone} is on the sender's opt-out list", details={**details, "phone": phone})
    if code in _REJECTED_CODES:
        return ProviderRejected(f"End User Messaging refused the request ({label})", details=details)
    return ProviderError(f"End User Messaging failed ({label})", details=details)


class EndUserMessagingProvider:
    """Sends SMS and MMS through End User Messaging and mirrors STOP/START on the deployment's opt-out list."""

    def __init__(self, client: PinpointSMSVoiceV2Client, *, opt_out_list: str, configuration_set: str | None = None) -> None:
        self._client = client
        self._opt_out_list = opt_out_list
        self._configuration_set = configuration_set

    def send(self, sms: OutboundSms) -> SendReceipt:
        """SendTextMessage, or SendMediaMessage when the message carries media."""
        check_sendable(sms)
        params: dict[str, Any] = {"OriginationIdentity": sms.from_number, "DestinationPhoneNumber": sms.to_number}
        if sms.body.strip():  # an MMS may go without text; a blank MessageBody is refused by the service
            params["MessageBody"] = sms.body
        if self._configuration_set:
            params["ConfigurationSetName"] = self._configuration_set
        context = _context(sms)
        if context:
            params["Context"] = context
        call: Callable[..., Any]
        if sms.media_urls:
            params["MediaUrls"] = list(sms.media_urls)
            call = self._client.send_media_message
        else:
            # Campaigns are marketing; replies and STOP/HELP answers are conversational, and carriers
            # route TRANSACTIONAL traffic with priority.
            params["MessageType"] = "PROMOTIONAL" if sms.kind is MessageKind.CAMPAIGN else "TRANSACTIONAL"
            call = self._client.send_text_message
        try:
            response = call(**params)
        except ClientError as exc:
            raise _translate(exc, phone=sms.to_number) from exc
        except ParamValidationError as exc:
            raise ProviderRejected(
                "the message does not fit End User Messaging's request rules", details={"reason": "PARAM_VALIDATION"}
            ) from exc
        except _NOT_CONNECTED as exc:
            raise ProviderUnavailable(
                f"End User Messaging could not be reached ({type(exc).__name__})", details={"reason": type(exc).__name__}
            ) from exc
        except BotoCoreError as exc:
            # A read timeout or a dropped connection: the request reached AWS and may have been sent.
            raise ProviderError(
                f"End User Messaging did not answer ({type(exc).__name__})", details={"reason": type(exc).__name__}
            ) from exc
        return SendReceipt(provider_message_id=str(response["MessageId"]), parts=parts_of(sms))

    # The deployment has one opt-out list shared by all its sender numbers (settings.opt_out_list): one call
    # covers every number of the shop's pool, whichever of them a later send comes from.
    def add_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """PutOptedOutNumber on the deployment's opt-out list (idempotent at AWS)."""
        try:
            self._client.put_opted_out_number(OptOutListName=self._opt_out_list, OptedOutNumber=phone)
        except ClientError as exc:
            raise _translate(exc, phone=phone) from exc

    def remove_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """DeleteOptedOutNumber; a number that is not on the list is already where START wants it."""
        try:
            self._client.delete_opted_out_number(OptOutListName=self._opt_out_list, OptedOutNumber=phone)
        except ClientError as exc:
            missing = exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
            # A missing opt-out *list* is a broken deployment, not an already-removed number.
            if missing and exc.response.get("ResourceType") != "opt-out-list":
                return
            raise _translate(exc, phone=phone) from exc

    def number_kind(self, number: str) -> str | None:
        """DescribePhoneNumbers, page by page, for the account's number ``number``: its NumberType, or None.

        DescribePhoneNumbers takes ids or ARNs, not the phone number, and has no filter on it, so the pages are
        read until it shows up (an operator's command, run by hand; accounts hold few numbers)."""
        params: dict[str, Any] = {"MaxResults": 50}
        while True:
            try:
                page = self._client.describe_phone_numbers(**params)
            except ClientError as exc:
                raise _translate(exc, phone=number) from exc
            for found in page.get("PhoneNumbers", []):
                if found.get("PhoneNumber") == number and found.get("Status") != "DELETED":
                    return str(found.get("NumberType") or "UNKNOWN")
            token = page.get("NextToken")
            if not token:
                return None
            params["NextToken"] = token
