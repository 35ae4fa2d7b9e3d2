"""Build the optional C core, uds._native (everything else is in pyproject.toml).

Without a working compiler the install still succeeds: uds then runs its
pure-Python implementation (``uds.native_available()`` says which is active).
``UDS_STRICT_BUILD=1`` (set by CI) compiles with ``-Werror`` and makes a failed
build fail the install instead.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

STRICT = os.environ.get("UDS_STRICT_BUILD", "") not in ("", "0")
WARNINGS = ["-Wall", "-Wextra"]
if STRICT:
    WARNINGS.append("-Werror")


class OptionalBuildExt(build_ext):
    """Build the extension if possible; otherwise warn and leave the pure-Python path."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # any compiler failure
            self._give_up(error)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:
            self._give_up(error)

    def _give_up(self, error: Exception) -> None:
        if STRICT:
            raise error
        print(
            f"warning: uds._native was not built ({error}); uds will use its pure-Python "
            "implementation",
            file=sys.stderr,
        )


NATIVE_SOURCES = ["native/module.c", "native/io.c", "native/ext.c", "native/seqpacket.c",
                  "native/batch.c"]

setup(
    ext_modules=[
        Extension(
            "uds._native",
            sources=NATIVE_SOURCES,
            depends=["native/native.h"],
            extra_compile_args=[*WARNINGS, "-std=c11", "-D_GNU_SOURCE"],
        )
    ]
    if sys.platform != "win32"
    else [],
    cmdclass={"build_ext": OptionalBuildExt},
)
