"""The campaign engine's jobs: small JSON messages on the campaign-jobs queue (also a schedule's payload).

Jobs carry ids only; the worker reloads state and does nothing when the work is done or gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StartCampaign:
    """A campaign's time has come (its schedule fired)."""

    shop_id: str
    campaign_id: str
    kind = "start"


@dataclass(frozen=True)
class PlanPage:
    """Read one page of the audience from the campaign's checkpoint and queue its send batches."""

    shop_id: str
    campaign_id: str
    page: int
    kind = "plan"


@dataclass(frozen=True)
class ReleaseWave:
    """Recipients deferred by quiet hours until ``release_at`` may go now; ``cursor`` pages the wave."""

    shop_id: str
    campaign_id: str
    release_at: datetime
    cursor: str | None = None
    released: int = 0  # recipients earlier pages of this wave queued: paces the rest (planning.release_wave)
    kind = "release"


@dataclass(frozen=True)
class SendReply:
    """An Inbox reply scheduled for the end of the subscriber's quiet hours is due."""

    shop_id: str
    phone: str
    reply_id: str
    kind = "reply"


Job = StartCampaign | PlanPage | ReleaseWave | SendReply


def job_to_json(job: Job) -> dict[str, Any]:
    """The wire form of a job."""
    data: dict[str, Any] = {"kind": job.kind, "shop_id": job.shop_id}
    if isinstance(job, SendReply):
        data["phone"] = job.phone
        data["reply_id"] = job.reply_id
        return data
    data["campaign_id"] = job.campaign_id
    if isinstance(job, PlanPage):
        data["page"] = job.page
    if isinstance(job, ReleaseWave):
        data["release_at"] = job.release_at.isoformat()
        data["cursor"] = job.cursor
        if job.released:
            data["released"] = job.released
    return data


def job_from_json(data: Any) -> Job:
    """Parse a job; ValueError for anything that is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("shop_id"), str):
        raise ValueError("a job needs kind and shop_id")
    shop_id, kind = data["shop_id"], data.get("kind")
    if kind == "reply":
        phone, reply_id = data.get("phone"), data.get("reply_id")
        if not isinstance(phone, str) or not isinstance(reply_id, str) or not phone or not reply_id:
            raise ValueError("reply job needs phone and reply_id")
        return SendReply(shop_id, phone, reply_id)
    campaign_id = data.get("campaign_id")
    if not isinstance(campaign_id, str):
        raise ValueError("a campaign job needs campaign_id")
    if kind == "start":
        return StartCampaign(shop_id, campaign_id)
    if kind == "plan":
        page = data.get("page")
        if not isinstance(page, int) or isinstance(page, bool) or page < 0:
            raise ValueError("plan job needs a page number")
        return PlanPage(shop_id, campaign_id, page)
    if kind == "release":
        release_at = datetime.fromisoformat(str(data.get("release_at")))
        if release_at.tzinfo is None:
            raise ValueError("release_at must carry its offset")
        cursor, released = data.get("cursor"), data.get("released")
        # Only pacing hangs on the count, so a missing or odd one starts it from nought rather than dropping the wave.
        released = released if isinstance(released, int) and not isinstance(released, bool) and released > 0 else 0
        return ReleaseWave(shop_id, campaign_id, release_at, cursor if isinstance(cursor, str) else None, released)
    raise ValueError(f"unknown job kind {kind!r}")


def start_schedule_name(campaign_id: str) -> str:
    """The one schedule that starts a campaign; edits move it, switching off deletes it."""
    return f"start-{campaign_id}"


def wave_schedule_name(campaign_id: str, release_at: datetime) -> str:
    """The schedule releasing one quiet-hours wave: one per campaign and release minute."""
    return f"wave-{campaign_id}-{int(release_at.timestamp()) // 60}"


def reply_schedule_name(reply_id: str) -> str:
    """The schedule that sends one Inbox reply when the subscriber's quiet hours end."""
    return f"reply-{reply_id}"
