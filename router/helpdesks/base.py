"""What every helpdesk module provides, and the pieces they share.

A helpdesk module (``zendesk.py``, ``freshdesk.py``, ``generic.py``; a plugin adds another the same
way) gives an :class:`~router.adapters.Adapter` for its webhooks and a :class:`Connector` that writes
a committed decision back. The delivery worker knows connectors only through this interface.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import requests

from ..errors import AuthError, ValidationError

NOTE_MARK = "Ticket Router delivery"
_GROUP_KEY = re.compile(r"[\s_\-]+")
_TAG_UNSAFE = re.compile(r"[^a-z0-9_\-]+")


def group_key(name: str) -> str:
    """Queue and group names compare case-insensitively, with ``-``, ``_`` and spaces alike."""
    return _GROUP_KEY.sub(" ", str(name)).strip().casefold()


def tag(value: str) -> str:
    return _TAG_UNSAFE.sub("_", str(value).lower()).strip("_")[:80]


@dataclass(frozen=True)
class Inbound:
    """What a webhook body asks for.

    ``ticket``: decide it (``ticket`` holds the generic ticket fields); ``comment``: the requester
    wrote again, decide the stored ticket again with ``comment`` added; ``event``: record it only;
    ``ignored``: nothing to do (answered 200 so the helpdesk does not retry).
    """

    kind: str
    ticket: dict[str, Any] | None = None
    event_id: str | None = None
    event_type: str = ""
    external_id: str = ""
    occurred_at: str | None = None
    actor: str = ""
    comment: str = ""
    requester_id: str | None = None
    reason: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    # the ticket as the event reports it: ``group_id`` or ``group`` (a name), ``priority``, ``status``
    state: dict[str, Any] = field(default_factory=dict)


class DeliveryFailed(Exception):
    """A write-back attempt failed: ``permanent`` ones go to the dead letters at once."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
        response: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.permanent = permanent
        self.retry_after = retry_after
        self.response = response[:2000]


@dataclass(frozen=True)
class Job:
    """One delivery as a connector sees it.

    ``decision`` is the stored decision (as the API answers it); ``ticket`` the stored ticket;
    ``previous`` what the router itself last wrote to this ticket (``None`` before the first
    write); ``baseline`` the group and priority the helpdesk reported when the ticket came in;
    ``groups`` the rule set's explicit queue-to-group mapping for this helpdesk.
    """

    delivery_id: int
    kind: str
    mode: str
    attempt: int
    decision: dict[str, Any]
    ticket: dict[str, Any]
    previous: dict[str, Any] | None = None
    baseline: dict[str, Any] = field(default_factory=dict)
    groups: Mapping[str, Any] = field(default_factory=dict)
    correction: dict[str, Any] | None = None

    @property
    def marker(self) -> str:
        """The line that makes a posted note recognisable, so a retry never posts it twice."""
        return f"{NOTE_MARK} {self.delivery_id} (decision {self.decision['decision_id']})"


class Connector(Protocol):
    """Writes decisions back to one helpdesk."""

    name: str
    source: str
    rate_per_min: float

    def deliver(self, job: Job) -> dict[str, Any]:
        """Write the decision; return what was done (``outcome``, ``wrote``, ``seen``...).

        Raise :class:`DeliveryFailed` when the helpdesk refused or could not be reached.
        """
        ...

    def missing_groups(self, queues: Iterable[str], mapping: Mapping[str, Any]) -> list[str]:
        """The queues that have no group in the helpdesk (for refusing a rule set)."""
        ...


def router_tags(decision: Mapping[str, Any]) -> list[str]:
    """Tags the router adds: its own marker, intent, queue, review, plus the rules' tags."""
    tags = ["router", tag(f"intent_{decision['intent']}"), tag(f"queue_{decision['queue']}")]
    if decision.get("needs_review"):
        tags.append("router_review")
    if decision.get("escalation"):
        tags.append("router_escalated")
    tags.extend(tag(t) for t in decision.get("tags") or [])
    return list(dict.fromkeys(t for t in tags if t))


