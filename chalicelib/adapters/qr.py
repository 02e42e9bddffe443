"""QR codes of a text as SVG and PNG, drawn by segno (pure Python: PNG without Pillow, nothing native)."""

from __future__ import annotations

import io

import segno

# Error correction M (15% of the symbol may be lost: a smudged print or a poster's glare) keeps a keyword link
# at version 3-4, large modules that phones read from across a room. Four modules of quiet zone, as ISO 18004
# asks: the white border is part of the code, so a printed copy cut to the image still scans.
_ERROR = "m"
_BORDER = 4


def _code(text: str) -> segno.QRCode:
    # micro=False: Micro QR codes are not read by the phones' camera apps.
    return segno.make(text, error=_ERROR, micro=False, boost_error=False)


def svg(text: str, *, scale: int = 8) -> str:
    """The QR code of ``text`` as an SVG document (black on white, ``scale`` user units per module)."""
    out = io.BytesIO()
    _code(text).save(out, kind="svg", scale=scale, border=_BORDER, xmldecl=False, title="QR code", nl=False, light="#fff")
    return out.getvalue().decode("utf-8")


def png(text: str, *, scale: int = 8) -> bytes:
    """The QR code of ``text`` as a PNG image (``scale`` pixels per module)."""
    out = io.BytesIO()
    _code(text).save(out, kind="png", scale=scale, border=_BORDER)
    return out.getvalue()
