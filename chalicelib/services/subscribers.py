"""Use cases for subscribers added by the shop (checkout, import, API) and merchant opt-outs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from urllib.parse import urlparse

from aws_lambda_powertools import Logger

from chalicelib.domain.errors import ConsentRequired, InvalidInput, NotFound, ProviderRejected
from chalicelib.domain.phones import normalize_phone
from chalicelib.domain.shopify import ConsentState, CustomerConsent
from chalicelib.domain.subscribers import (
    CONSENT_SOURCE_OF,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Source,
    Subscriber,
    SubscriberSearch,
    SubscriberStatus,
)
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.ports import Page, Ports, SubscriberChange

logger = Logger(service=SERVICE, child=True, level=INHERIT)

DEFAULT_CONSENT_TEXT = {
    Source.CHECKOUT: "Customer ticked the SMS marketing box at checkout",
    Source.IMPORT: "Imported by the shop with consent on file",
    Source.API: "Added through the API with consent on file",
    Source.KEYWORD: "Keyword opt-in reported through the API",
    Source.SIGNUP: "Sign-up form opt-in reported through the API",
}


@dataclass(frozen=True)
class AddSubscriber:
    """A validated request to add a subscriber."""

    phone: str
    source: Source
    name: str | None
    profile_url: str | None
    consent_text: str


@dataclass(frozen=True)
class AddResult:
    """The subscriber after the add, and whether it was new."""

    subscriber: Subscriber
    created: bool


def add_command(
    *,
    phone: str,
    source: Source = Source.API,
    name: str | None = None,
    profile_url: str | None = None,
    consent_text: str | None = None,
    allow_fictional: bool,
) -> AddSubscriber:
    """The command to add a subscriber: the phone normalised, the profile link checked, the consent text defaulted."""
    e164 = normalize_phone(phone, allow_fictional=allow_fictional)
    if profile_url is not None:
        try:
            parsed = urlparse(profile_url)
        except ValueError as exc:  # an unclosed "[" (IPv6 host) and the like: not a link at all
            raise InvalidInput("profile_url must be an https URL", code="invalid_profile_url") from exc
        if parsed.scheme != "https" or not parsed.hostname:
            raise InvalidInput("profile_url must be an https URL", code="invalid_profile_url")
    return AddSubscriber(
        phone=e164,
        source=source,
        name=name.strip() if name else None,
        profile_url=profile_url,
        consent_text=consent_text.strip() if consent_text else DEFAULT_CONSENT_TEXT[source],
    )


def add_subscriber(ports: Ports, shop_id: str, command: AddSubscriber) -> AddResult:
    """Add a subscriber the shop has consent for. An opted-out number stays opted out (409 opted_out):
    only the subscriber's own START brings it back."""
    ports.shops.get(shop_id)
    if ports.suppressions.contains(shop_id, command.phone):
        # A redacted person's number: the shop asked Shopify to forget them, so nobody may add them back.
        raise ConsentRequired(f"{command.phone} was erased at the customer's request and may not be added", code="suppressed")

    def attempt() -> AddResult:
        now = ports.clock.now()
        existing = ports.subscribers.get(shop_id, command.phone)
        if existing is not None and existing.status is SubscriberStatus.OPTED_OUT:
            raise ConsentRequired(
                f"{command.phone} opted out; only the subscriber can opt back in by texting START",
                details={"opted_out_at": existing.opted_out_at.isoformat() if existing.opted_out_at else None},
            )
        event = ConsentEvent(
            shop_id=shop_id,
            phone=command.phone,
            at=now,
            event_id=uuid.uuid4().hex,
            action=ConsentAction.OPTED_IN,
            source=CONSENT_SOURCE_OF[command.source],
            text=command.consent_text,
        )
        if existing is None:
            subscriber = Subscriber(
                shop_id=shop_id,
                phone=command.phone,
                status=SubscriberStatus.ACTIVE,
                source=command.source,
                joined_at=now,
                updated_at=now,
                name=command.name,
                profile_url=command.profile_url,
            )
            change = SubscriberChange(subscriber=subscriber, expected_version=None, event=event)
        else:
            # Known number: refresh the profile; a pending keyword sign-up that now consents elsewhere
            # (e.g. at checkout) becomes active, with that consent on record.
            updated = replace(
                existing,
                name=command.name or existing.name,
                profile_url=command.profile_url or existing.profile_url,
                updated_at=now,
            )
            activated = existing.status is SubscriberStatus.PENDING
            if activated:
                updated = replace(updated, status=SubscriberStatus.ACTIVE)
            if updated == replace(existing, updated_at=now):
                return AddResult(existing, created=False)
            change = SubscriberChange(subscriber=updated, expected_version=existing.version, event=event if activated else None)
        stored = ports.subscribers.apply(change)
        assert stored is not None
        return AddResult(stored, created=existing is None)

    return retry_on_conflict(attempt, gave_up=f"subscriber {command.phone} kept changing; try again")


