"""The monitoring endpoints, with roles."""

from __future__ import annotations

import pytest

GIBBERISH = [
    "what is the best recipe for lasagna with spinach",
    "the printer on the third floor is jammed again",
    "can you recommend a good hiking trail near the lake",
    "who won the football match last night",
    "recipe for a vegetarian lasagna please",
    "printer jammed paper tray third floor",
]


def _post(client, token, n: int = 0) -> None:  # type: ignore[no-untyped-def]
    auth = token("ingest")
    for i, text in enumerate(GIBBERISH):
        assert client.post("/v1/tickets", json={"id": f"odd-{i}", "body": text}, headers=auth).status_code == 201
    for i in range(n):
        client.post("/v1/tickets", json={"id": f"n-{i}", "body": "I still have not received my new card"}, headers=auth)


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("/v1/monitoring/drift", "viewer", 200),
        ("/v1/monitoring/drift", "ingest", 403),
        ("/v1/monitoring/summary", "viewer", 200),
        ("/v1/monitoring/calibration", "viewer", 200),
        ("/v1/monitoring/alerts", "viewer", 200),
        ("/v1/monitoring/jobs", "viewer", 200),
        ("/v1/monitoring/reference", "viewer", 200),
        ("/v1/monitoring/novel", "viewer", 403),
        ("/v1/monitoring/novel", "reviewer", 200),
    ],
    ids=lambda v: str(v).replace("/v1/monitoring/", ""),
)
def test_roles(client, token, path: str, role: str, status: int) -> None:
    assert client.get(path, headers=token(role)).status_code == status
    assert client.get(path).status_code == 401


def test_check_is_stored_and_listed(client, token) -> None:
    viewer, admin = token("viewer"), token("admin")
    texts = ["I lost my card yesterday", "how do I top up with apple pay?"] * 10 + GIBBERISH
    assert client.post("/v1/monitoring/drift/check", json={"texts": texts}, headers=viewer).status_code == 403
    resp = client.post("/v1/monitoring/drift/check", json={"texts": texts}, headers=admin)
    assert resp.status_code == 200, resp.json
    result = resp.json
    assert set(result["detectors"]) == {
        "input_ks",
        "input_classifier",
        "prediction_chi2",
        "prediction_share",
        "confidence_ks",
        "vocabulary",
        "novelty_rate",
    }
    assert result["sizes"]["window"] == len(texts) and isinstance(result["is_drift"], bool)
    listed = client.get("/v1/monitoring/drift", headers=viewer).json
    assert listed[0]["id"] == result["id"] and listed[0]["window_size"] == len(texts)
    assert (
        listed[0]["detectors"]["prediction_chi2"]["data"]["p_val"]
        == result["detectors"]["prediction_chi2"]["data"]["p_val"]
    )
    # not enough stored decisions for a check over the last window: skipped, said so
    skipped = client.post("/v1/monitoring/drift/check", json={}, headers=admin).json
    assert skipped["is_drift"] is None and "only 0 tickets" in skipped["skipped"]
    assert client.post("/v1/monitoring/drift/check", json={"bogus": 1}, headers=admin).status_code == 422


def test_summary_novel_clusters_and_pinned_reference(client, token) -> None:
    _post(client, token, n=120)
    summary = client.get("/v1/monitoring/summary", headers=token("viewer")).json
    assert summary["decisions"] == 126 and summary["novelty_rate"] > 0
    assert sum(summary["confidence_histogram"]["counts"]) == 126 and summary["intent_mix"][0]["total"] == 126
    novel = client.get("/v1/monitoring/novel", headers=token("reviewer")).json
    assert novel["novel_tickets"] >= 5
    terms = {t for c in novel["clusters"] for t in c["top_terms"]}
    assert terms & {"lasagna", "printer", "recipe", "jammed"}
    admin = token("admin")
    pinned = client.post("/v1/monitoring/reference", json={"last": 120, "reason": "steady week"}, headers=admin).json
    assert pinned["rows"] == 120 and pinned["reference"].startswith("pinned:")
    info = client.get("/v1/monitoring/reference", headers=token("viewer")).json
    assert info["reference"] == pinned["reference"] and info["pinned"][0]["reason"] == "steady week"
    back = client.delete("/v1/monitoring/reference", headers=admin).json
    assert back["reference"] == "holdout" and back["unpinned"] == 1


def test_the_openapi_document_lists_the_monitoring_endpoints(client) -> None:
    paths = client.get("/openapi.json").json["paths"]
    for p in ("drift", "drift/check", "summary", "novel", "calibration", "reference", "alerts", "jobs"):
        assert f"/v1/monitoring/{p}" in paths