def _words(decision: Mapping[str, Any], n: int = 5) -> str:
    words = ((decision.get("explanation") or {}).get("words") or {}).get("toward") or []
    return ", ".join(f"{w['word']} ({w['weight']:+.2f})" for w in words[:n]) or "none"


def _rules(decision: Mapping[str, Any]) -> str:
    fired = [r for r in (decision.get("explanation") or {}).get("rules") or [] if r.get("matched")]
    return "; ".join(f"{r['rule']}: {r.get('why', '')}".strip(": ") for r in fired[:6]) or "none"


def note_lines(job: Job, group: str | None, routed: bool, agent_changed: bool = False) -> list[str]:
    """The private note: a few readable lines with the decision and why."""
    d = job.decision
    where = f"queue {d['queue']}" + (f" (group {group})" if group else "")
    if job.correction and job.correction.get("held"):
        c, mine = job.correction, job.correction.get("router") or {}
        head = (
            f"Kept where reviewer {c.get('reviewer', '?')} routed it: {c.get('intent')} → {where}. "
            f"The router read this revision as {mine.get('intent')} (queue {mine.get('queue')})"
        )
    elif job.correction:
        c = job.correction
        head = f"Corrected by reviewer {c.get('reviewer', '?')}: {c.get('intent')} → {where}"
        if c.get("note"):
            head += f". Why: {c['note']}"
    elif routed:
        head = f"Routed to {where}, priority {d['priority']}"
    elif agent_changed:
        head = f"Not reassigned: an agent changed the group or priority. The router would have chosen {where}"
    else:
        head = f"Suggested: {where}, priority {d['priority']} (suggest mode: nothing reassigned)"
    lines = [
        head,
        f"Intent: {d['intent']} (confidence {d['confidence']:.2f})",
        f"Words that decided it: {_words(d)}",
        f"Rules that fired: {_rules(d)}",
    ]
    if d.get("needs_review"):
        lines.append(f"Needs a person: {', '.join(d.get('review_reasons') or [])}")
    if d.get("escalation"):
        esc = d["escalation"]
        lines.append(f"Escalated: {esc.get('to', '') if isinstance(esc, dict) else esc}")
    lines.append(f"{job.marker} · model {d.get('model_version')} · rules {d.get('ruleset_version')}")
    return lines


@dataclass(frozen=True)
class RateHeaders:
    """Where a helpdesk says how much of the account's per-minute API budget is left."""

    limit: str
    remaining: str
    reset: str | None = None  # seconds until the window starts again, when the helpdesk says


#: The share of the account's per-minute budget the router leaves to people and other integrations:
#: with less left than this, it pauses until the window resets (or for ``LOW_BUDGET_PAUSE_S``).
RESERVE_SHARE = 0.1
LOW_BUDGET_PAUSE_S = 10.0


