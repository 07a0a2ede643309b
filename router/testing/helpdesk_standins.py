"""Small real HTTP servers on loopback that answer like the documented subset of the Zendesk and Freshdesk APIs.

Tests and benchmarks point the router's helpdesk clients at these instead of mocking the HTTP client, so the
bytes on the wire, the status codes, the error bodies, the rate-limit headers and the timing are real::

    with ZendeskStandin() as zd:
        group = zd.add_group("Cards")
        ticket = zd.add_ticket("Card stolen", "Please block my card", requester_id=zd.add_user("Maria"))
        ...  # the code under test talks to zd.url
        assert zd.tickets[ticket]["group_id"] == group

Every server keeps its state behind one lock, records every request in ``.requests`` and can be told to fail,
to answer late or to rate-limit, so retries, timeouts and back-off are tested against a socket, not a stub.

Field names, status codes and error bodies follow the vendors' documentation:
Zendesk https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/ (update, safe update, tags),
https://developer.zendesk.com/api-reference/introduction/requests/ (errors, X-Rate-Limit headers),
https://developer.zendesk.com/api-reference/introduction/pagination/ (offset pagination);
Freshdesk https://developers.freshdesk.com/api/ (tickets, notes, conversations, groups, contacts, errors,
pagination through the ``Link`` header, X-RateLimit headers). Zendesk's 429 is text/html, as in
https://developer.zendesk.com/documentation/ticketing/using-the-zendesk-api/best-practices-for-avoiding-rate-limiting/.
Freshdesk's 404 body (a single space), its 429 (``Retry-After`` and a JSON message, no X-RateLimit headers) and
its ``Link`` format follow a public copy of Freshdesk's own source and API tests,
https://github.com/Ramesh-Veeriaperumal/freshconsult (``lib/middleware/fd_api_throttler.rb``).
"""

from __future__ import annotations

import base64
import copy
import html
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self, cast
from urllib.parse import parse_qs, urlsplit

