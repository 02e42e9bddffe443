"""Turning botocore errors into smscast's error hierarchy, by error code (never by message text)."""

from __future__ import annotations

from collections.abc import Collection

from botocore.exceptions import ClientError

from chalicelib.domain.errors import ConfigurationError, SmscastError, TransientError


def error_code(exc: ClientError) -> str:
    """The AWS error code of a botocore ClientError ('' when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: ClientError, *, service: str, action: str, retryable: Collection[str]) -> SmscastError:
    """TransientError for codes worth retrying later; ConfigurationError for everything else (access denied,
    validation, a missing resource): retrying will not fix the deployment."""
    code = error_code(exc)
    message = f"{service} refused to {action}: {code}: {exc.response.get('Error', {}).get('Message', '')}"
    if code in retryable:
        return TransientError(message, details={"aws_code": code})
    return ConfigurationError(message, details={"aws_code": code})
