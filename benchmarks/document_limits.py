"""What a hostile document costs to load, to hold and to evaluate (issue 19 points 2, 4, 5).

    .venv/bin/python benchmarks/document_limits.py                 # every case, a markdown table
    .venv/bin/python benchmarks/document_limits.py --only p5-empty-flags,max-flags
    .venv/bin/python benchmarks/document_limits.py --src ../main/src   # another checkout's flagkit

Each case runs in a fresh interpreter, so one case's memory cannot hide another's. Reported:

* load: CPU seconds of ``snapshot_from_bytes`` (parse, validate, compile), as the poller runs it;
* peak: the resident-set high-water mark during the load, above the process before it;
* held: resident memory the snapshot holds after the evaluations (for ``pattern-count``, after
  a hostile text has filled every pattern's match cache);
* kept: resident memory still held once the snapshot is dropped and collected (what a module
  cache, for instance, keeps for the life of the process);
* eval: the slowest of three evaluations of the costliest flag against the case's context.

``issue`` cases are the documents issue 19 reported; ``limit`` cases are the worst documents
the default :class:`flagkit.Limits` accept, one per limit. The documents are built here, and
tests/test_hostile_documents.py loads the same ones.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import string
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

UA_1K = "é" * 512  # 1 KiB of letters: every [\pL\pN] position stays alive
KEY_CHARS = string.ascii_letters + string.digits + "_-"


def _doc(flags: dict[str, Any], values: dict[str, Any] | None = None) -> bytes:
    body = {"version": "1", "flags": flags, "values": values or {}}
    return json.dumps(body, separators=(",", ":")).encode()


def _variants(rules: list[str]) -> dict[str, Any]:
    out: list[dict[str, Any]] = [
        {"name": f"v{i}", "enabled": True, "rule": r} for i, r in enumerate(rules)
    ]
    return {"_variants": [*out, {"name": "default", "enabled": False}]}


def _filled(term: Callable[[int], str], chars: int = 16_384) -> str:
    """``(or term0 term1 ...)`` with as many terms as fit in ``chars`` characters."""
    terms: list[str] = []
    used = len("(or )")
    while used + len(term(len(terms))) + 1 <= chars:
        terms.append(term(len(terms)))
        used += len(terms[-1]) + 1
    return "(or " + " ".join(terms) + ")"


def multi_flag(rules: list[str]) -> bytes:
    """A document of one multi-variant flag ``f`` whose variants have these rules."""
    return _doc({"f": {}}, {"f": _variants(rules)})


def three_char_keys(n: int) -> list[str]:
    """``n`` distinct flag keys of three characters (106,496 exist)."""
    return [a + b + c for a in string.ascii_lowercase for b in KEY_CHARS for c in KEY_CHARS][:n]


# --- the documents issue 19 reported ---------------------------------------------------------


def matches_amplification(terms: int = 24) -> bytes:
    """32 variants, 31 an ``or`` of ``terms`` 537,000-instruction patterns (point 2)."""
    rule = "(or " + " ".join([r'(matches in::$ua pattern::"[\\pL\\pN]{400}!")'] * terms) + ")"
    return multi_flag([rule] * 31)


def eq_chains() -> bytes:
    """32 variants, 31 a 16 KiB ``or`` of ``eq`` (point 2)."""
    return multi_flag([_filled(lambda i: f'(eq $a "x{i}")')] * 31)


def contains_chains() -> bytes:
    """32 variants, 31 a 16 KiB ``or`` of ``contains`` on a context list (point 2)."""
    return multi_flag([_filled(lambda i: f'(contains $tags "t{i}")')] * 31)


def constraint_patterns() -> bytes:
    """650 bytes: 8 attributes whose constraint patterns compile to 537,000 instructions each."""
    attrs = {
        f"a{i}": {"constraints": {"type": "string", "pattern": f"[\\pL\\pN]{{400}}k{i}"}}
        for i in range(8)
    }
    return _doc({"f": {"attributes": attrs}})


def empty_flags(n: int = 106_496) -> bytes:
    """``n`` empty flag definitions: 106,496 make 958 KB (point 5)."""
    return _doc({key: {} for key in three_char_keys(n)})


# --- the worst documents the default limits accept -----------------------------------------


def flags_at_limit(n: int = 25_000) -> bytes:
    """``n`` basic flags, each enabled (a definition and a value)."""
    keys = three_char_keys(n)
    return _doc({key: {} for key in keys}, {key: {"enabled": True} for key in keys})


def data_view_at_limit(n: int = 25_000) -> bytes:
    """``n`` flags in the data-view form, each with one attribute."""
    body = {k: {"enabled": True, "a": 1} for k in three_char_keys(n)}
    return json.dumps(body, separators=(",", ":")).encode()


def patterns_at_limit(count: int = 21) -> bytes:
    """``count`` distinct constraint patterns of 9,399 instructions: 21 near the 200,000 total."""
    flags: dict[str, Any] = {}
    for j in range(0, count, 25):
        attrs = {
            f"a{i}": {"constraints": {"type": "string", "pattern": f"[\\pL\\pN]{{7}}!{i}"}}
            for i in range(j, min(j + 25, count))
        }
        flags[f"f{j}"] = {"attributes": attrs}
    return _doc(flags)


def many_small_patterns(count: int = 792) -> bytes:
    """``count`` distinct ~24-position patterns whose DFAs a hostile text fills, 24 per flag."""
    flags = count // 24
    rules = {
        f"f{j}": _variants(
            [f'(matches in::$ua pattern::"(a|b)*a(a|b){{15}}c{j * 24 + i}")' for i in range(24)]
        )
        for j in range(flags)
    }
    return _doc({key: {} for key in rules}, rules)


def matches_at_cost_limit() -> bytes:
    """``[a-z]{600}!``: 605 positions, 19,363 steps, under the 20,000 budget."""
    return multi_flag(['(matches in::$ua pattern::"[a-z]{600}!")'])


def eq_at_cost_limit() -> bytes:
    """``eq`` chains just under the 20,000-step budget."""
    rule = _filled(lambda i: f'(eq $a "x{i}")')  # 1,092 steps each
    return multi_flag([rule] * 18)


def contains_at_cost_limit() -> bytes:
    """``contains`` on a context list, just under the 20,000-step budget."""
    rule = "(or " + " ".join(f'(contains $tags "t{i}")' for i in range(197)) + ")"
    return multi_flag([rule])


def rules_1mib(flags: int = 56) -> bytes:
    """56 flags, each one 16 KiB rule: 1,045,688 bytes, just under the 1 MiB size cap."""
    rule = _filled(lambda i: f'(eq $a "x{i}")')
    return _doc(
        {f"f{j}": {} for j in range(flags)}, {f"f{j}": _variants([rule]) for j in range(flags)}
    )


def _ab_text(n: int = 4096) -> str:
    rng = random.Random(19)
    return "".join(rng.choice("ab") for _ in range(n))


def _lowercase_text(n: int = 1024) -> str:
    rng = random.Random(19)
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # issue | limit
    build: Callable[[], bytes]
    context: dict[str, Any] | None = None
    every_flag: bool = False  # evaluate every flag with the context, not only the costliest


TAGS = [f"tag{i}" for i in range(100)]
CASES = (
    Case("p2-matches", "issue", matches_amplification, {"ua": UA_1K}),
    Case("p2-eq-chains", "issue", eq_chains, {"a": "none"}),
    Case("p2-contains", "issue", contains_chains, {"tags": TAGS}),
    Case("p4-constraint-patterns", "issue", constraint_patterns),
    Case("p5-empty-flags", "issue", empty_flags),
    Case("max-flags", "limit", flags_at_limit),
    Case("max-flags-data-view", "limit", data_view_at_limit),
    Case("pattern-total", "limit", patterns_at_limit),
    Case("pattern-count", "limit", many_small_patterns, {"ua": _ab_text()}, every_flag=True),
    Case("cost-matches", "limit", matches_at_cost_limit, {"ua": _lowercase_text()}),
    Case("cost-eq", "limit", eq_at_cost_limit, {"a": "none"}),
    Case("cost-contains", "limit", contains_at_cost_limit, {"tags": TAGS}),
    Case("rules-1mib", "limit", rules_1mib, {"a": "none"}),
)


# --- measuring, one case per process -------------------------------------------------------


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _hwm_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(name: str) -> dict[str, Any]:
    from flagkit import DocumentError
    from flagkit._snapshot import snapshot_from_bytes

    case = next(c for c in CASES if c.name == name)
    body = case.build()
    # warm the imports (pydantic, re2) so that they are not counted as the load's
    snapshot_from_bytes(multi_flag(['(matches in::$x pattern::"warm")']))
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS
        f.write("5")
    before = _rss_mib()
    t0 = time.process_time()
    out: dict[str, Any] = {"case": name, "kind": case.kind, "bytes": len(body)}
    try:
        snapshot = snapshot_from_bytes(body)
    except DocumentError as exc:
        out["load_s"] = time.process_time() - t0
        out["result"] = f"refused: {exc}"[:160]
        snapshot = None
    else:
        out["load_s"] = time.process_time() - t0
        # the costliest flag (the one with most variants, before CompiledFlag.cost existed)
        flag = each = max(snapshot.flags.values(), key=lambda f: getattr(f, "cost", len(f.rules)))
        cost = f", costliest {flag.cost:,} steps" if hasattr(flag, "cost") else ""
        out["result"] = f"accepted: {len(snapshot.flags):,} flags{cost}"
        if case.context is not None:
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                flag.select("u1", case.context)
                runs.append(time.perf_counter() - t)
            out["eval_ms"] = max(runs) * 1e3
            if case.every_flag:  # every pattern's DFA cache filled by a hostile text
                for each in snapshot.flags.values():
                    each.select("u1", case.context)
    out["held_mib"] = _rss_mib() - before
    out["peak_mib"] = _hwm_mib() - before
    del snapshot
    flag = each = None
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed pages back, so "kept" is what is held
    out["kept_mib"] = _rss_mib() - before
    return out


def run(names: list[str], src: Path) -> list[dict[str, Any]]:
    results = []
    for name in names:
        env = {**os.environ, "PYTHONPATH": str(src)}
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            results.append({"case": name, "result": f"crashed: {proc.stderr.strip()[-200:]}"})
        else:
            results.append(json.loads(proc.stdout))
        print(json.dumps(results[-1]), file=sys.stderr)
    return results


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| case | bytes | load CPU | peak | held | kept after drop | one evaluation | result |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ev = f"{r['eval_ms']:.2f} ms" if "eval_ms" in r else "-"
        rows.append(
            f"| {r['case']} | {r.get('bytes', 0):,} | {r.get('load_s', 0):.2f} s "
            f"| {r.get('peak_mib', 0):.0f} MiB | {r.get('held_mib', 0):.0f} MiB "
            f"| {r.get('kept_mib', 0):.0f} MiB | {ev} "
            f"| {r['result']} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="flagkit source to load")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return
    names = args.only.split(",") if args.only else [c.name for c in CASES]
    print(table(run(names, args.src.resolve())))


if __name__ == "__main__":
    main()
