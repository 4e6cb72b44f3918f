"""Loaded by ``bench/calls.py`` into ``serve`` (PYTHONPATH): counts the function calls a turn makes.

Only when ``CALLS_OUT`` is set. SIGUSR1 starts counting (``sys.setprofile`` on every thread: each
Python function called and each C function called from Python, by file and name); the next
SIGUSR1 stops and writes the counts to the file ``CALLS_OUT`` names, as JSON. Nothing else changes
in the server; the profiler slows it down while it counts, which does not change what it counts.
"""

from __future__ import annotations

import os

if os.environ.get("CALLS_OUT"):
    import collections
    import json
    import signal
    import sys
    import threading
    from types import FrameType
    from typing import Any

    _counts: collections.Counter[tuple[str, str]] = collections.Counter()
    _on = [False]

    def _profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            _counts[(code.co_filename, code.co_qualname)] += 1
        elif event == "c_call":
            _counts[("C", getattr(arg, "__qualname__", None) or repr(arg))] += 1

    def _toggle(*_: Any) -> None:
        if not _on[0]:
            _counts.clear()
            threading.setprofile(_profile)
            sys.setprofile(_profile)
            _on[0] = True
            return
        sys.setprofile(None)
        threading.setprofile(None)
        _on[0] = False
        with open(os.environ["CALLS_OUT"], "w") as out:
            json.dump([[file, name, count] for (file, name), count in _counts.most_common()], out)

    signal.signal(signal.SIGUSR1, _toggle)
