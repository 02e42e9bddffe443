"""The HTTP contract, machine-readable. tests/unit/test_openapi.py keeps it equal to the app's routes."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}},
        }
    },
}
_HHMM = {"type": "string", "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"}
_E164 = {"type": "string", "pattern": "^\\+[1-9]\\d{6,14}$", "example": "+12125551234"}
_TIME = {"type": ["string", "null"], "format": "date-time"}

_MEDIA_URL = {
    "type": ["string", "null"],
    "maxLength": 2048,
    "description": "https link to a GIF, JPEG or PNG of at most 2 MB on a public host (port 443, no credentials): "
    "the campaign goes out as MMS. null: no image. Refused with 400 invalid_media_url, media_too_large, "
    "unsupported_media_type or media_unreachable.",
}
SCHEMAS: dict[str, Any] = {
    "Error": _ERROR,
    "QuietHours": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"enabled": {"type": "boolean"}, "start": _HHMM, "end": _HHMM},
    },
    "FrequencyCap": {
        "type": ["object", "null"],
        "additionalProperties": False,
        "required": ["messages", "days"],
        "properties": {
            "messages": {"type": "integer", "minimum": 1, "maximum": 100},
            "days": {"type": "integer", "minimum": 1, "maximum": 90},
        },
    },
    "Settings": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "shop_name": {"type": "string", "maxLength": 60},
            "timezone": {"type": "string", "description": "IANA timezone", "example": "America/New_York"},
            "quiet_hours": {"$ref": "#/components/schemas/QuietHours"},
            "sender_number": {**_E164, "type": ["string", "null"]},
            "mps": {"type": "integer", "minimum": 1, "maximum": 3000, "description": "message parts per second"},
            "opt_in_keyword": {"type": "string", "pattern": "^[A-Za-z0-9]{2,20}$"},
            "welcome_text": {"type": "string"},
            "confirm_text": {"type": "string"},
            "stop_text": {"type": "string"},
            "help_text": {"type": "string"},
            "opt_out_hint": {"type": "boolean"},
            "attribution_window_days": {"type": "integer", "minimum": 1, "maximum": 30},
            "frequency_cap": {"$ref": "#/components/schemas/FrequencyCap"},
        },
    },
    "Subscriber": {
        "type": "object",
        "properties": {
            "phone": _E164,
            "status": {"enum": ["pending", "active", "opted_out"]},
            "source": {"enum": ["checkout", "keyword", "import", "api"]},
            "name": {"type": ["string", "null"]},
            "profile_url": {"type": ["string", "null"], "format": "uri"},
            "joined_at": _TIME,
            "updated_at": _TIME,
            "opted_out_at": _TIME,
        },
    },
    "ConsentEvent": {
        "type": "object",
        "properties": {
            "at": _TIME,
            "action": {"enum": ["requested", "opted_in", "opted_out"]},
            "source": {"enum": ["sms", "checkout", "import", "api", "merchant"]},
            "text": {"type": "string"},
        },
    },
    "SubscriberDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Subscriber"},
            {
                "type": "object",
                "properties": {"consent_history": {"type": "array", "items": {"$ref": "#/components/schemas/ConsentEvent"}}},
            },
        ]
    },
    "NewSubscriber": {
        "type": "object",
        "additionalProperties": False,
        "required": ["phone"],
        "properties": {
            "phone": {"type": "string", "description": "E.164 or a national form; normalised"},
            "source": {"enum": ["checkout", "keyword", "import", "api"], "default": "api"},
            "name": {"type": "string", "maxLength": 100},
            "profile_url": {"type": "string", "format": "uri", "description": "https only"},
            "consent_text": {"type": "string", "maxLength": 500, "description": "the consent wording the person saw"},
        },
    },
    "Stats": {
        "type": "object",
        "properties": {
            **{
                k: {"type": "integer", "minimum": 0}
                for k in ("planned", "sent", "skipped", "failed", "deferred", "segments", "clicks", "orders")
            },
            "revenue": {
                "type": "object",
                "properties": {"amount": {"type": "integer"}, "currency": {"type": ["string", "null"]}},
            },
        },
    },
    "Campaign": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "message": {"type": "string"},
            "media_url": {"type": ["string", "null"], "description": "the image link the campaign was given"},
            "channel": {"enum": ["sms", "mms"]},
            "segment_id": {"type": "string"},
            "send_at": {"type": ["string", "null"], "description": '"now" or a store-local date-time'},
            "send_at_utc": _TIME,
            "timezone": {"type": "string"},
            "status": {"enum": ["draft", "scheduled", "in_progress", "completed"]},
            "active": {"type": "boolean"},
            "created_at": _TIME,
            "updated_at": _TIME,
            "started_at": _TIME,
            "completed_at": _TIME,
            "ended_early": {"type": "boolean"},
            "not_sent": {"type": "integer", "minimum": 0},
            "stats": {"$ref": "#/components/schemas/Stats"},
        },
    },
    "NewCampaign": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "message", "segment_id"],
        "properties": {
            "name": {"type": "string", "maxLength": 100},
            "message": {"type": "string", "maxLength": 1000, "description": "{first_name|fallback}, {name}, {shop_name}"},
            "media_url": _MEDIA_URL,
            "segment_id": {"type": "string"},
            "send_at": {"type": "string", "description": '"now" or a store-local date-time such as 2026-12-01T10:00'},
            "draft": {"type": "boolean", "default": False},
        },
    },
    "CampaignChange": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 100},
            "message": {"type": "string", "maxLength": 1000},
            "media_url": _MEDIA_URL,
            "segment_id": {"type": "string"},
            "send_at": {"type": "string"},
            "draft": {"type": "boolean", "description": "false launches a draft; true takes a scheduled one back"},
        },
    },
    "CampaignPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Campaign"}},
            "next_cursor": {"type": ["string", "null"]},
            "totals": {"$ref": "#/components/schemas/Stats"},
        },
    },
    "Active": {
        "type": "object",
        "additionalProperties": False,
        "required": ["active"],
        "properties": {"active": {"type": "boolean"}},
    },
    "PreviewRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["message", "segment_id"],
        "properties": {
            "message": {"type": "string"},
            "segment_id": {"type": "string"},
            "send_at": {"type": "string"},
            "media_url": _MEDIA_URL,
        },
    },
    "Preview": {
        "type": "object",
        "properties": {
            "characters": {"type": "integer"},
            "encoding": {"enum": ["GSM-7", "UCS-2"]},
            "channel": {"enum": ["sms", "mms"]},
            "segments": {"type": "integer", "description": "billed parts per recipient (an MMS is 1 whatever its text)"},
            "recipients": {"type": "integer"},
            "deferred": {"type": "integer"},
            "waves": {
                "type": "array",
                "items": {"type": "object", "properties": {"release_at": _TIME, "recipients": {"type": "integer"}}},
            },
            "estimated_cost": {
                "type": "object",
                "properties": {"amount": {"type": "integer"}, "currency": {"type": "string"}, "parts": {"type": "integer"}},
            },
        },
    },
    "Segment": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "rule": {"type": "object", "description": '{"all"|"any": [conditions or groups]}; condition {field, op, value}'},
            "builtin": {"type": "boolean"},
        },
    },
    "NewSegment": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "rule"],
        "properties": {"name": {"type": "string", "maxLength": 100}, "rule": {"type": "object"}},
    },
    "SegmentList": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Segment"}}},
    },
    "SegmentCount": {
        "type": "object",
        "properties": {"segment_id": {"type": "string"}, "count": {"type": "integer", "minimum": 0}},
    },
    "Conversation": {
        "type": "object",
        "properties": {
            "phone": _E164,
            "status": {"enum": ["unresolved", "resolved", "opted_out"]},
            "last_activity_at": _TIME,
            "last_inbound_at": _TIME,
            "last_message": {"type": "string"},
            "last_direction": {"enum": ["inbound", "outbound"]},
        },
    },
    "ConversationPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Conversation"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "UnresolvedCount": {"type": "object", "properties": {"unresolved": {"type": "integer", "minimum": 0}}},
    "Message": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "at": _TIME,
            "direction": {"enum": ["inbound", "outbound"]},
            "kind": {"enum": ["campaign", "reply", "compliance", None]},
            "body": {"type": "string"},
            "media_urls": {"type": "array", "items": {"type": "string"}},
            "campaign_id": {"type": ["string", "null"]},
        },
    },
    "Reply": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "phone": _E164,
            "text": {"type": "string"},
            "state": {"enum": ["scheduled", "sent", "cancelled", "failed"]},
            "created_at": _TIME,
            "send_at": _TIME,
            "image_url": {"type": ["string", "null"]},
            "reason": {"type": ["string", "null"]},
        },
    },
    "NewReply": {
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "properties": {
            "text": {"type": "string"},
            "image_url": {"type": "string", "format": "uri", "description": "https image (gif, jpeg, png)"},
            "discount_code": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
            "quiet_hours": {
                "enum": ["ask", "send_now", "schedule"],
                "default": "ask",
                "description": "ask: 409 quiet_hours with opens_at; send_now: override; schedule: send when the window opens",
            },
        },
    },
    "Thread": {
        "type": "object",
        "properties": {
            "subscriber": {
                "type": "object",
                "properties": {
                    "phone": _E164,
                    "name": {"type": ["string", "null"]},
                    "profile_url": {"type": ["string", "null"]},
                    "source": {"enum": ["checkout", "keyword", "import", "api"]},
                    "consent": {"enum": ["pending", "active", "opted_out"]},
                    "quiet_hours_now": {"type": "boolean"},
                    "quiet_until": _TIME,
                },
            },
            "conversation": {"$ref": "#/components/schemas/Conversation"},
            "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
            "next_cursor": {"type": ["string", "null"]},
            "scheduled_replies": {"type": "array", "items": {"$ref": "#/components/schemas/Reply"}},
        },
    },
    "SubscriberPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Subscriber"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: "invalid input",
        401: "missing or bad token",
        404: "not found",
        409: "conflict",
        413: "body too large",
        422: "Idempotency-Key reused for a different request (idempotency_key_reused)",
    }
    return {str(s): _json("Error", words[s]) for s in statuses}


_CAMPAIGN = {"name": "campaign_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SEGMENT = {"name": "segment_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
    "description": "Any unique string (a UUID) to make a retry safe: for 24 h, the same key from the same shop on "
    "this route with the same body returns the first response again (header Idempotent-Replayed: true) without "
    "doing it twice; with another body 422 idempotency_key_reused; while the first is running 409 "
    "request_in_progress. Failed requests are not kept. Otherwise 400 invalid_idempotency_key.",
}
_PHONE = {
    "name": "phone",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "E.164, URL-encoded (%2B...)",
}


def _op(
    summary: str, responses: dict[str, Any], *, body: str | None = None, params: list[Any] | None = None, auth: bool = True
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if params:
        op["parameters"] = params
    if not auth:
        op["security"] = []
    return op


PATHS: dict[str, dict[str, Any]] = {
    "/openapi.json": {"get": _op("This document", {"200": {"description": "OpenAPI 3.1"}}, auth=False)},
    "/settings": {
        "get": _op("The shop's settings", {"200": _json("Settings", "settings"), **_errors(401)}),
        "patch": _op(
            "Change some settings (all-or-nothing)",
            {"200": _json("Settings", "settings after the change"), **_errors(400, 401, 409, 413)},
            body="Settings",
        ),
    },
    "/subscribers": {
        "post": _op(
            "Add a subscriber the shop has consent for",
            {
                "201": _json("Subscriber", "created"),
                "200": _json("Subscriber", "already known; profile refreshed"),
                **_errors(400, 401, 409, 413),
            },
            body="NewSubscriber",
        ),
        "get": _op(
            "List subscribers",
            {"200": _json("SubscriberPage", "one page"), **_errors(400, 401)},
            params=[
                {"name": "status", "in": "query", "schema": {"enum": ["pending", "active", "opted_out"]}},
                {"name": "source", "in": "query", "schema": {"enum": ["checkout", "keyword", "import", "api"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            ],
        ),
    },
    "/subscribers/{phone}": {
        "get": _op(
            "One subscriber with consent history",
            {"200": _json("SubscriberDetail", "subscriber"), **_errors(400, 401, 404)},
            params=[_PHONE],
        ),
    },
    "/subscribers/{phone}/opt-out": {
        "post": _op(
            "Opt a subscriber out (idempotent)",
            {"200": _json("Subscriber", "opted out"), **_errors(400, 401, 404)},
            params=[_PHONE],
        ),
    },
    "/segments": {
        "get": _op("Built-in and custom segments", {"200": _json("SegmentList", "segments"), **_errors(401)}),
        "post": _op("Create a custom segment", {"201": _json("Segment", "created"), **_errors(400, 401, 413)}, body="NewSegment"),
    },
    "/segments/{segment_id}/count": {
        "get": _op(
            "How many subscribers a segment reaches now",
            {"200": _json("SegmentCount", "count"), **_errors(401, 404)},
            params=[_SEGMENT],
        ),
    },
    "/campaigns": {
        "post": _op(
            "Create a campaign: a draft, scheduled for a store-local date, or sent now",
            {"201": _json("Campaign", "created"), **_errors(400, 401, 409, 413, 422)},
            body="NewCampaign",
            params=[_IDEMPOTENCY_KEY],
        ),
        "get": _op(
            "Campaigns, newest first, with stats and totals",
            {"200": _json("CampaignPage", "one page"), **_errors(400, 401)},
            params=_PAGING,
        ),
    },
    "/campaigns/preview": {
        "post": _op(
            "Size, audience, quiet-hours waves and estimated cost of a campaign",
            {"200": _json("Preview", "preview"), **_errors(400, 401, 413)},
            body="PreviewRequest",
        ),
    },
    "/campaigns/{campaign_id}": {
        "get": _op("One campaign", {"200": _json("Campaign", "campaign"), **_errors(401, 404)}, params=[_CAMPAIGN]),
        "patch": _op(
            "Edit a draft or scheduled campaign (a schedule moves with its date)",
            {"200": _json("Campaign", "campaign"), **_errors(400, 401, 404, 409, 413)},
            body="CampaignChange",
            params=[_CAMPAIGN],
        ),
        "delete": _op(
            "Delete a draft or scheduled campaign",
            {"204": {"description": "deleted"}, **_errors(401, 404, 409)},
            params=[_CAMPAIGN],
        ),
    },
    "/campaigns/{campaign_id}/active": {
        "put": _op(
            "The on/off switch of a dated campaign (Draft <-> Scheduled)",
            {"200": _json("Campaign", "campaign"), **_errors(400, 401, 404, 409)},
            body="Active",
            params=[_CAMPAIGN],
        ),
    },
    "/campaigns/{campaign_id}/end": {
        "post": _op(
            "End an in-progress campaign now: nothing further is sent",
            {"200": _json("Campaign", "campaign"), **_errors(401, 404, 409)},
            params=[_CAMPAIGN],
        ),
    },
    "/inbox": {
        "get": _op(
            "Conversations in one status, most recent activity first",
            {"200": _json("ConversationPage", "one page"), **_errors(400, 401)},
            params=[
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"enum": ["unresolved", "resolved", "opted_out"], "default": "unresolved"},
                },
                *_PAGING,
            ],
        ),
    },
    "/inbox/unresolved-count": {
        "get": _op("Unresolved conversations (the red dot)", {"200": _json("UnresolvedCount", "count"), **_errors(401)}),
    },
    "/inbox/{phone}": {
        "get": _op(
            "A conversation: subscriber card, history oldest first, scheduled replies",
            {"200": _json("Thread", "thread"), **_errors(400, 401, 404)},
            params=[_PHONE, *_PAGING],
        ),
    },
    "/inbox/{phone}/replies": {
        "post": _op(
            "Reply; in quiet hours: ask (409 quiet_hours), send_now, or schedule",
            {
                "201": _json("Reply", "sent"),
                "202": _json("Reply", "scheduled for when the subscriber's quiet hours end"),
                **_errors(400, 401, 404, 409, 413, 422),
            },
            body="NewReply",
            params=[_PHONE, _IDEMPOTENCY_KEY],
        ),
    },
    "/inbox/{phone}/resolve": {
        "post": _op(
            "Mark resolved", {"200": _json("Conversation", "conversation"), **_errors(400, 401, 404, 409)}, params=[_PHONE]
        ),
    },
    "/inbox/{phone}/unresolve": {
        "post": _op(
            "Mark unresolved", {"200": _json("Conversation", "conversation"), **_errors(400, 401, 404, 409)}, params=[_PHONE]
        ),
    },
    "/inbox/{phone}/opt-out": {
        "post": _op(
            "Unsubscribe (consent event with the merchant as source)",
            {"200": _json("Conversation", "conversation"), **_errors(400, 401, 404)},
            params=[_PHONE],
        ),
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "smscast", "version": "1.0.0", "description": "SMS marketing for online stores."},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "shop API key or Shopify session token"}
            },
        },
        "security": [{"bearer": []}],
        "paths": PATHS,
    }
