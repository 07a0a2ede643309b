"""A bare Flask JSON echo: the baseline the HTTP benchmark compares the router against."""

from __future__ import annotations

from flask import Flask, request

app = Flask(__name__)


@app.post("/v1/tickets")
def echo() -> tuple[dict[str, object], int]:
    return {"echo": request.get_json()}, 201
