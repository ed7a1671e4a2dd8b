"""Eight threads evaluate while the snapshot swaps 1,000 times between two opposite documents;
and a process forked while all of that runs gets working locks.

Document A turns every flag on with attribute ``v == "A"`` and names every variant ``a-...``;
document B turns every basic flag off and names every variant ``b-...`` with ``v == "B"``. So
any single answer says which document it came from, and a multi-flag read that mixed two
snapshots would show both letters. The swaps go through the real publish path: a source that
alternates the two documents, and ``Flags.refresh()`` (fetch, parse, validate, compile, swap).

Only the forking thread survives ``fork()``: a lock that another thread held at that moment is
held in the child for ever. The fork test forks repeatedly while threads evaluate through hooks,
the poller swaps and the guard polls, and every child must evaluate, swap and exit in time.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flagkit
from flagkit import AlarmGuard, Fetched, Flags, FlagsView
from flagkit._hooks import EvaluationCounters, Exposures
from flagkit.testing import StaticAlarms

SWAPS = 1_000
READERS = 8
BASIC = tuple(f"basic-{i:02d}" for i in range(14))
MULTI = tuple(f"multi-{i:02d}" for i in range(6))
CONTEXTS = (("u-1", {"plan": "pro"}), ("u-2", {"plan": "free"}), ("u-3", None))


def document(letter: str) -> dict[str, Any]:
    """Document ``letter`` ("A" or "B"): 14 basic and 6 multi-variant flags, all disagreeing."""
    on, prefix = letter == "A", letter.lower()
    attrs = {"v": {"constraints": {"type": "string"}}}
    flags: dict[str, Any] = {key: {"attributes": attrs} for key in (*BASIC, *MULTI)}
    values: dict[str, Any] = {key: {"enabled": on, "v": letter} for key in BASIC}
    for i, key in enumerate(MULTI):
        values[key] = {
            "_variants": [
                {
                    "name": f"{prefix}-pro",
                    "enabled": True,
                    "rule": '(eq $plan "pro")',
                    "attributeValues": {"v": letter},
                },
                {
                    "name": f"{prefix}-split",
                    "enabled": True,
                    "rule": f'(split pct::50 by::$userId seed::"{letter}{i}")',
                    "attributeValues": {"v": letter},
                },
                {"name": f"{prefix}-default", "enabled": True, "attributeValues": {"v": letter}},
            ]
        }
    return {"version": "1", "flags": flags, "values": values}


class Alternating:
    """A source (the one-method protocol) whose every fetch is the other document, relabelled.

    It asks to be polled again at once, so a running poller swaps back to back; in a forked
    child it asks for a minute, so the child's own poller does not crowd out what it tests.
    """

    def __init__(self, make: Callable[[str], dict[str, Any]] = document) -> None:
        self._bodies = {letter: json.dumps(make(letter)).encode() for letter in "AB"}
        self.fetches = 0
        self._pid = os.getpid()

    def fetch(self) -> Fetched:
        self.fetches += 1
        letter = "AB"[self.fetches % 2]
        again = 0.0 if os.getpid() == self._pid else 60.0
        return Fetched(self._bodies[letter], "application/json", f"{letter}-{self.fetches}", again)


def letters_of(view: FlagsView | Flags, user_id: str, attributes: Any) -> set[str]:
    """Which documents one read of every flag through ``view`` came from ("?" if from neither)."""
    seen: set[str] = set()
    for key in BASIC:
        on = view.enabled(key, user_id, attributes)
        v = view.get_str(key, "v", "-", user_id, attributes)
        seen.add({(True, "A"): "A", (False, "-"): "B"}.get((on, v), "?"))
    for key in MULTI:
        name = view.variant(key, user_id, attributes) or "?"
        v = view.get_str(key, "v", "-", user_id, attributes)
        seen.add(name[0].upper() if name[0].upper() == v else "?")
    version = view.version or "?"
    seen.add(version[0])
    return seen


@dataclass
class Reader:
    """One evaluating thread's tallies."""

    pinned: int = 0  # multi-flag reads made through flags.view()
    unpinned: int = 0  # single evaluations made on the client directly
    versions: Counter[str] = field(default_factory=Counter)
    torn: list[tuple[str | None, set[str]]] = field(default_factory=list)
    unpinned_errors: list[str] = field(default_factory=list)
    raised: list[BaseException] = field(default_factory=list)


