"""Monitoring fixtures: a local SMTP server and a local HTTP receiver on loopback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.lock = threading.Lock()

    def add(self, item: Any) -> None:
        with self.lock:
            self.items.append(item)


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """aiosmtpd on 127.0.0.1; messages land in the inbox as email.message.Message objects."""
    from email import message_from_bytes

    from aiosmtpd.controller import Controller

    inbox = Inbox()

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            msg = message_from_bytes(envelope.content)
            inbox.add({"from": envelope.mail_from, "to": envelope.rcpt_tos, "message": msg})
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def webhook_server() -> Iterator[tuple[str, Inbox]]:
    """An HTTP receiver on 127.0.0.1 that keeps every JSON body posted to it."""
    inbox = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            inbox.add({"path": self.path, "content_type": self.headers.get("Content-Type"), "json": json.loads(body)})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/router", inbox
    finally:
        server.shutdown()
        server.server_close()
