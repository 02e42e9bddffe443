"""The devstack state file (``.devstack.json``): how scripts, the CLIs and the e2e test find a running stack."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_FILE_ENV = "SMSCAST_DEVSTACK_FILE"
DEFAULT_STATE_FILE = REPO_ROOT / ".devstack.json"
DEFAULT_CLOCK_FILE = REPO_ROOT / ".devstack" / "clock.json"
DEVSTACK_SHOPIFY_SECRET = "devstack-shopify-app-secret"  # local only: no real Shopify app signs with it
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class DevstackNotRunning(Exception):
    """No state file: devstack is not running (or not ready yet)."""


@dataclass(frozen=True)
class DevstackConfig:
    """What a running devstack tells its clients."""

    api_url: str
    api_key: str
    sender_number: str
    aws_endpoint: str
    region: str
    resource_prefix: str
    clock_file: str
    shop_id: str

    def to_dict(self) -> dict[str, str]:
        """The JSON shape of the state file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DevstackConfig:
        """Read the state file's shape; extra keys are ignored so newer files still load."""
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise ValueError(f"devstack state file lacks {missing}")
        return cls(**{f.name: str(data[f.name]) for f in fields(cls)})

    def boto3_client(self, service: str) -> Any:
        """A boto3 client aimed at this devstack's moto server, whatever the caller's environment says."""
        import boto3

        session = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=FAKE_CREDENTIALS["aws_secret_access_key"],
            region_name=self.region,
        )
        return session.client(service, endpoint_url=self.aws_endpoint)  # type: ignore[call-overload]


def state_file_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the state file lives: SMSCAST_DEVSTACK_FILE, else .devstack.json in the repo root."""
    env = os.environ if env is None else env
    override = env.get(STATE_FILE_ENV)
    return Path(override) if override else DEFAULT_STATE_FILE


def write_state(config: DevstackConfig, path: Path | None = None) -> Path:
    """Write the state file atomically, so a reader never sees half of it."""
    target = path or state_file_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def load_state(path: Path | None = None) -> DevstackConfig:
    """Read the state file, or raise DevstackNotRunning."""
    target = path or state_file_path()
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DevstackNotRunning(f"{target} not found: start devstack first (make run)") from exc
    return DevstackConfig.from_dict(data)


def remove_state(path: Path | None = None) -> None:
    """Delete the state file if it is there."""
    (path or state_file_path()).unlink(missing_ok=True)
