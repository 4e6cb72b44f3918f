"""Serve a Vercel Python entry file the way Vercel's runtime does (``python vercel_loader.py FILE PORT``).

As vercel_runtime's vc_init.py does (vercel/vercel, python/vercel-runtime, seen 2026-08): import
the entry file as a module of its own name from its path, take its module-level ``app``, and run
it with uvicorn on a socket bound beforehand, ``lifespan="auto"``, no access log and no logging
configuration of uvicorn's own. Vercel's proxy in front of it is not reproduced.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

import uvicorn


def main(entry: Path, port: int) -> None:
    """Import ``entry``, then serve its ``app`` on 127.0.0.1:``port`` until SIGTERM."""
    spec = importlib.util.spec_from_file_location(entry.stem, entry)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[entry.stem] = module
    spec.loader.exec_module(module)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    config = uvicorn.Config(
        app=module.app,
        fd=sock.fileno(),
        lifespan="auto",
        access_log=False,
        log_config=None,
        log_level="warning",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
