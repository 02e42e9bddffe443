"""A route whose path parameter is empty (/segments//count) answers a 4xx in the one error shape, never a 500:
DynamoDB refuses an empty key, so an unchecked one surfaced as a ValidationException."""

from __future__ import annotations

import re

import pytest

from tests.unit.conftest import Api, openapi


def _paths_with_ids() -> list[tuple[str, str]]:
    routes = []
    for path, item in openapi()["paths"].items():
        if "{" not in path or path.endswith("}"):
            continue  # a trailing empty parameter is the collection's own path (/campaigns/ lists campaigns)
        for method in item:
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                routes.append((method.upper(), path))
    return sorted(routes)


@pytest.mark.parametrize(("method", "path"), _paths_with_ids())
def test_an_empty_path_parameter_is_a_4xx(api: Api, method: str, path: str) -> None:
    empty = re.sub(r"\{[^}]+\}", "", path)  # /campaigns/{campaign_id}/end -> /campaigns//end
    response = api.call(method, empty, body={} if method in ("POST", "PUT", "PATCH") else None)
    assert 400 <= response.status_code < 500, (method, empty, response.status_code, response.body)
