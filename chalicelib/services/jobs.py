"""Dispatch for the jobs queue: campaign starts, planning pages, quiet-hours waves, scheduled Inbox replies."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from chalicelib.domain.errors import NotFound, ShopUninstalled
from chalicelib.domain.jobs import Job, PlanPage, ReleaseWave, SendReply, StartCampaign
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services import inbox, planning
from chalicelib.services.ports import Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)


def run_job(ports: Ports, job: Job) -> None:
    """Run one job; each is idempotent, so redelivery is harmless."""
    if isinstance(job, StartCampaign):
        try:
            planning.start_campaign(ports, job.shop_id, job.campaign_id, trigger="schedule")
        except NotFound:
            logger.info("schedule fired for a deleted campaign")  # campaign_id: a correlation key
        except ShopUninstalled:
            logger.info("schedule fired for a shop that uninstalled the app; not started")
    elif isinstance(job, PlanPage):
        planning.plan_page(ports, job)
    elif isinstance(job, ReleaseWave):
        planning.release_wave(ports, job)
    elif isinstance(job, SendReply):
        inbox.send_scheduled_reply(ports, job)
