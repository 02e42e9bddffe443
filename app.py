"""smscast: the Chalice app. Registers blueprints and event handlers, nothing else."""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from chalicelib.api import campaigns, inbox, links, meta, segments, settings, signup, subscribers, web, webhooks
from chalicelib.workers import campaign_jobs, campaign_sends, delivery_receipts, inbound_sms, list_jobs, shopify_webhooks

app = Chalice(app_name="smscast")
app.register_blueprint(meta.bp)
app.register_blueprint(settings.bp)
app.register_blueprint(subscribers.bp)
app.register_blueprint(signup.bp)
app.register_blueprint(segments.bp)
app.register_blueprint(campaigns.bp)
app.register_blueprint(inbox.bp)
app.register_blueprint(webhooks.bp)
app.register_blueprint(links.bp)
app.register_blueprint(web.bp)


# A plain function (not on_sns_message): the SNS subscription and its failure destination are declared in
# infra/, so the topic name is not baked into the code and retries park failures on a queue.
@app.lambda_function(name="inbound_sms")
def inbound_sms_handler(event: dict[str, Any], context: Any) -> None:
    inbound_sms.handle_sns_event(event, context)


# SQS consumers: plain functions with Powertools' partial batch response; event source mappings in infra/.
@app.lambda_function(name="campaign_jobs")
def campaign_jobs_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(campaign_jobs.handle_sqs_event(event, context))  # dict(): the tracer decorator erases the type


@app.lambda_function(name="campaign_sends")
def campaign_sends_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(campaign_sends.handle_sqs_event(event, context))


@app.lambda_function(name="shopify_webhooks")
def shopify_webhooks_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(shopify_webhooks.handle_sqs_event(event, context))


@app.lambda_function(name="delivery_receipts")
def delivery_receipts_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(delivery_receipts.handle_sqs_event(event, context))


@app.lambda_function(name="list_jobs")
def list_jobs_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(list_jobs.handle_sqs_event(event, context))
