"""GET /v1/tokens and DELETE /v1/tokens/<name>: admins list and revoke tokens."""

from __future__ import annotations

from router.auth import create_token


def test_admins_list_tokens_without_the_secret(client, ctx, token) -> None:
    secret = create_token(ctx.db, "reviewer", "ann")
    resp = client.get("/v1/tokens", headers=token("admin"))
    assert resp.status_code == 200
    [ann] = [t for t in resp.json if t["name"] == "ann"]
    assert ann["role"] == "reviewer" and ann["created_at"] and "last_used_at" in ann
    assert secret not in resp.text and "hash" not in resp.text
    assert client.get("/v1/tokens", headers=token("reviewer")).status_code == 403


def test_a_revoked_token_is_refused(client, ctx, token) -> None:
    secret = create_token(ctx.db, "viewer", "bob")
    bob = {"Authorization": f"Bearer {secret}"}
    assert client.get("/v1/rules", headers=bob).status_code == 200
    resp = client.delete("/v1/tokens/bob", headers=token("admin"))
    assert resp.status_code == 200 and [r["name"] for r in resp.json] == ["bob"]
    refused = client.get("/v1/rules", headers=bob)
    assert refused.status_code == 401 and "revoked" in refused.json["message"]
    assert client.delete("/v1/tokens/bob", headers=token("admin")).status_code == 404
    listed = client.get("/v1/tokens?all=true", headers=token("admin")).json
    assert [t["name"] for t in listed if t["revoked_at"]] == ["bob"]
