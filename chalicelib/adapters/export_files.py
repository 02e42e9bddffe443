"""Export files on S3: a CSV written as a stream (multipart upload), fetched by a presigned link.

Objects are ``<shop_id>/<name>`` in the exports bucket, private and encrypted like the media bucket, and
expire a day after they are written (``EXPORTS_BUCKET``'s lifecycle): a subscriber list is personal data
and a merchant downloads it right away. The adapter holds at most one upload part in memory: chunks are
gathered until a part is full (S3 wants 5 MiB at least, the last part excepted), then sent. A file smaller
than one part is a single PutObject.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import TransientError

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
