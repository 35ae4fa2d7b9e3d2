"""Exception types of the library."""

from __future__ import annotations

import errno
import sys


class UnsupportedPlatformError(OSError):
    """A feature the operating system (or this kernel) does not offer.

    It is an :class:`OSError` with ``errno.EOPNOTSUPP`` so that code catching
    ``OSError`` around socket calls handles it too.
    """

    def __init__(self, feature: str, detail: str = "") -> None:
        message = f"{feature} is not supported on {sys.platform}"
        if detail:
            message = f"{message}: {detail}"
        super().__init__(errno.EOPNOTSUPP, message)
