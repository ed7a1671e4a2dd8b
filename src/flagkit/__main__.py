"""``python -m flagkit`` and the ``flagkit`` console script (see ``flagkit --help``)."""

from __future__ import annotations

import sys

from ._cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
