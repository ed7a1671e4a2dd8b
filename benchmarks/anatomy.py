"""Where flagkit's evaluation time goes, layer by layer (a diagnostic, not a comparison).

    .venv/bin/python benchmarks/anatomy.py [--quick]

cProfile's per-call cost is larger than a whole flagkit evaluation, so instead this times the
same batched loop as run.py over progressively more of the call:

* ``loop``: the harness loop calling a closure that returns a constant (everyone pays it);
* ``method``: the closure calling a no-op method with ``Flags.enabled``'s signature;
* ``compiled``: the closure calling the flag's compiled closure directly (the rule alone);
* ``flagkit``: the closure calling ``flags.enabled`` / ``flags.variant`` (what run.py times);
* ``floor``: the hand-written equivalent, for reference.

Uses flagkit's private snapshot (``flags._snapshot``) to reach the compiled closures; if those
names move, this script needs the same one-line update.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make `benchmarks` and the working tree's flagkit (src/) importable.
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

from benchmarks.peers import flagkit as flagkit_adapter
from benchmarks.peers import floor
from benchmarks.scenarios import SCENARIOS, appconfig_document, make_users
from benchmarks.timing import gc_paused, median, time_batch


class _Stub:
    def enabled(
        self, flag: str, user_id: Any = None, attributes: Any = None, *, default: bool = False
    ) -> bool:
        return default


def measure(repeats: int = 15, passes: int = 10) -> dict[str, dict[str, float]]:
    import flagkit

    users = make_users()
    flags = flagkit.Flags(flagkit.StaticSource(appconfig_document()))
    snap = flags._snapshot  # private: the compiled closures live here
    full = flagkit_adapter.build().evaluators
    base = floor.build().evaluators
    stub = _Stub().enabled

    def loop(uid: str, attributes: dict[str, Any]) -> bool:
        return True

    def method(uid: str, attributes: dict[str, Any]) -> bool:
        return stub("s1", uid, attributes)

    def compiled_for(key: str, flag: str) -> Any:
        if key == "S4":
            return loop  # a missing flag has no compiled closure
        if key == "S5":
            select = snap.flags[flag].select
            return lambda uid, attributes: select(uid, attributes).name
        fn = snap.enabled_fns[flag]
        if fn is True or fn is False:  # a flag that is the same for everyone is a stored bool
            return lambda uid, attributes: fn
        # The wrapper is the point: every layer pays the same closure call run.py's loop does.
        return lambda uid, attributes: fn(uid, attributes)  # noqa: PLW0108

    rows: dict[str, dict[str, Any]] = {}
    for s in SCENARIOS:
        rows[s.key] = {
            "loop": loop,
            "method": method,
            "compiled": compiled_for(s.key, s.flag),
            "flagkit": full[s.key],
            "floor": base[s.key],
        }
    samples: dict[str, dict[str, list[float]]] = {
        k: {layer: [] for layer in row} for k, row in rows.items()
    }
    for _ in range(repeats):
        with gc_paused():
            for key, row in rows.items():
                for layer, fn in row.items():
                    ns = time_batch(fn, users, passes)
                    samples[key][layer].append(ns / (passes * len(users)))
    flags.close()
    return {k: {layer: median(v) for layer, v in row.items()} for k, row in samples.items()}


def render(result: dict[str, dict[str, float]]) -> str:
    lines = [
        "Median ns per call, same batched loop as run.py:",
        "",
        "| scenario | loop | method call | compiled rule | flagkit | floor "
        "| flagkit - compiled (API) | compiled - loop (rule) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in result.items():
        lines.append(
            f"| {key} | {r['loop']:.0f} | {r['method']:.0f} | {r['compiled']:.0f} "
            f"| {r['flagkit']:.0f} | {r['floor']:.0f} | {r['flagkit'] - r['compiled']:.0f} "
            f"| {r['compiled'] - r['loop']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: Any = sys.stdout) -> dict[str, dict[str, float]]:
    result = measure(*((3, 2) if argv and "--quick" in argv else (15, 10)))
    print(render(result), file=out)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
