"""The rules admin API: ETags, validation with lines, roles, dry runs, versions and rollback."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from router.db import AuditEntry

NEW_RULE = """
  - id: gold-plan-first
    description: Gold plan customers first
    when:
      - ticket.metadata["plan"] == "gold"
    then:
      priority: urgent
      tags: [gold]
    examples:
      - ticket: {body: "What exchange rate do you use?", metadata: {plan: gold}}
        prediction: {intent: exchange_rate, confidence: 0.9}
        expect: {priority: urgent, tags: [gold]}
"""


def current(client: Any, token: Any) -> tuple[str, str]:
    resp = client.get("/v1/rules", headers=token("viewer"))
    assert resp.status_code == 200
    return resp.json["content"], resp.headers["ETag"]


def put(client: Any, token: Any, content: str, etag: str | None, role: str = "admin") -> Any:
    headers = {**token(role), **({"If-Match": etag} if etag else {})}
    return client.put("/v1/rules", json={"content": content, "reason": "test"}, headers=headers)


def test_get_shows_the_file_rule_set_with_an_etag(client, token) -> None:
    resp = client.get("/v1/rules", headers=token("viewer"))
    assert resp.json["source"] == "file" and resp.headers["ETag"] == f'"{resp.json["version"]}"'
    assert "routes:" in resp.json["content"]


def test_save_needs_if_match_and_the_current_etag(client, token, ctx) -> None:
    content, etag = current(client, token)
    edited = content + NEW_RULE
    assert put(client, token, edited, None).status_code == 428
    stale = put(client, token, edited, '"rs-000000000000"')
    assert stale.status_code == 412 and "changed since you read it" in stale.json["message"]
    saved = put(client, token, edited, etag)
    assert saved.status_code == 200, saved.json
    assert saved.headers["ETag"] != etag and "+  - id: gold-plan-first" in saved.json["diff"]
    assert current(client, token)[1] == saved.headers["ETag"]
    # the decision path uses it at once in this worker
    resp = client.post(
        "/v1/tickets?explain=full",
        json={"id": "g1", "body": "What exchange rate do you use?", "metadata": {"plan": "gold"}},
        headers=token("ingest"),
    )
    assert resp.json["priority"] == "urgent" and "gold" in resp.json["tags"]
    assert resp.json["ruleset_version"] == saved.json["version"]
    with ctx.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "rules.save")).one()
        assert entry.reason == "test" and entry.before == {"version": etag.strip('"')}


def test_an_invalid_rule_set_is_refused_with_every_problem_and_the_old_one_stays(client, token) -> None:
    content, etag = current(client, token)
    broken = (
        content
        + """
  - id: broken
    when:
      - prediction.intent ==
      - ticket.__class__
      - nosuchfunction(ticket.text)
    then:
      queue: nowhere
      explode: true
"""
    )
    resp = put(client, token, broken, etag)
    assert resp.status_code == 422
    problems = [(where, m) for where, found in resp.json["errors"].items() for m in found]  # keyed by where
    messages = " | ".join(m for _, m in problems)
    assert len(problems) >= 5, problems
    assert "nowhere" in messages and "explode" in messages and "nosuchfunction" in messages
    lines = {int(m.split(":")[0].removeprefix("line ")) for _, m in problems if m.startswith("line ")}
    last = len(broken.splitlines())
    assert {last - 5, last - 4, last - 3} <= lines, problems
    assert current(client, token) == (content, etag)


def test_a_failing_example_is_refused_with_its_explanation(client, token) -> None:
    content, etag = current(client, token)
    wrong = content + NEW_RULE.replace("expect: {priority: urgent", "expect: {priority: low")
    resp = put(client, token, wrong, etag)
    assert resp.status_code == 422
    messages = [m for found in resp.json["errors"].values() for m in found]
    assert any("priority: expected 'low', got 'urgent'" in m for m in messages), messages


def test_validate_reports_without_saving(client, token) -> None:
    content, etag = current(client, token)
    resp = client.post("/v1/rules/validate", json={"content": "rules: [1"}, headers=token("viewer"))
    assert resp.status_code == 200 and resp.json["valid"] is False
    assert "line 1" in resp.json["problems"][0]["where"]
    ok = client.post("/v1/rules/validate", json={"content": content + NEW_RULE}, headers=token("viewer"))
    assert ok.json["valid"] is True
    assert current(client, token)[1] == etag


def test_only_admins_change_rules(client, token) -> None:
    content, etag = current(client, token)
    assert put(client, token, content, etag, role="reviewer").status_code == 403
    assert put(client, token, content, etag, role="viewer").status_code == 403
    assert client.get("/v1/rules").status_code == 401


def test_dry_run_counts_the_decisions_that_would_change(client, token) -> None:
    texts = ["What exchange rate do you use?", "My card has not arrived", "How do I top up?"]
    for i, text in enumerate(texts):
        client.post(
            "/v1/tickets", json={"id": f"d{i}", "body": text, "metadata": {"plan": "gold"}}, headers=token("ingest")
        )
    content, _ = current(client, token)
    resp = client.post("/v1/rules/dry-run", json={"content": content + NEW_RULE, "limit": 100}, headers=token("viewer"))
    assert resp.status_code == 200
    report = resp.json
    assert report["replayed"] == 3 and report["changed"] == 3
    change = report["by_rule"]["gold-plan-first"]
    assert change["count"] == 3 and change["examples"][0]["after"]["priority"] == "urgent"


def test_versions_and_rollback(client, token) -> None:
    content, etag = current(client, token)
    first = put(client, token, content + NEW_RULE, etag).json
    second = put(client, token, content, f'"{first["version"]}"').json
    versions = client.get("/v1/rules/versions", headers=token("viewer")).json
    assert [v["id"] for v in versions] == [second["id"], first["id"]]
    back = client.post("/v1/rules/rollback", json={"reason": "undo"}, headers=token("admin"))
    assert back.status_code == 200 and back.json["id"] == first["id"]
    assert current(client, token)[1] == f'"{first["version"]}"'
    assert client.post("/v1/rules/rollback", json={}, headers=token("admin")).status_code == 409


def test_a_rollback_to_an_id_beyond_the_column_is_422(client, token) -> None:
    for to in (2**31, 2**63, 10**30):
        resp = client.post("/v1/rules/rollback", json={"to": to}, headers=token("admin"))
        assert resp.status_code == 422 and "to" in resp.json["errors"], (to, resp.json)
