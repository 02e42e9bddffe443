"""The media rules (domain/media.py): which links may be downloaded (the SSRF guard before any request),
which resolved addresses are public, which bytes are images, and where they are stored."""

from __future__ import annotations

import hashlib

import pytest

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.media import (
    MAX_MEDIA_BYTES,
    ImageKind,
    check_image,
    is_public_address,
    media_key,
    sniff_image,
    validate_media_url,
)
from tests.fakes import TINY_GIF, TINY_JPEG, TINY_PNG


class TestAcceptedLinks:
    @pytest.mark.parametrize(
        "url, normalised, host, target",
        [
            ("https://cdn.example.com/a.png", "https://cdn.example.com/a.png", "cdn.example.com", "/a.png"),
            ("HTTPS://CDN.Example.COM/A.png", "https://cdn.example.com/A.png", "cdn.example.com", "/A.png"),
            ("https://cdn.example.com:443/a.png", "https://cdn.example.com/a.png", "cdn.example.com", "/a.png"),
            ("https://shop.example.com./x.jpg?v=3#top", "https://shop.example.com/x.jpg?v=3", "shop.example.com", "/x.jpg?v=3"),
            ("https://cdn.shopify.com", "https://cdn.shopify.com/", "cdn.shopify.com", "/"),
            ("https://img-1.my-cdn.co.uk/p%20q.gif", "https://img-1.my-cdn.co.uk/p%20q.gif", "img-1.my-cdn.co.uk", "/p%20q.gif"),
        ],
    )
    def test_public_https_links_pass_normalised(self, url: str, normalised: str, host: str, target: str) -> None:
        link = validate_media_url(url)
        assert (link.url, link.host, link.target) == (normalised, host, target)


class TestRefusedLinks:
    @pytest.mark.parametrize(
        "url",
        [
            # not https
            "http://cdn.example.com/a.png",
            "ftp://cdn.example.com/a.png",
            "file:///etc/passwd",
            "gopher://cdn.example.com/",
            "//cdn.example.com/a.png",
            "cdn.example.com/a.png",
            # credentials
            "https://user@cdn.example.com/a.png",
            "https://user:secret@cdn.example.com/a.png",
            "https://cdn.example.com@evil.example.net/a.png",
            # ports other than 443
            "https://cdn.example.com:8443/a.png",
            "https://cdn.example.com:80/a.png",
            "https://cdn.example.com:0/a.png",
            "https://cdn.example.com:99999/a.png",
            "https://cdn.example.com:abc/a.png",
            # IP literals in every spelling an HTTP client accepts
            "https://127.0.0.1/a.png",
            "https://10.0.0.5/a.png",
            "https://169.254.169.254/latest/meta-data/",
            "https://8.8.8.8/a.png",  # even public ones: a name is required, so the TLS certificate means something
            "https://[::1]/a.png",
            "https://[fd00::1]/a.png",
            "https://[::ffff:127.0.0.1]/a.png",
            "https://2130706433/a.png",
            "https://0x7f000001/a.png",
            "https://0x7f.0.0.1/a.png",
            "https://127.1/a.png",
            "https://0177.0.0.1/a.png",
            # names that only mean something inside
            "https://localhost/a.png",
            "https://LOCALHOST./a.png",
            "https://app.localhost/a.png",
            "https://printer.local/a.png",
            "https://metadata.google.internal/computeMetadata/v1/",
            "https://router.lan/a.png",
            "https://1.0.0.127.in-addr.arpa/a.png",
            "https://intranet/a.png",
            "https://metadata/a.png",
            # malformed
            "https:///a.png",
            "https://cdn..example.com/a.png",
            "https://-cdn.example.com/a.png",
            "https://cdn_x.example.com/a.png",
            "https://cdn.example.com/a b.png",
            "https://cdn.example.com/a.png\r\nX-Evil: 1",
            "https://cdn.example.com/\x00.png",
            "https://bücher.example/a.png",
            " https://cdn.example.com/a.png",
            "https://cdn.example.com/" + "a" * 2048,
            "",
        ],
    )
    def test_refused_with_invalid_media_url(self, url: str) -> None:
        with pytest.raises(InvalidInput) as refused:
            validate_media_url(url)
        assert refused.value.code == "invalid_media_url"

    @pytest.mark.parametrize("value", [None, 42, ["https://cdn.example.com/a.png"], {"url": "x"}])
    def test_non_strings_are_refused(self, value: object) -> None:
        with pytest.raises(InvalidInput) as refused:
            validate_media_url(value)
        assert refused.value.code == "invalid_media_url"

    def test_the_error_never_echoes_an_unbounded_value(self) -> None:
        with pytest.raises(InvalidInput) as refused:
            validate_media_url("http://" + "a" * 5000)
        assert len(str(refused.value.details["media_url"])) <= 200