__all__ = ["CallbackReceiver", "FreshdeskStandin", "RecordedRequest", "ZendeskStandin"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw: bytes
    time: float

    def header(self, name: str) -> str | None:
        """The header's value, looked up without regard to case."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass
class Reply:
    """What a stand-in answers: a status, a body (JSON-encoded unless bytes or None) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Delay:
    seconds: float
    only: str | None = None

    def applies(self, method: str, path: str) -> bool:
        return self.only is None or f"{method} {path}".startswith(self.only)


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    body: Any
    only: str | None = None

    def applies(self, method: str, path: str) -> bool:
        return self.only is None or f"{method} {path}".startswith(self.only)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_of(markup: str) -> str:
    """The plain text of a little HTML, the way Freshdesk fills ``description_text`` and ``body_text``."""
    text = re.sub(r"(?i)<br\s*/?>|</(p|div|li)>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _encode(body: Any) -> bytes:
    if body is None:
        return b""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: _Standin


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the recorded requests are the log."""

    def _handle(self) -> None:
        standin = cast(_Server, self.server).standin
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path)
        reply, delay = standin._respond(self.command, parts.path, parse_qs(parts.query), dict(self.headers), raw)
        if delay:
            standin._stopping.wait(delay)
        data = _encode(reply.body)
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers} if data else reply.headers
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting, as a timed-out client does


class _Standin:
    """Server plumbing, request log and fault injection shared by every stand-in."""

    default_rate_limit: ClassVar[int] = 700
    rate_headers_on_429: ClassVar[bool] = True

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._faults: deque[_Fault] = deque()
        self._delays: deque[_Delay] = deque()
        self._window: deque[float] = deque()
        self._per_minute: int | None = None
        self._ids = itertools.count(1001)
        self._last_stamp = 0
        self.requests: list[RecordedRequest] = []
        self.url = ""

    # -- life cycle ------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        server = _Server(("127.0.0.1", 0), _RequestHandler)
        server.standin = self
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still waiting on an injected delay are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- fault injection -------------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        only: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and change nothing (a 429 gets ``Retry-After: 1``).

        ``only`` limits the failure to requests that start with it, e.g. ``"PUT /api/v2/tickets"``.
        """
        with self._lock:
            sent = {**self._fault_headers(status), **(headers or {})}
            if status == 429 and not any(k.lower() == "retry-after" for k in sent):
                sent["Retry-After"] = "1"
            for _ in range(times):
                self._faults.append(_Fault(status, sent, self._fault_body(status) if body is None else body, only))

    def clear_faults(self) -> None:
        """Forget the failures and delays still queued (the helpdesk is healthy again)."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def delay_next(self, seconds: float, times: int = 1, only: str | None = None) -> None:
        """Hold the answer to the next ``times`` requests for ``seconds``.

        The request takes effect at once and only the answer is late, as when a helpdesk commits a change and
        the client's timeout fires first: the case where a retry must not apply the change twice. ``only``
        limits the delay to requests that start with it, e.g. ``"PUT /api/v2/tickets"``.
        """
        with self._lock:
            self._delays.extend([_Delay(seconds, only)] * times)

    def rate_limit(self, per_minute: int | None) -> None:
        """Answer 429 with ``Retry-After`` once more than ``per_minute`` requests arrive within 60 s (None: off)."""
        with self._lock:
            self._per_minute = per_minute

    # -- what happened ---------------------------------------------------------------------------------------

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Recorded requests with this method and path (a ``.json`` suffix on either side is ignored)."""
        wanted = path.removesuffix(".json")
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.removesuffix(".json") == wanted]

    # -- for subclasses --------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        raise NotImplementedError

    def _authorised(self, request: RecordedRequest) -> bool:
        return True

    def _unauthorised(self) -> Reply:
        return Reply(401)

    def _fault_body(self, status: int) -> Any:
        return None

    def _fault_headers(self, status: int) -> dict[str, str]:
        return {}

    def _rate_headers(self, limit: int, remaining: int) -> dict[str, str]:
        return {}

    def _new_id(self) -> int:
        return next(self._ids)

    def _stamp(self) -> str:
        """A strictly increasing UTC time stamp in whole seconds, so two updates in one second still differ."""
        self._last_stamp = max(int(time.time()), self._last_stamp + 1)
        return _iso(self._last_stamp)

    def _respond(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], raw: bytes
    ) -> tuple[Reply, float]:
        try:
            body: Any = json.loads(raw) if raw else None
            malformed = False
        except ValueError:
            body, malformed = None, True
        request = RecordedRequest(method, path, query, headers, body, raw, time.time())
        with self._lock:
            self.requests.append(request)
            held = next((d for d in self._delays if d.applies(method, path)), None)
            if held is not None:
                self._delays.remove(held)
            delay = held.seconds if held is not None else 0.0
            fault = next((f for f in self._faults if f.applies(method, path)), None)
            if fault is not None:
                self._faults.remove(fault)
                return Reply(fault.status, fault.body, dict(fault.headers)), delay
            limited = self._count_against_limit(request.time)
            if limited is not None:
                return limited, delay
            limit = self._per_minute or self.default_rate_limit
            extra = self._rate_headers(limit, max(0, limit - len(self._window)))
            if not self._authorised(request):
                reply = self._unauthorised()
            elif malformed:
                reply = self._malformed()
            else:
                reply = self._route(method, path, query, body)
            reply.headers = {**extra, **reply.headers}
            return reply, delay

    def _malformed(self) -> Reply:
        return Reply(400)

    def _count_against_limit(self, now: float) -> Reply | None:
        while self._window and now - self._window[0] >= 60:
            self._window.popleft()
        if self._per_minute is not None and len(self._window) >= self._per_minute:
            retry = max(1, math.ceil(60 - (now - self._window[0])))
            headers = self._rate_headers(self._per_minute, 0) if self.rate_headers_on_429 else {}
            headers = {**self._fault_headers(429), **headers, "Retry-After": str(retry)}
            return Reply(429, self._fault_body(429), headers)
        self._window.append(now)
        return None


