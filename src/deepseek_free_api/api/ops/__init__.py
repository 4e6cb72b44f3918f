"""The operator's view of the server: Prometheus metrics, readiness, and one log line per request.

``wiring.install`` adds them to the application; the wrappers in ``meters`` measure the chat core
from outside; ``record`` is how the parts of a request tell the log line what it came to.
"""

from __future__ import annotations

from deepseek_free_api.api.ops.record import RequestRecord, current_request, note_error
from deepseek_free_api.api.ops.wiring import Ops, install

__all__ = ["Ops", "RequestRecord", "current_request", "install", "note_error"]
