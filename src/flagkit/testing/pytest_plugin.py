"""pytest fixtures for applications that use flagkit.

Enable them in your ``conftest.py``::

    pytest_plugins = ["flagkit.testing.pytest_plugin"]

* ``flag_data`` — a fresh :class:`~flagkit.testing.FlagData` per test;
* ``flagkit_flags`` — a :class:`~flagkit.Flags` serving ``flag_data`` (no poller thread; call
  ``flagkit_flags.refresh()`` after changing ``flag_data``), closed after the test;
* ``flag_overrides`` — ``flag_overrides(flags, changes)`` applies
  :func:`~flagkit.testing.override` until the end of the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import pytest

from flagkit._client import Flags
from flagkit.testing._overrides import FlagData, Forced, override

__all__ = ["flag_data", "flag_overrides", "flagkit_flags"]

ApplyOverride = Callable[[Flags, "Mapping[str, Forced] | FlagData"], Flags]


@pytest.fixture
def flag_data() -> FlagData:
    """Flags declared in code for this test only."""
    return FlagData()


@pytest.fixture
def flagkit_flags(flag_data: FlagData) -> Iterator[Flags]:
    """A client over ``flag_data``, loaded before the test and closed after it."""
    flags = flag_data.flags()
    try:
        yield flags
    finally:
        flags.close()


@pytest.fixture
def flag_overrides() -> Iterator[ApplyOverride]:
    """``apply(flags, changes)``: force flags until the test ends (undone in reverse order)."""
    with contextlib.ExitStack() as stack:

        def apply(flags: Flags, changes: Mapping[str, Forced] | FlagData) -> Flags:
            return stack.enter_context(override(flags, changes))

        yield apply
