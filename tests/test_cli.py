"""The ``flagkit`` command line: every subcommand, its exit status and its error output."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from flagkit._cli.inputs import parse_attrs
from flagkit._cli.main import main
from flagkit._cli.schema import document_schema
from flagkit._rules.bucketing import bucket
from test_document import AWS_DATA_VIEW_RULES, AWS_RULES

FLAG = "new-pricing-engine"
STAFF = '(ends_with $email "@shop.example")'
CANARY = "(split pct::5 by::$userId)"
COHORT = '(or (eq $plan "pro") (in $country ["IE", "NZ"]))'

DOC: dict[str, Any] = {
    "version": "1",
    "flags": {
        FLAG: {"name": "Pricing", "attributes": {"engine": {"constraints": {"type": "string"}}}},
        "express-checkout": {"name": "Express"},
    },
    "values": {
        FLAG: {
            "_variants": [
                {
                    "name": "staff",
                    "enabled": True,
                    "rule": STAFF,
                    "attributeValues": {"engine": "v2"},
                },
                {
                    "name": "canary",
                    "enabled": True,
                    "rule": CANARY,
                    "attributeValues": {"engine": "v2"},
                },
                {
                    "name": "cohort",
                    "enabled": True,
                    "rule": COHORT,
                    "attributeValues": {"engine": "v2"},
                },
                {"name": "off", "enabled": False, "attributeValues": {"engine": "v1"}},
            ]
        },
        "express-checkout": {"enabled": True},
    },
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(DOC))
    return path


def _canary_user(inside: bool) -> str:
    """A user id the 5 % canary split puts in (or out), found with the reference bucket()."""
    for i in range(10_000):
        uid = f"user-{i}"
        if (bucket(uid, FLAG) < 5000) == inside:
            return uid
    raise AssertionError("no such user")


# -- validate ----------------------------------------------------------------------------------


def test_validate_accepts_a_good_document(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    code, out, _ = run(capsys, "validate", str(doc))
    assert code == 0
    assert "ok: 2 flags (1 multi-variant, 3 rules)" in out


def test_validate_names_flag_field_expected_and_found(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = json.loads(json.dumps(DOC))
    bad["values"][FLAG]["_variants"][3]["attributeValues"]["engine"] = 3
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    code, out, err = run(capsys, "validate", str(path))
    assert code == 1
    assert out == ""
    assert f"flag:     {FLAG}" in err
    assert "field:    values._variants[3].attributeValues.engine" in err
    assert "expected: a string" in err
    assert "found:    3" in err


def test_validate_points_at_the_rule_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = json.loads(json.dumps(DOC))
    bad["values"][FLAG]["_variants"][1]["rule"] = "(split pct::500 by::$userId)"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    assert "field:    values._variants[1].rule" in err
    rule_line, caret_line = [ln for ln in err.splitlines() if ln.startswith(("  rule:", "      "))][
        :2
    ]
    assert caret_line.index("^") == rule_line.index("500")  # the caret sits under the offender


def test_validate_malformed_json_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"version": "1",')
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    assert "malformed JSON" in err


def test_unreadable_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "validate", str(tmp_path / "missing.json"))
    assert code == 2
    assert "cannot read" in err


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


# -- eval --------------------------------------------------------------------------------------


def test_eval_prints_value_variant_reason(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    code, out, _ = run(
        capsys, "eval", str(doc), FLAG, "--user", "u1", "--attr", "email=a@shop.example"
    )
    assert code == 0
    assert f"{FLAG} = true" in out
    assert "variant: staff" in out
    assert "reason:  TARGETING_MATCH" in out
    assert '"engine": "v2"' in out


def test_eval_json_for_a_split(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    uid = _canary_user(inside=True)
    code, out, _ = run(capsys, "eval", str(doc), FLAG, "--user", uid, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["value"] is True
    assert result["variant"] == "canary"
    assert result["reason"] == "SPLIT"
    assert result["values"] == {"engine": "v2"}


def test_eval_default_variant(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    uid = _canary_user(inside=False)
    code, out, _ = run(
        capsys, "eval", str(doc), FLAG, "--user", uid, "--attr", "plan=free", "--json"
    )
    assert code == 0
    assert json.loads(out) | {"version": None} == {
        "flag": FLAG,
        "value": False,
        "variant": "off",
        "reason": "DEFAULT",
        "error_code": None,
        "error_message": None,
        "version": None,
        "values": {"engine": "v1"},
    }


def test_eval_typed_attribute(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    """K:=JSON passes a typed value: a list reaches (in $country [...]) as a list would."""
    code, out, _ = run(
        capsys,
        "eval",
        str(doc),
        FLAG,
        "--user",
        _canary_user(False),
        "--attr",
        'country:="NZ"',
        "--json",
    )
    assert code == 0
    assert json.loads(out)["variant"] == "cohort"


def test_eval_missing_flag_exits_1(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    """An unknown flag exits 1 and lists the document's flags, as explain does."""
    code, out, err = run(capsys, "eval", str(doc), "no-such-flag", "--user", "u1")
    assert code == 1
    assert out == ""
    assert "no flag 'no-such-flag' in the document (flags: " in err
    assert "express-checkout" in err


