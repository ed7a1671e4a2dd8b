"""The CLI as a user types it: options in either place, no abbreviations, help, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flagkit._cli.main import build_parser, main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "flags" / "checkout.json"
RAMPED = {
    "version": "1",
    "flags": {"f": {"attributes": {"flagkit-ramp": {}, "flagkit-ramp-start": {}}}},
    "values": {
        "f": {
            "enabled": True,
            "flagkit-ramp": "Canary10Percent5Minutes",
            "flagkit-ramp-start": "2026-01-01T00:00:00Z",
        }
    },
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors and --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_at_after_the_command_is_the_instant_not_an_attribute(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`eval F FLAG --at T` evaluates at T (it used to be taken as an abbreviation of --attr)."""
    doc = tmp_path / "ramped.json"
    doc.write_text(json.dumps(RAMPED))
    before = run(capsys, "eval", str(doc), "f", "--user", "u1", "--at", "2025-12-31T00:00:00Z")
    after = run(capsys, "eval", str(doc), "f", "--user", "u1", "--at", "2026-01-02T00:00:00Z")
    first = run(capsys, "--at", "2025-12-31T00:00:00Z", "eval", str(doc), "f", "--user", "u1")
    assert before[0] == after[0] == first[0] == 0
    assert "f = false" in before[1]  # before the ramp starts nobody is in
    assert "f = true" in after[1]  # a day later the canary is at 100 %
    assert first[1] == before[1]


@pytest.mark.parametrize("abbrev", ["--att", "--js", "--us"])
def test_abbreviated_options_are_refused(capsys: pytest.CaptureFixture[str], abbrev: str) -> None:
    """No option is guessed from a prefix: exit 2 with a usage line, no traceback."""
    code, _, err = run(capsys, "eval", str(EXAMPLE), "dark-mode", abbrev, "x")
    assert code == 2
    assert "Traceback" not in err
    assert "unrecognized arguments" in err


def test_every_command_has_a_summary_an_example_and_described_positionals() -> None:
    """Each subcommand's --help has a one-line summary, an example, and help on every argument."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():  # type: ignore[union-attr]
        assert p.description, name
        assert "example:" in (p.epilog or ""), name
        assert f"flagkit {name}" in (p.epilog or ""), name
        for action in p._actions:
            assert action.help, (name, action.dest)


def test_coverage_refuses_binary_ids(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--ids pointing at a binary file is a one-line error (exit 2), not ids made of garbage."""
    ids = tmp_path / "ids.bin"
    ids.write_bytes(b"user-1\n\x00\x01\x02\xff\n")
    code, out, err = run(capsys, "coverage", str(EXAMPLE), "dark-mode", "--ids", str(ids))
    assert code == 2
    assert out == ""
    assert "binary data" in err
    bad_utf8 = tmp_path / "ids.latin1"
    bad_utf8.write_bytes("user-\xe9\n".encode("latin-1"))
    code, _, err = run(capsys, "coverage", str(EXAMPLE), "dark-mode", "--ids", str(bad_utf8))
    assert code == 2
    assert "not UTF-8" in err


def test_version_names_the_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    """flagkit --version prints the version and the distribution's name."""
    import flagkit

    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"flagkit {flagkit.__version__} (distribution flagkit-appconfig)"


@pytest.mark.parametrize("content", [b"", b"  \n\t"])
def test_an_empty_file_is_called_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes
) -> None:
    """An empty (or blank) document says 'empty', not 'malformed JSON line 1 column 1'."""
    doc = tmp_path / "flags.json"
    doc.write_bytes(content)
    code, _, err = run(capsys, "validate", str(doc))
    assert code == 1
    assert "refused: empty document" in err


def test_nesting_too_deep_gives_a_position(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """JSON nested past the parser's stack names the line and column where it got too deep."""
    doc = tmp_path / "flags.json"
    doc.write_text('{"version": "1",\n "flags": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}")
    code, _, err = run(capsys, "validate", str(doc))
    assert code == 1
    assert "Traceback" not in err
    # depth 1 is the document's own '{'; the 501st opening brace is on line 2
    column = len(' "flags": ') + 499 * len('{"a": ') + 1
    assert f"refused: nesting too deep at line 2 column {column}" in err
    assert "more than 500 levels" in err


def test_every_problem_of_a_bad_key_is_shown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A key with a space is wrong under flags and under values: both are printed."""
    doc = tmp_path / "flags.json"
    doc.write_text(
        json.dumps({"version": "1", "flags": {"bad key": {}}, "values": {"bad key": {}}})
    )
    code, _, err = run(capsys, "validate", str(doc))
    assert code == 1
    assert "field:    flags (key)" in err
    assert "field:    values (key)" in err
    assert err.count("found:    'bad key'") == 2


def test_an_unknown_ramp_preset_is_called_that(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A misspelt preset is 'unknown ramp preset', not 'step 1 is ...'."""
    doc = tmp_path / "flags.json"
    bad = json.loads(json.dumps(RAMPED))
    bad["values"]["f"]["flagkit-ramp"] = "Canary10Percnt5Minutes"
    doc.write_text(json.dumps(bad))
    code, _, err = run(capsys, "validate", str(doc))
    assert code == 1
    assert "refused: unknown ramp preset 'Canary10Percnt5Minutes'" in err
    assert "step 1" not in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--port", "99999", "a port is 0 to 65535, not 99999"),
        ("--port", "http", "not a port number: 'http'"),
        ("--poll-interval", "-1", "seconds must be 0 or more, not -1"),
        ("--watch-interval", "0", "seconds must be above 0, not 0"),
        ("--watch-interval", "-0.5", "seconds must be above 0, not -0.5"),
        ("--watch-interval", "nan", "seconds must be above 0, not nan"),
    ],
)
def test_serve_refuses_bad_options_in_one_line(
    capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    """A bad port or interval is a usage error (exit 2) naming the option; a zero
    --watch-interval used to busy-loop."""
    code, out, err = run(capsys, "serve", "--file", str(EXAMPLE), option, value)
    assert code == 2
    assert out == ""
    assert f"argument {option}: {message}" in err
    assert "Traceback" not in err


def test_serve_on_a_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Another process on the port: 'cannot listen', exit 2, no traceback, nothing 'serving'."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "serve", "--file", str(EXAMPLE), "--port", str(port))
    assert code == 2
    assert f"flagkit serve: cannot listen on 127.0.0.1:{port}: " in out
    assert "serving app/local/flags at" not in out
    assert "Traceback" not in out + err


def test_serve_on_an_unknown_host_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A host name that does not resolve: one line, exit 2 (.invalid never resolves, RFC 6761)."""
    code, out, err = run(
        capsys, "serve", "--file", str(EXAMPLE), "--host", "no-such-host.invalid", "--port", "0"
    )
    assert code == 2
    assert "flagkit serve: cannot listen on no-such-host.invalid:0: " in out
    assert "Traceback" not in out + err


def test_serve_never_says_serving_for_a_file_refused_at_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A bad file at start: refused (exit 1), and no 'serving ... at' or 'last good' line."""
    doc = tmp_path / "flags.json"
    doc.write_text(json.dumps({"version": "1", "flags": {"bad key": {}}, "values": {}}))
    code, out, _ = run(capsys, "serve", "--file", str(doc), "--port", "0")
    assert code == 1
    assert "refused" in out
    assert "serving app/local/flags at" not in out
    assert "last good" not in out
    assert "nothing is served until the file is valid" in out
