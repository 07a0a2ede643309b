"""The lifecycle state machine under concurrent admins: a stateful property test on both databases.

Hypothesis drives sequences of transitions. A single step is checked against a reference model written
from the rules in the README; a race runs several transitions at once from threads, where each must
either apply or be refused with a 409/422, never fail otherwise. After every step the invariants hold:
a version is in at most one serving slot, slots and states agree, the active version is never retired.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import delete, select, update

from router.db import Database, ModelSlot, ModelVersion, upgrade
from router.errors import Conflict, NotFound, RouterError, ValidationError
from router.registry.runtime import CANARY_MAX_PERCENT, CANARY_MIN_PERCENT
from router.services import lifecycle

VERSIONS = [f"v{i}" for i in range(4)]
SERVING = ("shadow", "canary", "active")
PERCENTS = [CANARY_MIN_PERCENT, 10.0, CANARY_MAX_PERCENT, 7.7e-160, 0.0, 60.0, math.nan]

ops = st.one_of(
    st.tuples(st.sampled_from(["shadow", "active", "retire"]), st.sampled_from(VERSIONS), st.none()),
    st.tuples(st.just("canary"), st.sampled_from(VERSIONS), st.sampled_from(PERCENTS)),
    st.tuples(st.just("rollback"), st.none(), st.none()),
)


def run(db: Database, op: tuple[str, str | None, float | None]) -> None:
    kind, version, percent = op
    ctx = SimpleNamespace(db=db, runtime=SimpleNamespace(invalidate=lambda: None, refresh=lambda: None))
    if kind == "rollback":
        lifecycle.rollback(ctx, actor="t")
    elif kind == "retire":
        lifecycle.retire(ctx, str(version), actor="t")
    else:
        lifecycle.transition(db, str(version), kind, actor="t", percent=percent)


def stored(db: Database) -> tuple[dict[str, str], dict[str, tuple[str, float | None]]]:
    with db.session() as s:
        states = {v.version: v.state for v in s.scalars(select(ModelVersion))}
        slots = {r.slot: (r.version, r.percent) for r in s.scalars(select(ModelSlot))}
    return states, slots


def check_invariants(db: Database) -> None:
    states, slots = stored(db)
    serving = [slots[s][0] for s in SERVING if s in slots]
    assert len(serving) == len(set(serving)), f"a version in two serving slots: {slots}"
    for slot in SERVING:
        if slot in slots:
            assert states[slots[slot][0]] == slot, f"slot {slot} holds {slots[slot][0]} in state {states}"
    for version, state in states.items():
        if state in SERVING:
            assert slots.get(state, (None,))[0] == version, f"{version} is {state} outside its slot: {slots}"
    assert "active" in slots and states[slots["active"][0]] == "active", (states, slots)
    if "previous" in slots:
        assert slots["previous"][0] != slots["active"][0], slots
    if "canary" in slots:
        percent = slots["canary"][1]
        assert percent is not None and CANARY_MIN_PERCENT <= percent <= CANARY_MAX_PERCENT, slots
    assert all(slots[s][1] is None for s in slots if s != "canary"), slots


class Reference:
    """The lifecycle's rules as the README states them, on plain dicts."""

    def __init__(self, states: dict[str, str], slots: dict[str, tuple[str, float | None]]) -> None:
        self.states = dict(states)
        self.slots = {k: v[0] for k, v in slots.items()}
        self.percent = slots["canary"][1] if "canary" in slots else None

    def apply(self, op: tuple[str, str | None, float | None]) -> type[Exception] | None:
        kind, version, percent = op
        if kind == "rollback":
            if "active" not in self.slots or "previous" not in self.slots:
                return Conflict
            good, bad = self.slots["previous"], self.slots["active"]
            if self.states[good] in ("shadow", "canary"):
                del self.slots[self.states[good]]
            self.states[good], self.states[bad] = "active", "retired"
            self.slots["active"], self.slots["previous"] = good, bad
            return None
        assert version is not None
        target = "retired" if kind == "retire" else kind
        now = self.states[version]
        if now == "active":
            return Conflict  # the active version leaves only when another one is activated
        if target == "canary" and (percent is None or not CANARY_MIN_PERCENT <= percent <= CANARY_MAX_PERCENT):
            return ValidationError
        if now == target and not (target == "canary" and percent != self.percent):
            return Conflict
        if now in ("shadow", "canary") and now != target:
            del self.slots[now]
        if target in ("shadow", "canary"):
            held = self.slots.get(target)
            if held is not None and held != version:
                self.states[held] = "candidate"
            self.slots[target] = version
            if target == "canary":
                self.percent = percent
        elif target == "active":
            current = self.slots["active"]
            self.states[current] = "retired"
            self.slots["previous"], self.slots["active"] = current, version
        self.states[version] = target
        return None


