"""Export files on S3: a CSV written as a stream (multipart upload), fetched by a presigned link.

Objects are ``<shop_id>/<name>`` in the exports bucket, private and encrypted like the media bucket, and
expire a day after they are written (``EXPORTS_BUCKET``'s lifecycle): a subscriber list is personal data
and a merchant downloads it right away. The adapter holds at most one upload part in memory: chunks are
gathered until a part is full (S3 wants 5 MiB at least, the last part excepted), then sent. A file smaller
than one part is a single PutObject.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import TransientError
from chalicelib.services.ports import UploadForm

PART_BYTES = 8 * 1024 * 1024


class S3ExportFiles:
    """``ExportFiles`` on the deployment's exports bucket."""

    # The client is typed Any: the S3 stubs (mypy-boto3-s3) are not among the dev requirements.
    def __init__(self, s3_client: Any, bucket: str, *, part_bytes: int = PART_BYTES) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._part_bytes = part_bytes

    def store(self, shop_id: str, name: str, chunks: Iterable[bytes], *, content_type: str) -> None:
        """Upload the chunks as one object, a part at a time."""
        key = f"{shop_id}/{name}"
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        buffer = bytearray()
        try:
            for chunk in chunks:
                buffer += chunk
                if len(buffer) >= self._part_bytes:
                    if upload_id is None:
                        started = self._s3.create_multipart_upload(Bucket=self._bucket, Key=key, ContentType=content_type)
                        upload_id = started["UploadId"]
                    parts.append(self._part(key, upload_id, len(parts) + 1, buffer))
                    buffer = bytearray()  # a new one: the sent part is not copied, nor touched again
            if upload_id is None:
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=buffer, ContentType=content_type)
                return
            if buffer:
                parts.append(self._part(key, upload_id, len(parts) + 1, buffer))
            self._s3.complete_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        except (ClientError, BotoCoreError) as exc:
            self._abort(key, upload_id)
            raise TransientError("the export could not be stored; try again", details={"bucket": self._bucket}) from exc
        except BaseException:
            self._abort(key, upload_id)  # a failing page read: no half upload left to bill for
            raise

    def _part(self, key: str, upload_id: str, number: int, data: bytearray) -> dict[str, Any]:
        sent = self._s3.upload_part(Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": sent["ETag"]}

    def _abort(self, key: str, upload_id: str | None) -> None:
        if upload_id is None:
            return
        try:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError):
            pass  # the bucket's lifecycle cleans an upload left incomplete

    def link(self, shop_id: str, name: str, *, expires_in: int) -> str:
        """A presigned GET that downloads the file under its own name."""
        return str(
            self._s3.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self._bucket,
                    "Key": f"{shop_id}/{name}",
                    "ResponseContentDisposition": f'attachment; filename="{name}"',
                },
                ExpiresIn=expires_in,
            )
        )


# Bytes a ranged GET hands the importer at a time: large enough that a 20 MB file is a few hundred reads of the
# socket, small enough that memory holds nothing of size.
READ_CHUNK = 256 * 1024


class S3ImportFiles:
    """``ImportFiles`` on the same bucket: uploads by presigned POST, ranged GETs streamed, report parts, and
    every file of a shop deleted on shop/redact. Keys are ``<shop_id>/<name>``, as the exports'."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def upload_form(self, shop_id: str, name: str, *, max_bytes: int, content_type: str, expires_in: int) -> UploadForm:
        """A presigned POST: S3 itself refuses a file over ``max_bytes`` (content-length-range), which a presigned
        PUT cannot do, and the browser posts it straight to S3 (API Gateway takes 10 MB at most)."""
        key = f"{shop_id}/{name}"
        try:
            form = self._s3.generate_presigned_post(
                Bucket=self._bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
                ExpiresIn=expires_in,
            )
        except (ClientError, BotoCoreError) as exc:
            raise TransientError("the upload could not be prepared; try again") from exc
        return UploadForm(
            url=str(form["url"]),
            fields={str(k): str(v) for k, v in form["fields"].items()},
            max_bytes=max_bytes,
            content_type=content_type,
        )

    def size(self, shop_id: str, name: str) -> int | None:
        """The object's size (HeadObject), None when it is not there."""
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=f"{shop_id}/{name}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise TransientError("the upload could not be checked; try again") from exc
        return int(head["ContentLength"])

    def read(self, shop_id: str, name: str, *, start: int = 0) -> Generator[bytes, None, None]:
        """The object from ``start`` (a ranged GET), as chunks off the socket; closing the generator closes it."""
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": f"{shop_id}/{name}"}
        if start:
            params["Range"] = f"bytes={start}-"
        try:
            body = self._s3.get_object(**params)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return  # start is the end of the file: nothing left
            raise TransientError("the file could not be read; try again") from exc
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def put(self, shop_id: str, name: str, data: bytes, *, content_type: str) -> None:
        """One small object, written whole."""
        try:
            self._s3.put_object(Bucket=self._bucket, Key=f"{shop_id}/{name}", Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise TransientError("a report part could not be stored; try again") from exc

    def erase_shop(self, shop_id: str) -> int:
        """Every object under the shop's prefix, deleted a thousand at a time."""
        deleted = 0
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=f"{shop_id}/"):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted
