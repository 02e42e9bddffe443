"""The one error hierarchy. Adapters translate AWS errors into these; the API maps them to HTTP once."""

from __future__ import annotations


class SmscastError(Exception):
    """Base of every error smscast raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, object] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}


class InvalidInput(SmscastError):
    """The caller sent something malformed or out of range (HTTP 400)."""

    code = "invalid_input"


class Unauthorized(SmscastError):
    """No credentials, or credentials that do not check out (HTTP 401)."""

    code = "unauthorized"


class NotFound(SmscastError):
    """The thing does not exist for this shop; another shop's things are also 'not found' (HTTP 404)."""

    code = "not_found"


class TooManyRequests(SmscastError):
    """A rate limit about the caller or the shop, never about a phone number (HTTP 429 with Retry-After)."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None):
        super().__init__(message, code=code, details={"retry_after": retry_after})
        self.retry_after = retry_after


class Conflict(SmscastError):
    """The request clashes with the current state, e.g. an illegal transition (HTTP 409)."""

    code = "conflict"


class ConsentRequired(Conflict):
    """The number has opted out (or never opted in), so nothing may be sent to it."""

    code = "opted_out"


class ShopUninstalled(Conflict):
    """The merchant uninstalled the app: nothing more is sent for the shop."""

    code = "shop_uninstalled"


class ConcurrentUpdate(Conflict):
    """Someone else changed the record first; reload and try again."""

    code = "concurrent_update"


class ProviderError(SmscastError):
    """The SMS provider refused or failed a request."""

    code = "provider_error"


class ProviderThrottled(ProviderError):
    """The provider asked us to slow down; retrying later is safe."""

    code = "provider_throttled"


class ProviderUnavailable(ProviderThrottled):
    """The provider could not be reached, so nothing was sent; retrying later is safe."""

    code = "provider_unavailable"


class ProviderRejected(ProviderError):
    """The provider refused this message for good (bad number, opted out at the carrier, ...)."""

    code = "provider_rejected"


class ConfigurationError(SmscastError):
    """The deployment is misconfigured (missing env var, unknown sender number)."""

    code = "configuration_error"


class TransientError(SmscastError):
    """A dependency is busy or briefly unavailable (throttled, internal error); retrying later is safe."""

    code = "temporarily_unavailable"
