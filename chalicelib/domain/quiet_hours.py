"""When a recipient may be texted: the shop's quiet hours, under a legal floor, in the recipient's own time.

The legal floor holds whatever the settings say: 8:00-21:00 recipient-local (the TCPA's calling hours),
stricter where a state's telemarketing law is stricter. A number that may be in several timezones is
quiet if it is quiet in any of them. Everything here is pure and works on aware datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from chalicelib.domain.phones import place_of, timezones_of
from chalicelib.domain.shops import QuietHours

SUNDAY = 6


@dataclass(frozen=True)
class Window:
    """Allowed sending hours in local wall-clock time: [start, end)."""

    start: time
    end: time

    def allows(self, local: time) -> bool:
        return self.start <= local < self.end


FEDERAL = Window(time(8, 0), time(21, 0))
# State rules stricter than the federal floor (Florida FTSA, Oklahoma OTSA, Maryland's Stop the Spam
# Calls Act, Mississippi, New Jersey, Washington: 8-20; Connecticut 9-20; Texas 9-21, Sundays 12-21).
_STATE_WINDOWS: dict[str, Window] = {
    "FL": Window(time(8, 0), time(20, 0)),
    "OK": Window(time(8, 0), time(20, 0)),
    "MD": Window(time(8, 0), time(20, 0)),
    "MS": Window(time(8, 0), time(20, 0)),
    "NJ": Window(time(8, 0), time(20, 0)),
    "WA": Window(time(8, 0), time(20, 0)),
    "CT": Window(time(9, 0), time(20, 0)),
    "TX": Window(time(9, 0), time(21, 0)),
}
_STATE_SUNDAY: dict[str, Window] = {"TX": Window(time(12, 0), time(21, 0))}

_STATE_CODES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
    "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX",
    "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington State": "WA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY", "Washington D.C.": "DC",
}  # fmt: skip


def us_state_of(e164: str) -> str | None:
    """Two-letter US state of a +1 number from its area code ('Chicago, IL' -> 'IL'); None if unknown."""
    if not e164.startswith("+1"):
        return None
    place = place_of(e164)
    if not place:
        return None
    if ", " in place:
        code = place.rsplit(", ", 1)[1]
        return code if len(code) == 2 and code.isupper() else None
    return _STATE_CODES.get(place)


def legal_window(state: str | None, weekday: int) -> Window:
    """The strictest hours the law allows for a recipient in ``state`` on ``weekday`` (0 = Monday)."""
    if state is None:
        return FEDERAL
    if weekday == SUNDAY and state in _STATE_SUNDAY:
        return _STATE_SUNDAY[state]
    return _STATE_WINDOWS.get(state, FEDERAL)


@dataclass(frozen=True)
class Recipient:
    """What quiet hours need to know about a number: where it may be, in which state."""

    zones: tuple[ZoneInfo, ...]
    state: str | None

    @classmethod
    def of(cls, e164: str, store_timezone: str) -> Recipient:
        """Timezones from the number; the store's timezone when the number says nothing."""
        names = timezones_of(e164) or (store_timezone,)
        return cls(zones=tuple(ZoneInfo(name) for name in sorted(set(names))), state=us_state_of(e164))


def is_quiet(recipient: Recipient, settings: QuietHours, at: datetime) -> bool:
    """True if ``at`` is quiet for the recipient in any of its possible timezones."""
    for zone in recipient.zones:
        local = at.astimezone(zone)
        wall = local.time().replace(tzinfo=None)
        if settings.contains(wall) or not legal_window(recipient.state, local.weekday()).allows(wall):
            return True
    return False


def next_open(recipient: Recipient, settings: QuietHours, at: datetime) -> datetime:
    """The first instant at or after ``at`` when the recipient is out of quiet hours in every zone.

    Openings only happen when some zone's local clock reaches a window boundary, so it is enough to test
    ``at`` itself and each boundary crossing in the next eight days, earliest first.
    """
    if not is_quiet(recipient, settings, at):
        return at
    candidates: set[datetime] = set()
    boundaries = {settings.end, FEDERAL.start}
    boundaries.update(w.start for w in _STATE_WINDOWS.values())
    boundaries.update(w.start for w in _STATE_SUNDAY.values())
    for zone in recipient.zones:
        local_day = at.astimezone(zone).date()
        for offset in range(9):
            day = local_day + timedelta(days=offset)
            for boundary in boundaries:
                wall = datetime.combine(day, boundary)
                # fold=0 and a round trip skip wall times that a DST jump makes nonexistent
                instant = wall.replace(tzinfo=zone).astimezone(timezone.utc)
                if instant > at:
                    candidates.add(instant)
    for candidate in sorted(candidates):
        if not is_quiet(recipient, settings, candidate):
            return candidate
    raise ValueError("no sending window in the next eight days: check quiet hours")
