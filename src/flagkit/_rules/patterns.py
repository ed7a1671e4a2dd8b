"""Regular expressions for ``matches`` and attribute constraints: RE2, linear in the text.

One load's :class:`Patterns` compiles each distinct pattern once and adds the program sizes up
against :class:`~flagkit.Limits`. This module imports ``re`` only (``re2`` on the first pattern),
so a document without patterns, such as a data view, never loads the rule closures for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "PATTERN_FLOOR",
    "Pattern",
    "PatternError",
    "PatternTooLarge",
    "Patterns",
    "compile_pattern",
]

# --- regular expressions: RE2, linear in the text, never backtracking ------------------------


class PatternError(ValueError):
    """RE2 cannot compile a pattern; the message says why (the caller adds flag and field)."""


class PatternTooLarge(PatternError):
    """A pattern, or all of a document's patterns together, pass their size limit."""


# RE2's message, and what it means for someone who wrote a Python/PCRE pattern.
_RE2_HINTS = (
    (r"invalid escape sequence: \\[1-9gk]", "backreferences are not supported"),
    (r"invalid perl operator: \(\?P$", "(?P<name>...) groups only; no backreferences"),
    (r"invalid perl operator: \(\?<?[=!]", "lookahead and lookbehind are not supported"),
    (r"invalid perl operator: \(\?>", "atomic groups are not supported"),
    (r"bad repetition operator: .\+", "possessive quantifiers are not supported"),
    (r"invalid escape sequence: \\Z", "write \\z for the end of the text"),
    (r"invalid repetition size", "a counted repetition is at most {1000}"),
)

# RE2's memory budget per pattern (``Options.max_mem``) is what the pattern may ever hold: its
# program, and the cache of DFA states its searches build (a hostile text can fill it).
# Compiling, RE2 gets 64 bytes per instruction of the size limit, and stops a program that
# outgrows about a twentieth of that: a huge pattern is refused after milliseconds, never
# compiled whole. A pattern that fits is compiled again with a budget after its own size: 64 KiB
# plus 256 bytes per instruction, enough for the DFA to run ordinary patterns at full speed
# (measured: benchmarks/document_limits.py), so many small patterns cannot hold 640 KB each.
_COMPILE_BYTES_PER_INSTRUCTION = 64
_HOLD_BASE = 64 * 1024
_HOLD_BYTES_PER_INSTRUCTION = 256
PATTERN_FLOOR = 250  # what the smallest pattern counts towards a document's total


class Pattern(NamedTuple):
    """A compiled pattern: ``found(text) -> bool`` (unanchored search) and what it costs.

    ``size`` is the RE2 program's instructions: its memory and compile time. ``positions`` is
    the same pattern's program compiled for Latin-1 text, about one instruction per character
    position (UTF-8 expands a class such as ``\\pL`` into a tree of byte ranges, of which a scan
    visits one path): the most threads RE2's fallback matcher (the NFA, used when a pattern's
    DFA outgrows its memory) steps for each byte of text, i.e. the scan's worst case per byte.
    """

    found: Callable[[str], bool]
    size: int
    positions: int


def compile_pattern(pattern: str, *, max_size: int | None = None) -> Pattern:
    """``pattern`` compiled with RE2, never through re2's module-level cache.

    RE2 matches in time linear in the text, so no pattern can make an evaluation (or a load
    that checks a constraint) backtrack for ever; the price is that backreferences and
    lookaround do not exist (docs/rules.md lists the dialect). ``re2.compile`` would keep the
    last 128 programs (up to 8 MiB each) alive for the life of the process, after the snapshot
    that used them is gone; here the program lives exactly as long as the returned closure.
    ``max_size`` caps the RE2 program in instructions (RE2's memory budget follows from it).
    ``re2`` is imported here, on the first pattern, never by ``import flagkit``. Raises
    :class:`PatternError`.
    """
    import re2

    options = re2.Options()
    options.log_errors = False  # the reason is raised; nothing goes to stderr
    options.never_capture = True  # a yes/no answer needs no groups, and is faster without
    if max_size is not None:
        options.max_mem = max_size * _COMPILE_BYTES_PER_INSTRUCTION
    # google-re2's Python class, built directly: ``re2.compile`` is this behind an lru_cache
    uncached = getattr(re2, "_Regexp", None)
    make = uncached or re2.compile
    try:
        encoded = pattern.encode("utf-8")
        regexp = make(encoded, options)
    except UnicodeEncodeError as exc:
        raise PatternError("the pattern contains a lone surrogate") from exc
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        reason = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if reason.startswith("pattern too large"):
            raise PatternTooLarge(_too_large(None, max_size)) from exc
        hint = next((h for p, h in _RE2_HINTS if re.match(p, reason)), None)
        raise PatternError(f"{reason} (RE2: {hint})" if hint else reason) from exc
    size = int(regexp.programsize)
    if max_size is not None and size > max_size:
        raise PatternTooLarge(_too_large(size, max_size))
    hold = _HOLD_BASE + size * _HOLD_BYTES_PER_INSTRUCTION
    if hold < options.max_mem:  # compiled once more, to hold no more than its size calls for
        options.max_mem = hold
        regexp = make(encoded, options)
    search = regexp.search

    def found(text: str) -> bool:
        # bytes in, so a lone surrogate (reachable from Python) cannot make encoding raise
        return search(text.encode("utf-8", "surrogatepass")) is not None

    return Pattern(found, size, _positions(re2, make, encoded, options) or size)


def _positions(re2: Any, make: Any, encoded: bytes, options: Any) -> int | None:
    """The program size of ``encoded`` compiled for Latin-1 text, or None if it will not."""
    options.encoding = re2.Options.Encoding.LATIN1
    try:
        return int(make(encoded, options).programsize)
    except re2.error:  # e.g. an escape past U+00FF: count the UTF-8 program instead
        return None


def _too_large(size: int | None, max_size: int | None) -> str:
    limit = "RE2's memory budget" if max_size is None else f"{max_size:,} instructions"
    has = "is" if size is None else f"has {size:,} instructions,"
    return f"its RE2 program {has} over the limit of {limit}"


class Patterns:
    """One load's patterns: each distinct pattern compiled once, program sizes added up.

    ``compile`` raises :class:`PatternError` for a pattern over ``max_size`` instructions, or
    once the document's patterns together pass ``max_total``: compiling costs time and the
    programs are held for the snapshot's life, so a document of many patterns is refused
    partway instead of compiled whole. A pattern used twice shares one program.
    """

    __slots__ = ("_compiled", "max_size", "max_total", "total")

    def __init__(self, *, max_size: int | None = None, max_total: int | None = None) -> None:
        self.max_size = max_size
        self.max_total = max_total
        self.total = 0  # RE2 program instructions compiled so far
        self._compiled: dict[str, Pattern] = {}

    def compile(self, pattern: str) -> Pattern:
        known = self._compiled.get(pattern)
        if known is not None:
            return known
        compiled = compile_pattern(pattern, max_size=self.max_size)
        self.total += max(compiled.size, PATTERN_FLOOR)
        if self.max_total is not None and self.total > self.max_total:
            raise PatternTooLarge(self._over_total())
        self._compiled[pattern] = compiled
        return compiled

    def _over_total(self) -> str:
        return (
            f"the document's patterns reach {self.total:,} RE2 program instructions (each "
            f"counting at least {PATTERN_FLOOR}), over the limit of {self.max_total:,}"
        )
