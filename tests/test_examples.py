"""The example documents under examples/flags are valid and mean what the docs say."""

from __future__ import annotations

from pathlib import Path

import pytest

import flagkit

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples" / "flags").glob("*.json"))


def test_there_are_example_documents() -> None:
    """The glob below is not silently empty."""
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_document_validates(path: Path) -> None:
    """Each example document loads with at least one flag."""
    assert flagkit.validate(path.read_bytes()) >= 1


def test_checkout_example_serves_staff_the_new_engine() -> None:
    """examples/flags/checkout.json: staff get variant 'staff' with engine v2; others 'off'."""
    path = Path(__file__).resolve().parent.parent / "examples" / "flags" / "checkout.json"
    with flagkit.Flags(flagkit.FileSource(path)) as flags:
        staff = flags.details("new-pricing-engine", "u1", {"email": "a@shop.example"})
        assert (staff.variant, staff.value) == ("staff", True)
        assert (
            flags.get_str("new-pricing-engine", "engine", "?", "u1", {"email": "a@shop.example"})
            == "v2"
        )
        assert flags.enabled("dark-mode") is True