def list_subscribers(
    ports: Ports,
    shop_id: str,
    *,
    status: SubscriberStatus | None = None,
    source: Source | None = None,
    search: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Subscriber]:
    """A page of the shop's subscribers, optionally filtered by status, source and a search (phone or name)."""
    found = SubscriberSearch.of(search) if search is not None else None
    return ports.subscribers.page(shop_id, status=status, source=source, search=found, limit=limit, cursor=cursor)


def get_subscriber(ports: Ports, shop_id: str, phone: str) -> tuple[Subscriber, list[ConsentEvent]]:
    """One subscriber and its consent history; another shop's number is simply not found."""
    e164 = normalize_phone(phone, allow_fictional=ports.allow_fictional_numbers)
    subscriber = ports.subscribers.get(shop_id, e164)
    if subscriber is None:
        raise NotFound(f"no subscriber {e164}", code="subscriber_not_found")
    return subscriber, ports.subscribers.consent_history(shop_id, e164)


def opt_out(ports: Ports, shop_id: str, phone: str, *, source: ConsentSource, text: str) -> Subscriber:
    """Opt a subscriber out on the shop's side (dashboard, inbox, API); idempotent."""
    e164 = normalize_phone(phone, allow_fictional=ports.allow_fictional_numbers)
    shop = ports.shops.get(shop_id)

    def attempt() -> Subscriber:
        subscriber = ports.subscribers.get(shop_id, e164)
        if subscriber is None:
            raise NotFound(f"no subscriber {e164}", code="subscriber_not_found")
        if subscriber.status is SubscriberStatus.OPTED_OUT:
            return subscriber
        now = ports.clock.now()
        event = ConsentEvent(
            shop_id=shop_id,
            phone=e164,
            at=now,
            event_id=uuid.uuid4().hex,
            action=ConsentAction.OPTED_OUT,
            source=source,
            text=text,
        )
        stored = ports.subscribers.apply(
            SubscriberChange(subscriber=subscriber.opt_out(now), expected_version=subscriber.version, event=event)
        )
        assert stored is not None
        return stored

    stored = retry_on_conflict(attempt, gave_up=f"subscriber {e164} kept changing; try again")
    if shop.numbers:
        ports.sms.add_opt_out(shop.number_list(), e164)  # every pool number; idempotent: safe on every call
    return stored


class CustomerOutcome(str, Enum):
    """What a Shopify customers webhook did to the subscriber list."""

    SUBSCRIBED = "subscribed"  # a new checkout subscriber, or one made active again
    UPDATED = "updated"  # already subscribed: profile refreshed
    UNCHANGED = "unchanged"
    OPTED_OUT = "opted_out"
    REFUSED_OPTED_OUT = "refused_opted_out"  # opted out by other means (STOP): only the subscriber can undo it
    SUPPRESSED = "suppressed"  # redacted earlier: never added again
    IGNORED = "ignored"  # no phone, no SMS consent, or nothing to opt out


def _shopify_event(consent: CustomerConsent, phone: str, action: ConsentAction, at: datetime) -> ConsentEvent:
    return ConsentEvent(
        shop_id=consent.shop_id,
        phone=phone,
        at=at,
        event_id=uuid.uuid4().hex,
        action=action,
        source=ConsentSource.SHOPIFY,
        text=consent.consent_text,
    )


def _reopened_by_shopify(ports: Ports, subscriber: Subscriber) -> bool:
    """An opted-out number may come back through Shopify only if Shopify itself opted it out last."""
    history = ports.subscribers.consent_history(subscriber.shop_id, subscriber.phone)
    latest = history[-1] if history else None
    return latest is not None and latest.action is ConsentAction.OPTED_OUT and latest.source is ConsentSource.SHOPIFY


