"""The process's open-file limit and the connection cap that keeps clear of it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows; the cap then stays as configured
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileLimit:
    """RLIMIT_NOFILE: the soft limit found at start, the soft limit in force now, the hard limit."""

    found: int
    soft: int
    hard: int


def raise_open_file_limit() -> FileLimit | None:
    """Raise the soft open-file limit to the hard one; ``None`` where there are no such limits."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = soft if hard == resource.RLIM_INFINITY else hard
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:  # e.g. macOS refuses more than OPEN_MAX
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return FileLimit(found=soft, soft=now, hard=hard)


def connection_cap(max_connections: int, reserved_fds: int, limit: FileLimit | None) -> int:
    """Open connections allowed: ``max_connections``, but clear of the open-file limit.

    Upstream connections, uploads, the tokenizer's files and the stores need descriptors too: up
    to ``reserved_fds`` of them (at most half the limit, so that a small limit still serves) are
    never given to client connections.
    """
    if limit is None or limit.soft == resource.RLIM_INFINITY:
        return max_connections
    reserve = min(reserved_fds, limit.soft // 2)
    return max(1, min(max_connections, limit.soft - reserve))
