"""flagkit's document extension for progressive delivery: ramps and alarm guards.

The extension travels as ordinary AppConfig flag attributes whose names start with ``flagkit-``,
so a document that uses it is still a valid ``AWS.AppConfig.FeatureFlags`` document (AppConfig
checks them against the attribute definitions like any other), and the attributes survive into
the data view AppConfig serves for enabled flags. On a multi-variant flag they sit on the default
(last) variant, the one the ramp and the guard fall back to. flagkit takes them out of the
flag's values at load time: callers never see them as attributes.

    flagkit-ramp          "Canary10Percent5Minutes" | "Linear10PercentEvery1Minute" | custom steps
    flagkit-ramp-start    "2026-11-26T10:00:00Z" (required with a ramp)
    flagkit-ramp-by       the context key to bucket by (default: the user key)
    flagkit-ramp-seed     the bucketing seed (default: the flag key, as for ``split``)
    flagkit-alarms        ["checkout-5xx", ...] CloudWatch alarm names (at most 10)
    flagkit-alarm-clear   "stay-off" (default) | "resume"
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from flagkit._exceptions import DocumentError

from .spec import FlagSpec

if TYPE_CHECKING:  # _rollout.ramp is loaded by the first document that has a ramp
    from flagkit._rollout.ramp import Ramp

__all__ = ["ATTRIBUTES", "PREFIX", "Rollout", "constraints", "split_rollout", "value_schemas"]

PREFIX = "flagkit-"
RAMP = "flagkit-ramp"
RAMP_START = "flagkit-ramp-start"
RAMP_BY = "flagkit-ramp-by"
RAMP_SEED = "flagkit-ramp-seed"
ALARMS = "flagkit-alarms"
ALARM_CLEAR = "flagkit-alarm-clear"
ATTRIBUTES = (RAMP, RAMP_START, RAMP_BY, RAMP_SEED, ALARMS, ALARM_CLEAR)
MAX_ALARMS = 10
ALARM_NAME_CHARS = 255  # CloudWatch's limit
OnClear = Literal["stay-off", "resume"]

# What each setting's value looks like, as JSON Schema (draft 4) and as the AppConfig attribute
# constraint that a stored document defines it with (AppConfig then checks it at deployment).
_UNIT = r"(?:Second|Minute|Hour)s?"
RAMP_PATTERN = (
    r"^(?:(?:CodeDeployDefault\.)?(?:ECS|Lambda)?"
    rf"(?:Canary\d{{1,3}}Percent\d{{1,5}}{_UNIT}|Linear\d{{1,3}}PercentEvery\d{{1,5}}{_UNIT}"
    r"|AllAtOnce)|\s*\d{1,3}(?:\.\d{1,3})?\s*%[\s\d%.,smhd]*)$"
)
START_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})$"


def value_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of each ``flagkit-*`` value (``flagkit schema`` adds these)."""
    name = {"type": "string", "minLength": 1, "maxLength": ALARM_NAME_CHARS}
    text = {"type": "string", "minLength": 1, "maxLength": 1024}
    return {
        RAMP: {"type": "string", "maxLength": 1024, "pattern": RAMP_PATTERN},
        RAMP_START: {"type": "string", "pattern": START_PATTERN},
        RAMP_BY: text,
        RAMP_SEED: text,
        ALARMS: {
            "anyOf": [name, {"type": "array", "minItems": 1, "maxItems": MAX_ALARMS, "items": name}]
        },
        ALARM_CLEAR: {"enum": ["stay-off", "resume"]},
    }


def constraints() -> dict[str, dict[str, Any]]:
    """The ``flags.<key>.attributes`` definitions a stored document declares the settings with."""
    string = {"type": "string"}
    return {
        RAMP: {"constraints": {**string, "pattern": RAMP_PATTERN}},
        RAMP_START: {"constraints": {**string, "pattern": START_PATTERN}},
        RAMP_BY: {"constraints": string},
        RAMP_SEED: {"constraints": string},
        ALARMS: {"constraints": {"type": "array", "elements": string}},
        ALARM_CLEAR: {"constraints": {**string, "enum": ["stay-off", "resume"]}},
    }


@dataclass(frozen=True, slots=True)
class Rollout:
    """A flag's ramp (or None) and the alarms guarding it (possibly none)."""

    ramp: Ramp | None
    alarms: tuple[str, ...]
    on_clear: OnClear