def test_eval_basic_flag(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    code, out, _ = run(capsys, "eval", str(doc), "express-checkout")
    assert code == 0
    assert "express-checkout = true" in out
    assert "reason:  STATIC" in out


def test_attr_parsing() -> None:
    assert parse_attrs(["a=1", "b:=1", "c:=[1, 2]", "d=x=y"]) == {
        "a": "1",
        "b": 1,
        "c": [1, 2],
        "d": "x=y",
    }


@pytest.mark.parametrize("bad", ["novalue", "=x", "k:=not json"])
def test_bad_attr_is_a_usage_error(capsys: pytest.CaptureFixture[str], doc: Path, bad: str) -> None:
    code, _, err = run(capsys, "eval", str(doc), FLAG, "--attr", bad)
    assert code == 2
    assert "--attr" in err


# -- explain -----------------------------------------------------------------------------------


def test_explain_shows_each_variant_and_the_split_bucket(
    capsys: pytest.CaptureFixture[str], doc: Path
) -> None:
    uid = _canary_user(inside=False)
    code, out, _ = run(
        capsys,
        "explain",
        str(doc),
        FLAG,
        "--user",
        uid,
        "--attr",
        "plan=free",
        "--attr",
        "country=US",
    )
    assert code == 0
    assert "1. staff [enabled]: no match" in out
    assert "$email = missing" in out
    assert f"bucket {bucket(uid, FLAG)} of 100000" in out
    assert "in when bucket < 5000 (pct 5) -> out" in out
    assert '$plan = "free"' in out  # the nested (or ...) is broken down
    assert "4. off [disabled, default]: chosen" in out
    assert "result: variant 'off', enabled false, reason DEFAULT" in out


def test_explain_stops_at_the_first_match(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    code, out, _ = run(
        capsys, "explain", str(doc), FLAG, "--user", "u", "--attr", "email=e@shop.example"
    )
    assert code == 0
    assert "1. staff [enabled]: MATCH" in out
    assert "2. canary [enabled]: not reached" in out
    assert "reason TARGETING_MATCH" in out


def test_explain_json_agrees_with_eval(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    uid = _canary_user(inside=True)
    code, out, _ = run(capsys, "explain", str(doc), FLAG, "--user", uid, "--json")
    assert code == 0
    exp = json.loads(out)
    assert exp["variant"] == "canary"
    assert exp["reason"] == "SPLIT"
    split = exp["variants"][1]["trace"][0]
    assert split["result"] is True
    assert "-> in" in split["note"]


def test_explain_missing_flag_exits_1(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    code, _, err = run(capsys, "explain", str(doc), "nope", "--user", "u")
    assert code == 1
    assert "no flag 'nope'" in err


# -- coverage ----------------------------------------------------------------------------------


def test_coverage_counts_each_variant(
    capsys: pytest.CaptureFixture[str], doc: Path, tmp_path: Path
) -> None:
    ids = tmp_path / "ids.txt"
    lines = [f"user-{i}" for i in range(4000)]
    lines += ["# a comment", "", json.dumps({"userId": "vip", "plan": "pro"})]
    ids.write_text("\n".join(lines))
    expected_canary = sum(1 for i in range(4000) if bucket(f"user-{i}", FLAG) < 5000)
    code, out, _ = run(capsys, "coverage", str(doc), FLAG, "--ids", str(ids), "--json")
    assert code == 0
    report = json.loads(out)
    by_name = {v["variant"]: v["users"] for v in report["variants"]}
    assert report["ids"] == 4001
    assert by_name["canary"] == expected_canary
    assert by_name["cohort"] == (0 if bucket("vip", FLAG) < 5000 else 1)
    assert by_name["off"] == 4001 - by_name["canary"] - by_name["cohort"]
    assert 0.04 < by_name["canary"] / 4000 < 0.06


def test_coverage_table(capsys: pytest.CaptureFixture[str], doc: Path, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(f"u{i}" for i in range(100)))
    code, out, _ = run(capsys, "coverage", str(doc), FLAG, "--ids", str(ids), "--attr", "plan=pro")
    assert code == 0
    assert re.search(r"enabled, all variants\s+100\s+100.00%", out)


def test_coverage_empty_ids_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], doc: Path, tmp_path: Path
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("\n# nothing\n")
    code, _, err = run(capsys, "coverage", str(doc), FLAG, "--ids", str(ids))
    assert code == 2
    assert "no ids" in err


# -- schema ------------------------------------------------------------------------------------


def _ecma_search(pattern: str, text: str) -> bool:
    """``pattern`` searched as ECMA-262 (JSON Schema's dialect) would: ``\\d`` is ASCII and a
    final ``$`` is the end of the text, never before a trailing newline."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + "\\Z"
    return re.search(pattern, text, re.ASCII) is not None


class _Draft4:
    """Enough of a JSON Schema draft-4 validator to check the keywords our schema uses."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def ok(self, s: dict[str, Any], v: Any) -> bool:  # noqa: C901
        if "$ref" in s:
            return self.ok(self.root["definitions"][s["$ref"].rsplit("/", 1)[1]], v)
        types = {
            "object": dict,
            "array": list,
            "string": str,
            "boolean": bool,
            "null": type(None),
        }
        t = s.get("type")
        if t == "integer" and not (isinstance(v, int) and not isinstance(v, bool)):
            return False
        if t == "number" and not (isinstance(v, (int, float)) and not isinstance(v, bool)):
            return False
        if t in types and not isinstance(v, types[t]):
            return False
        if "enum" in s and v not in s["enum"]:
            return False
        if "anyOf" in s and not any(self.ok(x, v) for x in s["anyOf"]):
            return False
        if "oneOf" in s and sum(self.ok(x, v) for x in s["oneOf"]) != 1:
            return False
        if "not" in s and self.ok(s["not"], v):
            return False
        if "multipleOf" in s and isinstance(v, (int, float)) and v % s["multipleOf"]:
            return False
        if isinstance(v, str):
            if len(v) > s.get("maxLength", 1 << 30) or len(v) < s.get("minLength", 0):
                return False
            if "pattern" in s and not _ecma_search(s["pattern"], v):
                return False
        if isinstance(v, list):
            if len(v) > s.get("maxItems", 1 << 30) or len(v) < s.get("minItems", 0):
                return False
            if "items" in s and not all(self.ok(s["items"], x) for x in v):
                return False
        if isinstance(v, dict):
            if any(k not in v for k in s.get("required", [])) or len(v) > s.get(
                "maxProperties", 1 << 30
            ):
                return False
            for k, x in v.items():
                matched = False
                if k in s.get("properties", {}):
                    matched = True
                    if not self.ok(s["properties"][k], x):
                        return False
                for pat, ps in s.get("patternProperties", {}).items():
                    if _ecma_search(pat, k):
                        matched = True
                        if not self.ok(ps, x):
                            return False
                extra = s.get("additionalProperties", True)
                if not matched and (
                    extra is False or (isinstance(extra, dict) and not self.ok(extra, x))
                ):
                    return False
        return True


def test_schema_is_draft4_and_accepts_what_flagkit_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    text = json.dumps(schema)
    for later_keyword in ('"$defs"', '"const"', '"propertyNames"', '"discriminator"'):
        assert later_keyword not in text
    v = _Draft4(schema)
    assert v.ok(schema, DOC)
    assert v.ok(schema, {"dark-mode": {"enabled": True, "level": 3}})  # the data view


@pytest.mark.parametrize(
    "bad",
    [
        {"version": "2"},
        {"version": "1", "flags": {"Bad Key": {}}},
        {"version": "1", "extra": 1},
        {"version": "1", "flags": {"f": {"attributes": {"a": {"constraints": {"type": "date"}}}}}},
        {"version": "1", "flags": {"f": {}}, "values": {"f": {"_variants": {}}}},
        {"version": "1", "values": {"f": {"enabled": "yes"}}},
        {"dark-mode": {"level": 3}},
        {"dark-mode": True},
        {"version": "1", "flags": {"f": {"name": None}}},
        {
            "version": "1",
            "flags": {"f": {}},
            "values": {"f": {"_variants": [{"name": "on", "enabled": True, "rule": None}]}},
        },
        {
            "version": "1",
            "flags": {
                "f": {"attributes": {"a": {"constraints": {"type": "number", "minimum": None}}}}
            },
        },
    ],
)
def test_schema_refuses_what_flagkit_refuses(bad: dict[str, Any]) -> None:
    import flagkit

    with pytest.raises(flagkit.DocumentError):
        flagkit.validate(bad)
    schema = document_schema()
    assert not _Draft4(schema).ok(schema, bad)


@pytest.mark.parametrize("rule", [r for r, (schema, _) in AWS_RULES.items() if schema])
def test_schema_agrees_with_aws_rule(rule: str) -> None:
    """`flagkit schema --form stored` accepts and refuses what AWS's schema does, rule by rule."""
    schema = document_schema("stored")
    for document, aws in AWS_RULES[rule][1]:
        assert _Draft4(schema).ok(schema, document) is aws, (rule, document)


@pytest.mark.parametrize("rule", list(AWS_DATA_VIEW_RULES))
def test_data_view_schema_agrees_with_aws_rule(rule: str) -> None:
    """`flagkit schema --form data-view` follows AWS's data-view schema, rule by rule."""
    schema = document_schema("data-view")
    for document, aws in AWS_DATA_VIEW_RULES[rule]:
        assert _Draft4(schema).ok(schema, document) is aws, (rule, document)


def test_schema_forms(capsys: pytest.CaptureFixture[str]) -> None:
    stored = document_schema("stored")
    view = document_schema("data-view")
    assert _Draft4(stored).ok(stored, DOC)
    assert not _Draft4(view).ok(view, DOC)
    assert _Draft4(view).ok(view, {"a": {"enabled": False}})


# -- serve -------------------------------------------------------------------------------------


class _Lines(io.StringIO):
    """An output stream that tells a waiting test when a line containing some text arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Condition()

    def write(self, s: str) -> int:
        n = super().write(s)
        with self.seen:
            self.seen.notify_all()
        return n

    def wait_for(self, text: str, timeout: float = 5.0) -> bool:
        with self.seen:
            return self.seen.wait_for(lambda: text in self.getvalue(), timeout)


def _replace(path: Path, doc: dict[str, Any]) -> None:
    """Write a new version atomically, as editors and deploy tools do (no half-written read)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def test_serve_publishes_the_file_and_republishes_changes(tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    import flagkit
    from flagkit._cli.serve import serve

    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"dark-mode": {"enabled": False}}))
    stop = threading.Event()
    ready = threading.Event()
    servers: list[Any] = []
    out = _Lines()

    def on_ready(server: Any) -> None:
        servers.append(server)
        ready.set()

    thread = threading.Thread(
        target=serve,
        args=(str(path),),
        kwargs={
            "application": "app",
            "environment": "local",
            "profile": "flags",
            "port": 0,
            "poll_interval": 0,
            "watch_interval": 0.02,
            "out": out,
            "stop": stop,
            "on_ready": on_ready,
        },
        daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(5)
        server = servers[0]
        changed = threading.Event()
        source = flagkit.AppConfigSource("app", "local", "flags", client=server.client())
        with flagkit.Flags(source, start=False) as flags:
            assert flags.refresh()
            assert flags.enabled("dark-mode") is False
            # a refused document is reported and not published
            _replace(path, {"dark-mode": {"enabled": "yes please"}})
            assert out.wait_for("field:    enabled")
            assert out.wait_for("not published")
            assert not flags.refresh()
            # a good one is published as the next version
            flags.on_change(lambda old, new: changed.set())
            _replace(path, {"dark-mode": {"enabled": True, "level": 2}})
            assert out.wait_for("published version 2")
            assert flags.refresh()
            assert changed.is_set()
            assert flags.enabled("dark-mode") is True
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_serve_refuses_a_bad_file_at_start(tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    from flagkit._cli.serve import serve

    path = tmp_path / "flags.json"
    path.write_text("[]")
    out = io.StringIO()
    code = serve(str(path), application="a", environment="e", profile="p", port=0, out=out)
    assert code == 1
    assert "refused" in out.getvalue()


def test_serve_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "serve", "--file", str(tmp_path / "nope.json"), "--port", "0")
    assert code == 2
    assert "no such file" in out


# -- the entry points ----------------------------------------------------------------------------


def test_python_dash_m_flagkit(doc: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flagkit", "validate", str(doc)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok:" in proc.stdout


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("validate", "eval", "explain", "coverage", "schema", "serve", "demo"):
        assert command in out


def test_explain_basic_flag(capsys: pytest.CaptureFixture[str], doc: Path) -> None:
    code, out, _ = run(capsys, "explain", str(doc), "express-checkout", "--user", "u")
    assert code == 0
    assert "a basic flag: on for everyone" in out
    assert "reason STATIC" in out


@pytest.mark.parametrize("argv", [["demo", "--users", "0"], ["demo", "--poll-interval", "-1"]])
def test_demo_arguments_are_checked(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "must" in err


def test_user_key_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--user-key makes --user stand for another $key, as Flags(user_key=...) does."""
    doc = {
        "version": "1",
        "flags": {"f": {}},
        "values": {
            "f": {
                "_variants": [
                    {"name": "one", "enabled": True, "rule": '(eq $user_id "u1")'},
                    {"name": "off", "enabled": False},
                ]
            }
        },
    }
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(
        capsys, "--user-key", "user_id", "eval", str(path), "f", "--user", "u1", "--json"
    )
    assert code == 0
    assert json.loads(out)["variant"] == "one"
    code, out, _ = run(capsys, "eval", str(path), "f", "--user", "u1", "--json")
    assert json.loads(out)["variant"] == "off"
