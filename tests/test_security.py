"""What docs/security.md promises: no dynamic code, no secrets in logs, private backups.

* No ``eval``/``exec``/``compile``/``__import__`` builtin call and no pickle-like module anywhere
  in ``src/flagkit`` (read as syntax trees, so ``re.compile`` and docstrings do not count).
* A refused document is logged by where and why, never by its values; a source's credentials
  never reach flagkit's logs, whatever fails.
* The last-good backup is created 0600, whatever the umask.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import flagkit
from flagkit import Fetched, Flags, Polling
from flagkit.testing import LocalAppConfigData

SRC = Path(__file__).resolve().parents[1] / "src" / "flagkit"
DYNAMIC_CODE = {"eval", "exec", "compile", "__import__", "breakpoint"}
SERIALISERS = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle"}


def dynamic_code(source: str) -> list[str]:
    """Calls that run code built at run time, and imports of modules that load code from bytes."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in DYNAMIC_CODE:
                found.append(f"line {node.lineno}: {func.id}()")
            elif (
                isinstance(func, ast.Attribute)
                and func.attr in DYNAMIC_CODE
                and isinstance(func.value, ast.Name)
                and func.value.id == "builtins"
            ):
                found.append(f"line {node.lineno}: builtins.{func.attr}()")
            elif (
                isinstance(func, ast.Attribute)
                and func.attr == "import_module"
                and not (node.args and isinstance(node.args[0], ast.Constant))
            ):
                found.append(f"line {node.lineno}: import_module of a computed name")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] in SERIALISERS
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SERIALISERS:
            found.append(f"line {node.lineno}: from {node.module} import ...")
    return found


def test_the_scanner_finds_what_it_looks_for() -> None:
    """The check can fail: each forbidden form in a sample is reported."""
    sample = (
        "import re, pickle\nfrom marshal import loads\nimport builtins, importlib\n"
        "eval('1')\nexec('x = 1')\ncompile('1', 'f', 'eval')\nbuiltins.exec('1')\n"
        "__import__('os')\nimportlib.import_module(name)\n"
        "re.compile('a')  # fine: a regex\nimportlib.import_module('boto3')  # fine: a constant\n"
    )
    assert len(dynamic_code(sample)) == 8, dynamic_code(sample)


def test_no_eval_exec_compile_or_pickle_in_flagkit() -> None:
    """Nothing in src/flagkit turns data into code."""
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20
    found = {
        str(path.relative_to(SRC)): hits
        for path in files
        if (hits := dynamic_code(path.read_text(encoding="utf-8")))
    }
    assert found == {}


# -- logs ------------------------------------------------------------------------------------

SECRET = "sk_live_51HxSECRETvalue9f2Q"  # what a document value must never leak as


def _stored(attributes: dict[str, Any], value: Any) -> bytes:
    return json.dumps(
        {
            "version": "1",
            "flags": {"checkout": {"attributes": attributes}},
            "values": {"checkout": {"enabled": True, "key": value}},
        }
    ).encode()


REFUSED = {
    "wrong type": json.dumps({"checkout": {"enabled": SECRET}}).encode(),
    "nested object": json.dumps(
        {"checkout": {"enabled": True, "config": {"token": SECRET}}}
    ).encode(),
    "too long": json.dumps({"checkout": {"enabled": True, "key": SECRET * 60}}).encode(),
    "type constraint": _stored({"key": {"constraints": {"type": "number"}}}, SECRET),
    "pattern constraint": _stored(
        {"key": {"constraints": {"type": "string", "pattern": "^[0-9]+$"}}}, SECRET
    ),
    "enum constraint": _stored(
        {"key": {"constraints": {"type": "string", "enum": ["a", "b"]}}}, SECRET
    ),
    "undefined attribute": _stored({}, SECRET),
    "rule": json.dumps(
        {
            "version": "1",
            "flags": {"checkout": {}},
            "values": {
                "checkout": {
                    "_variants": [
                        {"name": "a", "enabled": True, "rule": f'(eq $key "{SECRET}"'},
                        {"name": "b", "enabled": False},
                    ]
                }
            },
        }
    ).encode(),
    "malformed JSON": b'{"checkout": {"enabled": true, "key": "' + SECRET.encode() + b'" tr',
    "non-UTF-8": b'{"checkout": {"enabled": true, "key": "' + SECRET.encode() + b'\xff"}}',
}


