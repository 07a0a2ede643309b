"""Hostile bodies on the four intake endpoints: a 4xx naming the field, on both databases, nothing stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from router.api._common import MAX_JSON_DEPTH, parse_json
from router.auth import create_token
from router.db import Decision, Ticket
from router.errors import MalformedRequest, ValidationError
from router.testing.webhooks import freshdesk_headers, generic_headers, zendesk_headers

from .conftest import Api

MARK = "@@hostile@@"


def _ticket(source: str, field: str) -> dict[str, Any]:
    """A valid ticket of ``source`` whose ``field`` (subject, body, id or number) holds the marker."""
    if source in ("tickets", "generic"):
        t: dict[str, Any] = {"id": "T-1", "subject": "Card stolen", "body": "Please block my card", "metadata": {}}
        names = {"subject": "subject", "body": "body", "id": "id"}
        if field == "number":
            t["metadata"]["n"] = MARK
            return t
        t[names[field]] = MARK
        return t
    if source == "zendesk":
        z: dict[str, Any] = {"id": 7, "subject": "Card stolen", "description": "Please block my card"}
        key = {"subject": "subject", "body": "description", "id": "id", "number": "group_id"}[field]
        z[key] = MARK
        return {"ticket": z}
    f: dict[str, Any] = {"ticket_id": 7, "ticket_subject": "Card stolen", "ticket_description": "Please block my card"}
    keys = {"subject": "ticket_subject", "body": "ticket_description", "id": "ticket_id", "number": "ticket_priority"}
    f[keys[field]] = MARK
    return {"freshdesk_webhook": f}


def _path(source: str, field: str) -> str:
    """Where the refused value sits in the body the client sent."""
    if source in ("tickets", "generic"):
        return "metadata.n" if field == "number" else field
    if source == "zendesk":
        return "ticket." + {"subject": "subject", "body": "description", "id": "id", "number": "group_id"}[field]
    key = {"subject": "ticket_subject", "body": "ticket_description", "id": "ticket_id", "number": "ticket_priority"}
    return "freshdesk_webhook." + key[field]


# (case id, field, raw JSON put in place of the field's value, status, message in errors[field])
VALUES = [
    ("lone-surrogate", "subject", r'"card \ud800 stolen"', 422, "lone UTF-16 surrogate"),
    ("nul-in-subject", "subject", r'"a\u0000b"', 422, "NUL character"),
    ("nul-in-body", "body", r'"a\u0000b"', 422, "NUL character"),
    ("nul-in-id", "id", r'"a\u0000b"', 422, "NUL character"),
    ("1e400", "number", "1e400", 400, "out of the range"),
    ("NaN", "number", "NaN", 400, "not a JSON number"),
    ("Infinity", "number", "-Infinity", 400, "not a JSON number"),
]
SOURCES = ["tickets", "generic", "zendesk", "freshdesk"]


def _body(source: str, field: str, raw: str) -> bytes:
    return json.dumps(_ticket(source, field)).replace(f'"{MARK}"', raw).encode()


def _send(client: Any, source: str, body: bytes, ingest: dict[str, str]) -> Any:
    if source == "tickets":
        return client.post("/v1/tickets", data=body, headers={"Content-Type": "application/json", **ingest})
    headers = {
        "generic": lambda: generic_headers(body, "generic-secret"),
        "zendesk": lambda: zendesk_headers(body, "zendesk-secret"),
        "freshdesk": lambda: freshdesk_headers("freshdesk-secret"),
    }[source]()
    return client.post(f"/v1/webhooks/{source}", data=body, headers=headers)


@pytest.fixture
def intake(api: Api) -> tuple[Any, Any, dict[str, str]]:
    return api.client, api.ctx, api.token("ingest")


def _stored(ctx: Any) -> tuple[int, int]:
    with ctx.db.session() as s:
        return s.scalar(select(func.count(Ticket.id))), s.scalar(select(func.count(Decision.id)))


def test_hostile_values_are_refused_with_the_field_named_and_nothing_stored(intake) -> None:
    client, ctx, ingest = intake
    for source in SOURCES:
        for case, field, raw, status, message in VALUES:
            resp = _send(client, source, _body(source, field, raw), ingest)
            where = f"{source} {case}"
            assert resp.status_code == status, (where, resp.get_data(as_text=True))
            errors = resp.json["errors"]
            assert any(message in m for m in errors.get(_path(source, field), [])), (where, errors)
            assert resp.json["status"] == status and isinstance(resp.json["code"], str)
    assert _stored(ctx) == (0, 0)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_200, 10_000], ids=lambda d: f"depth-{d}")
def test_deeply_nested_bodies_are_400_on_every_intake_endpoint(intake, depth: int) -> None:
    client, ctx, ingest = intake
    nested = "[" * depth + "]" * depth
    for source in SOURCES:
        resp = _send(client, source, _body(source, "number", nested), ingest)
        assert resp.status_code == 400, (source, resp.get_data(as_text=True))
        assert "deep" in json.dumps(resp.json["errors"]), (source, resp.json)
    assert _stored(ctx) == (0, 0)


def test_duplicate_keys_are_refused_with_the_key_named(intake) -> None:
    client, ctx, ingest = intake
    for source in SOURCES:
        body = _body(source, "subject", '"Card stolen", "x": 1, "x": 2')
        resp = _send(client, source, body, ingest)
        assert resp.status_code == 400, (source, resp.get_data(as_text=True))
        assert any(k.endswith("x") for k in resp.json["errors"]), (source, resp.json)
        assert "more than once" in resp.json["message"]
    assert _stored(ctx) == (0, 0)


def test_a_channel_that_is_not_a_string_is_422(intake) -> None:
    client, ctx, ingest = intake
    body = json.dumps({"id": "T-1", "body": "Please block my card", "channel": 2}).encode()
    resp = _send(client, "tickets", body, ingest)
    assert resp.status_code == 422 and "channel" in resp.json["errors"], resp.json
    assert _stored(ctx) == (0, 0)


def test_a_numeric_freshdesk_ticket_source_is_422(intake) -> None:
    """The adapter passes the value through; the schema refuses a channel that is not a string."""
    client, ctx, ingest = intake
    payload = {"freshdesk_webhook": {"ticket_id": 7, "ticket_subject": "Card stolen", "ticket_source": 2}}
    resp = _send(client, "freshdesk", json.dumps(payload).encode(), ingest)
    assert resp.status_code == 422 and resp.json["errors"], resp.json
    assert _stored(ctx) == (0, 0)


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        (b'{"a": 1, "a": 2}', MalformedRequest, "a"),
        (b'{"m": {"n": NaN}}', MalformedRequest, "m.n"),
        (b'{"m": [0, 1e400]}', MalformedRequest, "m.1"),
        (b'{"n": 1' + b"0" * 5000 + b"}", MalformedRequest, "n"),
        (b'"\\ud800"', ValidationError, "body"),
        (b'{"k\\u0000": "v"}', ValidationError, "k\\u0000"),
        (b"\xff{}", MalformedRequest, "body"),
        (b"{", MalformedRequest, "body"),
    ],
    ids=["duplicate", "nan", "overflow", "digits", "surrogate", "nul-key", "not-utf8", "syntax"],
)
def test_parse_json_names_what_it_refuses(body: bytes, error: type[Exception], field: str) -> None:
    with pytest.raises(error) as raised:
        parse_json(body)
    assert field in raised.value.errors  # type: ignore[attr-defined]


def test_parse_json_keeps_ordinary_json() -> None:
    body = '{"a": [1, 2.5, -3e10, "x\u00e9\U0001f600", {"b": null, "c": true}]}'.encode()
    assert parse_json(body) == json.loads(body)
    escaped = json.dumps({"s": "smile \U0001f600", "k\u00e9": "\\u0000 is text here"}).encode()  # a surrogate pair
    assert parse_json(escaped) == json.loads(escaped)
    deepest = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(deepest.encode()) == json.loads(deepest)
    with pytest.raises(MalformedRequest):
        parse_json(("[" + deepest + "]").encode())


def test_nul_in_a_path_query_or_form_is_422_on_both_databases(intake) -> None:
    client, ctx, _ = intake
    admin = {"Authorization": f"Bearer {create_token(ctx.db, 'admin')}"}
    for method, url, field in [
        ("get", "/v1/tickets/generic/a%00b", "path"),
        ("get", "/v1/models/a%00b", "path"),
        ("post", "/v1/models/a%00b/retire", "path"),
        ("get", "/v1/review?intent=a%00b", "intent"),
        ("get", "/v1/monitoring/drift?model=a%00b", "model"),
    ]:
        resp = getattr(client, method)(url, headers=admin, **({"json": {}} if method == "post" else {}))
        assert resp.status_code == 422, (url, resp.get_data(as_text=True))
        assert field in resp.json["errors"], (url, resp.json)


def test_schema_bodies_are_parsed_by_the_same_rules(intake) -> None:
    client, ctx, _ = intake
    admin = {"Authorization": f"Bearer {create_token(ctx.db, 'admin')}", "Content-Type": "application/json"}
    deep = b"[" * 5_000 + b"]" * 5_000
    for url in ["/v1/review/1/resolve", "/v1/models/rollback", "/v1/rules/validate"]:
        resp = client.post(url, headers=admin, data=deep)
        assert resp.status_code == 400, (url, resp.get_data(as_text=True))
        dup = client.post(url, headers=admin, data=b'{"reason": "a", "reason": "b"}')
        assert dup.status_code == 400 and "reason" in dup.json["errors"], (url, dup.json)