def apply_shopify_consent(ports: Ports, consent: CustomerConsent) -> CustomerOutcome:
    """Make the subscriber list agree with a customer's SMS marketing consent in Shopify (checkout subscribers)."""
    phone = consent.phone
    if phone is None or consent.state is None:
        return CustomerOutcome.IGNORED
    shop = ports.shops.get(consent.shop_id)
    if consent.state is ConsentState.SUBSCRIBED:
        if ports.suppressions.contains(consent.shop_id, phone):
            return CustomerOutcome.SUPPRESSED
        outcome = retry_on_conflict(lambda: _subscribe(ports, consent, phone), gave_up=f"subscriber {phone} kept changing")
        if outcome is CustomerOutcome.SUBSCRIBED and shop.numbers:
            try:
                ports.sms.remove_opt_out(shop.number_list(), phone)  # a Shopify opt-out put it there
            except ProviderRejected as exc:
                # AWS lets a number leave the opt-out list once per 30 days; sends are refused (and recorded) until then.
                logger.warning("opt-out list removal refused", extra={"shop_id": consent.shop_id, "code": exc.code})
        return outcome
    if consent.state in (ConsentState.UNSUBSCRIBED, ConsentState.NOT_SUBSCRIBED):
        outcome = retry_on_conflict(lambda: _unsubscribe(ports, consent, phone), gave_up=f"subscriber {phone} kept changing")
        if outcome is CustomerOutcome.OPTED_OUT and shop.numbers:
            ports.sms.add_opt_out(shop.number_list(), phone)
        return outcome
    return CustomerOutcome.IGNORED  # pending (double opt-in not confirmed yet) or redacted


def _subscribe(ports: Ports, consent: CustomerConsent, phone: str) -> CustomerOutcome:
    now = ports.clock.now()
    existing = ports.subscribers.get(consent.shop_id, phone)
    event = _shopify_event(consent, phone, ConsentAction.OPTED_IN, now)
    if existing is None:
        subscriber = Subscriber(
            shop_id=consent.shop_id,
            phone=phone,
            status=SubscriberStatus.ACTIVE,
            source=Source.CHECKOUT,
            joined_at=now,
            updated_at=now,
            name=consent.name,
            profile_url=consent.profile_url,
            customer_id=consent.customer_id,
        )
        ports.subscribers.apply(SubscriberChange(subscriber=subscriber, expected_version=None, event=event))
        return CustomerOutcome.SUBSCRIBED
    if existing.status is SubscriberStatus.OPTED_OUT and not _reopened_by_shopify(ports, existing):
        return CustomerOutcome.REFUSED_OPTED_OUT
    profile = replace(
        existing,
        name=consent.name or existing.name,
        profile_url=consent.profile_url,
        customer_id=consent.customer_id,
    )
    if existing.status is SubscriberStatus.ACTIVE:
        if profile == existing:
            return CustomerOutcome.UNCHANGED
        ports.subscribers.apply(SubscriberChange(subscriber=replace(profile, updated_at=now), expected_version=existing.version))
        return CustomerOutcome.UPDATED
    if existing.status is SubscriberStatus.OPTED_OUT:
        activated = profile.opt_back_in(now)
    else:  # pending keyword sign-up that now consents at checkout
        activated = replace(profile, status=SubscriberStatus.ACTIVE, updated_at=now)
    ports.subscribers.apply(SubscriberChange(subscriber=activated, expected_version=existing.version, event=event))
    return CustomerOutcome.SUBSCRIBED


def _unsubscribe(ports: Ports, consent: CustomerConsent, phone: str) -> CustomerOutcome:
    existing = ports.subscribers.get(consent.shop_id, phone)
    if existing is None:
        return CustomerOutcome.IGNORED
    if existing.status is SubscriberStatus.OPTED_OUT:
        return CustomerOutcome.UNCHANGED
    now = ports.clock.now()
    event = _shopify_event(consent, phone, ConsentAction.OPTED_OUT, now)
    ports.subscribers.apply(SubscriberChange(subscriber=existing.opt_out(now), expected_version=existing.version, event=event))
    return CustomerOutcome.OPTED_OUT
