"""The Ion retrieval form of multi-variant flags evaluates exactly like the JSON forms."""

from __future__ import annotations

import pytest

from flagkit import DocumentError, Flags, Reason, StaticSource
from flagkit._rules.bucketing import in_split

ION = """
'tiered_release'::[
  [ (or (and (eq $group "Tier1") (split by::$userId pct::1 seed::"2025.01.01"))
        (and (eq $group "Tier2") (split by::$userId pct::7 seed::"2025.01.01"))),
    '''{"_variant": "ShowFeature", "enabled": true, "color": "green"}''' ],
  [ (gte $signup 2024-01-01T), '''{"_variant": "New", "enabled": true, "color": "blue"}''' ],
  '''{"_variant": "HideFeature", "enabled": false}''' ]
'button_color'::'''{"enabled": true, "color": "orange"}'''
"""


def ion_flags(text: str = ION) -> Flags:
    return Flags(
        StaticSource(text, content_type="application/ion; type=AWS.AppConfig.FeatureFlags")
    )


def test_ion_basic_flag() -> None:
    """A basic flag in Ion is an annotated JSON string."""
    flags = ion_flags()
    assert flags.enabled("button_color") is True
    assert flags.get_str("button_color", "color", "") == "orange"


def test_ion_multi_variant_rules_and_split() -> None:
    """The user guide's tiered_release: Tier2 users inside the seeded 7 % split see the feature."""
    flags = ion_flags()
    ids = [f"u{i}" for i in range(5000)]
    inside = next(
        u for u in ids if in_split(u, "2025.01.01", 7) and not in_split(u, "2025.01.01", 1)
    )
    outside = next(u for u in ids if not in_split(u, "2025.01.01", 7))
    d = flags.details("tiered_release", inside, {"group": "Tier2"}, attribute="color", kind="str")
    assert (d.variant, d.value, d.reason) == ("ShowFeature", "green", Reason.SPLIT)
    assert flags.variant("tiered_release", inside, {"group": "Tier1"}) == "HideFeature"
    assert flags.variant("tiered_release", outside, {"group": "Tier2"}) == "HideFeature"
    assert flags.enabled("tiered_release", outside, {"group": "Tier2"}) is False


def test_ion_timestamp_operand() -> None:
    """Ion timestamps in rules are compared with context timestamps."""
    flags = ion_flags()
    assert flags.variant("tiered_release", "x", {"signup": "2024-06-01T00:00:00Z"}) == "New"
    assert flags.variant("tiered_release", "x", {"signup": "2023-06-01T00:00:00Z"}) == "HideFeature"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'f'::'''{\"enabled\": 1}'''", "invalid value"),
        ("[1, 2]", "annotated"),
        ("'F'::'''{\"enabled\": true}'''", "invalid flag key"),
        (
            "'f'::[ '''{\"_variant\": \"a\", \"enabled\": true}''', '''{\"_variant\": \"b\", \"enabled\": true}''' ]",
            "[rule, JSON]",
        ),
        (
            "'f'::[ [ (frob $x), '''{\"_variant\": \"a\", \"enabled\": true}''' ], '''{\"_variant\": \"b\", \"enabled\": false}''' ]",
            "position",
        ),
        (
            "'f'::[ [ (eq $x 1), '''{\"enabled\": true}''' ], '''{\"_variant\": \"b\", \"enabled\": false}''' ]",
            "_variant",
        ),
        ("'f'::'''{\"enabled\": true}''' 'f'::'''{\"enabled\": true}'''", "duplicate flag"),
        ("'f'::[ (((", "malformed Ion"),
    ],
)
def test_ion_errors_are_precise(text: str, message: str) -> None:
    """Each malformed Ion document is refused with a DocumentError that says why."""
    with pytest.raises(DocumentError) as info:
        ion_flags(text)
    assert message in str(info.value)


# A local symbol table importing a shared table flagkit cannot know, with max_id 2,000,000,000:
# amazon-ion's pure-Python reader builds a placeholder for each of those symbols (about 125 MiB/s
# until the process is killed). 23 bytes: the version marker, the table, then the symbol $10.
SYMBOL_TABLE_BOMB = bytes.fromhex("e00100eaee8f8183dc86bad9848178882477359400710a")


def _in_a_memory_limited_child(body: bytes) -> str:
    """Load ``body`` as Ion in a child capped at 512 MiB of address space and 60 s; the
    DocumentError message it printed. A regression fails here instead of killing the runner."""
    import subprocess
    import sys

    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))\n"
        "from flagkit._snapshot import snapshot_from_bytes\n"
        "from flagkit import DocumentError\n"
        "try:\n"
        "    snapshot_from_bytes(bytes.fromhex(sys.argv[1]), content_type='application/ion')\n"
        "except DocumentError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, body.hex()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_binary_ion_is_refused_before_any_reader_runs() -> None:
    """AWS documents Ion text only (docs/documents.md): binary Ion, whose readers can be made
    to hang or to allocate without bound, is refused with a precise DocumentError."""
    message = _in_a_memory_limited_child(SYMBOL_TABLE_BOMB)
    assert message.startswith("binary Ion is not supported")
    assert "E0 01 00 EA" in message


def test_a_well_formed_binary_ion_document_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from amazon.ion import simpleion

    values = simpleion.loads(ION, single_value=False)
    monkeypatch.setattr(simpleion, "c_ext", False)  # the pure-Python writer (see test_fuzz)
    body = simpleion.dumps(values, binary=True, sequence_as_stream=True)
    assert body.startswith(b"\xe0\x01\x00\xea")
    with pytest.raises(DocumentError) as info:
        StaticSource(body, content_type="application/ion")
    assert info.value.message == "binary Ion is not supported"
    assert ion_flags().enabled("button_color")  # the same flags as Ion text load
