"""What every API model shares: strict parsing, text that may be stored and sent, pages, the error shape."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, create_model
from pydantic.fields import FieldInfo

M = TypeVar("M", bound=BaseModel)

# C0 and C1 control characters and DEL: a NUL or an escape sequence has no place in a name or an SMS.
_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
# Messages, replies and compliance texts may break lines (tab, LF, CR); nothing else below a space.
_CONTROL_BUT_LINES = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
# As patterns, so the JSON Schema refuses what the parser refuses: no control characters and at least one
# character that is not white space. Lone surrogates never get this far: the JSON parser refuses them.
SINGLE_LINE = f"^[^{_CONTROL}]*[^\\s{_CONTROL}][^{_CONTROL}]*$"
MULTI_LINE = f"^[^{_CONTROL_BUT_LINES}]*[^\\s{_CONTROL_BUT_LINES}][^{_CONTROL_BUT_LINES}]*$"
TOKEN = f"^[^\\s{_CONTROL}]+$"


def line(max_length: int) -> StringConstraints:
    """A one-line text (names, ids): no control characters, not blank, 1 to ``max_length`` characters."""
    return StringConstraints(min_length=1, max_length=max_length, pattern=SINGLE_LINE)


def lines(max_length: int) -> StringConstraints:
    """A text that may hold line breaks (messages, replies, compliance texts), otherwise as ``line``."""
    return StringConstraints(min_length=1, max_length=max_length, pattern=MULTI_LINE)


def token(max_length: int) -> StringConstraints:
    """A text without spaces or control characters (links, cursors)."""
    return StringConstraints(min_length=1, max_length=max_length, pattern=TOKEN)


def _absent_is_not_null(schema: dict[str, Any]) -> None:
    # A default of None means "not sent" (an edit leaves the field alone), not "null is accepted".
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class Body(BaseModel):
    """A request body: unknown fields refused, no coercion ("yes" is not true, "1" is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra=_absent_is_not_null)

    # The error code of a field that does not parse is ``invalid_<field>`` unless named here.
    error_codes: ClassVar[dict[str, str]] = {}
    # One code for every field of the body (settings answer invalid_settings whatever the field).
    error_code: ClassVar[str | None] = None


def _digits(value: object) -> object:
    # Query values are always text; only plain ASCII digits are a number (not "+5", " 5", "5_000" or "٥").
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,6}", value):
            raise ValueError("must be a whole number")
        return int(value)
    return value


Limit = Annotated[int, Field(ge=1, le=200), BeforeValidator(_digits)]
Cursor = Annotated[str, token(2048)]


class Query(Body):
    """Query parameters: unknown names refused too (a typo must not silently widen a listing)."""

    # Every value arrives as text: enums parse from their value, numbers through _digits only.
    model_config = ConfigDict(strict=False)


class AnyQuery(Query):
    """Query parameters a browser route ignores (a shared link picks up ?fbclid=... and the like)."""

    model_config = ConfigDict(strict=False, extra="ignore")


class Paged(Query):
    """A listing's page size and where to continue."""

    limit: Limit = 50
    cursor: Cursor | None = None


class Out(BaseModel):
    """A response body: what the API promises to send."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorDetail(Out):
    """What went wrong, for programs (``code``) and for people (``message``)."""

    code: str
    message: str
    details: dict[str, Any] | None = None


class Error(Out):
    """The one error shape of every 4xx and 5xx."""

    error: ErrorDetail


def partial(model: type[M], name: str, doc: str, nested: dict[str, Any] | None = None) -> type[M]:
    """``model`` with every field optional, for an edit where only the fields sent change. A field keeps its
    type and limits, so null stays refused where ``model`` refuses it; ``nested`` swaps in partial sub-models."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        annotation = (nested or {}).get(field_name, info.annotation)
        fields[field_name] = (annotation, FieldInfo.merge_field_infos(info, default=None))
    made: type[M] = create_model(name, __base__=model, __doc__=doc, __module__=model.__module__, **fields)
    return made


class OpenApiDocument(BaseModel):
    """GET /openapi.json: an OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow", frozen=True)

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
