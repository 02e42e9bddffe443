"""Reading QR codes back in tests: a PNG decoded by pypng (pure Python), its pixels read by zxing-cpp."""

from __future__ import annotations

import png  # type: ignore[import-untyped]  # pypng ships no types
import zxingcpp


def decode_png(data: bytes) -> list[str]:
    """The texts of every QR code in the PNG image ``data`` (any bit depth, grey or colour, with or without alpha)."""
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    top = (1 << info["bitdepth"]) - 1
    planes = info["planes"]
    # The first plane of each pixel (grey, or red: a QR code is black on white) scaled to 0-255.
    grey = bytes(value * 255 // top for row in rows for value in list(row)[::planes])
    assert len(grey) == width * height
    image = memoryview(grey).cast("B", shape=[height, width])
    return [found.text for found in zxingcpp.read_barcodes(image) if found.format == zxingcpp.BarcodeFormat.QRCode]
