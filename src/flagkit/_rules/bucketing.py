"""Deterministic bucketing for ``split`` (specified exactly in docs/bucketing.md).

    seed_int = mmh3_x86_32(utf8(seed_string), seed=0)          unsigned
    h        = mmh3_x86_32(utf8(by_value),    seed=seed_int)   unsigned, 0 <= h < 2**32
    bucket   = (h * 100_000) >> 32                              0 <= bucket < 100_000
    in split iff bucket < round(pct * 1000)

``seed_string`` is the rule's ``seed::`` or, when absent, the flag key: unseeded splits are
independent across flags, equal seeds nest. Resolution is 0.001 %. Raising ``pct`` only
adds buckets, so users only ever join. The hot path compares ``h`` against a precomputed
threshold instead of computing the bucket; :func:`hash_threshold` proves they agree.
"""

from __future__ import annotations

import mmh3

BUCKETS = 100_000  # the one definition of the bucket scale
UNITS_PER_PERCENT = BUCKETS // 100  # 1000: pct is resolved to 0.001 %


def seed_of(seed: str) -> int:
    """The 32-bit mmh3 seed that a seed string (or flag key) selects."""
    return mmh3.hash(seed.encode("utf-8"), 0, signed=False)


def bucket(value: str, seed: str) -> int:
    """The bucket (0..99_999) of ``value`` under ``seed``.

    A lone surrogate (only a Python ``str`` can hold one) is encoded on its own as its 3-byte
    form, as the ``split`` closure encodes it, so this never raises and always agrees with it.
    """
    h = mmh3.hash(value.encode("utf-8", "surrogatepass"), seed_of(seed), signed=False)
    return (h * BUCKETS) >> 32


def pct_units(pct: float) -> int:
    """``pct`` (0..100) in bucket units, rounded to the 0.001 % resolution."""
    return round(pct * UNITS_PER_PERCENT)


def pct_problem(pct: float) -> str | None:
    """Why ``pct`` is not a split percentage (after ``pct::``), or None when it is one."""
    if not 0 <= pct <= 100:
        return f"must be from 0 to 100, found {pct}"
    if abs(pct * 1000 - pct_units(pct)) > 1e-6:  # tolerance for binary floats like 12.345
        return f"{pct} has more than 3 decimals (the resolution is 0.001 %)"
    return None


def hash_threshold(pct: float) -> int:
    """The smallest 32-bit hash that is *not* in a ``pct`` split.

    ``(h * BUCKETS) >> 32 < P``  <=>  ``h * BUCKETS < P * 2**32``
    <=>  ``h < ceil(P * 2**32 / BUCKETS)``
    """
    units = pct_units(pct)
    return -(-(units << 32) // BUCKETS)


def in_split(value: str, seed: str, pct: float) -> bool:
    """The reference decision; the compiled rule uses the threshold form for speed."""
    return bucket(value, seed) < pct_units(pct)