def split_rollout(spec: FlagSpec, *, user_key: str) -> tuple[FlagSpec, Rollout | None]:
    """Take the ``flagkit-*`` attributes out of ``spec`` and parse them.

    Raises DocumentError naming the flag and the attribute when one is unknown, misplaced or
    malformed.
    """
    # Most flags carry no setting: a name that starts with the prefix contains it, so a flag
    # none of whose names (attributes, then every variant's value keys) contains it is
    # returned as it is, after one substring search instead of a test per key (a name that
    # merely contains the prefix takes the full path).
    every = [*spec.attributes]
    for variant in spec.variants:
        every += variant.values
    if PREFIX not in " ".join(every):
        return spec, None
    last = len(spec.variants) - 1
    found: dict[str, Any] = {}
    where = ""
    for i, variant in enumerate(spec.variants):
        here = f"_variants[{i}].attributeValues." if spec.multi_variant else ""
        ours = {k: v for k, v in variant.values.items() if k.startswith(PREFIX)}
        if not ours:
            continue
        if i != last:
            raise DocumentError(
                "flagkit settings belong on the default variant",
                flag=spec.key,
                field=here + next(iter(ours)),
                expected="flagkit-* attributes on the last (default) variant only",
                found=f"on variant {variant.name!r}",
            )
        found, where = ours, here
    names = frozenset(n for n in spec.attributes if n.startswith(PREFIX))
    if not found:
        if not names:
            return spec, None
        return replace(spec, attributes=spec.attributes - names), None
    for name in found:
        if name not in ATTRIBUTES:
            raise DocumentError(
                "unknown flagkit setting",
                flag=spec.key,
                field=where + name,
                expected=f"one of {', '.join(ATTRIBUTES)}",
                found=repr(name),
            )
    rollout = _parse(spec.key, where, found, user_key)
    variants = list(spec.variants)
    default = variants[last]
    kept = {k: v for k, v in default.values.items() if not k.startswith(PREFIX)}
    variants[last] = replace(default, values=MappingProxyType(kept))
    stripped = replace(
        spec, variants=tuple(variants), attributes=spec.attributes - names - frozenset(found)
    )
    return stripped, rollout


def _parse(flag: str, where: str, found: dict[str, Any], user_key: str) -> Rollout:
    def fail(
        name: str, expected: str, value: Any = None, problem: str | None = None
    ) -> DocumentError:
        text = repr(found.get(name) if value is None else value)
        return DocumentError(
            problem or "invalid flagkit setting",
            flag=flag,
            field=where + name,
            expected=expected,
            found=text if len(text) <= 80 else text[:77] + "...",
        )

    def text(name: str) -> str | None:
        value = found.get(name)
        if value is None or (isinstance(value, str) and value.strip()):
            return value
        raise fail(name, "a non-empty string")

    ramp: Ramp | None = None
    schedule, start = text(RAMP), text(RAMP_START)
    if schedule is not None:
        from flagkit._rollout.ramp import Ramp, RampSyntaxError, parse_start, parse_steps

        if start is None:
            raise fail(RAMP_START, "a start instant such as 2026-11-26T10:00:00Z", "none")
        try:
            start_at = parse_start(start)
        except RampSyntaxError as exc:
            raise fail(RAMP_START, str(exc)) from None
        try:
            steps = parse_steps(schedule)
        except RampSyntaxError as exc:
            raise fail(RAMP, str(exc), problem=exc.problem) from None
        by, seed = text(RAMP_BY) or user_key, text(RAMP_SEED) or flag
        ramp = Ramp(schedule.strip(), start_at, start.strip(), steps, by, seed)
    else:
        for orphan in (RAMP_START, RAMP_BY, RAMP_SEED):
            if orphan in found:
                raise fail(RAMP, f"a schedule (needed by {orphan})", "none")
    raw = found.get(ALARMS, ())
    alarms = (raw,) if isinstance(raw, str) else raw
    if (
        not isinstance(alarms, tuple)
        or len(alarms) > MAX_ALARMS
        or not all(isinstance(a, str) and 0 < len(a) <= ALARM_NAME_CHARS for a in alarms)
    ):
        raise fail(ALARMS, f"an alarm name or a list of at most {MAX_ALARMS} alarm names")
    clear = found.get(ALARM_CLEAR, "stay-off")
    if clear not in ("stay-off", "resume"):
        raise fail(ALARM_CLEAR, "'stay-off' or 'resume'")
    if ALARM_CLEAR in found and not alarms:
        raise fail(ALARMS, f"alarm names (needed by {ALARM_CLEAR})", "none")
    return Rollout(ramp, tuple(dict.fromkeys(alarms)), clear)
