"""The models API: listing, detail with live figures, roles, and uploads treated as hostile."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

import joblib
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart


class _Exits:
    """A pickle that kills whatever process unpickles it."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        import os

        return (os._exit, (3,))


def upload(client: Any, token: Any, artefact: bytes, card: dict[str, Any] | str, role: str = "admin") -> Any:
    # Encoded in memory: the test client spools large multipart bodies to a file it never closes.
    text = card if isinstance(card, str) else json.dumps(card)
    boundary, body = encode_multipart(
        MultiDict({"artefact": FileStorage(io.BytesIO(artefact), "model.joblib"), "card": text})
    )
    return client.post(
        "/v1/models", data=body, headers=token(role), content_type=f"multipart/form-data; boundary={boundary}"
    )


def card_for(artefact: bytes, base: dict[str, Any], version: str) -> dict[str, Any]:
    return {
        **base,
        "version": version,
        "artefact": {"file": "model.joblib", "sha256": hashlib.sha256(artefact).hexdigest()},
    }


def test_list_and_detail_with_live_figures(client, token, ctx) -> None:
    versions = client.get("/v1/models", headers=token("viewer")).json
    assert len(versions) == 1 and versions[0]["state"] == "active"
    version = versions[0]["version"]
    for i in range(3):
        client.post("/v1/tickets", json={"id": f"m{i}", "body": "my card has not arrived"}, headers=token("ingest"))
    detail = client.get(f"/v1/models/{version}", headers=token("viewer")).json
    assert detail["live"]["decisions"]["decisions"] == 3 and detail["slots"] == ["active"]
    assert detail["card"]["metrics"]["accuracy"] > 0.85
    assert client.get("/v1/models/v-nope", headers=token("viewer")).status_code == 404


def test_changes_need_an_admin_and_a_rollback_needs_a_previous_version(client, token, ctx) -> None:
    version = client.get("/v1/models", headers=token("viewer")).json[0]["version"]
    assert client.post(f"/v1/models/{version}/activate", json={}, headers=token("reviewer")).status_code == 403
    assert client.post("/v1/models/rollback", json={}).status_code == 401
    resp = client.post("/v1/models/rollback", json={"reason": "x"}, headers=token("admin"))
    assert resp.status_code == 409 and "no previously active version" in resp.json["message"]
    bad = client.post(f"/v1/models/{version}/canary", json={"percent": 150}, headers=token("admin"))
    assert bad.status_code == 422 and "percent" in bad.json["errors"]


def test_the_active_version_cannot_become_canary_shadow_or_retired(client, token) -> None:
    admin = token("admin")
    version = client.get("/v1/models", headers=token("viewer")).json[0]["version"]
    for action, body in [("canary", {"percent": 10}), ("shadow", {}), ("retire", {}), ("activate", {})]:
        resp = client.post(f"/v1/models/{version}/{action}", json=body, headers=admin)
        assert resp.status_code == 409, (action, resp.json)
        assert version in resp.json["message"] and resp.json["code"] == "conflict"
    assert client.get(f"/v1/models/{version}", headers=token("viewer")).json["state"] == "active"
    assert [e["action"] for e in client.get("/v1/models/audit", headers=admin).json] == [
        "model.active",
        "model.register",
    ]


def test_a_canary_share_outside_the_documented_range_is_422(client, token) -> None:
    version = client.get("/v1/models", headers=token("viewer")).json[0]["version"]
    for percent in (7.7e-160, 0, 0.001, 50.5, 100, -1):
        resp = client.post(f"/v1/models/{version}/canary", json={"percent": percent}, headers=token("admin"))
        assert resp.status_code == 422 and "percent" in resp.json["errors"], (percent, resp.json)


def test_an_uploaded_artefact_becomes_a_candidate(client, token, ctx, trained) -> None:
    models_dir, version = trained
    artefact = (models_dir / version / "model.joblib").read_bytes()
    base = json.loads((models_dir / version / "card.json").read_text())
    resp = upload(client, token, artefact, card_for(artefact, base, "v-uploaded"))
    assert resp.status_code == 201, resp.json
    assert resp.json["state"] == "candidate" and resp.json["smoke"]["error_count"] == 0
    assert upload(client, token, artefact, card_for(artefact, base, "v-uploaded")).status_code == 422
    assert upload(client, token, artefact, card_for(artefact, base, "v-x"), role="viewer").status_code == 403


def test_hostile_uploads_are_refused_and_leave_nothing(client, token, ctx, trained, tmp_path: Path) -> None:
    models_dir, version = trained
    base = json.loads((models_dir / version / "card.json").read_text())
    before = sorted(p.name for p in ctx.store.root.iterdir())
    artefact = (models_dir / version / "model.joblib").read_bytes()
    wrong_sum = {**card_for(artefact, base, "v-wrong"), "artefact": {"sha256": "0" * 64}}
    resp = upload(client, token, artefact, wrong_sum)
    assert resp.status_code == 422 and "does not match" in resp.json["message"]
    buf = io.BytesIO()
    joblib.dump(_Exits(), buf)
    evil = buf.getvalue()
    resp = upload(client, token, evil, card_for(evil, base, "v-evil"))
    assert resp.status_code == 422 and "does not work" in resp.json["message"]
    junk = pickle.dumps({"not": "a model"})
    assert upload(client, token, junk, card_for(junk, base, "v-junk")).status_code == 422
    assert upload(client, token, artefact, card_for(artefact, base, "../escape")).status_code == 422
    assert upload(client, token, artefact, {"version": "v-nocard"}).status_code == 422
    for card in ("[" * 5_000 + "]" * 5_000, '{"version": "a", "version": "b"}', '{"version": NaN}', "{"):
        resp = upload(client, token, artefact, card)
        assert resp.status_code == 422 and "card" in resp.json["errors"], (card[:20], resp.json)
    assert sorted(p.name for p in ctx.store.root.iterdir()) == before
    assert client.get("/healthz").status_code == 200  # the worker is alive


def test_audit_is_readable_by_viewers(client, token) -> None:
    entries = client.get("/v1/models/audit", headers=token("viewer")).json
    assert entries[0]["action"] in {"model.active", "model.register"} and entries[0]["actor"] == "test"
