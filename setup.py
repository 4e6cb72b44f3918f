"""Build hook for the optional native proof-of-work core.

The C extension ``deepseek_free_api.upstream.pow._native`` is built when a C compiler works; if
the build fails for any reason (no compiler, ``CC=false``, missing headers) the install still
succeeds and the package falls back to its NumPy solver at run time. Set
``DEEPSEEK_FREE_API_NO_NATIVE=1`` to skip the build on purpose.

Never ``-march=native``: the AVX2 kernel is enabled per function and chosen by a CPU check at run
time, so a wheel or image built here runs on any x86-64 (and the code builds on ARM).
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that reports a failed native build instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure means "use the fallback"
            self._skip(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._skip(exc)

    @staticmethod
    def _skip(exc: BaseException) -> None:
        print(
            f"warning: native proof-of-work core not built ({exc}); the NumPy fallback will be used",
            file=sys.stderr,
        )


def _extensions() -> list[Extension]:
    if os.environ.get("DEEPSEEK_FREE_API_NO_NATIVE"):
        return []
    msvc = sys.platform == "win32"
    return [
        Extension(
            "deepseek_free_api.upstream.pow._native",
            sources=["src/deepseek_free_api/upstream/pow/_native.c"],
            extra_compile_args=["/O2"] if msvc else ["-O3", "-fno-strict-aliasing", "-Wno-psabi"],
            extra_link_args=[] if msvc else ["-pthread"],
            optional=True,
        )
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
