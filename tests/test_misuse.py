"""Programming errors fail fast with the fix; typos on the hot path are logged once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import flagkit
from flagkit import _misses

DOC = {
    "version": "1",
    "flags": {"pricing": {"attributes": {"price": {"constraints": {"type": "number"}}}}},
    "values": {"pricing": {"enabled": True, "price": 5}},
}


@pytest.fixture(autouse=True)
def _fresh_record() -> Iterator[None]:
    _misses.reset()
    yield
    _misses.reset()


@pytest.mark.parametrize(
    ("given", "fix"),
    [
        ("flags.json", "flagkit.FileSource('flags.json')"),
        (Path("flags.json"), "flagkit.FileSource('flags.json')"),
        ({"a": {"enabled": True}}, "flagkit.StaticSource(document)"),
        (b"{}", "flagkit.StaticSource(document)"),
        (42, "flagkit.AppConfigSource("),
    ],
)
def test_flags_refuses_what_is_not_a_source_at_once(given: object, fix: str) -> None:
    """Flags(x) without fetch() raises TypeError naming the fix, instead of serving defaults."""
    with pytest.raises(TypeError) as err:
        flagkit.Flags(given, wait=5.0)  # type: ignore[arg-type]
    assert fix in str(err.value)
    assert type(given).__name__ in str(err.value)


@pytest.mark.parametrize("given", [None, 42, ["a"], object()])
def test_validate_refuses_non_documents_with_its_own_error(given: object) -> None:
    """flagkit.validate(None) raises DocumentError, not TypeError/AttributeError."""
    with pytest.raises(flagkit.DocumentError) as err:
        flagkit.validate(given)  # type: ignore[arg-type]
    assert err.value.found == type(given).__name__


def test_validate_refuses_a_dict_that_is_not_json() -> None:
    """A dict holding a set is a DocumentError too."""
    with pytest.raises(flagkit.DocumentError):
        flagkit.validate({"a": {"enabled": True, "tags": {1, 2}}})


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_misspelt_flag_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """enabled/variant/details on an unknown flag: one WARNING naming it, however many calls."""
    caplog.set_level(logging.WARNING, logger="flagkit")
    with flagkit.Flags(flagkit.StaticSource(DOC, version="v1")) as flags:
        for _ in range(100):
            assert flags.enabled("pricnig", "u1") is False
            assert flags.variant("pricnig", "u1") is None
            assert flags.details("pricnig").error_code is flagkit.ErrorCode.FLAG_NOT_FOUND
        assert flags.enabled("pricing") is True  # known flags log nothing
    (line,) = _warnings(caplog)
    assert "pricnig" in line
    assert "'v1'" in line


def test_misspelt_attribute_and_type_mismatch_are_logged_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One line per (flag, kind): the unknown attribute, and the wrong getter's type."""
    caplog.set_level(logging.WARNING, logger="flagkit")
    with flagkit.Flags(flagkit.StaticSource(DOC, version="v1")) as flags:
        for _ in range(10):
            assert flags.get_int("pricing", "prize", 0) == 0
            assert flags.get_str("pricing", "price", "x") == "x"
    lines = _warnings(caplog)
    assert len(lines) == 2
    assert any("'prize'" in line for line in lines)
    assert any("expected str, found int" in line for line in lines)


def test_nothing_is_logged_before_the_first_document(caplog: pytest.LogCaptureFixture) -> None:
    """Before any document every flag is unknown: that is PROVIDER_NOT_READY, not a typo."""
    caplog.set_level(logging.WARNING, logger="flagkit")

    class Never:
        def fetch(self) -> flagkit.Fetched:
            raise flagkit.RetryableSourceError("down")

    with flagkit.Flags(Never(), start=False) as flags:
        assert flags.enabled("anything") is False
    assert not any("anything" in line for line in _warnings(caplog))


def test_distinct_names_are_capped(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past LIMIT distinct names one last line says so, and then nothing more is logged."""
    caplog.set_level(logging.WARNING, logger="flagkit")
    monkeypatch.setattr(_misses, "LIMIT", 5)
    with flagkit.Flags(flagkit.StaticSource(DOC, version="v1")) as flags:
        for i in range(50):
            flags.enabled(f"user-supplied-{i}")
    lines = _warnings(caplog)
    assert len(lines) == 6
    assert "no more" in lines[-1]