class TestResolvedAddresses:
    @pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"])
    def test_public(self, address: str) -> None:
        assert is_public_address(address)

    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",  # instance metadata
            "100.64.0.1",  # carrier-grade NAT
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",  # documentation
            "::1",
            "::",
            "fe80::1",
            "fe80::1%eth0",
            "fd00:ec2::254",  # instance metadata over IPv6
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2002:7f00:1::1",  # 6to4 around 127.0.0.1
            "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
            "ff02::1",
            "not an address",
        ],
    )
    def test_inside_or_reserved(self, address: str) -> None:
        assert not is_public_address(address)


class TestImages:
    @pytest.mark.parametrize(
        "data, kind",
        [
            (TINY_PNG, ImageKind.PNG),
            (TINY_GIF, ImageKind.GIF),
            (b"GIF87a" + bytes(4), ImageKind.GIF),
            (TINY_JPEG, ImageKind.JPEG),
        ],
    )
    def test_magic_numbers_decide(self, data: bytes, kind: ImageKind) -> None:
        assert sniff_image(data) is kind and check_image(data) is kind

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"<!doctype html><img src=x>",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            b"RIFF\x00\x00\x00\x00WEBPVP8 ",
            b"%PDF-1.7",
            b"\x89PNG\r\n",  # a truncated signature
            b"GIF88a",
            b"\xff\xd8",
            b" \x89PNG\r\n\x1a\n",  # the signature must come first
        ],
    )
    def test_other_bytes_are_unsupported(self, data: bytes) -> None:
        assert sniff_image(data) is None
        with pytest.raises(InvalidInput) as refused:
            check_image(data)
        assert refused.value.code == "unsupported_media_type"

    def test_size_cap_is_inclusive(self) -> None:
        at_cap = TINY_PNG + bytes(MAX_MEDIA_BYTES - len(TINY_PNG))
        assert check_image(at_cap) is ImageKind.PNG
        with pytest.raises(InvalidInput) as refused:
            check_image(at_cap + b"\x00")
        assert refused.value.code == "media_too_large"

    def test_kinds_carry_what_s3_and_the_key_need(self) -> None:
        assert [(k.content_type, k.extension) for k in ImageKind] == [
            ("image/gif", "gif"),
            ("image/jpeg", "jpg"),
            ("image/png", "png"),
        ]


class TestKeys:
    def test_content_addressed_per_shop(self) -> None:
        digest = hashlib.sha256(TINY_PNG).hexdigest()
        assert media_key("demo.myshopify.com", TINY_PNG, ImageKind.PNG) == f"demo.myshopify.com/{digest}.png"
        assert media_key("demo.myshopify.com", TINY_PNG, ImageKind.PNG) == media_key(
            "demo.myshopify.com", TINY_PNG, ImageKind.PNG
        )
        assert media_key("other.myshopify.com", TINY_PNG, ImageKind.PNG) != media_key(
            "demo.myshopify.com", TINY_PNG, ImageKind.PNG
        )
        assert media_key("demo.myshopify.com", TINY_GIF, ImageKind.GIF).endswith(".gif")

    def test_a_shop_id_cannot_climb_out_of_its_prefix(self) -> None:
        key = media_key("../evil/x", TINY_PNG, ImageKind.PNG)
        assert key.count("/") == 1 and key.startswith("..%2Fevil%2Fx/")
