"""smscast: the Chalice app. Registers blueprints and event handlers, nothing else."""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from chalicelib.api import meta, settings, subscribers
from chalicelib.workers import inbound_sms

app = Chalice(app_name="smscast")
app.register_blueprint(meta.bp)
app.register_blueprint(settings.bp)
app.register_blueprint(subscribers.bp)


# A plain function (not on_sns_message): the SNS subscription and its failure destination are declared in
# infra/, so the topic name is not baked into the code and retries park failures on a queue.
@app.lambda_function(name="inbound_sms")
def inbound_sms_handler(event: dict[str, Any], context: Any) -> None:
    inbound_sms.handle_sns_event(event, context)
