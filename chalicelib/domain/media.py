"""Images for MMS: which links a merchant may give us, which bytes count as an image, and where they are kept.

End User Messaging sends MMS media only from an S3 object (``s3://bucket/key``), so a merchant's https image
link is downloaded once and stored in the deployment's media bucket. Downloading a URL someone else chose is
a server-side request forgery risk, so the rules here refuse anything but a public https host on port 443
before any request is made, and ``is_public_address`` lets the downloader refuse a name that resolves inside.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote, urlsplit, urlunsplit

from chalicelib.domain.errors import InvalidInput

# AWS: "a single MMS media file can be up to 2 MB for all image types (gif, jpeg, png)". Whether that MB is
# 10^6 or 2^20 bytes is not said, so the smaller reading: an image we accept is never one AWS refuses.
MAX_MEDIA_BYTES = 2_000_000
MAX_MEDIA_URL_LENGTH = 2048

INVALID_URL = "invalid_media_url"
TOO_LARGE = "media_too_large"
UNSUPPORTED_TYPE = "unsupported_media_type"
UNREACHABLE = "media_unreachable"

_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")
# A last label of digits or hex is an address in disguise (inet_aton reads 127.1, 2130706433, 0x7f.1).
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
# Names that only ever mean something inside a network (RFC 6761, 6762, 8375; cloud metadata names).
_INTERNAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".intranet", ".lan", ".home.arpa", ".arpa")


class ImageKind(Enum):
    """The image types End User Messaging sends up to 2 MB; value is (content type, file extension)."""

    GIF = ("image/gif", "gif")
    JPEG = ("image/jpeg", "jpg")
    PNG = ("image/png", "png")

    @property
    def content_type(self) -> str:
        """The MIME type stored with the object."""
        return self.value[0]

    @property
    def extension(self) -> str:
        """The file extension of the stored key."""
        return self.value[1]


@dataclass(frozen=True)
class MediaUrl:
    """A link that passed the rules: https, a public-looking host name, port 443, no credentials."""

    url: str  # normalised: lower-case scheme and host, no fragment
    host: str
    target: str  # path and query, what goes on the request line

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True)
class StoredMedia:
    """An image in the media bucket, ready to go out as MMS."""

    source_url: str
    s3_uri: str
    content_type: str
    size: int


def _refuse(message: str, url: object) -> InvalidInput:
    shown = url[:200] if isinstance(url, str) else None
    return InvalidInput(message, code=INVALID_URL, details={"media_url": shown})


def validate_media_url(url: object) -> MediaUrl:
    """The link if it may be downloaded; InvalidInput ``invalid_media_url`` saying why not otherwise."""
    if not isinstance(url, str) or not url:
        raise _refuse("media_url must be an https link to an image", url)
    if len(url) > MAX_MEDIA_URL_LENGTH:
        raise _refuse(f"media_url is over {MAX_MEDIA_URL_LENGTH} characters", url)
    if not url.isascii() or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        # http.client would refuse it later, and odd characters are how parsers are made to disagree.
        raise _refuse("media_url may not hold spaces, control or non-ASCII characters (percent-encode them)", url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed "[" (IPv6 host) and the like
        raise _refuse("media_url is not a well-formed link", url) from exc
    if parts.scheme.lower() != "https":
        raise _refuse("media_url must start with https://", url)
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise _refuse("media_url may not carry a user name or password", url)
    try:
        port = parts.port
    except ValueError as exc:
        raise _refuse("media_url has a malformed port", url) from exc
    if port not in (None, 443):
        raise _refuse("media_url must use the standard https port (443)", url)
    if "[" in parts.netloc:
        raise _refuse("media_url must name a host, not an IP address", url)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse("media_url has no host", url)
    if _is_ip_literal(host):
        raise _refuse("media_url must name a host, not an IP address", url)
    if host == "localhost" or host.endswith(_INTERNAL_SUFFIXES):
        raise _refuse("media_url must be on a public host", url)
    if not _HOST.fullmatch(host):
        # Single-label names (no dot) resolve through search domains to internal machines.
        raise _refuse("media_url must be on a public host name such as cdn.example.com", url)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return MediaUrl(url=urlunsplit(("https", host, parts.path or "/", parts.query, "")), host=host, target=target)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]))
    return True


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for loopback, private, link-local (instance
    metadata), shared, reserved, multicast, and IPv6 forms that embed such an IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
        if ip in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64 reaches any IPv4 address, inside ones too
            return is_public_address(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    return ip.is_global and not ip.is_multicast


def sniff_image(data: bytes) -> ImageKind | None:
    """The image type by its magic number (what the bytes are, whatever the server said they are)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageKind.PNG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return ImageKind.GIF
    if data.startswith(b"\xff\xd8\xff"):
        return ImageKind.JPEG
    return None


def check_image(data: bytes, source_url: str = "") -> ImageKind:
    """The kind of a downloaded image; InvalidInput ``media_too_large`` or ``unsupported_media_type`` otherwise."""
    if len(data) > MAX_MEDIA_BYTES:
        raise too_large(source_url)
    kind = sniff_image(data)
    if kind is None:
        raise InvalidInput(
            "media_url must point to a GIF, JPEG or PNG image",
            code=UNSUPPORTED_TYPE,
            details={"media_url": source_url[:200]},
        )
    return kind


def too_large(source_url: str) -> InvalidInput:
    """The error for an image over the MMS size limit."""
    return InvalidInput(
        f"the image is over {MAX_MEDIA_BYTES:,} bytes, the MMS limit",
        code=TOO_LARGE,
        details={"media_url": source_url[:200], "max_bytes": MAX_MEDIA_BYTES},
    )


def unreachable(source_url: str, reason: str) -> InvalidInput:
    """The error for an image that could not be downloaded."""
    return InvalidInput(
        f"could not download media_url: {reason}",
        code=UNREACHABLE,
        details={"media_url": source_url[:200], "reason": reason},
    )


def media_key(shop_id: str, data: bytes, kind: ImageKind) -> str:
    """``<shop_id>/<sha256>.<ext>``: content-addressed, so the same image is stored once per shop."""
    return f"{quote(shop_id, safe='.-_')}/{hashlib.sha256(data).hexdigest()}.{kind.extension}"
