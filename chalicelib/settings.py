"""Deployment settings, typed and read once from the environment; a bad value fails at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from chalicelib.adapters.resources import opt_out_list_name
from chalicelib.domain.errors import ConfigurationError
from chalicelib.domain.links import DEFAULT_LINK_BASE
from chalicelib.domain.signup_form import SignupLimits


class SmsProviderName(str, Enum):
    """Which SMS provider the deployment sends through."""

    END_USER_MESSAGING = "end_user_messaging"
    SANDBOX = "sandbox"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3 bucket naming rules (the part a regex can say)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PARAMETER_NAME = re.compile(r"^/[A-Za-z0-9_.\-/]+$")  # an SSM parameter path (the template asks for the same)
# Set in AWS (infra/template.py): the *name* of the SecureString holding the Shopify app secret, never the secret.
SECRET_PARAMETER_ENV = "SMSCAST_SHOPIFY_API_SECRET_PARAMETER"
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")  # what Scheduler accepts as a target role


def read_secure_parameter(name: str) -> str:
    """An SSM Parameter Store SecureString, decrypted (Powertools Parameters; only deployments call this)."""
    from aws_lambda_powertools.utilities import parameters  # imported here: devstack and tests never need it

    return str(parameters.get_parameter(name, decrypt=True))


def _shopify_api_secret(env: Mapping[str, str], read_secret: Callable[[str], str]) -> str | None:
    """The plain variable where devstack and tests set it; in AWS read from Parameter Store by name, once per
    cold start (Settings is built once per container), so the secret is never in a file, the template or env."""
    plain = env.get("SMSCAST_SHOPIFY_API_SECRET")
    if plain:
        return plain
    name = env.get(SECRET_PARAMETER_ENV)
    if not name:
        return None
    if not _PARAMETER_NAME.match(name):
        raise ConfigurationError(f"{SECRET_PARAMETER_ENV} must be an SSM parameter name like /smscast/prod/x, not {name!r}")
    try:
        secret = read_secret(name)
    except Exception as exc:  # a missing parameter or a denied read must stop the start, naming the parameter
        raise ConfigurationError(f"cannot read the Shopify API secret from SSM parameter {name!r}: {exc}") from exc
    if not secret:
        raise ConfigurationError(f"SSM parameter {name!r} is empty")
    return secret


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Everything the deployment (not the merchant) decides."""

    stage: str
    region: str
    resource_prefix: str  # every table, queue, topic and schedule group name starts with this
    sms_provider: SmsProviderName
    opt_out_list: str  # End User Messaging opt-out list that mirrors STOPs
    configuration_set: str | None
    shopify_api_key: str | None  # the `aud` of Shopify session tokens
    shopify_api_secret: str | None  # HS256 key of Shopify session tokens
    allow_fictional_numbers: bool  # accept +1 555 numbers: devstack and tests only
    clock_file: str | None  # devstack's movable clock; unset in AWS
    scheduler_role_arn: str  # the role EventBridge Scheduler assumes to put jobs on the campaign-jobs queue
    media_bucket: str  # S3 bucket holding MMS images (End User Messaging sends media only from S3)
    exports_bucket: str  # S3 bucket holding CSV exports of subscriber lists (objects expire after a day)
    log_level: str  # one of _LOG_LEVELS; applied to every smscast logger by the composition root
    link_domain: str  # base of tracked short links (<link_domain>/r/<code>): https, or http on localhost (devstack)
    # The storefront sign-up form's hourly limits (SMSCAST_SIGNUP_PER_IP, _PER_PHONE, _PER_SHOP): the operator's.
    signup_limits: SignupLimits = field(default_factory=SignupLimits)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, read_secret: Callable[[str], str] = read_secure_parameter
    ) -> Settings:
        """Read and validate the environment (os.environ by default); secrets named there are read with ``read_secret``."""
        env = os.environ if env is None else env
        stage = env.get("SMSCAST_STAGE", "dev")
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region:
            raise ConfigurationError("AWS_REGION (or AWS_DEFAULT_REGION) must be set")
        provider_raw = env.get("SMSCAST_SMS_PROVIDER", SmsProviderName.END_USER_MESSAGING.value)
        try:
            provider = SmsProviderName(provider_raw)
        except ValueError as exc:
            choices = ", ".join(p.value for p in SmsProviderName)
            raise ConfigurationError(f"SMSCAST_SMS_PROVIDER must be one of {choices}, not {provider_raw!r}") from exc
        prefix = env.get("SMSCAST_RESOURCE_PREFIX", f"smscast-{stage}")
        if not prefix.replace("-", "").isalnum():
            raise ConfigurationError("SMSCAST_RESOURCE_PREFIX may hold only letters, digits and dashes")
        # The default is a placeholder: moto (tests, devstack) accepts any well-formed role, AWS does not, so
        # deployments pass the template's SchedulerRole ARN (infra/template.py sets it for every function).
        scheduler_role_arn = env.get("SMSCAST_SCHEDULER_ROLE_ARN") or f"arn:aws:iam::000000000000:role/{prefix}-scheduler"
        if not _ROLE_ARN.match(scheduler_role_arn):
            raise ConfigurationError(f"SMSCAST_SCHEDULER_ROLE_ARN must be an IAM role ARN, not {scheduler_role_arn!r}")
        # Bucket names are global across AWS accounts, so deployments get theirs from the template (it adds the
        # account and region); the default serves devstack and tests.
        media_bucket = env.get("SMSCAST_MEDIA_BUCKET") or f"{prefix}-media"
        if not _BUCKET.match(media_bucket):
            raise ConfigurationError(f"SMSCAST_MEDIA_BUCKET must be a valid S3 bucket name, not {media_bucket!r}")
        exports_bucket = env.get("SMSCAST_EXPORTS_BUCKET") or f"{prefix}-exports"
        if not _BUCKET.match(exports_bucket):
            raise ConfigurationError(f"SMSCAST_EXPORTS_BUCKET must be a valid S3 bucket name, not {exports_bucket!r}")
        log_level = env.get("SMSCAST_LOG_LEVEL", "INFO").strip().upper()
        if log_level not in _LOG_LEVELS:
            raise ConfigurationError(f"SMSCAST_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, not {log_level!r}")
        link_domain = _link_domain(env.get("SMSCAST_LINK_DOMAIN") or DEFAULT_LINK_BASE)
        return cls(
            stage=stage,
            region=region,
            resource_prefix=prefix,
            sms_provider=provider,
            opt_out_list=env.get("SMSCAST_OPT_OUT_LIST") or opt_out_list_name(prefix),
            configuration_set=env.get("SMSCAST_CONFIGURATION_SET") or None,
            shopify_api_key=env.get("SMSCAST_SHOPIFY_API_KEY") or None,
            shopify_api_secret=_shopify_api_secret(env, read_secret),
            allow_fictional_numbers=_flag(env, "SMSCAST_ALLOW_FICTIONAL_NUMBERS", False),
            clock_file=env.get("SMSCAST_CLOCK_FILE") or None,
            scheduler_role_arn=scheduler_role_arn,
            media_bucket=media_bucket,
            exports_bucket=exports_bucket,
            log_level=log_level,
            link_domain=link_domain,
            signup_limits=_signup_limits(env),
        )


