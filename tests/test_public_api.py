"""The public surface is a contract: every public name imports from its public module.

The layout of the private modules (issue #13) may change; these names and where users import
them from may not, without a deliberate edit here and a CHANGELOG entry.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

PUBLIC = {
    "flagkit": {
        "AgentSource",
        "AlarmGuard",
        "AlarmState",
        "AppConfigSource",
        "CloudWatchAlarms",
        "DocumentError",
        "ErrorCode",
        "EvaluationCounters",
        "EvaluationDetails",
        "Exposure",
        "Exposures",
        "Fetched",
        "FileSource",
        "FlagHandle",
        "FlagkitError",
        "Flags",
        "FlagsView",
        "GuardStatus",
        "Limits",
        "MissingExtraError",
        "PermanentSourceError",
        "Polling",
        "Reason",
        "RetryableSourceError",
        "RolloutEvent",
        "RuleError",
        "Source",
        "SourceError",
        "StaticSource",
        "Status",
        "__version__",
        "otel_attributes",
        "validate",
    },
    "flagkit.testing": {
        "AgentRequest",
        "FlagBuilder",
        "FlagData",
        "FlagDataSource",
        "LocalAppConfigAgent",
        "LocalAppConfigData",
        "RecordedCall",
        "RecordedSession",
        "StaticAlarms",
        "override",
    },
    "flagkit.openfeature": {"FlagkitProvider"},
    "flagkit.powertools": {
        "Conversion",
        "FeatureFlags",
        "MEDIA_TYPE",
        "PowertoolsUserWarning",
        "StoreProvider",
        "compile_schema",
        "load_snapshot",
        "media_type",
        "to_appconfig",
        "view",
    },
    "flagkit.aws_lambda": {"current", "with_flags"},
    "flagkit.opentelemetry": {"EVENT_NAME", "METRIC_NAME", "EvaluationMetrics", "SpanEvents"},
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_imports_from_its_public_module(module: str) -> None:
    """`from <module> import <name>` works for every name, and __all__ lists each one."""
    if module == "flagkit.openfeature":
        pytest.importorskip("openfeature")
    if module == "flagkit.opentelemetry":
        pytest.importorskip("opentelemetry")
    mod = importlib.import_module(module)
    assert set(mod.__all__) >= PUBLIC[module]
    for name in PUBLIC[module]:
        namespace: dict[str, object] = {}
        exec(f"from {module} import {name}", namespace)  # the user's own spelling
        assert namespace[name] is not None


def test_import_flagkit_loads_no_heavy_or_rollout_module() -> None:
    """Bare `import flagkit` loads neither boto3, pydantic, re2, the ramp/guard/watch modules,
    nor the snapshot stage (loaded with the first client), and every public name still resolves."""
    heavy = [
        "boto3",
        "botocore",
        "pydantic",
        "re2",
        "opentelemetry",
        "flagkit._rollout.ramp",
        "flagkit._rollout.guard",
        "flagkit._rollout.watch",
        "flagkit._document.settings",
        # the rule stack and the backup load with the first document that needs them
        "flagkit._rules.parse",
        "flagkit._rules.closures",
        "flagkit._rules.compile",
        "flagkit._backup",
        "mmh3",
        # the snapshot stage, the poller and the sources load with the first Flags()
        "flagkit._snapshot",
        "flagkit._poller",
        "flagkit._sources.base",
        "flagkit._document.limits",
    ]
    code = (
        "import sys, flagkit\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
        "assert all(getattr(flagkit, name) is not None for name in flagkit.__all__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "flags").glob("*.json"))
MODELS = ["pydantic", "pydantic_core", "flagkit._document.appconfig"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_a_valid_json_document_loads_without_pydantic(path: Path) -> None:
    """A valid document of either JSON form (AppConfig's stored form, or the data view
    GetLatestConfiguration serves) takes the fast path: a client serves it and pydantic and
    the models are never imported. A broken one is refused by the models, as before."""
    code = (
        "import sys, flagkit\n"
        f"flags = flagkit.Flags(flagkit.FileSource({str(path)!r}))\n"
        "assert flags.ready and flags.status().swaps == 1\n"
        f"print([m for m in {MODELS!r} if m in sys.modules])\n"
        "try:\n"
        '    flagkit.validate(b\'{"f": {"enabled": 1}}\')\n'
        "except flagkit.DocumentError as exc:\n"
        "    print(exc.field, 'pydantic' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "enabled True"]


def test_a_data_view_loads_no_rule_closures(tmp_path: Path) -> None:
    """The data view GetLatestConfiguration serves has no rules: a client serving one loads
    neither the rule closures nor mmh3 (only the pattern budget, ``_rules.patterns``)."""
    path = tmp_path / "view.json"
    path.write_text(json.dumps({"dark-mode": {"enabled": True}, "beta": {"enabled": False}}))
    rules = ["flagkit._rules.closures", "flagkit._rules.parse", "flagkit._rules.compile", "mmh3"]
    code = (
        "import sys, flagkit\n"
        f"flags = flagkit.Flags(flagkit.FileSource({str(path)!r}))\n"
        "assert flags.enabled('dark-mode', 'u1') and not flags.enabled('beta', 'u1')\n"
        f"print([m for m in {rules!r} if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def _public_callables() -> list[tuple[str, object]]:
    import inspect

    found: list[tuple[str, object]] = []
    for module in sorted(PUBLIC):
        try:
            mod = importlib.import_module(module)
        except ImportError:  # an extra that is not installed
            continue
        for name in sorted(PUBLIC[module]):
            obj = getattr(mod, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.append((f"{module}.{name}", obj))
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    member = value.fget if isinstance(value, property) else value
                    if inspect.isfunction(member) or isinstance(value, property):
                        found.append((f"{module}.{name}.{attr}", member))
    return found


def test_every_public_name_and_method_has_a_docstring() -> None:
    """Public classes, functions, methods and properties each say what they are for."""
    missing = [name for name, obj in _public_callables() if not (obj.__doc__ or "").strip()]
    assert missing == []
