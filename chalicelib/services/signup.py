"""Use cases for growing the list: the shop's shareable keyword link, and the storefront sign-up form.

The form (POST /signup/{shop}, public) runs in this order, each step before anything it guards:

1. the shop takes sign-ups (404 ``unknown_shop``, 409 ``signups_unavailable`` without a number);
2. the caller's IP is under its limit (429 with Retry-After: about the caller, not about any number);
3. the request itself is sound (400: phone, country, page URL, request id; 409: wording changed since load);
4. the shop is under its limit (429: counted for every sound request whatever the number's state, so the
   answer cannot differ between numbers);
5. the number is under its limit (if not: nothing sent, and the same answer as a success);
6. the decision (domain/signup_form.decide) is written (pending subscriber + REQUESTED consent event, once per
   request id) and the confirmation is texted through the one send path under a one-time claim, so a retried
   request never texts twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aws_lambda_powertools import Logger

from chalicelib.domain.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from chalicelib.domain.messages import ConversationMessage, Direction, MessageKind, OutboundSms
from chalicelib.domain.shops import Shop, validate_shop_id
from chalicelib.domain.signup import ShareLink, share_link
from chalicelib.domain.signup_form import (
    LimitScope,
    SignupOutcome,
    SignupPlan,
    SignupRequest,
    Window,
    check_consent_text,
    check_page_url,
    check_request_id,
    consent_wording,
    counter_key,
    decide,
    limit_of,
    signup_phone,
    window_at,
)
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services import outbound
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.outbound import Delivery, OnceClaim
from chalicelib.services.ports import AlreadyDone, Ports, SubscriberChange

logger = Logger(service=SERVICE, child=True, level=INHERIT)


def get_share_link(ports: Ports, shop_id: str) -> ShareLink:
    """The shop's keyword link (Conflict ``no_sender_number`` / ``no_opt_in_keyword`` when it cannot have one)."""
    return share_link(ports.shops.get(shop_id))


@dataclass(frozen=True)
class SignupForm:
    """What the storefront posted, as typed, and the caller's address (from API Gateway, never from a header)."""

    phone: str
    country: str
    consent_text: str
    page_url: str
    request_id: str
    client_ip: str


@dataclass(frozen=True)
class FormView:
    """What the form shows: public facts of the shop, nothing more."""

    shop_name: str
    consent_text: str
    countries: tuple[str, ...]


def _open_shop(ports: Ports, shop_id: str) -> Shop:
    """The shop behind a public form; one NotFound for a malformed id, an unknown shop and an uninstalled one."""
    missing = NotFound("there is no sign-up form here", code="unknown_shop")
    try:
        shop = ports.shops.get(validate_shop_id(shop_id))
    except (InvalidInput, NotFound):
        raise missing from None
    if not shop.installed:
        raise missing
    if shop.primary is None:
        raise Conflict("this shop cannot take sign-ups yet: it has no sender number", code="signups_unavailable")
    return shop


def get_form(ports: Ports, shop_id: str) -> FormView:
    """The shop's name, its form wording and the countries it takes (GET /signup/{shop}/form)."""
    settings = _open_shop(ports, shop_id).settings
    return FormView(settings.shop_name, consent_wording(settings), settings.signup_countries)


def _take(ports: Ports, shop_id: str, scope: LimitScope, subject: str, window: Window) -> bool:
    limit = limit_of(ports.signup_limits, scope)
    return ports.rate_limits.take(counter_key(shop_id, scope, subject, window), limit, window.end + ports.signup_limits.window)


