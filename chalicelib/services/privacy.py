"""Use cases for the privacy webhooks and app/uninstalled: a person's data exported or erased, a shop's data
erased, a shop that uninstalled the app sending nothing any more."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.errors import NotFound
from chalicelib.domain.jobs import start_schedule_name
from chalicelib.domain.privacy import PrivacyExport
from chalicelib.domain.shopify import PrivacyRequest
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services.campaigns import end_campaign
from chalicelib.services.ports import Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)


@dataclass(frozen=True)
class Uninstalled:
    """What app/uninstalled stopped."""

    ended: int  # in-progress campaigns ended
    unscheduled: int  # scheduled campaigns whose start schedule was removed


def uninstall(ports: Ports, shop_id: str) -> Uninstalled:
    """Mark the shop uninstalled, end its running campaigns and remove its campaign schedules; keep its data."""
    ports.shops.mark_uninstalled(shop_id, ports.clock.now())
    ended = unscheduled = 0
    for campaign in list(ports.campaigns.all(shop_id)):
        if campaign.status is CampaignStatus.IN_PROGRESS:
            end_campaign(ports, shop_id, campaign.campaign_id)
            ended += 1
        elif campaign.status is CampaignStatus.SCHEDULED:
            ports.schedules.cancel(start_schedule_name(campaign.campaign_id))
            unscheduled += 1
    return Uninstalled(ended=ended, unscheduled=unscheduled)


def resolve_phone(ports: Ports, request: PrivacyRequest) -> str | None:
    """The E.164 number a privacy request is about: its phone, else the subscriber with its customer id."""
    if request.phone is not None:
        return request.phone
    if request.customer_id is not None:
        subscriber = ports.subscribers.by_customer_id(request.shop_id, request.customer_id)
        if subscriber is not None:
            return subscriber.phone
    return None


def data_request(ports: Ports, request: PrivacyRequest) -> PrivacyExport | None:
    """Gather what every personal-data store keeps about the person into an export the merchant can fetch."""
    phone = resolve_phone(ports, request)
    if phone is None:
        # smscast holds nothing it can tie to this customer (no phone, no checkout subscriber with the id)
        logger.info("privacy data request: nothing held", extra={"shop_id": request.shop_id})
        return None
    data: dict[str, object] = {"shop_id": request.shop_id, "phone": phone, "customer_id": request.customer_id}
    for store in ports.personal_data:
        data.update(store.export(request.shop_id, phone))
    export = PrivacyExport(
        shop_id=request.shop_id,
        export_id=f"dr_{request.request_id}" if request.request_id else f"dr_{uuid.uuid4().hex}",
        phone=phone,
        created_at=ports.clock.now(),
        data=data,
    )
    ports.exports.save(export)
    logger.info("privacy export stored", extra={"shop_id": request.shop_id, "export_id": export.export_id})
    return export


def get_export(ports: Ports, shop_id: str, export_id: str) -> PrivacyExport:
    """One of the shop's data-request exports, or NotFound (another shop's is simply not found)."""
    export = ports.exports.get(shop_id, export_id)
    if export is None:
        raise NotFound(f"no privacy export {export_id}", code="export_not_found")
    return export


def redact_customer(ports: Ports, request: PrivacyRequest) -> int:
    """Erase the person from every personal-data store, keeping only the hashed suppression; items deleted."""
    phone = resolve_phone(ports, request)
    if phone is None:
        logger.info("customer redact: nothing held", extra={"shop_id": request.shop_id})
        return 0
    # Suppress first: if an erase fails half-way, the number is already never texted or added again.
    ports.suppressions.add(request.shop_id, phone, ports.clock.now())
    deleted = sum(store.erase(request.shop_id, phone) for store in ports.personal_data)
    logger.info("customer redacted", extra={"shop_id": request.shop_id, "deleted": deleted})
    return deleted


def redact_shop(ports: Ports, shop_id: str) -> int:
    """Erase everything the shop owns (shop/redact, 48 hours after uninstall); items deleted."""
    deleted = ports.shop_data.erase_shop(shop_id)
    # Imported files, their reports and exports are lists of the shop's customers: deleted now, not left to the
    # bucket's one-day lifecycle (a file uploaded or exported just before the uninstall would outlive the redact).
    deleted += ports.import_files.erase_shop(shop_id)
    logger.info("shop redacted", extra={"shop_id": shop_id, "deleted": deleted})
    return deleted