class HttpClient:
    """A requests session for one helpdesk API: timeout, auth, and HTTP errors as DeliveryFailed.

    429 and 503 are retried after ``Retry-After``; other 5xx, timeouts and connection errors with
    backoff; 400, 401, 403, 404 and 422 are permanent. Messages never include credentials.
    With ``rate_headers``, an answer that shows the account's budget for the minute nearly spent
    (at most ``RESERVE_SHARE`` of it left) makes :meth:`low_budget_pause` return how long to wait,
    so the router stops before the helpdesk refuses anyone, agents included.
    """

    PERMANENT = frozenset({400, 401, 403, 404, 405, 410, 422})

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, str] | None,
        timeout_s: float,
        name: str,
        rate_headers: RateHeaders | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.name = name
        self.rate_headers = rate_headers
        self._local = threading.local()
        self._auth = auth
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._low: float | None = None

    def low_budget_pause(self) -> float | None:
        """Seconds to pause for when the last answers showed the account's budget nearly spent
        (reported once), else None."""
        with self._sessions_lock:
            low, self._low = self._low, None
        return low

    def _note_budget(self, resp: requests.Response) -> None:
        spec = self.rate_headers
        if spec is None:
            return
        try:
            limit = int(resp.headers[spec.limit])
            remaining = int(resp.headers[spec.remaining])
        except (KeyError, ValueError):
            return
        if limit <= 0 or remaining > limit * RESERVE_SHARE:
            return
        pause = LOW_BUDGET_PAUSE_S
        if spec.reset is not None:
            with contextlib.suppress(KeyError, ValueError):
                pause = min(60.0, max(1.0, float(resp.headers[spec.reset])))
        with self._sessions_lock:
            self._low = max(self._low or 0.0, pause)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.auth = self._auth
            session.headers.update({"Accept": "application/json", "User-Agent": "ticket-router"})
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every thread's connections (the worker is stopping)."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        url: str | None = None,
        timeout_s: float | None = None,
    ) -> requests.Response:
        target = url or f"{self.base_url}{path}"
        try:
            resp = self._session().request(
                method,
                target,
                json=json,
                data=data,
                headers=dict(headers or {}),
                params=params,
                timeout=timeout_s or self.timeout_s,
                allow_redirects=False,
            )
        except requests.Timeout:
            waited = timeout_s or self.timeout_s
            raise DeliveryFailed(f"{self.name} did not answer {method} {path} within {waited:g} s") from None
        except requests.RequestException as exc:
            raise DeliveryFailed(
                f"{self.name} could not be reached for {method} {path}: {type(exc).__name__}"
            ) from None
        self._note_budget(resp)
        if resp.status_code < 300:
            return resp
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        raise DeliveryFailed(
            f"{self.name} answered {resp.status_code} to {method} {path}",
            status=resp.status_code,
            permanent=resp.status_code in self.PERMANENT,
            retry_after=retry_after if resp.status_code in (429, 503) else None,
            response=resp.text,
        )

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the helpdesks send seconds; an HTTP date is also accepted)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class TtlCache:
    """A small per-process cache for groups and requesters (values expire after ``ttl_s``)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._data: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any], fresh: bool = False) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and not fresh and now - hit[0] < self.ttl_s:
            return hit[1]
        value = compute()
        with self._lock:
            self._data[key] = (time.monotonic(), value)
        return value


def resolve_group(groups: Mapping[str, int], queue: str, mapping: Mapping[str, Any]) -> int | None:
    """The helpdesk group id for a queue: the explicit mapping first, else the same name."""
    wanted = mapping.get(queue, queue)
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        return wanted if wanted in groups.values() else None
    if isinstance(wanted, str) and wanted.isdigit() and int(wanted) in groups.values():
        return int(wanted)
    return groups.get(group_key(str(wanted)))


def changed_by_agent(current: Mapping[str, Any], job: Job, target: Mapping[str, Any]) -> bool:
    """Whether someone other than the router changed the ticket's group or priority.

    What the ticket may hold without a person having touched it: what the router last wrote,
    else what the helpdesk reported at intake, or what this delivery is writing (a retry after a
    half-done attempt). Anything else is a person's change, and the person wins; once a person
    has moved a ticket, no later revision reassigns it.
    """
    previous = job.previous or {}
    if previous.get("agent_moved"):
        return True
    expected = {**job.baseline, **(previous.get("wrote") or {})}
    for key in ("group_id", "priority"):
        if key not in expected:
            continue
        now = current.get(key)
        if now != expected[key] and now != target.get(key):
            return True
    return False


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def check_fresh(sent_at: float, now: float, window_s: int) -> None:
    if abs(now - sent_at) > window_s:
        raise AuthError(
            f"webhook timestamp is {int(abs(now - sent_at))} s away from the server's clock; "
            f"more than {window_s} s is treated as a replay and refused",
            errors={"timestamp": ["outside the replay window"]},
        )


def header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise AuthError(f"missing header {name}", errors={name: ["required"]})
    return value


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (for optional nested fields)."""
    return value if isinstance(value, dict) else {}


def obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{name} must be a JSON object", errors={name: ["must be an object"]})
    return value


def sign(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The router's own signature headers (generic intake and the callback connector)."""
    stamp = str(int(now if now is not None else time.time()))
    digest = hmac_sha256(secret, stamp.encode() + b"." + body).hex()
    return {"X-Router-Timestamp": stamp, "X-Router-Signature": f"sha256={digest}"}


ROUTER_TAG_PREFIXES = ("intent_", "queue_", "router_")


class HelpdeskConnector:
    """What the Zendesk and Freshdesk connectors share: the cached group list, queue-to-group
    resolution, ticket ids, the tags and the result a delivery records. A subclass sets ``name``,
    ``label``, ``http`` and ``rate_per_min`` and implements ``_fetch_groups`` and ``deliver``."""

    name = ""
    source = ""
    label = ""  # the helpdesk's name in messages
    http: HttpClient
    rate_per_min: float

    def __init__(self, cache_s: float) -> None:
        self._groups = TtlCache(cache_s)

    def _fetch_groups(self) -> dict[str, int]:
        raise NotImplementedError

    def groups(self, fresh: bool = False) -> dict[str, int]:
        """Group ids by normalised name (cached; ``fresh`` reads them again)."""
        found: dict[str, int] = self._groups.get("groups", self._fetch_groups, fresh=fresh)
        return found

    def close(self) -> None:
        self.http.close()

    def missing_groups(self, queues: Iterable[str], mapping: Mapping[str, Any]) -> list[str]:
        groups = self.groups(fresh=True)
        return [q for q in queues if resolve_group(groups, q, mapping) is None]

    def group_for(self, queue: str, mapping: Mapping[str, Any]) -> int:
        """The queue's group id, reading the groups again once before giving up (a new group)."""
        group = resolve_group(self.groups(), queue, mapping)
        if group is None:
            group = resolve_group(self.groups(fresh=True), queue, mapping)
        if group is None:
            wanted = mapping.get(queue, queue)
            raise DeliveryFailed(
                f"{self.label} has no group {wanted!r} for queue {queue!r} (was it renamed or deleted?)",
                permanent=True,
            )
        return group

    def ticket_id(self, job: Job) -> str:
        """The helpdesk's ticket id, refused unless it is a number (it goes into the request path)."""
        ticket_id = str(job.ticket["id"])
        if not ticket_id.isdigit():
            raise DeliveryFailed(f"{self.label} ticket ids are numbers; {ticket_id!r} is not", permanent=True)
        return ticket_id

    def with_group_ids(self, job: Job) -> Job:
        """A baseline that reported the group by name (a trigger, Freshdesk) as a group id."""
        if "group" not in job.baseline:
            return job
        baseline = {k: v for k, v in job.baseline.items() if k != "group"}
        name = job.baseline["group"]
        baseline["group_id"] = self.groups().get(group_key(name)) if name else None
        return replace(job, baseline=baseline)


def stale_router_tags(job: Job, tags: Iterable[str]) -> set[str]:
    """The router's own intent, queue and review tags of its last write that this decision drops."""
    previous = set((job.previous or {}).get("tags") or [])
    return {t for t in previous - set(tags) if t.startswith(ROUTER_TAG_PREFIXES)}


def delivered(wrote: Mapping[str, Any], seen: Mapping[str, Any], tags: list[str], agent: bool) -> dict[str, Any]:
    """What a delivery records: what it set, what it found, its tags, and the outcome."""
    outcome = "agent_changed" if agent else ("routed" if wrote else "suggested")
    return {
        "outcome": outcome,
        "wrote": dict(wrote),
        "seen": dict(seen),
        "tags": tags,
        "note": True,
        "agent_changed": agent,
    }