def _page_args(query: dict[str, list[str]], default: int, most: int) -> tuple[int, int]:
    def number(name: str, fallback: int) -> int:
        try:
            return max(1, int(query.get(name, [str(fallback)])[0]))
        except ValueError:
            return fallback

    return number("page", 1), min(most, number("per_page", default))


class ZendeskStandin(_Standin):
    """The Zendesk Support API subset the router uses: groups, tickets (with safe update), comments, users.

    Authentication is Zendesk's API-token basic auth, ``{email}/token:{api_token}``. Ticket ids, group ids and
    user ids are integers; ``updated_at`` moves on every change, so ``safe_update`` with a stale
    ``updated_stamp`` gets Zendesk's documented 409 and changes nothing.
    """

    PRIORITIES: ClassVar[tuple[str, ...]] = ("low", "normal", "high", "urgent")
    STATUSES: ClassVar[tuple[str, ...]] = ("new", "open", "pending", "hold", "solved", "closed")
    CONFLICT: ClassVar[dict[str, str]] = {
        "error": "UpdateConflict",
        "description": "Safe Update prevented the update due to outdated ticket data. "
        "Please fetch the latest ticket data and try again.",
    }
    NOT_FOUND: ClassVar[dict[str, str]] = {"error": "RecordNotFound", "description": "Not found"}

    def __init__(self, email: str = "router@example.com", api_token: str = "zd-token", page_size: int = 100) -> None:
        super().__init__()
        self.email = email
        self.api_token = api_token
        self.page_size = page_size
        self.groups: dict[int, str] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.changes: list[dict[str, Any]] = []
        self.api_user_id = self.add_user("Ticket Router", email, role="admin")
        self.agent_id = self.add_user("Alex Agent", "alex.agent@example.com", role="agent")

    # -- seeding and inspection ------------------------------------------------------------------------------

    def add_group(self, name: str) -> int:
        with self._lock:
            group_id = self._new_id()
            self.groups[group_id] = name
            return group_id

    def add_user(self, name: str, email: str | None = None, role: str = "end-user") -> int:
        with self._lock:
            user_id = self._new_id()
            address = email or f"{name.lower().replace(' ', '.')}@example.com"
            self.users[user_id] = {"id": user_id, "name": name, "email": address, "role": role}
            return user_id

    def add_ticket(
        self,
        subject: str,
        description: str,
        requester_id: int | None = None,
        group_id: int | None = None,
        priority: str | None = None,
        status: str = "new",
        tags: list[str] | None = None,
    ) -> int:
        """Create a ticket as an end user would; its description is its first public comment."""
        with self._lock:
            requester = requester_id if requester_id is not None else self.add_user("Requester")
            ticket_id = self._new_id()
            stamp = self._stamp()
            self.tickets[ticket_id] = {
                "id": ticket_id,
                "subject": subject,
                "raw_subject": subject,
                "description": description,
                "group_id": group_id,
                "assignee_id": None,
                "priority": priority,
                "status": status,
                "type": None,
                "tags": list(tags or []),
                "requester_id": requester,
                "submitter_id": requester,
                "via": {"channel": "web"},
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.comments[ticket_id] = []
            self._add_comment(ticket_id, description, True, requester, stamp)
            return ticket_id

    def agent_update(self, ticket_id: int, **fields: Any) -> None:
        """Change a ticket as a person in the Zendesk UI would: ``comment`` (text or dict) adds a comment."""
        with self._lock:
            ticket = self.tickets[ticket_id]
            stamp = self._stamp()
            comment = fields.pop("comment", None)
            ticket.update(copy.deepcopy(fields))
            ticket["updated_at"] = stamp
            if comment is not None:
                text = str(comment["body"]) if isinstance(comment, dict) else str(comment)
                public = bool(comment.get("public", True)) if isinstance(comment, dict) else False
                self._add_comment(ticket_id, text, public, self.agent_id, stamp)
            self.changes.append({"ticket_id": ticket_id, "by": "agent", "fields": fields, "comment": comment})

    def updates(self, ticket_id: int, by: str = "api") -> list[dict[str, Any]]:
        """The successful updates of a ticket made by the API user (``by="agent"``: by a person)."""
        with self._lock:
            return [c for c in self.changes if c["ticket_id"] == ticket_id and c["by"] == by]

    def notes(self, ticket_id: int) -> list[dict[str, Any]]:
        """The private comments (internal notes) on a ticket."""
        with self._lock:
            return [c for c in self.comments.get(ticket_id, []) if not c["public"]]

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _authorised(self, request: RecordedRequest) -> bool:
        return _basic_credentials(request.header("Authorization")) == (f"{self.email}/token", self.api_token)

    def _unauthorised(self) -> Reply:
        return Reply(401, {"error": "Couldn't authenticate you"})

    def _fault_body(self, status: int) -> Any:
        if status == 401:
            return {"error": "Couldn't authenticate you"}
        if status == 404:
            return self.NOT_FOUND
        if status == 409:
            return self.CONFLICT
        if status == 429:
            return b"Rate limit exceeded, please wait before retrying"
        return {"error": "InternalError" if status >= 500 else "InvalidRequest", "description": f"HTTP {status}"}

    def _fault_headers(self, status: int) -> dict[str, str]:
        return {"Content-Type": "text/html; charset=utf-8"} if status == 429 else {}

    def _rate_headers(self, limit: int, remaining: int) -> dict[str, str]:
        return {"X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining)}

    def _malformed(self) -> Reply:
        return Reply(400, {"error": "Unprocessable Entity", "description": "Request body is not valid JSON"})

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        path = path.removesuffix(".json")
        if path == "/api/v2/groups" and method == "GET":
            return self._list_groups(query)
        if match := re.fullmatch(r"/api/v2/tickets/(\d+)", path):
            if method == "GET":
                return self._show_ticket(int(match[1]))
            if method == "PUT":
                return self._update_ticket(int(match[1]), body)
        if (match := re.fullmatch(r"/api/v2/tickets/(\d+)/comments", path)) and method == "GET":
            return self._list_comments(int(match[1]))
        if (match := re.fullmatch(r"/api/v2/users/(\d+)", path)) and method == "GET":
            user = self.users.get(int(match[1]))
            return Reply(200, {"user": self._user_json(user)}) if user else Reply(404, self.NOT_FOUND)
        return Reply(404, {"error": "InvalidEndpoint", "description": "Not found"})

    def _list_groups(self, query: dict[str, list[str]]) -> Reply:
        page, per_page = _page_args(query, self.page_size, 100)
        ids = sorted(self.groups)
        chosen = ids[(page - 1) * per_page : page * per_page]
        link = f"{self.url}/api/v2/groups.json?page={{}}&per_page={per_page}"
        return Reply(
            200,
            {
                "groups": [self._group_json(g) for g in chosen],
                "next_page": link.format(page + 1) if page * per_page < len(ids) else None,
                "previous_page": link.format(page - 1) if page > 1 else None,
                "count": len(ids),
            },
        )

    def _show_ticket(self, ticket_id: int) -> Reply:
        ticket = self.tickets.get(ticket_id)
        return Reply(200, {"ticket": self._ticket_json(ticket)}) if ticket else Reply(404, self.NOT_FOUND)

    def _list_comments(self, ticket_id: int) -> Reply:
        if ticket_id not in self.tickets:
            return Reply(404, self.NOT_FOUND)
        comments = copy.deepcopy(self.comments[ticket_id])
        return Reply(200, {"comments": comments, "next_page": None, "previous_page": None, "count": len(comments)})

    def _update_ticket(self, ticket_id: int, body: Any) -> Reply:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return Reply(404, self.NOT_FOUND)
        changes = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(changes, dict):
            return Reply(400, {"error": "InvalidRequest", "description": 'The body must be {"ticket": {...}}'})
        if changes.get("safe_update") and _parse_iso(changes.get("updated_stamp")) != _parse_iso(ticket["updated_at"]):
            return Reply(409, self.CONFLICT)
        details = self._invalid_fields(changes)
        if ticket["status"] == "closed":
            details = {"status": [{"description": "Status: closed prevents ticket update", "error": "InvalidValue"}]}
        if details:
            return Reply(422, {"error": "RecordInvalid", "description": "Record validation errors", "details": details})
        stamp = self._stamp()
        events = self._apply(ticket, changes)
        comment = changes.get("comment")
        if isinstance(comment, dict):
            text = str(comment.get("body", comment.get("html_body", "")))
            made = self._add_comment(ticket_id, text, comment.get("public", True), self.api_user_id, stamp)
            events.append({"id": self._new_id(), "type": "Comment", **made})
        ticket["updated_at"] = stamp
        self.changes.append({"ticket_id": ticket_id, "by": "api", "fields": copy.deepcopy(changes), "at": stamp})
        audit = {
            "id": self._new_id(),
            "ticket_id": ticket_id,
            "created_at": stamp,
            "author_id": self.api_user_id,
            "events": events,
        }
        return Reply(200, {"ticket": self._ticket_json(ticket), "audit": audit})

    def _invalid_fields(self, changes: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        details: dict[str, list[dict[str, str]]] = {}

        def invalid(name: str, text: str) -> None:
            details.setdefault(name, []).append(
                {"description": f"{name.capitalize()}: {text}", "error": "InvalidValue"}
            )

        if "group_id" in changes:
            group = changes["group_id"]
            if group is not None and not (_is_int(group) and group in self.groups):
                invalid("group", "is invalid")
        if "priority" in changes and changes["priority"] not in (None, *self.PRIORITIES):
            invalid("priority", f"must be one of {', '.join(self.PRIORITIES)}")
        if "status" in changes and changes["status"] not in self.STATUSES:
            invalid("status", f"must be one of {', '.join(self.STATUSES)}")
        for name in ("tags", "additional_tags", "remove_tags"):
            value = changes.get(name, [])
            if not (isinstance(value, list) and all(isinstance(t, str) for t in value)):
                invalid(name, "must be a list of strings")
        comment = changes.get("comment")
        if comment is not None:
            text = comment.get("body", comment.get("html_body")) if isinstance(comment, dict) else None
            if not isinstance(text, str) or not text.strip():
                invalid("comment", "body cannot be blank")
            elif not isinstance(comment.get("public", True), bool):
                invalid("comment", "public must be true or false")
        return details

    def _apply(self, ticket: dict[str, Any], changes: dict[str, Any]) -> list[dict[str, Any]]:
        before = copy.deepcopy(ticket)
        for name in ("group_id", "priority", "status", "subject", "assignee_id", "type"):
            if name in changes:
                ticket[name] = changes[name]
        tags: list[str] = list(changes["tags"]) if "tags" in changes else list(ticket["tags"])
        tags += [t for t in changes.get("additional_tags", []) if t not in tags]
        ticket["tags"] = [t for t in dict.fromkeys(tags) if t not in changes.get("remove_tags", [])]
        return [
            {"id": self._new_id(), "type": "Change", "field_name": name, "value": ticket[name], "previous_value": old}
            for name, old in before.items()
            if ticket[name] != old
        ]

    def _add_comment(self, ticket_id: int, text: str, public: bool, author_id: int, stamp: str) -> dict[str, Any]:
        comment = {
            "id": self._new_id(),
            "type": "Comment",
            "body": text,
            "html_body": f"<p>{html.escape(text)}</p>",
            "plain_body": text,
            "public": public,
            "author_id": author_id,
            "attachments": [],
            "created_at": stamp,
        }
        self.comments[ticket_id].append(comment)
        return copy.deepcopy(comment)

    def _ticket_json(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"{self.url}/api/v2/tickets/{ticket['id']}.json", **copy.deepcopy(ticket)}

    def _group_json(self, group_id: int) -> dict[str, Any]:
        return {
            "id": group_id,
            "url": f"{self.url}/api/v2/groups/{group_id}.json",
            "name": self.groups[group_id],
            "description": "",
            "default": False,
            "deleted": False,
            "is_public": True,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }

    def _user_json(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"{self.url}/api/v2/users/{user['id']}.json", "active": True, **copy.deepcopy(user)}


# The fields Freshdesk documents for Update a Ticket; anything else gets "Unexpected/invalid field in request".
_FRESHDESK_UPDATE_FIELDS = (
    "name requester_id email phone twitter_id unique_external_id subject type status priority description "
    "responder_id attachments custom_fields due_by fr_due_by email_config_id group_id product_id source tags "
    "company_id internal_agent_id internal_group_id"
)


class FreshdeskStandin(_Standin):
    """The Freshdesk API v2 subset the router uses: groups, tickets, notes, conversations, contacts.

    Authentication is basic auth with the API key as user name (Freshdesk's docs send ``X`` as the password;
    Freshdesk ignores it). Priorities are 1-4, statuses 2-5, and ``tags`` in an update replace the list.
    Invalid values get Freshdesk's documented 400 ``{"description": "Validation failed", "errors": [...]}``.
    """

    default_rate_limit: ClassVar[int] = 3000
    rate_headers_on_429: ClassVar[bool] = False  # Freshdesk's throttler leaves them off a 429
    UPDATABLE: ClassVar[frozenset[str]] = frozenset(_FRESHDESK_UPDATE_FIELDS.split())

    def __init__(self, api_key: str = "fd-key", page_size: int = 30) -> None:
        super().__init__()
        self.api_key = api_key
        self.page_size = page_size
        self.groups: dict[int, str] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        self.changes: list[dict[str, Any]] = []
        self.api_agent_id = self._new_id()
        self.agent_id = self._new_id()

    def add_group(self, name: str) -> int:
        with self._lock:
            group_id = self._new_id()
            self.groups[group_id] = name
            return group_id

    def add_contact(self, name: str, email: str | None = None) -> int:
        with self._lock:
            contact_id = self._new_id()
            address = email or f"{name.lower().replace(' ', '.')}@example.com"
            self.contacts[contact_id] = {"id": contact_id, "name": name, "email": address}
            return contact_id

    def add_ticket(
        self,
        subject: str,
        description: str,
        requester_id: int | None = None,
        group_id: int | None = None,
        priority: int = 1,
        status: int = 2,
        tags: list[str] | None = None,
    ) -> int:
        """Create a ticket; ``description`` is HTML, ``description_text`` is derived from it."""
        with self._lock:
            requester = requester_id if requester_id is not None else self.add_contact("Requester")
            ticket_id = self._new_id()
            stamp = self._stamp()
            self.tickets[ticket_id] = {
                "id": ticket_id,
                "subject": subject,
                "description": description,
                "description_text": _text_of(description),
                "group_id": group_id,
                "responder_id": None,
                "priority": priority,
                "status": status,
                "source": 2,
                "type": None,
                "tags": list(tags or []),
                "requester_id": requester,
                "custom_fields": {},
                "spam": False,
                "is_escalated": False,
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.conversations[ticket_id] = []
            return ticket_id

    def agent_update(self, ticket_id: int, **fields: Any) -> None:
        """Change a ticket as a person in the Freshdesk UI would: ``note`` adds a private note."""
        with self._lock:
            ticket = self.tickets[ticket_id]
            stamp = self._stamp()
            note = fields.pop("note", None)
            ticket.update(copy.deepcopy(fields))
            ticket["updated_at"] = stamp
            if note is not None:
                self._add_note(ticket_id, str(note), True, self.agent_id, stamp)
            self.changes.append({"ticket_id": ticket_id, "by": "agent", "fields": fields, "note": note})

    def updates(self, ticket_id: int, by: str = "api") -> list[dict[str, Any]]:
        """The successful ticket updates made through the API (``by="agent"``: by a person)."""
        with self._lock:
            return [c for c in self.changes if c["ticket_id"] == ticket_id and c["by"] == by]

    def notes(self, ticket_id: int) -> list[dict[str, Any]]:
        """The private notes on a ticket."""
        with self._lock:
            return [c for c in self.conversations.get(ticket_id, []) if c["private"]]

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _authorised(self, request: RecordedRequest) -> bool:
        credentials = _basic_credentials(request.header("Authorization"))
        return credentials is not None and credentials[0] == self.api_key

    def _unauthorised(self) -> Reply:
        return Reply(
            401, {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}
        )

    def _fault_body(self, status: int) -> Any:
        if status == 401:
            return {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}
        if status == 404:
            return b" "
        if status == 429:
            return {"message": "You have exceeded the limit of requests per hour"}
        if status >= 500:
            return None
        return {"code": "invalid_request", "message": f"HTTP {status}"}

    def _not_found(self) -> Reply:
        return Reply(404, self._fault_body(404))  # Freshdesk answers a JSON content type and a single space

    def _rate_headers(self, limit: int, remaining: int) -> dict[str, str]:
        return {
            "X-RateLimit-Total": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Used-CurrentRequest": "1",
        }

    def _malformed(self) -> Reply:
        return Reply(400, {"code": "invalid_json", "message": "Request body has invalid json format"})

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if path == "/api/v2/groups" and method == "GET":
            return self._list_groups(query)
        if match := re.fullmatch(r"/api/v2/tickets/(\d+)", path):
            ticket = self.tickets.get(int(match[1]))
            if ticket is None:
                return self._not_found()
            if method == "GET":
                return Reply(200, copy.deepcopy(ticket))
            if method == "PUT":
                return self._update_ticket(ticket, body)
        if (match := re.fullmatch(r"/api/v2/tickets/(\d+)/notes", path)) and method == "POST":
            return self._create_note(int(match[1]), body)
        if (match := re.fullmatch(r"/api/v2/tickets/(\d+)/conversations", path)) and method == "GET":
            ticket_id = int(match[1])
            if ticket_id not in self.tickets:
                return self._not_found()
            return Reply(200, copy.deepcopy(self.conversations[ticket_id]))
        if (match := re.fullmatch(r"/api/v2/contacts/(\d+)", path)) and method == "GET":
            contact = self.contacts.get(int(match[1]))
            return Reply(200, {**copy.deepcopy(contact), "active": True}) if contact else self._not_found()
        return self._not_found()

    def _list_groups(self, query: dict[str, list[str]]) -> Reply:
        page, per_page = _page_args(query, self.page_size, 100)
        ids = sorted(self.groups)
        chosen = ids[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if page * per_page < len(ids):
            headers["Link"] = f'<{self.url}/api/v2/groups?per_page={per_page}&page={page + 1}>; rel="next"'
        groups: list[dict[str, Any]] = [
            {"id": g, "name": self.groups[g], "description": None, "agent_ids": [], "group_type": "support_agent_group"}
            for g in chosen
        ]
        return Reply(200, groups, headers)

    def _update_ticket(self, ticket: dict[str, Any], body: Any) -> Reply:
        if not isinstance(body, dict):
            return self._invalid([("", "It should be a/an key/value pair", "datatype_mismatch")])
        errors = [
            (name, "Unexpected/invalid field in request", "invalid_field")
            for name in body
            if name not in self.UPDATABLE
        ]
        if "group_id" in body:
            group = body["group_id"]
            if group is not None and not _is_int(group):
                errors.append(("group_id", _mismatch(group, "Integer"), "datatype_mismatch"))
            elif group is not None and group not in self.groups:
                errors.append(("group_id", "There is no group matching the given group_id", "invalid_value"))
        for name, allowed in (("priority", (1, 2, 3, 4)), ("status", (2, 3, 4, 5))):
            if name in body:
                if not _is_int(body[name]):
                    errors.append((name, _mismatch(body[name], "Integer"), "datatype_mismatch"))
                elif body[name] not in allowed:
                    values = ",".join(map(str, allowed))
                    errors.append((name, f"It should be one of these values: '{values}'", "invalid_value"))
        if "tags" in body:
            tags = body["tags"]
            if not isinstance(tags, list):
                errors.append(("tags", _mismatch(tags, "Array"), "datatype_mismatch"))
            elif not all(t is None or isinstance(t, str) for t in tags):
                errors.append(("tags", "It should contain elements of type String only", "datatype_mismatch"))
        if errors:
            return self._invalid(errors)
        for name in ("group_id", "priority", "status", "tags", "subject", "responder_id", "type"):
            if name in body:
                ticket[name] = [t for t in body[name] if t] if name == "tags" else body[name]
        if "description" in body:
            ticket["description"] = body["description"]
            ticket["description_text"] = _text_of(str(body["description"]))
        ticket["updated_at"] = stamp = self._stamp()
        self.changes.append({"ticket_id": ticket["id"], "by": "api", "fields": copy.deepcopy(body), "at": stamp})
        return Reply(200, copy.deepcopy(ticket))

    def _create_note(self, ticket_id: int, body: Any) -> Reply:
        if ticket_id not in self.tickets:
            return self._not_found()
        if not isinstance(body, dict):
            return self._invalid([("", "It should be a/an key/value pair", "datatype_mismatch")])
        errors = []
        text, private = body.get("body"), body.get("private", True)
        if "body" not in body:
            errors.append(("body", "It should be a/an String", "missing_field"))
        elif not isinstance(text, str) or not text.strip():
            errors.append(
                (
                    "body",
                    _mismatch(text, "String") if not isinstance(text, str) else "It should not be blank",
                    "datatype_mismatch",
                )
            )
        if not isinstance(private, bool):
            errors.append(("private", _mismatch(private, "Boolean"), "datatype_mismatch"))
        if errors:
            return self._invalid(errors)
        stamp = self._stamp()
        self.tickets[ticket_id]["updated_at"] = stamp
        return Reply(201, self._add_note(ticket_id, cast(str, text), private, self.api_agent_id, stamp))

    def _add_note(self, ticket_id: int, text: str, private: bool, user_id: int, stamp: str) -> dict[str, Any]:
        note = {
            "id": self._new_id(),
            "body": text,
            "body_text": _text_of(text),
            "user_id": user_id,
            "ticket_id": ticket_id,
            "private": private,
            "incoming": False,
            "source": 2,
            "support_email": None,
            "to_emails": [],
            "attachments": [],
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.conversations[ticket_id].append(note)
        return copy.deepcopy(note)

    @staticmethod
    def _invalid(errors: list[tuple[str, str, str]]) -> Reply:
        found = [{"field": f, "message": m, "code": c} for f, m, c in errors]
        return Reply(400, {"description": "Validation failed", "errors": found})


def _mismatch(value: Any, expected: str) -> str:
    names = {bool: "Boolean", int: "Integer", float: "Float", str: "String", list: "Array", dict: "key/value pair"}
    given = "Null" if value is None else names.get(type(value), type(value).__name__)
    return f"Value set is of type {given}.It should be a/an {expected}"


class CallbackReceiver(_Standin):
    """Records what the router's signed generic callback POSTs and answers ``status`` (changeable at any time)."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status

    @property
    def received(self) -> list[RecordedRequest]:
        """The POSTs received, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def bodies(self) -> list[Any]:
        """The parsed JSON bodies of the POSTs received."""
        return [r.body for r in self.received]

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if method != "POST":
            return Reply(405, {"error": "method not allowed"})
        return Reply(self.status, {"received": True} if self.status < 300 else {"error": f"HTTP {self.status}"})

    def _malformed(self) -> Reply:
        return self._route("POST", "", {}, None)