def sign_up(ports: Ports, shop_id: str, form: SignupForm) -> SignupOutcome:
    """Ask ``form.phone`` to confirm (double opt-in) unless it opted out, was erased, is subscribed already or had
    its confirmations this hour. The outcome is for logs and tests: the caller's answer must not depend on it."""
    shop = _open_shop(ports, shop_id)
    now = ports.clock.now()
    window = window_at(now, ports.signup_limits.window)
    if not _take(ports, shop.shop_id, LimitScope.IP, form.client_ip, window):
        raise TooManyRequests("too many sign-ups from this address; try again later", retry_after=window.retry_after(now))
    settings = shop.settings
    request = SignupRequest(
        shop_id=shop.shop_id,
        phone=signup_phone(form.phone, form.country, settings, allow_fictional=ports.allow_fictional_numbers),
        consent_text=check_consent_text(form.consent_text, settings),
        page_url=check_page_url(form.page_url),
        at=now,
        request_id=check_request_id(form.request_id),
    )
    if not _take(ports, shop.shop_id, LimitScope.SHOP, shop.shop_id, window):
        logger.warning("sign-up limit of the shop reached", extra={"shop_id": shop.shop_id})
        raise TooManyRequests("this shop's sign-up form is busy; try again later", retry_after=window.retry_after(now))
    if not _take(ports, shop.shop_id, LimitScope.PHONE, request.phone, window):
        return _logged(shop, SignupOutcome.PHONE_LIMITED)
    plan = retry_on_conflict(lambda: _record(ports, request), gave_up="the subscriber kept changing; try again")
    if not plan.texts:
        return _logged(shop, plan.outcome)
    return _logged(shop, plan.outcome if _send_confirmation(ports, shop, request) else SignupOutcome.NOT_SENT)


def _logged(shop: Shop, outcome: SignupOutcome) -> SignupOutcome:
    logger.info("sign-up form request", extra={"shop_id": shop.shop_id, "outcome": outcome.value})
    return outcome


def _record(ports: Ports, request: SignupRequest) -> SignupPlan:
    """Decide on the number's current state and write the decision once per request id."""
    existing = ports.subscribers.get(request.shop_id, request.phone)
    plan = decide(request, existing, suppressed=ports.suppressions.contains(request.shop_id, request.phone))
    if plan.event is None:
        return plan
    # A pending subscriber is written again on its version, so a STOP or Y landing meanwhile starts us over.
    subscriber = plan.subscriber or (replace(existing, updated_at=request.at) if existing else None)
    change = SubscriberChange(
        subscriber=subscriber,
        expected_version=existing.version if existing else None,
        event=plan.event,
        dedupe_key=f"signup#{request.digest}",
    )
    try:
        ports.subscribers.apply(change)
    except AlreadyDone:
        # The same request again (a retry): its record is there; the claim below keeps it from texting twice.
        return SignupPlan(plan.outcome)
    return plan


def _send_confirmation(ports: Ports, shop: Shop, request: SignupRequest) -> bool:
    """Text the shop's confirmation ("reply Y") from its primary number, at most once per request id."""
    assert shop.primary is not None  # _open_shop refused a shop without one
    claim = OnceClaim(ports.claims, f"signup-confirm#{request.digest}")
    body = shop.settings.render(shop.settings.confirm_text)
    outgoing = OutboundSms(
        shop_id=shop.shop_id,
        from_number=shop.primary,
        to_number=request.phone,
        body=body,
        kind=MessageKind.COMPLIANCE,
        dedupe_key=claim.key,
    )
    line = ConversationMessage(
        shop_id=shop.shop_id,
        phone=request.phone,
        at=ports.clock.now(),
        message_id=f"signup-{request.digest[:32]}",
        direction=Direction.OUTBOUND,
        body=body,
        kind=MessageKind.COMPLIANCE,
    )
    delivered = outbound.deliver(ports, outgoing, claim, line)
    if delivered.outcome in (Delivery.SENT, Delivery.TAKEN):
        return True
    # Throttled (the claim is free again: the person may submit again within the phone limit), refused or
    # unconfirmed: the answer stays the same, so that it never tells which numbers would have been texted.
    logger.warning("sign-up confirmation not sent", extra={"shop_id": shop.shop_id, "outcome": delivered.outcome.value})
    return False
