"""Subscriber routes: add one, list them, one with its consent history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from chalicelib.api.models.common import Body, Out, Paged, line, lines
from chalicelib.domain import subscribers as domain
from chalicelib.domain.subscribers import ConsentAction, ConsentSource, Source, SubscriberStatus
from chalicelib.services.exports import ExportedFile, SubscriberFilters
from chalicelib.services.subscribers import AddSubscriber, add_command

HttpsUrl = Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[^\s\x00-\x1f\x7f-\x9f]+$")]


class SubscriberCreate(Body):
    """A subscriber the shop has consent for; the phone in any form that normalises to E.164."""

    phone: Annotated[str, line(40)]
    source: Source = Source.API
    name: Annotated[str, line(100)] | None = None
    profile_url: HttpsUrl | None = None
    consent_text: Annotated[str, lines(500)] | None = None

    def command(self, *, allow_fictional: bool) -> AddSubscriber:
        """The service's command."""
        return add_command(
            phone=self.phone,
            source=self.source,
            name=self.name,
            profile_url=self.profile_url,
            consent_text=self.consent_text,
            allow_fictional=allow_fictional,
        )


class SubscriberQuery(Paged):
    """Filters of the subscriber list."""

    status: SubscriberStatus | None = None
    source: Source | None = None
    # Digits (phone punctuation allowed) find a phone; anything else a piece of a name, whatever its case.
    q: Annotated[str, line(100)] | None = None


class Subscriber(Out):
    """A subscriber as the API shows it."""

    phone: str
    status: SubscriberStatus
    source: Source
    name: str | None
    profile_url: str | None
    customer_id: str | None  # Shopify's customer id (checkout subscribers)
    joined_at: datetime
    updated_at: datetime
    opted_out_at: datetime | None
    # Set when a carrier reported the number cannot receive texts: campaigns skip it (consent is unchanged).
    unreachable_reason: str | None
    unreachable_at: datetime | None

    @classmethod
    def of(cls, s: domain.Subscriber) -> Subscriber:
        """Converter from the domain."""
        return cls(
            phone=s.phone,
            status=s.status,
            source=s.source,
            name=s.name,
            profile_url=s.profile_url,
            customer_id=s.customer_id,
            joined_at=s.joined_at,
            updated_at=s.updated_at,
            opted_out_at=s.opted_out_at,
            unreachable_reason=s.unreachable_reason,
            unreachable_at=s.unreachable_at,
        )


class ConsentRecord(Out):
    """One consent change: when, what, who and the text shown."""

    at: datetime
    action: ConsentAction
    source: ConsentSource
    text: str
    page_url: str | None = None  # the page a sign-up form was on (source ``web``)


class SubscriberDetail(Subscriber):
    """A subscriber with its consent history, oldest first."""

    consent_history: list[ConsentRecord]

    @classmethod
    def with_history(cls, s: domain.Subscriber, history: Sequence[domain.ConsentEvent]) -> SubscriberDetail:
        """Converter from the domain."""
        records = [ConsentRecord(at=e.at, action=e.action, source=e.source, text=e.text, page_url=e.page_url) for e in history]
        return cls(**Subscriber.of(s).__dict__, consent_history=records)


class SubscriberPage(Out):
    """A page of subscribers."""

    items: list[Subscriber]
    next_cursor: str | None


class SubscriberExportCreate(Body):
    """Which subscribers to export: the list's filters (all of them when none is given)."""

    status: SubscriberStatus | None = None
    source: Source | None = None
    q: Annotated[str, line(100)] | None = None

    def filters(self) -> SubscriberFilters:
        """The service's filters."""
        return SubscriberFilters(status=self.status, source=self.source, search=self.q)


class SubscriberExport(Out):
    """A CSV file of subscribers, written: download it from ``url`` before ``expires_at``."""

    name: str
    url: str
    rows: int
    expires_at: datetime

    @classmethod
    def of(cls, exported: ExportedFile) -> SubscriberExport:
        """Converter from the service."""
        return cls(name=exported.name, url=exported.url, rows=exported.rows, expires_at=exported.expires_at)
