"""Record every JSON document (and flag state) that a set of test modules loads.

    python tests/document_corpus.py OUT.pickle tests/test_document.py tests/test_fuzz.py ...

runs those modules under pytest with the JSON validators wrapped, so that each document they
hand to the fast path (``fast.accept_document``) or to the models (``appconfig.load_document``)
is kept once, with the limits it was loaded under; likewise each retrieval-time flag state
(``fast.accept_state``, ``appconfig.check_state``). The corpus is pickled to OUT with the
modules' pytest exit status. tests/test_document_fast.py replays it through both paths.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

import pytest

from flagkit._document import appconfig, fast


def record(out: str, modules: list[str]) -> int:
    documents: dict[bytes, None] = {}
    states: dict[bytes, None] = {}

    def keep(into: dict[bytes, None], item: Any) -> None:
        try:
            into.setdefault(pickle.dumps(item), None)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError, ValueError):
            pass  # a document no JSON parser makes (an object of a test's own): not replayable

    def wrap_document(real: Any) -> Any:
        def recorded(data: Any, **kwargs: Any) -> Any:
            keep(documents, (data, kwargs.get("limits")))
            return real(data, **kwargs)

        return recorded

    accept_state, check_state = fast.accept_state, appconfig.check_state

    def recorded_accept_state(raw: Any, *, allow_variant: bool) -> Any:
        keep(states, (raw, allow_variant))
        return accept_state(raw, allow_variant=allow_variant)

    def recorded_check_state(key: str, where: str, raw: Any, *, allow_variant: bool) -> Any:
        keep(states, (raw, allow_variant))
        return check_state(key, where, raw, allow_variant=allow_variant)

    # Call-time lookups (fast.load_json and check_state read these globals; the test modules
    # import load_document by name after this point).
    fast.accept_document = wrap_document(fast.accept_document)
    appconfig.load_document = wrap_document(appconfig.load_document)
    fast.accept_state = recorded_accept_state
    appconfig.check_state = recorded_check_state
    status = pytest.main(["-q", "-p", "no:cacheprovider", "-x", *modules])
    with open(out, "wb") as fh:
        pickle.dump(
            {
                "status": int(status),
                "documents": [pickle.loads(d) for d in documents],
                "states": [pickle.loads(s) for s in states],
            },
            fh,
        )
    return int(status)


if __name__ == "__main__":
    sys.exit(record(sys.argv[1], sys.argv[2:]))
