"""Loaded by ``bench/stream_memory.py`` into ``serve`` (PYTHONPATH): where the process's memory is.

Only when ``MEMORY_OUT`` is set. On SIGUSR1 the server appends one JSON line to that file: its
resident memory (``/proc/self/status``), the C heap (glibc's ``mallinfo2``: bytes in use, free
inside the heap, in mmapped blocks), Python's small-object arenas (``sys._debugmallocstats``), and
the objects the garbage collector tracks, by type, with the coroutines and generators by name.
The dump runs on the event loop (a few hundred milliseconds with 1,000 streams in flight).
"""

from __future__ import annotations

import os

if os.environ.get("MEMORY_OUT"):
    import collections
    import ctypes
    import gc
    import json
    import re
    import signal
    import sys
    from typing import Any

    class _MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )  # fmt: skip
        ]

    def _status() -> dict[str, int]:
        with open("/proc/self/status") as status:
            return {
                line.split(":")[0]: int(line.split()[1]) * 1024
                for line in status
                if line.startswith(("VmRSS", "VmHWM", "RssAnon"))
            }

    def _arenas() -> int:
        """Bytes in Python's small-object arenas (pymalloc), from its own statistics."""
        read, write = os.pipe()
        saved = os.dup(2)
        os.dup2(write, 2)  # _debugmallocstats writes to the C stderr
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(write)
        chunks = []
        while chunk := os.read(read, 1 << 16):
            chunks.append(chunk)
        os.close(read)
        text = b"".join(chunks).decode()
        found = re.search(r"(\d+) arenas \* (\d+) bytes/arena", text)
        return int(found[1]) * int(found[2]) if found else 0

    def _dump(*_: Any) -> None:
        status, arenas = _status(), _arenas()  # before the walk below allocates its own lists
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MallInfo2
        heap = libc.mallinfo2()
        types: collections.Counter[str] = collections.Counter()
        frames: collections.Counter[str] = collections.Counter()
        for thing in gc.get_objects():
            kind = type(thing)
            types[kind.__qualname__] += 1
            if kind.__name__ in ("coroutine", "async_generator", "generator"):
                frames[getattr(thing, "__qualname__", "?")] += 1
        record = {
            **status,
            "malloc_in_use": heap.uordblks,
            "malloc_free": heap.fordblks,
            "malloc_mmapped": heap.hblkhd,
            "arenas": arenas,
            "types": dict(types.most_common(40)),
            "frames": dict(frames.most_common(60)),
        }
        with open(os.environ["MEMORY_OUT"], "a") as out:
            out.write(json.dumps(record) + "\n")

    signal.signal(signal.SIGUSR1, _dump)
