"""devstack-only routes behind the dashboard's phone simulator and clock badge.

Registered by devstack on its own app instance (``register``), never by app.py: a deployment has no
/devstack/* route, so the dashboard there never offers them. They need the shop's API key like any route.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from chalice import Blueprint, Chalice

from chalicelib.adapters.clock import FileOffsetClock
from chalicelib.api.http import Call, endpoint
from chalicelib.api.models.common import Body, Out, line, lines
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.phones import normalize_phone
from devstack import phone
from devstack.config import DevstackConfig

bp = Blueprint(__name__)
_config: list[DevstackConfig] = []  # the running stack's, set by register()


class DevstackStatus(Out):
    """devstack's clock: its time now and how far it is from real time."""

    now: datetime
    offset_seconds: int
    offset_label: str
    sender_number: str


class PhoneText(Body):
    """A text a subscriber's phone sends to the shop's number."""

    phone: Annotated[str, line(40)]
    text: Annotated[str, lines(1600)]


class PhoneMessage(Out):
    """One message the sandbox provider delivered to a phone."""

    at: datetime
    from_number: str
    body: str


class PhoneInbox(Out):
    """What a phone received, oldest first."""

    phone: str
    messages: list[PhoneMessage]


def _stack() -> DevstackConfig:
    return _config[0]


def _label(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours}h{rest // 60:02d}m"


def _phone(text: str) -> str:
    try:
        return normalize_phone(text, allow_fictional=True)  # devstack's demo numbers are 555 ones
    except InvalidInput as exc:
        raise InvalidInput(f"phone: {exc.message}", code=exc.code, details={"field": "phone"}) from exc


@endpoint(bp, "/devstack/status", ["GET"])
def devstack_status(call: Call) -> DevstackStatus:
    """devstack's clock and sender number (devstack only)."""
    # the offset `python -m devstack.clock` keeps in the stack's clock file, which the app's clock adds
    offset = round(FileOffsetClock(_stack().clock_file).offset().total_seconds())
    return DevstackStatus(
        now=call.ports.clock.now(), offset_seconds=offset, offset_label=_label(offset), sender_number=_stack().sender_number
    )


@endpoint(bp, "/devstack/phone/texts", ["POST"], status=202)
def phone_texts(call: Call, body: PhoneText) -> PhoneInbox:
    """Text the shop's number from any phone, as End User Messaging would deliver it (devstack only)."""
    number = _phone(body.phone)
    phone.send(number, body.text, config=_stack())
    return _inbox(number)


@endpoint(bp, "/devstack/phone/{number}", ["GET"])
def phone_received(call: Call, number: str) -> PhoneInbox:
    """What a phone received from the sandbox provider (devstack only)."""
    return _inbox(_phone(number))


def _inbox(number: str) -> PhoneInbox:
    got = phone.received(number, config=_stack())
    return PhoneInbox(phone=number, messages=[PhoneMessage(at=m.sent_at, from_number=m.from_number, body=m.body) for m in got])


def register(app: Chalice, config: DevstackConfig) -> None:
    """Add the devstack routes to ``app`` (devstack's own process only)."""
    _config[:] = [config]
    app.register_blueprint(bp)

