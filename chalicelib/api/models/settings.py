"""GET|PATCH /settings: the shop's settings, and a patch of any of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, StringConstraints

from chalicelib.api.models.common import Body, line, lines, partial
from chalicelib.domain import encoding
from chalicelib.domain.shops import COMPLIANCE_TEXT_MAX_PARTS, MAX_MPS, MAX_SIGNUP_COUNTRIES, SIGNUP_CONSENT_TEXT_MAX, Shop

HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
# The domain measures the rendered text in SMS parts; this is the most any text of that many parts can hold.
ComplianceText = Annotated[str, lines(encoding.GSM_MULTI * COMPLIANCE_TEXT_MAX_PARTS)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class QuietHours(Body):
    """The shop's own no-send window in the recipient's local time; it may wrap midnight (21:00-09:00)."""

    enabled: bool
    start: HHMM
    end: HHMM


class FrequencyCap(Body):
    """At most ``messages`` campaign messages per subscriber in any ``days`` days."""

    messages: Annotated[int, Field(ge=1, le=100)]
    days: Annotated[int, Field(ge=1, le=90)]


class Settings(Body):
    """Everything a merchant can set. ``sender_number`` is the primary number (Inbox replies, keyword
    confirmations, welcome texts) and must be one of the shop's ``numbers``."""

    error_code: ClassVar[str | None] = "invalid_settings"

    shop_name: Annotated[str, line(60)]
    timezone: Annotated[str, line(64)]
    quiet_hours: QuietHours
    sender_number: Annotated[str, line(32)] | None
    opt_in_keyword: Annotated[str, line(20)]
    welcome_text: ComplianceText
    confirm_text: ComplianceText
    stop_text: ComplianceText
    help_text: ComplianceText
    opt_out_hint: bool
    attribution_window_days: Annotated[int, Field(ge=1, le=30)]
    frequency_cap: FrequencyCap | None
    signup_countries: Annotated[
        list[CountryCode],
        Field(
            min_length=1,
            max_length=MAX_SIGNUP_COUNTRIES,
            description="ISO 3166 codes of the countries whose numbers the sign-up form takes (default US, CA)",
        ),
    ]
    signup_consent_text: Annotated[
        str,
        lines(SIGNUP_CONSENT_TEXT_MAX),
        Field(description="the wording the sign-up form shows; must name the shop, the frequency, rates and STOP"),
    ]


class SenderNumber(Body):
    """One number of the shop's pool, as the operator assigned it: campaign batches are spread over the pool in
    proportion to each number's ``mps`` (message parts per second, the carrier's limit for that number)."""

    number: Annotated[str, line(32)]
    mps: Annotated[int, Field(ge=1, le=MAX_MPS)]
    kind: Annotated[str, line(32)]


class SettingsView(Settings):
    """The settings, with the shop's sender numbers (read-only: only the operator assigns numbers and their
    rates; a PATCH that sends ``numbers`` is refused as an unknown field)."""

    numbers: list[SenderNumber]

    @classmethod
    def of(cls, shop: Shop) -> SettingsView:
        """The settings as the API shows them; ``sender_number`` is the primary actually used."""
        data = {**shop.settings.to_dict(), "sender_number": shop.primary, "numbers": [n.to_dict() for n in shop.numbers]}
        return cls.model_validate(data, strict=False)


QuietHoursPatch = partial(QuietHours, "QuietHoursPatch", "Any of enabled, start, end; the others keep their value.")
# mypy sees the full model (same fields and types); at run time every field is optional.
if TYPE_CHECKING:
    SettingsPatch = Settings
else:
    SettingsPatch = partial(
        Settings, "SettingsPatch", "Any of the settings; the others keep their value.", nested={"quiet_hours": QuietHoursPatch}
    )


def patch_of(body: Settings) -> dict[str, Any]:
    """The fields a patch sets, as the domain's apply_patch takes them."""
    return body.model_dump(exclude_unset=True)
