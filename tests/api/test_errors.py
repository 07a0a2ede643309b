"""Every JSON error has the shape the OpenAPI document declares: code a string, status an integer, errors an object."""

from __future__ import annotations

from typing import Any

import pytest

_TYPES = {"string": str, "integer": int, "object": dict, "array": list, "boolean": bool, "number": (int, float)}


def _error_schema(client: Any) -> dict[str, Any]:
    components = client.get("/openapi.json").json["components"]
    ref = components["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = components["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def test_the_documented_error_schema_is_the_one_answered(client) -> None:
    props = _error_schema(client)["properties"]
    assert {k: v["type"] for k, v in props.items()} == {
        "code": "string",
        "status": "integer",
        "message": "string",
        "errors": "object",
    }
    doc = client.get("/openapi.json").json
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            for status, resp in op.get("responses", {}).items():
                if (path, status) == ("/readyz", "503"):
                    continue  # not ready answers the readiness report itself
                if status == "default" or int(status) >= 400:
                    ref = resp.get("$ref") or resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref.rsplit("/", 1)[-1] in ("DEFAULT_ERROR", "UNPROCESSABLE_ENTITY", "ErrorOut"), (
                        path,
                        method,
                    )


RULES_BROKEN = "version: 1\ndefault: {queue: nowhere, priority: normal}\nqueues: {general: G}\nrules: []\n"


@pytest.mark.parametrize(
    ("method", "path", "role", "kwargs", "status"),
    [
        pytest.param("get", "/v1/nothing-here", "viewer", {}, 404, id="404-route"),
        pytest.param("delete", "/v1/tickets", "admin", {}, 405, id="405"),
        pytest.param("get", "/v1/models", None, {}, 401, id="401"),
        pytest.param("post", "/v1/models/rollback", "viewer", {"json": {}}, 403, id="403"),
        pytest.param(
            "post", "/v1/tickets", "ingest", {"data": b"{", "content_type": "application/json"}, 400, id="400"
        ),
        pytest.param("post", "/v1/tickets", "ingest", {"data": b"x", "content_type": "text/plain"}, 415, id="415"),
        pytest.param(
            "post",
            "/v1/tickets",
            "ingest",
            {"data": b" " * 2_000_000, "content_type": "application/json"},
            413,
            id="413",
        ),
        pytest.param("get", "/v1/review?page=0", "reviewer", {}, 422, id="422-query"),
        pytest.param("post", "/v1/review/1/resolve", "reviewer", {"json": {}}, 422, id="422-body"),
        pytest.param("post", "/v1/tickets", "ingest", {"json": {"body": "no id"}}, 422, id="422-ticket"),
        pytest.param("post", "/v1/rules/dry-run", "viewer", {"json": {"content": RULES_BROKEN}}, 422, id="422-rules"),
        pytest.param("post", "/v1/rules/dry-run", "viewer", {"json": {"content": "a: [b"}}, 422, id="422-rules-yaml"),
        pytest.param("post", "/v1/models/rollback", "admin", {"json": {}}, 409, id="409"),
        pytest.param("get", "/v1/review/1", "reviewer", {}, 404, id="404-item"),
    ],
)
def test_every_error_matches_the_documented_schema(
    client, token, method: str, path: str, role: str | None, kwargs: dict[str, Any], status: int
) -> None:
    props = _error_schema(client)["properties"]
    resp = getattr(client, method)(path, headers=token(role) if role else {}, **kwargs)
    assert resp.status_code == status and resp.mimetype == "application/json", resp.get_data(as_text=True)[:300]
    if status == 405:  # says what the path does take
        assert "POST" in resp.headers["Allow"].split(", ")
    body = resp.json
    assert set(body) == set(props)
    for name, spec in props.items():
        assert isinstance(body[name], _TYPES[spec["type"]]), (name, body)
    assert body["status"] == status
    for field, messages in body["errors"].items():
        assert isinstance(field, str) and isinstance(messages, list | dict), (field, messages)


def test_rule_set_problems_are_keyed_by_where_with_their_lines(client, token) -> None:
    resp = client.post("/v1/rules/dry-run", json={"content": RULES_BROKEN}, headers=token("viewer"))
    errors = resp.json["errors"]
    assert resp.status_code == 422 and isinstance(errors, dict) and errors
    assert all(isinstance(m, str) for messages in errors.values() for m in messages), errors
    assert errors["default.queue"] == ["unknown queue 'nowhere'"]
    listed = client.post("/v1/rules/validate", json={"content": RULES_BROKEN}, headers=token("viewer")).json
    assert listed["valid"] is False and isinstance(listed["problems"], list) and listed["problems"][0]["where"]


@pytest.mark.parametrize(
    ("method", "path", "role", "kwargs", "code"),
    [
        pytest.param("get", "/v1/review?page=0", "reviewer", {}, "validation_error", id="query"),
        pytest.param("post", "/v1/review/1/resolve", "reviewer", {"json": {}}, "validation_error", id="body"),
        pytest.param("post", "/v1/tickets", "ingest", {"json": {"body": "no id"}}, "validation_error", id="ticket"),
        pytest.param(
            "post", "/v1/rules/validate", "viewer", {"data": b"{", "content_type": "application/json"},
            "malformed_request", id="json-schema-route",
        ),
        pytest.param(
            "post", "/v1/tickets", "ingest", {"data": b"{", "content_type": "application/json"},
            "malformed_request", id="json-intake",
        ),
        pytest.param(
            "post", "/v1/tickets", "ingest", {"data": b" " * 2_000_000, "content_type": "application/json"},
            "payload_too_large", id="too-large",
        ),
        pytest.param("delete", "/v1/tickets", "admin", {}, "method_not_allowed", id="method"),
    ],
)  # fmt: skip
def test_one_vocabulary_of_codes_whoever_raised_the_error(
    client, token, method: str, path: str, role: str, kwargs: dict[str, Any], code: str
) -> None:
    resp = getattr(client, method)(path, headers=token(role), **kwargs)
    assert resp.json["code"] == code, resp.json
    assert isinstance(resp.json["errors"], dict)
