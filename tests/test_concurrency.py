"""Eight threads evaluate while the snapshot swaps 1,000 times between two opposite documents.

Document A turns every flag on with attribute ``v == "A"`` and names every variant ``a-...``;
document B turns every basic flag off and names every variant ``b-...`` with ``v == "B"``. So
any single answer says which document it came from, and a multi-flag read that mixed two
snapshots would show both letters. The swaps go through the real publish path: a source that
alternates the two documents, and ``Flags.refresh()`` (fetch, parse, validate, compile, swap).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import flagkit
from flagkit import Fetched, Flags, FlagsView

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
    """A source (the one-method protocol) whose every fetch is the other document, relabelled."""

    def __init__(self) -> None:
        self._bodies = {letter: json.dumps(document(letter)).encode() for letter in "AB"}
        self.fetches = 0

    def fetch(self) -> Fetched:
        self.fetches += 1
        letter = "AB"[self.fetches % 2]
        return Fetched(self._bodies[letter], "application/json", f"{letter}-{self.fetches}", 0.0)


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