def _signup_limits(env: Mapping[str, str]) -> SignupLimits:
    """The sign-up form's limits: the defaults, or whole numbers from 1 to 1,000,000 from the environment."""
    defaults = SignupLimits()
    values: dict[str, int] = {}
    for name in ("per_ip", "per_phone", "per_shop"):
        variable = f"SMSCAST_SIGNUP_{name.upper()}"
        raw = env.get(variable)
        if raw is None or raw == "":
            values[name] = getattr(defaults, name)
        elif re.fullmatch(r"[0-9]{1,7}", raw.strip()) and 1 <= int(raw) <= 1_000_000:
            values[name] = int(raw)
        else:
            raise ConfigurationError(f"{variable} must be a whole number from 1 to 1000000, not {raw!r}")
    return SignupLimits(per_ip=values["per_ip"], per_phone=values["per_phone"], per_shop=values["per_shop"])


def _link_domain(raw: str) -> str:
    """An https URL base without query or fragment (http only for a local address, as devstack's)."""
    parts = urlsplit(raw.strip())
    local = parts.hostname in ("127.0.0.1", "localhost")
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local) or not parts.hostname:
        raise ConfigurationError(f"SMSCAST_LINK_DOMAIN must be an https URL like https://go.example.com, not {raw!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(f"SMSCAST_LINK_DOMAIN must be a plain URL base, not {raw!r}")
    return raw.strip().rstrip("/")
