"""The ``uds`` command: ``python -m uds`` or the ``uds`` console script."""

from __future__ import annotations

import sys

from uds._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
