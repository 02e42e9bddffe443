"""GET /signup/link: the shop's shareable keyword link."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.models.common import Out
from chalicelib.domain.signup import ShareLink as ShareLinkRecord


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