def read_until(flags: Flags, start: threading.Barrier, stop: threading.Event, me: Reader) -> None:
    start.wait()
    i = 0
    try:
        while not stop.is_set():
            user_id, attributes = CONTEXTS[i % len(CONTEXTS)]
            i += 1
            view = flags.view()
            seen = letters_of(view, user_id, attributes)
            me.pinned += 1
            if len(seen) != 1 or "?" in seen:
                me.torn.append((view.version, seen))
            else:
                me.versions[seen.pop()] += 1
            # Unpinned reads may straddle a swap, but each single answer is whole and none fails.
            key = MULTI[i % len(MULTI)]
            flags.enabled(BASIC[i % len(BASIC)], user_id, attributes)
            details = flags.details(key, user_id, attributes, attribute="v", kind="str")
            me.unpinned += 2
            if details.error_code is not None or details.value not in ("A", "B"):
                me.unpinned_errors.append(f"{details.error_code}: {details.error_message}")
    except BaseException as exc:  # the point of the test: nothing may reach here
        me.raised.append(exc)


def test_letters_of_detects_a_torn_read() -> None:
    """The checker itself: answers mixed from two documents show both letters."""
    a = Flags(flagkit.StaticSource(document("A"), version="A-1"))
    b = Flags(flagkit.StaticSource(document("B"), version="B-2"))
    assert letters_of(a.view(), "u-1", {"plan": "pro"}) == {"A"}
    assert letters_of(b.view(), "u-2", None) == {"B"}

    class Torn:  # basic flags from A, variants and version from B
        version = b.version
        enabled = a.enabled
        get_str = a.get_str
        variant = b.variant

    seen = letters_of(Torn(), "u-1", {"plan": "pro"})  # type: ignore[arg-type]
    assert len(seen) > 1, seen
    a.close()
    b.close()


def test_views_see_one_version_while_swapping_a_thousand_times() -> None:
    """8 readers x 1,000 swaps: each view read is all-A or all-B, and nothing raises."""
    source = Alternating()
    flags = Flags(source, start=False)
    assert flags.refresh()
    start, stop = threading.Barrier(READERS + 1), threading.Event()
    readers = [Reader() for _ in range(READERS)]
    threads = [
        threading.Thread(target=read_until, args=(flags, start, stop, r), name=f"reader-{n}")
        for n, r in enumerate(readers)
    ]
    for t in threads:
        t.start()
    swapped = 0
    try:
        start.wait(timeout=10)
        for _ in range(SWAPS):
            swapped += flags.refresh()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        flags.close()
    assert not any(t.is_alive() for t in threads)
    assert swapped == SWAPS
    assert flags.status().swaps == SWAPS + 1  # and the first one
    for n, r in enumerate(readers):
        assert r.raised == [], f"reader {n} raised {r.raised!r}"
        assert r.torn == [], f"reader {n} mixed versions: {r.torn[:3]}"
        assert r.unpinned_errors == [], f"reader {n}: {r.unpinned_errors[:3]}"
        # every thread made progress and saw both documents come and go
        assert r.versions["A"] > 0 and r.versions["B"] > 0, (n, r.versions)
    print(  # shown with -s: the numbers behind the claim
        f"{SWAPS} swaps; pinned reads per thread: {[r.pinned for r in readers]}; "
        f"A/B per thread: {[(r.versions['A'], r.versions['B']) for r in readers]}"
    )


# -- forking under load (issue 19, point 13) ---------------------------------------------------

FORKS = 30
FORK_BOUND = 45.0  # seconds for all the children together; one still running then is hung
ALARM = "load-5xx"


def guarded_document(letter: str) -> dict[str, Any]:
    """Document ``letter`` with one flag guarded by an alarm, so the guard polls and decides."""
    doc = document(letter)
    doc["flags"][BASIC[0]]["attributes"] = {"v": {}, "flagkit-alarms": {}}
    doc["values"][BASIC[0]]["flagkit-alarms"] = [ALARM]
    return doc


def _noop_hook(*_: object) -> None:
    return None


