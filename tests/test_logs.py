"""Structured JSON logs carry the request id on every line."""

from __future__ import annotations

import io
import json
import logging

from router.logs import JsonFormatter, RequestIdFilter


def test_every_line_of_a_request_carries_its_request_id(client, token) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("router")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        resp = client.post(
            "/v1/tickets",
            json={"id": "log-1", "body": "my card was stolen"},
            headers={**token("ingest"), "X-Request-Id": "req-abc-123"},
        )
        other = client.get("/healthz")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert resp.headers["X-Request-Id"] == "req-abc-123"
    assert len(other.headers["X-Request-Id"]) == 32  # generated when the caller sends none
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line for line in lines if line["request_id"] == "req-abc-123"]
    assert ours and all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in ours if line["logger"] == "router.http"]
    assert access[0]["status"] == 201 and access[0]["endpoint"] == "/v1/tickets"


def test_a_hostile_request_id_is_replaced(client) -> None:
    resp = client.get("/healthz", headers={"X-Request-Id": "x" * 500})
    assert len(resp.headers["X-Request-Id"]) == 32
