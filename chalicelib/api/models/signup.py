"""GET /signup/link: the shop's shareable keyword link; POST /signup/{shop} and GET /signup/{shop}/form: the
storefront sign-up form."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from chalicelib.api.models.common import Body, Out, line, lines, token
from chalicelib.domain.shops import SIGNUP_CONSENT_TEXT_MAX
from chalicelib.domain.signup import ShareLink as ShareLinkRecord
from chalicelib.domain.signup_form import MAX_PAGE_URL, SignupLimits
from chalicelib.services.signup import FormView, SignupForm


class ShareLink(Out):
    """An ``sms:`` link that opens the phone's messaging app addressed to the shop's primary number with its
    opt-in keyword typed (``sms:+15550100000?&body=JOIN``, the form both iOS and Android read); its QR code is
    GET /signup/qr.svg and GET /signup/qr.png."""

    link: str = Field(examples=["sms:+15550100000?&body=JOIN"])
    keyword: str = Field(examples=["JOIN"])
    number: str = Field(description="the shop's primary sender number, E.164", examples=["+15550100000"])

    @classmethod
    def of(cls, record: ShareLinkRecord) -> ShareLink:
        """Converter from the domain."""
        return cls(link=record.link, keyword=record.keyword, number=record.number)


# The wording as rendered: the shop's text with its name (up to 60 characters) in place of each {shop_name}.
_RENDERED_MAX = SIGNUP_CONSENT_TEXT_MAX * 6


class SignupCreate(Body):
    """What the storefront form posts: the phone as typed with the country chosen beside it, the wording the form
    showed (it must be the shop's current wording), the page it was on, and an id the form makes per submission
    and sends again on a retry."""

    phone: Annotated[str, line(40)] = Field(examples=["(212) 555-0123"])
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166 code the phone is read in when typed without +", examples=["US"]
    )
    consent_text: Annotated[str, lines(_RENDERED_MAX)]
    page_url: Annotated[str, token(MAX_PAGE_URL)] = Field(examples=["https://demo.myshopify.com/products/tea"])
    request_id: Annotated[str, token(64)] = Field(examples=["0b6f3c1e-5f7e-4a51-9d0e-2f5b8c1a7d42"])

    def command(self, source_ip: str) -> SignupForm:
        """The service's command."""
        return SignupForm(
            phone=self.phone,
            country=self.country,
            consent_text=self.consent_text,
            page_url=self.page_url,
            request_id=self.request_id,
            client_ip=source_ip,
        )


SIGNUP_ACCEPTED = "If this number can get texts from us, we just sent it one: reply Y to confirm your subscription."


class SignupAccepted(Out):
    """The one answer to every sound sign-up, whatever the number's state (new, pending, subscribed, opted out,
    limited): it never tells whether a number is subscribed."""

    status: Literal["check_your_phone"] = "check_your_phone"
    message: str = Field(default=SIGNUP_ACCEPTED)


class SignupFormView(Out):
    """What the storefront form shows: public facts of the shop, no secret and no subscriber."""

    shop_name: str
    consent_text: str = Field(description="the wording to show beside the phone field, with the shop's name in it")
    countries: list[str] = Field(description="ISO 3166 codes of the countries whose numbers the form takes")

    @classmethod
    def of(cls, view: FormView) -> SignupFormView:
        """Converter from the service."""
        return cls(shop_name=view.shop_name, consent_text=view.consent_text, countries=list(view.countries))


class SignupLimitsView(Out):
    """What the form allows in each window (the deployment's limits, not the shop's to set)."""

    per_ip: int = Field(description="sign-up requests per visitor's IP address (then 429)")
    per_phone: int = Field(description="confirmation texts per number (then nothing is sent, same answer)")
    per_shop: int = Field(description="sign-up requests per shop across every visitor (then 429)")
    window_seconds: int


class SignupEmbed(SignupFormView):
    """The caller's own sign-up form as its dashboard shows it: the shop id the storefront script names
    (``data-smscast-shop``), what the form will show, and its limits."""

    shop: str = Field(examples=["demo.myshopify.com"])
    limits: SignupLimitsView

    @classmethod
    def of_shop(cls, shop_id: str, view: FormView, limits: SignupLimits) -> SignupEmbed:
        """Converter from the service."""
        window = int(limits.window.total_seconds())
        return cls(
            shop=shop_id,
            limits=SignupLimitsView(
                per_ip=limits.per_ip, per_phone=limits.per_phone, per_shop=limits.per_shop, window_seconds=window
            ),
            **SignupFormView.of(view).model_dump(),
        )