def test_transitions_from_several_threads_keep_the_invariants(tmp_path: Path, database_url: str) -> None:
    upgrade(database_url)
    db = Database(database_url)
    with db.session() as s:
        s.add_all(ModelVersion(version=v, sha256="0" * 64, card={}) for v in VERSIONS)

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            with db.session() as s:
                s.execute(delete(ModelSlot))
                s.execute(update(ModelVersion).values(state="candidate"))
            lifecycle.activate_ungated(db, VERSIONS[0], actor="t")
            self.ref = Reference(*stored(db))

        @rule(op=ops)
        def step(self, op: tuple[str, str | None, float | None]) -> None:
            expected = self.ref.apply(op)
            try:
                run(db, op)
                got: type[Exception] | None = None
            except (Conflict, ValidationError, NotFound) as exc:
                got = type(exc)
            assert got == expected, (op, got, expected)
            states, slots = stored(db)
            assert states == self.ref.states, (op, states, self.ref.states)
            assert {k: v[0] for k, v in slots.items()} == self.ref.slots, (op, slots, self.ref.slots)

        @rule(batch=st.lists(ops, min_size=2, max_size=4))
        def race(self, batch: list[tuple[str, str | None, float | None]]) -> None:
            start = threading.Barrier(len(batch))
            failures: list[BaseException] = []

            def worker(op: tuple[str, str | None, float | None]) -> None:
                start.wait()
                try:
                    run(db, op)
                except RouterError as exc:
                    if exc.status not in (409, 422):
                        failures.append(exc)
                except BaseException as exc:
                    failures.append(exc)

            threads = [threading.Thread(target=worker, args=(op,)) for op in batch]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not failures, (batch, failures)
            self.ref = Reference(*stored(db))

        @invariant()
        def consistent(self) -> None:
            check_invariants(db)

    try:
        run_state_machine_as_test(
            Lifecycle,
            settings=settings(
                max_examples=30,
                stateful_step_count=15,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("setup", "op", "status"),
    [
        pytest.param([], ("canary", "v0", 10.0), 409, id="canary-on-the-active-version"),
        pytest.param([], ("retire", "v0", None), 409, id="retire-the-active-version"),
        pytest.param([], ("shadow", "v0", None), 409, id="shadow-the-active-version"),
        pytest.param([], ("canary", "v1", 7.7e-160), 422, id="canary-7.7e-160-percent"),
        pytest.param([], ("canary", "v1", 60.0), 422, id="canary-above-half"),
        pytest.param([("retire", "v1", None)], ("retire", "v1", None), 409, id="retire-twice"),
        pytest.param([("canary", "v1", 5.0)], ("canary", "v1", 5.0), 409, id="same-canary-again"),
    ],
)
def test_impossible_transitions_are_refused_and_change_nothing(
    tmp_path: Path, setup: list[Any], op: tuple[str, str, float | None], status: int
) -> None:
    url = f"sqlite:///{tmp_path / 'router.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        s.add_all(ModelVersion(version=v, sha256="0" * 64, card={}) for v in VERSIONS)
    lifecycle.activate_ungated(db, "v0", actor="t")
    for step in setup:
        run(db, step)
    before = stored(db)
    with pytest.raises(RouterError) as refused:
        run(db, op)
    assert refused.value.status == status and refused.value.message
    assert stored(db) == before
    check_invariants(db)
    db.dispose()
