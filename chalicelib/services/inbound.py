"""Use case: an SMS arrives from a subscriber. Store it exactly once, apply consent, answer, sync the opt-out list.

Order of work, so that a crash or retry at any point neither loses nor repeats anything:
1. If the message id has a receipt, the consent part is done: go to 3 with the stored plan.
2. Decide (pure), then commit subscriber + consent event + inbound line + receipt in one transaction.
   The consent change is durable before anything is sent, so a STOP holds even if the answer is throttled.
3. Follow the plan (a ``FollowUp``): lift the carrier opt-out block, send the auto-reply through the one send
   path (services/outbound.py: its claim is given back only when the provider definitely did not send, so a
   STOP confirmation never goes out twice), then add the carrier opt-out block.
   Every step is idempotent, so a retried delivery resumes where the last one stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger

from chalicelib.domain.errors import ConfigurationError, InvalidInput, ProviderRejected
from chalicelib.domain.inbound import AutoReply, FollowUp, InboundDecision, OptOutListChange, decide
from chalicelib.domain.keywords import Intent, classify
from chalicelib.domain.messages import ConversationMessage, Direction, InboundSms, MessageKind, OutboundSms
from chalicelib.domain.phones import normalize_phone
from chalicelib.domain.shops import Shop
from chalicelib.domain.subscribers import ConsentEvent, ConsentSource, Subscriber
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services import inbox, outbound
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.outbound import Delivery, OnceClaim
from chalicelib.services.ports import AlreadyDone, Ports, SubscriberChange

logger = Logger(service=SERVICE, child=True, level=INHERIT)


@dataclass(frozen=True)
class InboundResult:
    """What handling one inbound SMS did."""

    shop_id: str
    phone: str
    intent: Intent
    duplicate: bool
    reply: AutoReply | None
    replied: bool


def receive_sms(ports: Ports, sms: InboundSms) -> InboundResult:
    """Handle one inbound SMS; safe to call again with the same message (redelivery, retry)."""
    shop = ports.shops.shop_for_sender(_e164(sms.to_number, ports))
    if shop is None:
        # Raising sends the event to the retry path and then the failure queue: never dropped silently.
        raise ConfigurationError(f"no shop owns sender number {sms.to_number}", code="unknown_sender")
    logger.append_keys(shop_id=shop.shop_id)  # the worker knew only the phone: every later line names the shop
    phone = _e164(sms.from_number, ports)
    intent = classify(sms.body, join_keyword=shop.settings.opt_in_keyword)
    if intent in (Intent.JOIN, Intent.OPT_IN, Intent.CONFIRM) and ports.suppressions.contains(shop.shop_id, phone):
        # A redacted person's number never subscribes again: the text is kept as a plain Inbox message.
        intent = Intent.MESSAGE
    dedupe_key = f"inbound#{sms.message_id}"

    stored = ports.subscribers.receipt(dedupe_key)
    duplicate = stored is not None
    plan = FollowUp.from_dict(stored) if stored is not None else _commit(ports, shop, phone, sms, intent, dedupe_key)
    replied = _follow_up(ports, shop, phone, sms, plan)
    return InboundResult(shop.shop_id, phone, intent, duplicate, plan.reply, replied)


def _e164(raw: str, ports: Ports) -> str:
    try:
        return normalize_phone(raw, allow_fictional=ports.allow_fictional_numbers)
    except InvalidInput:
        return raw.strip()  # short codes and odd carrier formats are still stored, never dropped


def _commit(ports: Ports, shop: Shop, phone: str, sms: InboundSms, intent: Intent, dedupe_key: str) -> FollowUp:
    # A ConcurrentUpdate means the subscriber changed (e.g. a checkout add) while we decided: decide again.
    def attempt() -> FollowUp:
        existing = ports.subscribers.get(shop.shop_id, phone)
        decision = decide(intent, existing, shop_id=shop.shop_id, phone=phone, at=sms.received_at)
        plan = FollowUp.of(decision)
        try:
            ports.subscribers.apply(_change(shop, phone, sms, intent, existing, decision, dedupe_key, plan))
        except AlreadyDone:
            # A concurrent delivery of the same message won: follow its plan, not ours.
            return FollowUp.from_dict(ports.subscribers.receipt(dedupe_key) or {})
        return plan

    # No phone in the message: Lambda logs the error that makes it retry the delivery.
    return retry_on_conflict(attempt, gave_up="the subscriber kept changing; the delivery will be retried")


def _change(
    shop: Shop,
    phone: str,
    sms: InboundSms,
    intent: Intent,
    existing: Subscriber | None,
    decision: InboundDecision,
    dedupe_key: str,
    plan: FollowUp,
) -> SubscriberChange:
    event = None
    if decision.consent_action and decision.subscriber:
        event = ConsentEvent(
            shop_id=shop.shop_id,
            phone=phone,
            at=sms.received_at,
            event_id=sms.message_id,
            action=decision.consent_action,
            source=ConsentSource.SMS,
            text=sms.body,
        )
    line = ConversationMessage(
        shop_id=shop.shop_id,
        phone=phone,
        at=sms.received_at,
        message_id=sms.message_id,
        direction=Direction.INBOUND,
        body=sms.body,
        intent=intent.value if not decision.is_conversation else Intent.MESSAGE.value,
    )
    return SubscriberChange(
        subscriber=decision.subscriber,
        expected_version=existing.version if existing else None,
        event=event,
        message=line,
        dedupe_key=dedupe_key,
        receipt=plan.to_dict(),
    )


def _follow_up(ports: Ports, shop: Shop, phone: str, sms: InboundSms, plan: FollowUp) -> bool:
    texted = _e164(sms.to_number, ports)
    # A STOP or START on any pool number is the subscriber's choice for the shop: every number's list follows.
    lists = shop.number_list() or [texted]
    if plan.opt_out_list is OptOutListChange.REMOVE:
        try:
            ports.sms.remove_opt_out(lists, phone)
        except ProviderRejected as exc:
            # AWS lets a number leave the opt-out list once per 30 days. Our record says active; the
            # carrier block stays until then, so sends are refused (and recorded) rather than retried.
            logger.warning("opt-out list removal refused", extra={"shop_id": shop.shop_id, "code": exc.code})
    replied = False
    if plan.reply is not None:
        replied = _send_auto_reply(ports, shop, _answer_from(shop, texted, plan.reply), phone, sms, plan.reply)
    if plan.opt_out_list is OptOutListChange.ADD:
        # After the confirmation: End User Messaging refuses every send to a listed number.
        ports.sms.add_opt_out(lists, phone)
    if plan.inbox is not None:
        # Idempotent (the conversation ignores news it already has), so a retried delivery may repeat it.
        inbox.on_inbound(ports, shop.shop_id, phone, at=sms.received_at, body=sms.body, event=plan.inbox, number=texted)
    return replied


def _answer_from(shop: Shop, texted: str, reply: AutoReply) -> str:
    """The number an auto-reply comes from. STOP and HELP are answered by the number the subscriber texted (the
    carriers' rule: the answer comes from where the keyword went); keyword confirmations and welcome texts come
    from the shop's primary number, the one its subscribers are told to save."""
    if reply in (AutoReply.STOP, AutoReply.HELP):
        return texted
    return shop.primary or texted


def _send_auto_reply(ports: Ports, shop: Shop, sender: str, phone: str, sms: InboundSms, reply: AutoReply) -> bool:
    if not shop.installed:
        logger.info("auto-reply not sent: the shop uninstalled the app", extra={"shop_id": shop.shop_id, "reply": reply.value})
        return False
    claim = OnceClaim(ports.claims, f"auto-reply#{sms.message_id}")
    body = shop.settings.render(getattr(shop.settings, reply.value))
    outgoing = OutboundSms(
        shop_id=shop.shop_id,
        from_number=sender,
        to_number=phone,
        body=body,
        kind=MessageKind.COMPLIANCE,
        dedupe_key=claim.key,
    )
    line = ConversationMessage(
        shop_id=shop.shop_id,
        phone=phone,
        at=ports.clock.now(),
        message_id=f"reply-{sms.message_id}",
        direction=Direction.OUTBOUND,
        body=body,
        kind=MessageKind.COMPLIANCE,
    )
    delivered = outbound.deliver(ports, outgoing, claim, line)
    if delivered.outcome is Delivery.THROTTLED:
        assert delivered.error is not None
        # Definitely not sent and the claim is free again: the retried delivery answers (consent work is durable).
        raise delivered.error
    if delivered.outcome is Delivery.SENT:
        logger.info("auto-reply sent", extra={"shop_id": shop.shop_id, "reply": reply.value})
        return True
    # TAKEN: an earlier delivery sent it (or is sending it). Refused or unconfirmed: final, never sent again;
    # the consent work goes on either way.
    return False