def forked_child(flags: Flags, counters: EvaluationCounters, exposures: Exposures) -> None:
    """In the child: evaluate through the hooks, swap, poll the guard, add a hook, flush."""
    before = counters.by_flag().get(MULTI[0], 0)
    details = flags.details(MULTI[0], "u-1", {"plan": "pro"}, attribute="v", kind="str")
    assert details.error_code is None and details.value in ("A", "B"), details
    assert counters.by_flag()[MULTI[0]] == before + 1
    assert flags.refresh()  # fetch, parse, compile, publish: the poller's and the client's locks
    flags.check_rollouts()  # the guard's and the alarms' locks
    flags.add_hook(_noop_hook)  # the hooks module's lock
    flags.remove_hook(_noop_hook)
    assert exposures.flush(timeout=FORK_BOUND)  # the child's own exposure worker


def load(flags: Flags, n: int, progress: threading.Event, stop: threading.Event) -> None:
    """Evaluate through the hooks (and add and remove one) until ``stop``."""
    i = 0
    while not stop.is_set():
        i += 1
        user = f"u-{n}-{i % 1000}"
        flags.enabled(BASIC[i % len(BASIC)], user)
        flags.details(MULTI[i % len(MULTI)], user, {"plan": "pro"}, attribute="v", kind="str")
        if i % 50 == 0:
            flags.add_hook(_noop_hook)
            flags.remove_hook(_noop_hook)
        progress.set()


def test_children_forked_under_load_evaluate_swap_and_exit() -> None:
    """Issue 19.13: fork 30 times while two threads evaluate through EvaluationCounters and
    Exposures, the poller swaps without pause and the rollout thread polls the guard; every
    child evaluates, swaps and exits within the bound (a hung child is killed and counted)."""
    ctx = multiprocessing.get_context("fork")
    swapped, parent = threading.Event(), os.getpid()
    flags = Flags(
        Alternating(guarded_document),  # poll_after 0: the poller swaps back to back
        guard=AlarmGuard(StaticAlarms({ALARM: "OK"}), interval=0.01),
        # the parent's event only: fork() may copy its lock held by this very listener, and a
        # child's poller calling set() on it would then wait for ever, holding the fetch lock
        on_change=lambda old, new: os.getpid() == parent and swapped.set(),
    )
    counters = EvaluationCounters()
    exposures = Exposures(lambda batch: None)
    flags.add_hook(counters)
    flags.add_hook(exposures)
    stop = threading.Event()
    progress = [threading.Event() for _ in range(2)]
    threads = [
        threading.Thread(target=load, args=(flags, n, p, stop), name=f"load-{n}")
        for n, p in enumerate(progress)
    ]
    for t in threads:
        t.start()
    children: list[Any] = []
    waiting: list[Any] = []  # sentinels of children that have not exited
    try:
        for _ in range(FORKS):
            for event in (swapped, *progress):  # fork only while everything is moving
                event.clear()
            for event in (swapped, *progress):
                assert event.wait(30), "the load stalled in the parent"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
                child = ctx.Process(target=forked_child, args=(flags, counters, exposures))
                child.start()
            children.append(child)
            waiting.append(child.sentinel)
        deadline = time.monotonic() + FORK_BOUND
        while waiting and (left := deadline - time.monotonic()) > 0:
            for done in multiprocessing.connection.wait(waiting, timeout=left):
                waiting.remove(done)  # type: ignore[arg-type]
    finally:
        # Hung: not exited by the deadline. (Not is_alive(): a child whose sentinel is ready may
        # not have been reaped yet, and waitpid(WNOHANG) would still call it alive.)
        hung = [c for c in children if c.sentinel in waiting]
        for c in hung:
            c.kill()
        for c in children:
            c.join(10)
        stop.set()
        for t in threads:
            t.join(30)
        exposures.close()
        flags.close()
    failed = [c.exitcode for c in children if c not in hung and c.exitcode != 0]
    print(f"{FORKS} forks under load: {len(hung)} children hung, {len(failed)} failed")
    assert not hung, f"{len(hung)} of {FORKS} forked children hung (killed after {FORK_BOUND} s)"
    assert not failed, f"children exited with {failed}"
