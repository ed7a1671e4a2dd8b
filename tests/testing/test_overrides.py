"""flagkit.testing: FlagData documents, override(), and the pytest fixtures."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import flagkit
from flagkit import DocumentError, ErrorCode, Reason, RuleError, StaticSource
from flagkit._rules.bucketing import in_split
from flagkit.testing import FlagData, override

pytest_plugins = ["flagkit.testing.pytest_plugin"]

BASE: dict[str, Any] = {
    "version": "1",
    "flags": {
        "banner": {"attributes": {"text": {}}},
        "pricing": {"attributes": {"price": {}}},
        "other": {},
    },
    "values": {
        "banner": {"enabled": False, "text": "hello"},
        "pricing": {
            "_variants": [
                {
                    "name": "gold",
                    "enabled": True,
                    "rule": '(eq $tier "gold")',
                    "attributeValues": {"price": 5},
                },
                {"name": "normal", "enabled": True, "attributeValues": {"price": 10}},
            ]
        },
        "other": {"enabled": True},
    },
}


def make_flags() -> flagkit.Flags:
    return flagkit.Flags(StaticSource(BASE, version="v1"), start=False, wait=0)


def loaded() -> flagkit.Flags:
    flags = make_flags()
    flags.refresh()
    return flags


# -- FlagData ---------------------------------------------------------------------------------


def test_flag_data_builds_a_stored_document_that_flagkit_validates() -> None:
    data = FlagData()
    data.flag("checkout").on(color="blue")
    data.flag("pricing").variant("gold", rule='(eq $tier "gold")', price=5).default(
        "normal", enabled=True, price=10
    )
    doc = data.document()
    assert doc["version"] == "1"
    assert flagkit.validate(doc) == 2
    assert doc["values"]["pricing"]["_variants"][-1] == {
        "name": "normal",
        "enabled": True,
        "attributeValues": {"price": 10},
    }


def test_flag_data_serves_basic_flags_variants_and_rules() -> None:
    data = FlagData()
    data.flag("checkout").on(color="blue")
    data.flag("pricing").variant("gold", rule='(eq $tier "gold")', price=5).default(
        "normal", enabled=True, price=10
    )
    flags = data.flags()
    assert flags.enabled("checkout") is True
    assert flags.get_str("checkout", "color", "x") == "blue"
    gold = flags.details("pricing", attributes={"tier": "gold"}, attribute="price", kind="int")
    assert (gold.value, gold.variant, gold.reason) == (5, "gold", Reason.TARGETING_MATCH)
    plain = flags.details("pricing", attributes={"tier": "tin"}, attribute="price", kind="int")
    assert (plain.value, plain.variant, plain.reason) == (10, "normal", Reason.DEFAULT)


def test_rollout_is_a_real_split_matching_the_bucketing_spec() -> None:
    """A declared 30 % rollout serves exactly the users the split rule would."""
    data = FlagData()
    data.flag("beta").rollout("on", 30, seed="s1").default("off")
    flags = data.flags()
    users = [f"user-{i}" for i in range(400)]
    served = [flags.enabled("beta", u) for u in users]
    expected = [in_split(u, "s1", 30) for u in users]
    assert served == expected
    assert 0 < sum(served) < len(users)
    assert flags.details("beta", users[served.index(True)]).reason == Reason.SPLIT


def test_changes_reach_a_client_on_refresh() -> None:
    data = FlagData()
    data.flag("checkout").off()
    flags = data.flags()
    assert flags.enabled("checkout") is False
    version = flags.version
    data.flag("checkout").on()
    assert flags.enabled("checkout") is False  # not before refresh
    assert flags.refresh() is True
    assert flags.enabled("checkout") is True
    assert flags.version != version
    assert flags.refresh() is False  # unchanged document: no swap


def test_removed_flag_is_not_found() -> None:
    data = FlagData()
    data.flag("checkout").on()
    flags = data.flags()
    data.flag("checkout").remove()
    flags.refresh()
    assert flags.details("checkout").error_code == ErrorCode.FLAG_NOT_FOUND


def test_serve_forces_one_variant_for_everyone() -> None:
    data = FlagData()
    data.flag("pricing").serve("gold", price=5)
    flags = data.flags()
    assert flags.variant("pricing", "anyone") == "gold"
    assert flags.get_int("pricing", "price", 0) == 5


def test_a_bad_rule_raises_where_it_was_declared_and_changes_nothing() -> None:
    data = FlagData()
    data.flag("pricing").variant("gold", rule='(eq $tier "gold")')
    before = data.document()
    with pytest.raises(RuleError):
        data.flag("pricing").variant("broken", rule="(eq $tier")
    with pytest.raises(DocumentError):
        data.flag("Bad Key").on()
    assert data.document() == before


def test_flag_data_may_change_while_a_poller_thread_reads_it() -> None:
    """Writers and a running poller share the builder safely; the last change wins."""
    data = FlagData()
    data.flag("counter").on(n=0)
    source = data.source()
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                source.fetch()
            except BaseException as exc:  # pragma: no cover - the assertion reports it
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(200):
        data.flag("counter").on(n=i)
    stop.set()
    thread.join()
    assert errors == []
    flags = data.flags()
    assert flags.get_int("counter", "n", -1) == 199


# -- override() -------------------------------------------------------------------------------


def test_override_forces_enabled_and_restores_on_exit() -> None:
    flags = loaded()
    assert flags.enabled("banner") is False
    with override(flags, {"banner": True}):
        assert flags.enabled("banner") is True
        assert flags.get_str("banner", "text", "x") == "hello"  # values kept
        assert flags.enabled("other") is True  # untouched flags still answer
    assert flags.enabled("banner") is False
    assert flags.version == "v1"


def test_override_forces_a_variant_of_the_existing_flag() -> None:
    flags = loaded()
    with override(flags, {"pricing": "gold"}):
        d = flags.details("pricing", "u", {"tier": "tin"}, attribute="price", kind="int")
        assert (d.value, d.variant) == (5, "gold")
    assert flags.get_int("pricing", "price", 0, "u", {"tier": "tin"}) == 10


def test_override_with_a_state_mapping() -> None:
    flags = loaded()
    with override(flags, {"new-flag": {"enabled": True, "limit": 3}}):
        assert flags.get_int("new-flag", "limit", 0) == 3
    assert flags.details("new-flag").error_code == ErrorCode.FLAG_NOT_FOUND


def test_override_with_flag_data_declares_rollouts_and_rules() -> None:
    flags = loaded()
    data = FlagData()
    data.flag("pricing").rollout("canary", 50, seed="x", price=7).default(
        "normal", enabled=True, price=10
    )
    with override(flags, data):
        users = [f"u{i}" for i in range(100)]
        prices = [flags.get_int("pricing", "price", 0, u) for u in users]
        assert prices == [7 if in_split(u, "x", 50) else 10 for u in users]


def test_overrides_nest_and_may_exit_out_of_order() -> None:
    flags = loaded()
    outer = override(flags, {"banner": True})
    inner = override(flags, {"other": False})
    outer.__enter__()
    inner.__enter__()
    assert (flags.enabled("banner"), flags.enabled("other")) == (True, False)
    outer.__exit__(None, None, None)
    assert (flags.enabled("banner"), flags.enabled("other")) == (False, False)
    inner.__exit__(None, None, None)
    assert (flags.enabled("banner"), flags.enabled("other")) == (False, True)


def test_a_document_swapped_in_during_an_override_keeps_the_override_on_top() -> None:
    data = FlagData()
    data.flag("banner").off()
    data.flag("other").off()
    flags = data.flags()
    with override(flags, {"banner": True}):
        data.flag("other").on()
        data.flag("banner").off(text="new")
        assert flags.refresh() is True
        assert flags.enabled("other") is True  # the new document arrived
        assert flags.enabled("banner") is True  # and the override still holds
    assert flags.enabled("banner") is False
    assert flags.enabled("other") is True  # exit restores the newest document, not the old


def test_override_restores_even_when_the_block_raises() -> None:
    flags = loaded()
    with pytest.raises(RuntimeError), override(flags, {"banner": True}):
        raise RuntimeError
    assert flags.enabled("banner") is False


def test_override_refuses_unknown_variants_and_bad_values() -> None:
    flags = loaded()
    with pytest.raises(ValueError, match="no variant"), override(flags, {"pricing": "platinum"}):
        pass
    with pytest.raises(ValueError, match="no flag"), override(flags, {"nope": "gold"}):
        pass
    with pytest.raises(TypeError), override(flags, {"banner": 1.5}):  # type: ignore[dict-item]
        pass
    with pytest.raises(DocumentError), override(flags, {"banner": {"enabled": "yes"}}):
        pass
    assert flags.enabled("banner") is False


def test_override_works_as_a_decorator() -> None:
    flags = loaded()

    @override(flags, {"banner": True})
    def check() -> bool:
        return flags.enabled("banner")

    assert check() is True
    assert flags.enabled("banner") is False


# -- pytest fixtures --------------------------------------------------------------------------


def test_fixtures_give_a_loaded_client_over_flag_data(
    flag_data: FlagData, flagkit_flags: flagkit.Flags
) -> None:
    assert flagkit_flags.ready
    flag_data.flag("checkout").on()
    flagkit_flags.refresh()
    assert flagkit_flags.enabled("checkout") is True


_shared = loaded()


def test_flag_overrides_fixture_applies(flag_overrides: Any) -> None:
    flag_overrides(_shared, {"banner": True})
    assert _shared.enabled("banner") is True


def test_flag_overrides_fixture_undid_the_previous_test() -> None:
    assert _shared.enabled("banner") is False