class Sequence:
    """A source that serves its documents one per fetch (the one-method protocol)."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = list(bodies)

    def fetch(self) -> Fetched:
        return Fetched(self.bodies.pop(0), "application/json", f"v{len(self.bodies)}", 30.0)


def _flagkit_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        caplog.handler.format(r) for r in caplog.records if r.name.split(".")[0] == "flagkit"
    )


def test_refused_documents_are_logged_without_their_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every way a value can make a document fail: the log says where and why, never the value."""
    good = json.dumps({"checkout": {"enabled": True, "key": SECRET}}).encode()
    caplog.set_level(logging.DEBUG)
    flags = Flags(Sequence([good, *REFUSED.values()]), start=False)
    for _ in range(len(REFUSED) + 1):
        flags.refresh()
    status = flags.status()
    flags.close()
    assert status.rejected == len(REFUSED), status
    assert flags.get_str("checkout", "key", "") == SECRET  # the good one kept serving
    text = _flagkit_text(caplog)
    assert text.count("refused") >= len(REFUSED), text  # each refusal was logged ...
    assert SECRET[:12] not in text, text  # ... without the value (nor its start)
    assert SECRET[:12] not in (status.last_error or "")


def test_an_unusable_backup_is_logged_without_its_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A backup holding a document that is no longer accepted is ignored, and not echoed."""
    backup = tmp_path / "flags.backup"
    header = json.dumps({"version": "old", "content_type": "application/json"}).encode()
    backup.write_bytes(b"flagkit-backup 1 " + header + b"\n" + REFUSED["wrong type"])
    caplog.set_level(logging.DEBUG)
    with Flags(Sequence([]), start=False, backup_path=backup) as flags:
        assert not flags.ready
    text = _flagkit_text(caplog)
    assert "ignoring unusable backup" in text
    assert SECRET[:12] not in text, text


ACCESS_KEY = "AKIAFLAGKITTESTKEY42"
SECRET_KEY = "wJalrXUtnFEMI/flagkitSECRETkey/bPxRfiCY"
SESSION_TOKEN = "FwoGZXIvYXdzEFLAGKITsessionTOKEN"


def test_credentials_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    """A source signing with credentials fails every way it can; no flagkit log line has them.

    (botocore's own DEBUG records do carry the session token, in the canonical request it
    signs: docs/security.md says to keep the ``botocore`` logger above DEBUG.)
    """
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    caplog.set_level(logging.DEBUG)
    with LocalAppConfigData(poll_interval=0) as server:
        server.publish("app", "env", "prof", {"checkout": {"enabled": True}}, version_label="v1")
        client = boto3.client(
            "appconfigdata",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            aws_session_token=SESSION_TOKEN,
            config=Config(
                retries={"total_max_attempts": 1},
                connect_timeout=1,
                read_timeout=0.3,
                proxies={},
            ),
        )
        # one call per fetch, so that each injected fault is one failed fetch
        source = flagkit.AppConfigSource("app", "env", "prof", client=client, max_attempts=1)
        flags = Flags(source, start=False)
        assert flags.refresh()
        server.inject("delay", delay=1.0, operation="GetLatestConfiguration")  # read timeout
        for kind in ("throttle", "internal", "drop", "expired", "corrupted", "not_found"):
            server.inject(kind)  # type: ignore[arg-type]
        for _ in range(7):
            flags.refresh()
        status = flags.status()
        flags.close()
        client.close()
    assert status.errors == 7, status
    ours = _flagkit_text(caplog)
    assert "fetch failed" in ours
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        assert secret not in ours, ours
        assert secret not in repr(source) and secret not in (status.last_error or "")


# -- backups ---------------------------------------------------------------------------------


def test_backup_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """The last-good backup is 0600 even under umask 000, and replaces a looser old file."""
    backup = tmp_path / "flags.backup"
    backup.write_bytes(b"stale")
    backup.chmod(0o644)
    old_umask = os.umask(0)
    try:
        flags = Flags(flagkit.StaticSource({"checkout": {"enabled": True}}), backup_path=backup)
        flags.close()
    finally:
        os.umask(old_umask)
    assert flags.ready
    assert backup.read_bytes().startswith(b"flagkit-backup 1 ")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["flags.backup"]  # no temporary file left


def test_a_symlink_planted_at_the_temporary_name_is_not_followed(tmp_path: Path) -> None:
    """Someone who can write to the backup's directory cannot make flagkit write elsewhere."""
    backup = tmp_path / "flags.backup"
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch")
    planted = tmp_path / f".flags.backup.{os.getpid()}.tmp"
    planted.symlink_to(victim)
    with Flags(flagkit.StaticSource({"checkout": {"enabled": True}}), backup_path=backup):
        pass
    assert victim.read_bytes() == b"do not touch"
    assert backup.read_bytes().startswith(b"flagkit-backup 1 ")
    assert not backup.is_symlink()
    assert not planted.exists() and not planted.is_symlink()


def test_a_backup_beyond_the_size_cap_is_refused_unread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backup = tmp_path / "flags.backup"
    body = json.dumps({"checkout": {"enabled": True, "pad": "x" * 20_000}}).encode()
    backup.write_bytes(b'flagkit-backup 1 {"version": "v1"}\n' + body)
    with caplog.at_level(logging.WARNING, logger="flagkit"):
        flags = Flags(
            Sequence([]), start=False, backup_path=backup, polling=Polling(max_bytes=1000)
        )
    assert not flags.ready
    assert "larger than the 1000-byte size cap" in _flagkit_text(caplog)
    flags.close()
